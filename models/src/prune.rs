//! Magnitude pruning: zero the smallest |w|. For embedded synapses |w| = 1/distance, so this
//! cuts the longest wires.

use candle_core::{DType, Device, Result, Tensor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Whether the p % is taken within each synapse layer or over all weights at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneScope {
    Layer,
    Global,
}

impl fmt::Display for PruneScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PruneScope::Layer => "layer",
            PruneScope::Global => "global",
        })
    }
}

impl FromStr for PruneScope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "layer" => Ok(PruneScope::Layer),
            "global" => Ok(PruneScope::Global),
            _ => Err(format!(
                "unknown pruning scope `{s}`; expected layer or global"
            )),
        }
    }
}

/// How many of `total` weights a `percent` % pruning removes (rounded to nearest).
pub fn removed_count(total: usize, percent: f64) -> usize {
    ((total as f64) * percent / 100.0).round().min(total as f64) as usize
}

/// Keep-masks for one pruning level.
#[derive(Debug, Clone)]
pub struct PruneMasks {
    /// One `[n_out, n_in]` 0/1 tensor per synapse layer.
    pub masks: Vec<Tensor>,
    pub kept: usize,
    pub total: usize,
}

/// All weights ordered from smallest to largest magnitude, computed once so a sweep over many
/// pruning levels sorts only once. Ties are broken by position, so every level removes exactly
/// [`removed_count`] weights.
#[derive(Debug, Clone)]
pub struct MagnitudeRanking {
    shapes: Vec<(usize, usize)>,
    scope: PruneScope,
    /// Per layer (scope layer) or a single list (scope global) of (layer, flat index).
    order: Vec<Vec<(u32, u32)>>,
    dtype: DType,
    device: Device,
}

impl MagnitudeRanking {
    /// `weights`: `[n_out, n_in]` per synapse layer, as given by `Network::weights`.
    pub fn new(weights: &[Tensor], scope: PruneScope) -> Result<Self> {
        let first = weights
            .first()
            .ok_or_else(|| candle_core::Error::Msg("no weights to prune".into()))?;
        let mut shapes = Vec::with_capacity(weights.len());
        let mut mags: Vec<Vec<f32>> = Vec::with_capacity(weights.len());
        for w in weights {
            shapes.push(w.dims2()?);
            mags.push(
                w.abs()?
                    .flatten_all()?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?,
            );
        }
        let by_magnitude = |a: &(u32, u32), b: &(u32, u32)| {
            mags[a.0 as usize][a.1 as usize].total_cmp(&mags[b.0 as usize][b.1 as usize])
        };
        let indexed = |l: usize| (0..mags[l].len() as u32).map(move |i| (l as u32, i));
        let order = match scope {
            PruneScope::Layer => (0..mags.len())
                .map(|l| {
                    let mut v: Vec<(u32, u32)> = indexed(l).collect();
                    v.sort_by(by_magnitude);
                    v
                })
                .collect(),
            PruneScope::Global => {
                let mut v: Vec<(u32, u32)> = (0..mags.len()).flat_map(indexed).collect();
                v.sort_by(by_magnitude);
                vec![v]
            }
        };
        Ok(MagnitudeRanking {
            shapes,
            scope,
            order,
            dtype: first.dtype(),
            device: first.device().clone(),
        })
    }

    pub fn scope(&self) -> PruneScope {
        self.scope
    }

    pub fn total(&self) -> usize {
        self.shapes.iter().map(|(o, i)| o * i).sum()
    }

    /// Keep-masks removing the smallest `percent` % (0 ≤ percent ≤ 100).
    pub fn masks(&self, percent: f64) -> Result<PruneMasks> {
        if !(0.0..=100.0).contains(&percent) {
            candle_core::bail!("pruning percentage must be within 0..=100, got {percent}");
        }
        let mut keep: Vec<Vec<f32>> = self.shapes.iter().map(|(o, i)| vec![1.0; o * i]).collect();
        let mut removed = 0;
        for list in &self.order {
            let k = removed_count(list.len(), percent);
            for &(l, i) in &list[..k] {
                keep[l as usize][i as usize] = 0.0;
            }
            removed += k;
        }
        let masks = keep
            .into_iter()
            .zip(&self.shapes)
            .map(|(k, &shape)| {
                Tensor::from_vec(k, shape, &Device::Cpu)?
                    .to_dtype(self.dtype)?
                    .to_device(&self.device)
            })
            .collect::<Result<Vec<_>>>()?;
        let total = self.total();
        Ok(PruneMasks {
            masks,
            kept: total - removed,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranks(weights: &[Tensor], scope: PruneScope, p: f64) -> PruneMasks {
        MagnitudeRanking::new(weights, scope)
            .unwrap()
            .masks(p)
            .unwrap()
    }

    #[test]
    fn keeps_exactly_the_expected_number_even_with_ties() {
        let w = Tensor::new(
            &[[1.0f32, 1.0, 1.0, 1.0], [1.0, 1.0, 2.0, -3.0]],
            &Device::Cpu,
        )
        .unwrap();
        for (p, kept) in [(0.0, 8), (25.0, 6), (50.0, 4), (90.0, 1), (100.0, 0)] {
            let m = ranks(std::slice::from_ref(&w), PruneScope::Layer, p);
            assert_eq!(m.kept, kept, "p = {p}");
            let ones: f32 = m.masks[0].sum_all().unwrap().to_scalar().unwrap();
            assert_eq!(ones as usize, kept, "p = {p}");
        }
        // The negative weight has the largest magnitude: the last one standing.
        let m = ranks(&[w], PruneScope::Layer, 90.0);
        assert_eq!(m.masks[0].to_vec2::<f32>().unwrap()[1][3], 1.0);
    }

    #[test]
    fn global_scope_ranks_across_layers_and_layer_scope_within() {
        let small = Tensor::new(&[[0.1f32, 0.2], [0.3, 0.4]], &Device::Cpu).unwrap();
        let large = Tensor::new(&[[5.0f32, 6.0], [7.0, 8.0]], &Device::Cpu).unwrap();
        let ws = [small, large];
        let g = ranks(&ws, PruneScope::Global, 50.0);
        assert_eq!(
            g.masks[0].sum_all().unwrap().to_scalar::<f32>().unwrap(),
            0.0
        );
        assert_eq!(
            g.masks[1].sum_all().unwrap().to_scalar::<f32>().unwrap(),
            4.0
        );
        let l = ranks(&ws, PruneScope::Layer, 50.0);
        assert_eq!(
            l.masks[0].to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 0.0], vec![1.0, 1.0]]
        );
        assert_eq!(l.kept, 4);
    }

    #[test]
    fn rejects_bad_percentages() {
        let w = Tensor::new(&[[1.0f32]], &Device::Cpu).unwrap();
        let r = MagnitudeRanking::new(&[w], PruneScope::Layer).unwrap();
        assert!(r.masks(-1.0).is_err());
        assert!(r.masks(100.5).is_err());
        assert!(r.masks(f64::NAN).is_err());
    }
}

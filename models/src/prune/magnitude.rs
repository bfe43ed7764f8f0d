//! The ranking of all weights by magnitude (after a stored pruning, its removed weights first)
//! and the keep-masks of a level.

use candle_core::{DType, Device, Result, Tensor};

use super::{removed_count, PruneScope};

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
///
/// A ranking [`MagnitudeRanking::after`] a stored pruning puts the weights that pruning removed
/// first: a level P then removes P % of all weights, the stored ones and the smallest of the
/// kept ones (as `torch.nn.utils.prune` applied twice), and a level that would bring back a
/// stored-removed weight is refused.
#[derive(Debug, Clone)]
pub struct MagnitudeRanking {
    shapes: Vec<(usize, usize)>,
    scope: PruneScope,
    /// Per layer (scope layer) or a single list (scope global) of (layer, flat index).
    order: Vec<Vec<(u32, u32)>>,
    /// Per list, how many of its first entries a stored pruning removed already.
    stored: Vec<usize>,
    dtype: DType,
    device: Device,
}

impl MagnitudeRanking {
    /// `weights`: `[n_out, n_in]` per synapse layer, as given by `Network::weights`.
    pub fn new(weights: &[Tensor], scope: PruneScope) -> Result<Self> {
        Self::with_stored(weights, scope, None)
    }

    /// A ranking of the weights a stored pruning kept: `stored` are its keep-masks
    /// (`[n_out, n_in]` 0/1 per layer), whose zeros come first in every level.
    pub fn after(weights: &[Tensor], scope: PruneScope, stored: &[Tensor]) -> Result<Self> {
        Self::with_stored(weights, scope, Some(stored))
    }

    fn with_stored(
        weights: &[Tensor],
        scope: PruneScope,
        stored: Option<&[Tensor]>,
    ) -> Result<Self> {
        let first = weights
            .first()
            .ok_or_else(|| candle_core::Error::Msg("no weights to prune".into()))?;
        if let Some(stored) = stored {
            if stored.len() != weights.len() {
                candle_core::bail!(
                    "{} stored masks for {} synapse layers",
                    stored.len(),
                    weights.len()
                );
            }
        }
        let mut shapes = Vec::with_capacity(weights.len());
        let mut mags: Vec<Vec<f32>> = Vec::with_capacity(weights.len());
        let mut gone: Vec<Vec<bool>> = Vec::with_capacity(weights.len());
        for (l, w) in weights.iter().enumerate() {
            shapes.push(w.dims2()?);
            // On the host: the sort runs there, and so no cast happens on the device.
            let host = w.to_device(&Device::Cpu)?;
            mags.push(host.abs()?.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?);
            gone.push(match stored {
                Some(stored) => {
                    if stored[l].dims() != w.dims() {
                        candle_core::bail!(
                            "stored mask {l} has shape {:?}, the weights {:?}",
                            stored[l].dims(),
                            w.dims()
                        );
                    }
                    let keep = crate::device::host_f64(&stored[l])?;
                    keep.iter().map(|&k| k == 0.0).collect()
                }
                None => vec![false; mags[l].len()],
            });
        }
        // Stored-removed first (false < true), then by magnitude, then by position.
        let by_magnitude = |a: &(u32, u32), b: &(u32, u32)| {
            let (la, ia, lb, ib) = (a.0 as usize, a.1 as usize, b.0 as usize, b.1 as usize);
            (!gone[la][ia])
                .cmp(&!gone[lb][ib])
                .then(mags[la][ia].total_cmp(&mags[lb][ib]))
        };
        let indexed = |l: usize| (0..mags[l].len() as u32).map(move |i| (l as u32, i));
        let order: Vec<Vec<(u32, u32)>> = match scope {
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
        let stored = order
            .iter()
            .map(|list| {
                list.iter()
                    .filter(|&&(l, i)| gone[l as usize][i as usize])
                    .count()
            })
            .collect();
        Ok(MagnitudeRanking {
            shapes,
            scope,
            order,
            stored,
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

    /// The share (%) of all weights the stored pruning removed (0 without one).
    pub fn stored_percent(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        100.0 * self.stored.iter().sum::<usize>() as f64 / total as f64
    }

    /// The levels this ranking can give: `Err` names the stored share when `percent` is below
    /// it (by more than the rounding of each ranked list to whole weights).
    pub fn check_level(&self, percent: f64) -> std::result::Result<(), String> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!(
                "pruning percentage must be within 0..=100, got {percent}"
            ));
        }
        let stored = self.stored_percent();
        let rounding = 100.0 * self.order.len() as f64 / (2.0 * self.total().max(1) as f64);
        if percent < stored - rounding - 1e-9 {
            return Err(format!(
                "the checkpoint's own pruning removes {stored:.2} % of its weights; a {percent} % \
                 level would bring some back: levels are shares of all weights, its own ones \
                 first and then the smallest of the kept ones, so give at least {stored:.2}"
            ));
        }
        Ok(())
    }

    /// Keep-masks removing the smallest `percent` % (0 ≤ percent ≤ 100), the stored-removed
    /// weights first. A ranked list (a layer, for scope layer) whose stored share is above
    /// `percent` keeps its stored pruning: nothing stored-removed comes back.
    pub fn masks(&self, percent: f64) -> Result<PruneMasks> {
        self.check_level(percent).map_err(candle_core::Error::Msg)?;
        let mut keep: Vec<Vec<f32>> = self.shapes.iter().map(|(o, i)| vec![1.0; o * i]).collect();
        let mut removed = 0;
        for (list, &stored) in self.order.iter().zip(&self.stored) {
            let k = removed_count(list.len(), percent).max(stored);
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
pub(crate) mod tests {
    use super::*;

    /// The masks of a sorted ranking at `p` %: the reference the selections are held to.
    pub(crate) fn ranks(weights: &[Tensor], scope: PruneScope, p: f64) -> PruneMasks {
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
    fn a_ranking_after_a_stored_mask_prunes_further_among_the_kept() {
        let w = Tensor::new(
            &[[0.1f32, 0.9, 0.2, 0.8], [0.3, 0.7, 0.4, 0.6]],
            &Device::Cpu,
        )
        .unwrap();
        // The stored mask removed the two largest weights (as an effective ranking might).
        let stored = Tensor::new(
            &[[1.0f32, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]],
            &Device::Cpu,
        )
        .unwrap();
        let r = MagnitudeRanking::after(
            std::slice::from_ref(&w),
            PruneScope::Layer,
            std::slice::from_ref(&stored),
        )
        .unwrap();
        assert_eq!(r.stored_percent(), 25.0);
        let same = r.masks(25.0).unwrap();
        assert_eq!(
            same.masks[0].to_vec2::<f32>().unwrap(),
            stored.to_vec2::<f32>().unwrap()
        );
        // 50 %: the stored two, then the two smallest kept ones (0.1, 0.2).
        let further = r.masks(50.0).unwrap();
        assert_eq!(further.kept, 4);
        assert_eq!(
            further.masks[0].to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 0.0, 0.0, 0.0], vec![1.0, 1.0, 1.0, 1.0]]
        );
        let err = r.check_level(10.0).unwrap_err();
        assert!(err.contains("25.00 %"), "{err}");
        assert!(r.masks(10.0).is_err());
        // A second layer pruned less: a level at the overall share keeps every stored weight
        // out, and prunes the less-pruned layer up to the level.
        let v = Tensor::new(&[[0.5f32, 0.6], [0.7, 0.8]], &Device::Cpu).unwrap();
        let none = Tensor::ones((2, 2), DType::F32, &Device::Cpu).unwrap();
        let r =
            MagnitudeRanking::after(&[w.clone(), v], PruneScope::Layer, &[stored.clone(), none])
                .unwrap();
        let m = r.masks(r.stored_percent()).unwrap();
        assert_eq!(
            m.masks[0].to_vec2::<f32>().unwrap(),
            stored.to_vec2::<f32>().unwrap()
        );
        assert_eq!(m.masks[1].to_vec2::<f32>().unwrap()[0], vec![0.0, 1.0]);
        assert_eq!(m.kept, 12 - 2 - 1);
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

//! The masks of a pruning level in every forward pass, without a sort: on the host a histogram
//! of the magnitudes' bits and a selection in one bucket, on the device a bisection over them.

use candle_core::{DType, Device, Result, Tensor};
use rayon::prelude::*;

use super::{removed_count, PruneScope};

/// 0/1 keep-masks (in `weights`' dtype, device and layout) that remove the smallest
/// `percent` % of |w| of each tensor (`Layer`) or of all of them together (`Global`): exactly
/// [`removed_count`] of them, ties broken by position (layer, then flat index), the same masks
/// as [`MagnitudeRanking`] gives. For pruning in every forward pass: on the CPU
/// [`smallest_removed_on_host`] (linear time), elsewhere [`smallest_removed_on_device`] (no
/// copy of the weights to the host).
pub fn smallest_removed(
    weights: &[Tensor],
    percent: f64,
    scope: PruneScope,
) -> Result<Vec<Tensor>> {
    match weights.first() {
        Some(w) if !w.device().is_cpu() => smallest_removed_on_device(weights, percent, scope),
        _ => smallest_removed_on_host(weights, percent, scope),
    }
}

fn check_percent(percent: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&percent) {
        candle_core::bail!("pruning percentage must be within 0..=100, got {percent}");
    }
    Ok(())
}

/// [`smallest_removed`] with the selection on the weights' own device, in ops every backend has:
/// a bisection over the 2^31 order-preserving keys of |w| (31 rounds of `le` + a per-row `sum`,
/// each reading back one count per row, never the weights), then the tie at the cut-off broken
/// by position from per-row counts of the equal keys and the one row where the tie ends.
/// Weights holding NaN beyond the cut-off fall back to the host (a diverged run; the
/// divergence guard stops it anyway).
pub fn smallest_removed_on_device(
    weights: &[Tensor],
    percent: f64,
    scope: PruneScope,
) -> Result<Vec<Tensor>> {
    check_percent(percent)?;
    let mags: Vec<Tensor> = weights
        .iter()
        .map(|w| {
            w.dims2()?;
            w.detach().abs()?.to_dtype(DType::F32)
        })
        .collect::<Result<_>>()?;
    let groups: Vec<Vec<usize>> = match scope {
        PruneScope::Layer => (0..weights.len()).map(|l| vec![l]).collect(),
        PruneScope::Global => vec![(0..weights.len()).collect()],
    };
    // Per layer, the count of each row's entries that `test` marks (a U8 tensor of the
    // layer's shape): exact in f32 for rows below 2^24 entries.
    let row_counts = |t: &Tensor| -> Result<Vec<usize>> {
        Ok(t.to_dtype(DType::F32)?
            .sum(1)?
            .to_device(&Device::Cpu)?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|c| c as usize)
            .collect())
    };
    let count_le = |layers: &[usize], cut: u32| -> Result<usize> {
        let threshold = f32::from_bits(cut);
        layers.iter().try_fold(0, |n, &l| {
            Ok(n + row_counts(&mags[l].le(threshold)?)?.iter().sum::<usize>())
        })
    };
    let mut keep: Vec<Option<Tensor>> = vec![None; weights.len()];
    for layers in groups {
        let total: usize = layers.iter().map(|&l| mags[l].elem_count()).sum();
        let removed = removed_count(total, percent);
        if removed == 0 {
            continue;
        }
        const INFINITY: u32 = 0x7f80_0000;
        if count_le(&layers, INFINITY)? < removed {
            return smallest_removed_on_host(weights, percent, scope);
        }
        // The smallest key whose count of keys at or below it reaches `removed`.
        let (mut lo, mut hi) = (0u32, INFINITY);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if count_le(&layers, mid)? >= removed {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let cutoff = lo;
        let below = match cutoff.checked_sub(1) {
            Some(c) => count_le(&layers, c)?,
            None => 0,
        };
        let threshold = f32::from_bits(cutoff);
        let equal_rows: Vec<Vec<usize>> = layers
            .iter()
            .map(|&l| row_counts(&mags[l].eq(threshold)?))
            .collect::<Result<_>>()?;
        let equal: usize = equal_rows.iter().flatten().sum();
        // Of the keys equal to the cut-off, the first `ties` in position order go too.
        let mut ties = removed - below;
        for (&l, rows) in layers.iter().zip(&equal_rows) {
            let w = &mags[l];
            let (n_rows, n_cols) = w.dims2()?;
            let lower = w.lt(threshold)?.to_dtype(DType::F32)?;
            let gone = if ties == equal {
                // Everything at the cut-off goes (the usual case: weights from positions rarely tie).
                w.le(threshold)?.to_dtype(DType::F32)?
            } else if ties == 0 {
                lower
            } else if rows.iter().sum::<usize>() <= ties {
                ties -= rows.iter().sum::<usize>();
                w.le(threshold)?.to_dtype(DType::F32)?
            } else {
                // The tie ends in this layer: rows before the one where it ends lose all their
                // equal keys, that row the first ones up to a column, later rows none.
                let mut row = 0;
                while rows[row] <= ties {
                    ties -= rows[row];
                    row += 1;
                }
                let flags = w
                    .narrow(0, row, 1)?
                    .eq(threshold)?
                    .to_dtype(DType::F32)?
                    .to_device(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                let mut seen = 0;
                let cols: Vec<f32> = flags
                    .iter()
                    .map(|&f| {
                        if f != 0.0 && seen < ties {
                            seen += 1;
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .collect();
                ties = 0;
                let before: Vec<f32> = (0..n_rows).map(|r| f32::from(r < row)).collect();
                let at: Vec<f32> = (0..n_rows).map(|r| f32::from(r == row)).collect();
                let device = w.device();
                let before = Tensor::from_vec(before, (n_rows, 1), device)?;
                let at = Tensor::from_vec(at, (n_rows, 1), device)?;
                let cols = Tensor::from_vec(cols, (1, n_cols), device)?;
                let which = before.broadcast_add(&at.broadcast_mul(&cols)?)?;
                let equal_gone = w.eq(threshold)?.to_dtype(DType::F32)?.mul(&which)?;
                (lower + equal_gone)?
            };
            keep[l] = Some(gone.affine(-1.0, 1.0)?);
        }
    }
    keep.into_iter()
        .zip(weights)
        .map(|(k, w)| match k {
            Some(k) => k.to_dtype(w.dtype()),
            None => w.ones_like(),
        })
        .collect()
}

/// [`smallest_removed`] on the host, in linear time: the cut-off comes from a histogram and a
/// selection within one bucket, not from a sort.
pub fn smallest_removed_on_host(
    weights: &[Tensor],
    percent: f64,
    scope: PruneScope,
) -> Result<Vec<Tensor>> {
    check_percent(percent)?;
    let values: Vec<Vec<f32>> = weights
        .iter()
        .map(|w| {
            w.detach()
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()
        })
        .collect::<Result<_>>()?;
    let groups: Vec<Vec<usize>> = match scope {
        PruneScope::Layer => (0..weights.len()).map(|l| vec![l]).collect(),
        PruneScope::Global => vec![(0..weights.len()).collect()],
    };
    let mut keep: Vec<Option<Vec<f32>>> = vec![None; values.len()];
    for layers in groups {
        let members: Vec<&[f32]> = layers.iter().map(|&l| values[l].as_slice()).collect();
        let total: usize = members.iter().map(|m| m.len()).sum();
        let removed = removed_count(total, percent);
        let Some(last) = removed.checked_sub(1) else {
            continue;
        };
        let Selection {
            cutoff,
            below,
            equal,
        } = kth_key(&members, last);
        // Of the keys equal to the cut-off, the first `ties` in position order go too. Weights
        // synthesised from positions rarely tie: then all of them go, in one parallel pass.
        let ties = removed - below;
        if ties == equal {
            for &l in &layers {
                keep[l] = Some(
                    values[l]
                        .par_iter()
                        .map(|&v| if key(v) <= cutoff { 0.0 } else { 1.0 })
                        .collect(),
                );
            }
            continue;
        }
        // Otherwise each chunk learns how many equal keys come before it.
        let mut seen_before = 0;
        for &l in &layers {
            let counts: Vec<usize> = values[l]
                .par_chunks(MASK_CHUNK)
                .map(|c| c.iter().filter(|&&v| key(v) == cutoff).count())
                .collect();
            let mut starts = Vec::with_capacity(counts.len());
            for count in counts {
                starts.push(seen_before);
                seen_before += count;
            }
            let mut flags = vec![1.0f32; values[l].len()];
            flags
                .par_chunks_mut(MASK_CHUNK)
                .zip(values[l].par_chunks(MASK_CHUNK))
                .zip(starts)
                .for_each(|((flags, chunk), mut seen)| {
                    for (flag, &v) in flags.iter_mut().zip(chunk) {
                        let k = key(v);
                        let gone = k < cutoff
                            || (k == cutoff && {
                                seen += 1;
                                seen <= ties
                            });
                        if gone {
                            *flag = 0.0;
                        }
                    }
                });
            keep[l] = Some(flags);
        }
    }
    keep.into_iter()
        .zip(weights)
        .map(|(k, w)| match k {
            Some(k) => Tensor::from_vec(k, w.shape(), &Device::Cpu)?
                .to_dtype(w.dtype())?
                .to_device(w.device()),
            None => w.ones_like(),
        })
        .collect()
}

/// Weights per task of the mask pass.
const MASK_CHUNK: usize = 1 << 16;

/// |w| as an order-preserving integer key: with the sign bit cleared, IEEE bit patterns sort as
/// the magnitudes do (NaN above infinity, as `f32::total_cmp` puts it).
#[inline(always)]
fn key(v: f32) -> u32 {
    v.to_bits() & 0x7fff_ffff
}

/// Where [`kth_key`] puts the cut.
struct Selection {
    /// The k-th smallest key.
    cutoff: u32,
    /// Keys smaller than it.
    below: usize,
    /// Keys equal to it.
    equal: usize,
}

/// The `k`-th smallest key (0-based) of all `groups` together: a histogram of the keys' top 12
/// bits (the exponent and 3 mantissa bits: an L1-sized table, one per thread, added up), then a
/// selection among the keys of the one bucket that holds the k-th.
fn kth_key(groups: &[&[f32]], k: usize) -> Selection {
    const SHIFT: u32 = 19;
    const BUCKETS: usize = 1 << (31 - SHIFT);
    let total: usize = groups.iter().map(|g| g.len()).sum();
    let part = total.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let pieces: Vec<&[f32]> = groups.iter().flat_map(|g| g.chunks(part)).collect();
    let histogram = pieces
        .par_iter()
        .map(|piece| {
            let mut h = vec![0u32; BUCKETS];
            piece
                .iter()
                .for_each(|&v| h[(key(v) >> SHIFT) as usize] += 1);
            h
        })
        .reduce(
            || vec![0u32; BUCKETS],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let (mut bucket, mut smaller) = (0, 0);
    while smaller + histogram[bucket] as usize <= k {
        smaller += histogram[bucket] as usize;
        bucket += 1;
    }
    let mut inside: Vec<u32> = pieces
        .par_iter()
        .flat_map_iter(|piece| {
            piece
                .iter()
                .map(|&v| key(v))
                .filter(move |&k| (k >> SHIFT) as usize == bucket)
        })
        .collect();
    let (_, &mut cutoff, _) = inside.select_nth_unstable(k - smaller);
    let below = smaller + inside.iter().filter(|&&k| k < cutoff).count();
    let equal = inside.iter().filter(|&&k| k == cutoff).count();
    Selection {
        cutoff,
        below,
        equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prune::magnitude::tests::ranks;

    #[test]
    fn linear_time_selection_removes_what_the_sorted_ranking_removes() {
        let a = Tensor::randn(0f32, 1.0, (37, 23), &Device::Cpu).unwrap();
        // Ties on purpose: a block of equal magnitudes straddles every cut-off below.
        let b = Tensor::new(
            &[[0.5f32, -0.5, 0.5, 0.5], [0.5, 2.0, -0.5, 0.1]],
            &Device::Cpu,
        )
        .unwrap();
        // More weights than one mask chunk, on a few levels only: ties span chunk boundaries.
        let c = (Tensor::randn(0f32, 1.0, (300, 300), &Device::Cpu).unwrap() * 4.0)
            .unwrap()
            .round()
            .unwrap()
            .affine(0.25, 0.0)
            .unwrap();
        let weights = [a, b, c];
        for scope in [PruneScope::Layer, PruneScope::Global] {
            for p in [0.0, 10.0, 37.5, 50.0, 80.0, 99.0, 100.0] {
                let fast = smallest_removed(&weights, p, scope).unwrap();
                let sorted = ranks(&weights, scope, p).masks;
                for (f, s) in fast.iter().zip(&sorted) {
                    assert_eq!(
                        f.to_vec2::<f32>().unwrap(),
                        s.to_vec2::<f32>().unwrap(),
                        "{scope} {p} %"
                    );
                }
            }
        }
    }

    #[test]
    fn device_selection_removes_what_the_host_selection_removes() {
        let a = Tensor::randn(0f32, 1.0, (37, 23), &Device::Cpu).unwrap();
        // Ties: a block of equal magnitudes straddles every cut-off, across rows and layers.
        let b = Tensor::new(
            &[[0.5f32, -0.5, 0.5, 0.5], [0.5, 2.0, -0.5, 0.1]],
            &Device::Cpu,
        )
        .unwrap();
        let c = (Tensor::randn(0f32, 1.0, (120, 90), &Device::Cpu).unwrap() * 4.0)
            .unwrap()
            .round()
            .unwrap()
            .affine(0.25, 0.0)
            .unwrap();
        // A transposed view, as embedded synapses hand their weights (pre-major).
        let d = Tensor::randn(0f32, 1.0, (16, 40), &Device::Cpu)
            .unwrap()
            .t()
            .unwrap();
        // Exact zeros and infinities.
        let e = Tensor::new(
            &[[0.0f32, 0.0, f32::INFINITY], [-0.0, 1.0, f32::NEG_INFINITY]],
            &Device::Cpu,
        )
        .unwrap();
        let weights = [a, b, c, d, e];
        for scope in [PruneScope::Layer, PruneScope::Global] {
            for p in [0.0, 1.0, 10.0, 37.5, 50.0, 80.0, 99.0, 100.0] {
                let host = smallest_removed_on_host(&weights, p, scope).unwrap();
                let device = smallest_removed_on_device(&weights, p, scope).unwrap();
                for (l, (h, d)) in host.iter().zip(&device).enumerate() {
                    assert_eq!(h.dims(), d.dims());
                    assert_eq!(
                        h.to_vec2::<f32>().unwrap(),
                        d.to_vec2::<f32>().unwrap(),
                        "{scope} {p} %, layer {l}"
                    );
                }
            }
        }
    }
}

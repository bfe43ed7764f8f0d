//! Event-driven products over the non-zeros of a sparse matrix: `out[g, :] = Σ v · rows[r, :]`
//! over the events `(r, v)` of each group g — a sample's non-zero pixels against the rows of a
//! weight tile (a layer's forward pass), or an input's non-zero samples against the rows of an
//! output-gradient tile (its weight gradient `xᵀ · dz`). Shared by the embedded synapses
//! ([`super::embedded_current`]) and the dense baselines' input layer ([`super::sparse_linear`]).
//!
//! Each group sums its own events in ascending index order (a merged pair's entries where the
//! group has no value add an exact zero), so the result has the bits of the plain loop over that
//! group's non-zeros.

use candle_core::WithDType;
use rayon::prelude::*;

use super::simd::{vectorized, Real};

/// One pair's entries of [`Events`]: index and both groups' values.
type PairEntries<F> = Vec<(usize, [F; 2])>;

/// Row pairs per task when [`Events`] are built by row.
const ROW_PAIRS_PER_TASK: usize = 16;

/// Column pairs per task when [`Events`] are built by column: 16 f32 columns, one cache line
/// of every row.
const COLUMN_PAIRS_PER_TASK: usize = 8;

/// The non-zeros of a `[rows, cols]` matrix grouped by row or by column, and consecutive
/// groups merged in pairs: pair `p` (groups 2p and 2p + 1) has one entry per index either
/// group has, indices ascending, with both groups' values (0 where a group has none). Each
/// pair's entries are gathered by one task and kept as they are (not copied into one list).
///
/// The event loops load one weight (or gradient) row per entry and use it for both groups:
/// neighbouring pixels share most of their samples, so the pair has ~0.6× the row loads of
/// the two groups apart (MNIST, measured), ~0.8× for two samples' pixels — and those loads
/// from L2, not the multiply-adds, are what bound the loops.
pub(crate) struct Events<F> {
    groups: usize,
    pairs: Vec<PairEntries<F>>,
}

impl<F: WithDType> Events<F> {
    /// Events grouped by row (sample), pairs of rows merged.
    pub(crate) fn by_row(x: &[F], cols: usize) -> Self {
        let cols = cols.max(1);
        let rows = x.len() / cols;
        // One task per 16 row pairs: each scans its own rows, contiguous in `x`.
        let per_task: Vec<Vec<PairEntries<F>>> = x
            .par_chunks(2 * cols * ROW_PAIRS_PER_TASK)
            .map(|block| {
                let mut scratch = Vec::new();
                block
                    .chunks(2 * cols)
                    .map(|pair| {
                        let (a, b) = pair.split_at(cols.min(pair.len()));
                        Self::merged(&mut scratch, cols, |i| {
                            [a[i], b.get(i).copied().unwrap_or_else(F::zero)]
                        })
                    })
                    .collect()
            })
            .collect();
        Events {
            groups: rows,
            pairs: per_task.into_iter().flatten().collect(),
        }
    }

    /// Events grouped by column (input), pairs of neighbouring columns merged.
    pub(crate) fn by_column(x: &[F], rows: usize, cols: usize) -> Self {
        let pairs = cols.div_ceil(2);
        // One task per 8 column pairs (one cache line of f32 per row): each scans every row.
        let per_task: Vec<Vec<PairEntries<F>>> = (0..pairs.div_ceil(COLUMN_PAIRS_PER_TASK))
            .into_par_iter()
            .map(|task| {
                let first = task * COLUMN_PAIRS_PER_TASK;
                let mut scratch = Vec::new();
                (first..pairs.min(first + COLUMN_PAIRS_PER_TASK))
                    .map(|p| {
                        let value = |r: usize, c: usize| {
                            if c < cols {
                                x[r * cols + c]
                            } else {
                                F::zero()
                            }
                        };
                        Self::merged(&mut scratch, rows, |r| {
                            [value(r, 2 * p), value(r, 2 * p + 1)]
                        })
                    })
                    .collect()
            })
            .collect();
        Events {
            groups: cols,
            pairs: per_task.into_iter().flatten().collect(),
        }
    }

    /// One pair's entries: every index below `len` where either group's value is non-zero.
    /// `scratch` is the task's buffer, reused from pair to pair.
    #[inline(always)]
    fn merged(
        scratch: &mut Vec<(usize, [F; 2])>,
        len: usize,
        values: impl Fn(usize) -> [F; 2],
    ) -> PairEntries<F> {
        let zero = F::zero();
        // Branch-free: every index is written at the next free slot, which advances only past
        // non-zeros. Pixels switch between zero and ink too irregularly for a branch per index
        // to be predicted (it cost ~8 % of an MLP step). The slots are the task's scratch, and
        // only the kept entries are copied out: a fresh zeroed buffer per pair cost page
        // faults and a memset of every index (most of a 14-neuron baseline's step).
        scratch.resize(len, (0, [zero; 2]));
        let mut kept = 0;
        for i in 0..len {
            let v = values(i);
            scratch[kept] = (i, v);
            kept += usize::from(v[0] != zero || v[1] != zero);
        }
        scratch[..kept].to_vec()
    }

    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    pub(crate) fn pair(&self, p: usize) -> &[(usize, [F; 2])] {
        &self.pairs[p]
    }
}

/// Bytes of accumulators per register block of the event loops: 1 KiB is 16 AVX-512
/// registers, half the register file, so a pair's two blocks stay in registers across its
/// whole event list and every event streams one 512-byte row segment.
const REGISTER_BLOCK_BYTES: usize = 1024;

/// Columns per register block (per group of a pair) for `F`.
fn register_block<F>() -> usize {
    REGISTER_BLOCK_BYTES / 2 / std::mem::size_of::<F>()
}

/// `out[g][k] = Σ_{(r, v) ∈ events} v[g] · rows[r·stride + offset + k]` for both groups g of
/// a pair and `k < out[0].len()`.
#[inline(always)]
fn accumulate_events<F: Real>(
    events: &[(usize, [F; 2])],
    rows: &[F],
    stride: usize,
    offset: usize,
    out: [&mut [F]; 2],
) {
    match out[0].len() {
        128 => accumulate_fixed::<F, 128>(events, rows, stride, offset, out),
        64 => accumulate_fixed::<F, 64>(events, rows, stride, offset, out),
        32 => accumulate_fixed::<F, 32>(events, rows, stride, offset, out),
        16 => accumulate_fixed::<F, 16>(events, rows, stride, offset, out),
        width => {
            let [a, b] = out;
            a.iter_mut().for_each(|v| *v = F::zero());
            b.iter_mut().for_each(|v| *v = F::zero());
            for &(r, [va, vb]) in events {
                let row = &rows[r * stride + offset..][..width];
                for ((x, y), &w) in a.iter_mut().zip(b.iter_mut()).zip(row) {
                    *x = va.mul_add(w, *x);
                    *y = vb.mul_add(w, *y);
                }
            }
        }
    }
}

/// [`accumulate_events`] with fixed-size accumulators that LLVM keeps in registers: no
/// load and store of the sums per event.
#[inline(always)]
fn accumulate_fixed<F: Real, const N: usize>(
    events: &[(usize, [F; 2])],
    rows: &[F],
    stride: usize,
    offset: usize,
    out: [&mut [F]; 2],
) {
    let (mut a, mut b) = ([F::zero(); N], [F::zero(); N]);
    for &(r, [va, vb]) in events {
        let row: &[F; N] = rows[r * stride + offset..][..N]
            .try_into()
            .expect("N columns");
        for k in 0..N {
            a[k] = va.mul_add(row[k], a[k]);
            b[k] = vb.mul_add(row[k], b[k]);
        }
    }
    let [out_a, out_b] = out;
    out_a.copy_from_slice(&a);
    out_b.copy_from_slice(&b);
}

vectorized! {
    /// `out[g, :] = Σ_{(r, v) ∈ group g} v · rows[r, :]`, `out` `[groups, width]`, `rows`
    /// `[·, width]`: the forward product of one tile (groups = samples, rows = the tile's
    /// weights) and its weight gradient `xᵀ · dz` (groups = inputs, rows = the tile's columns
    /// of the output gradient).
    pub(crate) fn event_product<F: Real>(events: &Events<F>, rows: &[F], width: usize, out: &mut [F]) {
        assert_eq!(out.len(), events.groups() * width, "one output row per group");
        let block = register_block::<F>();
        // An odd last group has no partner: its pair's second sums go here.
        let mut spare = vec![F::zero(); width];
        for (p, pair_out) in out.chunks_mut(2 * width).enumerate() {
            let (first, second) = pair_out.split_at_mut(width);
            let second = if second.is_empty() { &mut spare[..] } else { second };
            for start in (0..width).step_by(block) {
                let len = block.min(width - start);
                accumulate_events(
                    events.pair(p),
                    rows,
                    width,
                    start,
                    [&mut first[start..start + len], &mut second[start..start + len]],
                );
            }
        }
    }
}

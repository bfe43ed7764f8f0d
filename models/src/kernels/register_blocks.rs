//! The layout of register-blocked kernels for a narrow weight matrix `[N, K]`, K ≤ 16 — the
//! paper's 10 output neurons: 16 inputs at a time with all K of their weight vectors, K
//! accumulators held in vector registers. Per-output dot products over N (one accumulator
//! each) wait on their own additions; K independent sums fill the FMA units.
//!
//! Used by the fused LIF projection ([`super::lif_projection`]).

use super::simd::{Chunk, Real, CHUNK};

/// The widths K the kernels are compiled for: a layer of K ≤ 16 outputs uses the smallest
/// that holds it, zero-padded.
const NARROW_WIDTHS: [usize; 3] = [4, 10, 16];

/// The kernels' width for `k` outputs (`None`: too wide for them).
pub(crate) fn narrow_width(k: usize) -> Option<usize> {
    NARROW_WIDTHS.into_iter().find(|&w| k <= w)
}

/// Calls `$f::<$F, NK>(…)` with NK the compiled width `$width` (from [`narrow_width`]).
macro_rules! with_narrow_width {
    ($width:expr, $f:ident::<$F:ty>($($arg:expr),* $(,)?)) => {
        match $width {
            4 => $f::<$F, 4>($($arg),*),
            10 => $f::<$F, 10>($($arg),*),
            _ => $f::<$F, 16>($($arg),*),
        }
    };
}
pub(crate) use with_narrow_width;

/// Weights `[N, K]` zero-padded to N' (a multiple of [`CHUNK`]) × NK and laid out
/// `[N' / CHUNK][NK][CHUNK]`: a chunk's NK weight vectors are contiguous (rows of `[K][N]`
/// would sit N' floats apart, all in the same L1 sets). Zero weights make the padding inputs
/// and outputs contribute nothing.
pub(crate) struct ChunkedWeights<F> {
    chunks: Vec<Chunk<F>>,
    width: usize,
    n_pad: usize,
}

impl<F: Real> ChunkedWeights<F> {
    /// From row-major `weights` `[n, k]`, for kernels of width `width` ≥ k.
    pub(crate) fn new(weights: &[F], n: usize, k: usize, width: usize) -> Self {
        assert!(
            k <= width && weights.len() == n * k,
            "[{n}, {k}] weights, width {width}"
        );
        let n_pad = n.div_ceil(CHUNK) * CHUNK;
        let mut chunks = Chunk::zeros(width * n_pad / CHUNK);
        for (j, row) in weights.chunks_exact(k.max(1)).enumerate() {
            let (c, l) = (j / CHUNK, j % CHUNK);
            for (kk, &w) in row.iter().enumerate() {
                chunks[c * width + kk].0[l] = w;
            }
        }
        Self {
            chunks,
            width,
            n_pad,
        }
    }

    /// N rounded up to a whole chunk.
    pub(crate) fn n_pad(&self) -> usize {
        self.n_pad
    }

    /// The NK weight vectors of inputs `c·CHUNK..(c+1)·CHUNK`, one per output. NK is a
    /// constant so that loops over it unroll and their accumulators stay in registers.
    #[inline(always)]
    pub(crate) fn chunk<const NK: usize>(&self, c: usize) -> &[Chunk<F>; NK] {
        debug_assert_eq!(NK, self.width);
        self.chunks[c * NK..][..NK]
            .try_into()
            .expect("the kernel's width is the layout's")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_cover_every_narrow_layer() {
        assert_eq!(narrow_width(1), Some(4));
        assert_eq!(narrow_width(10), Some(10));
        assert_eq!(narrow_width(11), Some(16));
        assert_eq!(narrow_width(16), Some(16));
        assert_eq!(narrow_width(17), None);
    }
}

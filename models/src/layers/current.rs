//! What forming an embedded current takes and how: the tensors of `act((x ⊙ m) W + b)` and the
//! options of the CPU kernel. Shared by the layer (`layers/embedded.rs`) and the kernel
//! (`kernels/embedded_current.rs`), so neither imports the other's types.

use candle_core::Tensor;

/// How the op multiplies by the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductPath {
    /// Event-driven at or below `SPARSE_DENSITY_THRESHOLD` with at least
    /// `MIN_SPARSE_OUTPUTS` outputs; per-output dot products for fewer outputs; a GEMM
    /// otherwise.
    Auto,
    /// Event-driven, weights synthesised tile by tile: the whole `[n_in, n_out]` matrix is
    /// never held.
    Sparse,
    /// `W` synthesised whole, then a GEMM.
    Dense,
}

/// Options of the embedded current's CPU kernel ([`crate::layers::embedded::embedded_current`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentOptions {
    pub path: ProductPath,
    /// Postsynaptic neurons per weight tile on the event-driven path: each task holds
    /// `n_in × tile` weights at a time.
    pub tile: usize,
}

impl Default for CurrentOptions {
    fn default() -> Self {
        CurrentOptions {
            path: ProductPath::Auto,
            tile: DEFAULT_TILE,
        }
    }
}

/// Tile width for training: `784 × 256` f32 weights (784 KiB) and the tile's `600 × 256`
/// outputs or output gradients (600 KiB) fit a core's 2 MiB L2 together.
pub const DEFAULT_TILE: usize = 256;

/// The tensors of one embedded current `act((x ⊙ m) W + b)`.
#[derive(Debug, Clone, Copy)]
pub struct CurrentInputs<'a> {
    /// Full positions of the presynaptic neurons `[n_in, d]`.
    pub pre: &'a Tensor,
    /// Full positions of the postsynaptic neurons `[n_out, d]`.
    pub post: &'a Tensor,
    /// Presynaptic inhibition mask `[n_in]`.
    pub mask: &'a Tensor,
    /// `[n_out]`.
    pub bias: &'a Tensor,
    /// Optional 0/1 pruning keep-mask `[n_in, n_out]`, in `W`'s dtype.
    pub keep: Option<&'a Tensor>,
    /// Apply a ReLU to the result.
    pub relu: bool,
    /// Floor of the squared distance.
    pub eps: f64,
}

//! Fused CPU kernels behind the model concepts.
//!
//! Each op here computes exactly what a piece of readable math elsewhere computes in plain
//! Candle ops — the weight synthesis of [`crate::geometry`], the embedded synapses' current and
//! the LIF neurons of [`crate::layers`], the SNN loss of [`crate::loss`] — as one Candle
//! `CustomOp` with its own backward pass, and is tested against that math (values and
//! gradients). The model code never calls a kernel directly: it calls [`dispatch`], which runs
//! the kernel for f32/f64 tensors on the CPU and the plain ops everywhere else (CUDA, Metal,
//! other dtypes), so every op keeps its plain-ops path.
//!
//! This module is private API. With the `unstable-kernels` feature it is public so that the
//! timing examples can call the kernels and their references side by side; nothing in it is
//! covered by semver.

use candle_core::{DType, Layout, Result, Tensor, WithDType};

pub mod adam_step;
pub mod constant_input_gradient;
pub mod embedded_current;
pub mod events;
pub mod inverse_distance;
pub mod lif_projection;
pub mod lif_recurrence;
pub mod membrane_cross_entropy;
pub mod register_blocks;
pub mod simd;
pub mod sparse_linear;

/// Whether `t` is one the fused kernels take: f32 or f64 storage on the CPU (and the kernels
/// are not switched off, [`crate::device::set_fused_kernels`]).
pub fn has_kernel(t: &Tensor) -> bool {
    t.device().is_cpu()
        && matches!(t.dtype(), DType::F32 | DType::F64)
        && crate::device::fused_kernels()
}

/// The one dispatch point between a fused kernel and its plain-ops reference: `fused` when
/// `on` is an f32/f64 CPU tensor ([`has_kernel`]), `reference` otherwise.
pub fn dispatch<T>(
    on: &Tensor,
    fused: impl FnOnce() -> Result<T>,
    reference: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if has_kernel(on) {
        fused()
    } else {
        reference()
    }
}

/// The values of a contiguous CPU tensor from its storage slice and layout (a kernel's inputs
/// are made contiguous before the op; `op` names it in the error if one is not).
pub(crate) fn contiguous_values<'a, F: WithDType>(
    values: &'a [F],
    layout: &Layout,
    op: &str,
) -> Result<&'a [F]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => candle_core::bail!("{op}: the fused kernel expects contiguous tensors"),
    }
}

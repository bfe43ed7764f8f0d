//! The embedded synapses' current `(x ⊙ m) W` as one CPU op, event-driven where the input is
//! sparse.
//!
//! MNIST pixels are ~81 % zeros. A dense `x · P` spends four fifths of its multiply-adds on
//! them, and so does the weight gradient `dP = xᵀ · dy`; autograd's matmul also forms the input
//! gradient `dy · Pᵀ`, a third GEMM nobody reads when `x` is data. Here, with `P = diag(m) W`:
//! - forward: `P` is synthesised from the positions ([`crate::geometry`]'s kernel), then each
//!   sample adds `x[b, i] · P[i, :]` for its non-zero inputs only (dense GEMM above
//!   [`SPARSE_DENSITY_THRESHOLD`]);
//! - backward: the rows of `dP` are formed block by block from the non-zeros of each input
//!   column and turned into position and mask gradients straight away, so neither `dP` nor
//!   `dW` is ever a full `[n_in, n_out]` tensor; `dx` is formed only when `x` tracks a
//!   gradient.
//!
//! [`embedded_current_reference`] is the plain-ops version every other backend runs.

use candle_core::{
    CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Storage, Tensor, WithDType,
};
use rayon::prelude::*;

use crate::geometry::{
    coordinate_major, forward_kernel, row_block_backward, slice, synthesize_rows,
    synthesize_weights, RowBlockGradients,
};
use crate::simd::{vectorized, Real};

/// Input density (fraction of non-zeros) up to which the event-driven product runs; denser
/// inputs go to the dense GEMM. Measured on this project's 2-core reference CPU with
/// `cargo run --release -p neuropos-models --example density_threshold` (batch 600,
/// 784 → 2048, forward + backward): see the README's Performance section.
pub const SPARSE_DENSITY_THRESHOLD: f64 = 0.35;

/// Fewest postsynaptic neurons for the event-driven path: each event streams a row segment
/// of `n_out` weights, and below one register block (128 f64, 256 f32) the per-event overhead
/// dominates while the dense GEMM is tiny anyway (784-2048-10's second layer: 2048 × 10).
pub const MIN_SPARSE_OUTPUTS: usize = 128;

/// How the op multiplies by the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductPath {
    /// Event-driven at or below [`SPARSE_DENSITY_THRESHOLD`] with at least
    /// [`MIN_SPARSE_OUTPUTS`] outputs, dense otherwise.
    Auto,
    /// Event-driven, weights synthesised tile by tile: the whole `[n_in, n_out]` matrix is
    /// never held.
    Sparse,
    /// `W` synthesised whole, then a GEMM.
    Dense,
}

/// Options of [`embedded_current_with`].
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

/// `(x ⊙ m) W` for `x` `[B, n_in]`, full positions `pre` `[n_in, d]` and `post` `[n_out, d]`,
/// and the presynaptic mask `m` `[n_in]`: `[B, n_out]`, bias excluded.
pub fn embedded_current(
    x: &Tensor,
    pre: &Tensor,
    post: &Tensor,
    mask: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    embedded_current_with(x, pre, post, mask, eps, CurrentOptions::default())
}

/// [`embedded_current`] with the product path and tile chosen.
pub fn embedded_current_with(
    x: &Tensor,
    pre: &Tensor,
    post: &Tensor,
    mask: &Tensor,
    eps: f64,
    options: CurrentOptions,
) -> Result<Tensor> {
    if !(x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)) {
        return embedded_current_reference(x, pre, post, mask, eps);
    }
    let (_, n_in) = x.dims2()?;
    let (pre_n, d) = pre.dims2()?;
    let (_, post_d) = post.dims2()?;
    if pre_n != n_in || mask.dims() != [n_in] || post_d != d {
        candle_core::bail!(
            "embedded current: input {:?}, pre positions {:?}, post positions {:?}, mask {:?}",
            x.dims(),
            pre.dims(),
            post.dims(),
            mask.dims()
        );
    }
    if options.tile == 0 {
        candle_core::bail!("embedded current: the weight tile needs at least one column");
    }
    // The mask rides along as one more column of the pre positions: a CustomOp takes at most
    // three tensors, and the concatenation's backward splits the gradient again.
    let pre_and_mask = Tensor::cat(&[pre, &mask.reshape((n_in, 1))?], 1)?;
    x.contiguous()?.apply_op3(
        &pre_and_mask,
        &post.contiguous()?,
        EmbeddedCurrent {
            eps,
            options,
            input_grad: x.track_op(),
        },
    )
}

/// The same in plain Candle ops, for every backend.
pub fn embedded_current_reference(
    x: &Tensor,
    pre: &Tensor,
    post: &Tensor,
    mask: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let n_in = pre.dim(0)?;
    let projection =
        synthesize_weights(pre, post, eps)?.broadcast_mul(&mask.reshape((n_in, 1))?)?;
    x.matmul(&projection)
}

struct EmbeddedCurrent {
    eps: f64,
    options: CurrentOptions,
    /// Whether `x` needs a gradient (it does not when it is data).
    input_grad: bool,
}

#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    n_in: usize,
    n_out: usize,
    d: usize,
}

fn dims(x: &Layout, pre_and_mask: &Layout, post: &Layout) -> Result<Dims> {
    let (batch, n_in) = x.shape().dims2()?;
    let (pre_n, d_plus_mask) = pre_and_mask.shape().dims2()?;
    let (n_out, d) = post.shape().dims2()?;
    if pre_n != n_in || d_plus_mask != d + 1 {
        candle_core::bail!(
            "embedded current: input {:?}, pre positions with mask {:?}, post positions {:?}",
            x.shape(),
            pre_and_mask.shape(),
            post.shape()
        );
    }
    Ok(Dims {
        batch,
        n_in,
        n_out,
        d,
    })
}

/// Splits `[n_in, d + 1]` into row-major positions `[n_in, d]` and the mask `[n_in]`.
fn split_mask<F: WithDType>(pre_and_mask: &[F], d: usize) -> (Vec<F>, Vec<F>) {
    let mut positions = Vec::with_capacity(pre_and_mask.len() / (d + 1) * d);
    let mut mask = Vec::with_capacity(pre_and_mask.len() / (d + 1));
    for row in pre_and_mask.chunks_exact(d + 1) {
        positions.extend_from_slice(&row[..d]);
        mask.push(row[d]);
    }
    (positions, mask)
}

fn density<F: WithDType>(x: &[F]) -> f64 {
    let zero = F::zero();
    x.iter().filter(|&&v| v != zero).count() as f64 / x.len().max(1) as f64
}

impl ProductPath {
    fn sparse<F: WithDType>(self, x: &[F], n_out: usize) -> bool {
        match self {
            ProductPath::Auto => {
                n_out >= MIN_SPARSE_OUTPUTS && density(x) <= SPARSE_DENSITY_THRESHOLD
            }
            ProductPath::Sparse => true,
            ProductPath::Dense => false,
        }
    }
}

/// `x · p` through Candle's GEMM.
fn dense_product<F: WithDType>(
    a: &[F],
    a_shape: (usize, usize),
    transpose_a: bool,
    b: &[F],
    b_shape: (usize, usize),
) -> Result<Vec<F>> {
    let a = Tensor::from_slice(a, a_shape, &Device::Cpu)?;
    let a = if transpose_a { a.t()? } else { a };
    let b = Tensor::from_slice(b, b_shape, &Device::Cpu)?;
    a.matmul(&b)?.flatten_all()?.to_vec1::<F>()
}

/// The non-zeros of a `[rows, cols]` matrix grouped by row or by column: the `(index,
/// value)` pairs of group `g` are `entries[offsets[g]..offsets[g + 1]]`, indices ascending.
struct Events<F> {
    offsets: Vec<usize>,
    entries: Vec<(usize, F)>,
}

impl<F: WithDType> Events<F> {
    fn by_row(x: &[F], cols: usize) -> Self {
        let zero = F::zero();
        let mut offsets = Vec::with_capacity(x.len() / cols.max(1) + 1);
        let mut entries = Vec::new();
        offsets.push(0);
        for row in x.chunks_exact(cols) {
            entries.extend(
                row.iter()
                    .enumerate()
                    .filter(|(_, &v)| v != zero)
                    .map(|(i, &v)| (i, v)),
            );
            offsets.push(entries.len());
        }
        Events { offsets, entries }
    }

    fn by_column(x: &[F], rows: usize, cols: usize) -> Self {
        let zero = F::zero();
        let mut offsets = vec![0usize; cols + 1];
        for row in x.chunks_exact(cols) {
            for (i, &v) in row.iter().enumerate() {
                if v != zero {
                    offsets[i + 1] += 1;
                }
            }
        }
        for i in 0..cols {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut entries = vec![(0usize, zero); offsets[cols]];
        for r in 0..rows {
            for (i, &v) in x[r * cols..][..cols].iter().enumerate() {
                if v != zero {
                    entries[fill[i]] = (r, v);
                    fill[i] += 1;
                }
            }
        }
        Events { offsets, entries }
    }

    fn groups(&self) -> usize {
        self.offsets.len() - 1
    }

    fn group(&self, g: usize) -> &[(usize, F)] {
        &self.entries[self.offsets[g]..self.offsets[g + 1]]
    }
}

/// `y = x · diag(m) W`, event-driven and tile by tile: each task synthesises the weights to
/// `tile` postsynaptic neurons, `[n_in, tile]`, and adds `x[b, i] · W[i, tile]` for the
/// non-zero inputs of every sample. No task ever holds more weights than one tile.
fn tiled_forward<F: Real>(
    x: &[F],
    pre: &[F],
    mask: &[F],
    post: &[F],
    dims: Dims,
    eps: f64,
    tile: usize,
) -> Vec<F> {
    let Dims {
        batch,
        n_in,
        n_out,
        d,
    } = dims;
    let events = Events::by_row(x, n_in);
    let columns = coordinate_major(post, n_out, d);
    let blocks: Vec<Vec<F>> = (0..n_out.div_ceil(tile))
        .into_par_iter()
        .map(|t| {
            let start = t * tile;
            let width = tile.min(n_out - start);
            let tile_columns: Vec<&[F]> = columns.iter().map(|c| &c[start..][..width]).collect();
            let mut weights = vec![F::zero(); n_in * width];
            synthesize_rows(pre, &tile_columns, eps, Some(mask), 0, &mut weights);
            let mut y = vec![F::zero(); batch * width];
            tile_product(&events, &weights, width, &mut y);
            y
        })
        .collect();
    let mut y = vec![F::zero(); batch * n_out];
    for (t, block) in blocks.iter().enumerate() {
        let start = t * tile;
        let width = tile.min(n_out - start);
        for (row, part) in y.chunks_exact_mut(n_out).zip(block.chunks_exact(width)) {
            row[start..start + width].copy_from_slice(part);
        }
    }
    y
}

/// Bytes of accumulators per register block of the event loops: 1 KiB is 16 AVX-512
/// registers, half the register file, so the block stays in registers across a whole event
/// list and every event streams one 1 KiB row segment.
const REGISTER_BLOCK_BYTES: usize = 1024;

/// Columns per register block for `F`.
fn register_block<F>() -> usize {
    REGISTER_BLOCK_BYTES / std::mem::size_of::<F>()
}

/// `out[k] = Σ_{(r, v) ∈ events} v · rows[r·stride + offset + k]` for `k < out.len()`.
#[inline(always)]
fn accumulate_events<F: Real>(
    events: &[(usize, F)],
    rows: &[F],
    stride: usize,
    offset: usize,
    out: &mut [F],
) {
    match out.len() {
        256 => accumulate_fixed::<F, 256>(events, rows, stride, offset, out),
        128 => accumulate_fixed::<F, 128>(events, rows, stride, offset, out),
        64 => accumulate_fixed::<F, 64>(events, rows, stride, offset, out),
        32 => accumulate_fixed::<F, 32>(events, rows, stride, offset, out),
        16 => accumulate_fixed::<F, 16>(events, rows, stride, offset, out),
        width => {
            out.iter_mut().for_each(|a| *a = F::zero());
            for &(r, v) in events {
                let row = &rows[r * stride + offset..][..width];
                for (a, &w) in out.iter_mut().zip(row) {
                    *a += v * w;
                }
            }
        }
    }
}

/// [`accumulate_events`] with a fixed-size accumulator that LLVM keeps in registers: no
/// load and store of the sums per event.
#[inline(always)]
fn accumulate_fixed<F: Real, const N: usize>(
    events: &[(usize, F)],
    rows: &[F],
    stride: usize,
    offset: usize,
    out: &mut [F],
) {
    let mut acc = [F::zero(); N];
    for &(r, v) in events {
        let row = &rows[r * stride + offset..][..N];
        for (a, &w) in acc.iter_mut().zip(row) {
            *a += v * w;
        }
    }
    out.copy_from_slice(&acc);
}

vectorized! {
    /// `y[b, :] = Σ_{(i, v) ∈ events of b} v · weights[i, :]` for one tile (`width` columns).
    fn tile_product<F: Real>(events: &Events<F>, weights: &[F], width: usize, y: &mut [F]) {
        for (b, row) in y.chunks_exact_mut(width).enumerate() {
            for (block, out) in row.chunks_mut(register_block::<F>()).enumerate() {
                let offset = block * register_block::<F>();
                accumulate_events(events.group(b), weights, width, offset, out);
            }
        }
    }
}

vectorized! {
    /// `dP[:, tile] = xᵀ · dy_tile`, event-driven, into `out` `[n_in, width]`, from the tile's
    /// columns of the output gradient, `dy_tile` `[B, width]`.
    fn weight_grad_tile<F: Real>(events: &Events<F>, dy_tile: &[F], out: &mut [F]) {
        let width = out.len() / events.groups().max(1);
        for (i, row) in out.chunks_exact_mut(width).enumerate() {
            for (block, part) in row.chunks_mut(register_block::<F>()).enumerate() {
                let offset = block * register_block::<F>();
                accumulate_events(events.group(i), dy_tile, width, offset, part);
            }
        }
    }
}

/// Gradients of the pre positions with the mask column `[n_in, d + 1]`, then of the post
/// positions `[n_out, d]`, flattened one after the other.
///
/// Tile by tile over the postsynaptic neurons, like the forward pass: each task forms
/// `dP[:, tile]` (event-driven from the input's columns, or cut from the dense GEMM's result)
/// and turns it into the gradients of its tile's post positions (which it alone owns) and a
/// partial gradient of every pre position and mask value; the partials are summed in tile
/// order, so results do not depend on the thread count. `sparse_tile` is the tile width of
/// the event-driven path, `None` for the dense one.
fn backward_kernel<F: Real>(
    x: &[F],
    pre_and_mask: &[F],
    post: &[F],
    dy: &[F],
    dims: Dims,
    eps: f64,
    sparse_tile: Option<usize>,
) -> Result<Vec<F>> {
    let Dims {
        batch,
        n_in,
        n_out,
        d,
    } = dims;
    let (pre, mask) = split_mask(pre_and_mask, d);
    let columns = coordinate_major(post, n_out, d);
    // The dense path's tiles only cut its GEMM result; any width does.
    let tile = sparse_tile.unwrap_or(DEFAULT_TILE);
    let (events, dense_grad) = if sparse_tile.is_some() {
        (Some(Events::by_column(x, batch, n_in)), None)
    } else {
        let grad = dense_product(x, (batch, n_in), true, dy, (batch, n_out))?;
        (None, Some(grad))
    };
    let parts: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = (0..n_out.div_ceil(tile))
        .into_par_iter()
        .map(|t| {
            let start = t * tile;
            let width = tile.min(n_out - start);
            let mut grad = vec![F::zero(); n_in * width];
            match (&events, &dense_grad) {
                (Some(events), _) => {
                    // The tile's gradient columns, packed: events then walk consecutive
                    // rows and pages instead of jumping the full output width each.
                    let mut dy_tile = Vec::with_capacity(batch * width);
                    for row in dy.chunks_exact(n_out) {
                        dy_tile.extend_from_slice(&row[start..start + width]);
                    }
                    weight_grad_tile(events, &dy_tile, &mut grad)
                }
                (None, Some(full)) => {
                    for (row, full_row) in
                        grad.chunks_exact_mut(width).zip(full.chunks_exact(n_out))
                    {
                        row.copy_from_slice(&full_row[start..start + width]);
                    }
                }
                (None, None) => unreachable!("one of the two products is always formed"),
            }
            let tile_columns: Vec<&[F]> = columns.iter().map(|c| &c[start..][..width]).collect();
            let mut d_pre = vec![0f64; n_in * d];
            let mut d_mask = vec![0f64; n_in];
            let mut d_post = vec![0f64; d * width];
            row_block_backward(
                &pre,
                &tile_columns,
                eps,
                0,
                &grad,
                Some(&mask),
                RowBlockGradients {
                    d_pre: &mut d_pre,
                    d_post: &mut d_post,
                    d_scale: Some(&mut d_mask),
                },
            );
            (d_pre, d_mask, d_post)
        })
        .collect();
    let mut d_pre = vec![0f64; n_in * d];
    let mut d_mask = vec![0f64; n_in];
    let mut d_post = vec![0f64; n_out * d];
    for (t, (pre_part, mask_part, post_part)) in parts.iter().enumerate() {
        d_pre.iter_mut().zip(pre_part).for_each(|(a, v)| *a += v);
        d_mask.iter_mut().zip(mask_part).for_each(|(a, v)| *a += v);
        let start = t * tile;
        let width = tile.min(n_out - start);
        for j in 0..width {
            for c in 0..d {
                d_post[(start + j) * d + c] = post_part[c * width + j];
            }
        }
    }
    let mut out = Vec::with_capacity(n_in * (d + 1) + n_out * d);
    for (position, m) in d_pre.chunks_exact(d).zip(&d_mask) {
        out.extend(position.iter().map(|&v| F::from_f64(v)));
        out.push(F::from_f64(*m));
    }
    out.extend(d_post.into_iter().map(F::from_f64));
    Ok(out)
}

fn forward<F: Real>(
    x: &[F],
    pre_and_mask: &[F],
    post: &[F],
    dims: Dims,
    eps: f64,
    options: CurrentOptions,
) -> Result<Vec<F>> {
    let (pre, mask) = split_mask(pre_and_mask, dims.d);
    if options.path.sparse(x, dims.n_out) {
        Ok(tiled_forward(x, &pre, &mask, post, dims, eps, options.tile))
    } else {
        let p = forward_kernel(&pre, post, dims.d, eps, Some(&mask));
        dense_product(
            x,
            (dims.batch, dims.n_in),
            false,
            &p,
            (dims.n_in, dims.n_out),
        )
    }
}

/// A contiguous CPU tensor's values.
fn cpu_values<'a, F: WithDType>(storage: &'a Storage, layout: &Layout) -> Result<&'a [F]> {
    match storage {
        Storage::Cpu(cpu) => slice(cpu.as_slice::<F>()?, layout),
        _ => candle_core::bail!("embedded current: the fused op runs on the CPU only"),
    }
}

impl CustomOp3 for EmbeddedCurrent {
    fn name(&self) -> &'static str {
        "embedded-current"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = dims(l1, l2, l3)?;
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(a), CpuStorage::F32(b)) => {
                CpuStorage::F32(forward(
                    slice(x, l1)?,
                    slice(a, l2)?,
                    slice(b, l3)?,
                    dims,
                    self.eps,
                    self.options,
                )?)
            }
            (CpuStorage::F64(x), CpuStorage::F64(a), CpuStorage::F64(b)) => {
                CpuStorage::F64(forward(
                    slice(x, l1)?,
                    slice(a, l2)?,
                    slice(b, l3)?,
                    dims,
                    self.eps,
                    self.options,
                )?)
            }
            _ => candle_core::bail!("embedded current supports matching f32 or f64 tensors"),
        };
        Ok((out, Shape::from((dims.batch, dims.n_out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        pre_and_mask: &Tensor,
        post: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (x_storage, x_layout) = x.storage_and_layout();
        let (a_storage, a_layout) = pre_and_mask.storage_and_layout();
        let (b_storage, b_layout) = post.storage_and_layout();
        let (g_storage, g_layout) = grad.storage_and_layout();
        let dims = dims(x_layout, a_layout, b_layout)?;
        if g_layout.shape().dims() != [dims.batch, dims.n_out] {
            candle_core::bail!(
                "embedded current: gradient {:?}, expected [{}, {}]",
                g_layout.shape(),
                dims.batch,
                dims.n_out
            );
        }
        let both = match x.dtype() {
            DType::F32 => {
                let x = cpu_values::<f32>(&x_storage, x_layout)?;
                let sparse = self.options.path.sparse(x, dims.n_out);
                let values = backward_kernel(
                    x,
                    cpu_values::<f32>(&a_storage, a_layout)?,
                    cpu_values::<f32>(&b_storage, b_layout)?,
                    cpu_values::<f32>(&g_storage, g_layout)?,
                    dims,
                    self.eps,
                    sparse.then_some(self.options.tile),
                )?;
                Tensor::from_vec(values, values_len(dims), &Device::Cpu)?
            }
            DType::F64 => {
                let x = cpu_values::<f64>(&x_storage, x_layout)?;
                let sparse = self.options.path.sparse(x, dims.n_out);
                let values = backward_kernel(
                    x,
                    cpu_values::<f64>(&a_storage, a_layout)?,
                    cpu_values::<f64>(&b_storage, b_layout)?,
                    cpu_values::<f64>(&g_storage, g_layout)?,
                    dims,
                    self.eps,
                    sparse.then_some(self.options.tile),
                )?;
                Tensor::from_vec(values, values_len(dims), &Device::Cpu)?
            }
            other => candle_core::bail!("embedded current does not support {other:?}"),
        };
        drop((x_storage, a_storage, b_storage, g_storage));
        let pre_len = dims.n_in * (dims.d + 1);
        let d_pre = both
            .narrow(0, 0, pre_len)?
            .reshape((dims.n_in, dims.d + 1))?;
        let d_post = both
            .narrow(0, pre_len, dims.n_out * dims.d)?
            .reshape((dims.n_out, dims.d))?;
        let d_x = if self.input_grad {
            // Only when x is itself computed: dy · Pᵀ, through Candle's GEMM.
            let n_in = dims.n_in;
            let pre = pre_and_mask.narrow(1, 0, dims.d)?.detach();
            let mask = pre_and_mask.narrow(1, dims.d, 1)?.detach();
            let projection =
                synthesize_weights(&pre, &post.detach(), self.eps)?.broadcast_mul(&mask)?;
            debug_assert_eq!(projection.dim(0)?, n_in);
            Some(grad.matmul(&projection.t()?)?)
        } else {
            None
        };
        Ok((d_x, Some(d_pre), Some(d_post)))
    }
}

fn values_len(dims: Dims) -> usize {
    dims.n_in * (dims.d + 1) + dims.n_out * dims.d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{flat, probe_loss};
    use candle_core::Var;

    /// `[rows, cols]` uniform in [0, 1) with about `1 − density` of the entries zeroed.
    fn sparse_input(rows: usize, cols: usize, density: f64, dtype: DType) -> Tensor {
        let values = Tensor::rand(0f64, 1.0, (rows, cols), &Device::Cpu).unwrap();
        let keep = Tensor::rand(0f64, 1.0, (rows, cols), &Device::Cpu)
            .unwrap()
            .lt(density)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        values.mul(&keep).unwrap().to_dtype(dtype).unwrap()
    }

    /// Output and the gradients of a probe loss w.r.t. x, pre, post and mask.
    fn run(
        path: Option<(ProductPath, usize)>,
        x: &Tensor,
        track_x: bool,
        pre: &Tensor,
        post: &Tensor,
        mask: &Tensor,
    ) -> Vec<Vec<f64>> {
        let vars = [x, pre, post, mask].map(|t| Var::from_tensor(t).unwrap());
        let input = if track_x {
            vars[0].as_tensor().clone()
        } else {
            x.clone()
        };
        let (p, q, m) = (
            vars[1].as_tensor(),
            vars[2].as_tensor(),
            vars[3].as_tensor(),
        );
        let y = match path {
            Some(path) => {
                let (path, tile) = path;
                embedded_current_with(&input, p, q, m, 1e-6, CurrentOptions { path, tile })
            }
            None => embedded_current_reference(&input, p, q, m, 1e-6),
        }
        .unwrap();
        let grads = probe_loss(&y).backward().unwrap();
        let mut out = vec![flat(&y)];
        for (k, var) in vars.iter().enumerate() {
            match grads.get(var.as_tensor()) {
                Some(g) => out.push(flat(g)),
                None => {
                    assert!(k == 0 && !track_x, "no gradient for input {k}");
                    out.push(Vec::new());
                }
            }
        }
        out
    }

    #[test]
    fn sparse_dense_and_reference_agree_in_values_and_gradients() {
        let names = ["current", "dx", "dpre", "dpost", "dmask"];
        // Tiles of 256 (f32) and 128 (f64) columns take the register-block loops, the others
        // and the remainders the general ones.
        for (dtype, batch, n_in, n_out, d, density, track_x, tile) in [
            (DType::F32, 37, 60, 300, 3, 0.19, false, 256),
            (DType::F32, 20, 33, 517, 5, 0.5, true, 48),
            (DType::F64, 9, 40, 300, 3, 0.1, true, 128),
            (DType::F64, 5, 12, 6, 2, 0.0, false, 4),
        ] {
            let x = sparse_input(batch, n_in, density, dtype);
            let pre = Tensor::randn(0f64, 3.0, (n_in, d), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let post = Tensor::randn(0f64, 3.0, (n_out, d), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let mask = Tensor::rand(-1f64, 1.0, n_in, &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let reference = run(None, &x, track_x, &pre, &post, &mask);
            let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
            for path in [ProductPath::Sparse, ProductPath::Dense, ProductPath::Auto] {
                let got = run(Some((path, tile)), &x, track_x, &pre, &post, &mask);
                for (k, (a, b)) in got.iter().zip(&reference).enumerate() {
                    assert_eq!(a.len(), b.len(), "{path:?} {}", names[k]);
                    let scale = b.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
                    for (i, (u, v)) in a.iter().zip(b).enumerate() {
                        assert!(
                            (u - v).abs() <= tol * scale,
                            "{dtype:?} {path:?} density {density}: {}[{i}] {u} vs {v}",
                            names[k]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn zero_input_gives_zero_current_and_zero_position_gradients() {
        let x = Tensor::zeros((4, 10), DType::F32, &Device::Cpu).unwrap();
        let pre = Tensor::randn(0f32, 1.0, (10, 3), &Device::Cpu).unwrap();
        let post = Tensor::randn(0f32, 1.0, (7, 3), &Device::Cpu).unwrap();
        let mask = Tensor::ones(10, DType::F32, &Device::Cpu).unwrap();
        let got = run(
            Some((ProductPath::Sparse, 4)),
            &x,
            false,
            &pre,
            &post,
            &mask,
        );
        for values in [&got[0], &got[2], &got[3], &got[4]] {
            assert!(values.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn vector_and_portable_kernels_agree_bit_for_bit() {
        let x = sparse_input(30, 50, 0.2, DType::F32);
        let pre = Tensor::randn(0f32, 5.0, (50, 3), &Device::Cpu).unwrap();
        let post = Tensor::randn(0f32, 5.0, (600, 3), &Device::Cpu).unwrap();
        let mask = Tensor::rand(-1f32, 1.0, 50, &Device::Cpu).unwrap();
        let runs: Vec<_> = [true, false]
            .into_iter()
            .map(|portable| {
                crate::simd::force_portable(portable);
                let out = run(
                    Some((ProductPath::Sparse, 256)),
                    &x,
                    true,
                    &pre,
                    &post,
                    &mask,
                );
                crate::simd::force_portable(false);
                out
            })
            .collect();
        assert_eq!(runs[0], runs[1]);
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let x = Tensor::zeros((4, 10), DType::F32, &Device::Cpu).unwrap();
        let pre = Tensor::zeros((9, 3), DType::F32, &Device::Cpu).unwrap();
        let post = Tensor::zeros((7, 3), DType::F32, &Device::Cpu).unwrap();
        let mask = Tensor::ones(10, DType::F32, &Device::Cpu).unwrap();
        let err = embedded_current(&x, &pre, &post, &mask, 1e-6).unwrap_err();
        assert!(err.to_string().contains("pre positions"), "{err}");
    }
}

//! The embedded synapses' forward pass `act((x ⊙ m) W + b)` as one CPU op, event-driven where
//! the input is sparse.
//!
//! MNIST pixels are ~81 % zeros. A dense `x · P` spends four fifths of its multiply-adds on
//! them, and so does the weight gradient `dP = xᵀ · dz`; autograd's matmul also forms the input
//! gradient `dz · Pᵀ`, a third GEMM nobody reads when `x` is data. Here, with `P = diag(m) W`:
//! - forward: each task synthesises the weights to one tile of postsynaptic neurons
//!   ([`crate::geometry`]'s kernel) and adds `x[b, i] · P[i, tile]` for the non-zero inputs of
//!   every sample; the bias and a ReLU are applied in the same pass. Dense inputs go to a GEMM
//!   on the whole `P`, layers with few outputs to per-output dot products.
//! - backward: each task forms its tile of `dP` from the non-zeros of each input column and
//!   turns it into position and mask gradients straight away, so neither `dP` nor `dW` is
//!   ever a full `[n_in, n_out]` tensor; the ReLU's and the bias's gradients come from the
//!   same pass, and `dx` is formed only when `x` tracks a gradient.
//!
//! A pruning keep-mask, when there is one, multiplies each tile of `W` as it is synthesised
//! (and each tile of `dP` in the backward pass): pruned layers take the same path.
//!
//! [`crate::layers::embedded::embedded_current_reference`] is the plain-ops version, the
//! reference this kernel is tested against.

use candle_core::{
    CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Storage, Tensor, WithDType,
};
use rayon::prelude::*;

use super::contiguous_values;
use super::events::{event_product, Events};
use super::inverse_distance::{
    coordinate_major, forward_kernel, row_block_backward, synthesize_rows, RowBlockGradients,
};
use super::simd::{lane_dot, transpose, vectorized, Real, Scratch, SharedMut};
use crate::layers::current::{CurrentInputs, CurrentOptions, ProductPath, DEFAULT_TILE};

/// An input's values.
fn slice<'a, F: WithDType>(s: &'a [F], layout: &Layout) -> Result<&'a [F]> {
    contiguous_values(s, layout, "embedded current")
}

/// Input density (fraction of non-zeros) up to which the event-driven product runs; denser
/// inputs go to the dense GEMM. Measured on this project's 2-core reference CPU with
/// `cargo run --release -p neuropos-models --example density_threshold` (batch 600,
/// 784 → 2048, forward + backward): since the event loops take groups in pairs, they beat
/// Candle's GEMM (plus a materialised `W`) at every density up to 1.0, so `Auto` never picks
/// the GEMM there; see the README's Performance section. A build with a vendor BLAS (`mkl`,
/// `accelerate`) should re-measure and lower this.
pub const SPARSE_DENSITY_THRESHOLD: f64 = 1.0;

/// Fewest postsynaptic neurons for the tiled paths: below one register block (a pair's two
/// groups of 128 f32 or 64 f64 columns each) per-output dot products over the input beat both
/// the event loop and a GEMM (784-2048-10's second layer: 2048 × 10).
pub const MIN_SPARSE_OUTPUTS: usize = 128;

/// [`crate::layers::embedded::embedded_current`] on the CPU.
pub fn embedded_current_fused(
    x: &Tensor,
    inputs: &CurrentInputs,
    options: CurrentOptions,
) -> Result<Tensor> {
    let (_, n_in) = x.dims2()?;
    let (pre_n, d) = inputs.pre.dims2()?;
    let (n_out, post_d) = inputs.post.dims2()?;
    let keep_ok = inputs.keep.is_none_or(|k| k.dims() == [n_in, n_out]);
    if pre_n != n_in
        || inputs.mask.dims() != [n_in]
        || post_d != d
        || inputs.bias.dims() != [n_out]
        || !keep_ok
    {
        candle_core::bail!(
            "embedded current: input {:?}, pre positions {:?}, post positions {:?}, mask {:?}, \
             bias {:?}, keep-mask {:?}",
            x.dims(),
            inputs.pre.dims(),
            inputs.post.dims(),
            inputs.mask.dims(),
            inputs.bias.dims(),
            inputs.keep.map(Tensor::dims)
        );
    }
    if options.tile == 0 {
        candle_core::bail!("embedded current: the weight tile needs at least one column");
    }
    // The mask and the bias ride along as one more column of the positions: a CustomOp takes
    // at most three tensors, and the concatenations' backward splits the gradients again. The
    // keep-mask is a constant of the op (no gradient flows to it).
    let pre_and_mask = Tensor::cat(&[inputs.pre, &inputs.mask.reshape((n_in, 1))?], 1)?;
    let post_and_bias = Tensor::cat(&[inputs.post, &inputs.bias.reshape((n_out, 1))?], 1)?;
    let keep = inputs
        .keep
        .map(|k| k.to_dtype(x.dtype())?.contiguous())
        .transpose()?;
    x.contiguous()?.apply_op3(
        &pre_and_mask,
        &post_and_bias,
        EmbeddedCurrent {
            eps: inputs.eps,
            relu: inputs.relu,
            options,
            input_grad: x.track_op(),
            keep,
        },
    )
}

struct EmbeddedCurrent {
    eps: f64,
    relu: bool,
    options: CurrentOptions,
    /// Whether `x` needs a gradient (it does not when it is data).
    input_grad: bool,
    /// Pruning keep-mask `[n_in, n_out]` in the input's dtype, contiguous.
    keep: Option<Tensor>,
}

/// Shapes of one call: batch B, inputs n_in, outputs n_out, embedding dimension d. (The LIF
/// projection has its own `ProjectionDims`: another op, with neurons and a next layer.)
#[derive(Clone, Copy)]
struct CurrentDims {
    batch: usize,
    n_in: usize,
    n_out: usize,
    d: usize,
}

fn dims(x: &Layout, pre_and_mask: &Layout, post_and_bias: &Layout) -> Result<CurrentDims> {
    let (batch, n_in) = x.shape().dims2()?;
    let (pre_n, d_plus_mask) = pre_and_mask.shape().dims2()?;
    let (n_out, d_plus_bias) = post_and_bias.shape().dims2()?;
    if pre_n != n_in || d_plus_mask != d_plus_bias || d_plus_bias < 2 {
        candle_core::bail!(
            "embedded current: input {:?}, pre positions with mask {:?}, post positions with \
             bias {:?}",
            x.shape(),
            pre_and_mask.shape(),
            post_and_bias.shape()
        );
    }
    Ok(CurrentDims {
        batch,
        n_in,
        n_out,
        d: d_plus_bias - 1,
    })
}

/// Splits `[n, d + 1]` into row-major positions `[n, d]` and the last column `[n]`.
fn split_last_column<F: WithDType>(rows: &[F], d: usize) -> (Vec<F>, Vec<F>) {
    let mut positions = Vec::with_capacity(rows.len() / (d + 1) * d);
    let mut last = Vec::with_capacity(rows.len() / (d + 1));
    for row in rows.chunks_exact(d + 1) {
        positions.extend_from_slice(&row[..d]);
        last.push(row[d]);
    }
    (positions, last)
}

fn density<F: WithDType>(x: &[F]) -> f64 {
    let zero = F::zero();
    x.iter().filter(|&&v| v != zero).count() as f64 / x.len().max(1) as f64
}

/// Start and width of tile `t` of `tile` columns among `n`.
fn tile_span(t: usize, tile: usize, n: usize) -> (usize, usize) {
    let start = t * tile;
    (start, tile.min(n - start))
}

/// `block ⊙ keep[:, start..start + width]` for a block `[n_in, width]` of columns `start..` of
/// `P` `[n_in, n_out]`, when there is a keep-mask (`[n_in, n_out]`).
fn apply_keep<F: Real>(block: &mut [F], keep: Option<&[F]>, n_out: usize, start: usize) {
    let Some(keep) = keep else { return };
    let rows = keep.len() / n_out.max(1);
    let width = block.len() / rows.max(1);
    for (row, keep_row) in block
        .chunks_exact_mut(width.max(1))
        .zip(keep.chunks_exact(n_out))
    {
        for (w, &k) in row.iter_mut().zip(&keep_row[start..start + width]) {
            *w *= k;
        }
    }
}

/// What one call computes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Event-driven, tile by tile.
    Events,
    /// Per-output dot products over the input: few outputs.
    Narrow,
    /// Whole `P`, then Candle's GEMM.
    Gemm,
}

impl ProductPath {
    fn strategy<F: WithDType>(self, x: &[F], n_out: usize) -> Strategy {
        match self {
            ProductPath::Auto if n_out < MIN_SPARSE_OUTPUTS => Strategy::Narrow,
            // At a threshold of 1 every input qualifies: no need to count its non-zeros.
            ProductPath::Auto
                if SPARSE_DENSITY_THRESHOLD >= 1.0 || density(x) <= SPARSE_DENSITY_THRESHOLD =>
            {
                Strategy::Events
            }
            ProductPath::Auto | ProductPath::Dense => Strategy::Gemm,
            ProductPath::Sparse => Strategy::Events,
        }
    }
}

/// `a · b` (or `aᵀ · b`) through Candle's GEMM.
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

vectorized! {
    /// Adds the bias to every row of `y` `[rows, width]` and applies the ReLU if asked.
    ///
    /// The ReLU writes −0.0 where the pre-activation was negative and +0.0 where it was
    /// zero: equal as numbers (nothing downstream sees a difference), but the backward pass
    /// can then follow Candle's convention ReLU′(0) = 1 exactly, from the output alone.
    fn bias_and_activation<F: Real>(y: &mut [F], bias: &[F], relu: bool) {
        let (zero, negative_zero) = (F::zero(), -F::zero());
        for row in y.chunks_exact_mut(bias.len()) {
            for (v, &b) in row.iter_mut().zip(bias) {
                let z = *v + b;
                *v = if relu && z < zero { negative_zero } else { z };
            }
        }
    }
}

/// `y = act(x · diag(m) W + b)`, event-driven and tile by tile: each task synthesises the
/// weights to `tile` postsynaptic neurons, `[n_in, tile]`, adds `x[b, i] · W[i, tile]` for
/// the non-zero inputs of every sample, then the bias and the activation. No task ever holds
/// more weights than one tile.
#[allow(clippy::too_many_arguments)]
fn tiled_forward<F: Real>(
    x: &[F],
    pre: &[F],
    mask: &[F],
    post: &[F],
    bias: &[F],
    relu: bool,
    dims: CurrentDims,
    eps: f64,
    tile: usize,
    keep: Option<&[F]>,
) -> Vec<F> {
    let CurrentDims {
        batch,
        n_in,
        n_out,
        d,
    } = dims;
    let events = Events::by_row(x, n_in);
    let columns = coordinate_major(post, n_out, d);
    let mut y = vec![F::zero(); batch * n_out];
    let shared = SharedMut::new(&mut y);
    (0..n_out.div_ceil(tile)).into_par_iter().for_each(|t| {
        let (start, width) = tile_span(t, tile, n_out);
        let tile_columns: Vec<&[F]> = columns.iter().map(|c| &c[start..][..width]).collect();
        let mut weights = Scratch::take(n_in * width);
        synthesize_rows(pre, &tile_columns, eps, Some(mask), 0, &mut weights);
        apply_keep(&mut weights, keep, n_out, start);
        let mut y_tile = Scratch::take(batch * width);
        event_product(&events, &weights, width, &mut y_tile);
        bias_and_activation(&mut y_tile, &bias[start..start + width], relu);
        for (b, part) in y_tile.chunks_exact(width).enumerate() {
            // SAFETY: tile t alone writes columns start..start + width of each row.
            unsafe { shared.slice(b * n_out + start, width) }.copy_from_slice(part);
        }
    });
    y
}

vectorized! {
    /// `y[b, k] = x[b, :] · p_t[k, :]` for samples `x` `[rows, n_in]` and the transposed
    /// weights `p_t` `[n_out, n_in]`.
    fn narrow_product<F: Real>(x: &[F], p_t: &[F], n_in: usize, y: &mut [F]) {
        let n_out = p_t.len() / n_in;
        for (sample, out) in x.chunks_exact(n_in).zip(y.chunks_exact_mut(n_out)) {
            for (o, weights) in out.iter_mut().zip(p_t.chunks_exact(n_in)) {
                *o = lane_dot(sample, weights);
            }
        }
    }
}

/// Samples per task of the narrow path (fixed: results do not depend on the thread count).
/// Each sample costs only `n_out < 128` dot products, so a task takes a run of them; the LIF
/// projection's backward pass, whose tasks each carry a partial weight gradient to be summed,
/// takes fewer (`BACKWARD_SAMPLES_PER_TASK` there).
const NARROW_SAMPLES_PER_TASK: usize = 32;

fn forward<F: Real>(
    x: &[F],
    pre_and_mask: &[F],
    post_and_bias: &[F],
    keep: Option<&[F]>,
    dims: CurrentDims,
    op: &EmbeddedCurrent,
) -> Result<Vec<F>> {
    let (eps, relu, path) = (op.eps, op.relu, op.options);
    let CurrentDims {
        batch,
        n_in,
        n_out,
        d,
    } = dims;
    let (pre, mask) = split_last_column(pre_and_mask, d);
    let (post, bias) = split_last_column(post_and_bias, d);
    let mut y = match path.path.strategy(x, n_out) {
        Strategy::Events => {
            return Ok(tiled_forward(
                x, &pre, &mask, &post, &bias, relu, dims, eps, path.tile, keep,
            ))
        }
        Strategy::Narrow => {
            let mut p = forward_kernel(&pre, &post, d, eps, Some(&mask));
            apply_keep(&mut p, keep, n_out, 0);
            let p_t = transpose(&p, n_in, n_out);
            let mut y = vec![F::zero(); batch * n_out];
            y.par_chunks_mut(n_out * NARROW_SAMPLES_PER_TASK)
                .enumerate()
                .for_each(|(task, out)| {
                    let first = task * NARROW_SAMPLES_PER_TASK;
                    let rows = out.len() / n_out;
                    narrow_product(&x[first * n_in..][..rows * n_in], &p_t, n_in, out)
                });
            y
        }
        Strategy::Gemm => {
            let mut p = forward_kernel(&pre, &post, d, eps, Some(&mask));
            apply_keep(&mut p, keep, n_out, 0);
            dense_product(x, (batch, n_in), false, &p, (n_in, n_out))?
        }
    };
    bias_and_activation(&mut y, &bias, relu);
    Ok(y)
}

/// The bias gradient `Σ_b dz[b, :]` (summed over samples in order, in f64), and with a ReLU
/// `dz = dy ⊙ 1[z ≥ 0]` (a negative pre-activation left −0.0 in `y`); without one `dz` is
/// `dy` itself and is not copied. Parallel over samples (the mask) and over blocks of
/// outputs (the sums, each in sample order: the same bits on any thread count).
fn pre_activation_grad<F: Real>(
    y: &[F],
    dy: &[F],
    relu: bool,
    n_out: usize,
) -> (Option<Vec<F>>, Vec<f64>) {
    let rows_per_task = NARROW_SAMPLES_PER_TASK * n_out.max(1);
    let dz = relu.then(|| {
        let mut dz = vec![F::zero(); dy.len()];
        dz.par_chunks_mut(rows_per_task)
            .zip(
                y.par_chunks(rows_per_task)
                    .zip(dy.par_chunks(rows_per_task)),
            )
            .for_each(|(out, (y, dy))| relu_gate(y, dy, out));
        dz
    });
    let g = dz.as_deref().unwrap_or(dy);
    let d_bias = (0..n_out.div_ceil(BIAS_COLUMNS_PER_TASK))
        .into_par_iter()
        .flat_map_iter(|task| {
            let start = task * BIAS_COLUMNS_PER_TASK;
            column_sums(g, n_out, start..n_out.min(start + BIAS_COLUMNS_PER_TASK))
        })
        .collect();
    (dz, d_bias)
}

/// Outputs per task of the bias-gradient sums.
const BIAS_COLUMNS_PER_TASK: usize = 256;

vectorized! {
    /// `out = dy ⊙ 1[y ≥ 0]`, with −0.0 in `y` marking a negative pre-activation.
    fn relu_gate<F: Real>(y: &[F], dy: &[F], out: &mut [F]) {
        for ((o, &v), &g) in out.iter_mut().zip(y).zip(dy) {
            *o = if v.is_sign_negative() { F::zero() } else { g };
        }
    }
}

vectorized! {
    /// `Σ_b g[b, c]` for the columns `c` in `columns` of `g` `[·, n_out]`, in f64, rows in order.
    fn column_sums<F: Real>(g: &[F], n_out: usize, columns: std::ops::Range<usize>) -> Vec<f64> {
        let mut sums = vec![0f64; columns.len()];
        for row in g.chunks_exact(n_out) {
            for (acc, &v) in sums.iter_mut().zip(&row[columns.clone()]) {
                *acc += WithDType::to_f64(v);
            }
        }
        sums
    }
}

vectorized! {
    /// `dP_t[k, :] = Σ_b dz[b, k] · x[b, :]`, `[n_out, n_in]`, for the narrow path.
    fn narrow_weight_grad<F: Real>(x: &[F], dz: &[F], n_in: usize, n_out: usize) -> Vec<F> {
        let mut dp_t = vec![F::zero(); n_out * n_in];
        for (sample, g) in x.chunks_exact(n_in).zip(dz.chunks_exact(n_out)) {
            for (row, &gk) in dp_t.chunks_exact_mut(n_in).zip(g) {
                for (acc, &v) in row.iter_mut().zip(sample) {
                    *acc += gk * v;
                }
            }
        }
        dp_t
    }
}

vectorized! {
    /// `dx[b, :] = Σ_k dz[b, k] · p_t[k, :]` for the narrow path.
    fn narrow_input_grad<F: Real>(dz: &[F], p_t: &[F], n_in: usize, dx: &mut [F]) {
        let n_out = p_t.len() / n_in;
        for (out, g) in dx.chunks_exact_mut(n_in).zip(dz.chunks_exact(n_out)) {
            out.iter_mut().for_each(|v| *v = F::zero());
            for (&gk, weights) in g.iter().zip(p_t.chunks_exact(n_in)) {
                for (o, &w) in out.iter_mut().zip(weights) {
                    *o += gk * w;
                }
            }
        }
    }
}

/// The gradients of one call: `[n_in, d + 1]` (positions, mask), `[n_out, d + 1]`
/// (positions, bias), and the input's when asked.
struct Gradients<F> {
    pre_and_mask: Vec<F>,
    post_and_bias: Vec<F>,
    input: Option<Vec<F>>,
}

/// Tile by tile over the postsynaptic neurons, like the forward pass: each task forms
/// `dP[:, tile]` (event-driven from the input's columns, or cut from the GEMM's or the
/// narrow path's result) and turns it into the gradients of its tile's post positions (which
/// it alone owns) and a partial gradient of every pre position and mask value; the partials
/// are summed in tile order, so results do not depend on the thread count.
#[allow(clippy::too_many_arguments)]
fn backward_kernel<F: Real>(
    x: &[F],
    pre_and_mask: &[F],
    post_and_bias: &[F],
    y: &[F],
    dy: &[F],
    keep: Option<&[F]>,
    dims: CurrentDims,
    op: &EmbeddedCurrent,
) -> Result<Gradients<F>> {
    let CurrentDims {
        batch,
        n_in,
        n_out,
        d,
    } = dims;
    let eps = op.eps;
    let (pre, mask) = split_last_column(pre_and_mask, d);
    let (post, _) = split_last_column(post_and_bias, d);
    let (masked, d_bias) = pre_activation_grad(y, dy, op.relu, n_out);
    let dz = masked.as_deref().unwrap_or(dy);
    let columns = coordinate_major(post.as_slice(), n_out, d);
    let strategy = op.options.path.strategy(x, n_out);
    let tile = match strategy {
        Strategy::Events => op.options.tile,
        // The other paths' tiles only cut a finished gradient; any width does.
        Strategy::Narrow | Strategy::Gemm => DEFAULT_TILE,
    };
    let events = (strategy == Strategy::Events).then(|| Events::by_column(x, batch, n_in));
    let full_grad = match strategy {
        Strategy::Events => None,
        Strategy::Gemm => Some(dense_product(x, (batch, n_in), true, dz, (batch, n_out))?),
        Strategy::Narrow => Some(transpose(
            &narrow_weight_grad(x, dz, n_in, n_out),
            n_out,
            n_in,
        )),
    };
    let parts: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = (0..n_out.div_ceil(tile))
        .into_par_iter()
        .map(|t| {
            let (start, width) = tile_span(t, tile, n_out);
            let mut grad = Scratch::take(n_in * width);
            match (&events, &full_grad) {
                (Some(events), _) => {
                    // The tile's gradient columns, packed: events then walk consecutive
                    // rows and pages instead of jumping the full output width each.
                    let mut dz_tile = Scratch::take(batch * width);
                    for (tile_row, row) in
                        dz_tile.chunks_exact_mut(width).zip(dz.chunks_exact(n_out))
                    {
                        tile_row.copy_from_slice(&row[start..start + width]);
                    }
                    event_product(events, &dz_tile, width, &mut grad)
                }
                (None, Some(full)) => {
                    for (row, full_row) in
                        grad.chunks_exact_mut(width).zip(full.chunks_exact(n_out))
                    {
                        row.copy_from_slice(&full_row[start..start + width]);
                    }
                }
                (None, None) => unreachable!("one of the products is always formed"),
            }
            // A pruned connection's weight is a constant 0: no gradient reaches its positions.
            apply_keep(&mut grad, keep, n_out, start);
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
    let mut post_and_bias_grad = vec![F::zero(); n_out * (d + 1)];
    for (t, (pre_part, mask_part, post_part)) in parts.iter().enumerate() {
        d_pre.iter_mut().zip(pre_part).for_each(|(a, v)| *a += v);
        d_mask.iter_mut().zip(mask_part).for_each(|(a, v)| *a += v);
        let (start, width) = tile_span(t, tile, n_out);
        for j in 0..width {
            for c in 0..d {
                post_and_bias_grad[(start + j) * (d + 1) + c] =
                    F::from_f64(post_part[c * width + j]);
            }
        }
    }
    for (j, &g) in d_bias.iter().enumerate() {
        post_and_bias_grad[j * (d + 1) + d] = F::from_f64(g);
    }
    let mut pre_and_mask_grad = Vec::with_capacity(n_in * (d + 1));
    for (position, &m) in d_pre.chunks_exact(d).zip(&d_mask) {
        pre_and_mask_grad.extend(position.iter().map(|&v| F::from_f64(v)));
        pre_and_mask_grad.push(F::from_f64(m));
    }
    let input = if !op.input_grad {
        None
    } else {
        let mut p = forward_kernel(&pre, &post, d, eps, Some(&mask));
        apply_keep(&mut p, keep, n_out, 0);
        Some(match strategy {
            Strategy::Narrow => {
                let p_t = transpose(&p, n_in, n_out);
                let mut dx = vec![F::zero(); batch * n_in];
                dx.par_chunks_mut(n_in * NARROW_SAMPLES_PER_TASK)
                    .enumerate()
                    .for_each(|(task, out)| {
                        let first = task * NARROW_SAMPLES_PER_TASK;
                        let rows = out.len() / n_in;
                        narrow_input_grad(&dz[first * n_out..][..rows * n_out], &p_t, n_in, out)
                    });
                dx
            }
            // dz · Pᵀ through Candle's GEMM.
            Strategy::Events | Strategy::Gemm => {
                let dz = Tensor::from_slice(dz, (batch, n_out), &Device::Cpu)?;
                let p = Tensor::from_vec(p, (n_in, n_out), &Device::Cpu)?;
                dz.matmul(&p.t()?)?.flatten_all()?.to_vec1::<F>()?
            }
        })
    };
    Ok(Gradients {
        pre_and_mask: pre_and_mask_grad,
        post_and_bias: post_and_bias_grad,
        input,
    })
}

/// A contiguous CPU tensor's values.
fn cpu_values<'a, F: WithDType>(storage: &'a Storage, layout: &Layout) -> Result<&'a [F]> {
    match storage {
        Storage::Cpu(cpu) => slice(cpu.as_slice::<F>()?, layout),
        _ => candle_core::bail!("embedded current: the fused op runs on the CPU only"),
    }
}

impl EmbeddedCurrent {
    /// [`forward`] on the CPU storages of `x`, `pre_and_mask` and `post_and_bias`.
    fn forward_typed<F: Real>(
        &self,
        storages: [&Vec<F>; 3],
        layouts: [&Layout; 3],
        dims: CurrentDims,
    ) -> Result<Vec<F>> {
        let [x, a, b] = storages;
        let [l1, l2, l3] = layouts;
        let keep_guard = self.keep.as_ref().map(Tensor::storage_and_layout);
        let keep = keep_guard
            .as_ref()
            .map(|(storage, layout)| cpu_values::<F>(storage, layout))
            .transpose()?;
        forward(
            slice(x, l1)?,
            slice(a, l2)?,
            slice(b, l3)?,
            keep,
            dims,
            self,
        )
    }

    fn backward_typed<F: Real>(
        &self,
        tensors: [&Tensor; 5],
        dims: CurrentDims,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let guards = tensors.map(|t| t.storage_and_layout());
        let values: Vec<&[F]> = guards
            .iter()
            .map(|(storage, layout)| cpu_values::<F>(storage, layout))
            .collect::<Result<_>>()?;
        let keep_guard = self.keep.as_ref().map(Tensor::storage_and_layout);
        let keep = keep_guard
            .as_ref()
            .map(|(storage, layout)| cpu_values::<F>(storage, layout))
            .transpose()?;
        let grads = backward_kernel(
            values[0], values[1], values[2], values[3], values[4], keep, dims, self,
        )?;
        let dev = Device::Cpu;
        let d_x = grads
            .input
            .map(|v| Tensor::from_vec(v, (dims.batch, dims.n_in), &dev))
            .transpose()?;
        Ok((
            d_x,
            Tensor::from_vec(grads.pre_and_mask, (dims.n_in, dims.d + 1), &dev)?,
            Tensor::from_vec(grads.post_and_bias, (dims.n_out, dims.d + 1), &dev)?,
        ))
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
                CpuStorage::F32(self.forward_typed([x, a, b], [l1, l2, l3], dims)?)
            }
            (CpuStorage::F64(x), CpuStorage::F64(a), CpuStorage::F64(b)) => {
                CpuStorage::F64(self.forward_typed([x, a, b], [l1, l2, l3], dims)?)
            }
            _ => candle_core::bail!("embedded current supports matching f32 or f64 tensors"),
        };
        Ok((out, Shape::from((dims.batch, dims.n_out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        pre_and_mask: &Tensor,
        post_and_bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (grad, res) = (grad.contiguous()?, res.contiguous()?);
        let dims = dims(x.layout(), pre_and_mask.layout(), post_and_bias.layout())?;
        if grad.dims() != [dims.batch, dims.n_out] {
            candle_core::bail!(
                "embedded current: gradient {:?}, expected [{}, {}]",
                grad.dims(),
                dims.batch,
                dims.n_out
            );
        }
        let tensors = [x, pre_and_mask, post_and_bias, &res, &grad];
        let (d_x, d_pre, d_post) = match x.dtype() {
            DType::F32 => self.backward_typed::<f32>(tensors, dims)?,
            DType::F64 => self.backward_typed::<f64>(tensors, dims)?,
            other => candle_core::bail!("embedded current does not support {other:?}"),
        };
        Ok((d_x, Some(d_pre), Some(d_post)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::embedded::embedded_current_reference;
    use crate::test_support::{assert_close, flat, probe_loss};
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

    /// The tensors of one layer.
    struct Case {
        x: Tensor,
        track_x: bool,
        pre: Tensor,
        post: Tensor,
        mask: Tensor,
        bias: Tensor,
        relu: bool,
        /// A pruning keep-mask `[n_in, n_out]`.
        keep: Option<Tensor>,
    }

    impl Case {
        fn random(
            dtype: DType,
            (batch, n_in, n_out, d): (usize, usize, usize, usize),
            density: f64,
            track_x: bool,
            relu: bool,
        ) -> Case {
            let randn = |shape: (usize, usize), std: f64| {
                Tensor::randn(0f64, std, shape, &Device::Cpu)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap()
            };
            Case {
                x: sparse_input(batch, n_in, density, dtype),
                track_x,
                pre: randn((n_in, d), 3.0),
                post: randn((n_out, d), 3.0),
                mask: randn((n_in, 1), 0.6).flatten_all().unwrap(),
                // Biases around the currents' scale, so the ReLU cuts a fair share.
                bias: randn((n_out, 1), 0.3).flatten_all().unwrap(),
                relu,
                keep: None,
            }
        }

        /// The same case with about `pruned` of its connections removed.
        fn pruned(mut self, pruned: f64) -> Case {
            let (n_in, n_out) = (self.pre.dim(0).unwrap(), self.post.dim(0).unwrap());
            let keep = Tensor::rand(0f64, 1.0, (n_in, n_out), &Device::Cpu)
                .unwrap()
                .ge(pruned)
                .unwrap()
                .to_dtype(self.x.dtype())
                .unwrap();
            self.keep = Some(keep);
            self
        }

        /// Output, then the gradients of a probe loss w.r.t. x, pre, post, mask and bias.
        fn run(&self, options: Option<CurrentOptions>) -> Vec<Vec<f64>> {
            let vars = [&self.x, &self.pre, &self.post, &self.mask, &self.bias]
                .map(|t| Var::from_tensor(t).unwrap());
            let input = if self.track_x {
                vars[0].as_tensor().clone()
            } else {
                self.x.clone()
            };
            let inputs = CurrentInputs {
                pre: vars[1].as_tensor(),
                post: vars[2].as_tensor(),
                mask: vars[3].as_tensor(),
                bias: vars[4].as_tensor(),
                keep: self.keep.as_ref(),
                relu: self.relu,
                eps: 1e-6,
            };
            let y = match options {
                Some(options) => embedded_current_fused(&input, &inputs, options),
                None => embedded_current_reference(&input, &inputs),
            }
            .unwrap();
            let grads = probe_loss(&y).backward().unwrap();
            let mut out = vec![flat(&y)];
            for (k, var) in vars.iter().enumerate() {
                match grads.get(var.as_tensor()) {
                    Some(g) => out.push(flat(g)),
                    None => {
                        assert!(k == 0 && !self.track_x, "no gradient for input {k}");
                        out.push(Vec::new());
                    }
                }
            }
            out
        }
    }

    #[test]
    fn every_path_agrees_with_the_reference_in_values_and_gradients() {
        let names = ["output", "dx", "dpre", "dpost", "dmask", "dbias"];
        let (mut cut, mut kept) = (0, 0);
        // Tiles of 256 (f32) and 128 (f64) columns take the register-block loops, the others
        // and the remainders the general ones; fewer than 128 outputs take the narrow path
        // under Auto.
        // The last three cases are pruned (a keep-mask inside the op), on every path.
        for (dtype, shape, density, track_x, relu, tile, pruned) in [
            (DType::F32, (37, 60, 300, 3), 0.19, false, true, 256, 0.0),
            (DType::F32, (20, 33, 517, 5), 0.5, true, false, 48, 0.0),
            (DType::F32, (45, 70, 10, 3), 0.3, true, false, 256, 0.0),
            (DType::F64, (9, 40, 300, 3), 0.1, true, true, 128, 0.0),
            (DType::F64, (5, 12, 6, 2), 0.0, false, true, 4, 0.0),
            (DType::F64, (40, 50, 20, 4), 0.9, true, true, 7, 0.0),
            (DType::F32, (37, 60, 300, 3), 0.19, true, true, 100, 0.8),
            (DType::F64, (9, 40, 20, 3), 0.3, true, true, 128, 0.5),
            (DType::F64, (9, 40, 300, 3), 0.9, false, false, 64, 0.3),
        ] {
            let mut case = Case::random(dtype, shape, density, track_x, relu);
            if pruned > 0.0 {
                case = case.pruned(pruned);
            }
            let reference = case.run(None);
            if relu {
                cut += reference[0].iter().filter(|&&v| v == 0.0).count();
                kept += reference[0].iter().filter(|&&v| v != 0.0).count();
            }
            let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
            for path in [ProductPath::Sparse, ProductPath::Dense, ProductPath::Auto] {
                let got = case.run(Some(CurrentOptions { path, tile }));
                for (k, (a, b)) in got.iter().zip(&reference).enumerate() {
                    let context = format!(
                        "{dtype:?} {shape:?} {path:?} density {density}: {}",
                        names[k]
                    );
                    assert_close(a, b, tol, 1e-30, &context);
                }
            }
        }
        assert!(cut > 100 && kept > 100, "ReLU cut {cut}, kept {kept}");
    }

    #[test]
    fn zero_input_gives_the_bias_and_zero_position_gradients() {
        let mut case = Case::random(DType::F32, (4, 10, 7, 3), 0.0, false, false);
        case.x = Tensor::zeros((4, 10), DType::F32, &Device::Cpu).unwrap();
        let sparse = CurrentOptions {
            path: ProductPath::Sparse,
            tile: 4,
        };
        let got = case.run(Some(sparse));
        let bias = flat(&case.bias);
        for (i, v) in got[0].iter().enumerate() {
            assert_eq!(*v, bias[i % 7]);
        }
        for values in [&got[2], &got[3], &got[4]] {
            assert!(values.iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn relu_at_exactly_zero_passes_the_gradient_like_candle() {
        // Zero input and zero bias: every pre-activation is exactly 0.
        let mut case = Case::random(DType::F64, (3, 8, 5, 3), 0.0, true, true);
        case.bias = Tensor::zeros(5, DType::F64, &Device::Cpu).unwrap();
        let reference = case.run(None);
        assert!(reference[5].iter().all(|&g| g != 0.0), "{:?}", reference[5]);
        for path in [ProductPath::Sparse, ProductPath::Dense, ProductPath::Auto] {
            let got = case.run(Some(CurrentOptions { path, tile: 2 }));
            assert_eq!(got[5], reference[5], "{path:?}: bias gradient");
            for (a, b) in got[1].iter().zip(&reference[1]) {
                assert!((a - b).abs() < 1e-12, "{path:?}: dx {a} vs {b}");
            }
        }
    }

    #[test]
    fn vector_and_portable_kernels_agree_bit_for_bit() {
        const TEST: &str = "embedded_current::vector_and_portable_kernels_agree_bit_for_bit";
        for (shape, path) in [
            ((30, 50, 600, 3), ProductPath::Sparse),
            ((30, 50, 10, 3), ProductPath::Auto),
        ] {
            let case = Case::random(DType::F32, shape, 0.2, true, true);
            let Some(runs) = crate::test_support::portable_and_vector(TEST, || {
                case.run(Some(CurrentOptions { path, tile: 256 }))
            }) else {
                return;
            };
            assert_eq!(runs[0], runs[1], "{shape:?} {path:?}");
        }
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let mut case = Case::random(DType::F32, (4, 10, 7, 3), 0.5, false, false);
        case.pre = Tensor::zeros((9, 3), DType::F32, &Device::Cpu).unwrap();
        let mut inputs = CurrentInputs {
            pre: &case.pre,
            post: &case.post,
            mask: &case.mask,
            bias: &case.bias,
            keep: None,
            relu: false,
            eps: 1e-6,
        };
        let options = CurrentOptions::default();
        let err = embedded_current_fused(&case.x, &inputs, options).unwrap_err();
        assert!(err.to_string().contains("pre positions"), "{err}");
        let (pre, keep) = (
            Tensor::zeros((10, 3), DType::F32, &Device::Cpu).unwrap(),
            Tensor::ones((7, 10), DType::F32, &Device::Cpu).unwrap(),
        );
        inputs.pre = &pre;
        inputs.keep = Some(&keep);
        let err = embedded_current_fused(&case.x, &inputs, options).unwrap_err();
        assert!(err.to_string().contains("keep-mask"), "{err}");
    }
}

//! The dense baselines' input layer `act(x · Wᵀ + b)` as one CPU op, event-driven over the
//! input's non-zeros, the bias and the ReLU in the same pass.
//!
//! MNIST pixels are ~81 % zeros, and the input layer of a dense baseline is most of its cost
//! (784 × 2048 of the 784-2048-10 network's 1.6M weights). As for the embedded synapses
//! ([`super::embedded_current`], whose event loops it shares: [`super::events`]):
//! - forward: each task owns a tile of output columns and, for every sample, adds
//!   `x[b, i] · Wᵀ[i, tile]` over the sample's non-zero inputs only;
//! - backward: the ReLU's gate `dz = dy ⊙ 1[z ≥ 0]` and the bias gradient `Σ_b dz` in one pass
//!   (a negative pre-activation is stored as −0.0 so the output tells it apart), and the weight gradient `dWᵀ[i, tile] = Σ_b x[b, i] · dz[b, tile]`, again over the
//!   non-zeros, one tile per task; the input gradient `dz · W` is formed only when `x` tracks a
//!   gradient (it never does for data), where autograd's matmul would always pay for it.
//!
//! Autograd through the plain ops spends more on the element-wise steps than on the products
//! for a 2048-wide layer: the bias's broadcast add, the ReLU, and in the backward pass the
//! ReLU's comparison, conversion and product, each with a zero-filled gradient to add into
//! (~1.2M values each, every step). Each value is computed in the order the unfused path (the
//! event-driven product, then Candle's broadcast add, ReLU and their gradients) computed it: the
//! checkpoints of `scripts/checkpoint_hashes.sh` kept their bits when they were fused.
//!
//! Below [`MIN_OUTPUTS`] outputs the event loop cannot fill a vector and the product is
//! Candle's own GEMM, but the op still pays off: the 14-neuron baseline's step spent more on
//! the input gradient autograd forms for the data (a `[600, 784]` product, a zero-filled
//! gradient and the add into it, all discarded) than on its forward pass.
//!
//! The plain-ops version is `candle_nn::Linear`'s `x.matmul(&w.t()) + b` and the ReLU
//! ([`crate::layers::dense::Dense`]), the reference this kernel is tested against.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_values;
use super::events::{event_product, Events};
use super::simd::{transpose, vectorized, Real, Scratch, SharedMut};

/// Fewest outputs for which the event loop beats Candle's GEMM (measured with
/// `cargo run --release -p neuropos-models --example op_bench`: 2048 → 10 takes 8.8 ms
/// event-driven against well under 1 ms as a GEMM). Narrower layers (the readout, a 14-neuron
/// baseline) form the product with the GEMM inside the same op and keep the rest of it.
pub const MIN_OUTPUTS: usize = 128;

/// Output columns per task: a tile of `Wᵀ` for 784 inputs is 784 KB in f32, within L2.
const TILE: usize = 256;

/// `out[b, c0..c0+len] = act(Σ_events x · Wᵀ[i, c0..c0+len] + b[c0..c0+len])` for every
/// sample; the tile's rows of `W` are transposed here, by the task that uses them.
#[allow(clippy::too_many_arguments)]
fn forward_tile<F: Real>(
    events: &Events<F>,
    w: &[F],
    bias: &[F],
    relu: bool,
    n_in: usize,
    n_out: usize,
    (c0, len): (usize, usize),
    out: SharedMut<F>,
) {
    let wt = transpose(&w[c0 * n_in..(c0 + len) * n_in], len, n_in);
    let mut y = Scratch::take(events.groups() * len);
    event_product(events, &wt, len, &mut y);
    // −0.0 marks a negative pre-activation for the backward pass's gate.
    add_bias_and_activate(&mut y, &bias[c0..c0 + len], relu);
    for (b, part) in y.chunks_exact(len).enumerate() {
        // SAFETY: this task alone writes columns c0..c0+len.
        unsafe { out.slice(b * n_out + c0, len) }.copy_from_slice(part);
    }
}

/// `dWᵀ[i, c0..c0+len] = Σ_b x[b, i] · dy[b, c0..c0+len]` over the non-zeros (`events` by
/// column of `x`), written back as rows `c0..c0+len` of `dW` `[n_out, n_in]`.
fn weight_gradient_tile<F: Real>(
    events: &Events<F>,
    dy: &[F],
    n_in: usize,
    n_out: usize,
    (c0, len): (usize, usize),
    dw: SharedMut<F>,
) {
    // The tile's gradient columns, packed, so the events walk consecutive rows.
    let mut dy_tile = Scratch::take(dy.len() / n_out * len);
    for (tile_row, row) in dy_tile.chunks_exact_mut(len).zip(dy.chunks_exact(n_out)) {
        tile_row.copy_from_slice(&row[c0..c0 + len]);
    }
    let mut tile = Scratch::take(n_in * len);
    event_product(events, &dy_tile, len, &mut tile);
    // Back to `[n_out, n_in]`, Linear's layout.
    for c in 0..len {
        // SAFETY: this task alone writes rows c0..c0+len of dw.
        let out = unsafe { dw.slice((c0 + c) * n_in, n_in) };
        for (i, o) in out.iter_mut().enumerate() {
            *o = tile[i * len + c];
        }
    }
}

fn tiles(n_out: usize) -> Vec<(usize, usize)> {
    (0..n_out)
        .step_by(TILE)
        .map(|c0| (c0, TILE.min(n_out - c0)))
        .collect()
}

fn forward<F: Real>(
    (x, lx): (&[F], &Layout),
    (w, lw): (&[F], &Layout),
    (bias, lb): (&[F], &Layout),
    relu: bool,
) -> Result<(Vec<F>, Shape)> {
    let x = contiguous_values(x, lx, "sparse-input linear")?;
    let w = contiguous_values(w, lw, "sparse-input linear")?;
    let bias = contiguous_values(bias, lb, "sparse-input linear")?;
    let (samples, n_in, n_out) = check_shapes(lx, lw, bias.len())?;
    let events = Events::by_row(x, n_in);
    let mut out = vec![F::zero(); samples * n_out];
    let shared = SharedMut::new(&mut out);
    tiles(n_out)
        .into_par_iter()
        .for_each(|tile| forward_tile(&events, w, bias, relu, n_in, n_out, tile, shared));
    Ok((out, Shape::from((samples, n_out))))
}

/// `(samples, n_in, n_out)` of `x` `[B, n_in]`, `W` `[n_out, n_in]` and a bias of `bias_len`.
fn check_shapes(lx: &Layout, lw: &Layout, bias_len: usize) -> Result<(usize, usize, usize)> {
    let (samples, n_in) = lx.shape().dims2()?;
    let (n_out, w_in) = lw.shape().dims2()?;
    if w_in != n_in || bias_len != n_out {
        candle_core::bail!(
            "sparse-input linear: x has {n_in} inputs, W [{n_out}, {w_in}], b [{bias_len}]"
        );
    }
    Ok((samples, n_in, n_out))
}

/// `y = act(y + b)` row by row, in the event loop's epilogue's order ([`forward_tile`]).
fn add_bias_and_activate<F: Real>(y: &mut [F], bias: &[F], relu: bool) {
    for row in y.chunks_exact_mut(bias.len()) {
        for (v, &bj) in row.iter_mut().zip(bias) {
            let z = *v + bj;
            *v = if relu && z < F::zero() { -F::zero() } else { z };
        }
    }
}

/// Fewest multiply-adds for which a narrow layer's product is split over threads. The 784 → 14
/// layer's products (6.6M each) ran slower on two threads than on one (the `mlp` 14 step,
/// docs/performance.md); the 2048 → 10 readout's (12.3M) keep Candle's threading, as before.
const PARALLEL_WORK: usize = 8 << 20;

/// `dst = lhs · rhs` (`[m, k]` · `[k, n]`, each operand by its row and column strides) with
/// the call Candle's CPU matmul makes — the same crate, arguments and accumulation order, so
/// the same bits — but single-threaded below [`PARALLEL_WORK`]. (With the `mkl` or
/// `accelerate` feature Candle's matmul is that library's, and the two differ in the last bits.)
fn product<F: Real>(
    (m, n, k): (usize, usize, usize),
    (lhs, lhs_rs, lhs_cs): (&[F], usize, usize),
    (rhs, rhs_rs, rhs_cs): (&[F], usize, usize),
) -> Vec<F> {
    let mut dst = vec![F::zero(); m * n];
    let parallelism = match rayon::current_num_threads() {
        threads if threads > 1 && m * n * k >= PARALLEL_WORK => gemm::Parallelism::Rayon(threads),
        _ => gemm::Parallelism::None,
    };
    // SAFETY: the operands' extents were checked against their shapes by the callers, and
    // `dst` holds m × n values, row-major.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            F::zero(),
            F::one(),
            false,
            false,
            false,
            parallelism,
        )
    };
    dst
}

/// The narrow layers' forward: `x · Wᵀ` as a GEMM ([`product`]), then the bias and the ReLU
/// in one pass over the `[B, n_out]` result instead of two autograd ops.
fn gemm_forward<F: Real>(
    (x, lx): (&[F], &Layout),
    (w, lw): (&[F], &Layout),
    (bias, lb): (&[F], &Layout),
    relu: bool,
) -> Result<(Vec<F>, Shape)> {
    let x = contiguous_values(x, lx, "sparse-input linear")?;
    let w = contiguous_values(w, lw, "sparse-input linear")?;
    let bias = contiguous_values(bias, lb, "sparse-input linear")?;
    let (samples, n_in, n_out) = check_shapes(lx, lw, bias.len())?;
    // Wᵀ is W read column-wise, as `w.t()` hands it to Candle's matmul.
    let mut y = product((samples, n_out, n_in), (x, n_in, 1), (w, 1, n_in));
    add_bias_and_activate(&mut y, bias, relu);
    Ok((y, Shape::from((samples, n_out))))
}

/// `dW` `[n_out, n_in]` from `x` and `dy`: event-driven, or for a `narrow` layer the product
/// autograd forms for `Wᵀ` (`xᵀ · dy`, [`product`]) transposed back to Linear's layout.
fn weight_gradient<F: Real>(
    x: &[F],
    lx: &Layout,
    dy: &[F],
    ldy: &Layout,
    narrow: bool,
) -> Result<(Vec<F>, Shape)> {
    let x = contiguous_values(x, lx, "sparse-input linear gradient")?;
    let dy = contiguous_values(dy, ldy, "sparse-input linear gradient")?;
    let (samples, n_in) = lx.shape().dims2()?;
    let (dy_samples, n_out) = ldy.shape().dims2()?;
    if dy_samples != samples {
        candle_core::bail!("sparse-input linear: {samples} inputs, {dy_samples} gradients");
    }
    if narrow {
        let dwt = product((n_in, n_out, samples), (x, 1, n_in), (dy, n_out, 1));
        return Ok((transpose(&dwt, n_in, n_out), Shape::from((n_out, n_in))));
    }
    let events = Events::by_column(x, samples, n_in);
    let mut dw = vec![F::zero(); n_out * n_in];
    let shared = SharedMut::new(&mut dw);
    tiles(n_out)
        .into_par_iter()
        .for_each(|tile| weight_gradient_tile(&events, dy, n_in, n_out, tile, shared));
    Ok((dw, Shape::from((n_out, n_in))))
}

/// Columns per task of [`gate_and_bias_sum`]: each task walks every row over its columns.
const GATE_COLUMNS: usize = 64;

vectorized! {
    /// Columns `c0..c0+len` of `dz = dy ⊙ 1[z ≥ 0]` (from the output `y`, −0.0 where z < 0;
    /// without the ReLU `dz = dy`) and their sums over the rows, in row order from 0 — the
    /// order of Candle's sum over a contiguous tensor's first dimension.
    fn gate_columns<F: Real>(
        y: &[F],
        dy: &[F],
        relu: bool,
        n: usize,
        c0: usize,
        len: usize,
        out: SharedMut<F>,
    ) {
        let mut sums = [F::zero(); GATE_COLUMNS];
        let sums = &mut sums[..len];
        let rows = dy.len() / n;
        for r in 0..rows {
            let (y, g) = (&y[r * n + c0..][..len], &dy[r * n + c0..][..len]);
            // SAFETY: this task alone writes columns c0..c0+len.
            let d = unsafe { out.slice(r * n + c0, len) };
            for k in 0..len {
                let v = if relu && y[k].is_sign_negative() { F::zero() } else { g[k] };
                d[k] = v;
                sums[k] += v;
            }
        }
        // SAFETY: as above, in the extra last row.
        unsafe { out.slice(rows * n + c0, len) }.copy_from_slice(sums);
    }
}

/// `[B + 1, n]`: `dz` in the first B rows, the bias gradient `Σ_b dz[b, :]` in the last, from
/// `(y, dy)`; one pass where the ReLU's backward and the bias's reduction took six.
fn gate_and_bias_sum<F: Real>(
    y: &[F],
    ly: &Layout,
    dy: &[F],
    ldy: &Layout,
    relu: bool,
) -> Result<(Vec<F>, Shape)> {
    let y = contiguous_values(y, ly, "sparse-input linear gradient")?;
    let dy = contiguous_values(dy, ldy, "sparse-input linear gradient")?;
    let (rows, n) = ldy.shape().dims2()?;
    if y.len() != dy.len() {
        candle_core::bail!(
            "sparse-input linear: {} outputs, {} gradients",
            y.len(),
            dy.len()
        );
    }
    let mut out = vec![F::zero(); (rows + 1) * n];
    let shared = SharedMut::new(&mut out);
    (0..n)
        .step_by(GATE_COLUMNS)
        .map(|c0| (c0, GATE_COLUMNS.min(n - c0)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .for_each(|(c0, len)| gate_columns(y, dy, relu, n, c0, len, shared));
    Ok((out, Shape::from((rows + 1, n))))
}

/// `act(x · Wᵀ + b)` (`x` `[B, n_in]`, `W` `[n_out, n_in]`, `b` `[n_out]`) with its backward
/// pass.
struct SparseInputLinear {
    relu: bool,
}

/// `dz` and the bias gradient from `(y, dy)` ([`gate_and_bias_sum`]).
struct GateAndBiasSum {
    relu: bool,
}

/// `dW = dyᵀ · x`, `[n_out, n_in]`, from `(x, dy)`: event-driven, or a GEMM when `narrow`.
struct WeightGradient {
    narrow: bool,
}

macro_rules! on_floats {
    ($name:literal, $f:ident, $s1:expr, $l1:expr, $s2:expr, $l2:expr $(, $extra:expr)*) => {
        match ($s1, $s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                let (v, shape) = $f(a, $l1, b, $l2 $(, $extra)*)?;
                Ok((CpuStorage::F32(v), shape))
            }
            (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                let (v, shape) = $f(a, $l1, b, $l2 $(, $extra)*)?;
                Ok((CpuStorage::F64(v), shape))
            }
            _ => candle_core::bail!("{}: f32 or f64 tensors of one dtype", $name),
        }
    };
}

impl CustomOp3 for SparseInputLinear {
    fn name(&self) -> &'static str {
        "sparse-input-linear"
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
        let narrow = l2.shape().dims2()?.0 < MIN_OUTPUTS;
        match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) => {
                let f = if narrow { gemm_forward } else { forward };
                let (v, shape) = f((x, l1), (w, l2), (b, l3), self.relu)?;
                Ok((CpuStorage::F32(v), shape))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(b)) => {
                let f = if narrow { gemm_forward } else { forward };
                let (v, shape) = f((x, l1), (w, l2), (b, l3), self.relu)?;
                Ok((CpuStorage::F64(v), shape))
            }
            _ => candle_core::bail!("sparse-input linear: f32 or f64 tensors of one dtype"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let rows = dy.dim(0)?;
        let both = res.apply_op2_no_bwd(&dy.contiguous()?, &GateAndBiasSum { relu: self.relu })?;
        let dz = both.narrow(0, 0, rows)?;
        let db = both.narrow(0, rows, 1)?.squeeze(0)?;
        let dw = x.apply_op2_no_bwd(
            &dz.contiguous()?,
            &WeightGradient {
                narrow: w.dim(0)? < MIN_OUTPUTS,
            },
        )?;
        let dx = if x.track_op() {
            Some(dz.matmul(w)?)
        } else {
            None
        };
        Ok((dx, Some(dw), Some(db)))
    }
}

impl CustomOp2 for GateAndBiasSum {
    fn name(&self) -> &'static str {
        "sparse-input-linear-gate-and-bias-sum"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        on_floats!(
            "sparse-input linear gradient",
            gate_and_bias_sum,
            s1,
            l1,
            s2,
            l2,
            self.relu
        )
    }
}

impl CustomOp2 for WeightGradient {
    fn name(&self) -> &'static str {
        "sparse-input-linear-weight-gradient"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        on_floats!(
            "sparse-input linear gradient",
            weight_gradient,
            s1,
            l1,
            s2,
            l2,
            self.narrow
        )
    }
}

/// `act(x · Wᵀ + b)` on the CPU, event-driven over `x`'s non-zeros, with a ReLU when `relu`
/// (f32/f64 CPU tensors; the caller dispatches).
pub fn sparse_input_linear(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        SparseInputLinear { relu },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn sparse_input(samples: usize, n_in: usize, seed: u64) -> Tensor {
        // About four in five inputs zero, as MNIST.
        let mut state = seed;
        let values: Vec<f32> = (0..samples * n_in)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 33) as f32 / (1u64 << 31) as f32;
                if u < 0.8 {
                    0.0
                } else {
                    u - 0.8
                }
            })
            .collect();
        Tensor::from_vec(values, (samples, n_in), &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// The plain ops: `candle_nn::Linear`'s product, the bias, Candle's ReLU.
    fn plain(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool) -> Tensor {
        let z = x.matmul(&w.t().unwrap()).unwrap().broadcast_add(b).unwrap();
        if relu {
            z.relu().unwrap()
        } else {
            z
        }
    }

    #[test]
    fn matches_the_plain_ops_forward_and_backward() {
        // Output counts below, at and across tile boundaries; with and without the ReLU.
        for (samples, n_in, n_out) in [(7, 33, 5), (13, 50, 256), (9, 40, 300), (4, 784, 14)] {
            for relu in [false, true] {
                let x = sparse_input(samples, n_in, n_out as u64);
                let w = Var::from_tensor(
                    &Tensor::randn(0f32, 0.1, (n_out, n_in), &Device::Cpu).unwrap(),
                )
                .unwrap();
                let b = Var::from_tensor(&Tensor::randn(0f32, 0.1, n_out, &Device::Cpu).unwrap())
                    .unwrap();
                let dy = Tensor::randn(0f32, 1.0, (samples, n_out), &Device::Cpu).unwrap();

                let fused = sparse_input_linear(&x, w.as_tensor(), b.as_tensor(), relu).unwrap();
                let reference = plain(&x, w.as_tensor(), b.as_tensor(), relu);
                assert!(
                    max_diff(&fused, &reference) < 1e-5,
                    "forward {n_out} {relu}"
                );
                if relu {
                    // Some units off, some on: the gate is exercised.
                    let off: f32 = fused
                        .eq(0f32)
                        .unwrap()
                        .to_dtype(DType::F32)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar()
                        .unwrap();
                    assert!(off > 0.0 && (off as usize) < samples * n_out, "{off}");
                }

                let grads = |y: Tensor| (y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
                let (g_fused, g_plain) = (grads(fused), grads(reference));
                for (name, v) in [("dW", &w), ("db", &b)] {
                    let (a, r) = (g_fused.get(v).unwrap(), g_plain.get(v).unwrap());
                    assert_eq!(a.dims(), r.dims());
                    assert!(
                        max_diff(a, r) < 1e-4,
                        "{name} {n_out} {relu}: {}",
                        max_diff(a, r)
                    );
                }
                // Data tracks no gradient: none is formed for it.
                assert!(g_fused.get(&x).is_none());
            }
        }
    }

    // With mkl/accelerate the plain ops' matmul is not the gemm crate's.
    #[cfg(not(any(feature = "mkl", feature = "accelerate")))]
    #[test]
    fn narrow_layers_keep_the_plain_ops_bits() {
        // The GEMM path makes Candle's own call: forward and gradients equal bit for bit, on
        // one thread and on several, where the 14-neuron baselines' checkpoints rely on it.
        let bits = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (samples, n_in, n_out, relu) in [(600, 784, 14, true), (600, 2048, 10, false)] {
            let x = sparse_input(samples, n_in, 11);
            let w =
                Var::from_tensor(&Tensor::randn(0f32, 0.05, (n_out, n_in), &Device::Cpu).unwrap())
                    .unwrap();
            let b =
                Var::from_tensor(&Tensor::randn(0f32, 0.1, n_out, &Device::Cpu).unwrap()).unwrap();
            let dy = Tensor::randn(0f32, 1.0, (samples, n_out), &Device::Cpu).unwrap();
            let grads = |y: &Tensor| (y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
            let reference = plain(&x, w.as_tensor(), b.as_tensor(), relu);
            let g_plain = grads(&reference);
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let fused = pool
                    .install(|| sparse_input_linear(&x, w.as_tensor(), b.as_tensor(), relu))
                    .unwrap();
                let g_fused = pool.install(|| grads(&fused));
                // −0.0 (the gate's mark) and Candle's +0.0 are the same activation.
                let (a, r) = (bits(&fused), bits(&reference));
                assert!(a.iter().zip(&r).all(|(a, r)| a == r), "forward {n_out}");
                for v in [&w, &b] {
                    let (a, r) = (bits(g_fused.get(v).unwrap()), bits(g_plain.get(v).unwrap()));
                    assert!(
                        a.iter().zip(&r).all(|(a, r)| a.to_bits() == r.to_bits()),
                        "gradient {n_out} on {threads} thread(s)"
                    );
                }
            }
        }
    }

    #[test]
    fn forms_the_input_gradient_when_the_input_tracks_one() {
        let x = Var::from_tensor(&sparse_input(6, 20, 3)).unwrap();
        let w = Tensor::randn(0f64, 0.3, (9, 20), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let b = Tensor::randn(0f32, 0.3, 9, &Device::Cpu).unwrap();
        let dy = Tensor::randn(0f32, 1.0, (6, 9), &Device::Cpu).unwrap();
        let fused = sparse_input_linear(x.as_tensor(), &w, &b, true).unwrap();
        let reference = plain(x.as_tensor(), &w, &b, true);
        let grads = |y: Tensor| (y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
        let (gf, gp) = (grads(fused), grads(reference));
        assert!(max_diff(gf.get(&x).unwrap(), gp.get(&x).unwrap()) < 1e-5);
    }

    #[test]
    fn f64_agrees_too() {
        let x = sparse_input(5, 30, 9).to_dtype(DType::F64).unwrap();
        let w = Tensor::randn(0f64, 0.2, (17, 30), &Device::Cpu).unwrap();
        let b = Tensor::randn(0f64, 0.2, 17, &Device::Cpu).unwrap();
        let fused = sparse_input_linear(&x, &w, &b, true).unwrap();
        let d = (fused - plain(&x, &w, &b, true))
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(d < 1e-12, "{d}");
    }
}

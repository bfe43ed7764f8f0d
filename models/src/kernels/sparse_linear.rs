//! The dense baselines' input layer `x · Wᵀ` as one CPU op, event-driven over the input's
//! non-zeros.
//!
//! MNIST pixels are ~81 % zeros, and the input layer of a dense baseline is most of its cost
//! (784 × 2048 of the 784-2048-10 network's 1.6M weights). As for the embedded synapses
//! ([`super::embedded_current`], whose event loops it shares: [`super::events`]):
//! - forward: each task owns a tile of output columns and, for every sample, adds
//!   `x[b, i] · Wᵀ[i, tile]` over the sample's non-zero inputs only;
//! - backward: the weight gradient `dWᵀ[i, tile] = Σ_b x[b, i] · dy[b, tile]`, again over the
//!   non-zeros, one tile per task; the input gradient `dy · W` is formed only when `x` tracks a
//!   gradient (it never does for data), where autograd's matmul would always pay for it.
//!
//! The plain-ops version is `candle_nn::Linear`'s `x.matmul(&w.t())`
//! ([`crate::layers::dense::Dense`]), the reference this kernel is tested against.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_values;
use super::events::{event_product, Events};
use super::simd::{transpose, Real, Scratch, SharedMut};

/// Fewest outputs for which the event loop beats Candle's GEMM (measured with
/// `cargo run --release -p neuropos-models --example op_bench`: 2048 → 10 takes 8.8 ms
/// event-driven against well under 1 ms as a GEMM).
pub const MIN_OUTPUTS: usize = 128;

/// Output columns per task: a tile of `Wᵀ` for 784 inputs is 784 KB in f32, within L2.
const TILE: usize = 256;

/// `out[b, c0..c0+len] = Σ_events x · Wᵀ[i, c0..c0+len]` for every sample; the tile's rows
/// of `W` are transposed here, by the task that uses them.
fn forward_tile<F: Real>(
    events: &Events<F>,
    w: &[F],
    n_in: usize,
    n_out: usize,
    (c0, len): (usize, usize),
    out: SharedMut<F>,
) {
    let wt = transpose(&w[c0 * n_in..(c0 + len) * n_in], len, n_in);
    let mut y = Scratch::take(events.groups() * len);
    event_product(events, &wt, len, &mut y);
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

fn forward<F: Real>(x: &[F], lx: &Layout, w: &[F], lw: &Layout) -> Result<(Vec<F>, Shape)> {
    let x = contiguous_values(x, lx, "sparse-input linear")?;
    let w = contiguous_values(w, lw, "sparse-input linear")?;
    let (samples, n_in) = lx.shape().dims2()?;
    let (n_out, w_in) = lw.shape().dims2()?;
    if w_in != n_in {
        candle_core::bail!("sparse-input linear: x has {n_in} inputs, W [{n_out}, {w_in}]");
    }
    let events = Events::by_row(x, n_in);
    let mut out = vec![F::zero(); samples * n_out];
    let shared = SharedMut::new(&mut out);
    tiles(n_out)
        .into_par_iter()
        .for_each(|tile| forward_tile(&events, w, n_in, n_out, tile, shared));
    Ok((out, Shape::from((samples, n_out))))
}

fn weight_gradient<F: Real>(
    x: &[F],
    lx: &Layout,
    dy: &[F],
    ldy: &Layout,
) -> Result<(Vec<F>, Shape)> {
    let x = contiguous_values(x, lx, "sparse-input linear gradient")?;
    let dy = contiguous_values(dy, ldy, "sparse-input linear gradient")?;
    let (samples, n_in) = lx.shape().dims2()?;
    let (dy_samples, n_out) = ldy.shape().dims2()?;
    if dy_samples != samples {
        candle_core::bail!("sparse-input linear: {samples} inputs, {dy_samples} gradients");
    }
    let events = Events::by_column(x, samples, n_in);
    let mut dw = vec![F::zero(); n_out * n_in];
    let shared = SharedMut::new(&mut dw);
    tiles(n_out)
        .into_par_iter()
        .for_each(|tile| weight_gradient_tile(&events, dy, n_in, n_out, tile, shared));
    Ok((dw, Shape::from((n_out, n_in))))
}

/// `x · Wᵀ` (`x` `[B, n_in]`, `W` `[n_out, n_in]`) with its backward pass.
struct SparseInputLinear;

/// `dW = dyᵀ · x`, `[n_out, n_in]`, from `(x, dy)`.
struct WeightGradient;

macro_rules! on_floats {
    ($name:literal, $f:ident, $s1:expr, $l1:expr, $s2:expr, $l2:expr) => {
        match ($s1, $s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                let (v, shape) = $f(a, $l1, b, $l2)?;
                Ok((CpuStorage::F32(v), shape))
            }
            (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                let (v, shape) = $f(a, $l1, b, $l2)?;
                Ok((CpuStorage::F64(v), shape))
            }
            _ => candle_core::bail!("{}: f32 or f64 tensors of one dtype", $name),
        }
    };
}

impl CustomOp2 for SparseInputLinear {
    fn name(&self) -> &'static str {
        "sparse-input-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        on_floats!("sparse-input linear", forward, s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dw = x.apply_op2_no_bwd(&dy, &WeightGradient)?;
        let dx = if x.track_op() {
            Some(dy.matmul(w)?)
        } else {
            None
        };
        Ok((dx, Some(dw)))
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
            l2
        )
    }
}

/// `x · Wᵀ` on the CPU, event-driven over `x`'s non-zeros (f32/f64 CPU tensors; the caller
/// dispatches).
pub fn sparse_input_linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2(&w.contiguous()?, SparseInputLinear)
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

    #[test]
    fn matches_the_matmul_forward_and_backward() {
        // Output counts below, at and across tile boundaries.
        for (samples, n_in, n_out) in [(7, 33, 5), (13, 50, 256), (9, 40, 300), (4, 784, 14)] {
            let x = sparse_input(samples, n_in, n_out as u64);
            let w =
                Var::from_tensor(&Tensor::randn(0f32, 0.1, (n_out, n_in), &Device::Cpu).unwrap())
                    .unwrap();
            let dy = Tensor::randn(0f32, 1.0, (samples, n_out), &Device::Cpu).unwrap();

            let fused = sparse_input_linear(&x, w.as_tensor()).unwrap();
            let plain = x.matmul(&w.as_tensor().t().unwrap()).unwrap();
            assert!(max_diff(&fused, &plain) < 1e-5, "forward {n_out}");

            let g_fused = (fused * &dy)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g_plain = (plain * &dy)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let (a, b) = (g_fused.get(&w).unwrap(), g_plain.get(&w).unwrap());
            assert_eq!(a.dims(), [n_out, n_in]);
            assert!(max_diff(a, b) < 1e-4, "dW {n_out}: {}", max_diff(a, b));
            // Data tracks no gradient: none is formed for it.
            assert!(g_fused.get(&x).is_none());
        }
    }

    #[test]
    fn forms_the_input_gradient_when_the_input_tracks_one() {
        let x = Var::from_tensor(&sparse_input(6, 20, 3)).unwrap();
        let w = Tensor::randn(0f64, 0.3, (9, 20), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let dy = Tensor::randn(0f32, 1.0, (6, 9), &Device::Cpu).unwrap();
        let fused = sparse_input_linear(x.as_tensor(), &w).unwrap();
        let plain = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
        let gf = (fused * &dy)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gp = (plain * &dy)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(max_diff(gf.get(&x).unwrap(), gp.get(&x).unwrap()) < 1e-5);
    }

    #[test]
    fn f64_agrees_too() {
        let x = sparse_input(5, 30, 9).to_dtype(DType::F64).unwrap();
        let w = Tensor::randn(0f64, 0.2, (17, 30), &Device::Cpu).unwrap();
        let fused = sparse_input_linear(&x, &w).unwrap();
        let plain = x.matmul(&w.t().unwrap()).unwrap();
        let d = (fused - plain)
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

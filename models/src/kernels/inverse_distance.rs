//! The weight synthesis `W = 1/‖p_i − p_j‖` as one CPU op (forward and backward), for
//! [`crate::geometry::synthesize_weights`]: one multi-threaded pass over the `n_in × n_out`
//! matrix each way, instead of `d` broadcast subtractions, squares and sums that each
//! materialise the matrix. Its row-block routines are shared with the embedded synapses'
//! kernel, which synthesises weights tile by tile.
//!
//! Tested against [`crate::geometry::synthesize_weights_reference`], the plain-ops math.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::contiguous_values;
use super::simd::{lane_dot, lane_sum, vectorized, Real};

/// `(d, d)` for matching `[n_in, d]` and `[n_out, d]` positions: the precondition of the plain
/// ops (`geometry::synthesize_weights`) and of this kernel alike. Here, below both, so the
/// concept and its kernel do not import each other.
pub(crate) fn check_positions(pre: &Tensor, post: &Tensor) -> Result<(usize, usize)> {
    let (_, d_in) = pre.dims2()?;
    let (_, d_out) = post.dims2()?;
    if d_in != d_out {
        candle_core::bail!("pre and post positions have {d_in} and {d_out} coordinates");
    }
    Ok((d_in, d_in))
}

/// `W [n_in, n_out]` from full positions `pre` `[n_in, d]` and `post` `[n_out, d]` on the CPU.
pub fn synthesize_weights_fused(pre: &Tensor, post: &Tensor, eps: f64) -> Result<Tensor> {
    check_positions(pre, post)?;
    pre.contiguous()?
        .apply_op2(&post.contiguous()?, InverseDistance { eps })
}

/// `(pre [n_in, d], post [n_out, d])` → `W [n_in, n_out]`.
#[derive(Clone, Copy)]
struct InverseDistance {
    eps: f64,
}

/// `(pre, post, dW)` → `[n_in + n_out, d]`: the gradients of pre, then of post, stacked.
struct InverseDistanceBackward {
    eps: f64,
}

/// Rows of W per parallel task.
const ROW_CHUNK: usize = 32;

/// A weight-synthesis input's values.
fn slice<'a, F: WithDType>(s: &'a [F], layout: &Layout) -> Result<&'a [F]> {
    contiguous_values(s, layout, "weight synthesis")
}

/// Post positions coordinate-major (`[d][n_out]`), so the inner loop over j is contiguous.
pub(crate) fn coordinate_major<F: WithDType>(post: &[F], n_out: usize, d: usize) -> Vec<Vec<F>> {
    (0..d)
        .map(|c| (0..n_out).map(|j| post[j * d + c]).collect())
        .collect()
}

/// `W` (or `diag(row_scale) W`), `[n_in, n_out]`, from row-major positions.
pub(crate) fn forward_kernel<F: Real>(
    pre: &[F],
    post: &[F],
    d: usize,
    eps: f64,
    row_scale: Option<&[F]>,
) -> Vec<F> {
    let n_in = pre.len() / d;
    let n_out = post.len() / d;
    let columns = coordinate_major(post, n_out, d);
    let columns: Vec<&[F]> = columns.iter().map(Vec::as_slice).collect();
    let mut out = vec![F::zero(); n_in * n_out];
    out.par_chunks_mut(n_out * ROW_CHUNK)
        .enumerate()
        .for_each(|(chunk, rows)| {
            synthesize_rows(pre, &columns, eps, row_scale, chunk * ROW_CHUNK, rows)
        });
    out
}

vectorized! {
    /// Rows `first..` of `W` (times the row scale) into `rows`, `[rows, n_out]`, for the post
    /// neurons whose coordinate-major positions are `columns` (`[d][n_out]`: all of a
    /// layer, or a tile of it).
    pub(crate) fn synthesize_rows<F: Real>(
        pre: &[F],
        columns: &[&[F]],
        eps: f64,
        row_scale: Option<&[F]>,
        first: usize,
        rows: &mut [F],
    ) {
        let d = columns.len();
        let n_out = columns.first().map_or(0, |c| c.len());
        let eps = F::from_f64(eps);
        for (r, row) in rows.chunks_mut(n_out).enumerate() {
            let i = first + r;
            row.iter_mut().for_each(|w| *w = F::zero());
            // Same summation order as the reference: coordinate 0 first.
            for (c, column) in columns.iter().enumerate() {
                let p = pre[i * d + c];
                for (acc, &q) in row.iter_mut().zip(column.iter()) {
                    let diff = p - q;
                    *acc += diff * diff;
                }
            }
            // max, sqrt and recip each in F, as the reference's ops round them.
            for w in row.iter_mut() {
                let d2 = if *w > eps { *w } else { eps };
                *w = d2.sqrt().recip();
            }
            if let Some(scale) = row_scale {
                let s = scale[i];
                row.iter_mut().for_each(|w| *w *= s);
            }
        }
    }
}

/// Gradient of one squared distance's floor: 1 above eps, ½ at it (Candle's `maximum`
/// convention for ties), 0 below.
#[inline(always)]
fn floor_gate<F: Real>(d2: F, eps: F) -> F {
    if d2 > eps {
        F::one()
    } else if d2 == eps {
        F::from_f64(0.5)
    } else {
        F::zero()
    }
}

/// Where the gradients of one block of rows `start..` of `diag(s) W` go.
pub(crate) struct RowBlockGradients<'a> {
    /// `[rows, d]`, overwritten.
    pub d_pre: &'a mut [f64],
    /// Coordinate-major `[d, n_out]` (contiguous over neurons), accumulated.
    pub d_post: &'a mut [f64],
    /// `[rows]`, overwritten; only with a row scale.
    pub d_scale: Option<&'a mut [f64]>,
}

vectorized! {
    /// Back-propagates the gradient `grad` of rows `start..start + rows` of `diag(s) W`
    /// (`[rows, n_out]`, any source: a slice of a full gradient or rows computed on the fly)
    /// to the positions, and to the row scale `s` when there is one. `columns` is
    /// [`coordinate_major`] of the post positions.
    ///
    /// Per weight the work is in the kernel's float type, as the plain ops do it (the
    /// distance exactly as [`synthesize_rows`] forms it, so `w` is the forward pass's weight):
    /// `∂L/∂p_i = Σ_j g_j (p_i − q_j)` directly, no cancelling `p Σ g − Σ g q`. Row sums use
    /// fixed-order lane sums; the sums over the block's rows accumulate per call in `F` and
    /// are handed on in f64.
    pub(crate) fn row_block_backward<F: Real>(
        pre: &[F],
        columns: &[&[F]],
        eps: f64,
        start: usize,
        grad: &[F],
        row_scale: Option<&[F]>,
        out: RowBlockGradients<'_>,
    ) {
        let d = columns.len();
        let n_out = columns.first().map_or(0, |c| c.len());
        let rows = grad.len() / n_out.max(1);
        let eps = F::from_f64(eps);
        // p − q per coordinate, `[d][n_out]`, and the squared distances.
        let mut diffs = vec![F::zero(); d * n_out];
        let mut d2 = vec![F::zero(); n_out];
        let mut g = vec![F::zero(); n_out];
        let mut gw = vec![F::zero(); n_out];
        let mut d_post = vec![F::zero(); d * n_out];
        let mut d_scale = out.d_scale;
        for r in 0..rows {
            let i = start + r;
            d2.iter_mut().for_each(|v| *v = F::zero());
            for (c, column) in columns.iter().enumerate() {
                let p = pre[i * d + c];
                let diff_c = &mut diffs[c * n_out..][..n_out];
                for ((acc, diff), &q) in d2.iter_mut().zip(diff_c.iter_mut()).zip(column.iter()) {
                    *diff = p - q;
                    *acc += *diff * *diff;
                }
            }
            let scale = row_scale.map_or(F::one(), |s| s[i]);
            // dW/d(d2) = −½·w³, and d(d2)/dp = 2·(p − q): the factors 2 and ½ cancel.
            for (((gj, gwj), &d2j), &grad) in g
                .iter_mut()
                .zip(gw.iter_mut())
                .zip(d2.iter())
                .zip(&grad[r * n_out..][..n_out])
            {
                let w = (if d2j > eps { d2j } else { eps }).sqrt().recip();
                *gwj = grad * w;
                *gj = F::zero() - grad * scale * w * w * w * floor_gate(d2j, eps);
            }
            if let Some(ds) = d_scale.as_deref_mut() {
                ds[r] = lane_sum(&gw).to_f64();
            }
            for c in 0..d {
                let diff_c = &diffs[c * n_out..][..n_out];
                out.d_pre[r * d + c] = lane_dot(&g, diff_c).to_f64();
                for ((acc, &gj), &diff) in
                    d_post[c * n_out..][..n_out].iter_mut().zip(&g).zip(diff_c)
                {
                    *acc -= gj * diff;
                }
            }
        }
        for (acc, v) in out.d_post.iter_mut().zip(d_post) {
            *acc += v.to_f64();
        }
    }
}

/// Sums per-task partial post gradients (coordinate-major) in task order (deterministic) and
/// appends them, row-major and as `F`, after the pre gradients.
fn stack_position_gradients<F: WithDType>(
    d_pre: impl Iterator<Item = f64>,
    d_post_parts: &[Vec<f64>],
    n_out: usize,
    capacity: usize,
) -> Vec<F> {
    let mut out = Vec::with_capacity(capacity);
    out.extend(d_pre.map(F::from_f64));
    let mut d_post = vec![0f64; d_post_parts.first().map_or(0, Vec::len)];
    for part in d_post_parts {
        for (acc, v) in d_post.iter_mut().zip(part) {
            *acc += v;
        }
    }
    let d = d_post.len() / n_out.max(1);
    out.extend((0..n_out * d).map(|k| F::from_f64(d_post[(k % d) * n_out + k / d])));
    out
}

fn backward_kernel<F: Real>(pre: &[F], post: &[F], grad: &[F], d: usize, eps: f64) -> Vec<F> {
    let n_in = pre.len() / d;
    let n_out = post.len() / d;
    let columns = coordinate_major(post, n_out, d);
    let columns: Vec<&[F]> = columns.iter().map(Vec::as_slice).collect();
    let chunks = n_in.div_ceil(ROW_CHUNK);
    // Each task returns its rows' pre-gradients and a partial post-gradient; the partials
    // are summed after.
    let parts: Vec<(Vec<f64>, Vec<f64>)> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let start = chunk * ROW_CHUNK;
            let end = (start + ROW_CHUNK).min(n_in);
            let mut d_pre = vec![0f64; (end - start) * d];
            let mut d_post = vec![0f64; n_out * d];
            row_block_backward(
                pre,
                &columns,
                eps,
                start,
                &grad[start * n_out..end * n_out],
                None,
                RowBlockGradients {
                    d_pre: &mut d_pre,
                    d_post: &mut d_post,
                    d_scale: None,
                },
            );
            (d_pre, d_post)
        })
        .collect();
    let (d_pre, d_post): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    stack_position_gradients(
        d_pre.into_iter().flatten(),
        &d_post,
        n_out,
        (n_in + n_out) * d,
    )
}

impl CustomOp2 for InverseDistance {
    fn name(&self) -> &'static str {
        "inverse-distance"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n_in, d) = l1.shape().dims2()?;
        let (n_out, _) = l2.shape().dims2()?;
        let out = match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(forward_kernel(
                slice(a, l1)?,
                slice(b, l2)?,
                d,
                self.eps,
                None,
            )),
            (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(forward_kernel(
                slice(a, l1)?,
                slice(b, l2)?,
                d,
                self.eps,
                None,
            )),
            _ => candle_core::bail!("weight synthesis supports matching f32 or f64 positions"),
        };
        Ok((out, Shape::from((n_in, n_out))))
    }

    fn bwd(
        &self,
        pre: &Tensor,
        post: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n_in = pre.dim(0)?;
        let n_out = post.dim(0)?;
        let both = pre.contiguous()?.apply_op3_no_bwd(
            &post.contiguous()?,
            &grad_res.contiguous()?,
            &InverseDistanceBackward { eps: self.eps },
        )?;
        Ok((
            Some(both.narrow(0, 0, n_in)?),
            Some(both.narrow(0, n_in, n_out)?),
        ))
    }
}

impl CustomOp3 for InverseDistanceBackward {
    fn name(&self) -> &'static str {
        "inverse-distance-backward"
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
        let (n_in, d) = l1.shape().dims2()?;
        let (n_out, _) = l2.shape().dims2()?;
        if l3.shape().dims() != [n_in, n_out] {
            candle_core::bail!(
                "weight gradient {:?}, expected [{n_in}, {n_out}]",
                l3.shape()
            );
        }
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(a), CpuStorage::F32(b), CpuStorage::F32(g)) => CpuStorage::F32(
                backward_kernel(slice(a, l1)?, slice(b, l2)?, slice(g, l3)?, d, self.eps),
            ),
            (CpuStorage::F64(a), CpuStorage::F64(b), CpuStorage::F64(g)) => CpuStorage::F64(
                backward_kernel(slice(a, l1)?, slice(b, l2)?, slice(g, l3)?, d, self.eps),
            ),
            _ => candle_core::bail!("weight synthesis supports matching f32 or f64 tensors"),
        };
        Ok((out, Shape::from((n_in + n_out, d))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::synthesize_weights_reference;
    use crate::test_support::{assert_close, flat, probe_loss};
    use candle_core::{DType, Device, Var};

    /// Values and gradients (w.r.t. both position sets) of a random probe of W.
    fn probe(fused: bool, pre: &Tensor, post: &Tensor, eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (a, b) = (
            Var::from_tensor(pre).unwrap(),
            Var::from_tensor(post).unwrap(),
        );
        let synth = if fused {
            synthesize_weights_fused
        } else {
            synthesize_weights_reference
        };
        let w = synth(a.as_tensor(), b.as_tensor(), eps).unwrap();
        let grads = probe_loss(&w).backward().unwrap();
        (
            flat(&w),
            flat(grads.get(a.as_tensor()).unwrap()),
            flat(grads.get(b.as_tensor()).unwrap()),
        )
    }

    #[test]
    fn fused_and_reference_agree_in_values_and_gradients() {
        for (dtype, n_in, n_out, d, spread) in [
            (DType::F64, 37, 70, 3, 3.0),
            (DType::F64, 5, 9, 6, 1.0),
            (DType::F32, 200, 150, 3, 20.0),
            (DType::F32, 90, 300, 16, 2.0),
        ] {
            let pre = Tensor::randn(0f64, spread, (n_in, d), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let post = Tensor::randn(0f64, spread, (n_out, d), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let (w1, gp1, gq1) = probe(true, &pre, &post, 1e-6);
            let (w2, gp2, gq2) = probe(false, &pre, &post, 1e-6);
            assert_eq!(w1, w2, "{dtype:?}: weights differ");
            let tol = if dtype == DType::F64 { 1e-10 } else { 1e-4 };
            for (name, a, b) in [("pre", gp1, gp2), ("post", gq1, gq2)] {
                let context = format!("{dtype:?} d={d}: fused vs reference d{name}");
                assert_close(&a, &b, tol, 0.0, &context);
            }
        }
    }
}

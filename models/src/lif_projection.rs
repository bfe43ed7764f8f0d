//! LIF neurons whose spikes feed straight into the next synapses, as one op:
//! currents → `spikes · W`, without materialising the `[T, B, N]` spike tensor.
//!
//! A hidden spiking layer of 2048 neurons, 25 steps and a batch of 600 holds 30.7 M spikes;
//! unfused, the spikes, the gradient with respect to them and autograd's accumulators each
//! cost a 123 MB pass. Fused, each sample's neurons are stepped with an `[N]` state and every
//! step's spikes go straight into K dot products with `W`'s columns (branch-free and
//! vectorised: cheaper than scanning N neurons for the few that fired); the backward pass
//! recomputes the membranes per sample and forms `dL/dspike = g · Wᵀ` on the fly.
//! [`lif_project_reference`] is the same computation in plain ops for every other backend.

use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

use crate::lif::{contiguous, lif, lif_step, sequence_shape, LifConfig, Surrogate};
use crate::simd::{lane_dot, transpose, vectorized};

/// `spikes(currents) · weights`: `[T, B, K]` currents for the next layer, bias excluded.
///
/// `currents` is `[T, B, N]`, or `[B, N]` constant over `cfg.time_steps` steps; `weights` is
/// `[N, K]` (pre × post, with the inhibition mask and any pruning folded in).
pub fn lif_project(currents: &Tensor, weights: &Tensor, cfg: &LifConfig) -> Result<Tensor> {
    if currents.device().is_cpu() && matches!(currents.dtype(), DType::F32 | DType::F64) {
        lif_project_fused(currents, weights, cfg)
    } else {
        lif_project_reference(currents, weights, cfg)
    }
}

/// [`crate::lif::lif`] then a matmul, in plain ops.
pub fn lif_project_reference(
    currents: &Tensor,
    weights: &Tensor,
    cfg: &LifConfig,
) -> Result<Tensor> {
    let spikes = lif(currents, cfg, false)?.spikes;
    let (steps, batch, n) = spikes.dims3()?;
    let next = spikes.reshape((steps * batch, n))?.matmul(weights)?;
    next.reshape((steps, batch, weights.dim(1)?))
}

/// The fused CPU kernel (plain ops off the CPU).
pub fn lif_project_fused(currents: &Tensor, weights: &Tensor, cfg: &LifConfig) -> Result<Tensor> {
    if !currents.device().is_cpu() {
        return lif_project_reference(currents, weights, cfg);
    }
    let (steps, constant) = sequence_shape(currents, cfg)?;
    let n = currents.dim(currents.rank() - 1)?;
    let (wn, _) = weights.dims2()?;
    if wn != n {
        candle_core::bail!("LIF projection: {n} neurons but weights for {wn}");
    }
    currents.contiguous()?.apply_op2(
        &weights.contiguous()?,
        LifProject {
            cfg: *cfg,
            steps,
            constant,
        },
    )
}

#[derive(Clone, Copy)]
struct LifProject {
    cfg: LifConfig,
    steps: usize,
    constant: bool,
}

/// `(currents, weights, grad of the next currents)` → the gradients of the currents and of the
/// weights, flattened one after the other.
struct LifProjectBackward {
    forward: LifProject,
}

/// Neurons per block of the backward pass's products: K rows of 512 values (20 KiB of f32
/// for K = 10) stay in L1 while a block sweeps all T steps.
const NEURON_BLOCK: usize = 512;

vectorized! {
    /// One LIF step of a row of neurons; `constants` are β, thr and −thr. A function of its
    /// own so the vectoriser sees the slices cannot overlap.
    fn lif_steps<F: WithDType>(mem: &mut [F], spiked: &mut [F], input: &[F], constants: [F; 3]) {
        let [beta, thr, minus_thr] = constants;
        for ((m, s), &i) in mem.iter_mut().zip(spiked.iter_mut()).zip(input) {
            (*m, *s) = lif_step(*m, *s, i, beta, thr, minus_thr);
        }
    }
}

vectorized! {
    /// `y += a·x`, a function of its own so the vectoriser sees the slices cannot overlap.
    fn axpy<F: WithDType>(a: F, x: &[F], y: &mut [F]) {
        for (v, &u) in y.iter_mut().zip(x) {
            *v += a * u;
        }
    }
}

/// Membranes and last spikes of one sample's neurons, `[N]` each.
struct SampleState<F> {
    mem: Vec<F>,
    spiked: Vec<F>,
    beta: F,
    thr: F,
    minus_thr: F,
}

impl<F: WithDType> SampleState<F> {
    /// One time step with input currents `[N]`.
    #[inline(always)]
    fn step(&mut self, input: &[F]) {
        self.step_block(input, 0);
    }

    /// One time step of neurons `start..start + input.len()`.
    #[inline(always)]
    fn step_block(&mut self, input: &[F], start: usize) {
        let width = input.len();
        lif_steps(
            &mut self.mem[start..start + width],
            &mut self.spiked[start..start + width],
            input,
            [self.beta, self.thr, self.minus_thr],
        );
    }
}

/// Samples per backward task. Tasks are fixed (not chosen by the scheduler) and their partial
/// weight gradients are summed in order, so results are bit-identical from run to run.
const SAMPLES_PER_TASK: usize = 8;

/// Shapes of one call: batch B, neurons N, next layer K.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    n: usize,
    k: usize,
}

impl LifProject {
    fn dims(&self, currents: &Layout, weights: &Layout) -> Result<Dims> {
        let (n, k) = weights.shape().dims2()?;
        let batch = if self.constant {
            currents.shape().dims2()?.0
        } else {
            currents.shape().dims3()?.1
        };
        Ok(Dims { batch, n, k })
    }

    /// Index of neuron n of sample b at step t in the currents.
    fn current_index(&self, d: Dims, t: usize, b: usize, n: usize) -> usize {
        if self.constant {
            b * d.n + n
        } else {
            (t * d.batch + b) * d.n + n
        }
    }

    /// The state of one sample's neurons before its first step.
    #[inline(always)]
    fn start<F: WithDType>(&self, d: Dims) -> SampleState<F> {
        SampleState {
            mem: vec![F::zero(); d.n],
            spiked: vec![F::zero(); d.n],
            beta: F::from_f64(self.cfg.beta),
            thr: F::from_f64(self.cfg.threshold),
            minus_thr: F::from_f64(-self.cfg.threshold),
        }
    }

    fn forward_kernel<F: WithDType>(&self, currents: &[F], weights: &[F], d: Dims) -> Vec<F> {
        let weights_t = transpose(weights, d.n, d.k);
        // One task per sample: it owns rows [t, b, :] of the output, so no reduction.
        let per_sample: Vec<Vec<F>> = (0..d.batch)
            .into_par_iter()
            .map(|b| forward_sample_task(self, currents, &weights_t, d, b))
            .collect();
        let mut out = vec![F::zero(); self.steps * d.batch * d.k];
        for (b, rows) in per_sample.iter().enumerate() {
            for t in 0..self.steps {
                out[(t * d.batch + b) * d.k..][..d.k].copy_from_slice(&rows[t * d.k..][..d.k]);
            }
        }
        out
    }

    /// Next-layer currents `[T][K]` of sample `b`, from the transposed weights `[K][N]`.
    ///
    /// Dot products of each step's spikes with every output neuron's weights: branch-free and
    /// vectorised, they beat scanning N neurons for the few that fired (a branch each).
    #[inline(always)]
    fn forward_sample<F: WithDType>(
        &self,
        currents: &[F],
        weights_t: &[F],
        d: Dims,
        b: usize,
    ) -> Vec<F> {
        let mut rows = vec![F::zero(); self.steps * d.k];
        let mut state = self.start(d);
        // A block of neurons through all T steps at a time: the block's K weight rows stay in
        // L1, and each step adds the block's share of the K dot products.
        for start in (0..d.n).step_by(NEURON_BLOCK) {
            let width = NEURON_BLOCK.min(d.n - start);
            for t in 0..self.steps {
                let input = &currents[self.current_index(d, t, b, start)..][..width];
                state.step_block(input, start);
                let spiked = &state.spiked[start..start + width];
                for (kk, o) in rows[t * d.k..][..d.k].iter_mut().enumerate() {
                    *o += lane_dot(spiked, &weights_t[kk * d.n + start..][..width]);
                }
            }
        }
        rows
    }

    fn backward_kernel<F: WithDType>(
        &self,
        currents: &[F],
        weights: &[F],
        grad: &[F],
        d: Dims,
    ) -> Vec<F> {
        // Weights transposed, [K][N], so dL/dspike over all neurons is a contiguous AXPY.
        let weights_t = transpose(weights, d.n, d.k);
        let tasks = d.batch.div_ceil(SAMPLES_PER_TASK);
        // Per-sample work stays in the kernel's float type so the inner loops vectorise; the
        // weight gradient, a sum over the whole batch, accumulates in f64.
        let parts: Vec<(Vec<Vec<F>>, Vec<f64>)> = (0..tasks)
            .into_par_iter()
            .map(|task| {
                let samples = task * SAMPLES_PER_TASK..((task + 1) * SAMPLES_PER_TASK).min(d.batch);
                backward_samples_task(self, currents, &weights_t, grad, d, samples)
            })
            .collect();
        let grad_len = currents.len();
        let mut out = vec![F::zero(); grad_len + d.n * d.k];
        let mut d_weights = vec![0f64; d.n * d.k];
        for (task, (d_currents, d_w)) in parts.iter().enumerate() {
            for (s, piece) in d_currents.iter().enumerate() {
                let b = task * SAMPLES_PER_TASK + s;
                for (i, &v) in piece.iter().enumerate() {
                    let (t, j) = (i / d.n, i % d.n);
                    out[self.current_index(d, t, b, j)] = v;
                }
            }
            d_weights.iter_mut().zip(d_w).for_each(|(a, v)| *a += v);
        }
        for (o, v) in out[grad_len..].iter_mut().zip(d_weights) {
            *o = F::from_f64(v);
        }
        out
    }

    /// Backward pass for a fixed run of samples: their current gradients and their partial
    /// weight gradient.
    #[inline(always)]
    fn backward_samples<F: WithDType>(
        &self,
        currents: &[F],
        weights_t: &[F],
        grad: &[F],
        d: Dims,
        samples: std::ops::Range<usize>,
    ) -> (Vec<Vec<F>>, Vec<f64>) {
        let surrogate = self.cfg.surrogate;
        let (beta, thr) = (F::from_f64(self.cfg.beta), F::from_f64(self.cfg.threshold));
        // The weight gradient `[K][N]`: one sample's steps summed in F, the samples in f64.
        let mut d_w = vec![0f64; d.k * d.n];
        let mut d_w_sample = vec![F::zero(); d.k * d.n];
        let mut d_currents = Vec::with_capacity(samples.len());
        let mut carry = vec![F::zero(); d.n];
        let mut d_spikes = vec![F::zero(); self.steps * d.n];
        // Reused for every sample of the task; each step overwrites its rows.
        let mut membranes = vec![F::zero(); self.steps * d.n];
        let mut spikes = vec![F::zero(); self.steps * d.n];
        for b in samples {
            let mut state = self.start(d);
            for t in 0..self.steps {
                state.step(&currents[self.current_index(d, t, b, 0)..][..d.n]);
                membranes[t * d.n..][..d.n].copy_from_slice(&state.mem);
                spikes[t * d.n..][..d.n].copy_from_slice(&state.spiked);
            }
            carry.iter_mut().for_each(|v| *v = F::zero());
            let mut d_current = vec![F::zero(); if self.constant { d.n } else { self.steps * d.n }];
            let g: Vec<F> = (0..self.steps)
                .flat_map(|t| grad[(t * d.batch + b) * d.k..][..d.k].iter().copied())
                .collect();
            // dL/dspike for every step, `Σ_k g_k(t) · W[:, k]`, a block of neurons at a time so
            // the block's K weight rows stay in L1 across all T steps.
            for start in (0..d.n).step_by(NEURON_BLOCK) {
                let width = NEURON_BLOCK.min(d.n - start);
                for t in 0..self.steps {
                    let row = &mut d_spikes[t * d.n + start..][..width];
                    row.iter_mut().for_each(|v| *v = F::zero());
                    for (kk, &gk) in g[t * d.k..][..d.k].iter().enumerate() {
                        axpy(gk, &weights_t[kk * d.n + start..][..width], row);
                    }
                }
            }
            for t in (0..self.steps).rev() {
                let d_spike = &d_spikes[t * d.n..][..d.n];
                let mem_t = &membranes[t * d.n..][..d.n];
                let d_row = if self.constant {
                    &mut d_current[..]
                } else {
                    &mut d_current[t * d.n..][..d.n]
                };
                // Branch-free inner loops, one per surrogate and input kind, so they vectorise.
                match surrogate {
                    Surrogate::Arctan { alpha } => {
                        let (scale, peak) = (
                            F::from_f64(std::f64::consts::FRAC_PI_2 * alpha),
                            F::from_f64(alpha / 2.0),
                        );
                        let slope = |m: F| {
                            let x = scale * (m - thr);
                            peak / (F::one() + x * x)
                        };
                        through_time(
                            mem_t,
                            d_spike,
                            &mut carry,
                            d_row,
                            beta,
                            self.constant,
                            slope,
                        );
                    }
                    Surrogate::FastSigmoid { slope } => {
                        let k = F::from_f64(slope);
                        let slope = |m: F| {
                            let u = m - thr;
                            let magnitude = if u < F::zero() { F::zero() - u } else { u };
                            let q = F::one() + k * magnitude;
                            F::one() / (q * q)
                        };
                        through_time(
                            mem_t,
                            d_spike,
                            &mut carry,
                            d_row,
                            beta,
                            self.constant,
                            slope,
                        );
                    }
                }
            }
            // dW[:, k] = Σ_t g_k(t) · spikes(t) (t descending, as the time loop runs), by blocks
            // of neurons so each block's K accumulator rows stay in L1 across all T steps.
            for start in (0..d.n).step_by(NEURON_BLOCK) {
                let width = NEURON_BLOCK.min(d.n - start);
                for kk in 0..d.k {
                    let acc = &mut d_w_sample[kk * d.n + start..][..width];
                    acc.iter_mut().for_each(|v| *v = F::zero());
                    for t in (0..self.steps).rev() {
                        axpy(g[t * d.k + kk], &spikes[t * d.n + start..][..width], acc);
                    }
                }
            }
            for (acc, v) in d_w.iter_mut().zip(&d_w_sample) {
                *acc += v.to_f64();
            }
            d_currents.push(d_current);
        }
        (d_currents, transpose(&d_w, d.k, d.n))
    }
}

vectorized! {
    /// [`LifProject::forward_sample`], compiled for the CPU's widest vectors.
    fn forward_sample_task<F: WithDType>(
        op: &LifProject,
        currents: &[F],
        weights_t: &[F],
        d: Dims,
        b: usize,
    ) -> Vec<F> {
        op.forward_sample(currents, weights_t, d, b)
    }
}

vectorized! {
    /// [`LifProject::backward_samples`], compiled for the CPU's widest vectors.
    fn backward_samples_task<F: WithDType>(
        op: &LifProject,
        currents: &[F],
        weights_t: &[F],
        grad: &[F],
        d: Dims,
        samples: std::ops::Range<usize>,
    ) -> (Vec<Vec<F>>, Vec<f64>) {
        op.backward_samples(currents, weights_t, grad, d, samples)
    }
}

impl CustomOp2 for LifProject {
    fn name(&self) -> &'static str {
        "lif-project"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = self.dims(l1, l2)?;
        let out = match (s1, s2) {
            (CpuStorage::F32(c), CpuStorage::F32(w)) => {
                CpuStorage::F32(self.forward_kernel(contiguous(c, l1)?, contiguous(w, l2)?, d))
            }
            (CpuStorage::F64(c), CpuStorage::F64(w)) => {
                CpuStorage::F64(self.forward_kernel(contiguous(c, l1)?, contiguous(w, l2)?, d))
            }
            _ => candle_core::bail!("LIF projection supports matching f32 or f64 tensors"),
        };
        Ok((out, Shape::from((self.steps, d.batch, d.k))))
    }

    fn bwd(
        &self,
        currents: &Tensor,
        weights: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let flat = currents.contiguous()?.apply_op3_no_bwd(
            &weights.contiguous()?,
            &grad_res.contiguous()?,
            &LifProjectBackward { forward: *self },
        )?;
        let len = currents.elem_count();
        let d_currents = flat.narrow(0, 0, len)?.reshape(currents.shape())?;
        let d_weights = flat
            .narrow(0, len, weights.elem_count())?
            .reshape(weights.shape())?;
        Ok((Some(d_currents), Some(d_weights)))
    }
}

impl CustomOp3 for LifProjectBackward {
    fn name(&self) -> &'static str {
        "lif-project-backward"
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
        let f = &self.forward;
        let d = f.dims(l1, l2)?;
        if l3.shape().dims() != [f.steps, d.batch, d.k] {
            candle_core::bail!("LIF projection backward: gradient {:?}", l3.shape());
        }
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(c), CpuStorage::F32(w), CpuStorage::F32(g)) => {
                CpuStorage::F32(f.backward_kernel(
                    contiguous(c, l1)?,
                    contiguous(w, l2)?,
                    contiguous(g, l3)?,
                    d,
                ))
            }
            (CpuStorage::F64(c), CpuStorage::F64(w), CpuStorage::F64(g)) => {
                CpuStorage::F64(f.backward_kernel(
                    contiguous(c, l1)?,
                    contiguous(w, l2)?,
                    contiguous(g, l3)?,
                    d,
                ))
            }
            _ => candle_core::bail!("LIF projection supports matching f32 or f64 tensors"),
        };
        let len = l1.shape().elem_count() + d.n * d.k;
        Ok((out, Shape::from(len)))
    }
}

vectorized! {
    /// One step of backpropagation through time for a row of neurons:
    /// `dmem = dspike · slope(mem) + carry`, `carry ← β · dmem`, and `dmem` stored (sequence
    /// input) or summed over steps (constant input) into `out`.
    fn through_time<F: WithDType>(
        mem: &[F],
        d_spike: &[F],
        carry: &mut [F],
        out: &mut [F],
        beta: F,
        accumulate: bool,
        slope: impl Fn(F) -> F,
    ) {
        let rows = mem
            .iter()
            .zip(d_spike)
            .zip(carry.iter_mut())
            .zip(out.iter_mut());
        if accumulate {
            for (((&m, &ds), c), o) in rows {
                let dm = ds * slope(m) + *c;
                *c = beta * dm;
                *o += dm;
            }
        } else {
            for (((&m, &ds), c), o) in rows {
                let dm = ds * slope(m) + *c;
                *c = beta * dm;
                *o = dm;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{flat, probe_loss};
    use candle_core::{Device, Var};

    type Project = fn(&Tensor, &Tensor, &LifConfig) -> Result<Tensor>;

    fn probe(f: Project, currents: &Tensor, weights: &Tensor, c: &LifConfig) -> [Vec<f64>; 3] {
        let (cv, wv) = (
            Var::from_tensor(currents).unwrap(),
            Var::from_tensor(weights).unwrap(),
        );
        let out = f(cv.as_tensor(), wv.as_tensor(), c).unwrap();
        let grads = probe_loss(&out).backward().unwrap();
        [
            flat(&out),
            flat(grads.get(cv.as_tensor()).unwrap()),
            flat(grads.get(wv.as_tensor()).unwrap()),
        ]
    }

    fn compare(dtype: DType, currents_shape: &[usize], k: usize, steps: usize) {
        let c = LifConfig {
            time_steps: steps,
            ..LifConfig::default()
        };
        let n = currents_shape[currents_shape.len() - 1];
        let currents = Tensor::randn(0.4f64, 0.8, currents_shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let weights = Tensor::randn(0f64, 0.5, (n, k), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let fused = probe(lif_project_fused, &currents, &weights, &c);
        let reference = probe(lif_project_reference, &currents, &weights, &c);
        let tol = if dtype == DType::F64 { 1e-10 } else { 1e-5 };
        for (name, a, b) in [
            ("output", &fused[0], &reference[0]),
            ("d currents", &fused[1], &reference[1]),
            ("d weights", &fused[2], &reference[2]),
        ] {
            assert_eq!(a.len(), b.len());
            let scale = b.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() <= tol * scale,
                    "{dtype:?} {currents_shape:?}: {name}[{i}]: fused {x} vs reference {y}"
                );
            }
        }
    }

    #[test]
    fn fused_projection_agrees_with_lif_then_matmul() {
        compare(DType::F64, &[3, 300], 4, 6);
        compare(DType::F32, &[5, 700], 10, 25);
        compare(DType::F64, &[4, 2, 33], 3, 4);
        compare(DType::F32, &[7, 3, 520], 10, 7);
    }
}

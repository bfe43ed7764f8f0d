//! LIF neurons whose spikes feed straight into the next synapses, as one op:
//! currents → `spikes · W + b`, without materialising the `[T, B, N]` spike tensor.
//!
//! A hidden spiking layer of 2048 neurons, 25 steps and a batch of 600 holds 30.7 M spikes;
//! unfused, the spikes, the gradient with respect to them and autograd's accumulators each
//! cost a 123 MB pass. Fused, each sample's neurons are stepped with a small state and every
//! step's spikes go straight into K products with `W`'s columns (branch-free and vectorised:
//! cheaper than scanning N neurons for the few that fired); the backward pass recomputes the
//! membranes and forms `dL/dspike = g · Wᵀ` on the fly.
//!
//! Two kernels: for a narrow next layer (K ≤ 16, the 10 output neurons of the paper's
//! networks) a register-blocked one that takes 16 neurons at a time with their K weight
//! vectors and keeps the K partial sums (forward) or K weight-gradient rows (backward) in
//! vector registers across all T steps; for wider layers one built from blocked AXPYs over
//! 512 neurons.
//! [`crate::layers::lif::lif_project_reference`] is the same computation in plain ops, the
//! reference these kernels are tested against.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::constant_input_gradient::{chunk_gradient, ClosedForm};
use super::lif_recurrence::{contiguous, kept_through_reset, lif_step};
use super::register_blocks::{narrow_width, with_narrow_width, ChunkedWeights};
use super::simd::{
    lane_dot, lane_sum, prefetch, transpose, vectorized, Chunk, Real, SharedMut, CHUNK,
};
use crate::layers::lif_config::{sequence_shape, LifConfig};

/// [`crate::layers::lif::lif_project`] on the CPU. The bias is added inside the op too: Candle's
/// gradient of a broadcast add sums over the leading `[T, B]` dimensions with a division per
/// element (~1.5 ms a step for the paper's 10 outputs), the kernel sums them directly.
pub fn lif_project_fused(
    currents: &Tensor,
    weights: &Tensor,
    bias: &Tensor,
    cfg: &LifConfig,
) -> Result<Tensor> {
    let (steps, constant) = sequence_shape(currents, cfg)?;
    let n = currents.dim(currents.rank() - 1)?;
    let (wn, k) = weights.dims2()?;
    if wn != n {
        candle_core::bail!("LIF projection: {n} neurons but weights for {wn}");
    }
    if bias.dims() != [k] {
        candle_core::bail!("LIF projection: {k} outputs but bias {:?}", bias.shape());
    }
    currents.contiguous()?.apply_op3(
        &weights.contiguous()?,
        &bias.contiguous()?,
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

/// `(currents, weights, grad of the next currents)` → the gradients of the currents, of the
/// weights and of the bias, flattened one after the other.
struct LifProjectBackward {
    forward: LifProject,
}

/// Neurons per block of the backward pass's products: K rows of 512 values (20 KiB of f32
/// for K = 10) stay in L1 while a block sweeps all T steps.
const NEURON_BLOCK: usize = 512;

/// Chunks per block of the constant-input backward pass: each sample's rows are visited 512
/// bytes at a time, and the block's weight-gradient sums (6.4 KiB of f32 for K = 10) stay
/// in L1 across the task's samples.
const CONSTANT_BLOCK_CHUNKS: usize = 8;

/// Chunks per block of the narrow forward pass: the block's K weight rows (10 KiB of f32 for
/// K = 10) stay in L1 while the block runs through all T steps.
const BLOCK_CHUNKS: usize = 16;

/// The surrogate's `dS/dU` as a function of the membrane `m`, in the kernel's float type.
fn slope_at_membrane<F: Real>(cfg: &LifConfig, thr: F) -> impl Fn(F) -> F + Copy {
    let slope = cfg.surrogate.form().slope::<F>();
    move |m: F| slope(m - thr)
}

vectorized! {
    /// One LIF step of a row of neurons; `constants` are β and thr, `zero` the zero reset.
    /// A function of its own so the vectoriser sees the slices cannot overlap.
    fn lif_steps<F: Real>(mem: &mut [F], spiked: &mut [F], input: &[F], constants: [F; 2], zero: bool) {
        let [beta, thr] = constants;
        for ((m, s), &i) in mem.iter_mut().zip(spiked.iter_mut()).zip(input) {
            (*m, *s) = lif_step(*m, *s, i, beta, thr, zero);
        }
    }
}

/// One LIF step of a chunk of neurons, inlined into the kernels' chunk loops (a call per
/// block and step cost as much as the step itself).
#[inline(always)]
fn lif_chunk<F: Real>(
    mem: &[F; CHUNK],
    spiked: &[F; CHUNK],
    input: &[F; CHUNK],
    [beta, thr]: [F; 2],
    zero: bool,
) -> ([F; CHUNK], [F; CHUNK]) {
    let mut next = ([F::zero(); CHUNK], [F::zero(); CHUNK]);
    for l in 0..CHUNK {
        (next.0[l], next.1[l]) = lif_step(mem[l], spiked[l], input[l], beta, thr, zero);
    }
    next
}

/// Chunk `c` of a row, zero past its end: a neuron with no input current stays at rest and
/// never fires (the threshold is positive), so padding lanes contribute nothing.
#[inline(always)]
fn chunk_at<F: Real>(row: &[F], c: usize) -> [F; CHUNK] {
    let start = c * CHUNK;
    match row.get(start..start + CHUNK) {
        Some(full) => full.try_into().expect("CHUNK values"),
        None => {
            let mut padded = [F::zero(); CHUNK];
            let rest = &row[start.min(row.len())..];
            padded[..rest.len()].copy_from_slice(rest);
            padded
        }
    }
}

vectorized! {
    /// `y += a·x`, a function of its own so the vectoriser sees the slices cannot overlap.
    fn axpy<F: Real>(a: F, x: &[F], y: &mut [F]) {
        for (v, &u) in y.iter_mut().zip(x) {
            *v += a * u;
        }
    }
}

/// Membranes and last spikes of one sample's neurons, `[N]` each.
struct SampleState<F> {
    mem: Vec<F>,
    spiked: Vec<F>,
    /// β and thr.
    constants: [F; 2],
    /// The zero reset.
    zero: bool,
}

impl<F: Real> SampleState<F> {
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
            self.constants,
            self.zero,
        );
    }
}

/// Samples per backward task. Tasks are fixed (not chosen by the scheduler) and their partial
/// weight gradients are summed in order, so results are bit-identical from run to run. Each
/// sample here is T steps of N neurons (~50 k LIF updates), far more work than a sample of
/// the narrow current or of the loss (32 per task there), so 16 already amortise a task, and a
/// batch of 600 still gives 38 tasks to balance over the threads.
const BACKWARD_SAMPLES_PER_TASK: usize = 16;

/// What one backward task reads, and where its samples' current gradients go (the op's
/// output, laid out as the currents).
struct BackwardTask<'a, F> {
    currents: &'a [F],
    grad: &'a [F],
    d: ProjectionDims,
    samples: std::ops::Range<usize>,
    d_currents: SharedMut<F>,
}

/// What one block task of the constant-input backward pass reads and writes.
struct ConstantTask<'a, F> {
    currents: &'a [F],
    /// The output gradients per sample, `[B][T][NK]`.
    per_sample: &'a [F],
    d: ProjectionDims,
    /// Chunks `block · CONSTANT_BLOCK_CHUNKS ..` are this task's.
    block: usize,
    /// Laid out as the currents.
    d_currents: SharedMut<F>,
    /// `[N, K]`.
    d_weights: SharedMut<F>,
}

/// The bias gradient: the output gradient `[T·B, K]` summed over steps and samples, in order,
/// in f64.
fn bias_gradient<F: Real>(grad: &[F], k: usize, out: &mut [F]) {
    let mut d_bias = vec![0f64; k];
    for row in grad.chunks_exact(k) {
        for (acc, &g) in d_bias.iter_mut().zip(row) {
            *acc += WithDType::to_f64(g);
        }
    }
    for (o, v) in out.iter_mut().zip(d_bias) {
        *o = F::from_f64(v);
    }
}

/// One backward task's partial weight gradient `[K][n]`, in f64 (its samples' current
/// gradients go straight into the op's output).
type TaskWeightGradient = Vec<f64>;

/// Shapes of one call: batch B, neurons N, next layer K (the embedded current has its own
/// `CurrentDims`: another op, with inputs, outputs and positions).
#[derive(Clone, Copy)]
struct ProjectionDims {
    batch: usize,
    n: usize,
    k: usize,
}

impl LifProject {
    fn dims(&self, currents: &Layout, weights: &Layout) -> Result<ProjectionDims> {
        let (n, k) = weights.shape().dims2()?;
        let batch = if self.constant {
            currents.shape().dims2()?.0
        } else {
            currents.shape().dims3()?.1
        };
        Ok(ProjectionDims { batch, n, k })
    }

    /// Index of neuron n of sample b at step t in the currents.
    fn current_index(&self, d: ProjectionDims, t: usize, b: usize, n: usize) -> usize {
        if self.constant {
            b * d.n + n
        } else {
            (t * d.batch + b) * d.n + n
        }
    }

    /// The state of one sample's neurons before its first step.
    #[inline(always)]
    fn start<F: Real>(&self, d: ProjectionDims) -> SampleState<F> {
        SampleState {
            mem: vec![F::zero(); d.n],
            spiked: vec![F::zero(); d.n],
            constants: self.constants(),
            zero: self.cfg.reset.is_zero(),
        }
    }

    fn forward_kernel<F: Real>(
        &self,
        currents: &[F],
        weights: &[F],
        bias: &[F],
        d: ProjectionDims,
    ) -> Vec<F> {
        // One task per sample: it owns rows [t, b, :] of the output, so no reduction.
        let per_sample: Vec<Vec<F>> = match narrow_width(d.k) {
            Some(width) => {
                let padded = ChunkedWeights::new(weights, d.n, d.k, width);
                (0..d.batch)
                    .into_par_iter()
                    .map(|b| {
                        with_narrow_width!(
                            width,
                            forward_narrow::<F>(self, currents, &padded, d, b)
                        )
                    })
                    .collect()
            }
            None => {
                let weights_t = transpose(weights, d.n, d.k);
                (0..d.batch)
                    .into_par_iter()
                    .map(|b| forward_sample_task(self, currents, &weights_t, d, b))
                    .collect()
            }
        };
        let mut out = vec![F::zero(); self.steps * d.batch * d.k];
        for (b, rows) in per_sample.iter().enumerate() {
            for t in 0..self.steps {
                let row = &mut out[(t * d.batch + b) * d.k..][..d.k];
                for ((o, &v), &bias) in row.iter_mut().zip(&rows[t * d.k..][..d.k]).zip(bias) {
                    *o = v + bias;
                }
            }
        }
        out
    }

    /// β and thr in the kernel's float type.
    fn constants<F: Real>(&self) -> [F; 2] {
        [F::from_f64(self.cfg.beta), F::from_f64(self.cfg.threshold)]
    }

    /// The narrow kernel's forward pass for sample `b`: next-layer currents `[T][K]`.
    ///
    /// Blocks of 16 chunks run through all T steps (their weights stay in L1); each step's
    /// products accumulate in NK × 16 lanes held in registers across the block's chunks.
    #[inline(always)]
    fn forward_narrow_sample<F: Real, const NK: usize>(
        &self,
        currents: &[F],
        weights: &ChunkedWeights<F>,
        d: ProjectionDims,
        b: usize,
    ) -> Vec<F> {
        let mut lanes = vec![[[F::zero(); CHUNK]; NK]; self.steps];
        let block_len = BLOCK_CHUNKS * CHUNK;
        let constants = self.constants();
        let zero = self.cfg.reset.is_zero();
        let (mut mem, mut spiked) = (Chunk::zeros(BLOCK_CHUNKS), Chunk::zeros(BLOCK_CHUNKS));
        for first in (0..weights.n_pad()).step_by(block_len) {
            let real = block_len.min(d.n - first);
            let padded_chunks = (block_len.min(weights.n_pad() - first)) / CHUNK;
            mem.fill(Chunk([F::zero(); CHUNK]));
            spiked.fill(Chunk([F::zero(); CHUNK]));
            for (t, lanes_t) in lanes.iter_mut().enumerate() {
                let input = &currents[self.current_index(d, t, b, first)..][..real];
                let mut acc = *lanes_t;
                for c in 0..padded_chunks {
                    let (Chunk(m), Chunk(s)) = (&mut mem[c], &mut spiked[c]);
                    (*m, *s) = lif_chunk(m, s, &chunk_at(input, c), constants, zero);
                    let w = weights.chunk::<NK>(first / CHUNK + c);
                    for (acc_k, Chunk(w_k)) in acc.iter_mut().zip(w) {
                        for l in 0..CHUNK {
                            acc_k[l] = s[l].mul_add(w_k[l], acc_k[l]);
                        }
                    }
                }
                *lanes_t = acc;
            }
        }
        // A plain loop, not an iterator chain: the chain's closure was compiled outside this
        // kernel's target features, a scalar call per output (~1 % of an snn3d step).
        let mut rows = Vec::with_capacity(self.steps * d.k);
        for acc in &lanes {
            for lane in &acc[..d.k] {
                rows.push(lane_sum(lane));
            }
        }
        rows
    }

    /// The narrow kernel's backward pass for a fixed run of samples with time-varying input
    /// (a constant input takes [`Self::backward_constant_samples`]): their current gradients,
    /// written into `d_currents` (laid out as `currents`), and their weight gradient
    /// `[NK][n_pad]`.
    ///
    /// Per block of 16 chunks the membranes are recomputed through all T steps, a whole block
    /// per step; then each chunk of 16 neurons runs backwards through the steps once, with
    /// everything it needs in registers: its NK weight vectors, its NK weight-gradient rows
    /// and its BPTT carry. Per step that is
    /// `dL/dspike` from the weights, the weight-gradient update, the surrogate slope and the
    /// recurrence — no intermediate row goes through memory, and the slope's division sits
    /// beside the FMAs instead of on the recurrence's chain.
    #[inline(always)]
    fn backward_narrow_samples<F: Real, const NK: usize>(
        &self,
        weights: &ChunkedWeights<F>,
        task: BackwardTask<F>,
        slope: impl Fn(F) -> F + Copy,
    ) -> TaskWeightGradient {
        let BackwardTask {
            currents,
            grad,
            d,
            samples,
            d_currents,
        } = task;
        let beta = F::from_f64(self.cfg.beta);
        let constants = self.constants();
        let zero = self.cfg.reset.is_zero();
        let block_len = BLOCK_CHUNKS * CHUNK;
        let mut d_w = vec![0f64; NK * weights.n_pad()];
        // The block's membranes and spikes at every step, `[T][BLOCK_CHUNKS]`.
        let mut membranes = Chunk::zeros(self.steps * BLOCK_CHUNKS);
        let mut fired = Chunk::zeros(self.steps * BLOCK_CHUNKS);
        let mut g = vec![[F::zero(); NK]; self.steps];
        for b in samples {
            for (t, g_t) in g.iter_mut().enumerate() {
                g_t[..d.k].copy_from_slice(&grad[(t * d.batch + b) * d.k..][..d.k]);
            }
            for first in (0..weights.n_pad()).step_by(block_len) {
                // The membranes again, a whole block per step: its neurons' recurrences are
                // independent, so they overlap instead of waiting on one another.
                let real = block_len.min(d.n - first);
                let padded_chunks = (block_len.min(weights.n_pad() - first)) / CHUNK;
                for t in 0..self.steps {
                    let input = &currents[self.current_index(d, t, b, first)..][..real];
                    for c in 0..padded_chunks {
                        let (m, s) = if t == 0 {
                            ([F::zero(); CHUNK], [F::zero(); CHUNK])
                        } else {
                            let before = (t - 1) * BLOCK_CHUNKS + c;
                            (membranes[before].0, fired[before].0)
                        };
                        let (m, s) = lif_chunk(&m, &s, &chunk_at(input, c), constants, zero);
                        membranes[t * BLOCK_CHUNKS + c] = Chunk(m);
                        fired[t * BLOCK_CHUNKS + c] = Chunk(s);
                    }
                }
                for c in 0..padded_chunks {
                    let global = first / CHUNK + c;
                    let w = weights.chunk::<NK>(global);
                    let lanes = CHUNK.min(real.saturating_sub(c * CHUNK));
                    let mut d_w_chunk = [[F::zero(); CHUNK]; NK];
                    let mut carry = [F::zero(); CHUNK];
                    for t in (0..self.steps).rev() {
                        let Chunk(fired_t) = &fired[t * BLOCK_CHUNKS + c];
                        let Chunk(mem_t) = &membranes[t * BLOCK_CHUNKS + c];
                        let g_t = &g[t];
                        let mut d_spike = [F::zero(); CHUNK];
                        for (k, Chunk(w_k)) in w.iter().enumerate() {
                            for l in 0..CHUNK {
                                d_spike[l] = g_t[k].mul_add(w_k[l], d_spike[l]);
                                d_w_chunk[k][l] = g_t[k].mul_add(fired_t[l], d_w_chunk[k][l]);
                            }
                        }
                        // dmem = dspike · slope(mem) + carry, carry ← β · dmem (under the zero
                        // reset the carry stops at a spike: the membrane was set to 0).
                        let mut d_mem = [F::zero(); CHUNK];
                        for l in 0..CHUNK {
                            let through = if zero {
                                carry[l] * (F::one() - fired_t[l])
                            } else {
                                carry[l]
                            };
                            d_mem[l] = d_spike[l].mul_add(slope(mem_t[l]), through);
                            carry[l] = beta * d_mem[l];
                        }
                        // SAFETY: sample b's rows belong to this task alone.
                        let row = unsafe { self.gradient_row(&d_currents, d, t, b) };
                        let row = &mut row[first + c * CHUNK..][..lanes];
                        if self.constant {
                            // One current for every step: its gradient sums them (the
                            // closed form covers the subtract reset; this is the zero one's).
                            row.iter_mut().zip(&d_mem).for_each(|(r, v)| *r += *v);
                        } else {
                            row.copy_from_slice(&d_mem[..lanes]);
                        }
                    }
                    for (k, rows) in d_w_chunk.iter().enumerate() {
                        let acc = &mut d_w[k * weights.n_pad() + global * CHUNK..][..CHUNK];
                        for (a, &v) in acc.iter_mut().zip(rows) {
                            *a += v.to_f64();
                        }
                    }
                }
            }
        }
        d_w
    }

    /// The narrow kernel's backward pass for a constant input ([`crate::constant_input`]), for
    /// one block of chunks over the whole batch: the block's columns of every sample's current
    /// gradient and the block's rows of the weight gradient, written in place. Each chunk of
    /// 16 neurons goes once forward through the steps per sample; its weight-gradient rows are
    /// summed over runs of 16 samples in F (as the plain ops' product sums all T·B rows in F),
    /// the runs in f64, in sample order: the same bits on any thread count, and no partial
    /// weight gradients to allocate, zero and add up across tasks.
    #[inline(always)]
    fn backward_constant_block<F: Real, const NK: usize>(
        &self,
        weights: &ChunkedWeights<F>,
        task: ConstantTask<F>,
        form: &ClosedForm<F>,
    ) {
        let ConstantTask {
            currents,
            per_sample,
            d,
            block,
            d_currents,
            d_weights,
        } = task;
        debug_assert!(self.constant && form.steps() == self.steps);
        let chunks = weights.n_pad() / CHUNK;
        let first = block * CONSTANT_BLOCK_CHUNKS;
        let len = CONSTANT_BLOCK_CHUNKS.min(chunks - first);
        let mut partial = vec![[Chunk([F::zero(); CHUNK]); NK]; len];
        let mut sums = vec![[[0f64; CHUNK]; NK]; len];
        // The block's real (unpadded) columns of a row. Each sample's are read a few
        // consecutive cache lines at a time and the next sample's prefetched: the currents
        // were written long before, in the forward pass, and rows 8 KiB apart defeat the
        // hardware prefetcher.
        let columns = (len * CHUNK).min(d.n - first * CHUNK);
        let block_start = |b: usize| self.current_index(d, 0, b, first * CHUNK);
        let block_of = |b: usize| &currents[block_start(b)..][..columns];
        prefetch(block_of(0));
        for (b, g_b) in per_sample.chunks_exact(self.steps * NK).enumerate() {
            if b + 1 < d.batch {
                prefetch(block_of(b + 1));
            }
            // SAFETY: this task alone touches the block's columns of every row.
            let d_input_block = unsafe { d_currents.slice(block_start(b), columns) };
            let input_row = &currents[self.current_index(d, 0, b, 0)..][..d.n];
            for ((c, d_w_chunk), d_input_chunk) in (first..first + len)
                .zip(&mut partial)
                .zip(d_input_block.chunks_mut(CHUNK))
            {
                let d_input = chunk_gradient(
                    &chunk_at(input_row, c),
                    weights.chunk::<NK>(c),
                    g_b,
                    form,
                    d_w_chunk,
                );
                d_input_chunk.copy_from_slice(&d_input[..d_input_chunk.len()]);
            }
            if (b + 1) % BACKWARD_SAMPLES_PER_TASK == 0 || b + 1 == d.batch {
                for (sum, run) in sums.iter_mut().zip(&mut partial) {
                    for (sum_k, Chunk(run_k)) in sum.iter_mut().zip(run.iter_mut()) {
                        for (s, v) in sum_k.iter_mut().zip(run_k.iter_mut()) {
                            *s += v.to_f64();
                            *v = F::zero();
                        }
                    }
                }
            }
        }
        for (c, sum) in (first..first + len).zip(&sums) {
            for l in 0..CHUNK.min(d.n - c * CHUNK) {
                let n = c * CHUNK + l;
                for (k, sum_k) in sum.iter().enumerate().take(d.k) {
                    // SAFETY: this task alone writes the block's rows of the weight gradient.
                    unsafe { d_weights.write(n * d.k + k, F::from_f64(sum_k[l])) };
                }
            }
        }
    }

    /// Sample `b`'s current-gradient row at step `t` (constant input: its one row) in
    /// `d_currents`, which is laid out as the currents.
    ///
    /// # Safety
    /// Only the task that owns sample `b` may hold its rows.
    #[allow(clippy::mut_from_ref)]
    unsafe fn gradient_row<'a, F>(
        &self,
        d_currents: &'a SharedMut<F>,
        d: ProjectionDims,
        t: usize,
        b: usize,
    ) -> &'a mut [F] {
        unsafe { d_currents.slice(self.current_index(d, t, b, 0), d.n) }
    }

    /// Next-layer currents `[T][K]` of sample `b`, from the transposed weights `[K][N]`.
    ///
    /// Dot products of each step's spikes with every output neuron's weights: branch-free and
    /// vectorised, they beat scanning N neurons for the few that fired (a branch each).
    #[inline(always)]
    fn forward_sample<F: Real>(
        &self,
        currents: &[F],
        weights_t: &[F],
        d: ProjectionDims,
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

    fn backward_kernel<F: Real>(
        &self,
        currents: &[F],
        weights: &[F],
        grad: &[F],
        d: ProjectionDims,
    ) -> Vec<F> {
        let tasks = d.batch.div_ceil(BACKWARD_SAMPLES_PER_TASK);
        let samples_of = |task: usize| {
            task * BACKWARD_SAMPLES_PER_TASK..((task + 1) * BACKWARD_SAMPLES_PER_TASK).min(d.batch)
        };
        let thr = F::from_f64(self.cfg.threshold);
        // The current gradients, then the weight gradient `[N, K]`. Each task writes its
        // samples' current gradients in place and returns its partial weight gradient `[K][n]`
        // (`n` ≥ N: the narrow kernel's rows are padded). Per-sample work stays in the kernel's
        // float type so the inner loops vectorise; the weight gradient, a sum over the whole
        // batch, accumulates in f64.
        let grad_len = currents.len();
        let mut out = vec![F::zero(); grad_len + d.n * d.k + d.k];
        // The closed form sums the leak's powers, which the zero reset cuts at every spike.
        let closed_form = self.constant && !self.cfg.reset.is_zero();
        if let (Some(width), true) = (narrow_width(d.k), closed_form) {
            self.backward_constant(currents, weights, grad, d, width, &mut out);
            return out;
        }
        let d_currents = SharedMut::new(&mut out[..grad_len]);
        let task_of = |task: usize| BackwardTask {
            currents,
            grad,
            d,
            samples: samples_of(task),
            d_currents,
        };
        let (parts, stride): (Vec<TaskWeightGradient>, usize) = match narrow_width(d.k) {
            Some(width) => {
                let padded = ChunkedWeights::new(weights, d.n, d.k, width);
                let parts = {
                    let slope = slope_at_membrane(&self.cfg, thr);
                    (0..tasks)
                        .into_par_iter()
                        .map(|task| {
                            with_narrow_width!(
                                width,
                                backward_narrow_task::<F>(self, &padded, task_of(task), slope)
                            )
                        })
                        .collect()
                };
                (parts, padded.n_pad())
            }
            None => {
                // Weights transposed, [K][N], so dL/dspike over all neurons is a contiguous AXPY.
                let weights_t = transpose(weights, d.n, d.k);
                let parts = {
                    let slope = slope_at_membrane(&self.cfg, thr);
                    (0..tasks)
                        .into_par_iter()
                        .map(|task| backward_samples_task(self, &weights_t, task_of(task), slope))
                        .collect()
                };
                (parts, d.n)
            }
        };
        let (d_weights_out, d_bias_out) = out[grad_len..].split_at_mut(d.n * d.k);
        // The tasks' partial weight gradients summed in task order, in parallel over blocks
        // of neurons (the same bits on any thread count), into `[N, K]`.
        d_weights_out
            .par_chunks_mut(NEURON_BLOCK * d.k)
            .enumerate()
            .for_each(|(block, rows)| {
                let first = block * NEURON_BLOCK;
                let mut sums = vec![0f64; NEURON_BLOCK * d.k];
                for d_w in &parts {
                    for (k, sums_k) in sums.chunks_exact_mut(NEURON_BLOCK).enumerate() {
                        let width = rows.len() / d.k;
                        let partial = &d_w[k * stride + first..][..width];
                        sums_k.iter_mut().zip(partial).for_each(|(a, v)| *a += v);
                    }
                }
                for (j, row) in rows.chunks_exact_mut(d.k).enumerate() {
                    for (k, o) in row.iter_mut().enumerate() {
                        *o = F::from_f64(sums[k * NEURON_BLOCK + j]);
                    }
                }
            });
        bias_gradient(grad, d.k, d_bias_out);
        out
    }

    /// The backward pass of a narrow layer on a constant input into `out` (current gradients,
    /// weight gradient `[N, K]`, bias gradient): tasks own blocks of chunks across the batch.
    fn backward_constant<F: Real>(
        &self,
        currents: &[F],
        weights: &[F],
        grad: &[F],
        d: ProjectionDims,
        width: usize,
        out: &mut [F],
    ) {
        let padded = ChunkedWeights::new(weights, d.n, d.k, width);
        let form = ClosedForm::new(&self.cfg, self.steps);
        // Each sample's output gradients `[T][width]`, zero-padded past K: `[B][T][width]`.
        let mut per_sample = vec![F::zero(); d.batch * self.steps * width];
        per_sample
            .par_chunks_mut(self.steps * width)
            .enumerate()
            .for_each(|(b, rows)| {
                for (t, row) in rows.chunks_exact_mut(width).enumerate() {
                    row[..d.k].copy_from_slice(&grad[(t * d.batch + b) * d.k..][..d.k]);
                }
            });
        let (d_currents, rest) = out.split_at_mut(currents.len());
        let (d_weights, d_bias) = rest.split_at_mut(d.n * d.k);
        let (d_currents, d_weights) = (SharedMut::new(d_currents), SharedMut::new(d_weights));
        let blocks = (padded.n_pad() / CHUNK).div_ceil(CONSTANT_BLOCK_CHUNKS);
        (0..blocks).into_par_iter().for_each(|block| {
            let task = ConstantTask {
                currents,
                per_sample: &per_sample,
                d,
                block,
                d_currents,
                d_weights,
            };
            with_narrow_width!(
                width,
                backward_constant_task::<F>(self, &padded, task, &form)
            )
        });
        bias_gradient(grad, d.k, d_bias);
    }

    /// The AXPY kernel's backward pass for a fixed run of samples: their current gradients,
    /// written into `d_currents` (laid out as `currents`), and their partial weight gradient
    /// `[K][N]`.
    #[inline(always)]
    fn backward_samples<F: Real>(
        &self,
        weights_t: &[F],
        task: BackwardTask<F>,
        slope: impl Fn(F) -> F + Copy,
    ) -> TaskWeightGradient {
        let BackwardTask {
            currents,
            grad,
            d,
            samples,
            d_currents,
        } = task;
        let (beta, thr) = (F::from_f64(self.cfg.beta), F::from_f64(self.cfg.threshold));
        let zero = self.cfg.reset.is_zero();
        // The weight gradient `[K][N]`: one sample's steps summed in F, the samples in f64.
        let mut d_w = vec![0f64; d.k * d.n];
        let mut d_w_sample = vec![F::zero(); d.k * d.n];
        let rows = if self.constant { 1 } else { self.steps };
        let mut d_current = vec![F::zero(); rows * d.n];
        let mut carry = vec![F::zero(); d.n];
        let mut d_spikes = vec![F::zero(); self.steps * d.n];
        // Reused for every sample of the task; each step overwrites its rows.
        let mut membranes = vec![F::zero(); self.steps * d.n];
        let mut spikes = vec![F::zero(); self.steps * d.n];
        for b in samples {
            d_current.fill(F::zero());
            let mut state = self.start(d);
            for t in 0..self.steps {
                state.step(&currents[self.current_index(d, t, b, 0)..][..d.n]);
                membranes[t * d.n..][..d.n].copy_from_slice(&state.mem);
                spikes[t * d.n..][..d.n].copy_from_slice(&state.spiked);
            }
            carry.iter_mut().for_each(|v| *v = F::zero());
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
                let d_row = if self.constant {
                    &mut d_current[..]
                } else {
                    &mut d_current[t * d.n..][..d.n]
                };
                through_time(
                    &membranes[t * d.n..][..d.n],
                    &d_spikes[t * d.n..][..d.n],
                    &mut carry,
                    d_row,
                    [beta, thr],
                    [self.constant, zero],
                    slope,
                );
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
                *acc += WithDType::to_f64(*v);
            }
            for (t, row) in d_current.chunks_exact(d.n).enumerate() {
                // SAFETY: sample b's rows belong to this task alone.
                unsafe { self.gradient_row(&d_currents, d, t, b) }.copy_from_slice(row);
            }
        }
        d_w
    }
}

vectorized! {
    /// [`LifProject::forward_narrow_sample`], compiled for the CPU's widest vectors.
    fn forward_narrow<F: Real, const NK: usize>(
        op: &LifProject,
        currents: &[F],
        weights: &ChunkedWeights<F>,
        d: ProjectionDims,
        b: usize,
    ) -> Vec<F> {
        op.forward_narrow_sample::<F, NK>(currents, weights, d, b)
    }
}

vectorized! {
    /// [`LifProject::backward_narrow_samples`], compiled for the CPU's widest vectors.
    fn backward_narrow_task<F: Real, const NK: usize>(
        op: &LifProject,
        weights: &ChunkedWeights<F>,
        task: BackwardTask<F>,
        slope: impl Fn(F) -> F + Copy,
    ) -> TaskWeightGradient {
        op.backward_narrow_samples::<F, NK>(weights, task, slope)
    }
}

vectorized! {
    /// [`LifProject::backward_constant_block`], compiled for the CPU's widest vectors.
    fn backward_constant_task<F: Real, const NK: usize>(
        op: &LifProject,
        weights: &ChunkedWeights<F>,
        task: ConstantTask<F>,
        form: &ClosedForm<F>,
    ) {
        op.backward_constant_block::<F, NK>(weights, task, form)
    }
}

vectorized! {
    /// [`LifProject::forward_sample`], compiled for the CPU's widest vectors.
    fn forward_sample_task<F: Real>(
        op: &LifProject,
        currents: &[F],
        weights_t: &[F],
        d: ProjectionDims,
        b: usize,
    ) -> Vec<F> {
        op.forward_sample(currents, weights_t, d, b)
    }
}

vectorized! {
    /// [`LifProject::backward_samples`], compiled for the CPU's widest vectors.
    fn backward_samples_task<F: Real>(
        op: &LifProject,
        weights_t: &[F],
        task: BackwardTask<F>,
        slope: impl Fn(F) -> F + Copy,
    ) -> TaskWeightGradient {
        op.backward_samples(weights_t, task, slope)
    }
}

/// `$body` on the three storages' contiguous slices, all f32 or all f64, its result stored in
/// that type; an error for any other dtype mix.
macro_rules! on_float_slices {
    ([($s1:expr, $l1:expr), ($s2:expr, $l2:expr), ($s3:expr, $l3:expr)],
     |$a:ident, $b:ident, $c:ident| $body:expr) => {
        match ($s1, $s2, $s3) {
            (CpuStorage::F32($a), CpuStorage::F32($b), CpuStorage::F32($c)) => {
                let ($a, $b, $c) = (
                    contiguous($a, $l1)?,
                    contiguous($b, $l2)?,
                    contiguous($c, $l3)?,
                );
                CpuStorage::F32($body)
            }
            (CpuStorage::F64($a), CpuStorage::F64($b), CpuStorage::F64($c)) => {
                let ($a, $b, $c) = (
                    contiguous($a, $l1)?,
                    contiguous($b, $l2)?,
                    contiguous($c, $l3)?,
                );
                CpuStorage::F64($body)
            }
            _ => candle_core::bail!("LIF projection supports matching f32 or f64 tensors"),
        }
    };
}

impl CustomOp3 for LifProject {
    fn name(&self) -> &'static str {
        "lif-project"
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
        let d = self.dims(l1, l2)?;
        let out = on_float_slices!([(s1, l1), (s2, l2), (s3, l3)], |currents, weights, bias| {
            self.forward_kernel(currents, weights, bias, d)
        });
        Ok((out, Shape::from((self.steps, d.batch, d.k))))
    }

    fn bwd(
        &self,
        currents: &Tensor,
        weights: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let flat = currents.contiguous()?.apply_op3_no_bwd(
            &weights.contiguous()?,
            &grad_res.contiguous()?,
            &LifProjectBackward { forward: *self },
        )?;
        let (len, weight_len) = (currents.elem_count(), weights.elem_count());
        let d_currents = flat.narrow(0, 0, len)?.reshape(currents.shape())?;
        let d_weights = flat.narrow(0, len, weight_len)?.reshape(weights.shape())?;
        let d_bias = flat
            .narrow(0, len + weight_len, bias.elem_count())?
            .reshape(bias.shape())?;
        Ok((Some(d_currents), Some(d_weights), Some(d_bias)))
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
        let out = on_float_slices!([(s1, l1), (s2, l2), (s3, l3)], |currents, weights, grad| {
            f.backward_kernel(currents, weights, grad, d)
        });
        let len = l1.shape().elem_count() + d.n * d.k + d.k;
        Ok((out, Shape::from(len)))
    }
}

vectorized! {
    /// One step of backpropagation through time for a row of neurons:
    /// `dmem = dspike · slope(mem) + carry`, `carry ← β · dmem`, and `dmem` stored (sequence
    /// input) or summed over steps (constant input, `accumulate`) into `out`; under the zero
    /// reset (`zero`) the carry stops where the neuron spiked.
    fn through_time<F: Real>(
        mem: &[F],
        d_spike: &[F],
        carry: &mut [F],
        out: &mut [F],
        constants: [F; 2],
        accumulate_and_zero: [bool; 2],
        slope: impl Fn(F) -> F,
    ) {
        let [beta, thr] = constants;
        let [accumulate, zero] = accumulate_and_zero;
        let rows = mem
            .iter()
            .zip(d_spike)
            .zip(carry.iter_mut())
            .zip(out.iter_mut());
        for (((&m, &ds), c), o) in rows {
            let through = if zero { *c * kept_through_reset(m, thr, true) } else { *c };
            let dm = ds * slope(m) + through;
            *c = beta * dm;
            if accumulate {
                *o += dm;
            } else {
                *o = dm;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::lif::{lif_project_reference, Surrogate};
    use crate::test_support::{assert_close, flat, probe_loss};
    use candle_core::{DType, Device, Var};

    type Project = fn(&Tensor, &Tensor, &Tensor, &LifConfig) -> Result<Tensor>;

    fn probe(f: Project, currents: &Tensor, weights: &Tensor, c: &LifConfig) -> [Vec<f64>; 4] {
        let k = weights.dim(1).unwrap();
        let bias = Tensor::arange(0u32, k as u32, &Device::Cpu)
            .unwrap()
            .to_dtype(weights.dtype())
            .unwrap()
            .affine(0.1, -0.3)
            .unwrap();
        let (cv, wv, bv) = (
            Var::from_tensor(currents).unwrap(),
            Var::from_tensor(weights).unwrap(),
            Var::from_tensor(&bias).unwrap(),
        );
        let out = f(cv.as_tensor(), wv.as_tensor(), bv.as_tensor(), c).unwrap();
        let grads = probe_loss(&out).backward().unwrap();
        [
            flat(&out),
            flat(grads.get(cv.as_tensor()).unwrap()),
            flat(grads.get(wv.as_tensor()).unwrap()),
            flat(grads.get(bv.as_tensor()).unwrap()),
        ]
    }

    fn compare(dtype: DType, currents_shape: &[usize], k: usize, steps: usize) {
        compare_with(
            dtype,
            currents_shape,
            k,
            steps,
            LifConfig::default().surrogate,
        )
    }

    fn compare_with(
        dtype: DType,
        currents_shape: &[usize],
        k: usize,
        steps: usize,
        surrogate: Surrogate,
    ) {
        let c = LifConfig {
            time_steps: steps,
            surrogate,
            ..LifConfig::default()
        };
        compare_config(dtype, currents_shape, k, c);
    }

    fn compare_config(dtype: DType, currents_shape: &[usize], k: usize, c: LifConfig) {
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
            ("d bias", &fused[3], &reference[3]),
        ] {
            let context = format!("{dtype:?} {currents_shape:?}: fused vs reference {name}");
            assert_close(a, b, tol, 1e-12, &context);
        }
    }

    #[test]
    fn fused_projection_agrees_with_lif_then_matmul() {
        // Narrow kernels (K ≤ 16), each compiled width, partial chunks and blocks.
        compare(DType::F64, &[3, 300], 4, 6);
        compare(DType::F32, &[5, 700], 10, 25);
        compare(DType::F64, &[4, 2, 33], 3, 4);
        compare(DType::F32, &[7, 3, 520], 10, 7);
        compare(DType::F32, &[4, 270], 16, 9);
        compare(DType::F64, &[3, 2, 17], 13, 5);
        // Constant input over more samples than one run of weight-gradient sums (16), and
        // more neurons than one block of chunks.
        compare(DType::F32, &[40, 300], 10, 25);
        compare(DType::F64, &[33, 150], 4, 9);
        // The AXPY kernels (K > 16).
        compare(DType::F32, &[5, 600], 17, 12);
        compare(DType::F64, &[4, 3, 530], 24, 6);
        // The other surrogate, through both kernels and both input kinds.
        let fast_sigmoid = Surrogate::FastSigmoid { slope: 25.0 };
        compare_with(DType::F32, &[5, 300], 10, 8, fast_sigmoid);
        compare_with(DType::F64, &[3, 2, 40], 10, 5, fast_sigmoid);
        compare_with(DType::F32, &[4, 200], 20, 6, fast_sigmoid);
    }

    #[test]
    fn fused_projection_agrees_under_the_zero_reset() {
        let zero = |steps| LifConfig {
            time_steps: steps,
            reset: crate::layers::lif_config::Reset::Zero,
            ..LifConfig::default()
        };
        // Narrow on constant input (no closed form: the BPTT kernel sums the steps), narrow on
        // sequences, and the AXPY kernel on both.
        compare_config(DType::F32, &[40, 300], 10, zero(25));
        compare_config(DType::F64, &[5, 70], 4, zero(9));
        compare_config(DType::F32, &[7, 3, 520], 10, zero(7));
        compare_config(DType::F32, &[5, 600], 17, zero(12));
        compare_config(DType::F64, &[4, 3, 53], 24, zero(6));
    }

    #[test]
    fn vector_and_portable_kernels_agree_bit_for_bit() {
        const TEST: &str = "lif_projection::vector_and_portable_kernels_agree_bit_for_bit";
        let c = LifConfig::default();
        for (shape, k) in [(&[6, 300][..], 10), (&[4, 3, 70][..], 20)] {
            let currents = Tensor::randn(0.4f32, 0.8, shape, &Device::Cpu).unwrap();
            let n = shape[shape.len() - 1];
            let weights = Tensor::randn(0f32, 0.5, (n, k), &Device::Cpu).unwrap();
            let Some([portable, vector]) = crate::test_support::portable_and_vector(TEST, || {
                probe(lif_project_fused, &currents, &weights, &c)
            }) else {
                return;
            };
            assert_eq!(portable, vector, "{shape:?}, K = {k}");
        }
    }
}

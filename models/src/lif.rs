//! Leaky integrate-and-fire neurons over a whole sequence, with surrogate gradients.
//!
//! Semantics follow snnTorch's `Leaky` (subtractive reset, reset taken from the previous step
//! and carrying no gradient), so results compare with the paper's:
//!
//! ```text
//! mem[t] = β·mem[t−1] + I[t] − H(mem[t−1] − thr)·thr,   mem[−1] = 0
//! spk[t] = H(mem[t] − thr)
//! ```
//!
//! Two implementations agree exactly on spikes: [`lif_fused`], a `CustomOp` whose CPU kernel
//! runs the forward pass and the backward-through-time pass in one sweep each, multi-threaded
//! over neurons; and [`lif_reference`], plain Candle ops that every backend runs (CUDA, Metal).
//! [`lif`] picks the fused kernel on the CPU.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

use crate::simd::{Real, SharedMut};
use serde::{Deserialize, Serialize};

/// Stand-in derivative of the Heaviside step used in the backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Surrogate {
    /// snnTorch's default: `dS/dU = (α/2) / (1 + (π/2·α·U)²)`.
    Arctan { alpha: f64 },
    /// snnTorch's `fast_sigmoid`: `dS/dU = 1 / (1 + slope·|U|)²`.
    FastSigmoid { slope: f64 },
}

impl Default for Surrogate {
    fn default() -> Self {
        Surrogate::Arctan { alpha: 2.0 }
    }
}

impl Surrogate {
    /// `dS/dU` at `u = mem − thr`.
    pub fn derivative(self, u: f64) -> f64 {
        match self {
            Surrogate::Arctan { alpha } => {
                let x = std::f64::consts::FRAC_PI_2 * alpha * u;
                (alpha / 2.0) / (1.0 + x * x)
            }
            Surrogate::FastSigmoid { slope } => {
                let d = 1.0 + slope * u.abs();
                1.0 / (d * d)
            }
        }
    }

    /// The same derivative as tensor ops, for backends without the fused kernel.
    pub fn derivative_tensor(self, u: &Tensor) -> Result<Tensor> {
        match self {
            Surrogate::Arctan { alpha } => u
                .affine(std::f64::consts::FRAC_PI_2 * alpha, 0.0)?
                .sqr()?
                .affine(1.0, 1.0)?
                .recip()?
                .affine(alpha / 2.0, 0.0),
            Surrogate::FastSigmoid { slope } => u.abs()?.affine(slope, 1.0)?.sqr()?.recip(),
        }
    }

    fn validate(self) -> std::result::Result<(), String> {
        let (name, v) = match self {
            Surrogate::Arctan { alpha } => ("alpha", alpha),
            Surrogate::FastSigmoid { slope } => ("slope", slope),
        };
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "surrogate {name} must be positive and finite, got {v}"
            ))
        }
    }
}

/// LIF neuron parameters (not trained, as in the paper) and the simulation length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LifConfig {
    pub beta: f64,
    pub threshold: f64,
    pub surrogate: Surrogate,
    /// Simulation steps T; the image is a constant input current at every step.
    pub time_steps: usize,
}

impl Default for LifConfig {
    fn default() -> Self {
        LifConfig {
            beta: 0.95,
            threshold: 1.0,
            surrogate: Surrogate::default(),
            time_steps: 25,
        }
    }
}

impl LifConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.beta.is_finite() && (0.0..=1.0).contains(&self.beta)) {
            return Err(format!("beta must lie in [0, 1], got {}", self.beta));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(format!(
                "threshold must be positive, got {}",
                self.threshold
            ));
        }
        if self.time_steps == 0 {
            return Err("time_steps must be at least 1".into());
        }
        self.surrogate.validate()
    }
}

/// Output of a LIF layer: spikes `[T, B, N]`, and the membranes when asked for.
#[derive(Debug, Clone)]
pub struct LifOutput {
    pub spikes: Tensor,
    pub membrane: Option<Tensor>,
}

/// Runs LIF neurons: the fused kernel on the CPU, plain ops elsewhere.
///
/// `currents` is either a sequence `[T, B, N]`, or `[B, N]` for a current that is the same at
/// each of `cfg.time_steps` steps (direct image input) — then nothing is copied T times and
/// the gradient comes back already summed over time. `with_membrane` also returns the
/// membrane potentials (the output layer's loss needs them; hidden layers do not).
pub fn lif(currents: &Tensor, cfg: &LifConfig, with_membrane: bool) -> Result<LifOutput> {
    if currents.device().is_cpu() && matches!(currents.dtype(), DType::F32 | DType::F64) {
        lif_fused(currents, cfg, with_membrane)
    } else {
        lif_reference(currents, cfg, with_membrane)
    }
}

/// `(steps, constant)` for a `[T, B, N]` or `[B, N]` input.
pub(crate) fn sequence_shape(currents: &Tensor, cfg: &LifConfig) -> Result<(usize, bool)> {
    match currents.rank() {
        3 => Ok((currents.dim(0)?, false)),
        2 => Ok((cfg.time_steps, true)),
        r => candle_core::bail!("LIF currents must be [T, B, N] or [B, N], got rank {r}"),
    }
}

/// Plain Candle ops, one step at a time; autograd provides backpropagation through time.
pub fn lif_reference(currents: &Tensor, cfg: &LifConfig, with_membrane: bool) -> Result<LifOutput> {
    let (steps, constant) = sequence_shape(currents, cfg)?;
    let shape = if constant {
        currents.dims().to_vec()
    } else {
        currents.dims()[1..].to_vec()
    };
    let mut mem = Tensor::zeros(shape, currents.dtype(), currents.device())?;
    let mut previous_spikes = mem.clone();
    let mut spikes = Vec::with_capacity(steps);
    let mut membranes = Vec::with_capacity(steps);
    for t in 0..steps {
        let input = if constant {
            currents.clone()
        } else {
            currents.get(t)?
        };
        // The reset is detached, as in snnTorch: it shapes the value, not the gradient.
        let reset = previous_spikes.detach().affine(cfg.threshold, 0.0)?;
        mem = mem.affine(cfg.beta, 0.0)?.add(&input)?.sub(&reset)?;
        let u = mem.affine(1.0, -cfg.threshold)?;
        let step = u.gt(0.0)?.to_dtype(u.dtype())?;
        // Value H(u), gradient s(u): s(u)·u carries the gradient, the rest is detached.
        let slope = cfg.surrogate.derivative_tensor(&u)?.detach();
        let carrier = slope.mul(&u)?;
        let spk = (&carrier + (step - carrier.detach())?.detach())?;
        previous_spikes = spk.clone();
        spikes.push(spk);
        if with_membrane {
            membranes.push(mem.clone());
        }
    }
    Ok(LifOutput {
        spikes: Tensor::stack(&spikes, 0)?,
        membrane: if with_membrane {
            Some(Tensor::stack(&membranes, 0)?)
        } else {
            None
        },
    })
}

/// The fused CPU kernel (falls back to [`lif_reference`] off the CPU).
pub fn lif_fused(currents: &Tensor, cfg: &LifConfig, with_membrane: bool) -> Result<LifOutput> {
    if !currents.device().is_cpu() {
        return lif_reference(currents, cfg, with_membrane);
    }
    let (steps, constant) = sequence_shape(currents, cfg)?;
    let op = LifForward {
        cfg: *cfg,
        steps,
        constant,
        with_membrane,
    };
    let out = currents.contiguous()?.apply_op1(op)?;
    Ok(if with_membrane {
        LifOutput {
            spikes: out.get(0)?,
            membrane: Some(out.get(1)?),
        }
    } else {
        LifOutput {
            spikes: out,
            membrane: None,
        }
    })
}

/// Currents → spikes `[T, B, N]`, or `[2, T, B, N]` (spikes, membranes) with `with_membrane`.
#[derive(Clone, Copy)]
struct LifForward {
    cfg: LifConfig,
    steps: usize,
    /// The input is `[B, N]`, the same at every step.
    constant: bool,
    with_membrane: bool,
}

/// `(currents, grad of the forward output)` → grad of the currents. Membranes are recomputed
/// from the currents chunk by chunk (cheap, cache-resident) instead of being kept from the
/// forward pass, so hidden layers never materialise a `[T, B, N]` membrane tensor.
struct LifBackward {
    forward: LifForward,
}

/// Neurons per parallel task: long enough for the inner loop to vectorise, short enough
/// that T × chunk membrane values stay in cache.
const NEURON_CHUNK: usize = 512;

/// One LIF update: `(membrane, spike)` after a step from the previous ones.
///
/// The same values as [`lif_reference`]'s `(β·mem + 0 + I) − s·thr` and `mem − thr > 0`, so
/// every kernel's spikes agree exactly with it, in fewer vector operations: adding 0 only
/// turns −0 into +0; `s·thr` is exact (s is 0 or 1), so the fused `−s·thr + m` rounds once,
/// as the subtraction does; and `m − thr > 0` exactly when `m > thr` (gradual underflow).
#[inline(always)]
pub(crate) fn lif_step<F: Real>(mem: F, spiked: F, current: F, beta: F, thr: F) -> (F, F) {
    let m = (-spiked).mul_add(thr, mem * beta + current);
    (m, if m > thr { F::one() } else { F::zero() })
}

/// Simulates neurons `neurons` of a `width`-wide layer for `steps` steps, calling
/// `emit(t, k, spike, mem)` for every step and neuron in time order; `currents` is `[T, width]`,
/// or `[width]` the same at every step (`constant`). Inlined, so kernels compiled for wider
/// vectors get hardware multiply-adds in [`lif_step`].
#[inline(always)]
pub(crate) fn simulate<F: Real>(
    cfg: &LifConfig,
    steps: usize,
    constant: bool,
    currents: &[F],
    width: usize,
    neurons: std::ops::Range<usize>,
    mut emit: impl FnMut(usize, usize, F, F),
) {
    let (beta, thr) = (F::from_f64(cfg.beta), F::from_f64(cfg.threshold));
    let mut mem = vec![F::zero(); neurons.len()];
    let mut spiked = vec![F::zero(); neurons.len()];
    for t in 0..steps {
        let row = if constant { 0 } else { t * width };
        for (j, k) in neurons.clone().enumerate() {
            let (m, s) = lif_step(mem[j], spiked[j], currents[row + k], beta, thr);
            mem[j] = m;
            spiked[j] = s;
            emit(t, k, s, m);
        }
    }
}

impl LifForward {
    /// [`simulate`] with this op's configuration.
    fn simulate<F: Real>(
        &self,
        currents: &[F],
        width: usize,
        start: usize,
        end: usize,
        emit: impl FnMut(usize, usize, F, F),
    ) {
        simulate(
            &self.cfg,
            self.steps,
            self.constant,
            currents,
            width,
            start..end,
            emit,
        );
    }

    fn width(&self, len: usize) -> usize {
        if self.constant {
            len
        } else {
            len / self.steps
        }
    }

    fn forward_kernel<F: Real>(&self, currents: &[F]) -> Vec<F> {
        let width = self.width(currents.len());
        let plane = self.steps * width;
        let mut out = vec![F::zero(); if self.with_membrane { 2 * plane } else { plane }];
        let out_ptr = SharedMut::new(&mut out);
        let with_membrane = self.with_membrane;
        (0..width.div_ceil(NEURON_CHUNK))
            .into_par_iter()
            .for_each(|c| {
                let start = c * NEURON_CHUNK;
                let end = (start + NEURON_CHUNK).min(width);
                self.simulate(currents, width, start, end, |t, k, s, m| {
                    let i = t * width + k;
                    // SAFETY: neuron k (at every step) belongs to this chunk only.
                    unsafe {
                        out_ptr.write(i, s);
                        if with_membrane {
                            out_ptr.write(plane + i, m);
                        }
                    }
                });
            });
        out
    }

    fn backward_kernel<F: Real>(&self, currents: &[F], grad: &[F]) -> Vec<F> {
        let width = self.width(currents.len());
        let plane = self.steps * width;
        let mut out = vec![F::zero(); currents.len()];
        let out_ptr = SharedMut::new(&mut out);
        let (beta, thr, surrogate) = (self.cfg.beta, self.cfg.threshold, self.cfg.surrogate);
        (0..width.div_ceil(NEURON_CHUNK))
            .into_par_iter()
            .for_each(|c| {
                let start = c * NEURON_CHUNK;
                let end = (start + NEURON_CHUNK).min(width);
                let n = end - start;
                let mut membranes = vec![F::zero(); self.steps * n];
                self.simulate(currents, width, start, end, |t, k, _, m| {
                    membranes[t * n + k - start] = m;
                });
                // dL/dmem[t+1] flowing back through the leak β, and the summed input gradient.
                let mut carry = vec![0f64; n];
                let mut total = vec![0f64; n];
                for t in (0..self.steps).rev() {
                    for (j, k) in (start..end).enumerate() {
                        let i = t * width + k;
                        let u = membranes[t * n + j].to_f64() - thr;
                        let mut d = grad[i].to_f64() * surrogate.derivative(u) + carry[j];
                        if self.with_membrane {
                            d += grad[plane + i].to_f64();
                        }
                        carry[j] = beta * d;
                        if self.constant {
                            total[j] += d;
                        } else {
                            // SAFETY: neuron k belongs to this chunk only.
                            unsafe { out_ptr.write(i, F::from_f64(d)) };
                        }
                    }
                }
                if self.constant {
                    for (j, k) in (start..end).enumerate() {
                        // SAFETY: neuron k belongs to this chunk only.
                        unsafe { out_ptr.write(k, F::from_f64(total[j])) };
                    }
                }
            });
        out
    }
}

pub(crate) fn contiguous<'a, F: WithDType>(s: &'a [F], layout: &Layout) -> Result<&'a [F]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&s[a..b]),
        None => candle_core::bail!("LIF kernel expects contiguous input"),
    }
}

impl CustomOp1 for LifForward {
    fn name(&self) -> &'static str {
        "lif-forward"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = layout.shape().dims();
        let mut shape = Vec::with_capacity(4);
        if self.with_membrane {
            shape.push(2);
        }
        if self.constant {
            shape.push(self.steps);
        }
        shape.extend_from_slice(dims);
        let out = match storage {
            CpuStorage::F32(s) => CpuStorage::F32(self.forward_kernel(contiguous(s, layout)?)),
            CpuStorage::F64(s) => CpuStorage::F64(self.forward_kernel(contiguous(s, layout)?)),
            _ => candle_core::bail!("LIF kernel supports f32 and f64 currents"),
        };
        Ok((out, Shape::from(shape)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = arg
            .contiguous()?
            .apply_op2_no_bwd(&grad_res.contiguous()?, &LifBackward { forward: *self })?;
        Ok(Some(grad))
    }
}

impl CustomOp2 for LifBackward {
    fn name(&self) -> &'static str {
        "lif-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let f = &self.forward;
        let plane = f.steps * f.width(l1.shape().elem_count());
        let expected = if f.with_membrane { 2 * plane } else { plane };
        if l2.shape().elem_count() != expected {
            candle_core::bail!(
                "LIF backward: gradient {:?} does not match currents {:?}",
                l2.shape(),
                l1.shape()
            );
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(c), CpuStorage::F32(g)) => {
                CpuStorage::F32(f.backward_kernel(contiguous(c, l1)?, contiguous(g, l2)?))
            }
            (CpuStorage::F64(c), CpuStorage::F64(g)) => {
                CpuStorage::F64(f.backward_kernel(contiguous(c, l1)?, contiguous(g, l2)?))
            }
            _ => candle_core::bail!("LIF backward supports matching f32 or f64 tensors"),
        };
        Ok((out, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{flat, probe_loss};
    use candle_core::{Device, Var};

    fn cfg(surrogate: Surrogate) -> LifConfig {
        LifConfig {
            surrogate,
            ..LifConfig::default()
        }
    }

    #[test]
    fn hand_computed_five_steps() {
        // One neuron, β = 0.95, thr = 1. Currents 0.6, 0.6, 0.2, 1.5, 0:
        // mem0 = 0.6                      → no spike
        // mem1 = 0.57 + 0.6 = 1.17        → spike
        // mem2 = 1.1115 + 0.2 − 1 = 0.3115 → no spike (reset from step 1)
        // mem3 = 0.295925 + 1.5 = 1.795925 → spike
        // mem4 = 1.70612875 + 0 − 1 = 0.70612875 → no spike
        let currents = Tensor::new(&[0.6f64, 0.6, 0.2, 1.5, 0.0], &Device::Cpu)
            .unwrap()
            .reshape((5, 1, 1))
            .unwrap();
        let expect_mem = [0.6, 1.17, 0.3115, 1.795925, 0.70612875];
        let expect_spk = [0.0, 1.0, 0.0, 1.0, 0.0];
        let c = LifConfig::default();
        for out in [
            lif_fused(&currents, &c, true).unwrap(),
            lif_reference(&currents, &c, true).unwrap(),
        ] {
            let mem = out
                .membrane
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let spk = out.spikes.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            for t in 0..5 {
                assert!(
                    (mem[t] - expect_mem[t]).abs() < 1e-12,
                    "mem[{t}] = {}",
                    mem[t]
                );
            }
            assert_eq!(spk, expect_spk);
        }
    }

    #[test]
    fn surrogates_match_their_formulas() {
        let u = [-1.0, -0.2, 0.0, 0.05, 0.7];
        let ut = Tensor::new(&u, &Device::Cpu).unwrap();
        let arctan = Surrogate::Arctan { alpha: 2.0 };
        let fast = Surrogate::FastSigmoid { slope: 25.0 };
        let a = arctan
            .derivative_tensor(&ut)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let f = fast
            .derivative_tensor(&ut)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for (i, &x) in u.iter().enumerate() {
            let pi = std::f64::consts::PI;
            let want_a = 1.0 / (1.0 + (pi / 2.0 * 2.0 * x).powi(2));
            let want_f = 1.0 / (1.0 + 25.0 * x.abs()).powi(2);
            assert!((arctan.derivative(x) - want_a).abs() < 1e-15);
            assert!((a[i] - want_a).abs() < 1e-15);
            assert!((fast.derivative(x) - want_f).abs() < 1e-15);
            assert!((f[i] - want_f).abs() < 1e-15);
        }
        // The arctan surrogate peaks at α/2 at the threshold.
        assert_eq!(arctan.derivative(0.0), 1.0);
    }

    type Lif = fn(&Tensor, &LifConfig, bool) -> Result<LifOutput>;

    /// Spikes, membranes and the gradient of a random linear probe of both, flattened.
    fn probe(
        f: Lif,
        currents: &Tensor,
        c: &LifConfig,
        with_membrane: bool,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let var = Var::from_tensor(currents).unwrap();
        let out = f(var.as_tensor(), c, with_membrane).unwrap();
        let mut loss = probe_loss(&out.spikes);
        let mut membrane = vec![];
        if let Some(m) = &out.membrane {
            loss = (loss + probe_loss(m)).unwrap();
            membrane = flat(m);
        }
        let grads = loss.backward().unwrap();
        (
            flat(&out.spikes),
            membrane,
            flat(grads.get(var.as_tensor()).unwrap()),
        )
    }

    fn compare(dtype: DType, c: LifConfig, currents_shape: &[usize], with_membrane: bool) {
        let currents = Tensor::randn(0.3f64, 0.8, currents_shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let (s1, m1, g1) = probe(lif_fused, &currents, &c, with_membrane);
        let (s2, m2, g2) = probe(lif_reference, &currents, &c, with_membrane);
        assert_eq!(s1, s2, "{dtype:?}: spikes differ");
        assert!(
            s1.contains(&1.0) && s1.contains(&0.0),
            "degenerate test input"
        );
        assert_eq!(m1, m2, "{dtype:?}: membranes differ");
        assert_eq!(g1.len(), currents.elem_count());
        // Relative to the gradient's scale: the f32 reference accumulates through time in
        // f32 while the kernel carries in f64, so tiny entries that are differences of O(1)
        // terms carry f32 rounding noise. In f64 both agree element by element.
        let scale = g1.iter().fold(0f64, |m, g| m.max(g.abs()));
        for (i, (a, b)) in g1.iter().zip(&g2).enumerate() {
            let tolerance = match dtype {
                DType::F64 => 1e-10 * a.abs().max(b.abs()).max(1e-12),
                _ => 1e-5 * scale,
            };
            assert!(
                (a - b).abs() <= tolerance,
                "{dtype:?} {:?}: gradient {i}: fused {a} vs reference {b}",
                c.surrogate
            );
        }
    }

    #[test]
    fn fused_and_reference_agree_on_sequences() {
        // Wider than one neuron chunk, so the parallel split is exercised too.
        compare(DType::F32, LifConfig::default(), &[25, 3, 700], true);
        compare(DType::F32, LifConfig::default(), &[25, 3, 700], false);
        compare(DType::F64, LifConfig::default(), &[7, 2, 9], true);
        let fast = cfg(Surrogate::FastSigmoid { slope: 25.0 });
        compare(DType::F32, fast, &[10, 4, 300], true);
    }

    #[test]
    fn fused_and_reference_agree_on_constant_input() {
        let c = LifConfig {
            time_steps: 12,
            ..LifConfig::default()
        };
        compare(DType::F32, c, &[5, 600], false);
        compare(DType::F32, c, &[5, 600], true);
        compare(DType::F64, c, &[3, 4], true);
    }

    #[test]
    fn constant_input_equals_the_repeated_sequence() {
        let c = LifConfig {
            time_steps: 9,
            ..LifConfig::default()
        };
        let current = Tensor::randn(0.2f32, 0.9, (4, 50), &Device::Cpu).unwrap();
        let repeated = current
            .unsqueeze(0)
            .unwrap()
            .broadcast_as((9, 4, 50))
            .unwrap()
            .contiguous()
            .unwrap();
        for f in [lif_fused as Lif, lif_reference as Lif] {
            let (s1, m1, g1) = probe(f, &current, &c, true);
            let (s2, m2, g2) = probe(f, &repeated, &c, true);
            assert_eq!(s1, s2);
            assert_eq!(m1, m2);
            // The constant form's gradient is the repeated form's summed over time.
            let summed: Vec<f64> = (0..200)
                .map(|k| (0..9).map(|t| g2[t * 200 + k]).sum())
                .collect();
            for (a, b) in g1.iter().zip(&summed) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn configuration_is_validated() {
        assert!(LifConfig::default().validate().is_ok());
        let bad_beta = LifConfig {
            beta: 1.5,
            ..LifConfig::default()
        };
        assert!(bad_beta.validate().is_err());
        let no_steps = LifConfig {
            time_steps: 0,
            ..LifConfig::default()
        };
        assert!(no_steps.validate().is_err());
        assert!(cfg(Surrogate::Arctan { alpha: -1.0 }).validate().is_err());
    }
}

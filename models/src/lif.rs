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

/// Spikes and membrane potentials, both `[T, B, N]`.
#[derive(Debug, Clone)]
pub struct LifOutput {
    pub spikes: Tensor,
    pub membrane: Tensor,
}

/// Runs LIF neurons over `currents` `[T, B, N]`: the fused kernel on the CPU, plain ops
/// elsewhere.
pub fn lif(currents: &Tensor, cfg: &LifConfig) -> Result<LifOutput> {
    if currents.device().is_cpu() && matches!(currents.dtype(), DType::F32 | DType::F64) {
        lif_fused(currents, cfg)
    } else {
        lif_reference(currents, cfg)
    }
}

/// Plain Candle ops, one step at a time; autograd provides backpropagation through time.
pub fn lif_reference(currents: &Tensor, cfg: &LifConfig) -> Result<LifOutput> {
    let (steps, batch, n) = currents.dims3()?;
    let mut mem = Tensor::zeros((batch, n), currents.dtype(), currents.device())?;
    let mut previous_spikes = mem.clone();
    let mut spikes = Vec::with_capacity(steps);
    let mut membranes = Vec::with_capacity(steps);
    for t in 0..steps {
        // The reset is detached, as in snnTorch: it shapes the value, not the gradient.
        let reset = previous_spikes.detach().affine(cfg.threshold, 0.0)?;
        mem = mem
            .affine(cfg.beta, 0.0)?
            .add(&currents.get(t)?)?
            .sub(&reset)?;
        let u = mem.affine(1.0, -cfg.threshold)?;
        let step = u.gt(0.0)?.to_dtype(u.dtype())?;
        // Value H(u), gradient s(u): s(u)·u carries the gradient, the rest is detached.
        let slope = cfg.surrogate.derivative_tensor(&u)?.detach();
        let carrier = slope.mul(&u)?;
        let spk = (&carrier + (step - carrier.detach())?.detach())?;
        previous_spikes = spk.clone();
        spikes.push(spk);
        membranes.push(mem.clone());
    }
    Ok(LifOutput {
        spikes: Tensor::stack(&spikes, 0)?,
        membrane: Tensor::stack(&membranes, 0)?,
    })
}

/// The fused CPU kernel (falls back to [`lif_reference`] off the CPU).
pub fn lif_fused(currents: &Tensor, cfg: &LifConfig) -> Result<LifOutput> {
    if !currents.device().is_cpu() {
        return lif_reference(currents, cfg);
    }
    currents.dims3()?;
    let both = currents.contiguous()?.apply_op1(LifForward { cfg: *cfg })?;
    Ok(LifOutput {
        spikes: both.get(0)?,
        membrane: both.get(1)?,
    })
}

/// `[T, B, N]` currents → `[2, T, B, N]`: spikes, then membranes.
struct LifForward {
    cfg: LifConfig,
}

/// `(result [2, T, B, N], grad of result [2, T, B, N])` → grad of the currents `[T, B, N]`.
struct LifBackward {
    cfg: LifConfig,
}

/// Neurons per parallel task: long enough for the inner loop to vectorise, short enough
/// that 2 × T × chunk values stay in cache.
const NEURON_CHUNK: usize = 1024;

/// A raw pointer that may cross threads: every task below writes a disjoint set of indices.
#[derive(Clone, Copy)]
struct SharedMut<F>(*mut F);
unsafe impl<F> Send for SharedMut<F> {}
unsafe impl<F> Sync for SharedMut<F> {}

impl<F> SharedMut<F> {
    /// # Safety
    /// `i` must be in bounds and written by no other task.
    unsafe fn write(self, i: usize, v: F) {
        unsafe { *self.0.add(i) = v }
    }
}

fn forward_kernel<F: WithDType>(currents: &[F], steps: usize, cfg: &LifConfig) -> Vec<F> {
    let width = currents.len() / steps;
    let mut out = vec![F::zero(); 2 * currents.len()];
    let out_ptr = SharedMut(out.as_mut_ptr());
    let (beta, thr) = (F::from_f64(cfg.beta), F::from_f64(cfg.threshold));
    let minus_thr = F::from_f64(-cfg.threshold);
    let mem_offset = currents.len();
    (0..width.div_ceil(NEURON_CHUNK))
        .into_par_iter()
        .for_each(|c| {
            let start = c * NEURON_CHUNK;
            let end = (start + NEURON_CHUNK).min(width);
            let mut mem = vec![F::zero(); end - start];
            let mut spiked = vec![F::zero(); end - start];
            for t in 0..steps {
                let row = t * width;
                for (j, k) in (start..end).enumerate() {
                    // Same operation order as `lif_reference`, so spikes agree exactly.
                    let m = mem[j] * beta + F::zero() + currents[row + k] - spiked[j] * thr;
                    let u = m * F::one() + minus_thr;
                    let s = if u > F::zero() { F::one() } else { F::zero() };
                    mem[j] = m;
                    spiked[j] = s;
                    // SAFETY: index row + k (and its membrane twin) belongs to this chunk only.
                    unsafe {
                        out_ptr.write(row + k, s);
                        out_ptr.write(mem_offset + row + k, m);
                    }
                }
            }
        });
    out
}

fn backward_kernel<F: WithDType>(
    result: &[F],
    grad: &[F],
    steps: usize,
    cfg: &LifConfig,
) -> Vec<F> {
    let len = result.len() / 2;
    let width = len / steps;
    let mut out = vec![F::zero(); len];
    let out_ptr = SharedMut(out.as_mut_ptr());
    let (membranes, grad_spikes, grad_membranes) = (&result[len..], &grad[..len], &grad[len..]);
    (0..width.div_ceil(NEURON_CHUNK))
        .into_par_iter()
        .for_each(|c| {
            let start = c * NEURON_CHUNK;
            let end = (start + NEURON_CHUNK).min(width);
            // dL/dmem[t+1] flowing back through the leak β.
            let mut carry = vec![0f64; end - start];
            for t in (0..steps).rev() {
                let row = t * width;
                for (j, k) in (start..end).enumerate() {
                    let i = row + k;
                    let u = membranes[i].to_f64() - cfg.threshold;
                    let d = grad_membranes[i].to_f64()
                        + grad_spikes[i].to_f64() * cfg.surrogate.derivative(u)
                        + carry[j];
                    carry[j] = cfg.beta * d;
                    // SAFETY: index i belongs to this chunk only.
                    unsafe { out_ptr.write(i, F::from_f64(d)) };
                }
            }
        });
    out
}

fn contiguous<'a, F: WithDType>(s: &'a [F], layout: &Layout) -> Result<&'a [F]> {
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
        let (steps, batch, n) = layout.shape().dims3()?;
        let shape = Shape::from((2, steps, batch, n));
        let out = match storage {
            CpuStorage::F32(s) => {
                CpuStorage::F32(forward_kernel(contiguous(s, layout)?, steps, &self.cfg))
            }
            CpuStorage::F64(s) => {
                CpuStorage::F64(forward_kernel(contiguous(s, layout)?, steps, &self.cfg))
            }
            _ => candle_core::bail!("LIF kernel supports f32 and f64 currents"),
        };
        Ok((out, shape))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad = res
            .contiguous()?
            .apply_op2_no_bwd(&grad_res.contiguous()?, &LifBackward { cfg: self.cfg })?;
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
        let (_, steps, batch, n) = l1.shape().dims4()?;
        if l1.shape() != l2.shape() {
            candle_core::bail!(
                "LIF backward: result {:?} vs gradient {:?}",
                l1.shape(),
                l2.shape()
            );
        }
        let shape = Shape::from((steps, batch, n));
        let out = match (s1, s2) {
            (CpuStorage::F32(r), CpuStorage::F32(g)) => CpuStorage::F32(backward_kernel(
                contiguous(r, l1)?,
                contiguous(g, l2)?,
                steps,
                &self.cfg,
            )),
            (CpuStorage::F64(r), CpuStorage::F64(g)) => CpuStorage::F64(backward_kernel(
                contiguous(r, l1)?,
                contiguous(g, l2)?,
                steps,
                &self.cfg,
            )),
            _ => candle_core::bail!("LIF backward supports matching f32 or f64 tensors"),
        };
        Ok((out, shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        for out in [
            lif_fused(&currents, &LifConfig::default()).unwrap(),
            lif_reference(&currents, &LifConfig::default()).unwrap(),
        ] {
            let mem = out
                .membrane
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

    fn compare(dtype: DType, surrogate: Surrogate, steps: usize, batch: usize, n: usize) {
        let dev = Device::Cpu;
        let currents = Tensor::randn(0.3f64, 0.8, (steps, batch, n), &dev)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let probe_s = Tensor::randn(0f64, 1.0, (steps, batch, n), &dev)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let probe_m = Tensor::randn(0f64, 1.0, (steps, batch, n), &dev)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let c = cfg(surrogate);
        let run = |f: fn(&Tensor, &LifConfig) -> Result<LifOutput>| {
            let var = Var::from_tensor(&currents).unwrap();
            let out = f(var.as_tensor(), &c).unwrap();
            let loss = (out.spikes.mul(&probe_s).unwrap().sum_all().unwrap()
                + out.membrane.mul(&probe_m).unwrap().sum_all().unwrap())
            .unwrap();
            let grads = loss.backward().unwrap();
            let g = grads
                .get(var.as_tensor())
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap();
            let flat = |t: &Tensor| {
                t.to_dtype(DType::F64)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap()
            };
            (flat(&out.spikes), flat(&out.membrane), flat(&g))
        };
        let (s1, m1, g1) = run(lif_fused);
        let (s2, m2, g2) = run(lif_reference);
        assert_eq!(s1, s2, "{dtype:?}: spikes differ");
        assert!(s1.iter().any(|&s| s == 1.0) && s1.iter().any(|&s| s == 0.0));
        assert_eq!(m1, m2, "{dtype:?}: membranes differ");
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
                "{dtype:?} {surrogate:?}: gradient {i}: fused {a} vs reference {b}"
            );
        }
    }

    #[test]
    fn fused_and_reference_agree_in_f32_and_f64() {
        // Wider than one neuron chunk, so the parallel split is exercised too.
        compare(DType::F32, Surrogate::default(), 25, 3, 700);
        compare(DType::F64, Surrogate::default(), 7, 2, 9);
        compare(
            DType::F32,
            Surrogate::FastSigmoid { slope: 25.0 },
            10,
            4,
            300,
        );
    }

    #[test]
    fn configuration_is_validated() {
        assert!(LifConfig::default().validate().is_ok());
        assert!(LifConfig {
            beta: 1.5,
            ..LifConfig::default()
        }
        .validate()
        .is_err());
        assert!(LifConfig {
            time_steps: 0,
            ..LifConfig::default()
        }
        .validate()
        .is_err());
        assert!(cfg(Surrogate::Arctan { alpha: -1.0 }).validate().is_err());
    }
}

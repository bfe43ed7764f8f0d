//! The LIF recurrence of [`crate::layers::lif`] as one CPU op: the forward pass and the
//! backward-through-time pass in one sweep each, multi-threaded over neurons, with the
//! membranes recomputed in the backward pass instead of stored. Its scalar step
//! ([`lif_step`]) and per-neuron simulation ([`simulate`]) are shared by the other spiking
//! kernels, so all of them produce the same spikes as the plain ops.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::contiguous_values;
use super::simd::{Real, SharedMut};
use crate::layers::lif_config::{sequence_shape, LifConfig, LifOutput};

/// [`crate::layers::lif::lif`] on the CPU.
pub fn lif_fused(currents: &Tensor, cfg: &LifConfig, with_membrane: bool) -> Result<LifOutput> {
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
/// The same values as [`crate::layers::lif::lif_reference`]'s `(β·mem + 0 + I) − s·thr` and
/// `mem − thr > 0`, so every kernel's spikes agree exactly with it, in fewer vector operations:
/// adding 0 only
/// turns −0 into +0; `s·thr` is exact (s is 0 or 1), so the fused `−s·thr + m` rounds once,
/// as the subtraction does; and `m − thr > 0` exactly when `m > thr` (gradual underflow).
///
/// With the zero reset (`zero`) the state is the membrane before the reset, so
/// `(1 − s)·(β·mem) + I` — exact products, one rounding, as the reference's `(β·mem)·(1 − s) + I`
/// — is the next membrane whether or not the neuron spiked at the step before.
#[inline(always)]
pub(crate) fn lif_step<F: Real>(
    mem: F,
    spiked: F,
    current: F,
    beta: F,
    thr: F,
    zero: bool,
) -> (F, F) {
    let m = if zero {
        (F::one() - spiked) * (mem * beta) + current
    } else {
        (-spiked).mul_add(thr, mem * beta + current)
    };
    (m, if m > thr { F::one() } else { F::zero() })
}

/// What a step's gradient keeps of what flows through the membrane (the leak's carry, and the
/// reported membrane's own gradient): all of it, except after a spike under the zero reset,
/// where the membrane was set to 0 (a detached reset, as the subtraction is).
#[inline(always)]
pub(crate) fn kept_through_reset<F: Real>(mem: F, thr: F, zero: bool) -> F {
    if zero && mem > thr {
        F::zero()
    } else {
        F::one()
    }
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
    let zero = cfg.reset.is_zero();
    let mut mem = vec![F::zero(); neurons.len()];
    let mut spiked = vec![F::zero(); neurons.len()];
    for t in 0..steps {
        let row = if constant { 0 } else { t * width };
        for (j, k) in neurons.clone().enumerate() {
            let (m, s) = lif_step(mem[j], spiked[j], currents[row + k], beta, thr, zero);
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
        let zero = self.cfg.reset.is_zero();
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
                            // Under the zero reset the membrane reported is after it.
                            let m = if zero { (F::one() - s) * m } else { m };
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
        let (beta, thr) = (self.cfg.beta, self.cfg.threshold);
        let thr_f = F::from_f64(thr);
        let slope = self.cfg.surrogate.form().slope::<f64>();
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
                        let m = membranes[t * n + j].to_f64();
                        let d = if self.cfg.reset.is_zero() {
                            let mut through = carry[j];
                            if self.with_membrane {
                                through += grad[plane + i].to_f64();
                            }
                            // The spike as the forward pass decided it, in F.
                            let kept = kept_through_reset(membranes[t * n + j], thr_f, true);
                            grad[i].to_f64() * slope(m - thr) + through * kept.to_f64()
                        } else {
                            let mut d = grad[i].to_f64() * slope(m - thr) + carry[j];
                            if self.with_membrane {
                                d += grad[plane + i].to_f64();
                            }
                            d
                        };
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

/// A LIF kernel input's values.
pub(crate) fn contiguous<'a, F: WithDType>(s: &'a [F], layout: &Layout) -> Result<&'a [F]> {
    contiguous_values(s, layout, "LIF kernel")
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
    use crate::layers::lif::{lif_reference, Surrogate};
    use crate::test_support::{flat, probe_loss};
    use candle_core::{DType, Device, Var};

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
        let fast = LifConfig::with_surrogate(Surrogate::FastSigmoid { slope: 25.0 });
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
    fn fused_and_reference_agree_under_the_zero_reset() {
        let zero = LifConfig {
            reset: crate::layers::lif_config::Reset::Zero,
            time_steps: 12,
            ..LifConfig::default()
        };
        compare(DType::F32, zero, &[25, 3, 700], true);
        compare(DType::F32, zero, &[25, 3, 700], false);
        compare(DType::F64, zero, &[7, 2, 9], true);
        compare(DType::F32, zero, &[5, 600], true);
        compare(DType::F64, zero, &[3, 4], false);
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
}

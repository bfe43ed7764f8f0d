//! The SNN training loss as one op: the output layer's LIF membranes, the cross-entropy of
//! the membrane at every step, summed over the steps and averaged over the batch (the snnTorch
//! tutorial convention; see [`crate::loss`]).
//!
//! As plain ops this is the LIF op with its membranes, a `[T·B, K]` log-softmax and a gather
//! — about ten Candle passes forward and as many backward over 150,000 values, plus the
//! gradient accumulators of the LIF op's `[2, T, B, K]` output: ~5 ms of an `snn3d` step,
//! ~1.7 ms fused (`--example step_phases`). Fused, each sample's K output neurons run through the
//! steps once forward (the loss) and once more backward (the gradient): only the membrane
//! path carries gradient — the loss does not read the output spikes, and the reset carries
//! none — so the backward pass is `dmem_t = (softmax_t − onehot)·g/B + β·dmem_{t+1}`.
//! [`crate::loss::membrane_cross_entropy_reference`] is the same loss in plain ops, the
//! reference this kernel is tested against.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::lif_recurrence::{contiguous, simulate};
use super::simd::{vectorized, Real, SharedMut};
use crate::layers::lif_config::{sequence_shape, LifConfig};

/// [`crate::loss::membrane_cross_entropy`] on the CPU.
pub fn membrane_cross_entropy_fused(
    currents: &Tensor,
    labels: &Tensor,
    cfg: &LifConfig,
) -> Result<Tensor> {
    let (steps, constant) = sequence_shape(currents, cfg)?;
    let (batch, classes) = if constant {
        currents.dims2()?
    } else {
        let (_, b, k) = currents.dims3()?;
        (b, k)
    };
    if labels.dims() != [batch] {
        candle_core::bail!(
            "membrane cross-entropy: {batch} samples but labels of shape {:?}",
            labels.shape()
        );
    }
    let labels = labels.to_dtype(DType::U32)?.contiguous()?;
    let op = MembraneLoss {
        cfg: *cfg,
        steps,
        constant,
        batch,
        classes,
    };
    currents.contiguous()?.apply_op2(&labels, op)
}

#[derive(Clone, Copy)]
struct MembraneLoss {
    cfg: LifConfig,
    steps: usize,
    constant: bool,
    batch: usize,
    classes: usize,
}

/// `(currents, labels, grad of the loss)` → grad of the currents.
struct MembraneLossBackward {
    forward: MembraneLoss,
}

/// Samples per parallel task; the tasks' partial losses are added in order, so the loss is
/// the same on any number of threads. A sample is only T steps of K = 10 output neurons, so a
/// task takes a longer run of them than the LIF projection's backward tasks (16).
const LOSS_SAMPLES_PER_TASK: usize = 32;

impl MembraneLoss {
    /// Index of output neuron k of sample b at step t in the currents.
    fn current_index(&self, t: usize, b: usize, k: usize) -> usize {
        let row = if self.constant { b } else { t * self.batch + b };
        row * self.classes + k
    }

    /// Sample `b`'s membranes `[T][K]` into `membranes`.
    #[inline(always)]
    fn simulate<F: Real>(&self, currents: &[F], b: usize, membranes: &mut [F]) {
        let k = self.classes;
        let width = self.batch * k;
        simulate(
            &self.cfg,
            self.steps,
            self.constant,
            currents,
            width,
            b * k..(b + 1) * k,
            |t, j, _, m| {
                membranes[t * k + j - b * k] = m;
            },
        );
    }

    fn label(&self, labels: &[u32], b: usize) -> Result<usize> {
        let y = labels[b] as usize;
        if y >= self.classes {
            candle_core::bail!(
                "membrane cross-entropy: label {y} of sample {b} is not below {} classes",
                self.classes
            );
        }
        Ok(y)
    }

    fn samples(&self, task: usize) -> std::ops::Range<usize> {
        task * LOSS_SAMPLES_PER_TASK..((task + 1) * LOSS_SAMPLES_PER_TASK).min(self.batch)
    }

    fn forward_kernel<F: Real>(&self, currents: &[F], labels: &[u32]) -> Result<F> {
        let partial: Vec<Result<f64>> = (0..self.batch.div_ceil(LOSS_SAMPLES_PER_TASK))
            .into_par_iter()
            .map(|task| loss_task(self, currents, labels, self.samples(task)))
            .collect();
        let mut total = 0f64;
        for p in partial {
            total += p?;
        }
        Ok(F::from_f64(total / self.batch as f64))
    }

    /// The summed loss of a run of samples.
    #[inline(always)]
    fn loss_samples<F: Real>(
        &self,
        currents: &[F],
        labels: &[u32],
        samples: std::ops::Range<usize>,
    ) -> Result<f64> {
        let mut membranes = vec![F::zero(); self.steps * self.classes];
        let mut exps = vec![F::zero(); self.classes];
        let mut sum = 0f64;
        for b in samples {
            let y = self.label(labels, b)?;
            self.simulate(currents, b, &mut membranes);
            for row in membranes.chunks_exact(self.classes) {
                let (max, exp_sum) = shifted_exps(row, &mut exps);
                sum += (max + exp_sum.ln() - row[y]).to_f64();
            }
        }
        Ok(sum)
    }

    fn backward_kernel<F: Real>(&self, currents: &[F], labels: &[u32], grad: F) -> Result<Vec<F>> {
        let mut out = vec![F::zero(); currents.len()];
        let shared = SharedMut::new(&mut out);
        let scale = grad / F::from_f64(self.batch as f64);
        (0..self.batch.div_ceil(LOSS_SAMPLES_PER_TASK))
            .into_par_iter()
            .try_for_each(|task| {
                gradient_task(self, currents, labels, scale, self.samples(task), shared)
            })?;
        Ok(out)
    }

    /// The current gradients of a run of samples, written into `shared` (laid out as the
    /// currents): backwards through the steps, `dmem_t = (softmax_t − onehot)·scale +
    /// β·dmem_{t+1}`.
    #[inline(always)]
    fn gradient_samples<F: Real>(
        &self,
        currents: &[F],
        labels: &[u32],
        scale: F,
        samples: std::ops::Range<usize>,
        shared: SharedMut<F>,
    ) -> Result<()> {
        let k = self.classes;
        let beta = F::from_f64(self.cfg.beta);
        let mut membranes = vec![F::zero(); self.steps * k];
        let mut exps = vec![F::zero(); k];
        let mut carry = vec![F::zero(); k];
        let mut summed = vec![F::zero(); k];
        for b in samples {
            let y = self.label(labels, b)?;
            self.simulate(currents, b, &mut membranes);
            carry.fill(F::zero());
            summed.fill(F::zero());
            for (t, row) in membranes.chunks_exact(k).enumerate().rev() {
                let (_, exp_sum) = shifted_exps(row, &mut exps);
                for j in 0..k {
                    let target = if j == y { F::one() } else { F::zero() };
                    let d_mem = (exps[j] / exp_sum - target).mul_add(scale, carry[j]);
                    carry[j] = beta * d_mem;
                    if self.constant {
                        summed[j] += d_mem;
                    } else {
                        // SAFETY: sample b's values belong to this task alone.
                        unsafe { shared.write(self.current_index(t, b, j), d_mem) };
                    }
                }
            }
            if self.constant {
                for (j, &v) in summed.iter().enumerate() {
                    // SAFETY: sample b's values belong to this task alone.
                    unsafe { shared.write(self.current_index(0, b, j), v) };
                }
            }
        }
        Ok(())
    }
}

vectorized! {
    /// [`MembraneLoss::loss_samples`], compiled for the CPU's widest vectors (hardware FMAs).
    fn loss_task<F: Real>(
        op: &MembraneLoss,
        currents: &[F],
        labels: &[u32],
        samples: std::ops::Range<usize>,
    ) -> Result<f64> {
        op.loss_samples(currents, labels, samples)
    }
}

vectorized! {
    /// [`MembraneLoss::gradient_samples`], compiled for the CPU's widest vectors.
    fn gradient_task<F: Real>(
        op: &MembraneLoss,
        currents: &[F],
        labels: &[u32],
        scale: F,
        samples: std::ops::Range<usize>,
        shared: SharedMut<F>,
    ) -> Result<()> {
        op.gradient_samples(currents, labels, scale, samples, shared)
    }
}

/// `exp(x − max)` of a row into `exps`, and `(max, Σ exps)`: the log-softmax's parts as
/// `candle_nn` forms them.
#[inline(always)]
fn shifted_exps<F: Real>(row: &[F], exps: &mut [F]) -> (F, F) {
    let max = row
        .iter()
        .copied()
        .fold(F::neg_infinity(), num_traits::Float::max);
    let mut sum = F::zero();
    for (e, &v) in exps.iter_mut().zip(row) {
        *e = (v - max).exp();
        sum += *e;
    }
    (max, sum)
}

/// The labels' storage as `[u32]`.
fn labels_of<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [u32]> {
    match storage {
        CpuStorage::U32(labels) => contiguous(labels, layout),
        _ => candle_core::bail!("membrane cross-entropy: labels must be u32"),
    }
}

impl CustomOp2 for MembraneLoss {
    fn name(&self) -> &'static str {
        "membrane-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let labels = labels_of(s2, l2)?;
        let out = match s1 {
            CpuStorage::F32(c) => {
                CpuStorage::F32(vec![self.forward_kernel(contiguous(c, l1)?, labels)?])
            }
            CpuStorage::F64(c) => {
                CpuStorage::F64(vec![self.forward_kernel(contiguous(c, l1)?, labels)?])
            }
            _ => candle_core::bail!("membrane cross-entropy supports f32 and f64 currents"),
        };
        Ok((out, Shape::from(())))
    }

    fn bwd(
        &self,
        currents: &Tensor,
        labels: &Tensor,
        _loss: &Tensor,
        grad_loss: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = currents.apply_op3_no_bwd(
            labels,
            &grad_loss.contiguous()?,
            &MembraneLossBackward { forward: *self },
        )?;
        Ok((Some(grad), None))
    }
}

impl CustomOp3 for MembraneLossBackward {
    fn name(&self) -> &'static str {
        "membrane-cross-entropy-backward"
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
        let labels = labels_of(s2, l2)?;
        let out = match (s1, s3) {
            (CpuStorage::F32(c), CpuStorage::F32(g)) => {
                let g = contiguous(g, l3)?[0];
                CpuStorage::F32(
                    self.forward
                        .backward_kernel(contiguous(c, l1)?, labels, g)?,
                )
            }
            (CpuStorage::F64(c), CpuStorage::F64(g)) => {
                let g = contiguous(g, l3)?[0];
                CpuStorage::F64(
                    self.forward
                        .backward_kernel(contiguous(c, l1)?, labels, g)?,
                )
            }
            _ => candle_core::bail!("membrane cross-entropy backward: matching f32 or f64 only"),
        };
        Ok((out, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::membrane_cross_entropy_reference;
    use candle_core::{Device, Var};

    type Loss = fn(&Tensor, &Tensor, &LifConfig) -> Result<Tensor>;

    fn loss_and_grad(
        f: Loss,
        currents: &Tensor,
        labels: &Tensor,
        c: &LifConfig,
    ) -> (f64, Vec<f64>) {
        let v = Var::from_tensor(currents).unwrap();
        // Scaled, so the upstream gradient is not 1.
        let loss = f(v.as_tensor(), labels, c)
            .unwrap()
            .affine(0.7, 0.0)
            .unwrap();
        let grads = loss.backward().unwrap();
        let value = loss
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let grad = grads
            .get(v.as_tensor())
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        (value, grad)
    }

    #[test]
    fn fused_loss_agrees_with_lif_then_cross_entropy() {
        let dev = Device::Cpu;
        for (dtype, shape, steps) in [
            (DType::F32, &[25, 600, 10][..], 25),
            (DType::F64, &[7, 33, 4][..], 7),
            (DType::F32, &[40, 10][..], 25),
            (DType::F64, &[9, 3][..], 6),
        ] {
            let c = LifConfig {
                time_steps: steps,
                ..LifConfig::default()
            };
            let batch = shape[shape.len() - 2];
            let classes = shape[shape.len() - 1] as u32;
            // Currents that make some output neurons fire (and reset) and others not.
            let currents = Tensor::randn(0.3f64, 0.6, shape, &dev)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let labels: Vec<u32> = (0..batch as u32).map(|b| (b * 7 + 3) % classes).collect();
            let labels = Tensor::new(labels, &dev).unwrap();
            let (fused, fused_grad) =
                loss_and_grad(membrane_cross_entropy_fused, &currents, &labels, &c);
            let (reference, reference_grad) =
                loss_and_grad(membrane_cross_entropy_reference, &currents, &labels, &c);
            let tol = if dtype == DType::F64 { 1e-10 } else { 1e-5 };
            assert!(
                (fused - reference).abs() <= tol * reference.abs(),
                "{shape:?}: loss {fused} vs {reference}"
            );
            let context = format!("{shape:?}: fused vs reference d currents");
            crate::test_support::assert_close(&fused_grad, &reference_grad, tol, 1e-12, &context);
        }
    }

    #[test]
    fn vector_and_portable_kernels_agree_bit_for_bit() {
        const TEST: &str = "membrane_cross_entropy::vector_and_portable_kernels_agree_bit_for_bit";
        let dev = Device::Cpu;
        let c = LifConfig::default();
        for shape in [&[25, 70, 10][..], &[70, 10][..]] {
            let currents = Tensor::randn(0.3f32, 0.6, shape, &dev).unwrap();
            let labels = Tensor::new((0..70u32).map(|b| b % 10).collect::<Vec<_>>(), &dev).unwrap();
            let Some([portable, vector]) = crate::test_support::portable_and_vector(TEST, || {
                loss_and_grad(membrane_cross_entropy_fused, &currents, &labels, &c)
            }) else {
                return;
            };
            assert_eq!(portable, vector, "{shape:?}");
        }
    }

    #[test]
    fn bad_labels_are_errors() {
        let dev = Device::Cpu;
        let c = LifConfig::default();
        let currents = Tensor::zeros((4, 10), DType::F32, &dev).unwrap();
        let out_of_range = Tensor::new(&[0u32, 1, 10, 2], &dev).unwrap();
        let err = membrane_cross_entropy_fused(&currents, &out_of_range, &c).unwrap_err();
        assert!(err.to_string().contains("label 10 of sample 2"), "{err}");
        let too_few = Tensor::new(&[0u32, 1], &dev).unwrap();
        let err = membrane_cross_entropy_fused(&currents, &too_few, &c).unwrap_err();
        assert!(err.to_string().contains("4 samples"), "{err}");
    }
}

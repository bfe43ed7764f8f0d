//! Adam's update of one parameter, in place, in three streaming passes.
//!
//! [`crate::optimizer::Adam`]'s plain ops allocate a fresh tensor for each of their ten
//! element-wise steps; for the 1.6M weights of a 2048-neuron baseline that is most of the
//! optimizer's time (allocation, page faults, ten passes over 6.5 MB). These passes update the
//! first moment, the second moment and the parameter where they are, evaluating exactly the
//! plain ops' expressions — every `t * c` of Candle's being its affine `t·c + 0` — in the same
//! order and precision, so the results are bit-identical (tested).

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor};
use rayon::prelude::*;

use super::contiguous_values;
use super::simd::Real;

/// Elements per parallel task.
const BLOCK: usize = 1 << 14;

/// The step's constants, as the plain ops use them (Candle converts each scalar to the
/// tensor's dtype before using it).
#[derive(Debug, Clone, Copy)]
pub struct AdamConstants {
    pub beta1: f64,
    pub beta2: f64,
    pub scale_m: f64,
    pub scale_v: f64,
    pub decay: f64,
    pub eps: f64,
    pub lr: f64,
}

fn dst<'a, F: Real>(s: &'a mut [F], l: &Layout, op: &str) -> Result<&'a mut [F]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&mut s[a..b]),
        None => candle_core::bail!("{op}: the fused kernel expects contiguous tensors"),
    }
}

/// `m ← (m·β1 + 0) + (g·(1 − β1) + 0)`.
struct FirstMoment(AdamConstants);
/// `v ← (v·β2 + 0) + ((g·g)·(1 − β2) + 0)`.
struct SecondMoment(AdamConstants);
/// `θ ← (θ·(1 − lr·λ) + 0) − ((m·s_m + 0) / (√(v·s_v + 0)·1 + ε))·lr + 0`.
struct Update(AdamConstants);

fn moment<F: Real>(m: &mut [F], g: &[F], beta: f64, square: bool) {
    let keep = F::from_f64(beta);
    let take = F::from_f64(1.0 - beta);
    let zero = F::zero();
    m.par_chunks_mut(BLOCK)
        .zip(g.par_chunks(BLOCK))
        .for_each(|(m, g)| {
            for (m, &g) in m.iter_mut().zip(g) {
                let g = if square { g * g } else { g };
                *m = (*m * keep + zero) + (g * take + zero);
            }
        });
}

fn update<F: Real>(theta: &mut [F], m: &[F], v: &[F], c: AdamConstants) {
    let zero = F::zero();
    let one = F::one();
    let (sm, sv) = (F::from_f64(c.scale_m), F::from_f64(c.scale_v));
    let (decay, eps, lr) = (F::from_f64(c.decay), F::from_f64(c.eps), F::from_f64(c.lr));
    theta
        .par_chunks_mut(BLOCK)
        .zip(m.par_chunks(BLOCK).zip(v.par_chunks(BLOCK)))
        .for_each(|(t, (m, v))| {
            for ((t, &m), &v) in t.iter_mut().zip(m).zip(v) {
                let m_hat = m * sm + zero;
                let v_hat = v * sv + zero;
                let adjusted = m_hat / (v_hat.sqrt() * one + eps);
                *t = (*t * decay + zero) - (adjusted * lr + zero);
            }
        });
}

/// Runs `f32` or `f64` versions of a kernel on a destination and its sources (one dtype).
macro_rules! typed {
    ($name:expr, $dst:expr, $dst_l:expr, [$(($s:expr, $l:expr)),*], |$d:ident, [$($x:ident),*]| $body:expr) => {
        match $dst {
            CpuStorage::F32(d) => {
                let $d = dst(d, $dst_l, $name)?;
                $(let $x: &[f32] = match $s {
                    CpuStorage::F32(s) => contiguous_values(s, $l, $name)?,
                    _ => candle_core::bail!("{}: mixed dtypes", $name),
                };)*
                $body;
                Ok(())
            }
            CpuStorage::F64(d) => {
                let $d = dst(d, $dst_l, $name)?;
                $(let $x: &[f64] = match $s {
                    CpuStorage::F64(s) => contiguous_values(s, $l, $name)?,
                    _ => candle_core::bail!("{}: mixed dtypes", $name),
                };)*
                $body;
                Ok(())
            }
            _ => candle_core::bail!("{}: f32 or f64 only", $name),
        }
    };
}

impl InplaceOp2 for FirstMoment {
    fn name(&self) -> &'static str {
        "adam-first-moment"
    }
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        typed!(self.name(), s1, l1, [(s2, l2)], |m, [g]| moment(
            m,
            g,
            self.0.beta1,
            false
        ))
    }
}

impl InplaceOp2 for SecondMoment {
    fn name(&self) -> &'static str {
        "adam-second-moment"
    }
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        typed!(self.name(), s1, l1, [(s2, l2)], |v, [g]| moment(
            v,
            g,
            self.0.beta2,
            true
        ))
    }
}

impl InplaceOp3 for Update {
    fn name(&self) -> &'static str {
        "adam-update"
    }
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        typed!(self.name(), s1, l1, [(s2, l2), (s3, l3)], |t, [m, v]| {
            update(t, m, v, self.0)
        })
    }
}

/// One Adam step of `theta` (with moments `m`, `v` and gradient `g`, all contiguous CPU
/// tensors of one float dtype and shape), in place.
pub fn adam_step(
    theta: &Tensor,
    m: &Tensor,
    v: &Tensor,
    g: &Tensor,
    c: AdamConstants,
) -> Result<()> {
    let g = g.contiguous()?;
    m.inplace_op2(&g, &FirstMoment(c))?;
    v.inplace_op2(&g, &SecondMoment(c))?;
    theta.inplace_op3(m, v, &Update(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn is_bit_identical_to_the_plain_ops() {
        let dev = Device::Cpu;
        // Larger than one block, with zeros (signed) and tiny values among them.
        let n = 3 * BLOCK + 17;
        let mut values = Tensor::randn(0f32, 3.0, n, &dev)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        values[..2].copy_from_slice(&[-0.0, 0.0]);
        let theta = Tensor::from_vec(values, n, &dev).unwrap();
        let g = Tensor::randn(0f32, 1e-3, n, &dev).unwrap();
        let m0 = Tensor::randn(0f32, 1e-3, n, &dev).unwrap();
        let v0 = Tensor::rand(0f32, 1e-6, n, &dev).unwrap();
        for (step, lr, decay) in [(1, 0.005, 0.0), (7, 0.001, 0.0), (300, 0.01, 0.01)] {
            let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
            let scale_m = 1f64 / (1f64 - beta1.powi(step));
            let scale_v = 1f64 / (1f64 - beta2.powi(step));
            let lr_lambda: f64 = lr * decay;
            // candle-nn's AdamW::step.
            let next_m = ((&m0 * beta1).unwrap() + (&g * (1.0 - beta1)).unwrap()).unwrap();
            let next_v =
                ((&v0 * beta2).unwrap() + (g.sqr().unwrap() * (1.0 - beta2)).unwrap()).unwrap();
            let m_hat = (&next_m * scale_m).unwrap();
            let v_hat = (&next_v * scale_v).unwrap();
            let next_theta = (&theta * (1f64 - lr_lambda)).unwrap();
            let adjusted = (m_hat / (v_hat.sqrt().unwrap() + eps).unwrap()).unwrap();
            let next_theta = (next_theta - (adjusted * lr).unwrap()).unwrap();

            let (t, m, v) = (
                Var::from_tensor(&theta).unwrap(),
                Var::from_tensor(&m0).unwrap(),
                Var::from_tensor(&v0).unwrap(),
            );
            let c = AdamConstants {
                beta1,
                beta2,
                scale_m,
                scale_v,
                decay: 1f64 - lr_lambda,
                eps,
                lr,
            };
            adam_step(t.as_tensor(), m.as_tensor(), v.as_tensor(), &g, c).unwrap();
            assert_eq!(bits(m.as_tensor()), bits(&next_m), "m, step {step}");
            assert_eq!(bits(v.as_tensor()), bits(&next_v), "v, step {step}");
            assert_eq!(bits(t.as_tensor()), bits(&next_theta), "θ, step {step}");
        }
    }
}

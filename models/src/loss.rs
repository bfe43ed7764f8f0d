//! The training losses.
//!
//! MLPs: the cross-entropy of the logits. SNNs: the cross-entropy of the output layer's
//! membrane potential at every step, summed over the steps and averaged over the batch (the
//! snnTorch tutorial convention, as the paper's code does), [`membrane_cross_entropy`].

use candle_core::{Result, Tensor, D};

use crate::kernels::dispatch;
use crate::kernels::membrane_cross_entropy::membrane_cross_entropy_fused;
use crate::layers::lif::{lif_reference, LifConfig};

/// The cross-entropy of an MLP's logits `[B, classes]` against `labels` `[B]`, averaged over
/// the batch.
pub fn logits_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, labels)
}

/// The cross-entropy of `logits` `[B, K]` against targets smoothed by `eps`: 1 − ε on the
/// label, ε/K on every class, i.e. `(1 − ε)·CE + ε·mean_k(−log p_k)`, averaged over the batch.
/// ε = 0 is [`logits_cross_entropy`] itself.
pub fn smoothed_cross_entropy(logits: &Tensor, labels: &Tensor, eps: f64) -> Result<Tensor> {
    if eps == 0.0 {
        return logits_cross_entropy(logits, labels);
    }
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let nll = candle_nn::loss::nll(&log_p, labels)?;
    let (batch, classes) = logits.dims2()?;
    let uniform = log_p
        .sum_all()?
        .affine(-1.0 / (batch * classes) as f64, 0.0)?;
    nll.affine(1.0 - eps, 0.0)? + uniform.affine(eps, 0.0)?
}

/// `Σ_t cross_entropy(mem_t, labels) / B`: the output LIF layer's membranes `mem_t` from
/// `currents` (`[T, B, K]`, or `[B, K]` constant over `cfg.time_steps` steps) scored against
/// `labels` (`[B]`, integers below K) at every step.
pub fn membrane_cross_entropy(
    currents: &Tensor,
    labels: &Tensor,
    cfg: &LifConfig,
) -> Result<Tensor> {
    // The fused kernel's backward pass is written for the subtract reset; the zero reset's
    // output layer (classes wide) runs the plain ops on every device.
    if cfg.reset.is_zero() {
        return membrane_cross_entropy_reference(currents, labels, cfg);
    }
    dispatch(
        currents,
        || membrane_cross_entropy_fused(currents, labels, cfg),
        || membrane_cross_entropy_reference(currents, labels, cfg),
    )
}

/// [`lif_reference`] with membranes, then `candle_nn`'s cross-entropy over all steps.
pub fn membrane_cross_entropy_reference(
    currents: &Tensor,
    labels: &Tensor,
    cfg: &LifConfig,
) -> Result<Tensor> {
    let membrane = lif_reference(currents, cfg, true)?
        .membrane
        .ok_or_else(|| candle_core::Error::Msg("the output LIF layer lost its membranes".into()))?;
    let (steps, batch, classes) = membrane.dims3()?;
    let targets = labels
        .unsqueeze(0)?
        .broadcast_as((steps, batch))?
        .flatten_all()?;
    let mean =
        candle_nn::loss::cross_entropy(&membrane.reshape((steps * batch, classes))?, &targets)?;
    mean.affine(steps as f64, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn smoothing_mixes_the_label_with_the_uniform_target() {
        let logits = Tensor::new(&[[2.0f32, 0.5, -1.0], [0.0, 1.0, 3.0]], &Device::Cpu).unwrap();
        let labels = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
        let value = |eps: f64| {
            smoothed_cross_entropy(&logits, &labels, eps)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        };
        // By hand: −Σ_k q_k log p_k with q = (1 − ε)·onehot + ε/K, averaged over the rows.
        let rows = [([2.0f64, 0.5, -1.0], 0usize), ([0.0, 1.0, 3.0], 1)];
        let by_hand = |eps: f64| {
            rows.iter()
                .map(|(z, y)| {
                    let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
                    (0..3)
                        .map(|k| {
                            let q = eps / 3.0 + if k == *y { 1.0 - eps } else { 0.0 };
                            -q * (z[k] - lse)
                        })
                        .sum::<f64>()
                })
                .sum::<f64>()
                / 2.0
        };
        for eps in [0.0, 0.1, 0.5] {
            assert!((value(eps) - by_hand(eps)).abs() < 1e-5, "ε = {eps}");
        }
        let plain = logits_cross_entropy(&logits, &labels)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(value(0.0) as f32, plain, "ε = 0 is the plain loss itself");
    }
}

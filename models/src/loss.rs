//! The training losses.
//!
//! MLPs: the cross-entropy of the logits. SNNs: the cross-entropy of the output layer's
//! membrane potential at every step, summed over the steps and averaged over the batch (the
//! snnTorch tutorial convention, as the paper's code does), [`membrane_cross_entropy`].

use candle_core::{Result, Tensor};

use crate::kernels::dispatch;
use crate::kernels::membrane_cross_entropy::membrane_cross_entropy_fused;
use crate::layers::lif::{lif_reference, LifConfig};

/// The cross-entropy of an MLP's logits `[B, classes]` against `labels` `[B]`, averaged over
/// the batch.
pub fn logits_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, labels)
}

/// `Σ_t cross_entropy(mem_t, labels) / B`: the output LIF layer's membranes `mem_t` from
/// `currents` (`[T, B, K]`, or `[B, K]` constant over `cfg.time_steps` steps) scored against
/// `labels` (`[B]`, integers below K) at every step.
pub fn membrane_cross_entropy(
    currents: &Tensor,
    labels: &Tensor,
    cfg: &LifConfig,
) -> Result<Tensor> {
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

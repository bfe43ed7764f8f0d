//! Bias compensation: the mean current removed connections carried, folded into the biases;
//! and the host snapshot that undoes it.

use candle_core::{Result, Tensor};

/// Folds the mean current that the newly removed connections carried into the biases, layer
/// by layer: with `keep` (`[n_out, n_in]` per layer) installed in `network`, each layer's mean
/// input activity over `images` (training images, never the test set) is measured after the
/// earlier layers were pruned and compensated, and `b_j += Σ_i ā_i · P_ij · (before_ij −
/// keep_ij)`. `before` is the pruning the biases already account for (a checkpoint's stored
/// mask; `None`: nothing removed). The biases are the variables in `vars`; pass the saved ones
/// back with [`restore_biases`] before another level.
pub fn compensate(
    network: &crate::Network,
    vars: &candle_nn::VarMap,
    keep: &[Tensor],
    before: Option<&[Tensor]>,
    images: &Tensor,
) -> Result<()> {
    if let Some(before) = before {
        if before.len() != keep.len() {
            candle_core::bail!("{} stored masks for {} layers", before.len(), keep.len());
        }
    }
    let data = lock_vars(vars)?;
    for (c, keep) in keep.iter().enumerate() {
        let mean = network.mean_input(images, c)?; // [n_in]
                                                   // The layer's unpruned action: P [n_in, n_out] with the mask folded in.
        let unpruned = {
            let synapses = network.synapses_unpruned(c)?;
            synapses.projection()?
        };
        let gone = match before {
            Some(before) => (before[c].to_dtype(keep.dtype())? - keep)?,
            None => keep.affine(-1.0, 1.0)?,
        };
        let removed = unpruned.mul(&gone.t()?)?;
        let shift = mean.unsqueeze(0)?.matmul(&removed)?.squeeze(0)?.detach();
        let name = network.bias_name(c);
        let bias = data.get(&name).ok_or_else(|| {
            candle_core::Error::Msg(format!("no bias variable {name} to compensate"))
        })?;
        bias.set(&(bias.as_tensor() + shift.to_dtype(bias.dtype())?)?)?;
    }
    Ok(())
}

/// The variables behind `vars`' lock (a poisoned lock is an error, not a panic).
pub(super) fn lock_vars(
    vars: &candle_nn::VarMap,
) -> Result<std::sync::MutexGuard<'_, std::collections::HashMap<String, candle_core::Var>>> {
    vars.data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("variable map poisoned".into()))
}

/// A host copy of every bias variable, to undo [`compensate`]. Not `Tensor::copy`, which on
/// Metal shares the GPU buffer that `Var::set` then writes ([`crate::device::to_host`]).
pub fn save_biases(
    network: &crate::Network,
    vars: &candle_nn::VarMap,
) -> Result<Vec<(String, Tensor)>> {
    let data = lock_vars(vars)?;
    (0..network.config().layers.len() - 1)
        .map(|c| {
            let name = network.bias_name(c);
            let t = data
                .get(&name)
                .ok_or_else(|| candle_core::Error::Msg(format!("no bias variable {name}")))?;
            Ok((name, crate::device::to_host(t.as_tensor())?))
        })
        .collect()
}

/// Puts saved biases back.
pub fn restore_biases(vars: &candle_nn::VarMap, saved: &[(String, Tensor)]) -> Result<()> {
    let data = lock_vars(vars)?;
    for (name, t) in saved {
        if let Some(var) = data.get(name) {
            var.set(&t.to_device(var.device())?)?;
        }
    }
    Ok(())
}

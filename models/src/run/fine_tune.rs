//! Fine-tuning a network in memory (`neuropos prune --finetune-epochs`): the same batches and
//! steps as a run's epochs ([`crate::training::train_epoch`], the paper's recipe, Adam afresh),
//! with no directory, no resume state and no saves — the pruned checkpoint is written once, at
//! the end, by its caller.

use candle_nn::VarMap;

use super::Hooks;
use crate::data::Splits;
use crate::training;
use crate::{Network, Result};

/// What to fine-tune for.
#[derive(Debug, Clone, Copy)]
pub struct FineTune {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// Seeds the batch order (the stream a run of this seed shuffles with).
    pub seed: u64,
}

/// Fine-tunes `network` (its variables `vars`) on `data`; one metrics line per epoch. Returns the
/// test accuracy after the last epoch (`accuracy` when there are none) and the lines.
pub fn fine_tune(
    network: &Network,
    vars: &VarMap,
    plan: FineTune,
    data: &Splits,
    mut accuracy: f64,
    hooks: &mut dyn Hooks,
) -> Result<(f64, Vec<serde_json::Value>)> {
    let mut optimizer = training::adam(vars, plan.lr)?;
    let mut rng = crate::resume::batch_rng(plan.seed);
    let batches = data.train_x.dim(0)?.div_ceil(plan.batch_size.max(1));
    let mut lines = Vec::with_capacity(plan.epochs);
    for epoch in 1..=plan.epochs {
        hooks.epoch_starts(epoch, plan.epochs, batches, 0);
        let report = training::train_epoch(
            network,
            &mut optimizer,
            &data.train_x,
            &data.train_y,
            plan.batch_size,
            &mut rng,
            |_, loss| {
                hooks.batch_finished(loss);
                true
            },
        )?;
        accuracy = training::accuracy(network, &data.test_x, &data.test_y)?;
        tracing::info!(
            "fine-tuning epoch {epoch}/{}: train loss {:.4}, test accuracy {accuracy:.4}",
            plan.epochs,
            report.mean_loss
        );
        let line = serde_json::json!({
            "epoch": epoch, "train_loss": report.mean_loss, "test_accuracy": accuracy,
        });
        hooks.epoch_finished(&line);
        lines.push(line);
    }
    Ok((accuracy, lines))
}

//! The training step (cross-entropy, Adam) and test accuracy, shared by the CLI and tests.

use candle_core::{DType, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::{Error, Network, Result};

/// Adam as in the paper (PyTorch defaults: β = (0.9, 0.999), ε = 1e-8). candle-nn only has
/// AdamW; with weight decay 0 it is exactly Adam. Its default decay of 0.01 would pull every
/// neuron towards the origin.
pub fn adam(vars: &VarMap, lr: f64) -> Result<AdamW> {
    let params = ParamsAdamW {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    Ok(AdamW::new(vars.all_vars(), params)?)
}

/// What one pass over the training set did.
#[derive(Debug, Clone, Copy)]
pub struct EpochReport {
    /// Sample-weighted mean cross-entropy over the batches run.
    pub mean_loss: f64,
    pub batches: usize,
    pub samples: usize,
    /// The callback asked to stop before the epoch ended.
    pub stopped_early: bool,
}

/// One epoch of minibatch Adam over a fresh shuffle of `images`/`labels` (on the model's
/// device). The last batch may be smaller, as with PyTorch's default `drop_last=False`.
/// `after_batch(index, loss)` runs after every step; returning `false` stops the epoch.
pub fn train_epoch(
    network: &Network,
    optimizer: &mut AdamW,
    images: &Tensor,
    labels: &Tensor,
    batch_size: usize,
    rng: &mut StdRng,
    mut after_batch: impl FnMut(usize, f32) -> bool,
) -> Result<EpochReport> {
    if batch_size == 0 {
        return Err(Error::Config("batch size must be positive".into()));
    }
    let n = images.dim(0)?;
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(rng);
    let device = images.device();
    let mut loss_sum = 0.0;
    let mut report = EpochReport {
        mean_loss: f64::NAN,
        batches: 0,
        samples: 0,
        stopped_early: false,
    };
    for (b, chunk) in order.chunks(batch_size).enumerate() {
        let idx = Tensor::from_slice(chunk, chunk.len(), device)?;
        let x = images.index_select(&idx, 0)?;
        let y = labels.index_select(&idx, 0)?;
        let loss = network.loss(&x, &y)?;
        optimizer.backward_step(&loss)?;
        let value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(Error::Diverged(format!(
                "loss became {value} at batch {b}; lower the learning rate"
            )));
        }
        loss_sum += value as f64 * chunk.len() as f64;
        report.batches += 1;
        report.samples += chunk.len();
        if !after_batch(b, value) {
            report.stopped_early = report.samples < n;
            break;
        }
    }
    report.mean_loss = loss_sum / report.samples.max(1) as f64;
    Ok(report)
}

/// Predicted class per sample ([`Network::predict`]), evaluated in chunks.
pub fn predict(network: &Network, images: &Tensor, chunk: usize) -> Result<Vec<u32>> {
    let n = images.dim(0)?;
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = chunk.max(1).min(n - start);
        out.extend(network.predict(&images.narrow(0, start, len)?)?);
        start += len;
    }
    Ok(out)
}

/// Fraction of samples whose argmax logit equals the label.
pub fn accuracy(network: &Network, images: &Tensor, labels: &Tensor) -> Result<f64> {
    // Spiking networks hold T copies of every activation: smaller chunks bound the memory.
    let chunk = if network.config().lif.is_some() {
        500
    } else {
        2000
    };
    let predicted = predict(network, images, chunk)?;
    let truth = labels.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    if truth.len() != predicted.len() {
        return Err(Error::Config(format!(
            "{} labels for {} images",
            truth.len(),
            predicted.len()
        )));
    }
    let correct = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / truth.len().max(1) as f64)
}

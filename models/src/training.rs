//! The training step (cross-entropy, Adam) and test accuracy, shared by the CLI and tests.

use candle_core::{DType, Tensor};
use candle_nn::Optimizer;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

pub use crate::optimizer::Adam;
use crate::recipe::Recipe;
use crate::{Error, Network, Result};

/// Adam as in the paper (PyTorch defaults: β = (0.9, 0.999), ε = 1e-8, no weight decay).
pub fn adam(vars: &candle_nn::VarMap, lr: f64) -> Result<Adam> {
    Adam::paper(vars, lr)
}

/// What one pass over the training set did.
#[derive(Debug, Clone, Copy)]
pub struct EpochReport {
    /// Sample-weighted mean cross-entropy over the batches run.
    pub mean_loss: f64,
    /// The sample-weighted sum behind `mean_loss`, carried over when an epoch is resumed.
    pub loss_sum: f64,
    pub batches: usize,
    pub samples: usize,
    /// The callback asked to stop before the epoch ended.
    pub stopped_early: bool,
}

/// Where an epoch starts: at its first batch, or part-way through after a resume.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EpochStart {
    /// Batches of this epoch already trained.
    pub batch: usize,
    /// Their sample-weighted loss sum and sample count.
    pub loss_sum: f64,
    pub samples: usize,
}

/// The epoch's sample order: a fresh shuffle of `0..n` from `rng`, its only use of `rng`.
pub fn epoch_order(n: usize, rng: &mut impl Rng) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(rng);
    order
}

/// The batch `x` `[B, side²]` randomly shifted ([`crate::recipe::shift_images`]), with draws
/// that depend on the seed and the step only.
fn augment(x: &Tensor, shift: usize, seed: u64, step: usize) -> Result<Tensor> {
    let n = x.dim(1)?;
    let side = (n as f64).sqrt().round() as usize;
    if side * side != n {
        return Err(Error::Config(format!(
            "shift augmentation needs square images; {n} inputs are not"
        )));
    }
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(
        seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let values = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let shifted = crate::recipe::shift_images(&values, side, shift, &mut rng);
    Ok(
        Tensor::from_vec(shifted, x.shape(), &candle_core::Device::Cpu)?
            .to_dtype(x.dtype())?
            .to_device(x.device())?,
    )
}

/// One epoch of minibatch Adam over a fresh shuffle of `images`/`labels` (on the model's
/// device). The last batch may be smaller, as with PyTorch's default `drop_last=False`.
/// `after_batch(index, loss)` runs after every step; returning `false` stops the epoch.
pub fn train_epoch(
    network: &Network,
    optimizer: &mut Adam,
    images: &Tensor,
    labels: &Tensor,
    batch_size: usize,
    rng: &mut impl Rng,
    after_batch: impl FnMut(usize, f32) -> bool,
) -> Result<EpochReport> {
    let order = epoch_order(images.dim(0)?, rng);
    train_batches(
        network,
        optimizer,
        images,
        labels,
        batch_size,
        &order,
        EpochStart::default(),
        &StepPlan::paper(),
        after_batch,
    )
}

/// What every step of a run does beyond Adam at its set rate: the recipe's rate for that step
/// (from the base `lr` over `epochs` × `steps_per_epoch` steps) and its loss.
#[derive(Debug, Clone, Copy)]
pub struct StepPlan {
    pub recipe: Recipe,
    pub lr: f64,
    pub steps_per_epoch: usize,
    pub epochs: usize,
    /// Seeds the augmentation's draws (with the step count: no state to save for a resume).
    pub seed: u64,
}

impl StepPlan {
    /// The paper's: the optimizer's own rate throughout, the plain loss.
    pub fn paper() -> Self {
        StepPlan {
            recipe: Recipe::default(),
            lr: 0.0,
            steps_per_epoch: 1,
            epochs: 1,
            seed: 0,
        }
    }
}

/// The batches of one epoch in `order`, from `start.batch` on. Divergence stops it with an
/// error naming the batch (1-based) and the tensor — a non-finite loss before its step is
/// taken, non-finite parameters right after — so nothing non-finite reaches a checkpoint.
#[allow(clippy::too_many_arguments)]
pub fn train_batches(
    network: &Network,
    optimizer: &mut Adam,
    images: &Tensor,
    labels: &Tensor,
    batch_size: usize,
    order: &[u32],
    start: EpochStart,
    plan: &StepPlan,
    after_batch: impl FnMut(usize, f32) -> bool,
) -> Result<EpochReport> {
    train_batches_distilled(
        network,
        optimizer,
        (images, labels),
        batch_size,
        order,
        start,
        plan,
        None,
        after_batch,
    )
}

/// [`train_batches`] with a teacher's soft targets in every step's loss
/// ([`crate::distill`]).
#[allow(clippy::too_many_arguments)]
pub fn train_batches_distilled(
    network: &Network,
    optimizer: &mut Adam,
    (images, labels): (&Tensor, &Tensor),
    batch_size: usize,
    order: &[u32],
    start: EpochStart,
    plan: &StepPlan,
    teacher: Option<&crate::distill::Teacher>,
    mut after_batch: impl FnMut(usize, f32) -> bool,
) -> Result<EpochReport> {
    if batch_size == 0 {
        return Err(Error::Config("batch size must be positive".into()));
    }
    let n = order.len();
    let device = images.device();
    let mut report = EpochReport {
        mean_loss: f64::NAN,
        loss_sum: start.loss_sum,
        batches: start.batch,
        samples: start.samples,
        stopped_early: false,
    };
    for (b, chunk) in order.chunks(batch_size).enumerate().skip(start.batch) {
        let idx = Tensor::from_slice(chunk, chunk.len(), device)?;
        let x = images.index_select(&idx, 0)?;
        let x = match plan.recipe.augment_shift {
            0 => x,
            shift => augment(&x, shift, plan.seed, optimizer.steps())?,
        };
        let y = labels.index_select(&idx, 0)?;
        if !plan.recipe.is_paper() {
            // The rate is a function of the step count, which a resumed run restores.
            optimizer.set_learning_rate(plan.recipe.lr_at(
                plan.lr,
                optimizer.steps(),
                plan.steps_per_epoch,
                plan.epochs,
            ));
        }
        let key = crate::encoder::DrawKey::training(plan.seed, optimizer.steps());
        let loss = match teacher {
            None => network.loss_with(&x, &y, &plan.recipe, key)?,
            Some(teacher) => {
                let (label_loss, scores) = network.loss_and_scores(&x, &y, &plan.recipe, key)?;
                let targets = teacher.batch_log_targets(&idx, &x)?;
                teacher.loss(&label_loss, &scores, &targets)?
            }
        };
        let mut value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        if optimizer.poisons_next_loss() {
            value = f32::NAN;
        }
        if !value.is_finite() {
            return Err(Error::Diverged(format!(
                "batch {}: the loss is {value} (before this batch's step; the parameters \
                 were finite after the previous one); lower the learning rate",
                b + 1
            )));
        }
        optimizer.backward_step(&loss)?;
        if let Some(name) = optimizer.first_non_finite()? {
            return Err(Error::Diverged(format!(
                "batch {}: parameter `{name}` holds non-finite values after the step \
                 (loss {value}); lower the learning rate",
                b + 1
            )));
        }
        report.loss_sum += value as f64 * chunk.len() as f64;
        report.batches += 1;
        report.samples += chunk.len();
        if !after_batch(b, value) {
            report.stopped_early = report.samples < n;
            break;
        }
    }
    report.mean_loss = report.loss_sum / report.samples.max(1) as f64;
    Ok(report)
}

/// Predicted class per sample ([`Network::predict`]), evaluated in chunks.
pub fn predict(network: &Network, images: &Tensor, chunk: usize) -> Result<Vec<u32>> {
    let n = images.dim(0)?;
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = chunk.max(1).min(n - start);
        out.extend(network.predict_keyed(
            &images.narrow(0, start, len)?,
            crate::encoder::DrawKey::evaluation(start),
        )?);
        start += len;
    }
    Ok(out)
}

/// The predicted and the true class of every sample, in evaluation-sized chunks.
fn predicted_and_true(
    network: &Network,
    images: &Tensor,
    labels: &Tensor,
) -> Result<(Vec<u32>, Vec<u32>)> {
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
    Ok((predicted, truth))
}

/// Fraction of samples whose argmax logit equals the label.
pub fn accuracy(network: &Network, images: &Tensor, labels: &Tensor) -> Result<f64> {
    let (predicted, truth) = predicted_and_true(network, images, labels)?;
    let correct = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / truth.len().max(1) as f64)
}

/// How a network's predictions fall per class: `matrix[t][p]` counts the images of class `t`
/// predicted as `p`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Confusion {
    pub matrix: Vec<Vec<usize>>,
}

impl Confusion {
    /// The confusion of `network` on `images` / `labels` over `classes` classes.
    pub fn of(network: &Network, images: &Tensor, labels: &Tensor, classes: usize) -> Result<Self> {
        let (predicted, truth) = predicted_and_true(network, images, labels)?;
        let mut matrix = vec![vec![0usize; classes]; classes];
        for (&t, &p) in truth.iter().zip(&predicted) {
            if let Some(row) = matrix.get_mut(t as usize) {
                if let Some(cell) = row.get_mut(p as usize) {
                    *cell += 1;
                }
            }
        }
        Ok(Confusion { matrix })
    }

    /// The share of each class's images predicted right (`None` for a class with no image).
    pub fn per_class(&self) -> Vec<Option<f64>> {
        self.matrix
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let n: usize = row.iter().sum();
                (n > 0).then(|| row[c] as f64 / n as f64)
            })
            .collect()
    }

    /// The share of all images predicted right.
    pub fn accuracy(&self) -> f64 {
        let right: usize = (0..self.matrix.len()).map(|c| self.matrix[c][c]).sum();
        let all: usize = self.matrix.iter().flatten().sum();
        right as f64 / all.max(1) as f64
    }
}

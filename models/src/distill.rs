//! Knowledge distillation (`train --distill-from`): a frozen teacher's softened scores as a
//! second target. The loss is `(1 − A)·L + A·T²·KL(softmax(t/T) ‖ softmax(s/T))`, where `L` is
//! the student's own loss on the labels (cross-entropy for an MLP, the membrane loss for an
//! SNN), `t` and `s` the teacher's and the student's scores ([`Network::distillation_scores`]:
//! an MLP's logits, an SNN's output membrane summed over the steps), `T` the temperature and `A`
//! the weight. Without augmentation an image's teacher scores never change, so they are computed
//! once per training image, before the first step; with it, per batch on the shifted images.

use candle_core::{DType, Device, Tensor, D};
use sha2::{Digest, Sha256};

use crate::checkpoint;
use crate::hub::CheckpointSource;
use crate::{Error, Network, Result};

/// `--distill-temperature` when not given: Hinton et al.'s range for small students.
pub const DEFAULT_TEMPERATURE: f64 = 4.0;
/// `--distill-weight` when not given: the soft targets dominate, the labels still count.
pub const DEFAULT_WEIGHT: f64 = 0.9;

pub use crate::checkpoint::Distillation;

/// `T` and `A` as the flags or a `run.json` give them.
pub fn validate(temperature: f64, weight: f64) -> std::result::Result<(), String> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(format!(
            "--distill-temperature must be positive, got {temperature}"
        ));
    }
    if !(0.0..=1.0).contains(&weight) {
        return Err(format!("--distill-weight must lie in [0, 1], got {weight}"));
    }
    Ok(())
}

/// A loaded teacher and its soft targets.
pub struct Teacher {
    network: Network,
    pub settings: Distillation,
    /// `log softmax(t/T)` of every training image, `[N, C]`, when computed once.
    log_targets: Option<Tensor>,
}

impl Teacher {
    /// Loads the teacher `source` names for a student of `inputs` inputs and `classes` classes;
    /// `recorded` (a resumed run's) must name the same weights.
    pub fn load(
        source: &str,
        temperature: f64,
        weight: f64,
        (inputs, classes): (usize, usize),
        recorded: Option<&Distillation>,
        device: &Device,
    ) -> Result<Self> {
        // T and A were checked with the run's other settings (RunSettings::validate).
        let fail = |problem: String| Error::Config(format!("--distill-from {source}: {problem}"));
        let reference = CheckpointSource::parse(source)?;
        let path = reference.resolve()?;
        let file = checkpoint::model_file(&path);
        let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        if let Some(recorded) = recorded {
            if recorded.sha256 != sha256 {
                return Err(fail(format!(
                    "its weights changed since the run started (SHA-256 {sha256}, the run \
                     recorded {}): a resumed run must distil from the same teacher",
                    recorded.sha256
                )));
            }
        }
        let loaded = checkpoint::load(&path, DType::F32, device)?;
        let model = &loaded.info.model;
        let (t_inputs, t_classes) = (model.input_size(), model.output_size());
        if (t_inputs, t_classes) != (inputs, classes) {
            return Err(fail(format!(
                "a teacher of {t_inputs} inputs and {t_classes} classes ({}) cannot teach a \
                 student of {inputs} inputs and {classes} classes",
                model.describe()
            )));
        }
        tracing::info!(
            "distilling from {source} ({}, recorded test accuracy {}): T = {temperature}, \
             A = {weight}",
            model.describe(),
            loaded
                .info
                .training
                .as_ref()
                .and_then(|t| t.final_test_accuracy)
                .map_or("none".into(), |a| format!("{a:.4}"))
        );
        Ok(Teacher {
            network: loaded.network,
            settings: Distillation {
                source: source.to_string(),
                commit: reference.revision(&path),
                sha256,
                temperature,
                weight,
            },
            log_targets: None,
        })
    }

    /// The teacher's `log softmax(t/T)` for `images`, in chunks, without gradients.
    fn log_targets_of(&self, images: &Tensor) -> Result<Tensor> {
        let n = images.dim(0)?;
        let mut parts = Vec::new();
        for start in (0..n).step_by(1000) {
            let x = images.narrow(0, start, 1000.min(n - start))?;
            let scores = self.network.distillation_scores(&x)?.detach();
            let scaled = (scores / self.settings.temperature)?;
            parts.push(candle_nn::ops::log_softmax(&scaled, D::Minus1)?);
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// The soft targets of every training image, once (runs without augmentation).
    pub fn precompute(&mut self, train_images: &Tensor) -> Result<()> {
        self.log_targets = Some(self.log_targets_of(train_images)?);
        Ok(())
    }

    /// The soft targets of a batch: the images `idx` of the training set, as they enter the
    /// step (`x`, shifted when the recipe augments).
    pub fn batch_log_targets(&self, idx: &Tensor, x: &Tensor) -> Result<Tensor> {
        match &self.log_targets {
            Some(all) => Ok(all.index_select(idx, 0)?),
            None => self.log_targets_of(x),
        }
    }

    /// The distilled loss from the student's own loss `label_loss` and scores `student`
    /// `[B, C]`, with the batch's `log_targets`.
    pub fn loss(
        &self,
        label_loss: &Tensor,
        student: &Tensor,
        log_targets: &Tensor,
    ) -> Result<Tensor> {
        let (t, a) = (self.settings.temperature, self.settings.weight);
        let log_student = candle_nn::ops::log_softmax(&(student / t)?, D::Minus1)?;
        // KL(p_t ‖ p_s) = Σ p_t (log p_t − log p_s), averaged over the batch.
        let kl = log_targets
            .exp()?
            .mul(&(log_targets - log_student)?)?
            .sum(D::Minus1)?
            .mean_all()?;
        Ok(((label_loss * (1.0 - a))? + (kl * (a * t * t))?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_and_weight_are_checked() {
        assert!(validate(4.0, 0.9).is_ok());
        assert!(validate(0.0, 0.5)
            .unwrap_err()
            .contains("--distill-temperature"));
        assert!(validate(f64::NAN, 0.5).is_err());
        assert!(validate(2.0, 1.5).unwrap_err().contains("--distill-weight"));
        assert!(validate(2.0, -0.1).is_err());
    }
}

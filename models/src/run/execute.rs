//! [`Run::execute`]: the data, the network and its optimizer, the directory's files, the epoch
//! loop and the saves.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarMap};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use super::directory::{self, METRICS_FILE, RUN_FILE};
use super::early_stopping::{self, Keep, KeptEpoch, BEST_FILE};
use super::{Beginning, Hooks, Outcome, Run, RunSettings, Start};
use crate::checkpoint::{self, CheckpointInfo, Lineage, Provenance};
use crate::data::{HeldOutSplits, Origin};
use crate::distill::Teacher;
use crate::recipe::steepness_at;
use crate::resume::{self, Position, RngState};
use crate::training::{self, Adam, EpochStart, StepPlan};
use crate::{Error, Network, Result};

/// The network being trained and everything a save writes with it.
struct Trainer {
    vars: VarMap,
    network: Network,
    optimizer: Adam,
    /// A fixed pruning mask (from `--init-from` or the resume state).
    masks: Option<Vec<Tensor>>,
}

impl Trainer {
    fn build(run: &mut Run, device: &Device) -> Result<Self> {
        let settings = &run.settings;
        let config = &settings.config;
        let vars = VarMap::new();
        let mut network = Network::seeded(config, &vars, settings.seed, DType::F32, device)?;
        let mut optimizer = training::adam(&vars, settings.lr)?;
        if settings.recipe.axis_lr_scale != 1.0 {
            let scaled = optimizer.scale_learning_rate(
                |name| name == "gaps" || name.ends_with(".z"),
                settings.recipe.axis_lr_scale,
            );
            let scale = settings.recipe.axis_lr_scale;
            tracing::info!("rate × {scale} for {}", scaled.join(", "));
        }
        if let Some(fault) = run.fault.take() {
            optimizer.inject_fault(fault)?;
        }
        let mut masks = run.start.as_ref().and_then(|s| s.masks.clone());
        if let Some(start) = &run.start {
            start.checkpoint.restore(&vars)?;
        }
        if let Beginning::Resumed(Some(state)) = &run.beginning {
            state.restore(&vars, &mut optimizer)?;
            let shapes: Vec<(usize, usize)> =
                config.layers.windows(2).map(|w| (w[1], w[0])).collect();
            masks = state.masks(&shapes)?;
            let p = &state.position;
            tracing::info!(
                "resuming {} from {}: epoch {} done, {} batches into the next, {} steps",
                run.dir.display(),
                state.file.display(),
                p.epochs_completed,
                p.batch,
                p.steps
            );
        }
        if config.fixed_mask.is_some() != masks.is_some() {
            return Err(Error::Run(
                "the fixed pruning mask the configuration names is missing from the saved state"
                    .into(),
            ));
        }
        if let Some(masks) = &masks {
            let on_device = masks
                .iter()
                .map(|m| m.to_device(device))
                .collect::<candle_core::Result<Vec<_>>>()?;
            network.set_keep_masks(Some(on_device))?;
        }
        Ok(Trainer {
            vars,
            network,
            optimizer,
            masks,
        })
    }

    /// The state first: whatever a kill leaves, the state file is a consistent point to resume
    /// from, and the checkpoint is rewritten from it at the next save.
    fn save(&self, dir: &Path, position: &Position, provenance: &Provenance) -> Result<()> {
        resume::save(
            dir,
            &self.vars,
            &self.optimizer,
            self.masks.as_deref(),
            position,
        )?;
        self.save_checkpoint(dir, provenance)
    }

    /// `config`: the network's as it stands (an annealed steepness changes it).
    fn save_checkpoint(&self, dir: &Path, provenance: &Provenance) -> Result<()> {
        let info = CheckpointInfo::new(self.network.config(), Some(provenance.clone()));
        checkpoint::save_with_masks(dir, &self.vars, &info, self.masks.as_deref())
    }
}

/// A fresh run's lineage: the `--init-from` source, scored before the first step.
fn lineage(start: &Start, network: &Network, test: (&Tensor, &Tensor)) -> Result<Lineage> {
    let initial = training::accuracy(network, test.0, test.1)?;
    let training = start.checkpoint.info.training.as_ref();
    tracing::info!(
        "starting from {}: test accuracy {initial:.4} before fine-tuning (recorded in the \
         checkpoint: {})",
        start.source,
        training
            .and_then(|t| t.final_test_accuracy)
            .map_or("none".to_string(), |a| format!("{a:.4}"))
    );
    Ok(Lineage {
        source: start.source.clone(),
        commit: crate::hub::snapshot_commit(&start.path),
        source_test_accuracy: training.and_then(|t| t.final_test_accuracy),
        source_epochs: training.map(|t| t.epochs_completed),
        initial_test_accuracy: initial,
    })
}

/// The directory's files before the first step of this process: a fresh run replaces what
/// `--force` allowed and writes `run.json` (from here on a kill can be resumed); a resumed one
/// repairs what a kill left. Returns the metrics log, open for appending.
fn prepare_dir(dir: &Path, settings: &RunSettings, beginning: &Beginning) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let metrics_path = dir.join(METRICS_FILE);
    match beginning {
        Beginning::Fresh => {
            directory::clear_run_files(dir)?;
            let json = serde_json::to_string_pretty(settings)
                .map_err(|e| Error::Run(format!("writing the run's settings: {e}")))?;
            checkpoint::write_atomically(&dir.join(RUN_FILE), format!("{json}\n").as_bytes())?;
            checkpoint::write_atomically(&metrics_path, settings.initial_metrics().as_bytes())?;
        }
        Beginning::Resumed(state) => {
            directory::remove_stale_temporaries(dir)?;
            match state {
                Some(state) => {
                    directory::truncate_metrics(&metrics_path, state.position.epochs_completed)?
                }
                // Killed before its first save: the run starts over, and so does its log.
                None => checkpoint::write_atomically(
                    &metrics_path,
                    settings.initial_metrics().as_bytes(),
                )?,
            }
        }
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&metrics_path)
        .map_err(|e| Error::io(&metrics_path, e))
}

/// The data a run trains on and scores with.
struct Data {
    held_out: HeldOutSplits,
    origin: Origin,
    train_samples: usize,
}

impl Data {
    fn load(settings: &RunSettings, device: &Device) -> Result<Self> {
        let (held_out, origin) = settings.data_source()?.splits_held_out(
            device,
            settings.val_split,
            settings.train_limit,
            settings.test_limit,
        )?;
        let splits = &held_out.splits;
        let train_samples = splits.train_x.dim(0)?;
        let config = &settings.config;
        let describe = format!("the network for {}", origin.description);
        let classes = match &origin.record {
            Some(record) => record.classes,
            None => crate::data::class_count(&[&splits.train_y, &splits.test_y])?,
        };
        let exact = origin.record.is_some();
        crate::data::check_fits(config, splits.train_x.dim(1)?, classes, exact, &describe)?;
        if settings.batch_size > train_samples {
            return Err(Error::Run(format!(
                "--batch-size {} is larger than the {train_samples} training images",
                settings.batch_size
            )));
        }
        Ok(Data {
            held_out,
            origin,
            train_samples,
        })
    }

    /// Scored every epoch: the held-out images when there are some, else the test set.
    fn scored(&self) -> (&Tensor, &Tensor, &'static str) {
        match &self.held_out.validation {
            Some((x, y)) => (x, y, "validation"),
            None => (
                &self.held_out.splits.test_x,
                &self.held_out.splits.test_y,
                "test",
            ),
        }
    }

    fn test(&self) -> (&Tensor, &Tensor) {
        (&self.held_out.splits.test_x, &self.held_out.splits.test_y)
    }

    fn validates(&self) -> bool {
        self.held_out.validation.is_some()
    }
}

/// The loop's state between epochs.
struct Progress {
    position: Position,
    provenance: Provenance,
    plan: StepPlan,
    metrics: std::fs::File,
    /// `--distill-from`: the frozen teacher.
    teacher: Option<Teacher>,
}

impl Run {
    /// The `--distill-from` teacher, loaded and checked against the student (and, resumed,
    /// against the weights the run recorded); its soft targets computed once unless the recipe
    /// augments. A fresh run records the teacher's commit and SHA-256 in its settings.
    fn teacher(&mut self, data: &Data, device: &Device) -> Result<Option<Teacher>> {
        let Some(d) = self.settings.distillation.clone() else {
            return Ok(None);
        };
        let config = &self.settings.config;
        let recorded = (!d.sha256.is_empty()).then_some(&d);
        let mut teacher = Teacher::load(
            &d.source,
            d.temperature,
            d.weight,
            (config.input_size(), config.output_size()),
            recorded,
            device,
        )?;
        if self.settings.recipe.augment_shift == 0 {
            teacher.precompute(&data.held_out.splits.train_x)?;
        }
        self.settings.distillation = Some(teacher.settings.clone());
        Ok(Some(teacher))
    }

    /// Trains the run to its last epoch, or until `hooks` asks it to stop; saves after every
    /// epoch and when stopped. A fresh run that fails before writing anything leaves no
    /// directory it made.
    pub fn execute(self, device: &Device, hooks: &mut dyn Hooks) -> Result<Outcome> {
        let (dir, created) = (self.dir.clone(), self.created_dir);
        let result = self.execute_inner(device, hooks);
        if result.is_err() && created {
            directory::remove_if_only_lock(&dir);
        }
        result
    }

    fn execute_inner(mut self, device: &Device, hooks: &mut dyn Hooks) -> Result<Outcome> {
        let data = Data::load(&self.settings, device)?;
        let mut trainer = Trainer::build(&mut self, device)?;
        if let (Beginning::Fresh, Some(start)) = (&self.beginning, &self.start) {
            self.settings.lineage = Some(lineage(start, &trainer.network, data.test())?);
        }
        let teacher = self.teacher(&data, device)?;
        let metrics = prepare_dir(&self.dir, &self.settings, &self.beginning)?;
        let params: usize = trainer.vars.all_vars().iter().map(|v| v.elem_count()).sum();
        let s = &self.settings;
        tracing::info!(
            "{}: {params} trainable parameters, lr {}, batch {}, {} epochs",
            s.config.describe(),
            s.lr,
            s.batch_size,
            s.epochs
        );
        hooks.training_starts()?;
        let position = match &self.beginning {
            Beginning::Resumed(Some(state)) => state.position.clone(),
            _ => Position::start(s.seed),
        };
        let mut progress = Progress {
            provenance: s.provenance(&position, data.train_samples, &data.origin),
            plan: s.step_plan(data.train_samples),
            position,
            metrics,
            teacher,
        };
        for epoch in progress.position.epochs_completed + 1..=s.epochs {
            if hooks.should_stop() {
                // Interrupted between epochs (while scoring or saving): the last state stands.
                progress.provenance.interrupted = true;
                trainer.save(&self.dir, &progress.position, &progress.provenance)?;
                tracing::warn!("stopped after epoch {}; checkpoint saved", epoch - 1);
                return Ok(self.stopped(&progress.position));
            }
            if early_stopping::patience_exhausted(&progress.position, s.patience) {
                let p = &progress.position;
                tracing::info!(
                    "stopping after epoch {}: {} epochs without beating epoch {}'s validation \
                     accuracy",
                    p.epochs_completed,
                    p.epochs_completed - p.best_epoch.unwrap_or_default(),
                    p.best_epoch.unwrap_or_default()
                );
                break;
            }
            if let Some(outcome) = self.epoch(epoch, &mut trainer, &data, &mut progress, hooks)? {
                return Ok(outcome);
            }
        }
        self.finish(&mut trainer, &data, &mut progress)
    }

    /// One epoch: its batches, its score, its metrics line and its save; `Some` when stopped
    /// part-way.
    fn epoch(
        &self,
        epoch: usize,
        trainer: &mut Trainer,
        data: &Data,
        progress: &mut Progress,
        hooks: &mut dyn Hooks,
    ) -> Result<Option<Outcome>> {
        let s = &self.settings;
        let epochs = s.epochs;
        if s.recipe.steepness_final.is_some() {
            let k = steepness_at(&s.recipe, s.config.steepness, epoch, epochs);
            trainer.network.set_steepness(k);
        }
        let position = progress.position.clone();
        let mut rng = position.rng.rng()?;
        let epoch_start_rng = RngState::capture(&rng);
        let order = training::epoch_order(data.train_samples, &mut rng);
        let batches = data.train_samples.div_ceil(s.batch_size);
        hooks.epoch_starts(epoch, epochs, batches, position.batch);
        let started = Instant::now();
        let splits = &data.held_out.splits;
        let report = training::train_batches_distilled(
            &trainer.network,
            &mut trainer.optimizer,
            (&splits.train_x, &splits.train_y),
            s.batch_size,
            &order,
            EpochStart {
                batch: position.batch,
                loss_sum: position.loss_sum,
                samples: position.samples,
            },
            &progress.plan,
            progress.teacher.as_ref(),
            |_, loss| {
                hooks.batch_finished(loss);
                !hooks.should_stop()
            },
        )
        .map_err(|e| {
            Error::Run(format!(
                "epoch {epoch}/{epochs} (the last good checkpoint is kept): {e}"
            ))
        })?;
        // The steps' time, before the scoring.
        let train_seconds = started.elapsed().as_secs_f64();
        if report.stopped_early {
            let stopped = (epoch, epoch_start_rng, position);
            return self
                .save_stopped(stopped, &report, trainer, progress)
                .map(Some);
        }
        // With --keep best the test set is scored once, on the kept epoch, at the end.
        let scores = Scores::of(&trainer.network, data, epoch == epochs && s.keep.is_last())?;
        let line = scores.metrics_line(
            epoch,
            epochs,
            &report,
            position.batch,
            train_seconds,
            trainer,
            s,
        );
        let metrics_path = self.dir.join(METRICS_FILE);
        writeln!(progress.metrics, "{line}")
            .and_then(|()| progress.metrics.flush())
            .map_err(|e| Error::io(&metrics_path, e))?;
        hooks.epoch_finished(&line);
        self.save_epoch(epoch, rng, position, &scores, trainer, progress)?;
        Ok(None)
    }

    /// After a stop part-way through `epoch` (its batch RNG as it started, the position before
    /// it): the position where it stopped, saved.
    fn save_stopped(
        &self,
        (epoch, epoch_start_rng, position): (usize, RngState, Position),
        report: &training::EpochReport,
        trainer: &mut Trainer,
        progress: &mut Progress,
    ) -> Result<Outcome> {
        progress.position = Position {
            batch: report.batches,
            loss_sum: report.loss_sum,
            samples: report.samples,
            steps: trainer.optimizer.steps(),
            rng: epoch_start_rng,
            ..position
        };
        progress.provenance.interrupted = true;
        trainer.save(&self.dir, &progress.position, &progress.provenance)?;
        tracing::warn!(
            "stopped during epoch {epoch} after batch {}; saved, `neuropos train --resume {}` \
             continues it",
            report.batches,
            self.dir.display()
        );
        Ok(self.stopped(&progress.position))
    }

    /// After `epoch` completed: the position at its end and the record, saved.
    fn save_epoch(
        &self,
        epoch: usize,
        rng: crate::resume::BatchRng,
        position: Position,
        scores: &Scores,
        trainer: &mut Trainer,
        progress: &mut Progress,
    ) -> Result<()> {
        let (accuracy, test_accuracy) = (scores.accuracy, scores.test_accuracy);
        progress.position = Position {
            epochs_completed: epoch,
            batch: 0,
            loss_sum: 0.0,
            samples: 0,
            steps: trainer.optimizer.steps(),
            rng: RngState::capture(&rng),
            last_test_accuracy: test_accuracy,
            last_val_accuracy: scores.validates.then_some(accuracy),
            ..position
        };
        let p = &mut progress.provenance;
        p.epochs_completed = epoch;
        p.final_test_accuracy = test_accuracy;
        p.final_val_accuracy = progress.position.last_val_accuracy;
        p.interrupted = false;
        if self.settings.keep == Keep::Best
            && scores.validates
            && early_stopping::improves(&progress.position, accuracy)
        {
            // Before the state that names it: a kill between the two redoes this epoch, which
            // writes the same file again.
            let info = CheckpointInfo::new(trainer.network.config(), Some(p.clone()));
            let best = self.dir.join(BEST_FILE);
            checkpoint::save_file(&best, &trainer.vars, &info, trainer.masks.as_deref())?;
            progress.position.best_epoch = Some(epoch);
            progress.position.best_val_accuracy = Some(accuracy);
        }
        trainer.save(&self.dir, &progress.position, &progress.provenance)
    }

    fn stopped(&self, position: &Position) -> Outcome {
        Outcome::Stopped {
            epochs_completed: position.epochs_completed,
            batch: position.batch,
        }
    }

    /// After the last epoch: the checkpoint rewritten if a kill came between the state's save
    /// and the checkpoint's (or, with `--keep best`, replaced by the best epoch's, scored on the
    /// test set once), and the resume state removed.
    fn finish(
        &self,
        trainer: &mut Trainer,
        data: &Data,
        progress: &mut Progress,
    ) -> Result<Outcome> {
        let s = &self.settings;
        let resumed = matches!(self.beginning, Beginning::Resumed(_));
        if s.keep == Keep::Best {
            self.keep_best(trainer, data, progress)?;
        } else if progress.position.epochs_completed == s.epochs && resumed {
            // The same bytes the uninterrupted run wrote: the steepness of the last epoch.
            if s.recipe.steepness_final.is_some() {
                let k = steepness_at(&s.recipe, s.config.steepness, s.epochs, s.epochs);
                trainer.network.set_steepness(k);
            }
            trainer.save_checkpoint(&self.dir, &progress.provenance)?;
        }
        // Done: the resume state has served; the directory is now an ordinary checkpoint.
        for file in [resume::STATE_FILE, BEST_FILE] {
            let path = self.dir.join(file);
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        tracing::info!("checkpoint in {}", self.dir.display());
        Ok(Outcome::Completed {
            final_test_accuracy: progress.provenance.final_test_accuracy,
        })
    }

    /// `--keep best` at the end: the best epoch's weights (and steepness) back in the network,
    /// the test set scored on them once, the checkpoint and a last log line saying which epoch
    /// it is.
    fn keep_best(&self, trainer: &mut Trainer, data: &Data, progress: &mut Progress) -> Result<()> {
        let s = &self.settings;
        let position = &progress.position;
        let (Some(epoch), Some(val_accuracy)) = (position.best_epoch, position.best_val_accuracy)
        else {
            return Err(Error::Run(format!(
                "{}: --keep best, but the resume state names no best epoch",
                self.dir.display()
            )));
        };
        let best = checkpoint::read(&self.dir.join(BEST_FILE))?;
        best.restore(&trainer.vars)?;
        trainer.network.set_steepness(best.info.model.steepness);
        let (x, y) = data.test();
        let test_accuracy = training::accuracy(&trainer.network, x, y)?;
        let kept = KeptEpoch {
            epoch,
            val_accuracy,
            epochs_trained: position.epochs_completed,
            early_stopped: position.epochs_completed < s.epochs,
            patience: s.patience,
        };
        tracing::info!(
            "kept epoch {epoch} of {} (validation accuracy {val_accuracy:.4}{}): test accuracy \
             {test_accuracy:.4}, scored once",
            kept.epochs_trained,
            if kept.early_stopped {
                ", stopped early"
            } else {
                ""
            }
        );
        let p = &mut progress.provenance;
        p.final_test_accuracy = Some(test_accuracy);
        p.final_val_accuracy = Some(val_accuracy);
        p.kept = Some(kept.clone());
        trainer.save_checkpoint(&self.dir, p)?;
        // No "epoch" key: a resume truncates the log to its epochs and writes this line again.
        let line = serde_json::json!({
            "kept_epoch": epoch,
            "val_accuracy": val_accuracy,
            "test_accuracy": test_accuracy,
            "epochs_trained": kept.epochs_trained,
            "early_stopped": kept.early_stopped,
        });
        let metrics_path = self.dir.join(METRICS_FILE);
        writeln!(progress.metrics, "{line}")
            .and_then(|()| progress.metrics.flush())
            .map_err(|e| Error::io(&metrics_path, e))
    }
}

/// An epoch's scores: on the validation split or the test set every epoch, the test set once
/// after the last epoch when validating.
struct Scores {
    accuracy: f64,
    scored_on: &'static str,
    test_accuracy: Option<f64>,
    validates: bool,
}

impl Scores {
    fn of(network: &Network, data: &Data, last: bool) -> Result<Self> {
        let (score_x, score_y, scored_on) = data.scored();
        let accuracy = training::accuracy(network, score_x, score_y)?;
        let test_accuracy = match (data.validates(), last) {
            (false, _) => Some(accuracy),
            (true, true) => {
                let (x, y) = data.test();
                Some(training::accuracy(network, x, y)?)
            }
            (true, false) => None,
        };
        Ok(Scores {
            accuracy,
            scored_on,
            test_accuracy,
            validates: data.validates(),
        })
    }

    /// The epoch's log line (also logged): loss, steps, time, the scores, the rate.
    #[allow(clippy::too_many_arguments)]
    fn metrics_line(
        &self,
        epoch: usize,
        epochs: usize,
        report: &training::EpochReport,
        first_batch: usize,
        train_seconds: f64,
        trainer: &Trainer,
        settings: &RunSettings,
    ) -> serde_json::Value {
        let steps_now = report.batches - first_batch;
        let ms_per_step = 1000.0 * train_seconds / steps_now.max(1) as f64;
        let (accuracy, scored_on) = (self.accuracy, self.scored_on);
        tracing::info!(
            "epoch {epoch}/{epochs}: train loss {:.4}, {scored_on} accuracy {accuracy:.4}{} \
             ({ms_per_step:.1} ms/step)",
            report.mean_loss,
            match (self.validates, self.test_accuracy) {
                (true, Some(t)) => format!(", test accuracy {t:.4} (scored once, now)"),
                _ => String::new(),
            }
        );
        let mut line = serde_json::json!({
            "epoch": epoch,
            "train_loss": report.mean_loss,
            "steps": report.batches,
            "train_seconds": train_seconds,
            "ms_per_step": ms_per_step,
            "complete": true,
        });
        if self.validates {
            line["val_accuracy"] = accuracy.into();
        }
        if let Some(t) = self.test_accuracy {
            line["test_accuracy"] = t.into();
        }
        if !settings.recipe.is_paper() {
            line["lr"] = trainer.optimizer.learning_rate().into();
        }
        line
    }
}

//! The one record of a run's settings: resolved from the user's choices and the defaults once,
//! written to `run.json` before the first step, and read back by `--resume`. The checkpoint's
//! provenance and the step plan are views of it.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::choices::{ArchitectureChoices, Choices, TrainingChoices};
use super::directory::RUN_FILE;
use super::early_stopping::Keep;
use super::Start;
use crate::checkpoint::{Lineage, Provenance};
use crate::config::{
    AxisMode, EmbeddedInit, WeightScale, DEFAULT_BATCH_SIZE, DEFAULT_DIM, DEFAULT_STEEPNESS,
};
use crate::data::{check_limit, DataSource, Origin};
use crate::layers::lif::{LifConfig, Surrogate};
use crate::recipe::{self, Preset, Recipe, SnnLoss};
use crate::resume::Position;
use crate::training::StepPlan;
use crate::{Activation, Config, Error, ModelKind, Result};

/// The hidden sizes when none are given: the paper's 784-2048-10.
pub const DEFAULT_HIDDEN: usize = 2048;
/// The format `run.json` is written in.
pub const RUN_FORMAT: &str = "neuropos-run/1";

/// Everything a run was started with, in `DIR/run.json` before its first step: what
/// `--resume` needs to redo the run's set-up exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub format: String,
    pub config: Config,
    pub lr: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub data: String,
    pub data_dir: Option<PathBuf>,
    /// Beyond the paper's recipe (absent in runs started before it existed: the paper's).
    #[serde(default, skip_serializing_if = "Recipe::is_paper")]
    pub recipe: Recipe,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_split: Option<usize>,
    /// `--recipe best` (absent for the paper's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// `--distill-from`: the teacher as given and T, A; its commit and the SHA-256 of its
    /// weights once the run has loaded it (what a resume checks the teacher against).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distillation: Option<crate::distill::Distillation>,
    /// The `--init-from` reference as given, and what it was when the run started.
    pub init_from: Option<String>,
    pub lineage: Option<Lineage>,
    /// `--keep best` (absent: the last epoch's weights, the paper's).
    #[serde(default, skip_serializing_if = "Keep::is_last")]
    pub keep: Keep,
    /// `--patience P`: stop after P epochs without a better validation score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
}

fn refuse<T>(problem: String) -> Result<T> {
    Err(Error::Run(problem))
}

impl RunSettings {
    /// The settings of a fresh run: the choices, then `--recipe best`'s, then the defaults.
    /// With `start` (an `--init-from` checkpoint) the architecture is the checkpoint's, and
    /// architecture choices must agree with it.
    /// `data`: `--data` and `--data-dir` as given (neither: the `--init-from` checkpoint's
    /// data, else MNIST).
    pub fn resolve(
        choices: &Choices,
        data: (Option<&str>, Option<&Path>),
        start: Option<&Start>,
    ) -> Result<Self> {
        let (arch, training) = (&choices.architecture, &choices.training);
        let recorded = start
            .and_then(|s| s.checkpoint.info.training.as_ref())
            .and_then(|t| t.dataset.as_ref())
            .map(|r| r.source.clone());
        let data_name = match (data.0, data.1, &recorded) {
            (Some(name), _, _) => name.to_string(),
            (None, None, Some(recorded)) => recorded.clone(),
            _ => "vendored".to_string(),
        };
        let source = DataSource::from_names(&data_name, data.1)?;
        let mut config = match start {
            Some(start) => {
                check_agrees(arch, training, &start.checkpoint.info.model, &start.source)?;
                start.checkpoint.info.model.clone()
            }
            None => {
                if let Some(model) = arch.model {
                    check_applies(arch, training, model)?;
                }
                let (shape, classes) = match source.known_shape() {
                    Some(known) => known,
                    None => {
                        let (d, _) = source.load()?;
                        (d.shape, d.classes)
                    }
                };
                config_from_choices(arch, training, &shape, classes)?
            }
        };
        // Pruning during training may be added to (or changed for) a fine-tuning run too.
        if let Some(pruning) = choices.pruning.pruning() {
            config.pruning = Some(pruning);
            config.validate()?;
        }
        // Fine-tuning has its own defaults: a pretrained network wants a few epochs at a lower
        // rate, not a fresh run's 300 at the full one.
        let preset = training.recipe.unwrap_or(match start {
            Some(_) => Preset::Finetune,
            None => Preset::Paper,
        });
        if preset == Preset::Finetune && start.is_none() {
            return Err(Error::Run(
                "--recipe finetune goes with --init-from (it sets how a pretrained network is \
                 fine-tuned)"
                    .into(),
            ));
        }
        let finetune = (preset == Preset::Finetune).then_some(&recipe::FINETUNE);
        let best = match preset {
            Preset::Paper | Preset::Finetune => None,
            Preset::Best => Some(recipe::best(&config).ok_or_else(|| {
                Error::Run(format!(
                    "--recipe best: the ablation has chosen no settings for {} yet (docs/cli.md \
                     lists the kinds it covers); use --recipe paper or set the flags",
                    config.describe()
                ))
            })?),
        };
        if let Some(b) = best {
            tracing::info!(
                "--recipe best for {}: {} (chosen on the validation split: {})",
                config.describe(),
                b.describe(),
                b.evidence
            );
        }
        // The preset's architecture choice applies only where the architecture is still being
        // chosen: a fine-tuned checkpoint keeps its own, and a given flag wins.
        match (best.and_then(|b| b.weight_scale), start, arch.weight_scale) {
            (Some(w), None, None) => {
                config.weight_scale = w;
                config.validate()?;
            }
            (Some(w), Some(start), _) if w != config.weight_scale => tracing::warn!(
                "--recipe best's --weight-scale {w} is an architecture choice: {} keeps its \
                 own ({})",
                start.source,
                config.weight_scale
            ),
            _ => {}
        }
        let kind = config.kind;
        let base = best.map(|b| b.recipe).unwrap_or_default();
        let t = training;
        let lr =
            t.lr.or(best.and_then(|b| b.lr))
                .or(finetune.map(|f| f.lr))
                .unwrap_or(kind.paper_learning_rate());
        let epochs = t
            .epochs
            .or(finetune.map(|f| f.epochs))
            .unwrap_or(kind.paper_epochs());
        if let (Some(_), Some(start)) = (finetune, start) {
            tracing::info!(
                "fine-tuning {} with --recipe finetune: {epochs} epochs at lr {lr} and a fresh \
                 Adam (--epochs, --lr or --recipe paper to change; results/accuracy/finetune.jsonl)",
                start.source
            );
        }
        let settings = RunSettings {
            format: RUN_FORMAT.into(),
            lr,
            epochs,
            batch_size: t
                .batch_size
                .or(best.and_then(|b| b.batch_size))
                .unwrap_or(DEFAULT_BATCH_SIZE),
            seed: t.seed.unwrap_or(0),
            train_limit: t.train_limit,
            test_limit: t.test_limit,
            data: data_name,
            data_dir: data.1.map(Path::to_path_buf),
            recipe: Recipe {
                schedule: t.lr_schedule.unwrap_or(base.schedule),
                warmup_epochs: t.warmup_epochs.unwrap_or(base.warmup_epochs),
                label_smoothing: t.label_smoothing.unwrap_or(base.label_smoothing),
                augment_shift: t.augment_shift.unwrap_or(base.augment_shift),
                steepness_final: t.steepness_final.or(base.steepness_final),
                axis_lr_scale: t.axis_lr_scale.unwrap_or(base.axis_lr_scale),
                snn_loss: t.snn_loss.unwrap_or(base.snn_loss),
            },
            val_split: t.val_split,
            preset: match preset {
                Preset::Paper => None,
                p => Some(p),
            },
            distillation: t
                .distill_from
                .as_ref()
                .map(|source| crate::distill::Distillation {
                    source: source.clone(),
                    commit: None,
                    sha256: String::new(),
                    temperature: t
                        .distill_temperature
                        .unwrap_or(crate::distill::DEFAULT_TEMPERATURE),
                    weight: t.distill_weight.unwrap_or(crate::distill::DEFAULT_WEIGHT),
                }),
            init_from: start.map(|s| s.source.clone()),
            lineage: None,
            keep: t.keep.unwrap_or_default(),
            patience: t.patience,
            config,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// `dir/run.json`, held to every check the flags are.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(RUN_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return refuse(format!(
                    "--resume {}: no {RUN_FILE} there, so no run of `neuropos train` to resume \
                     (runs started before resume existed cannot be resumed)",
                    dir.display()
                ))
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let settings: RunSettings = serde_json::from_str(&text)
            .map_err(|e| Error::Run(format!("{}: not valid run settings: {e}", path.display())))?;
        if settings.format != RUN_FORMAT {
            return refuse(format!(
                "{}: format `{}`, this neuropos reads `{RUN_FORMAT}`",
                path.display(),
                settings.format
            ));
        }
        settings.validate().map_err(|e| {
            Error::Run(format!(
                "{}: settings no flag could give: {e}",
                path.display()
            ))
        })?;
        Ok(settings)
    }

    /// Every check on a run's settings, whether they came from flags or from a `run.json`
    /// being resumed (an edited file is held to what the flags are).
    pub fn validate(&self) -> Result<()> {
        let (config, recipe) = (&self.config, &self.recipe);
        config.validate()?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return refuse(format!("--lr must be a positive number, got {}", self.lr));
        }
        if self.batch_size == 0 {
            return refuse("--batch-size must be positive".into());
        }
        if self.epochs == 0 {
            return refuse(
                "--epochs must be at least 1 (0 epochs would train and save nothing)".into(),
            );
        }
        if recipe.snn_loss != SnnLoss::Membrane && config.lif.is_none() {
            return refuse(format!(
                "--snn-loss chooses a spiking network's loss; {} is an MLP",
                config.describe()
            ));
        }
        recipe.validate(self.epochs).map_err(Error::Run)?;
        if let Some(d) = &self.distillation {
            crate::distill::validate(d.temperature, d.weight).map_err(Error::Run)?;
        }
        if recipe.steepness_final.is_some() && !config.kind.is_embedded() {
            return refuse(
                "--steepness-final anneals the inhibition masks; a baseline has none".into(),
            );
        }
        if recipe.axis_lr_scale != 1.0
            && !matches!(config.kind.axis(), Some(AxisMode::Gaps | AxisMode::Relaxed))
        {
            return refuse(format!(
                "--axis-lr-scale sets the rate of learned gaps or z; {} keeps its layers at fixed \
                 coordinates",
                config.describe()
            ));
        }
        if recipe.label_smoothing > 0.0 && config.lif.is_some() {
            return refuse(format!(
                "--label-smoothing applies to MLPs; {} trains on its membrane loss, which has none",
                config.describe()
            ));
        }
        if self.keep == Keep::Best && self.val_split.is_none() {
            return refuse(
                "--keep best chooses the epoch on the validation split, never on test: give \
                 --val-split N too"
                    .into(),
            );
        }
        match self.patience {
            Some(0) => return refuse("--patience must be at least 1 epoch".into()),
            Some(_) if self.keep != Keep::Best => {
                return refuse(
                    "--patience stops at the best validation epoch: it goes with --keep best \
                     (and --val-split N)"
                        .into(),
                )
            }
            _ => {}
        }
        if self.val_split == Some(0) {
            return refuse(
                "--val-split 0 holds nothing out; leave it away to train on every image".into(),
            );
        }
        check_limit("--train-limit", self.train_limit)?;
        check_limit("--test-limit", self.test_limit)?;
        DataSource::from_names(&self.data, self.data_dir.as_deref())?;
        Ok(())
    }

    /// Where the run's images come from.
    pub fn data_source(&self) -> Result<DataSource> {
        DataSource::from_names(&self.data, self.data_dir.as_deref())
    }

    /// The checkpoint's record of the run at `position`, trained on `train_samples` images
    /// from `origin`.
    pub fn provenance(
        &self,
        position: &Position,
        train_samples: usize,
        origin: &Origin,
    ) -> Provenance {
        Provenance {
            kind: self.config.kind.to_string(),
            epochs_completed: position.epochs_completed,
            epochs_planned: self.epochs,
            lr: self.lr,
            batch_size: self.batch_size,
            seed: self.seed,
            optimizer: "adam".into(),
            train_samples,
            data: origin.description.clone(),
            final_test_accuracy: position.last_test_accuracy,
            interrupted: false,
            init_from: self.lineage.clone(),
            recipe: (!self.recipe.is_paper()).then_some(self.recipe),
            val_split: self.val_split,
            final_val_accuracy: position.last_val_accuracy,
            preset: self.preset,
            dataset: origin.record.clone(),
            distillation: self.distillation.clone(),
            kept: None,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
        }
    }

    /// What every step does, for `train_samples` images a epoch.
    pub fn step_plan(&self, train_samples: usize) -> StepPlan {
        StepPlan {
            recipe: self.recipe,
            lr: self.lr,
            steps_per_epoch: train_samples.div_ceil(self.batch_size),
            epochs: self.epochs,
            seed: self.seed,
        }
    }

    /// The log's first line for a fine-tuning run (epoch 0: the source as loaded, scored before
    /// the first step); empty for a fresh start.
    pub fn initial_metrics(&self) -> String {
        self.lineage.as_ref().map_or(String::new(), |lineage| {
            let line = serde_json::json!({
                "epoch": 0,
                "test_accuracy": lineage.initial_test_accuracy,
                "init_from": lineage.source,
            });
            format!("{line}\n")
        })
    }
}

/// The architecture the choices describe for images of `shape` in `classes` classes, with the
/// paper's defaults for what they leave out.
pub fn config_from_choices(
    arch: &ArchitectureChoices,
    t: &TrainingChoices,
    shape: &[usize],
    classes: usize,
) -> Result<Config> {
    let Some(model) = arch.model else {
        return refuse("--model is required (or --init-from, to start from a checkpoint)".into());
    };
    let hidden = arch
        .hidden
        .as_ref()
        .map_or(vec![DEFAULT_HIDDEN], |h| h.0.clone());
    let dim = arch.dim.unwrap_or(DEFAULT_DIM);
    let mut config = Config::for_data(model, shape, &hidden, classes, dim);
    config.steepness = t.steepness.unwrap_or(DEFAULT_STEEPNESS);
    config.activation = arch.activation.unwrap_or(Activation::Relu);
    config.weight_scale = arch.weight_scale.unwrap_or_default();
    let init = EmbeddedInit::default();
    config.init = EmbeddedInit {
        coord_half_width: t.coord_init.unwrap_or(init.coord_half_width),
        inhibition_half_width: t.inhibition_init.unwrap_or(init.inhibition_half_width),
        layout: t.coord_layout.unwrap_or(init.layout),
    };
    if model.is_spiking() {
        let lif = LifConfig::default();
        config.lif = Some(LifConfig {
            beta: arch.beta.unwrap_or(lif.beta),
            threshold: arch.threshold.unwrap_or(lif.threshold),
            surrogate: arch.surrogate(),
            time_steps: arch.time_steps.unwrap_or(lif.time_steps),
            encoder: arch.encoder.unwrap_or(lif.encoder),
            readout: arch.readout.unwrap_or(lif.readout),
            reset: arch.reset.unwrap_or(lif.reset),
        });
    }
    config.validate()?;
    Ok(config)
}

/// The `train` flags that build `config` again from data of its shape (the inverse of
/// [`config_from_choices`]): `--model` and each architecture or initialisation choice that
/// differs from its default. Pruning during training and a stored mask are not here: the first
/// is a flag of its own, the second comes from `neuropos prune`, not from training.
/// `initialisation`: also the starting distribution's flags, which `--init-from` refuses (the
/// positions come from its checkpoint).
pub fn architecture_flags(config: &Config, initialisation: bool) -> Vec<String> {
    let kind = config.kind;
    let shown = |v: &dyn std::fmt::Display| v.to_string();
    let sizes = |h: &[usize]| {
        h.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    // (flag, the configuration's value, the default), each as the flag writes it: a flag is
    // written where the two differ.
    let mut choices = vec![("--hidden", sizes(config.hidden()), sizes(&[DEFAULT_HIDDEN]))];
    if kind.is_embedded() {
        let init = EmbeddedInit::default();
        choices.extend([
            ("--dim", shown(&config.dim), shown(&DEFAULT_DIM)),
            (
                "--weight-scale",
                shown(&config.weight_scale),
                shown(&WeightScale::default()),
            ),
            (
                "--steepness",
                shown(&config.steepness),
                shown(&DEFAULT_STEEPNESS),
            ),
        ]);
        if initialisation {
            choices.extend([
                (
                    "--coord-init",
                    shown(&config.init.coord_half_width),
                    shown(&init.coord_half_width),
                ),
                (
                    "--inhibition-init",
                    shown(&config.init.inhibition_half_width),
                    shown(&init.inhibition_half_width),
                ),
                (
                    "--coord-layout",
                    shown(&config.init.layout),
                    shown(&init.layout),
                ),
            ]);
        }
    }
    match &config.lif {
        Some(lif) => {
            let d = LifConfig::default();
            choices.extend([
                ("--time-steps", shown(&lif.time_steps), shown(&d.time_steps)),
                ("--encoder", shown(&lif.encoder), shown(&d.encoder)),
                ("--readout", shown(&lif.readout), shown(&d.readout)),
                ("--reset", shown(&lif.reset), shown(&d.reset)),
                ("--beta", shown(&lif.beta), shown(&d.beta)),
                ("--threshold", shown(&lif.threshold), shown(&d.threshold)),
            ]);
            // Two flags name one surrogate: both are written, or neither.
            if lif.surrogate != d.surrogate {
                let (name, scale) = match lif.surrogate {
                    Surrogate::Arctan { alpha } => ("arctan", alpha),
                    Surrogate::FastSigmoid { slope } => ("fast-sigmoid", slope),
                };
                choices.extend([
                    ("--surrogate", name.to_string(), String::new()),
                    ("--surrogate-scale", shown(&scale), String::new()),
                ]);
            }
        }
        None => choices.push((
            "--activation",
            shown(&config.activation),
            shown(&Activation::Relu),
        )),
    }
    let mut flags = vec!["--model".to_string(), kind.to_string()];
    for (flag, value, default) in choices {
        if value != default {
            flags.extend([flag.to_string(), value]);
        }
    }
    flags
}

/// With a checkpoint fixing the architecture (`--init-from`, `--resume`), every architecture
/// choice given must say what it says, and the initialisation choices have nothing to
/// initialise.
pub fn check_agrees(
    arch: &ArchitectureChoices,
    training: &TrainingChoices,
    config: &Config,
    source: &str,
) -> Result<()> {
    let mut clashes = Vec::new();
    let mut differs = |flag: &str, given: String, saved: String| {
        if given != saved {
            clashes.push(format!("{flag} {given} (the checkpoint has {saved})"));
        }
    };
    let shown = |v: &dyn std::fmt::Debug| format!("{v:?}");
    if let Some(model) = arch.model {
        differs("--model", model.to_string(), config.kind.to_string());
    }
    if let Some(hidden) = &arch.hidden {
        differs("--hidden", shown(&hidden.0), shown(&config.hidden()));
    }
    if let Some(dim) = arch.dim {
        differs("--dim", dim.to_string(), config.dim.to_string());
    }
    if let Some(k) = training.steepness {
        differs("--steepness", k.to_string(), config.steepness.to_string());
    }
    if let Some(a) = arch.activation {
        differs("--activation", shown(&a), shown(&config.activation));
    }
    if let Some(w) = arch.weight_scale {
        differs(
            "--weight-scale",
            w.to_string(),
            config.weight_scale.to_string(),
        );
    }
    match &config.lif {
        Some(lif) => {
            let given = [
                (
                    "--time-steps",
                    arch.time_steps
                        .map(|t| (t.to_string(), lif.time_steps.to_string())),
                ),
                (
                    "--encoder",
                    arch.encoder
                        .map(|e| (e.to_string(), lif.encoder.to_string())),
                ),
                (
                    "--readout",
                    arch.readout
                        .map(|r| (r.to_string(), lif.readout.to_string())),
                ),
                (
                    "--reset",
                    arch.reset.map(|r| (r.to_string(), lif.reset.to_string())),
                ),
                (
                    "--beta",
                    arch.beta.map(|b| (b.to_string(), lif.beta.to_string())),
                ),
                (
                    "--threshold",
                    arch.threshold
                        .map(|t| (t.to_string(), lif.threshold.to_string())),
                ),
            ];
            for (flag, pair) in given {
                if let Some((given, saved)) = pair {
                    differs(flag, given, saved);
                }
            }
            if arch.surrogate.is_some() || arch.surrogate_scale.is_some() {
                differs(
                    "--surrogate",
                    shown(&arch.surrogate()),
                    shown(&lif.surrogate),
                );
            }
        }
        None => {
            for flag in arch.spiking_given() {
                clashes.push(format!("{flag} (the checkpoint is not a spiking network)"));
            }
        }
    }
    for (flag, given) in [
        ("--coord-init", training.coord_init.is_some()),
        ("--coord-layout", training.coord_layout.is_some()),
        ("--inhibition-init", training.inhibition_init.is_some()),
    ] {
        if given {
            clashes.push(format!("{flag} (the positions come from the checkpoint)"));
        }
    }
    if clashes.is_empty() {
        return Ok(());
    }
    refuse(format!(
        "--init-from {source}: these flags contradict the checkpoint: {}",
        clashes.join("; ")
    ))
}

/// Refuses choices that mean nothing for `kind` rather than ignoring them.
pub fn check_applies(
    arch: &ArchitectureChoices,
    training: &TrainingChoices,
    kind: ModelKind,
) -> Result<()> {
    let mut pointless = Vec::new();
    if !kind.is_spiking() {
        for flag in arch.spiking_given() {
            pointless.push(format!("{flag} (only spiking kinds simulate LIF neurons)"));
        }
    } else if arch.activation.is_some() {
        pointless.push("--activation (spiking kinds use LIF neurons, not an activation)".into());
    }
    if !kind.is_embedded() {
        for (flag, given) in [
            ("--dim", arch.dim.is_some()),
            ("--weight-scale", arch.weight_scale.is_some()),
            ("--steepness", training.steepness.is_some()),
            ("--coord-init", training.coord_init.is_some()),
            ("--coord-layout", training.coord_layout.is_some()),
            ("--inhibition-init", training.inhibition_init.is_some()),
        ] {
            if given {
                pointless.push(format!("{flag} (a baseline has no positions)"));
            }
        }
    }
    if pointless.is_empty() {
        return Ok(());
    }
    refuse(format!(
        "--model {kind}: these flags do not apply to it: {}",
        pointless.join("; ")
    ))
}

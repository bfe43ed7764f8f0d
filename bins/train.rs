//! `neuropos train`: paper-default training with per-epoch atomic checkpoints.

use anyhow::{bail, Context};
use candle_core::{DType, Tensor};
use candle_nn::Optimizer;
use candle_nn::VarMap;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use neuropos_models::checkpoint::{self, CheckpointInfo, Lineage, Provenance};
use neuropos_models::config::{Activation, AxisMode, CoordLayout, EmbeddedInit, DEFAULT_STEEPNESS};
use neuropos_models::config::{DEFAULT_BATCH_SIZE, DEFAULT_DIM};
use neuropos_models::hub::CheckpointSource;
use neuropos_models::layers::lif::{LifConfig, Surrogate};
use neuropos_models::optimizer::{Fault, FaultTarget};
use neuropos_models::recipe::{self, steepness_at, LrSchedule, Preset, Recipe, SnnLoss};
use neuropos_models::resume::{self, RngState};
use neuropos_models::training::{self, adam, EpochStart};
use neuropos_models::{Config, ModelKind, Network};
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::common::{DataArgs, DeviceArgs, PruneDuringArgs, Sizes, Splits};
use crate::common::{METRICS_FILE, RUN_FILE};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// mlp3d, mlp3d-gaps, mlp3d-relaxed, snn3d, snn3d-gaps, snn3d-relaxed (embedded) or
    /// mlp, snn (baselines). Required unless --init-from gives the architecture.
    #[arg(long)]
    model: Option<ModelKind>,
    /// Hidden layer sizes, comma-separated (784-…-10 around them) [default: 2048].
    #[arg(long)]
    hidden: Option<Sizes>,
    /// Embedding dimension d (embedded models): d − 1 free coordinates plus the layer axis
    /// [default: 3].
    #[arg(long)]
    dim: Option<usize>,
    /// Start from this checkpoint's positions, inhibition values, biases, gaps or z (a directory
    /// or hf://owner/repo[@revision][/subdir]) and keep its architecture: architecture flags
    /// must agree with it. The optimizer starts fresh (new Adam moments).
    #[arg(long, value_parser = CheckpointSource::parse)]
    init_from: Option<CheckpointSource>,
    #[command(flatten)]
    pruning: PruneDuringArgs,
    /// Training epochs [default: 300 for MLPs, 200 for SNNs, as in the paper].
    #[arg(long)]
    epochs: Option<usize>,
    /// Adam learning rate [default: 0.005 embedded, 0.001 baselines, as in the paper].
    #[arg(long)]
    lr: Option<f64>,
    /// Learning-rate schedule: constant (the paper's), cosine (from the base rate to 0 over
    /// the steps after the warm-up) or step:EVERY:GAMMA (× GAMMA every EVERY epochs)
    /// [default: constant].
    #[arg(long, value_name = "SCHEDULE")]
    lr_schedule: Option<LrSchedule>,
    /// Epochs of linear warm-up to the base rate before the schedule [default: 0].
    #[arg(long, value_name = "E")]
    warmup_epochs: Option<usize>,
    /// Label smoothing ε of an MLP's loss: the target puts 1 − ε on the label and ε/10 on every
    /// class [default: 0].
    #[arg(long, value_name = "EPS")]
    label_smoothing: Option<f64>,
    /// Shift every training image by a random whole number of pixels in [−P, P] along each
    /// axis, drawn afresh at every step [default: 0, no augmentation].
    #[arg(long, value_name = "P")]
    augment_shift: Option<usize>,
    /// Anneal the mask steepness k linearly from --steepness at the first epoch to this at the
    /// last (embedded kinds) [default: k fixed].
    #[arg(long, value_name = "K")]
    steepness_final: Option<f64>,
    /// The layer-axis parameters' rate (gaps, or the relaxed kinds' z) as a factor of --lr
    /// [default: 1].
    #[arg(long, value_name = "S")]
    axis_lr_scale: Option<f64>,
    /// Spiking kinds: the loss on the output membrane at every step (the paper's) or on the
    /// output spike counts [default: membrane].
    #[arg(long, value_name = "LOSS")]
    snn_loss: Option<SnnLoss>,
    /// Hold out the last N training images (before --train-limit) for validation: every epoch
    /// is scored on them, and the test set only once, after the last epoch — choose settings
    /// on validation, never on test.
    #[arg(long, value_name = "N")]
    val_split: Option<usize>,
    /// Samples per batch [default: 600].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Seeds the initialisation and the batch order [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Train on the first N training images only.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Score on the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Steepness k of the inhibition mask 2·σ(k·v) − 1 [default: 10].
    #[arg(long)]
    steepness: Option<f64>,
    /// Free coordinates start uniform in ±this [default: 10].
    #[arg(long)]
    coord_init: Option<f64>,
    /// Where the free coordinates start: uniform (in ±--coord-init) or grid (the input
    /// neurons on the 28×28 pixel grid, hidden neurons on a square grid, outputs on a circle,
    /// spanning ±--coord-init) [default: uniform].
    #[arg(long, value_name = "LAYOUT")]
    coord_layout: Option<CoordLayout>,
    /// Raw inhibition values start uniform in ±this [default: 0.1].
    #[arg(long)]
    inhibition_init: Option<f64>,
    /// Hidden activation: relu, tanh or sigmoid [default: relu].
    #[arg(long, value_parser = parse_activation)]
    activation: Option<Activation>,
    /// `paper` (the paper's settings) or `best`: the settings this project's ablation chose
    /// for the kind on the validation split (docs/cli.md lists them); flags given beside it
    /// win. Recorded in the checkpoint's provenance [default: paper].
    #[arg(long)]
    recipe: Option<Preset>,
    /// SNN: simulation steps T [default: 25].
    #[arg(long)]
    time_steps: Option<usize>,
    /// SNN: how the image enters — `direct` (the pixels as a constant current at every step,
    /// the paper's), `rate[:GAIN]` (snnTorch's spikegen.rate: a spike per step with
    /// probability GAIN·pixel) or `latency[:THRESHOLD][:linear]` (spikegen.latency with
    /// normalize and clip: one spike per pixel, brighter earlier) [default: direct].
    #[arg(long)]
    encoder: Option<neuropos_models::encoder::Encoder>,
    /// SNN: the prediction — `count` (the most output spikes, ties broken by the summed
    /// membrane: the paper's rule as neuropos reads it) or `membrane` (the largest summed
    /// membrane potential) [default: count].
    #[arg(long)]
    readout: Option<neuropos_models::layers::lif::Readout>,
    /// SNN: membrane decay β per step [default: 0.95].
    #[arg(long)]
    beta: Option<f64>,
    /// SNN: firing threshold [default: 1].
    #[arg(long)]
    threshold: Option<f64>,
    /// SNN: surrogate gradient of the spike, arctan (snnTorch's default) or fast-sigmoid
    /// [default: arctan].
    #[arg(long, value_parser = ["arctan", "fast-sigmoid"])]
    surrogate: Option<String>,
    /// SNN: the surrogate's α (arctan, default 2) or slope (fast-sigmoid, default 25).
    #[arg(long)]
    surrogate_scale: Option<f64>,
    /// Run directory: model.safetensors, config.json, metrics.jsonl, run.json (the settings,
    /// written before the first step) and optimizer.safetensors (the state a resume needs;
    /// removed when the run completes).
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the interrupted run in DIR where its last save left it; the result is
    /// bit-identical to an uninterrupted run on the CPU. Takes its settings from DIR/run.json:
    /// architecture flags may be given only if they agree, training flags not at all.
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "out", "init_from", "prune_during", "epochs", "lr", "batch_size", "seed", "train_limit",
        "test_limit", "steepness", "coord_init", "inhibition_init", "data", "data_dir", "force",
        "lr_schedule", "warmup_epochs", "label_smoothing", "val_split", "coord_layout",
        "augment_shift", "steepness_final", "axis_lr_scale", "snn_loss",
    ])]
    resume: Option<PathBuf>,
    /// Replace the run an --out directory already holds (without it, `train` refuses).
    #[arg(long)]
    force: bool,
    /// Testing only: `grad|param:STEP:NAME` fills that parameter's gradient (or the parameter,
    /// after the update) with NaN at global step STEP; `loss:STEP` makes that step's loss NaN.
    #[arg(long, hide = true, value_name = "FAULT")]
    debug_fault: Option<String>,
    /// Testing only: sleep this long in the middle of writing every file of a save.
    #[arg(long, hide = true, value_name = "MS")]
    debug_save_delay_ms: Option<u64>,
    /// Testing only: act as if Ctrl-C came after this many batches of this process.
    #[arg(long, hide = true, value_name = "BATCHES")]
    debug_stop_after: Option<usize>,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
}

fn parse_activation(s: &str) -> Result<Activation, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown activation `{s}`; expected relu, tanh or sigmoid"))
}

/// The architecture the flags describe, with the paper's defaults for what they leave out.
fn config_from_flags(args: &TrainArgs) -> anyhow::Result<Config> {
    let Some(model) = args.model else {
        bail!("--model is required (or --init-from, to start from a checkpoint)");
    };
    let hidden = args.hidden.as_ref().map_or(vec![2048], |h| h.0.clone());
    let mut config = Config::mnist(model, &hidden, args.dim.unwrap_or(DEFAULT_DIM));
    config.steepness = args.steepness.unwrap_or(DEFAULT_STEEPNESS);
    config.activation = args.activation.unwrap_or(Activation::Relu);
    let init = EmbeddedInit::default();
    config.init = EmbeddedInit {
        coord_half_width: args.coord_init.unwrap_or(init.coord_half_width),
        inhibition_half_width: args.inhibition_init.unwrap_or(init.inhibition_half_width),
        layout: args.coord_layout.unwrap_or(init.layout),
    };
    if model.is_spiking() {
        let lif = LifConfig::default();
        config.lif = Some(LifConfig {
            beta: args.beta.unwrap_or(lif.beta),
            threshold: args.threshold.unwrap_or(lif.threshold),
            surrogate: surrogate(args.surrogate.as_deref(), args.surrogate_scale),
            time_steps: args.time_steps.unwrap_or(lif.time_steps),
            encoder: args.encoder.unwrap_or(lif.encoder),
            readout: args.readout.unwrap_or(lif.readout),
        });
    }
    config.validate()?;
    Ok(config)
}

fn surrogate(name: Option<&str>, scale: Option<f64>) -> Surrogate {
    match name {
        Some("fast-sigmoid") => Surrogate::FastSigmoid {
            slope: scale.unwrap_or(25.0),
        },
        _ => Surrogate::Arctan {
            alpha: scale.unwrap_or(2.0),
        },
    }
}

/// With --init-from the checkpoint fixes the architecture: every architecture flag given must
/// say what it says, and the initialisation flags have nothing to initialise.
fn check_flags_agree(args: &TrainArgs, config: &Config, source: &str) -> anyhow::Result<()> {
    let mut clashes = Vec::new();
    let mut differs = |flag: &str, given: String, saved: String| {
        if given != saved {
            clashes.push(format!("{flag} {given} (the checkpoint has {saved})"));
        }
    };
    if let Some(model) = args.model {
        differs("--model", model.to_string(), config.kind.to_string());
    }
    if let Some(hidden) = &args.hidden {
        differs(
            "--hidden",
            format!("{:?}", hidden.0),
            format!("{:?}", config.hidden()),
        );
    }
    if let Some(dim) = args.dim {
        differs("--dim", dim.to_string(), config.dim.to_string());
    }
    if let Some(k) = args.steepness {
        differs("--steepness", k.to_string(), config.steepness.to_string());
    }
    if let Some(a) = args.activation {
        differs(
            "--activation",
            format!("{a:?}"),
            format!("{:?}", config.activation),
        );
    }
    match &config.lif {
        Some(lif) => {
            if let Some(t) = args.time_steps {
                differs("--time-steps", t.to_string(), lif.time_steps.to_string());
            }
            if let Some(e) = args.encoder {
                differs("--encoder", e.to_string(), lif.encoder.to_string());
            }
            if let Some(r) = args.readout {
                differs("--readout", r.to_string(), lif.readout.to_string());
            }
            if let Some(b) = args.beta {
                differs("--beta", b.to_string(), lif.beta.to_string());
            }
            if let Some(t) = args.threshold {
                differs("--threshold", t.to_string(), lif.threshold.to_string());
            }
            if args.surrogate.is_some() || args.surrogate_scale.is_some() {
                let given = surrogate(args.surrogate.as_deref(), args.surrogate_scale);
                differs(
                    "--surrogate",
                    format!("{given:?}"),
                    format!("{:?}", lif.surrogate),
                );
            }
        }
        None => {
            let spiking_flags = [
                ("--time-steps", args.time_steps.is_some()),
                ("--encoder", args.encoder.is_some()),
                ("--readout", args.readout.is_some()),
                ("--beta", args.beta.is_some()),
                ("--threshold", args.threshold.is_some()),
                ("--surrogate", args.surrogate.is_some()),
                ("--surrogate-scale", args.surrogate_scale.is_some()),
            ];
            for (flag, _) in spiking_flags.iter().filter(|(_, given)| *given) {
                clashes.push(format!("{flag} (the checkpoint is not a spiking network)"));
            }
        }
    }
    for (flag, given) in [
        ("--coord-init", args.coord_init.is_some()),
        ("--coord-layout", args.coord_layout.is_some()),
        ("--inhibition-init", args.inhibition_init.is_some()),
    ] {
        if given {
            clashes.push(format!("{flag} (the positions come from the checkpoint)"));
        }
    }
    if clashes.is_empty() {
        Ok(())
    } else {
        bail!(
            "--init-from {source}: these flags contradict the checkpoint: {}",
            clashes.join("; ")
        )
    }
}

/// The Hub commit a snapshot path was downloaded at: the folder under `snapshots/`.
fn snapshot_commit(path: &Path) -> Option<String> {
    let mut parts = path.components().map(|c| c.as_os_str().to_string_lossy());
    parts
        .by_ref()
        .find(|p| p == "snapshots")
        .and_then(|_| parts.next().map(|c| c.into_owned()))
}

/// Everything a run was started with, in `DIR/run.json` before its first step: what
/// `--resume` needs to redo the run's set-up exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The `--init-from` reference as given, and what it was when the run started.
    pub init_from: Option<String>,
    pub lineage: Option<Lineage>,
}

const RUN_FORMAT: &str = "neuropos-run/1";

impl RunSettings {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(RUN_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "--resume {}: no {RUN_FILE} there, so no run of `neuropos train` to resume \
                 (runs started before resume existed cannot be resumed)",
                dir.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let settings: RunSettings = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid run settings", path.display()))?;
        if settings.format != RUN_FORMAT {
            bail!(
                "{}: format `{}`, this neuropos reads `{RUN_FORMAT}`",
                path.display(),
                settings.format
            );
        }
        settings
            .validate()
            .with_context(|| format!("{}: settings no flag could give", path.display()))?;
        Ok(settings)
    }

    /// Every check on a run's settings, whether they came from flags or from a `run.json`
    /// being resumed (an edited file is held to what the flags are).
    fn validate(&self) -> anyhow::Result<()> {
        let (config, recipe) = (&self.config, &self.recipe);
        config.validate()?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be a positive number, got {}", self.lr);
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be positive");
        }
        if self.epochs == 0 {
            bail!("--epochs must be at least 1 (0 epochs would train and save nothing)");
        }
        if recipe.snn_loss != SnnLoss::Membrane && config.lif.is_none() {
            bail!(
                "--snn-loss chooses a spiking network's loss; {} is an MLP",
                config.describe()
            );
        }
        recipe.validate(self.epochs).map_err(anyhow::Error::msg)?;
        if recipe.steepness_final.is_some() && !config.kind.is_embedded() {
            bail!("--steepness-final anneals the inhibition masks; a baseline has none");
        }
        if recipe.axis_lr_scale != 1.0
            && !matches!(config.kind.axis(), Some(AxisMode::Gaps | AxisMode::Relaxed))
        {
            bail!(
                "--axis-lr-scale sets the rate of learned gaps or z; {} keeps its layers at fixed \
                 coordinates",
                config.describe()
            );
        }
        if recipe.label_smoothing > 0.0 && config.lif.is_some() {
            bail!(
                "--label-smoothing applies to MLPs; {} trains on its membrane loss, which has none",
                config.describe()
            );
        }
        if self.val_split == Some(0) {
            bail!("--val-split 0 holds nothing out; leave it away to train on every image");
        }
        for (flag, limit) in [
            ("--train-limit", self.train_limit),
            ("--test-limit", self.test_limit),
        ] {
            crate::common::check_limit(flag, limit)?;
        }
        Ok(())
    }

    fn data_args(&self) -> DataArgs {
        DataArgs {
            data: self.data.clone(),
            data_dir: self.data_dir.clone(),
        }
    }
}

/// Refuses training flags that mean nothing for the chosen kind rather than ignoring them.
fn check_flags_apply(args: &TrainArgs, kind: ModelKind) -> anyhow::Result<()> {
    let mut pointless = Vec::new();
    if !kind.is_spiking() {
        for (flag, given) in [
            ("--time-steps", args.time_steps.is_some()),
            ("--encoder", args.encoder.is_some()),
            ("--readout", args.readout.is_some()),
            ("--beta", args.beta.is_some()),
            ("--threshold", args.threshold.is_some()),
            ("--surrogate", args.surrogate.is_some()),
            ("--surrogate-scale", args.surrogate_scale.is_some()),
        ] {
            if given {
                pointless.push(format!("{flag} (only spiking kinds simulate LIF neurons)"));
            }
        }
    } else if args.activation.is_some() {
        pointless.push("--activation (spiking kinds use LIF neurons, not an activation)".into());
    }
    if !kind.is_embedded() {
        for (flag, given) in [
            ("--dim", args.dim.is_some()),
            ("--steepness", args.steepness.is_some()),
            ("--coord-init", args.coord_init.is_some()),
            ("--coord-layout", args.coord_layout.is_some()),
            ("--inhibition-init", args.inhibition_init.is_some()),
        ] {
            if given {
                pointless.push(format!("{flag} (a baseline has no positions)"));
            }
        }
    }
    if pointless.is_empty() {
        Ok(())
    } else {
        bail!(
            "--model {kind}: these flags do not apply to it: {}",
            pointless.join("; ")
        )
    }
}

/// A `--debug-fault grad|param:STEP:NAME` or `loss:STEP`.
fn parse_fault(spec: &str) -> anyhow::Result<Fault> {
    let mut parts = spec.splitn(3, ':');
    let (Some(target), Some(step)) = (parts.next(), parts.next()) else {
        bail!("--debug-fault {spec}: expected grad|param:STEP:NAME or loss:STEP");
    };
    let param = parts.next().unwrap_or_default();
    let target = match target {
        "grad" => FaultTarget::Gradient,
        "param" => FaultTarget::Parameter,
        "loss" => FaultTarget::Loss,
        other => bail!("--debug-fault {spec}: `{other}` is not grad, param or loss"),
    };
    let step = step
        .parse()
        .with_context(|| format!("--debug-fault {spec}: `{step}` is not a step"))?;
    Ok(Fault {
        step,
        param: param.to_string(),
        target,
    })
}

/// The settings of a fresh run from its flags (reading the --init-from checkpoint), and the
/// source's masks and parameters to start from.
fn fresh_settings(args: &TrainArgs) -> anyhow::Result<(RunSettings, Option<Start>)> {
    let start = match &args.init_from {
        None => None,
        Some(source) => {
            let path = source.resolve()?;
            let mut checkpoint = checkpoint::read(&path)
                .with_context(|| format!("reading the --init-from checkpoint {source}"))?;
            // A stored pruning mask stays fixed while fine-tuning, and is saved again.
            let masks = checkpoint.take_masks()?;
            check_flags_agree(args, &checkpoint.info.model, &source.to_string())?;
            if let (Some(out), Ok(from)) = (&args.out, path.canonicalize()) {
                if let Ok(to) = out.canonicalize() {
                    if from == to || from.parent() == Some(to.as_path()) {
                        bail!(
                            "--out {} is the --init-from checkpoint itself; fine-tune into \
                             another directory so the source stays as it is",
                            out.display()
                        );
                    }
                }
            }
            Some(Start {
                source: source.to_string(),
                path,
                checkpoint,
                masks,
            })
        }
    };
    let mut config = match &start {
        Some(start) => start.checkpoint.info.model.clone(),
        None => {
            if let Some(model) = args.model {
                check_flags_apply(args, model)?;
            }
            config_from_flags(args)?
        }
    };
    // Pruning during training may be added to (or changed for) a fine-tuning run too.
    if let Some(pruning) = args.pruning.pruning() {
        config.pruning = Some(pruning);
        config.validate()?;
    }
    let kind = config.kind;
    let best = match args.recipe.unwrap_or_default() {
        Preset::Paper => None,
        Preset::Best => Some(recipe::best(&config).ok_or_else(|| {
            anyhow::anyhow!(
                "--recipe best: the ablation has chosen no settings for {} yet (docs/cli.md \
                 lists the kinds it covers); use --recipe paper or set the flags",
                config.describe()
            )
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
    let lr = args
        .lr
        .or(best.and_then(|b| b.lr))
        .unwrap_or(kind.paper_learning_rate());
    let batch_size = args
        .batch_size
        .or(best.and_then(|b| b.batch_size))
        .unwrap_or(DEFAULT_BATCH_SIZE);
    let epochs = args.epochs.unwrap_or(kind.paper_epochs());
    let base = best.map(|b| b.recipe).unwrap_or_default();
    let recipe = Recipe {
        schedule: args.lr_schedule.unwrap_or(base.schedule),
        warmup_epochs: args.warmup_epochs.unwrap_or(base.warmup_epochs),
        label_smoothing: args.label_smoothing.unwrap_or(base.label_smoothing),
        augment_shift: args.augment_shift.unwrap_or(base.augment_shift),
        steepness_final: args.steepness_final.or(base.steepness_final),
        axis_lr_scale: args.axis_lr_scale.unwrap_or(base.axis_lr_scale),
        snn_loss: args.snn_loss.unwrap_or(base.snn_loss),
    };
    let settings = RunSettings {
        format: RUN_FORMAT.into(),
        config,
        lr,
        epochs,
        batch_size,
        seed: args.seed.unwrap_or(0),
        train_limit: args.train_limit,
        test_limit: args.test_limit,
        data: args.data.data.clone(),
        data_dir: args.data.data_dir.clone(),
        recipe,
        val_split: args.val_split,
        preset: best.map(|_| Preset::Best),
        init_from: start.as_ref().map(|s| s.source.clone()),
        lineage: None,
    };
    settings.validate()?;
    Ok((settings, start))
}

/// The checkpoint a run starts from (`--init-from`).
struct Start {
    source: String,
    path: PathBuf,
    checkpoint: checkpoint::Checkpoint,
    masks: Option<Vec<Tensor>>,
}

impl Start {
    fn open(source: &str) -> anyhow::Result<Self> {
        let parsed = CheckpointSource::parse(source).map_err(anyhow::Error::msg)?;
        let path = parsed.resolve()?;
        let mut checkpoint = checkpoint::read(&path)
            .with_context(|| format!("reading the --init-from checkpoint {source}"))?;
        let masks = checkpoint.take_masks()?;
        Ok(Start {
            source: source.to_string(),
            path,
            checkpoint,
            masks,
        })
    }
}

/// Drops metrics lines past the resumed position (an epoch logged but not saved before a
/// kill), so the log reads as one uninterrupted run.
fn truncate_metrics(path: &Path, epochs_completed: usize) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("epoch").and_then(|e| e.as_u64()))
                .is_some_and(|e| e as usize <= epochs_completed)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    checkpoint::write_atomically(path, kept.as_bytes())?;
    Ok(())
}

/// The log's first line for a fine-tuning run (epoch 0: the source as loaded, scored before the
/// first step); empty for a fresh start.
fn initial_metrics(settings: &RunSettings) -> String {
    settings.lineage.as_ref().map_or(String::new(), |lineage| {
        let line = serde_json::json!({
            "epoch": 0,
            "test_accuracy": lineage.initial_test_accuracy,
            "init_from": lineage.source,
        });
        format!("{line}\n")
    })
}

/// Temporary files of saves a kill interrupted.
fn remove_stale_temporaries(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(".tmp-") && entry.path().is_file() {
            tracing::info!(
                "removing {}, left by an interrupted save",
                entry.path().display()
            );
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The lock a training holds on its run directory, so that two processes (a sweep launched
/// twice, a resume while the run still trains) never write one run. An OS file lock: released
/// when the process ends, however it ends.
pub const LOCK_FILE: &str = ".neuropos-lock";

fn lock_run_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the output directory {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // A process killed a moment ago may still hold it while it dies (a sweep restarted right
    // after a kill): wait a little before calling it a second writer.
    let patience = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if patience.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "{}: another neuropos train is writing this run right now; wait for it (or \
                 stop it and --resume)",
                dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let fault = args.debug_fault.as_deref().map(parse_fault).transpose()?;
    checkpoint::set_debug_write_delay(std::time::Duration::from_millis(
        args.debug_save_delay_ms.unwrap_or(0),
    ));
    // Held until this function returns.
    let lock;
    let (dir, settings, start, resumed) = match &args.resume {
        Some(dir) => {
            let settings = RunSettings::read(dir)?;
            lock = Some(lock_run_dir(dir)?);
            if let Some(done) = checkpoint::completed_training(dir) {
                if !dir.join(resume::STATE_FILE).exists() {
                    println!(
                        "{}: the run is complete ({} epochs, test accuracy {}); nothing to resume",
                        dir.display(),
                        done.epochs_completed,
                        done.final_test_accuracy
                            .map_or("none".to_string(), |a| format!("{a:.4}"))
                    );
                    return Ok(());
                }
            }
            let source = settings.init_from.as_deref();
            check_flags_agree(&args, &settings.config, &dir.display().to_string())
                .map_err(|e| anyhow::anyhow!("--resume {}: {e}", dir.display()))?;
            let state = resume::read(dir)?;
            // Without a saved state the run restarts from its beginning, which needs the
            // source's parameters again.
            let start = match (state.is_none(), source) {
                (true, Some(source)) => Some(Start::open(source)?),
                _ => None,
            };
            (dir.clone(), settings, start, Some(state))
        }
        None => {
            let out = args
                .out
                .clone()
                .expect("clap requires --out without --resume");
            let (settings, start) = fresh_settings(&args)?;
            if out.exists() && !out.is_dir() {
                bail!("--out {} exists and is not a directory", out.display());
            }
            lock = Some(lock_run_dir(&out)?);
            crate::common::check_out_dir(&out, args.force, "a run")?;
            if args.force && !crate::common::held_run_files(&out).is_empty() {
                // Nothing is removed yet: the old run stays resumable until every flag, file
                // and the device are checked and the new run writes its first file (`execute`).
                tracing::warn!("--force: the run in {} will be replaced", out.display());
            }
            (out, settings, start, None)
        }
    };
    let result = execute(
        &dir,
        settings,
        start,
        resumed,
        &args.device,
        fault,
        args.debug_stop_after,
    );
    drop(lock);
    result
}

fn execute(
    dir: &Path,
    mut settings: RunSettings,
    start: Option<Start>,
    resumed: Option<Option<resume::TrainState>>,
    device_args: &DeviceArgs,
    fault: Option<Fault>,
    stop_after: Option<usize>,
) -> anyhow::Result<()> {
    let config = settings.config.clone();
    let device = device_args.device()?;
    let (splits, origin) = settings.data_args().load_splits_held_out(
        &device,
        settings.val_split,
        settings.train_limit,
        settings.test_limit,
    )?;
    let Splits {
        train_x,
        train_y,
        test_x,
        test_y,
    } = splits.splits;
    // Scored every epoch: the held-out images when there are some, else the test set.
    let (score_x, score_y, scored_on) = match &splits.validation {
        Some((x, y)) => (x.clone(), y.clone(), "validation"),
        None => (test_x.clone(), test_y.clone(), "test"),
    };
    let train_samples = train_x.dim(0)?;
    if settings.batch_size > train_samples {
        bail!(
            "--batch-size {} is larger than the {train_samples} training images",
            settings.batch_size
        );
    }

    let vars = VarMap::new();
    let mut network = Network::seeded(&config, &vars, settings.seed, DType::F32, &device)?;
    let mut optimizer = adam(&vars, settings.lr)?;
    if settings.recipe.axis_lr_scale != 1.0 {
        let scaled = optimizer.scale_learning_rate(
            |name| name == "gaps" || name.ends_with(".z"),
            settings.recipe.axis_lr_scale,
        );
        tracing::info!(
            "rate × {} for {}",
            settings.recipe.axis_lr_scale,
            scaled.join(", ")
        );
    }
    if let Some(fault) = fault {
        optimizer.inject_fault(fault)?;
    }
    let mut masks = start.as_ref().and_then(|s| s.masks.clone());
    if let Some(start) = &start {
        start.checkpoint.restore(&vars)?;
    }
    let state = resumed.as_ref().and_then(|s| s.as_ref());
    if let Some(state) = state {
        state.restore(&vars, &mut optimizer)?;
        let shapes: Vec<(usize, usize)> = config.layers.windows(2).map(|w| (w[1], w[0])).collect();
        masks = state.masks(&shapes)?;
        tracing::info!(
            "resuming {} from {}: epoch {} done, {} batches into the next, {} steps",
            dir.display(),
            state.file.display(),
            state.position.epochs_completed,
            state.position.batch,
            state.position.steps
        );
    }
    if config.fixed_mask.is_some() != masks.is_some() {
        bail!("the fixed pruning mask the configuration names is missing from the saved state");
    }
    if let Some(masks) = &masks {
        let on_device = masks
            .iter()
            .map(|m| m.to_device(&device))
            .collect::<candle_core::Result<Vec<_>>>()?;
        network.set_keep_masks(Some(on_device))?;
    }

    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the output directory {}", dir.display()))?;
    let metrics_path = dir.join(METRICS_FILE);
    if resumed.is_none() {
        if let Some(start) = &start {
            let initial = training::accuracy(&network, &test_x, &test_y)?;
            let training = start.checkpoint.info.training.as_ref();
            tracing::info!(
                "starting from {}: test accuracy {initial:.4} before fine-tuning \
                 (recorded in the checkpoint: {})",
                start.source,
                training
                    .and_then(|t| t.final_test_accuracy)
                    .map_or("none".to_string(), |a| format!("{a:.4}"))
            );
            settings.lineage = Some(Lineage {
                source: start.source.clone(),
                commit: snapshot_commit(&start.path),
                source_test_accuracy: training.and_then(|t| t.final_test_accuracy),
                source_epochs: training.map(|t| t.epochs_completed),
                initial_test_accuracy: initial,
            });
        }
        // Everything is checked: now --force replaces the old run, all of it (its state must
        // not be resumed with the new run's settings).
        crate::common::clear_run_files(dir)?;
        // Before the first step: a run killed from here on can be resumed.
        let json = serde_json::to_string_pretty(&settings)?;
        checkpoint::write_atomically(&dir.join(RUN_FILE), format!("{json}\n").as_bytes())?;
        checkpoint::write_atomically(&metrics_path, initial_metrics(&settings).as_bytes())?;
    } else {
        remove_stale_temporaries(dir)?;
        match state {
            Some(state) => truncate_metrics(&metrics_path, state.position.epochs_completed)?,
            // Killed before its first save: the run starts over, and so does its log.
            None => {
                checkpoint::write_atomically(&metrics_path, initial_metrics(&settings).as_bytes())?
            }
        }
    }
    let mut metrics = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&metrics_path)
        .with_context(|| format!("opening {}", metrics_path.display()))?;

    let params: usize = vars.all_vars().iter().map(|v| v.elem_count()).sum();
    let (epochs, batch_size) = (settings.epochs, settings.batch_size);
    tracing::info!(
        "{}: {params} trainable parameters, lr {}, batch {batch_size}, {epochs} epochs",
        config.describe(),
        settings.lr,
    );

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing this batch, then saving (Ctrl-C again to abort)");
        })
        .context("installing the Ctrl-C handler")?;
    }

    let mut position = match state {
        Some(state) => state.position.clone(),
        None => resume::Position {
            format: resume::STATE_FORMAT.into(),
            epochs_completed: 0,
            batch: 0,
            loss_sum: 0.0,
            samples: 0,
            steps: 0,
            rng: RngState::capture(&resume::batch_rng(settings.seed)),
            last_test_accuracy: None,
            last_val_accuracy: None,
        },
    };
    let mut provenance = Provenance {
        kind: config.kind.to_string(),
        epochs_completed: position.epochs_completed,
        epochs_planned: epochs,
        lr: settings.lr,
        batch_size,
        seed: settings.seed,
        optimizer: "adam".into(),
        train_samples,
        data: origin,
        final_test_accuracy: position.last_test_accuracy,
        interrupted: false,
        init_from: settings.lineage.clone(),
        recipe: (!settings.recipe.is_paper()).then_some(settings.recipe),
        val_split: settings.val_split,
        final_val_accuracy: position.last_val_accuracy,
        preset: settings.preset,
    };
    let plan = training::StepPlan {
        recipe: settings.recipe,
        lr: settings.lr,
        steps_per_epoch: train_samples.div_ceil(batch_size),
        epochs,
        seed: settings.seed,
    };
    // `config`: the network's as it stands (an annealed steepness changes it).
    let save = |position: &resume::Position,
                provenance: &Provenance,
                optimizer: &training::Adam,
                config: &Config|
     -> anyhow::Result<()> {
        // The state first: whatever a kill leaves, the state file is a consistent point to
        // resume from, and the checkpoint is rewritten from it at the next save.
        resume::save(dir, &vars, optimizer, masks.as_deref(), position)?;
        let info = CheckpointInfo::new(config, Some(provenance.clone()));
        checkpoint::save_with_masks(dir, &vars, &info, masks.as_deref())?;
        Ok(())
    };

    let batches = train_samples.div_ceil(batch_size);
    let mut batches_this_process = 0usize;
    for epoch in position.epochs_completed + 1..=epochs {
        if stop.load(Ordering::SeqCst) {
            // Interrupted between epochs (while scoring or saving): the last state stands.
            provenance.interrupted = true;
            save(&position, &provenance, &optimizer, network.config())?;
            tracing::warn!("stopped after epoch {}; checkpoint saved", epoch - 1);
            return Ok(());
        }
        if settings.recipe.steepness_final.is_some() {
            network.set_steepness(steepness_at(
                &settings.recipe,
                config.steepness,
                epoch,
                epochs,
            ));
        }
        let mut rng = position.rng.rng()?;
        let epoch_start_rng = RngState::capture(&rng);
        let order = training::epoch_order(train_samples, &mut rng);
        let bar = progress_bar(batches as u64, epoch, epochs);
        bar.set_position(position.batch as u64);
        let started = Instant::now();
        let report = training::train_batches(
            &network,
            &mut optimizer,
            &train_x,
            &train_y,
            batch_size,
            &order,
            EpochStart {
                batch: position.batch,
                loss_sum: position.loss_sum,
                samples: position.samples,
            },
            &plan,
            |_, loss| {
                bar.set_message(format!("loss {loss:.4}"));
                bar.inc(1);
                batches_this_process += 1;
                if stop_after == Some(batches_this_process) {
                    stop.store(true, Ordering::SeqCst);
                }
                !stop.load(Ordering::SeqCst)
            },
        )
        .with_context(|| format!("epoch {epoch}/{epochs} (the last good checkpoint is kept)"))?;
        bar.finish_and_clear();
        let train_seconds = started.elapsed().as_secs_f64();
        if report.stopped_early {
            position = resume::Position {
                batch: report.batches,
                loss_sum: report.loss_sum,
                samples: report.samples,
                steps: optimizer.steps(),
                rng: epoch_start_rng,
                ..position
            };
            provenance.interrupted = true;
            save(&position, &provenance, &optimizer, network.config())?;
            tracing::warn!(
                "stopped during epoch {epoch} after batch {}; saved, `neuropos train --resume {}` \
                 continues it",
                report.batches,
                dir.display()
            );
            return Ok(());
        }
        let accuracy = training::accuracy(&network, &score_x, &score_y)?;
        // With a validation split the test set is scored once, after the last epoch.
        let test_accuracy = match splits.validation {
            None => Some(accuracy),
            Some(_) if epoch == epochs => Some(training::accuracy(&network, &test_x, &test_y)?),
            Some(_) => None,
        };
        let steps_now = report.batches - position.batch;
        let ms_per_step = 1000.0 * train_seconds / steps_now.max(1) as f64;
        tracing::info!(
            "epoch {epoch}/{epochs}: train loss {:.4}, {scored_on} accuracy {accuracy:.4}{} \
             ({ms_per_step:.1} ms/step)",
            report.mean_loss,
            match (splits.validation.is_some(), test_accuracy) {
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
        if splits.validation.is_some() {
            line["val_accuracy"] = accuracy.into();
        }
        if let Some(t) = test_accuracy {
            line["test_accuracy"] = t.into();
        }
        if !settings.recipe.is_paper() {
            line["lr"] = optimizer.learning_rate().into();
        }
        writeln!(metrics, "{line}")
            .with_context(|| format!("writing {}", metrics_path.display()))?;
        metrics.flush()?;

        position = resume::Position {
            epochs_completed: epoch,
            batch: 0,
            loss_sum: 0.0,
            samples: 0,
            steps: optimizer.steps(),
            rng: RngState::capture(&rng),
            last_test_accuracy: test_accuracy,
            last_val_accuracy: splits.validation.is_some().then_some(accuracy),
            ..position
        };
        provenance.epochs_completed = epoch;
        provenance.final_test_accuracy = test_accuracy;
        provenance.final_val_accuracy = position.last_val_accuracy;
        provenance.interrupted = false;
        save(&position, &provenance, &optimizer, network.config())?;
    }
    if position.epochs_completed == epochs && epochs > 0 && resumed.is_some() {
        // A kill after the last state save but before the checkpoint's: write it again from
        // the state (the same bytes the uninterrupted run wrote).
        if settings.recipe.steepness_final.is_some() {
            network.set_steepness(steepness_at(
                &settings.recipe,
                config.steepness,
                epochs,
                epochs,
            ));
        }
        let info = CheckpointInfo::new(network.config(), Some(provenance.clone()));
        checkpoint::save_with_masks(dir, &vars, &info, masks.as_deref())?;
    }
    // Done: the resume state has served; the directory is now an ordinary checkpoint.
    let state_file = dir.join(resume::STATE_FILE);
    if state_file.exists() {
        std::fs::remove_file(&state_file)
            .with_context(|| format!("removing {}", state_file.display()))?;
    }
    tracing::info!("checkpoint in {}", dir.display());
    Ok(())
}

fn progress_bar(len: u64, epoch: usize, epochs: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("epoch {epoch}/{epochs}"));
    bar
}

//! `neuropos train`: paper-default training with per-epoch atomic checkpoints.

use anyhow::{bail, Context};
use candle_core::DType;
use candle_nn::VarMap;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use neuropos_models::checkpoint::{self, CheckpointInfo, Lineage, Provenance};
use neuropos_models::config::{Activation, EmbeddedInit, DEFAULT_STEEPNESS};
use neuropos_models::hub::CheckpointSource;
use neuropos_models::layers::lif::{LifConfig, Surrogate};
use neuropos_models::training::{self, adam};
use neuropos_models::{Config, ModelKind, Network};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::common::{DataArgs, DeviceArgs, PruneDuringArgs, Sizes, Splits};

pub const METRICS_FILE: &str = "metrics.jsonl";

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
    #[arg(long, default_value_t = 600)]
    batch_size: usize,
    /// Seeds the initialisation and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
    /// Raw inhibition values start uniform in ±this [default: 0.1].
    #[arg(long)]
    inhibition_init: Option<f64>,
    /// Hidden activation: relu, tanh or sigmoid [default: relu].
    #[arg(long, value_parser = parse_activation)]
    activation: Option<Activation>,
    /// SNN: simulation steps T (the image is a constant input current at every step)
    /// [default: 25].
    #[arg(long)]
    time_steps: Option<usize>,
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
    /// Checkpoint directory (model.safetensors, config.json, metrics.jsonl).
    #[arg(long)]
    out: PathBuf,
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
    let mut config = Config::mnist(model, &hidden, args.dim.unwrap_or(3));
    config.steepness = args.steepness.unwrap_or(DEFAULT_STEEPNESS);
    config.activation = args.activation.unwrap_or(Activation::Relu);
    let init = EmbeddedInit::default();
    config.init = EmbeddedInit {
        coord_half_width: args.coord_init.unwrap_or(init.coord_half_width),
        inhibition_half_width: args.inhibition_init.unwrap_or(init.inhibition_half_width),
    };
    if model.is_spiking() {
        let lif = LifConfig::default();
        config.lif = Some(LifConfig {
            beta: args.beta.unwrap_or(lif.beta),
            threshold: args.threshold.unwrap_or(lif.threshold),
            surrogate: surrogate(args.surrogate.as_deref(), args.surrogate_scale),
            time_steps: args.time_steps.unwrap_or(lif.time_steps),
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

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let start = match &args.init_from {
        None => None,
        Some(source) => {
            let path = source.resolve()?;
            let mut checkpoint = checkpoint::read(&path)
                .with_context(|| format!("reading the --init-from checkpoint {source}"))?;
            // A stored pruning mask stays fixed while fine-tuning, and is saved again.
            let masks = checkpoint.take_masks()?;
            check_flags_agree(&args, &checkpoint.info.model, &source.to_string())?;
            if let (Ok(from), Ok(to)) = (path.canonicalize(), args.out.canonicalize()) {
                if from == to || from.parent() == Some(to.as_path()) {
                    bail!(
                        "--out {} is the --init-from checkpoint itself; fine-tune into another \
                         directory so the source stays as it is",
                        args.out.display()
                    );
                }
            }
            Some((source.clone(), path, checkpoint, masks))
        }
    };
    let mut config = match &start {
        Some((_, _, checkpoint, _)) => checkpoint.info.model.clone(),
        None => config_from_flags(&args)?,
    };
    // Pruning during training may be added to (or changed for) a fine-tuning run too.
    if let Some(pruning) = args.pruning.pruning() {
        config.pruning = Some(pruning);
        config.validate()?;
    }
    let kind = config.kind;
    let lr = args.lr.unwrap_or(kind.paper_learning_rate());
    if !(lr.is_finite() && lr > 0.0) {
        bail!("--lr must be a positive number, got {lr}");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    let epochs = args.epochs.unwrap_or(kind.paper_epochs());

    let device = args.device.device()?;
    let (splits, origin) = args
        .data
        .load_splits(&device, args.train_limit, args.test_limit)?;
    let Splits {
        train_x,
        train_y,
        test_x,
        test_y,
    } = splits;
    let train_samples = train_x.dim(0)?;
    if train_samples == 0 {
        bail!("no training samples (--train-limit 0?)");
    }

    let vars = VarMap::new();
    let mut network = Network::seeded(&config, &vars, args.seed, DType::F32, &device)?;
    let masks = start.as_ref().and_then(|(_, _, _, masks)| masks.clone());
    let lineage = match &start {
        None => None,
        Some((source, path, checkpoint, _)) => {
            checkpoint.restore(&vars)?;
            if let Some(masks) = &masks {
                let on_device = masks
                    .iter()
                    .map(|m| m.to_device(&device))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                network.set_keep_masks(Some(on_device))?;
            }
            let initial = training::accuracy(&network, &test_x, &test_y)?;
            let training = checkpoint.info.training.as_ref();
            tracing::info!(
                "starting from {source}: test accuracy {initial:.4} before fine-tuning \
                 (recorded in the checkpoint: {})",
                training
                    .and_then(|t| t.final_test_accuracy)
                    .map_or("none".to_string(), |a| format!("{a:.4}"))
            );
            Some(Lineage {
                source: source.to_string(),
                commit: snapshot_commit(path),
                source_test_accuracy: training.and_then(|t| t.final_test_accuracy),
                source_epochs: training.map(|t| t.epochs_completed),
                initial_test_accuracy: initial,
            })
        }
    };
    let params: usize = vars.all_vars().iter().map(|v| v.elem_count()).sum();
    tracing::info!(
        "{}: {params} trainable parameters, lr {lr}, batch {}, {} epochs",
        config.describe(),
        args.batch_size,
        epochs
    );
    let mut optimizer = adam(&vars, lr)?;
    // The batch order gets its own stream so changing the architecture does not reshuffle data.
    let mut rng = StdRng::seed_from_u64(args.seed.wrapping_add(0x05EE_D0FB_A7C4));

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

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the output directory {}", args.out.display()))?;
    let metrics_path = args.out.join(METRICS_FILE);
    let mut metrics = std::fs::File::create(&metrics_path)
        .with_context(|| format!("creating {}", metrics_path.display()))?;

    let batches = train_samples.div_ceil(args.batch_size);
    let mut provenance = Provenance {
        kind: config.kind.to_string(),
        epochs_completed: 0,
        epochs_planned: epochs,
        lr,
        batch_size: args.batch_size,
        seed: args.seed,
        optimizer: "adam".into(),
        train_samples,
        data: origin,
        final_test_accuracy: None,
        interrupted: false,
        init_from: lineage.clone(),
    };
    if let Some(lineage) = &lineage {
        // Epoch 0: the loaded checkpoint as it was, before the first fine-tuning step.
        let line = serde_json::json!({
            "epoch": 0,
            "test_accuracy": lineage.initial_test_accuracy,
            "init_from": lineage.source,
        });
        writeln!(metrics, "{line}")
            .with_context(|| format!("writing {}", metrics_path.display()))?;
    }
    for epoch in 1..=epochs {
        if stop.load(Ordering::SeqCst) {
            // Interrupted between epochs (while scoring or saving): the last save stands.
            provenance.interrupted = true;
            checkpoint::save_with_masks(
                &args.out,
                &vars,
                &CheckpointInfo::new(&config, Some(provenance)),
                masks.as_deref(),
            )?;
            tracing::warn!("stopped after epoch {}; checkpoint saved", epoch - 1);
            break;
        }
        let bar = progress_bar(batches as u64, epoch, epochs);
        let started = Instant::now();
        let report = training::train_epoch(
            &network,
            &mut optimizer,
            &train_x,
            &train_y,
            args.batch_size,
            &mut rng,
            |_, loss| {
                bar.set_message(format!("loss {loss:.4}"));
                bar.inc(1);
                !stop.load(Ordering::SeqCst)
            },
        )?;
        bar.finish_and_clear();
        let train_seconds = started.elapsed().as_secs_f64();
        let accuracy = training::accuracy(&network, &test_x, &test_y)?;
        tracing::info!(
            "epoch {epoch}/{}: train loss {:.4}, test accuracy {accuracy:.4} ({:.1} ms/step)",
            epochs,
            report.mean_loss,
            1000.0 * train_seconds / report.batches.max(1) as f64
        );
        let line = serde_json::json!({
            "epoch": epoch,
            "train_loss": report.mean_loss,
            "test_accuracy": accuracy,
            "steps": report.batches,
            "train_seconds": train_seconds,
            "ms_per_step": 1000.0 * train_seconds / report.batches.max(1) as f64,
            "complete": !report.stopped_early,
        });
        writeln!(metrics, "{line}")
            .with_context(|| format!("writing {}", metrics_path.display()))?;
        metrics.flush()?;

        provenance.epochs_completed = if report.stopped_early {
            epoch - 1
        } else {
            epoch
        };
        provenance.final_test_accuracy = Some(accuracy);
        provenance.interrupted = report.stopped_early;
        let info = CheckpointInfo::new(&config, Some(provenance.clone()));
        checkpoint::save_with_masks(&args.out, &vars, &info, masks.as_deref())?;
        if report.stopped_early {
            tracing::warn!("stopped during epoch {epoch}; checkpoint saved");
            break;
        }
    }
    tracing::info!("checkpoint in {}", args.out.display());
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

//! `neuropos train`: paper-default training with per-epoch atomic checkpoints.

use anyhow::{bail, Context};
use candle_core::DType;
use candle_nn::VarMap;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use neuropos_models::checkpoint::{self, CheckpointInfo, Provenance};
use neuropos_models::config::{Activation, EmbeddedInit, DEFAULT_STEEPNESS};
use neuropos_models::layers::lif::{LifConfig, Surrogate};
use neuropos_models::training::{self, adam};
use neuropos_models::Network;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::common::{DataArgs, DeviceArgs, ModelArgs};

pub const METRICS_FILE: &str = "metrics.jsonl";

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    architecture: ModelArgs,
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
    /// Steepness k of the inhibition mask 2·σ(k·v) − 1.
    #[arg(long, default_value_t = DEFAULT_STEEPNESS)]
    steepness: f64,
    /// Free coordinates start uniform in ±this.
    #[arg(long, default_value_t = EmbeddedInit::default().coord_half_width)]
    coord_init: f64,
    /// Raw inhibition values start uniform in ±this.
    #[arg(long, default_value_t = EmbeddedInit::default().inhibition_half_width)]
    inhibition_init: f64,
    /// Hidden activation: relu, tanh or sigmoid.
    #[arg(long, default_value = "relu", value_parser = parse_activation)]
    activation: Activation,
    /// SNN: simulation steps T (the image is a constant input current at every step).
    #[arg(long, default_value_t = LifConfig::default().time_steps)]
    time_steps: usize,
    /// SNN: membrane decay β per step.
    #[arg(long, default_value_t = LifConfig::default().beta)]
    beta: f64,
    /// SNN: firing threshold.
    #[arg(long, default_value_t = LifConfig::default().threshold)]
    threshold: f64,
    /// SNN: surrogate gradient of the spike, arctan (snnTorch's default) or fast-sigmoid.
    #[arg(long, default_value = "arctan", value_parser = ["arctan", "fast-sigmoid"])]
    surrogate: String,
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

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let lr = args
        .lr
        .unwrap_or(args.architecture.model.paper_learning_rate());
    if !(lr.is_finite() && lr > 0.0) {
        bail!("--lr must be a positive number, got {lr}");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    let mut config = args.architecture.config();
    config.steepness = args.steepness;
    config.activation = args.activation;
    config.init = EmbeddedInit {
        coord_half_width: args.coord_init,
        inhibition_half_width: args.inhibition_init,
    };
    if config.kind.is_spiking() {
        let surrogate = match args.surrogate.as_str() {
            "fast-sigmoid" => Surrogate::FastSigmoid {
                slope: args.surrogate_scale.unwrap_or(25.0),
            },
            _ => Surrogate::Arctan {
                alpha: args.surrogate_scale.unwrap_or(2.0),
            },
        };
        config.lif = Some(LifConfig {
            beta: args.beta,
            threshold: args.threshold,
            surrogate,
            time_steps: args.time_steps,
        });
    }
    config.validate()?;
    let epochs = args
        .epochs
        .unwrap_or(args.architecture.model.paper_epochs());

    let device = args.device.device()?;
    let (mut mnist, origin) = args.data.load()?;
    if let Some(n) = args.train_limit {
        mnist = mnist.limit_train(n)?;
    }
    if let Some(n) = args.test_limit {
        mnist = mnist.limit_test(n)?;
    }
    let train_x = mnist.train_images.to_device(&device)?;
    let train_y = mnist.train_labels.to_device(&device)?;
    let test_x = mnist.test_images.to_device(&device)?;
    let test_y = mnist.test_labels.to_device(&device)?;
    let train_samples = train_x.dim(0)?;
    if train_samples == 0 {
        bail!("no training samples (--train-limit 0?)");
    }

    let vars = VarMap::new();
    let network = Network::seeded(&config, &vars, args.seed, DType::F32, &device)?;
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
    };
    for epoch in 1..=epochs {
        if stop.load(Ordering::SeqCst) {
            // Interrupted between epochs (while scoring or saving): the last save stands.
            provenance.interrupted = true;
            checkpoint::save(
                &args.out,
                &vars,
                &CheckpointInfo::new(&config, Some(provenance)),
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
        checkpoint::save(&args.out, &vars, &info)?;
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

//! `neuropos prune`: a pruned copy of a checkpoint, its mask stored, optionally compensated and
//! fine-tuned with the mask fixed.

use anyhow::{bail, Context};
use candle_core::DType;
use clap::Args;
use neuropos_models::checkpoint::{self, CheckpointInfo, Lineage, Provenance};
use neuropos_models::config::DEFAULT_BATCH_SIZE;
use neuropos_models::hub::CheckpointSource;
use neuropos_models::prune::levels::{self, StoredPruning};
use neuropos_models::prune::{self, FixedMask, NeuronScore, PruneScope, Rank};
use neuropos_models::run::{fine_tune, FineTune};
use neuropos_models::training;
use neuropos_models::Network;
use std::fmt::Write;
use std::path::PathBuf;

use crate::common::METRICS_FILE;
use crate::common::{DataArgs, DeviceArgs};

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Checkpoint directory, .safetensors file or hf://owner/repo[@revision][/subdir].
    #[arg(value_parser = CheckpointSource::parse)]
    source: CheckpointSource,
    /// Remove the smallest P % of all weights (the mask is stored with the checkpoint). A
    /// checkpoint that prunes itself is pruned further: P is the share of all weights removed,
    /// its own ones first, then the smallest of the kept ones (at least its own share).
    #[arg(
        long,
        value_name = "P",
        required_unless_present = "neurons",
        conflicts_with = "neurons"
    )]
    percent: Option<f64>,
    /// Instead, remove the P % of each hidden layer's neurons that contribute least: a smaller
    /// network of the same kind.
    #[arg(long, value_name = "P")]
    neurons: Option<f64>,
    /// How --neurons scores a neuron: `outgoing` (|m_j|·Σ_k |w_jk|) or `variance` (of its
    /// activity over the first 2000 training images).
    #[arg(long, default_value = "outgoing")]
    neuron_score: NeuronScore,
    /// Rank within each layer or over the whole network.
    #[arg(long, default_value = "layer")]
    scope: PruneScope,
    /// Rank by `distance` (|w|, the paper's) or `effective` (|m_i·w_ij|).
    #[arg(long, default_value = "distance")]
    rank: Rank,
    /// Fold the newly removed connections' mean current into the biases, measured on the first
    /// N training images.
    #[arg(long, value_name = "N")]
    compensate: Option<usize>,
    /// Then fine-tune for E epochs with the mask fixed (Adam afresh, the paper's learning rate
    /// unless --lr).
    #[arg(long, default_value_t = 0)]
    finetune_epochs: usize,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Seeds the fine-tuning's batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Score on the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Fine-tune on the first N training images only.
    #[arg(long)]
    train_limit: Option<usize>,
    /// The directory of the pruned checkpoint.
    #[arg(long)]
    out: PathBuf,
    /// Replace a checkpoint already in --out.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// The pruned network and what a save writes with it.
struct Pruned {
    model: neuropos_models::Config,
    vars: candle_nn::VarMap,
    network: Network,
    /// A fixed mask (weight pruning); none for a smaller network (whole neurons).
    masks: Option<Vec<candle_core::Tensor>>,
    compensated_on: usize,
}

/// The first `n` of `images` for `--compensate n`, checked against how many there are.
fn compensation_images(
    n: Option<usize>,
    images: &candle_core::Tensor,
) -> anyhow::Result<Option<candle_core::Tensor>> {
    let available = images.dim(0)?;
    match n {
        None => Ok(None),
        Some(n) if n == 0 || n > available => {
            bail!("--compensate takes 1 to {available} training images, got {n}")
        }
        Some(n) => Ok(Some(images.narrow(0, 0, n)?)),
    }
}

/// A smaller network without the `percent` % weakest neurons of each hidden layer.
fn without_neurons(
    args: &PruneArgs,
    percent: f64,
    loaded: &checkpoint::Loaded,
    train_x: &candle_core::Tensor,
) -> anyhow::Result<Pruned> {
    let images = train_x.narrow(0, 0, train_x.dim(0)?.min(2000))?;
    let scores = prune::neuron_scores(&loaded.network, args.neuron_score, &images)?;
    let keep = prune::neurons_to_keep(&scores, percent);
    let (model, vars) = prune::remove_neurons(&loaded.network, &loaded.vars, &keep)?;
    let network = Network::seeded(&model, &vars, 0, DType::F32, train_x.device())?;
    let compensated_on = match compensation_images(args.compensate, train_x)? {
        None => 0,
        Some(images) => {
            prune::compensate_removed_neurons(&loaded.network, &keep, &network, &vars, &images)?;
            images.dim(0)?
        }
    };
    Ok(Pruned {
        model,
        vars,
        network,
        masks: None,
        compensated_on,
    })
}

/// The same network with the `masks` chosen for `percent` fixed (`before`: the masks its own
/// pruning had, which compensation already accounts for).
fn with_mask(
    args: &PruneArgs,
    percent: f64,
    mut loaded: checkpoint::Loaded,
    (masks, before): (Vec<candle_core::Tensor>, Option<Vec<candle_core::Tensor>>),
    train_x: &candle_core::Tensor,
) -> anyhow::Result<Pruned> {
    loaded.network.set_keep_masks(Some(masks.clone()))?;
    let compensated_on = match compensation_images(args.compensate, train_x)? {
        None => 0,
        Some(images) => {
            let (network, vars) = (&loaded.network, &loaded.vars);
            prune::compensate(network, vars, &masks, before.as_deref(), &images)?;
            images.dim(0)?
        }
    };
    let mut model = loaded.info.model.clone();
    // The mask is fixed from now on, whether the source pruned in every forward pass or carried
    // a mask of its own.
    model.pruning = None;
    model.fixed_mask = Some(FixedMask {
        percent,
        scope: args.scope,
        rank: args.rank,
        compensated_on,
        finetune_epochs: args.finetune_epochs,
    });
    Ok(Pruned {
        model,
        vars: loaded.vars,
        network: loaded.network,
        masks: Some(masks),
        compensated_on,
    })
}

/// The flags' own checks, before anything is loaded.
fn check_args(args: &PruneArgs) -> anyhow::Result<f64> {
    let percent = args.percent.or(args.neurons).unwrap_or(0.0);
    if !(0.0..100.0).contains(&percent) {
        bail!("--percent and --neurons take at least 0 and below 100, got {percent}");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    crate::common::check_limit("--train-limit", args.train_limit)?;
    crate::common::check_limit("--test-limit", args.test_limit)?;
    crate::common::check_out_dir(&args.out, args.force, "a checkpoint")?;
    Ok(percent)
}

/// The source, checked to take this pruning; with the masks a weight pruning removes (chosen
/// before anything is written, so a refused level leaves --out as it was).
#[allow(clippy::type_complexity)]
fn load_source(
    args: &PruneArgs,
    percent: f64,
    device: &candle_core::Device,
) -> anyhow::Result<(
    checkpoint::Loaded,
    Option<(Vec<candle_core::Tensor>, Option<Vec<candle_core::Tensor>>)>,
)> {
    let path = args.source.resolve()?;
    crate::common::check_out_is_not_source(&args.out, &path)?;
    let loaded = checkpoint::load(&path, DType::F32, device)
        .with_context(|| format!("loading checkpoint {}", args.source))?;
    if args.neurons.is_some() {
        if let Some(stored) = StoredPruning::of(&loaded) {
            bail!(
                "{} prunes {} % of its weights itself; --neurons makes a smaller network from an \
                 unpruned one: prune its source instead",
                args.source,
                stored.percent
            );
        }
        return Ok((loaded, None));
    }
    let model = &loaded.info.model;
    model.check_pruning_keeps_weights(percent, args.scope)?;
    // Pruned further when it prunes itself: `percent` of all weights, its own ones first.
    let (masks, before) = levels::masks_at(&loaded, percent, args.rank, args.scope)
        .with_context(|| format!("--percent {percent} on {}", args.source))?;
    Ok((loaded, Some((masks.masks, before))))
}

pub fn run(args: PruneArgs) -> anyhow::Result<()> {
    let percent = check_args(&args)?;
    let device = args.device.device()?;
    let (loaded, by_weight) = load_source(&args, percent, &device)?;
    let source = args.source.to_string();
    let (dataset, origin) = args.data.load_for(&loaded.info, &source)?;
    let data = dataset.splits(&device, args.train_limit, args.test_limit)?;
    let model = &loaded.info.model;

    let source_accuracy = training::accuracy(&loaded.network, &data.test_x, &data.test_y)?;
    let source_training = loaded.info.training.clone();
    // The Hub commit an hf:// source resolved to, read off the snapshot folder it came from.
    let source_commit = args.source.revision(&loaded.file);
    let lr = args.lr.unwrap_or(model.kind.paper_learning_rate());
    let pruned = match by_weight {
        None => without_neurons(&args, percent, &loaded, &data.train_x)?,
        Some(masks) => with_mask(&args, percent, loaded, masks, &data.train_x)?,
    };
    let accuracy = training::accuracy(&pruned.network, &data.test_x, &data.test_y)?;
    tracing::info!(
        "{source}: {source_accuracy:.4} unpruned, {accuracy:.4} after pruning ({}, {} parameters)",
        pruned.model.describe(),
        pruned.model.parameter_count()
    );
    // The log is written with the checkpoint, at the end: a failure before leaves --out as it
    // was, never a new log beside an old model.
    let mut metrics = String::new();
    let line = serde_json::json!({
        "epoch": 0, "test_accuracy": accuracy, "pruned": percent,
        "whole_neurons": args.neurons.is_some(), "compensated_on": pruned.compensated_on,
    });
    writeln!(metrics, "{line}")?;
    let plan = FineTune {
        epochs: args.finetune_epochs,
        lr,
        batch_size: args.batch_size,
        seed: args.seed,
    };
    let mut progress = crate::common::Progress::default();
    let (network, vars) = (&pruned.network, &pruned.vars);
    let (accuracy, lines) = fine_tune(network, vars, plan, &data, accuracy, &mut progress)?;
    for line in lines {
        writeln!(metrics, "{line}")?;
    }
    let provenance = Provenance {
        kind: pruned.model.kind.to_string(),
        epochs_completed: args.finetune_epochs,
        epochs_planned: args.finetune_epochs,
        lr,
        batch_size: args.batch_size,
        seed: args.seed,
        optimizer: "adam".into(),
        train_samples: data.train_x.dim(0)?,
        data: origin.description,
        final_test_accuracy: Some(accuracy),
        interrupted: false,
        init_from: Some(Lineage {
            source,
            commit: source_commit,
            source_test_accuracy: source_training.as_ref().and_then(|t| t.final_test_accuracy),
            source_epochs: source_training.as_ref().map(|t| t.epochs_completed),
            initial_test_accuracy: source_accuracy,
        }),
        recipe: None,
        val_split: None,
        final_val_accuracy: None,
        preset: None,
        dataset: origin.record,
        distillation: None,
        kept: None,
        train_limit: args.train_limit,
        test_limit: args.test_limit,
    };
    save(&args.out, &pruned, provenance, &metrics)?;
    tracing::info!(
        "pruned checkpoint in {}: test accuracy {accuracy:.4}",
        args.out.display()
    );
    Ok(())
}

/// The pruned checkpoint and its log. `--force` replaces all of what the directory held (a
/// run's state and settings too: a later `train --resume` must not overwrite it).
fn save(
    out: &std::path::Path,
    pruned: &Pruned,
    provenance: Provenance,
    metrics: &str,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    crate::common::clear_run_files(out)?;
    let info = CheckpointInfo::new(&pruned.model, Some(provenance));
    checkpoint::save_with_masks(out, &pruned.vars, &info, pruned.masks.as_deref())?;
    checkpoint::write_atomically(&out.join(METRICS_FILE), metrics.as_bytes())?;
    Ok(())
}

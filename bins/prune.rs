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
use crate::common::{DataArgs, DeviceArgs, Splits};

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

pub fn run(args: PruneArgs) -> anyhow::Result<()> {
    let percent = args.percent.or(args.neurons).unwrap_or(0.0);
    if !(0.0..100.0).contains(&percent) {
        bail!("--percent and --neurons take at least 0 and below 100, got {percent}");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    crate::common::check_out_dir(&args.out, args.force, "a checkpoint")?;
    let device = args.device.device()?;
    let path = args.source.resolve()?;
    crate::common::check_out_is_not_source(&args.out, &path)?;
    let mut loaded = checkpoint::load(&path, DType::F32, &device)
        .with_context(|| format!("loading checkpoint {}", args.source))?;
    let stored = StoredPruning::of(&loaded);
    if let (Some(stored), Some(_)) = (stored, args.neurons) {
        bail!(
            "{} prunes {} % of its weights itself; --neurons makes a smaller network from an \
             unpruned one: prune its source instead",
            args.source,
            stored.percent
        );
    }
    if args.neurons.is_none() {
        loaded
            .info
            .model
            .check_pruning_keeps_weights(percent, args.scope)?;
    }
    // Pruned further when it prunes itself: `percent` of all weights, its own ones first. Chosen
    // before anything is written, so a refused level leaves --out as it was.
    let mut by_weight = match args.neurons {
        Some(_) => None,
        None => Some(
            levels::masks_at(&loaded, percent, args.rank, args.scope)
                .with_context(|| format!("--percent {percent} on {}", args.source))?,
        ),
    };
    let (splits, origin) = args
        .data
        .load_splits(&device, args.train_limit, args.test_limit)?;
    let Splits {
        train_x,
        train_y,
        test_x,
        test_y,
    } = splits;
    let classes = neuropos_models::data::class_count(&[&train_y, &test_y])?;
    let inputs = train_x.dim(1)?;
    neuropos_models::data::check_fits(
        &loaded.info.model,
        inputs,
        classes,
        false,
        &args.source.to_string(),
    )?;

    let source_accuracy = training::accuracy(&loaded.network, &test_x, &test_y)?;
    // The log is written with the checkpoint, at the end: a failure before leaves --out as it
    // was, never a new log beside an old model.
    let mut metrics = String::new();
    let kind = loaded.info.model.kind;
    let lr = args.lr.unwrap_or(kind.paper_learning_rate());

    // Either a smaller network without the weakest neurons, or the same one with a fixed mask.
    let (model, vars, network, masks, compensated_on) = if args.neurons.is_some() {
        let images = train_x.narrow(0, 0, train_x.dim(0)?.min(2000))?;
        let scores = prune::neuron_scores(&loaded.network, args.neuron_score, &images)?;
        let keep = prune::neurons_to_keep(&scores, percent);
        let (model, vars) = prune::remove_neurons(&loaded.network, &loaded.vars, &keep)?;
        let network = Network::seeded(&model, &vars, 0, DType::F32, &device)?;
        let compensated_on = match args.compensate {
            None => 0,
            Some(n) if n == 0 || n > train_x.dim(0)? => {
                bail!(
                    "--compensate takes 1 to {} training images, got {n}",
                    train_x.dim(0)?
                )
            }
            Some(n) => {
                let images = train_x.narrow(0, 0, n)?;
                prune::compensate_removed_neurons(
                    &loaded.network,
                    &keep,
                    &network,
                    &vars,
                    &images,
                )?;
                n
            }
        };
        (model, vars, network, None, compensated_on)
    } else {
        let (masks, before) = by_weight.take().expect("chosen above for a weight pruning");
        let masks = masks.masks;
        loaded.network.set_keep_masks(Some(masks.clone()))?;
        let compensated_on = match args.compensate {
            None => 0,
            Some(n) if n == 0 || n > train_x.dim(0)? => {
                bail!(
                    "--compensate takes 1 to {} training images, got {n}",
                    train_x.dim(0)?
                )
            }
            Some(n) => {
                let images = train_x.narrow(0, 0, n)?;
                prune::compensate(
                    &loaded.network,
                    &loaded.vars,
                    &masks,
                    before.as_deref(),
                    &images,
                )?;
                n
            }
        };
        let mut model = loaded.info.model.clone();
        // The mask is fixed from now on, whether the source pruned in every forward pass or
        // carried a mask of its own.
        model.pruning = None;
        model.fixed_mask = Some(FixedMask {
            percent,
            scope: args.scope,
            rank: args.rank,
            compensated_on,
            finetune_epochs: args.finetune_epochs,
        });
        (
            model,
            loaded.vars,
            loaded.network,
            Some(masks),
            compensated_on,
        )
    };
    let accuracy = training::accuracy(&network, &test_x, &test_y)?;
    tracing::info!(
        "{}: {source_accuracy:.4} unpruned, {accuracy:.4} after pruning ({}, {} parameters)",
        args.source,
        model.describe(),
        model.parameter_count()
    );
    let line = serde_json::json!({
        "epoch": 0, "test_accuracy": accuracy, "pruned": percent,
        "whole_neurons": args.neurons.is_some(), "compensated_on": compensated_on,
    });
    writeln!(metrics, "{line}")?;
    let plan = FineTune {
        epochs: args.finetune_epochs,
        lr,
        batch_size: args.batch_size,
        seed: args.seed,
    };
    let data = Splits {
        train_x,
        train_y,
        test_x,
        test_y,
    };
    let (accuracy, lines) = fine_tune(
        &network,
        &vars,
        plan,
        &data,
        accuracy,
        &mut crate::train::Progress::default(),
    )?;
    for line in lines {
        writeln!(metrics, "{line}")?;
    }
    let source_training = loaded.info.training.as_ref();
    let provenance = Provenance {
        kind: kind.to_string(),
        epochs_completed: args.finetune_epochs,
        epochs_planned: args.finetune_epochs,
        lr,
        batch_size: args.batch_size,
        seed: args.seed,
        optimizer: "adam".into(),
        train_samples: data.train_x.dim(0)?,
        data: origin,
        final_test_accuracy: Some(accuracy),
        interrupted: false,
        init_from: Some(Lineage {
            source: args.source.to_string(),
            commit: None,
            source_test_accuracy: source_training.and_then(|t| t.final_test_accuracy),
            source_epochs: source_training.map(|t| t.epochs_completed),
            initial_test_accuracy: source_accuracy,
        }),
        recipe: None,
        val_split: None,
        final_val_accuracy: None,
        preset: None,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // --force replaces all of what the directory held (a run's state and settings too: a later
    // `train --resume` must not overwrite the pruned checkpoint).
    crate::common::clear_run_files(&args.out)?;
    checkpoint::save_with_masks(
        &args.out,
        &vars,
        &CheckpointInfo::new(&model, Some(provenance)),
        masks.as_deref(),
    )?;
    checkpoint::write_atomically(&args.out.join(METRICS_FILE), metrics.as_bytes())?;
    tracing::info!(
        "pruned checkpoint in {}: test accuracy {accuracy:.4}",
        args.out.display()
    );
    Ok(())
}

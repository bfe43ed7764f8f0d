//! `neuropos prune`: a pruned copy of a checkpoint, its mask stored, optionally compensated and
//! fine-tuned with the mask fixed.

use anyhow::{bail, Context};
use candle_core::DType;
use clap::Args;
use neuropos_models::checkpoint::{self, CheckpointInfo, Lineage, Provenance};
use neuropos_models::hub::CheckpointSource;
use neuropos_models::prune::{self, FixedMask, MagnitudeRanking, PruneScope, Rank};
use neuropos_models::training::{self, adam};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::io::Write;
use std::path::PathBuf;

use crate::common::{DataArgs, DeviceArgs};
use crate::train::METRICS_FILE;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Checkpoint directory, .safetensors file or hf://owner/repo[@revision][/subdir].
    #[arg(value_parser = CheckpointSource::parse)]
    source: CheckpointSource,
    /// Remove the smallest P % of the weights.
    #[arg(long, value_name = "P")]
    percent: f64,
    /// Rank within each layer or over the whole network.
    #[arg(long, default_value = "layer")]
    scope: PruneScope,
    /// Rank by `distance` (|w|, the paper's) or `effective` (|m_i·w_ij|).
    #[arg(long, default_value = "distance")]
    rank: Rank,
    /// Fold the removed connections' mean current into the biases, measured on the first N
    /// training images.
    #[arg(long, value_name = "N")]
    compensate: Option<usize>,
    /// Then fine-tune for E epochs with the mask fixed (Adam afresh, the paper's learning rate
    /// unless --lr).
    #[arg(long, default_value_t = 0)]
    finetune_epochs: usize,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long, default_value_t = 600)]
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
    if !(0.0..100.0).contains(&args.percent) {
        bail!(
            "--percent must be at least 0 and below 100, got {}",
            args.percent
        );
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be positive");
    }
    if args.out.join(checkpoint::MODEL_FILE).exists() && !args.force {
        bail!(
            "{} already holds a checkpoint; pass --force to replace it",
            args.out.display()
        );
    }
    let device = args.device.device()?;
    let path = args.source.resolve()?;
    let mut loaded = checkpoint::load(&path, DType::F32, &device)
        .with_context(|| format!("loading checkpoint {}", args.source))?;
    if loaded.info.model.pruning.is_some() || loaded.info.model.fixed_mask.is_some() {
        bail!(
            "{} is pruned already; prune its unpruned source instead",
            args.source
        );
    }
    let (mut mnist, origin) = args.data.load()?;
    if let Some(n) = args.test_limit {
        mnist = mnist.limit_test(n)?;
    }
    if let Some(n) = args.train_limit {
        mnist = mnist.limit_train(n)?;
    }
    let train_x = mnist.train_images.to_device(&device)?;
    let train_y = mnist.train_labels.to_device(&device)?;
    let test_x = mnist.test_images.to_device(&device)?;
    let test_y = mnist.test_labels.to_device(&device)?;

    let source_accuracy = training::accuracy(&loaded.network, &test_x, &test_y)?;
    let weights = prune::ranked_weights(&loaded.network, args.rank)?;
    let masks = MagnitudeRanking::new(&weights, args.scope)?
        .masks(args.percent)?
        .masks;
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
            prune::compensate(
                &loaded.network,
                &loaded.vars,
                &masks,
                &train_x.narrow(0, 0, n)?,
            )?;
            n
        }
    };
    let mut accuracy = training::accuracy(&loaded.network, &test_x, &test_y)?;
    tracing::info!(
        "{}: {:.4} unpruned, {accuracy:.4} with {} % pruned ({}, {}{})",
        args.source,
        source_accuracy,
        args.percent,
        args.scope,
        args.rank,
        if compensated_on > 0 {
            ", compensated"
        } else {
            ""
        }
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let metrics_path = args.out.join(METRICS_FILE);
    let mut metrics = std::fs::File::create(&metrics_path)
        .with_context(|| format!("creating {}", metrics_path.display()))?;
    let line = serde_json::json!({"epoch": 0, "test_accuracy": accuracy, "pruned": args.percent});
    writeln!(metrics, "{line}")?;

    let kind = loaded.info.model.kind;
    let lr = args.lr.unwrap_or(kind.paper_learning_rate());
    let mut optimizer = adam(&loaded.vars, lr)?;
    let mut rng = StdRng::seed_from_u64(args.seed.wrapping_add(0x05EE_D0FB_A7C4));
    for epoch in 1..=args.finetune_epochs {
        let report = training::train_epoch(
            &loaded.network,
            &mut optimizer,
            &train_x,
            &train_y,
            args.batch_size,
            &mut rng,
            |_, _| true,
        )?;
        accuracy = training::accuracy(&loaded.network, &test_x, &test_y)?;
        tracing::info!(
            "fine-tuning epoch {epoch}/{}: train loss {:.4}, test accuracy {accuracy:.4}",
            args.finetune_epochs,
            report.mean_loss
        );
        let line = serde_json::json!({
            "epoch": epoch, "train_loss": report.mean_loss, "test_accuracy": accuracy,
        });
        writeln!(metrics, "{line}")?;
    }
    let mut model = loaded.info.model.clone();
    model.fixed_mask = Some(FixedMask {
        percent: args.percent,
        scope: args.scope,
        rank: args.rank,
        compensated_on,
        finetune_epochs: args.finetune_epochs,
    });
    let source_training = loaded.info.training.as_ref();
    let provenance = Provenance {
        kind: kind.to_string(),
        epochs_completed: args.finetune_epochs,
        epochs_planned: args.finetune_epochs,
        lr,
        batch_size: args.batch_size,
        seed: args.seed,
        optimizer: "adam".into(),
        train_samples: train_x.dim(0)?,
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
    };
    checkpoint::save_with_masks(
        &args.out,
        &loaded.vars,
        &CheckpointInfo::new(&model, Some(provenance)),
        Some(&masks),
    )?;
    tracing::info!(
        "pruned checkpoint in {}: test accuracy {accuracy:.4}",
        args.out.display()
    );
    Ok(())
}

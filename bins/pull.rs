//! `neuropos pull`: copies a checkpoint (from the Hub, or another directory) into a directory.

use anyhow::Context;
use candle_core::{DType, Device};
use clap::Args;
use neuropos_models::checkpoint::{self, CONFIG_FILE, MODEL_FILE};
use neuropos_models::hub::CheckpointSource;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// hf://owner/repo[@revision][/subdir] (or a local checkpoint directory).
    #[arg(value_parser = CheckpointSource::parse)]
    source: CheckpointSource,
    /// Directory to write config.json and model.safetensors into.
    #[arg(long)]
    out: PathBuf,
    /// Replace a checkpoint already in --out.
    #[arg(long)]
    force: bool,
}

pub fn run(args: PullArgs) -> anyhow::Result<()> {
    let from = args.source.resolve()?;
    // Validated exactly as any checkpoint is before it is copied anywhere.
    let loaded = checkpoint::load(&from, DType::F32, &Device::Cpu)
        .with_context(|| format!("checking checkpoint {}", args.source))?;
    if args.out.join(MODEL_FILE).exists() && !args.force {
        anyhow::bail!(
            "{} already holds a checkpoint; pass --force to replace it",
            args.out.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let from_dir = if from.is_dir() {
        from.clone()
    } else {
        from.parent().map(PathBuf::from).unwrap_or_default()
    };
    for file in [MODEL_FILE, CONFIG_FILE] {
        let (src, dst) = (from_dir.join(file), args.out.join(file));
        // The Hub cache holds symlinks into its blob store: copy the content.
        let bytes = std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
        checkpoint::write_atomically(&dst, &bytes)?;
    }
    tracing::info!(
        "{} ({}, {} parameters) → {}",
        args.source,
        loaded.info.model.describe(),
        loaded.info.params,
        args.out.display()
    );
    Ok(())
}

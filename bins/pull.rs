//! `neuropos pull`: copies a checkpoint (from the Hub, or another directory) into a directory.

use anyhow::Context;
use candle_core::{DType, Device};
use clap::Args;
use neuropos_models::checkpoint::{self, CONFIG_FILE, MODEL_FILE};
use neuropos_models::hub::push;
use neuropos_models::hub::CheckpointSource;
use std::path::PathBuf;

/// What `pull` brings beside the checkpoint when the source has it: what `push` publishes.
const OPTIONAL: [&str; 4] = [
    push::CARD_FILE,
    push::OPTIONAL[0],
    push::OPTIONAL[1],
    push::OPTIONAL[2],
];

#[derive(Args, Debug)]
pub struct PullArgs {
    /// hf://owner/repo[@revision][/subdir] (or a local checkpoint directory).
    #[arg(value_parser = CheckpointSource::parse)]
    source: CheckpointSource,
    /// Directory to write config.json and model.safetensors into (and the model card README.md and
    /// metrics.jsonl where the source has them).
    #[arg(long)]
    out: PathBuf,
    /// Replace a checkpoint already in --out.
    #[arg(long)]
    force: bool,
}

pub fn run(args: PullArgs) -> anyhow::Result<()> {
    let from = args.source.resolve_with(&OPTIONAL)?;
    // The bytes read here are the ones validated and the ones written: a directory's
    // `config.json` if it has one, else the description stored in the file itself.
    let file = checkpoint::model_file(&from);
    let model = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let config_path = from.join(CONFIG_FILE);
    let config = match from.is_dir() {
        true => match std::fs::read(&config_path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", config_path.display())),
        },
        false => None,
    };
    let parsed = checkpoint::parse(&file, &model, config.as_deref())
        .with_context(|| format!("checking checkpoint {}", args.source))?;
    let loaded = checkpoint::instantiate(parsed, DType::F32, &Device::Cpu)
        .with_context(|| format!("checking checkpoint {}", args.source))?;
    let config = match config {
        Some(bytes) => bytes,
        None => format!("{}\n", serde_json::to_string_pretty(&loaded.info)?).into_bytes(),
    };
    crate::common::check_out_is_not_source(&args.out, &from)?;
    crate::common::check_out_dir(&args.out, args.force, "a checkpoint")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // --force replaces what the directory held: no run state or log of another run stays
    // beside the pulled checkpoint.
    crate::common::clear_run_files(&args.out)?;
    // Config first: a crash between the two renames leaves a model.safetensors whose
    // metadata disagrees with config.json, which every loader refuses, never a silent mix.
    checkpoint::write_atomically(&args.out.join(CONFIG_FILE), &config)?;
    checkpoint::write_atomically(&args.out.join(MODEL_FILE), &model)?;
    // The card and the training log come along where the source has them.
    if from.is_dir() {
        for name in OPTIONAL {
            match std::fs::read(from.join(name)) {
                Ok(bytes) => checkpoint::write_atomically(&args.out.join(name), &bytes)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {name} of {}", args.source))
                }
            }
        }
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

//! `neuropos export`: an embedded (or any) checkpoint as ordinary dense weight matrices.

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use clap::Args;
use neuropos_models::checkpoint::{self, CheckpointInfo, METADATA_KEY};
use neuropos_models::hub::CheckpointSource;
use neuropos_models::precision::Precision;
use neuropos_models::prune::levels::{self, StoredPruning};
use neuropos_models::prune::{PruneScope, Rank};
use neuropos_models::Network;
use neuropos_models::{Config, ModelKind};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// The safetensors metadata key of the export's own description.
pub const EXPORT_KEY: &str = "neuropos-export";

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Checkpoint directory, .safetensors file or hf://owner/repo[@revision][/subdir].
    #[arg(value_parser = CheckpointSource::parse)]
    checkpoint: CheckpointSource,
    /// The .safetensors file to write (`--format c`: the directory for the C files; `--format
    /// nir`: the .nir file).
    #[arg(long)]
    out: PathBuf,
    /// `safetensors` (dense weights, for PyTorch or candle_nn::Linear), `c` (a C99 library
    /// that makes the weights from the positions as it runs: neuropos_model.h, neuropos_model.c
    /// and example.c) or `nir` (a spiking network as a NIR graph, for snnTorch, Norse, Sinabs,
    /// Rockpool, Lava-DL and neuromorphic hardware).
    #[arg(long, default_value = "safetensors", value_parser = ["safetensors", "c", "nir"])]
    format: String,
    /// `--format c`: the stored numbers' type (f32, f16, or int8 with a scale and an offset per
    /// tensor; see `eval --precision`).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Prune the smallest P % of all weights (the longest wires) before exporting
    /// [default: the model as stored]. A checkpoint that prunes itself is pruned further: P is
    /// the share of all weights removed, its own ones first (at least its own share).
    #[arg(long, value_name = "P")]
    prune: Option<f64>,
    /// Rank weights within each layer or over the whole network.
    #[arg(long, default_value = "layer")]
    scope: PruneScope,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    match args.format.as_str() {
        "c" => return run_c(&args),
        "nir" => return run_nir(&args),
        _ => {}
    }
    if args.precision != Precision::F32 {
        anyhow::bail!("--precision goes with --format c (the safetensors export is f32)");
    }
    if let Some(p) = args.prune {
        crate::common::check_percent(p).map_err(|e| anyhow::anyhow!("--prune: {e}"))?;
    }
    let path = args.checkpoint.resolve()?;
    // The export must not replace the checkpoint it reads (`--out SRC/model.safetensors`).
    let out_real = std::fs::canonicalize(&args.out).ok();
    let model_path = checkpoint::model_file(&path);
    for input in [model_path.clone(), path.join(checkpoint::CONFIG_FILE)] {
        if out_real.is_some() && std::fs::canonicalize(&input).ok() == out_real {
            anyhow::bail!(
                "--out {} is the checkpoint being exported ({}): choose another file",
                args.out.display(),
                input.display()
            );
        }
    }
    let mut loaded = checkpoint::load(&path, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint))?;
    let model = loaded.info.model.clone();
    let stored = StoredPruning::of(&loaded);
    // Exported as it computes: its own pruning (ranked on its weights when it prunes in every
    // forward pass), then any further pruning asked for.
    let masks = match args.prune {
        Some(p) => {
            levels::masks_at(&loaded, p, Rank::Distance, args.scope)
                .with_context(|| format!("--prune {p} on {}", args.checkpoint))?
                .0
                .masks
        }
        None => levels::stored_masks(&loaded.network)?,
    };
    let total = model.weight_count();
    let kept = masks
        .iter()
        .map(neuropos_models::device::count_nonzero)
        .sum::<candle_core::Result<usize>>()?;
    loaded.network.set_keep_masks(Some(masks))?;
    let tensors = dense_tensors(&loaded.network)?;
    let dense = dense_config(&model);
    let info = CheckpointInfo::new(&dense, None);
    let description = serde_json::json!({
        "format": "neuropos-dense/1",
        "source": args.checkpoint.to_string(),
        // The Hub commit an hf:// reference resolved to.
        "source_revision": args.checkpoint.revision(&path),
        "source_model": model,
        // The share of all weights pruned (the checkpoint's own and any further), and what
        // that left.
        "prune_percent": args.prune.or(stored.map(|s| s.percent)).unwrap_or(0.0),
        "kept_weights": kept,
        "total_weights": total,
        "stored_pruning": stored,
        "further_prune_percent": args.prune.map(|p| p - stored.map_or(0.0, |s| s.percent)),
        "scope": args.scope,
        "layout": "linear.{c}.weight is [n_out, n_in] as torch.nn.Linear and candle_nn::Linear \
                   expect, linear.{c}.bias [n_out]; the inhibition mask and pruning are folded in",
        "rebuild": if dense.kind == ModelKind::Snn {
            "LIF neurons (model.lif) after every layer, the image as a constant input current at \
             each of time_steps steps; the class with the most output spikes, ties by the summed \
             membrane"
        } else {
            "h = activation(h W_c^T + b_c) between layers (model.activation), logits after the last"
        },
    });
    let metadata = HashMap::from([
        (METADATA_KEY.to_string(), serde_json::to_string(&info)?),
        (EXPORT_KEY.to_string(), description.to_string()),
    ]);
    let bytes = checkpoint::serialize_sorted(&tensors, metadata)
        .map_err(|e| anyhow::anyhow!("serialising {}: {e}", args.out.display()))?;
    checkpoint::write_atomically(&args.out, &bytes)?;
    tracing::info!(
        "{} → {}: {} dense weights, {} bytes (the checkpoint's model.safetensors: {} bytes)",
        args.checkpoint,
        args.out.display(),
        dense.weight_count(),
        bytes.len(),
        std::fs::metadata(checkpoint::model_file(&path))
            .map(|m| m.len())
            .unwrap_or(0)
    );
    Ok(())
}

/// Linear's layout `[n_out, n_in]`, the inhibition mask and any pruning folded in: the network
/// computes x·P + b with P = diag(m)·(W ⊙ keep), so the dense layer's weight is Pᵀ.
fn dense_tensors(network: &Network) -> anyhow::Result<BTreeMap<String, Tensor>> {
    let mut tensors = BTreeMap::new();
    for (c, synapses) in network.synapses().iter().enumerate() {
        let weight = synapses.projection()?.t()?.contiguous()?;
        let bias = match synapses.bias() {
            Some(b) => b.clone(),
            None => Tensor::zeros(weight.dim(0)?, DType::F32, &Device::Cpu)?,
        };
        tensors.insert(format!("linear.{c}.weight"), weight);
        tensors.insert(format!("linear.{c}.bias"), bias);
    }
    Ok(tensors)
}

/// The same architecture as a dense baseline: neuropos loads the export as one.
fn dense_config(model: &Config) -> Config {
    let kind = if model.kind.is_spiking() {
        ModelKind::Snn
    } else {
        ModelKind::Mlp
    };
    let mut dense = Config::new(
        kind,
        model.input_size(),
        model.hidden(),
        model.output_size(),
        3,
    );
    dense.activation = model.activation;
    dense.lif = model.lif;
    dense
}

/// `--format c`: the three C files in `--out` (created if need be; files there of the same
/// names are replaced, nothing else is touched).
fn run_c(args: &ExportArgs) -> anyhow::Result<()> {
    if args.prune.is_some() {
        anyhow::bail!(
            "--prune goes with the safetensors export; the C export writes the model as stored"
        );
    }
    let path = args.checkpoint.resolve()?;
    let mut loaded = checkpoint::load(&path, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint))?;
    let c = neuropos_models::export_c::export_c(&mut loaded, args.precision)
        .with_context(|| format!("exporting {} as C", args.checkpoint))?;
    if args.out.exists() && !args.out.is_dir() {
        anyhow::bail!("--out {} exists and is not a directory", args.out.display());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, text) in [
        ("neuropos_model.h", &c.header),
        ("neuropos_model.c", &c.source),
        ("example.c", &c.example),
    ] {
        checkpoint::write_atomically(&args.out.join(name), text.as_bytes())?;
    }
    for note in &c.notes {
        eprintln!("note: {note}");
    }
    println!(
        "{}: neuropos_model.h, neuropos_model.c, example.c ({} bytes of model numbers at {})",
        args.out.display(),
        c.model_bytes,
        args.precision
    );
    Ok(())
}

/// `--format nir`: the spiking network as a NIR graph in `--out` (a regular file, replaced
/// atomically; nothing written on an error).
fn run_nir(args: &ExportArgs) -> anyhow::Result<()> {
    if args.prune.is_some() || args.precision != Precision::F32 {
        anyhow::bail!(
            "--prune and --precision go with the other formats; the NIR export writes the \
             network as stored, in f32"
        );
    }
    let path = args.checkpoint.resolve()?;
    let loaded = checkpoint::load(&path, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint))?;
    let nir = neuropos_models::nir::export_nir(&loaded)
        .with_context(|| format!("exporting {} as NIR", args.checkpoint))?;
    if let Some(warning) = &nir.warning {
        tracing::warn!("{warning}");
    }
    checkpoint::write_atomically(&args.out, &nir.bytes)?;
    println!(
        "{}: a NIR graph of {} ({} bytes)",
        args.out.display(),
        loaded.network.config().describe(),
        nir.bytes.len()
    );
    Ok(())
}

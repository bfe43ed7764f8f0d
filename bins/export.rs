//! `neuropos export`: an embedded (or any) checkpoint as ordinary dense weight matrices.

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use clap::Args;
use neuropos_models::checkpoint::{self, CheckpointInfo, METADATA_KEY};
use neuropos_models::hub::CheckpointSource;
use neuropos_models::prune::{MagnitudeRanking, PruneScope};
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
    /// The .safetensors file to write.
    #[arg(long)]
    out: PathBuf,
    /// Prune the smallest P % of each layer's weights (the longest wires) before exporting.
    #[arg(long, default_value_t = 0.0)]
    prune: f64,
    /// Rank weights within each layer or over the whole network.
    #[arg(long, default_value = "layer")]
    scope: PruneScope,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    crate::common::check_percent(args.prune).map_err(|e| anyhow::anyhow!("--prune: {e}"))?;
    let path = args.checkpoint.resolve()?;
    let mut loaded = checkpoint::load(&path, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint))?;
    let model = loaded.info.model.clone();
    if args.prune > 0.0 {
        let ranking = MagnitudeRanking::new(&loaded.network.weights()?, args.scope)?;
        loaded
            .network
            .set_keep_masks(Some(ranking.masks(args.prune)?.masks))?;
    } else if let Some(masks) = loaded.network.pruning_masks()? {
        // A model trained with pruning in every forward pass is exported as it computes.
        loaded.network.set_keep_masks(Some(masks))?;
    }
    // Linear's layout [n_out, n_in], the inhibition mask and any pruning folded in: the network
    // computes x·P + b with P = diag(m)·(W ⊙ keep), so the dense layer's weight is Pᵀ.
    let mut tensors = BTreeMap::new();
    for (c, synapses) in loaded.network.synapses().iter().enumerate() {
        let weight = synapses.projection()?.t()?.contiguous()?;
        let bias = synapses.bias().cloned().unwrap_or(Tensor::zeros(
            weight.dim(0)?,
            DType::F32,
            &Device::Cpu,
        )?);
        tensors.insert(format!("linear.{c}.weight"), weight);
        tensors.insert(format!("linear.{c}.bias"), bias);
    }
    // The same architecture as a dense baseline: neuropos loads the export as one.
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
    let info = CheckpointInfo::new(&dense, None);
    let description = serde_json::json!({
        "format": "neuropos-dense/1",
        "source": args.checkpoint.to_string(),
        "source_model": model,
        "prune_percent": args.prune,
        "scope": args.scope,
        "layout": "linear.{c}.weight is [n_out, n_in] as torch.nn.Linear and candle_nn::Linear \
                   expect, linear.{c}.bias [n_out]; the inhibition mask and pruning are folded in",
        "rebuild": if kind == ModelKind::Snn {
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
    let bytes = safetensors::serialize(&tensors, Some(metadata))
        .with_context(|| format!("serialising {}", args.out.display()))?;
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

//! `neuropos eval`: test accuracy of checkpoints, across magnitude-pruning levels.

use anyhow::Context;
use candle_core::{DType, Tensor};
use clap::Args;
use neuropos_models::checkpoint;
use neuropos_models::hub::CheckpointSource;
use neuropos_models::prune::{self, MagnitudeRanking, PruneScope, Rank};
use neuropos_models::training;
use neuropos_models::Network;
use serde::Serialize;

use crate::common::{DataArgs, DeviceArgs, Percentages};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint directories, .safetensors files or hf://owner/repo[@revision][/subdir].
    #[arg(required = true, value_parser = CheckpointSource::parse)]
    checkpoints: Vec<CheckpointSource>,
    /// Pruning percentages: zero the smallest p % of the weights (the longest connections of an
    /// embedded model) and score again [default: 0, or the pruning a checkpoint was trained
    /// with (train --prune-during), which it then keeps]. Given explicitly, the levels replace
    /// a trained-in pruning and rank the unpruned weights.
    #[arg(long)]
    prune: Option<Percentages>,
    /// Rank weights within each layer or over the whole network.
    #[arg(long, default_value = "layer")]
    scope: PruneScope,
    /// Rank connections by `distance` (|w| = 1/distance, the paper's) or `effective` (|m_i·w_ij|,
    /// the weight as it acts, with the inhibition mask); the same for dense baselines.
    #[arg(long, default_value = "distance")]
    rank: Rank,
    /// After pruning, fold the mean current of the removed connections into the biases,
    /// measured on the first N training images (never the test set), layer by layer.
    #[arg(long, value_name = "N")]
    compensate: Option<usize>,
    /// table (markdown), csv or json.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    format: String,
    /// Score on the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub checkpoint: String,
    pub model: String,
    pub params: usize,
    pub prune_percent: f64,
    pub scope: PruneScope,
    pub rank: Rank,
    /// Training images the biases were compensated on (0: not compensated).
    pub compensated_on: usize,
    pub kept_weights: usize,
    pub total_weights: usize,
    pub accuracy: f64,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    crate::common::check_limit("--test-limit", args.test_limit)?;
    let device = args.device.device()?;
    let (mut mnist, _) = args.data.load()?;
    if let Some(n) = args.test_limit {
        mnist = mnist.limit_test(n)?;
    }
    let test_x = mnist.test_images.to_device(&device)?;
    let test_y = mnist.test_labels.to_device(&device)?;
    let compensation_images = match args.compensate {
        None => None,
        Some(n) if n == 0 || n > mnist.train_images.dim(0)? => anyhow::bail!(
            "--compensate takes 1 to {} training images, got {n}",
            mnist.train_images.dim(0)?
        ),
        Some(n) => Some(mnist.train_images.narrow(0, 0, n)?.to_device(&device)?),
    };

    let mut rows = Vec::new();
    for source in &args.checkpoints {
        let path = source.resolve()?;
        let mut loaded = checkpoint::load(&path, DType::F32, &device)
            .with_context(|| format!("loading checkpoint {source}"))?;
        let trained_in = match (loaded.info.model.pruning, loaded.info.model.fixed_mask) {
            (Some(p), _) => Some((p.percent, p.scope, Rank::Distance, 0)),
            (None, Some(m)) => Some((m.percent, m.scope, m.rank, m.compensated_on)),
            (None, None) => None,
        };
        if args.prune.is_none() {
            if let Some((percent, scope, rank, compensated_on)) = trained_in {
                // The network prunes in its own forward pass, or carries its stored mask: score
                // it as it is.
                let masks = match loaded.network.pruning_masks()? {
                    Some(masks) => masks,
                    None => loaded.network.keep_masks()?,
                };
                let kept: f64 = masks
                    .iter()
                    .map(|m| m.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>())
                    .sum::<candle_core::Result<f64>>()?;
                rows.push(Row {
                    checkpoint: source.to_string(),
                    model: loaded.info.model.describe(),
                    params: loaded.info.params,
                    prune_percent: percent,
                    scope,
                    rank,
                    compensated_on,
                    kept_weights: kept as usize,
                    total_weights: loaded.info.model.weight_count(),
                    accuracy: training::accuracy(&loaded.network, &test_x, &test_y)?,
                });
                continue;
            }
        }
        let levels = args.prune.as_ref().map_or(vec![0.0], |p| p.0.clone());
        let model = loaded.info.model.describe();
        let params = loaded.info.params;
        at_levels(
            &mut loaded,
            args.rank,
            args.scope,
            &levels,
            compensation_images.as_ref(),
            |percent, masks, network| {
                let accuracy = training::accuracy(network, &test_x, &test_y)?;
                tracing::debug!("{source} at {percent}%: {accuracy:.4}");
                rows.push(Row {
                    checkpoint: source.to_string(),
                    model: model.clone(),
                    params,
                    prune_percent: percent,
                    scope: args.scope,
                    rank: args.rank,
                    compensated_on: if percent > 0.0 {
                        args.compensate.unwrap_or(0)
                    } else {
                        0
                    },
                    kept_weights: masks.kept,
                    total_weights: masks.total,
                    accuracy,
                });
                Ok(())
            },
        )?;
    }
    print!("{}", render(&rows, &args.format)?);
    Ok(())
}

/// Prunes `loaded` to each of `levels` in turn (the smallest `percent` % of its weights by
/// `rank` within `scope`), optionally compensated on `compensation` images, and hands the
/// network to `visit` at each level. Installed masks, even 0 %'s all-ones, replace a pruning the
/// checkpoint was trained with or carries; the biases are restored before every level, so each
/// is scored on its own, and the network is left as loaded. Shared by `eval` and the viewer,
/// whose accuracies must agree.
pub fn at_levels(
    loaded: &mut checkpoint::Loaded,
    rank: Rank,
    scope: PruneScope,
    levels: &[f64],
    compensation: Option<&Tensor>,
    mut visit: impl FnMut(f64, &prune::PruneMasks, &Network) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let trained_in = loaded.info.model.pruning.is_some() || loaded.info.model.fixed_mask.is_some();
    let weights = prune::ranked_weights(&loaded.network, rank)?;
    let ranking = MagnitudeRanking::new(&weights, scope)?;
    let biases = prune::save_biases(&loaded.network, &loaded.vars)?;
    let stored = match loaded.info.model.fixed_mask {
        Some(_) => Some(loaded.network.keep_masks()?),
        None => None,
    };
    for &percent in levels {
        let masks = ranking.masks(percent)?;
        prune::restore_biases(&loaded.vars, &biases)?;
        let explicit = percent > 0.0 || trained_in;
        loaded
            .network
            .set_keep_masks(explicit.then(|| masks.masks.clone()))?;
        if let (Some(images), true) = (compensation, percent > 0.0) {
            prune::compensate(&loaded.network, &loaded.vars, &masks.masks, images)?;
        }
        visit(percent, &masks, &loaded.network)?;
    }
    prune::restore_biases(&loaded.vars, &biases)?;
    loaded.network.set_keep_masks(stored)?;
    Ok(())
}

const COLUMNS: [&str; 10] = [
    "checkpoint",
    "model",
    "params",
    "prune_percent",
    "scope",
    "rank",
    "compensated_on",
    "kept_weights",
    "total_weights",
    "accuracy",
];

impl Row {
    /// One cell per [`COLUMNS`] entry. Accuracy on N test images has at most log10(N) decimals;
    /// four cover the 10,000 of MNIST exactly.
    fn cells(&self) -> [String; 10] {
        [
            self.checkpoint.clone(),
            self.model.clone(),
            self.params.to_string(),
            self.prune_percent.to_string(),
            self.scope.to_string(),
            self.rank.to_string(),
            self.compensated_on.to_string(),
            self.kept_weights.to_string(),
            self.total_weights.to_string(),
            format!("{:.4}", self.accuracy),
        ]
    }
}

fn render(rows: &[Row], format: &str) -> anyhow::Result<String> {
    if format == "json" {
        return Ok(serde_json::to_string_pretty(rows)? + "\n");
    }
    let line = |cells: Vec<String>| match format {
        "csv" => cells.join(",") + "\n",
        _ => format!("| {} |\n", cells.join(" | ")),
    };
    let mut out = line(COLUMNS.iter().map(|c| c.to_string()).collect());
    if format == "table" {
        out += &line(COLUMNS.iter().map(|_| "---".to_string()).collect());
    }
    for r in rows {
        out += &line(r.cells().iter().map(|c| csv_field(c)).collect());
    }
    Ok(out)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

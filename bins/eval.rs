//! `neuropos eval`: test accuracy of checkpoints, across magnitude-pruning levels.

use anyhow::Context;
use candle_core::DType;
use clap::Args;
use neuropos_models::checkpoint;
use neuropos_models::hub::CheckpointSource;
use neuropos_models::prune::levels::{at_levels, Levels};
use neuropos_models::prune::{PruneScope, Rank};
use neuropos_models::training;
use serde::Serialize;

use crate::common::{DataArgs, DeviceArgs, Percentages};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint directories, .safetensors files or hf://owner/repo[@revision][/subdir].
    #[arg(required = true, value_parser = CheckpointSource::parse)]
    checkpoints: Vec<CheckpointSource>,
    /// Pruning percentages: zero the smallest p % of all weights (the longest connections of an
    /// embedded model) and score again [default: the model as stored]. A checkpoint that prunes
    /// itself (a stored mask, or train --prune-during) is pruned further: p is the share of all
    /// weights removed, its own ones first, then the smallest of the kept ones; a p below its
    /// own share is refused.
    #[arg(long)]
    prune: Option<Percentages>,
    /// Rank weights within each layer or over the whole network.
    #[arg(long, default_value = "layer")]
    scope: PruneScope,
    /// Rank connections by `distance` (|w| = 1/distance, the paper's) or `effective` (|m_i·w_ij|,
    /// the weight as it acts, with the inhibition mask); the same for dense baselines.
    #[arg(long, default_value = "distance")]
    rank: Rank,
    /// After pruning, fold the mean current of the newly removed connections into the biases,
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

/// One scored model. `prune_percent` is the share of all weights removed in the model scored;
/// `stored_percent` the share the checkpoint removes by itself (its stored mask or its pruning
/// during training), `further_percent` the rest, chosen here by `rank` within `scope` and
/// compensated on `compensated_on` images. Without --prune the row is the model as stored and
/// `scope`, `rank`, `compensated_on` are its own pruning's.
#[derive(Debug, Serialize)]
pub struct Row {
    pub checkpoint: String,
    pub model: String,
    pub params: usize,
    pub stored_percent: f64,
    pub further_percent: f64,
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

    // Each checkpoint is scored on its own: one that fails is reported at the end, after the
    // rows of those that did not.
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    let levels = args.prune.as_ref().map_or(1, |p| p.0.len());
    let bar = crate::common::progress_bar((args.checkpoints.len() * levels) as u64, "eval");
    for source in &args.checkpoints {
        let scored = score(
            source,
            &args,
            &mnist,
            (&test_x, &test_y),
            compensation_images.as_ref(),
            &bar,
        );
        match scored {
            Ok(mut r) => rows.append(&mut r),
            Err(e) if args.checkpoints.len() == 1 => return Err(e),
            Err(e) => failed.push(format!("{source}: {e:#}")),
        }
    }
    bar.finish_and_clear();
    if !rows.is_empty() {
        print!("{}", render(&rows, &args.format)?);
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} checkpoints could not be scored (the others' rows are above):\n{}",
            failed.len(),
            args.checkpoints.len(),
            failed.join("\n")
        );
    }
    Ok(())
}

/// The rows of one checkpoint: as stored, or at each of `args.prune`'s levels.
fn score(
    source: &CheckpointSource,
    args: &EvalArgs,
    mnist: &neuropos_models::data::Mnist,
    (test_x, test_y): (&candle_core::Tensor, &candle_core::Tensor),
    compensation: Option<&candle_core::Tensor>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<Row>> {
    let device = test_x.device();
    let path = source.resolve()?;
    let mut loaded = checkpoint::load(&path, DType::F32, device)
        .with_context(|| format!("loading checkpoint {source}"))?;
    mnist.check_fits(&loaded.info.model, &source.to_string())?;
    let model = loaded.info.model.describe();
    let params = loaded.info.params;
    let how = Levels {
        levels: args.prune.as_ref().map(|p| p.0.as_slice()),
        rank: args.rank,
        scope: args.scope,
        compensation,
    };
    let mut rows = Vec::new();
    at_levels(&mut loaded, &how, |level, network| {
        let accuracy = training::accuracy(network, test_x, test_y)?;
        tracing::debug!("{source} at {}%: {accuracy:.4}", level.percent);
        bar.inc(1);
        rows.push(Row {
            checkpoint: source.to_string(),
            model: model.clone(),
            params,
            stored_percent: level.stored_percent,
            further_percent: level.further_percent(),
            prune_percent: level.percent,
            scope: level.scope,
            rank: level.rank,
            compensated_on: level.compensated_on,
            kept_weights: level.kept,
            total_weights: level.total,
            accuracy,
        });
        anyhow::Ok(())
    })
    .with_context(|| format!("pruning {source}"))?;
    Ok(rows)
}

const COLUMNS: [&str; 12] = [
    "checkpoint",
    "model",
    "params",
    "stored_percent",
    "further_percent",
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
    fn cells(&self) -> [String; 12] {
        [
            self.checkpoint.clone(),
            self.model.clone(),
            self.params.to_string(),
            self.stored_percent.to_string(),
            self.further_percent.to_string(),
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

//! `neuropos eval`: test accuracy of checkpoints, across magnitude-pruning levels.

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use clap::Args;
use neuropos_models::checkpoint::{self, CheckpointInfo};
use neuropos_models::hub::CheckpointSource;
use neuropos_models::precision::{self, Precision};
use neuropos_models::prune::levels::{at_levels, Levels};
use neuropos_models::prune::{PruneScope, Rank};
use neuropos_models::training::{self, Confusion};
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
    /// Score the checkpoint with its stored numbers rounded to f16, or to int8 with a scale and
    /// an offset per tensor chosen to keep the weights they make closest (docs/cli.md).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Also each class's accuracy and the confusion matrix (rows: the true class, columns: the
    /// predicted one), with the data's class names.
    #[arg(long)]
    per_class: bool,
    /// Score on the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Also write the predicted class of every test image, one per line, to FILE (one
    /// checkpoint, one level): to compare with another framework's run of the same model.
    #[arg(long, value_name = "FILE")]
    predictions: Option<std::path::PathBuf>,
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
    /// The Hub commit an `hf://` reference resolved to (empty for a local checkpoint), so a
    /// sweep names exactly what it measured.
    pub revision: String,
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
    /// `--precision`: the type the stored numbers were rounded to, and their bytes.
    pub precision: Precision,
    pub stored_bytes: usize,
    /// `--per-class`: each class's accuracy, its name where the data has names, and the
    /// confusion matrix (`confusion[true][predicted]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_class: Option<PerClass>,
}

#[derive(Debug, Serialize)]
pub struct PerClass {
    pub accuracy: Vec<Option<f64>>,
    pub names: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    crate::common::check_limit("--test-limit", args.test_limit)?;
    if args.compensate == Some(0) {
        anyhow::bail!("--compensate takes at least 1 training image, got 0");
    }
    if args.predictions.is_some()
        && (args.checkpoints.len() != 1 || args.prune.as_ref().is_some_and(|p| p.0.len() != 1))
    {
        anyhow::bail!("--predictions writes the classes of one checkpoint at one level");
    }
    let device = args.device.device()?;
    // Each checkpoint is scored on its own data (one load per dataset) and on its own: one that
    // fails is reported at the end, after the rows of those that did not.
    let mut data = DataCache::default();
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    let levels = args.prune.as_ref().map_or(1, |p| p.0.len());
    let bar = crate::common::progress_bar((args.checkpoints.len() * levels) as u64, "eval");
    for source in &args.checkpoints {
        match score(source, &args, &device, &mut data, &bar) {
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

/// The test images and the compensation images of a dataset, on the device.
struct Scoring {
    test: (Tensor, Tensor),
    compensation: Option<Tensor>,
    classes: usize,
    /// The data's class names, or the class numbers.
    names: Vec<String>,
}

/// Datasets loaded so far, by what a checkpoint records of its data (MNIST: "").
#[derive(Default)]
struct DataCache(std::collections::HashMap<String, std::rc::Rc<Scoring>>);

impl DataCache {
    fn get(
        &mut self,
        args: &EvalArgs,
        info: &CheckpointInfo,
        name: &str,
        device: &Device,
    ) -> anyhow::Result<std::rc::Rc<Scoring>> {
        let record = info.training.as_ref().and_then(|t| t.dataset.as_ref());
        // What decides which data is read and how it is checked: the flags, and the record.
        let key = format!(
            "{}|{}",
            args.data.given(),
            record.map_or(String::new(), |r| format!("{}@{}", r.source, r.sha256))
        );
        if let Some(hit) = self.0.get(&key) {
            // Data already checked for a checkpoint of the same record: the fit is left.
            let inputs = hit.test.0.dim(1)?;
            let classes = record.map_or(10, |r| r.classes);
            neuropos_models::data::check_fits(&info.model, inputs, classes, true, name)?;
            return Ok(hit.clone());
        }
        let (mut data, _) = args.data.load_for(info, name)?;
        if let Some(n) = args.test_limit {
            data = data.limit_test(n)?;
        }
        let available = data.train_images.dim(0)?;
        let compensation = match args.compensate {
            None => None,
            Some(n) if n > available => {
                anyhow::bail!("--compensate takes 1 to {available} training images, got {n}")
            }
            Some(n) => Some(data.train_images.narrow(0, 0, n)?.to_device(device)?),
        };
        let names = data
            .class_names
            .clone()
            .unwrap_or_else(|| (0..data.classes).map(|c| c.to_string()).collect());
        let scoring = std::rc::Rc::new(Scoring {
            test: (
                data.test_images.to_device(device)?,
                data.test_labels.to_device(device)?,
            ),
            compensation,
            classes: data.classes,
            names,
        });
        self.0.insert(key, scoring.clone());
        Ok(scoring)
    }
}

/// The rows of one checkpoint: as stored, or at each of `args.prune`'s levels.
fn score(
    source: &CheckpointSource,
    args: &EvalArgs,
    device: &Device,
    data: &mut DataCache,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<Row>> {
    let path = source.resolve()?;
    let mut loaded = checkpoint::load(&path, DType::F32, device)
        .with_context(|| format!("loading checkpoint {source}"))?;
    let name = source.to_string();
    let revision = source.revision(&path).unwrap_or_default();
    let scoring = data.get(args, &loaded.info, &name, device)?;
    let rounded = precision::round_to(&mut loaded, args.precision)
        .with_context(|| format!("rounding {source} to {}", args.precision))?;
    let (test_x, test_y) = (&scoring.test.0, &scoring.test.1);
    let model = loaded.info.model.describe();
    let params = loaded.info.params;
    let how = Levels {
        levels: args.prune.as_ref().map(|p| p.0.as_slice()),
        rank: args.rank,
        scope: args.scope,
        compensation: scoring.compensation.as_ref(),
    };
    let mut rows = Vec::new();
    at_levels(&mut loaded, &how, |level, network| {
        let (accuracy, per_class) = if args.per_class {
            let confusion = Confusion::of(network, test_x, test_y, scoring.classes)?;
            let per_class = PerClass {
                accuracy: confusion.per_class(),
                names: scoring.names.clone(),
                confusion: confusion.matrix.clone(),
            };
            (confusion.accuracy(), Some(per_class))
        } else {
            (training::accuracy(network, test_x, test_y)?, None)
        };
        if let Some(file) = &args.predictions {
            let classes = training::predict(network, test_x, 1000)?;
            let text: String = classes.iter().map(|c| format!("{c}\n")).collect();
            checkpoint::write_atomically(file, text.as_bytes())?;
        }
        tracing::debug!("{source} at {}%: {accuracy:.4}", level.percent);
        bar.inc(1);
        rows.push(Row {
            checkpoint: name.clone(),
            revision: revision.clone(),
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
            precision: rounded.precision,
            stored_bytes: rounded.bytes,
            per_class,
        });
        anyhow::Ok(())
    })
    .with_context(|| format!("pruning {source}"))?;
    Ok(rows)
}

const COLUMNS: [&str; 15] = [
    "checkpoint",
    "revision",
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
    "precision",
    "stored_bytes",
];

impl Row {
    /// One cell per [`COLUMNS`] entry. Accuracy on N test images has at most log10(N) decimals;
    /// four cover the 10,000 of MNIST exactly.
    fn cells(&self) -> [String; 15] {
        [
            self.checkpoint.clone(),
            self.revision.clone(),
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
            self.precision.to_string(),
            self.stored_bytes.to_string(),
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
    for r in rows {
        if let Some(pc) = &r.per_class {
            out += &per_class_table(r, pc, format);
        }
    }
    Ok(out)
}

/// A row's per-class accuracy and confusion matrix, as a table or CSV of its own.
fn per_class_table(r: &Row, pc: &PerClass, format: &str) -> String {
    let line = |cells: Vec<String>| match format {
        "csv" => {
            cells
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        }
        _ => format!("| {} |\n", cells.join(" | ")),
    };
    let mut out = format!(
        "\n{} at {} % pruned: per class (rows: true class, columns: predicted)\n\n",
        r.checkpoint, r.prune_percent
    );
    let mut head = vec!["class".to_string(), "accuracy".to_string()];
    head.extend(pc.names.iter().cloned());
    out += &line(head.clone());
    if format == "table" {
        out += &line(head.iter().map(|_| "---".to_string()).collect());
    }
    for (c, row) in pc.confusion.iter().enumerate() {
        let mut cells = vec![
            pc.names[c].clone(),
            pc.accuracy[c].map_or("—".into(), |a| format!("{a:.4}")),
        ];
        cells.extend(row.iter().map(|n| n.to_string()));
        out += &line(cells);
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

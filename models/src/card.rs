//! A checkpoint's model card (`README.md`, the Hugging Face form: YAML front matter with a
//! `model-index`, then Markdown), written from the checkpoint's own files — `config.json`,
//! `metrics.jsonl`, `pruning.json` — so no number in it is typed by hand and none is stale.
//! `neuropos push` uploads it; the zoo's cards (`scripts/model_card.py`) add the paper's and the
//! sweeps' rows, which live in this repository rather than in a checkpoint.

use std::path::Path;

use serde_json::Value;

use crate::checkpoint::{CheckpointInfo, Provenance, CONFIG_FILE};
use crate::{Error, Result};

/// `pruning.json`: `neuropos eval DIR --prune … --format json`, written beside a checkpoint.
pub const PRUNING_FILE: &str = "pruning.json";

/// The pruning levels a card shows of `pruning.json`.
const PRUNE_EXCERPT: [f64; 6] = [0.0, 10.0, 50.0, 80.0, 90.0, 95.0];

/// What the Hub reads off a card's `model-index`: one result, its task, dataset and metric.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelIndex {
    pub name: String,
    pub task: String,
    /// A Hub dataset id (`ylecun/mnist`) or, for local data, its file or folder name.
    pub dataset_type: String,
    pub dataset_name: String,
    pub split: String,
    pub metric_type: String,
    pub metric_value: f64,
    pub metric_name: String,
}

impl ModelIndex {
    /// What the Hub's card validator asks of a result: a task, a dataset (type and name), and
    /// each metric a type and a numeric value — here an accuracy in [0, 1].
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (field, value) in [
            ("name", &self.name),
            ("task.type", &self.task),
            ("dataset.type", &self.dataset_type),
            ("dataset.name", &self.dataset_name),
            ("dataset.split", &self.split),
            ("metrics.type", &self.metric_type),
        ] {
            if value.trim().is_empty() {
                return Err(format!("model-index: {field} is empty"));
            }
        }
        if !(self.metric_value.is_finite() && (0.0..=1.0).contains(&self.metric_value)) {
            return Err(format!(
                "model-index: the accuracy {} is not a number in [0, 1]",
                self.metric_value
            ));
        }
        Ok(())
    }

    /// The front matter's `model-index:` block. Strings are written as JSON strings, which
    /// YAML reads as double-quoted scalars: a name with `:` or `#` stays one value.
    fn yaml(&self) -> String {
        let q = |s: &str| Value::from(s).to_string();
        [
            "model-index:".to_string(),
            format!("- name: {}", q(&self.name)),
            "  results:".into(),
            "  - task:".into(),
            format!("      type: {}", q(&self.task)),
            "      name: Image Classification".into(),
            "    dataset:".into(),
            format!("      type: {}", q(&self.dataset_type)),
            format!("      name: {}", q(&self.dataset_name)),
            format!("      split: {}", q(&self.split)),
            "    metrics:".into(),
            format!("    - type: {}", q(&self.metric_type)),
            format!("      value: {}", self.metric_value),
            format!("      name: {}", q(&self.metric_name)),
        ]
        .join("\n")
    }
}

/// A checkpoint's card: what it claims (for checking) and its text.
#[derive(Debug, Clone)]
pub struct Card {
    pub index: ModelIndex,
    pub text: String,
}

/// The dataset a checkpoint records, as a Hub id and a display name.
fn dataset_names(training: &Provenance) -> (String, String) {
    let Some(record) = &training.dataset else {
        return ("ylecun/mnist".into(), "MNIST".into());
    };
    if record.source == "fashion-mnist" {
        return ("fashion_mnist".into(), "Fashion-MNIST".into());
    }
    if let Some(id) = record.source.strip_prefix("hf://datasets/") {
        let id = id.split('@').next().unwrap_or(id);
        return (id.to_string(), id.to_string());
    }
    let base = Path::new(&record.source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| record.source.clone());
    (base.clone(), base)
}

/// Reads a JSON file of `dir` that may be absent.
fn optional_json_lines(dir: &Path, name: &str) -> Result<Vec<Value>> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let parsed = if name.ends_with(".jsonl") {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<std::result::Result<Vec<Value>, _>>()
    } else {
        serde_json::from_str::<Vec<Value>>(&text)
    };
    parsed.map_err(|e| Error::checkpoint(path, format!("not valid JSON: {e}")))
}

/// The `neuropos train` command that made this checkpoint (the same seed gives the same bits).
pub fn train_command(info: &CheckpointInfo, training: &Provenance, out: &str) -> String {
    let model = &info.model;
    let mut args = vec!["neuropos".to_string(), "train".into()];
    // An annealed run's checkpoint holds the steepness of its kept epoch, not the one it
    // started from, which the checkpoint does not record: the command then leaves --steepness
    // at its default, as it always did.
    let mut built = model.clone();
    if training
        .recipe
        .as_ref()
        .is_some_and(|r| r.steepness_final.is_some())
    {
        built.steepness = crate::config::DEFAULT_STEEPNESS;
    }
    args.extend(crate::run::architecture_flags(
        &built,
        training.init_from.is_none(),
    ));
    if let Some(lineage) = &training.init_from {
        // With --init-from the fine-tuning recipe is the default; the flags below are explicit.
        args.extend(["--init-from".into(), lineage.source.clone()]);
    }
    if let Some(teacher) = &training.distillation {
        args.extend([
            "--distill-from".into(),
            teacher.source.clone(),
            "--distill-temperature".into(),
            teacher.temperature.to_string(),
            "--distill-weight".into(),
            teacher.weight.to_string(),
        ]);
    }
    args.extend([
        "--epochs".into(),
        training.epochs_planned.to_string(),
        "--lr".into(),
        training.lr.to_string(),
        "--batch-size".into(),
        training.batch_size.to_string(),
    ]);
    if let Some(p) = &model.pruning {
        args.extend([
            "--prune-during".into(),
            p.percent.to_string(),
            "--scope".into(),
            p.scope.to_string(),
        ]);
    }
    if let Some(recipe) = &training.recipe {
        let flags = recipe.flags();
        args.extend(flags.iter().flat_map(|f| f.split(' ').map(String::from)));
    }
    if let Some(n) = training.val_split {
        args.extend(["--val-split".into(), n.to_string()]);
    }
    if let Some(kept) = &training.kept {
        args.extend(["--keep".into(), "best".into()]);
        if let Some(p) = kept.patience {
            args.extend(["--patience".into(), p.to_string()]);
        }
    }
    if let Some(record) = &training.dataset {
        args.extend(["--data".into(), record.source.clone()]);
    }
    for (flag, limit) in [
        ("--train-limit", training.train_limit),
        ("--test-limit", training.test_limit),
    ] {
        if let Some(n) = limit {
            args.extend([flag.into(), n.to_string()]);
        }
    }
    args.extend([
        "--seed".into(),
        training.seed.to_string(),
        "--device".into(),
        "cpu".into(),
        "--out".into(),
        out.to_string(),
    ]);
    args.join(" ")
}

/// The `neuropos prune` command that made a pruned checkpoint, from what it records: the mask's
/// level, scope and ranking (or, without a mask, the share of neurons removed), the compensation
/// and the fine-tuning.
fn prune_command(info: &CheckpointInfo, training: &Provenance, first: &Value, out: &str) -> String {
    let source = training
        .init_from
        .as_ref()
        .map_or("SOURCE", |l| l.source.as_str());
    let mut args = vec!["neuropos".to_string(), "prune".into(), source.to_string()];
    let percent = first["pruned"].as_f64().unwrap_or_default();
    match &info.model.fixed_mask {
        Some(mask) => {
            args.extend([
                "--percent".into(),
                mask.percent.to_string(),
                "--scope".into(),
                mask.scope.to_string(),
                "--rank".into(),
                mask.rank.to_string(),
            ]);
            if mask.compensated_on > 0 {
                args.extend(["--compensate".into(), mask.compensated_on.to_string()]);
            }
        }
        // Whole neurons: the score is not recorded; `outgoing` is the default.
        None => args.extend(["--neurons".into(), percent.to_string()]),
    }
    if training.epochs_completed > 0 {
        args.extend([
            "--finetune-epochs".into(),
            training.epochs_completed.to_string(),
            "--lr".into(),
            training.lr.to_string(),
            "--batch-size".into(),
            training.batch_size.to_string(),
            "--seed".into(),
            training.seed.to_string(),
        ]);
    }
    if let Some(record) = &training.dataset {
        args.extend(["--data".into(), record.source.clone()]);
    }
    args.extend([
        "--device".into(),
        "cpu".into(),
        "--out".into(),
        out.to_string(),
    ]);
    args.join(" ")
}

/// The card of the checkpoint in `dir`, named `name`; `reference` is where users will load it
/// from (`hf://owner/repo`, or the directory). `files` are the files published beside it.
/// An error where the checkpoint cannot back a card: no training record, or no test accuracy.
pub fn model_card(dir: &Path, name: &str, reference: &str, files: &[&str]) -> Result<Card> {
    let config_path = dir.join(CONFIG_FILE);
    let text =
        std::fs::read_to_string(&config_path).map_err(|e| Error::io(config_path.clone(), e))?;
    let info: CheckpointInfo = serde_json::from_str(&text).map_err(|e| {
        Error::checkpoint(
            config_path.clone(),
            format!("not a checkpoint's config: {e}"),
        )
    })?;
    let no_card = |why: &str| {
        Error::checkpoint(
            dir.to_path_buf(),
            format!("cannot write its model card: {why}"),
        )
    };
    let training = info
        .training
        .as_ref()
        .ok_or_else(|| no_card("it has no training record (an untrained export)"))?;
    let accuracy = training
        .final_test_accuracy
        .ok_or_else(|| no_card("no test accuracy is recorded (the run was not scored)"))?;
    let (dataset_type, dataset_name) = dataset_names(training);
    let index = ModelIndex {
        name: name.to_string(),
        task: "image-classification".into(),
        dataset_type: dataset_type.clone(),
        dataset_name: dataset_name.clone(),
        split: "test".into(),
        metric_type: "accuracy".into(),
        metric_value: accuracy,
        metric_name: match &training.kept {
            Some(kept) => format!(
                "Test accuracy of epoch {}, the best on validation",
                kept.epoch
            ),
            None => format!("Test accuracy after {} epochs", training.epochs_completed),
        } + &training
            .test_limit
            .map(|n| format!(" (the first {n} test images)"))
            .unwrap_or_default(),
    };
    index.validate().map_err(|problem| no_card(&problem))?;
    let log = optional_json_lines(dir, crate::run::METRICS_FILE)?;
    let pruning = optional_json_lines(dir, PRUNING_FILE)?;
    let model = &info.model;
    let spiking = model.lif.is_some();

    let mut tags = vec![
        "candle",
        "safetensors",
        if model.kind.is_embedded() {
            "spatially-embedded"
        } else {
            "baseline"
        },
    ];
    if spiking {
        tags.push("spiking");
    }
    let mut lines = vec![
        "---".to_string(),
        "license: mit".into(),
        "library_name: neuropos".into(),
        "tags:".into(),
    ];
    lines.extend(tags.iter().map(|t| format!("- {t}")));
    lines.extend([
        "datasets:".into(),
        format!("- {}", Value::from(dataset_type.as_str())),
        "metrics:".into(),
        "- accuracy".into(),
    ]);
    if let Some(base) = training
        .init_from
        .as_ref()
        .and_then(|l| l.source.strip_prefix(crate::hub::SCHEME))
    {
        // The Hub links a fine-tuned model to its base by repository id.
        let id: Vec<&str> = base.split('/').take(2).collect();
        let id = id.join("/");
        let id = id.split('@').next().unwrap_or(&id);
        lines.push(format!("base_model: {}", Value::from(id)));
    }
    lines.push(index.yaml());
    lines.extend([
        "---".into(),
        String::new(),
        format!("# {name}"),
        String::new(),
    ]);
    lines.push(format!(
        "A {} ({}, {} parameters), trained on {dataset_name} with \
         neuropos: {}.",
        if model.kind.is_embedded() {
            if model.weight_scale.is_fixed() {
                "spatially embedded network: neurons have positions, the weight between two is \
                 1/distance, each presynaptic neuron a learned inhibition sign"
            } else {
                "spatially embedded network: neurons have positions, the weight between two is \
                 a learned scale per layer over their distance, each presynaptic neuron a learned \
                 inhibition sign"
            }
        } else {
            "conventional network (dense weight matrices)"
        },
        model.describe(),
        info.params,
        if spiking {
            "LIF neurons, snnTorch's `Leaky` semantics"
        } else {
            "ReLU hidden layers"
        }
    ));
    lines.push(String::new());
    if let Some(lineage) = &training.init_from {
        lines.push(format!(
            "Fine-tuned from `{}`{}: {} before the first step, {accuracy:.4} after {} epochs.",
            lineage.source,
            lineage
                .commit
                .as_ref()
                .map(|c| format!(" (commit `{c}`)"))
                .unwrap_or_default(),
            format_args!("{:.4}", lineage.initial_test_accuracy),
            training.epochs_completed
        ));
        lines.push(String::new());
    }
    if let Some(teacher) = &training.distillation {
        lines.push(format!(
            "Distilled from the teacher `{}`{} (weights SHA-256 `{}`), temperature {}, weight {} \
             on the teacher's soft targets.",
            teacher.source,
            teacher
                .commit
                .as_ref()
                .map(|c| format!(" at commit `{c}`"))
                .unwrap_or_default(),
            teacher.sha256,
            teacher.temperature,
            teacher.weight
        ));
        lines.push(String::new());
    }
    lines.extend(how_to_use(reference, name, model, training));
    lines.extend(numbers(
        info.params,
        training,
        accuracy,
        &dataset_name,
        &log,
    ));
    lines.extend(pruning_table(&pruning, model.pruning.is_some()));
    lines.extend([
        String::new(),
        "## Reproduce".into(),
        String::new(),
        "In a checkout of neuropos (`cargo run --release --` in place of `neuropos`); the same \
         seed on a CPU gives the same bits:"
            .into(),
        String::new(),
        "```sh".into(),
        match log.first().filter(|l| l.get("pruned").is_some()) {
            Some(first) => prune_command(&info, training, first, &format!("runs/{name}")),
            None => train_command(&info, training, &format!("runs/{name}")),
        },
        "```".into(),
        String::new(),
        format!(
            "Files: {}. `model.safetensors` holds the {} (its `neuropos` metadata key repeats \
             `config.json`).",
            files
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if model.kind.is_embedded() {
                "trained positions, inhibition values and biases"
            } else {
                "trained weights and biases"
            }
        ),
        String::new(),
        "Licence: the checkpoint is released under the MIT licence (the front matter's `mit`); \
         the neuropos code that trains and runs it is MIT OR Apache-2.0."
            .into(),
        String::new(),
    ]);
    Ok(Card {
        index,
        text: lines.join("\n"),
    })
}

fn how_to_use(
    reference: &str,
    name: &str,
    model: &crate::Config,
    training: &Provenance,
) -> Vec<String> {
    let data = training
        .dataset
        .as_ref()
        .map(|d| format!(" --data {}", d.source))
        .unwrap_or_default();
    let mut lines = vec![
        "## How to use".to_string(),
        String::new(),
        "With the `neuropos` CLI:".into(),
        String::new(),
        "```sh".into(),
        format!("neuropos eval {reference} --prune 0,50,80,90"),
        format!("neuropos pull {reference} --out {name}"),
        format!("neuropos train --init-from {reference}{data} --out runs/{name}-ft   # fine-tune"),
        format!(
            "neuropos export {reference} --format c --precision int8 --out {name}-c   # a microcontroller"
        ),
    ];
    if model.lif.is_some() {
        lines.push(format!(
            "neuropos export {reference} --format nir --out {name}.nir   # snnTorch, NIR tools"
        ));
    }
    let inputs = model.layers[0];
    lines.extend([
        "```".into(),
        String::new(),
        "In Rust (`neuropos-models`):".into(),
        String::new(),
        "```rust".into(),
        "use candle_core::{DType, Device, Tensor};".into(),
        "use neuropos_models::Network;".into(),
        String::new(),
        format!("let network = Network::from_pretrained({:?}, &Device::Cpu)?;", reference),
        format!(
            "let images = Tensor::zeros((1, {inputs}), DType::F32, &Device::Cpu)?; // [B, {inputs}] in [0, 1]"
        ),
        "let classes: Vec<u32> = network.predict(&images)?;".into(),
        "```".into(),
        String::new(),
    ]);
    lines
}

fn numbers(
    params: usize,
    training: &Provenance,
    accuracy: f64,
    dataset: &str,
    log: &[Value],
) -> Vec<String> {
    let mut lines = vec![
        "## Numbers".to_string(),
        String::new(),
        "| | |".into(),
        "|---|---|".into(),
        format!("| parameters | {params} |"),
        format!(
            "| epochs | {} of {} planned{} |",
            training.epochs_completed,
            training.epochs_planned,
            if training.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        ),
        format!(
            "| optimizer | {}, lr {}, batch {}, seed {} |",
            training.optimizer, training.lr, training.batch_size, training.seed
        ),
        format!(
            "| training data | {} images ({}) |",
            training.train_samples, training.data
        ),
        format!(
            "| test accuracy ({dataset}{}) | **{accuracy:.4}**{} |",
            training
                .test_limit
                .map(|n| format!(", the first {n} test images only"))
                .unwrap_or_default(),
            if training.val_split.is_some() {
                " (scored once, after the last epoch)"
            } else {
                ""
            }
        ),
    ];
    let scored = log
        .iter()
        .filter_map(|r| Some((r["epoch"].as_u64()?, r["test_accuracy"].as_f64()?)));
    if training.val_split.is_none() {
        if let Some((epoch, best)) = scored.max_by(|a, b| a.1.total_cmp(&b.1)) {
            lines.push(format!(
                "| best epoch | {best:.4} at epoch {epoch} (the checkpoint is the last epoch's) |"
            ));
        }
    }
    if let (Some(n), Some(val)) = (training.val_split, training.final_val_accuracy) {
        lines.push(format!(
            "| validation accuracy (the last {n} training images, held out) | {val:.4} |"
        ));
    }
    if let Some(kept) = &training.kept {
        lines.push(format!(
            "| kept epoch | {} of {} trained: the best validation accuracy (`--keep best`{}){} |",
            kept.epoch,
            kept.epochs_trained,
            kept.patience
                .map(|p| format!(", `--patience {p}`"))
                .unwrap_or_default(),
            if kept.early_stopped {
                "; stopped early"
            } else {
                ""
            }
        ));
    }
    lines
}

fn pruning_table(rows: &[Value], pruned_during: bool) -> Vec<String> {
    let layer: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r["scope"] == "layer")
        .filter_map(|r| Some((r["prune_percent"].as_f64()?, r["accuracy"].as_f64()?)))
        .collect();
    let shown: Vec<(f64, f64)> = PRUNE_EXCERPT
        .iter()
        .filter_map(|p| layer.iter().find(|(q, _)| q == p).copied())
        .collect();
    if shown.is_empty() {
        return Vec::new();
    }
    vec![
        String::new(),
        if pruned_during {
            format!("Scored with its training-time pruning (`{PRUNING_FILE}`):")
        } else {
            format!(
                "Pruned after training, the smallest p % of each layer's weights removed \
                 (`{PRUNING_FILE}`, from `neuropos eval DIR --prune … --format json`):"
            )
        },
        String::new(),
        format!(
            "| pruned % | {} |",
            shown
                .iter()
                .map(|(p, _)| format!("{p}"))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        format!("|---|{}", "---:|".repeat(shown.len())),
        format!(
            "| accuracy | {} |",
            shown
                .iter()
                .map(|(_, a)| format!("{a:.4}"))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ModelIndex {
        ModelIndex {
            name: "mlp3d".into(),
            task: "image-classification".into(),
            dataset_type: "ylecun/mnist".into(),
            dataset_name: "MNIST".into(),
            split: "test".into(),
            metric_type: "accuracy".into(),
            metric_value: 0.9265,
            metric_name: "Test accuracy".into(),
        }
    }

    #[test]
    fn a_model_index_needs_every_field_and_an_accuracy() {
        assert!(index().validate().is_ok());
        let mut empty = index();
        empty.dataset_type = " ".into();
        assert!(empty.validate().unwrap_err().contains("dataset.type"));
        for bad in [f64::NAN, -0.1, 1.5] {
            let mut wrong = index();
            wrong.metric_value = bad;
            assert!(wrong.validate().unwrap_err().contains("accuracy"), "{bad}");
        }
    }

    #[test]
    fn shipped_checkpoints_get_a_card_naming_their_numbers() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../checkpoints/mlp3d");
        let card = model_card(&dir, "mlp3d", "hf://lab/mlp3d", &["config.json"]).unwrap();
        let info: CheckpointInfo =
            serde_json::from_str(&std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap()).unwrap();
        let accuracy = info.training.unwrap().final_test_accuracy.unwrap();
        assert_eq!(card.index.metric_value, accuracy);
        assert!(card.text.starts_with("---\nlicense: mit\n"));
        assert!(card.text.contains(&format!("      value: {accuracy}\n")));
        assert!(card.text.contains("neuropos eval hf://lab/mlp3d"));
        assert!(card.text.contains("--seed 0 --device cpu --out runs/mlp3d"));
        assert!(!card.text.contains("--weight-scale"));
        // A learned scale is part of the architecture: the command must build it again.
        let best = Path::new(env!("CARGO_MANIFEST_DIR")).join("../checkpoints/mlp3d-best");
        let card = model_card(&best, "mlp3d-best", "hf://lab/mlp3d-best", &[]).unwrap();
        assert!(
            card.text.contains("--model mlp3d --weight-scale learned "),
            "{}",
            card.text
        );
        assert!(card
            .text
            .contains("a learned scale per layer over their distance"));
    }
}

//! A sweep's summary: mean ± sample std over seeds per row (and pruning level) beside the
//! paper's value, what the runs cost, as Markdown, CSV and JSON.

use serde::Serialize;
use std::path::{Path, PathBuf};

use super::plan::{checkpoint_dir, eval_file, read_info, units, Overrides, Unit};
use super::spec::Spec;
use crate::checkpoint::{self, CheckpointInfo};
use crate::run::{is_complete, METRICS_FILE};
use crate::{Error, Result};

/// Each training process of a run, one JSON line apiece: wall and CPU seconds (all threads),
/// so the cost of a table is measured, not estimated from a benchmark.
pub const TIMING_FILE: &str = "timing.jsonl";

/// What training a run cost: measured by the sweep (`timing.jsonl`), or, for a checkpoint
/// trained outside it (the zoo's), the training seconds its epochs logged (evaluation after
/// each epoch not included, CPU time not known).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Cost {
    pub wall_seconds: f64,
    pub cpu_seconds: Option<f64>,
    /// False when only the epochs' logged training time is known.
    pub measured: bool,
}

pub fn run_cost(dir: &Path) -> Option<Cost> {
    if let Ok(text) = std::fs::read_to_string(dir.join(TIMING_FILE)) {
        let mut cost = Cost {
            measured: true,
            cpu_seconds: Some(0.0),
            ..Cost::default()
        };
        for v in text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        {
            cost.wall_seconds += v["wall_seconds"].as_f64().unwrap_or(0.0);
            cost.cpu_seconds = match (cost.cpu_seconds, v["cpu_seconds"].as_f64()) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        return Some(cost);
    }
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).ok()?;
    let wall = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["train_seconds"].as_f64())
        .sum();
    Some(Cost {
        wall_seconds: wall,
        cpu_seconds: None,
        measured: false,
    })
}

pub fn eval_is_current(file: &Path, args: &[String]) -> bool {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["command"] == serde_json::json!(args))
}

/// One line of a summary.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub name: String,
    pub kind: String,
    pub params: Option<usize>,
    /// Epochs the runs actually trained (the smallest, if they differ).
    pub epochs: Option<usize>,
    /// The seeds whose runs exist.
    pub seeds: Vec<u64>,
    pub mean: Option<f64>,
    /// Sample standard deviation over the seeds (none for a single seed).
    pub std: Option<f64>,
    pub paper_mean: Option<f64>,
    pub paper_std: Option<f64>,
    /// Pruning during training, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_during: Option<f64>,
    /// Pruning after training, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The accuracy of every seed, in `seeds`' order.
    pub accuracies: Vec<f64>,
    /// Runs trained with `--val-split`: the validation accuracy after the last epoch, mean ±
    /// std over the same seeds (the test accuracy above is scored once, after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_std: Option<f64>,
    /// The checkpoints behind them, in the same order.
    pub runs: Vec<PathBuf>,
    /// What training each of them cost, in the same order (on the unpruned-after rows only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub costs: Vec<Option<Cost>>,
}

#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    spec: &'a Spec,
    overrides: &'a Overrides,
    rows: Vec<SummaryRow>,
}

pub fn mean_std(v: &[f64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (Some(mean), std)
}

pub fn collect(spec: &Spec, over: &Overrides, runs: &Path, zoo: &Path) -> Vec<SummaryRow> {
    let all = units(spec, over, runs);
    let mut rows = Vec::new();
    for (r, row) in spec.rows.iter().enumerate() {
        let levels = row.during_levels();
        for pd in levels {
            let members: Vec<&Unit> = all
                .iter()
                .filter(|u| u.row == r && u.prune_during == pd)
                .collect();
            // (seed, checkpoint dir) of the runs that finished.
            let done: Vec<(u64, PathBuf)> = members
                .iter()
                .map(|u| (u.seed, checkpoint_dir(spec, u, over, zoo), u))
                .filter(|(_, d, _)| is_complete(d))
                .map(|(s, d, _)| (s, d))
                .collect();
            let infos: Vec<CheckpointInfo> =
                done.iter().filter_map(|(_, d)| read_info(d)).collect();
            let params = infos.first().map(|i| i.params);
            let epochs = infos
                .iter()
                .filter_map(|i| i.training.as_ref().map(|t| t.epochs_completed))
                .min();
            let seeds: Vec<u64> = done.iter().map(|(s, _)| *s).collect();
            let base = SummaryRow {
                name: row.name.clone(),
                kind: row.model.to_string(),
                params,
                epochs,
                seeds: seeds.clone(),
                mean: None,
                std: None,
                paper_mean: row.paper_mean,
                paper_std: row.paper_std,
                prune_during: pd,
                prune_percent: None,
                scope: None,
                accuracies: vec![],
                val_mean: None,
                val_std: None,
                runs: done.iter().map(|(_, d)| d.clone()).collect(),
                costs: vec![],
            };
            let accuracies: Vec<f64> = infos
                .iter()
                .filter_map(|i| i.training.as_ref().and_then(|t| t.final_test_accuracy))
                .collect();
            let (mean, std) = mean_std(&accuracies);
            let vals: Vec<f64> = infos
                .iter()
                .filter_map(|i| i.training.as_ref().and_then(|t| t.final_val_accuracy))
                .collect();
            let (val_mean, val_std) = if vals.len() == accuracies.len() {
                mean_std(&vals)
            } else {
                (None, None)
            };
            rows.push(SummaryRow {
                mean,
                std,
                accuracies,
                val_mean,
                val_std,
                costs: done.iter().map(|(_, d)| run_cost(d)).collect(),
                ..base.clone()
            });
            for &level in &row.prune {
                rows.push(pruned_row(&base, level, &members, row, |u| {
                    checkpoint_dir(spec, u, over, zoo)
                }));
            }
        }
    }
    rows
}

/// A row's seeds scored at a post-training pruning `level` (their eval files), as a summary
/// row like `base`.
fn pruned_row(
    base: &SummaryRow,
    level: f64,
    members: &[&Unit],
    row: &super::spec::RowSpec,
    checkpoint_of: impl Fn(&Unit) -> PathBuf,
) -> SummaryRow {
    let mut acc = Vec::new();
    let mut with = Vec::new();
    let mut dirs = Vec::new();
    for u in members {
        let Ok(text) = std::fs::read_to_string(u.dir.join(eval_file(row))) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let hit = v["rows"].as_array().and_then(|rows| {
            rows.iter()
                .find(|x| x["prune_percent"].as_f64() == Some(level))
                .and_then(|x| x["accuracy"].as_f64())
        });
        if let Some(a) = hit {
            acc.push(a);
            with.push(u.seed);
            dirs.push(checkpoint_of(u));
        }
    }
    let (mean, std) = mean_std(&acc);
    SummaryRow {
        seeds: with,
        mean,
        std,
        paper_mean: None,
        paper_std: None,
        prune_percent: Some(level),
        scope: Some(row.scope.clone().unwrap_or("layer".into())),
        accuracies: acc,
        runs: dirs,
        ..base.clone()
    }
}

fn fmt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.4}"))
}

pub fn write_summaries(
    spec: &Spec,
    over: &Overrides,
    out: &Path,
    rows: Vec<SummaryRow>,
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut md = format!(
        "# {}\n\n",
        if spec.title.is_empty() {
            &spec.name
        } else {
            &spec.title
        }
    );
    if !spec.claim.is_empty() {
        md += &format!("{}\n\n", spec.claim);
    }
    if let Some(e) = over.epochs {
        md += &format!(
            "**Quick version: every run trained for {e} epoch{} (`--epochs {e}`), not the paper's \
             epochs.**\n\n",
            if e == 1 { "" } else { "s" }
        );
    }
    if let Some(n) = over.train_limit {
        md += &format!(
            "**Trained on the first {n} training images only (`--train-limit {n}`).**\n\n"
        );
    }
    // A validation column only where some row was trained with a validation split.
    let with_val = rows.iter().any(|r| r.val_mean.is_some());
    md += &format!(
        "| row | kind | parameters | pruned during | pruned after | epochs | seeds | {}accuracy (mean ± std) | paper |\n",
        if with_val { "validation (mean ± std) | " } else { "" }
    );
    md += &format!(
        "|---|---|---:|---:|---:|---:|---|{}---:|---:|\n",
        if with_val { "---:|" } else { "" }
    );
    let mut csv = String::from(
        "name,kind,params,prune_during,prune_percent,scope,epochs,seeds,mean,std,paper_mean,paper_std,val_mean,val_std\n",
    );
    for r in &rows {
        md += &markdown_line(r, with_val);
        csv += &csv_line(r);
    }
    md += &cost_note(&rows);
    let json = serde_json::to_string_pretty(&Summary {
        spec,
        overrides: over,
        rows,
    })
    .map_err(|e| Error::Run(format!("writing the summary: {e}")))?;
    checkpoint::write_atomically(&out.join("summary.md"), md.as_bytes())?;
    checkpoint::write_atomically(&out.join("summary.csv"), csv.as_bytes())?;
    checkpoint::write_atomically(&out.join("summary.json"), format!("{json}\n").as_bytes())?;
    Ok(())
}

/// "m ± s", "m" or "—".
fn mean_pm(mean: Option<f64>, std: Option<f64>) -> String {
    match (mean, std) {
        (Some(m), Some(s)) => format!("{m:.4} ± {s:.4}"),
        (Some(m), None) => format!("{m:.4}"),
        _ => "—".into(),
    }
}

/// A summary row as a line of the Markdown table.
fn markdown_line(r: &SummaryRow, with_val: bool) -> String {
    let val = if with_val {
        format!("{} | ", mean_pm(r.val_mean, r.val_std))
    } else {
        String::new()
    };
    let seeds: Vec<String> = r.seeds.iter().map(|s| s.to_string()).collect();
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {val}{} | {} |\n",
        r.name,
        r.kind,
        r.params.map_or("—".into(), |p| p.to_string()),
        r.prune_during.map_or("—".into(), |p| format!("{p} %")),
        r.prune_percent.map_or("—".into(), |p| format!(
            "{p} % ({})",
            r.scope.as_deref().unwrap_or("")
        )),
        r.epochs.map_or("—".into(), |e| e.to_string()),
        if seeds.is_empty() {
            "none".into()
        } else {
            seeds.join(", ")
        },
        mean_pm(r.mean, r.std),
        mean_pm(r.paper_mean, r.paper_std),
    )
}

/// A summary row as a CSV line.
fn csv_line(r: &SummaryRow) -> String {
    let seeds: Vec<String> = r.seeds.iter().map(|s| s.to_string()).collect();
    format!(
        "\"{}\",{},{},{},{},{},{},\"{}\",{},{},{},{},{},{}\n",
        r.name.replace('"', "\"\""),
        r.kind,
        r.params.map_or(String::new(), |p| p.to_string()),
        r.prune_during.map_or(String::new(), |p| p.to_string()),
        r.prune_percent.map_or(String::new(), |p| p.to_string()),
        r.scope.clone().unwrap_or_default(),
        r.epochs.map_or(String::new(), |e| e.to_string()),
        seeds.join(" "),
        fmt(r.mean),
        fmt(r.std),
        fmt(r.paper_mean),
        fmt(r.paper_std),
        fmt(r.val_mean),
        fmt(r.val_std),
    )
}

/// The summary's last paragraph: what the runs behind it cost to train (each run once, though
/// rows may share one).
pub fn cost_note(rows: &[SummaryRow]) -> String {
    let mut seen = std::collections::BTreeMap::new();
    for r in rows {
        for (dir, cost) in r.runs.iter().zip(&r.costs) {
            if let Some(c) = cost {
                seen.insert(dir.clone(), *c);
            }
        }
    }
    if seen.is_empty() {
        return String::new();
    }
    let (measured, logged): (Vec<Cost>, Vec<Cost>) = seen.values().partition(|c| c.measured);
    let hours = |s: f64| s / 3600.0;
    let mut note = String::from("\nTraining cost (each run counted once):");
    if !measured.is_empty() {
        let wall: f64 = measured.iter().map(|c| c.wall_seconds).sum();
        let cpu: f64 = measured.iter().filter_map(|c| c.cpu_seconds).sum();
        note += &format!(
            " {} run{} trained by the sweep took {:.2} h of process time and {:.2} CPU-hours \
             (measured per process, `timing.jsonl`){}",
            measured.len(),
            if measured.len() == 1 { "" } else { "s" },
            hours(wall),
            hours(cpu),
            if logged.is_empty() { "." } else { ";" }
        );
    }
    if !logged.is_empty() {
        let wall: f64 = logged.iter().map(|c| c.wall_seconds).sum();
        note += &format!(
            " {} reused checkpoint{} logged {:.2} h of training steps (per-epoch evaluation not \
             included, CPU time not recorded).",
            logged.len(),
            if logged.len() == 1 { "" } else { "s" },
            hours(wall)
        );
    }
    note + "\n"
}

/// The accuracy after every epoch of a run (`metrics.jsonl`, epoch 0 left out): on the
/// validation split where the run held one out (its test set is scored only after the last
/// epoch, so there is no test curve), else on the test set. The flag says which.
pub fn learning_curve(dir: &Path) -> (Vec<f64>, bool) {
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join(METRICS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["epoch"].as_u64().is_some_and(|e| e >= 1))
        .collect();
    let validation = !lines.is_empty() && lines.iter().all(|v| v["val_accuracy"].is_f64());
    let key = if validation {
        "val_accuracy"
    } else {
        "test_accuracy"
    };
    let curve = lines.iter().filter_map(|v| v[key].as_f64()).collect();
    (curve, validation)
}

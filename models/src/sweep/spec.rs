//! A sweep's spec: a TOML file of rows — a model and its settings, the pruning levels, the
//! paper's value — each trained over the spec's seeds.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::{Error, ModelKind, Result};

fn refuse<T>(problem: String) -> Result<T> {
    Err(Error::Run(problem))
}

/// A sweep spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    #[serde(default)]
    pub title: String,
    /// What the spec puts to the test, in words that say whose claim it is ("The paper: …"),
    /// written at the top of the summary.
    #[serde(default)]
    pub claim: String,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// The data every run trains on, as `train --data` takes it [default: MNIST].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(rename = "row")]
    pub rows: Vec<RowSpec>,
}

fn default_seeds() -> Vec<u64> {
    vec![0, 1, 2]
}

/// One row of a table (or one line of a figure): a model and its settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowSpec {
    pub name: String,
    pub model: ModelKind,
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Embedding dimension (embedded kinds) [default: 3].
    pub dim: Option<usize>,
    /// [default: the paper's for the kind].
    pub lr: Option<f64>,
    /// [default: the paper's for the kind].
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    /// Pruning during training: one run per level (and seed); 0 trains unpruned.
    #[serde(default)]
    pub prune_during: Vec<f64>,
    /// Pruning after training: the levels each trained run is scored at.
    #[serde(default)]
    pub prune: Vec<f64>,
    /// Pruning scope (`layer` or `global`) [default: layer].
    pub scope: Option<String>,
    /// Further `neuropos train` flags for this row's runs (a recipe beyond the paper's, e.g.
    /// `["--val-split", "10000", "--lr-schedule", "cosine"]`); part of the runs' directory
    /// name. The settings the sweep passes itself (model, sizes, rate, epochs, batch, seed,
    /// pruning, data limits, device, output) are refused here: they have their own keys.
    #[serde(default)]
    pub flags: Vec<String>,
    /// The zoo checkpoint that counts as seed 0 when its settings are this row's.
    pub zoo: Option<String>,
    /// The paper's value for this row (mean ± std of its seeds), where it gives one.
    pub paper_mean: Option<f64>,
    pub paper_std: Option<f64>,
}

fn default_hidden() -> Vec<usize> {
    vec![2048]
}

impl RowSpec {
    /// The row's pruning-during-training levels, one run setting each (`None`: unpruned).
    pub fn during_levels(&self) -> Vec<Option<f64>> {
        if self.prune_during.is_empty() {
            vec![None]
        } else {
            self.prune_during.iter().map(|&p| Some(p)).collect()
        }
    }
}

impl Spec {
    pub fn read(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let spec: Spec = toml::from_str(&text)
            .map_err(|e| Error::Run(format!("{}: not a valid spec: {e}", path.display())))?;
        if spec.rows.is_empty() {
            return refuse(format!("{}: no [[row]] in the spec", path.display()));
        }
        let mut names = std::collections::HashSet::new();
        for row in &spec.rows {
            if !names.insert(slug(&row.name)) {
                return refuse(format!(
                    "{}: two rows are named `{}`",
                    path.display(),
                    row.name
                ));
            }
            for p in row.prune_during.iter().chain(&row.prune) {
                if !(0.0..100.0).contains(p) {
                    return refuse(format!(
                        "{}: row `{}`: pruning level {p} is outside [0, 100)",
                        path.display(),
                        row.name
                    ));
                }
            }
            if let Some(s) = &row.scope {
                if s != "layer" && s != "global" {
                    return refuse(format!(
                        "{}: row `{}`: scope `{s}`",
                        path.display(),
                        row.name
                    ));
                }
            }
            const OWN: [&str; 18] = [
                "--model",
                "--hidden",
                "--dim",
                "--lr",
                "--epochs",
                "--batch-size",
                "--seed",
                "--prune-during",
                "--scope",
                "--train-limit",
                "--test-limit",
                "--device",
                "--out",
                "--force",
                "--resume",
                "--init-from",
                "--data",
                "--data-dir",
            ];
            if let Some(f) = row
                .flags
                .iter()
                .find(|f| OWN.contains(&f.split('=').next().unwrap_or(f)))
            {
                return refuse(format!(
                    "{}: row `{}`: `{f}` in `flags` is set by the row's own keys (model, \
                     hidden, dim, lr, epochs, batch_size, prune_during, scope) or by the sweep",
                    path.display(),
                    row.name
                ));
            }
        }
        Ok(spec)
    }
}

/// A directory-safe name.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

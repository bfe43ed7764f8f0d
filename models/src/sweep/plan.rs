//! A sweep's plan: one run per row, pruning-during level and seed, each in a directory named
//! for every setting that changes what it trains (so specs share runs), and which of them the
//! zoo's checkpoints stand in for.

use serde::Serialize;
use std::path::{Path, PathBuf};

use super::spec::{slug, RowSpec, Spec};
use crate::checkpoint::{self, CheckpointInfo};
use crate::config::{DEFAULT_BATCH_SIZE, DEFAULT_DIM};
use crate::run::is_complete;

/// The settings that apply to every run of this invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Overrides {
    pub epochs: Option<usize>,
    pub seeds: Vec<u64>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
}

/// One training: a row, a pruning-during level and a seed.
#[derive(Debug, Clone)]
pub struct Unit {
    pub row: usize,
    pub prune_during: Option<f64>,
    pub seed: u64,
    pub dir: PathBuf,
}

pub fn level_tag(p: f64) -> String {
    format!("{p}").replace('.', "_")
}

/// A run's directory name: every setting that changes what it trains.
pub fn setting_slug(
    spec: &Spec,
    row: &RowSpec,
    prune_during: Option<f64>,
    over: &Overrides,
) -> String {
    let hidden: Vec<String> = row.hidden.iter().map(|h| h.to_string()).collect();
    // MNIST runs keep the names they always had; other data leads the name.
    let data = match spec.data.as_deref() {
        None | Some("mnist" | "vendored") => String::new(),
        Some(d) => format!("{}-", slug(d)),
    };
    let mut name = format!("{data}{}-h{}", row.model, hidden.join("x"));
    if row.model.is_embedded() {
        name += &format!("-d{}", row.dim.unwrap_or(DEFAULT_DIM));
    }
    name += &format!(
        "-lr{}-e{}-b{}",
        row_lr(row),
        row_epochs(row, over),
        row.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    );
    if !row.flags.is_empty() {
        name += &format!("-{}", slug(&row.flags.join(" ")));
    }
    if let Some(p) = prune_during.filter(|&p| p > 0.0) {
        name += &format!(
            "-pd{}-{}",
            level_tag(p),
            row.scope.as_deref().unwrap_or("layer")
        );
    }
    if let Some(n) = over.train_limit {
        name += &format!("-n{n}");
    }
    if let Some(n) = over.test_limit {
        name += &format!("-t{n}");
    }
    name
}

pub fn units(spec: &Spec, over: &Overrides, runs: &Path) -> Vec<Unit> {
    let mut units = Vec::new();
    for (r, row) in spec.rows.iter().enumerate() {
        let levels = row.during_levels();
        for pd in levels {
            let name = setting_slug(spec, row, pd, over);
            for &seed in &over.seeds {
                units.push(Unit {
                    row: r,
                    prune_during: pd,
                    seed,
                    dir: runs.join(&name).join(format!("seed{seed}")),
                });
            }
        }
    }
    units
}

pub fn row_epochs(row: &RowSpec, over: &Overrides) -> usize {
    over.epochs
        .or(row.epochs)
        .unwrap_or(row.model.paper_epochs())
}

pub fn row_lr(row: &RowSpec) -> f64 {
    row.lr.unwrap_or(row.model.paper_learning_rate())
}

pub fn read_info(dir: &Path) -> Option<CheckpointInfo> {
    let text = std::fs::read_to_string(dir.join(checkpoint::CONFIG_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The zoo checkpoint that stands in for `unit` (seed 0, the row's exact settings, the full
/// training set), if any.
pub fn zoo_checkpoint(spec: &Spec, unit: &Unit, over: &Overrides, zoo: &Path) -> Option<PathBuf> {
    let row = &spec.rows[unit.row];
    let dir = zoo.join(row.zoo.as_ref()?);
    // The zoo was trained and scored on all of its data with the paper's recipe: no reuse for
    // runs on a slice of it, on other data or with other flags.
    if unit.seed != 0
        || !row.flags.is_empty()
        || over.train_limit.is_some()
        || over.test_limit.is_some()
        || !is_complete(&dir)
    {
        return None;
    }
    let info = read_info(&dir)?;
    let t = info.training?;
    // A checkpoint without a dataset record was trained on MNIST.
    let spec_data = match spec.data.as_deref() {
        None | Some("mnist" | "vendored") => None,
        Some(other) => Some(other),
    };
    if t.dataset.as_ref().map(|r| r.source.as_str()) != spec_data {
        return None;
    }
    let m = &info.model;
    let pruning = m.pruning.map(|p| p.percent);
    let wanted_pruning = unit.prune_during.filter(|&p| p > 0.0);
    let same = m.kind == row.model
        && m.hidden() == row.hidden.as_slice()
        && (!row.model.is_embedded() || m.dim == row.dim.unwrap_or(DEFAULT_DIM))
        && t.lr == row_lr(row)
        && t.epochs_planned == row_epochs(row, over)
        && t.batch_size == row.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
        && t.seed == 0
        && t.train_samples == 60_000
        && t.init_from.is_none()
        && pruning == wanted_pruning
        && m.fixed_mask.is_none();
    same.then_some(dir)
}

/// Where a unit's checkpoint is (its own directory, or the zoo's).
pub fn checkpoint_dir(spec: &Spec, unit: &Unit, over: &Overrides, zoo: &Path) -> PathBuf {
    zoo_checkpoint(spec, unit, over, zoo).unwrap_or_else(|| unit.dir.clone())
}

/// The file a unit's post-training pruning scores go to (one per scope and set of levels).
pub fn eval_file(row: &RowSpec) -> String {
    let levels: Vec<String> = row.prune.iter().map(|&p| level_tag(p)).collect();
    format!(
        "sweep-eval-{}-{}.json",
        row.scope.as_deref().unwrap_or("layer"),
        levels.join("_")
    )
}

/// A run counted twice would enter the statistics twice (a mean ± std over fewer runs than it
/// claims): each seed once (`seeds_from` names where they came from), each setting once.
pub fn check_distinct(
    spec: &Spec,
    over: &Overrides,
    units: &[Unit],
    seeds_from: &str,
) -> crate::Result<()> {
    let refuse = |problem: String| Err(crate::Error::Run(problem));
    if over.seeds.is_empty() {
        return refuse("no seeds".into());
    }
    for (i, seed) in over.seeds.iter().enumerate() {
        if over.seeds[..i].contains(seed) {
            return refuse(format!(
                "seed {seed} is listed twice ({seeds_from}): each run would be counted twice"
            ));
        }
    }
    for (i, unit) in units.iter().enumerate() {
        if let Some(first) = units[..i].iter().find(|u| u.dir == unit.dir) {
            return refuse(format!(
                "rows `{}` and `{}` of {} are the same runs ({}): a run would be counted twice",
                spec.rows[first.row].name,
                spec.rows[unit.row].name,
                spec.name,
                unit.dir.parent().unwrap_or(&unit.dir).display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zoo checkpoint counts as seed 0 only for a spec of the data it was trained on.
    #[test]
    fn the_zoo_is_reused_only_on_its_own_data() {
        let zoo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../checkpoints");
        let over = Overrides {
            epochs: None,
            seeds: vec![0],
            train_limit: None,
            test_limit: None,
        };
        let reused = |data: &str, checkpoint: &str| {
            let text = format!(
                "name = \"t\"\n{data}\n[[row]]\nname = \"r\"\nmodel = \"mlp\"\nhidden = [17]\n\
                 lr = 0.001\nepochs = 300\nzoo = \"{checkpoint}\"\n"
            );
            let spec: Spec = toml::from_str(&text).unwrap();
            let unit = units(&spec, &over, Path::new("/nonexistent")).remove(0);
            zoo_checkpoint(&spec, &unit, &over, &zoo).is_some()
        };
        assert!(reused("", "mlp-h17"));
        assert!(reused("data = \"mnist\"", "mlp-h17"));
        assert!(reused("data = \"fashion-mnist\"", "fashion-mlp-h17"));
        assert!(!reused("data = \"fashion-mnist\"", "mlp-h17"));
        assert!(!reused("", "fashion-mlp-h17"));
    }
}

//! A sweep's figures.

use neuropos_models::checkpoint;
use neuropos_models::config::DEFAULT_DIM;
use neuropos_models::sweep::summary::{learning_curve, mean_std};
use neuropos_models::sweep::{Spec, SummaryRow};
use std::path::{Path, PathBuf};

use crate::figures::{self, Bar, Series};

/// Where a spec's figures go and what they are titled.
struct Sheet<'a> {
    spec: &'a Spec,
    dir: PathBuf,
    title: String,
}

impl Sheet<'_> {
    fn stem(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{}-{what}", self.spec.name))
    }
}

/// The spec's figures under `OUT/figures/`, as PNG and SVG: bars for its rows, curves for its
/// pruning levels (after or during training) or dimensions, learning curves, and the learned
/// z of a relaxed row.
pub fn draw(spec: &Spec, rows: &[SummaryRow], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let title = if spec.title.is_empty() {
        spec.name.clone()
    } else {
        spec.title.clone()
    };
    let sheet = Sheet {
        spec,
        dir: out.join("figures"),
        title,
    };
    let plain: Vec<&SummaryRow> = rows
        .iter()
        .filter(|r| r.prune_percent.is_none() && r.mean.is_some())
        .collect();
    let during = spec.rows.iter().any(|r| !r.prune_during.is_empty());
    let mut files = pruning_figures(&sheet, rows)?;
    files.extend(dimension_figure(&sheet, &plain)?);
    if !during && !plain.is_empty() {
        let bars: Vec<Bar> = plain
            .iter()
            .map(|r| Bar {
                label: r.name.clone(),
                mean: r.mean.unwrap_or(0.0),
                std: r.std.unwrap_or(0.0),
                paper: r.paper_mean.map(|m| (m, r.paper_std.unwrap_or(0.0))),
            })
            .collect();
        files.extend(figures::bars(&sheet.stem("accuracy"), &sheet.title, &bars)?);
    }
    files.extend(learning_figure(&sheet, &plain)?);
    files.extend(z_figure(&sheet, &plain)?);
    Ok(files)
}

/// Rows in order of first appearance, with their points at `level`.
fn series_by(rows: &[SummaryRow], level: &dyn Fn(&SummaryRow) -> Option<f64>) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for r in rows.iter().filter(|r| r.mean.is_some()) {
        let Some(x) = level(r) else { continue };
        let point = (x, r.mean.unwrap_or(0.0), r.std.unwrap_or(0.0));
        match out.iter_mut().find(|s| s.label == r.name) {
            Some(s) => s.points.push(point),
            None => out.push(Series {
                label: r.name.clone(),
                points: vec![point],
            }),
        }
    }
    out
}

/// Accuracy against the pruning level, during and after training, where the spec prunes.
fn pruning_figures(sheet: &Sheet, rows: &[SummaryRow]) -> anyhow::Result<Vec<PathBuf>> {
    let spec = sheet.spec;
    let mut files = Vec::new();
    if spec.rows.iter().any(|r| !r.prune_during.is_empty()) {
        let series = series_by(rows, &|r| {
            r.prune_percent
                .is_none()
                .then(|| r.prune_during.unwrap_or(0.0))
        });
        files.extend(figures::curves(
            &sheet.stem("pruning-during-training"),
            &sheet.title,
            "weights pruned in every forward pass (%)",
            &series,
            false,
        )?);
    }
    if spec.rows.iter().any(|r| !r.prune.is_empty()) {
        let series = series_by(rows, &|r| r.prune_percent);
        files.extend(figures::curves(
            &sheet.stem("pruning-after-training"),
            &sheet.title,
            "weights pruned after training (%)",
            &series,
            false,
        )?);
    }
    Ok(files)
}

/// Accuracy against parameters, embedded MLPs beside the baselines, where the spec has several
/// embedding dimensions (Fig. 5).
fn dimension_figure(sheet: &Sheet, plain: &[&SummaryRow]) -> anyhow::Result<Vec<PathBuf>> {
    let spec = sheet.spec;
    let dims: std::collections::BTreeSet<usize> = spec
        .rows
        .iter()
        .filter(|r| r.model.is_embedded())
        .map(|r| r.dim.unwrap_or(DEFAULT_DIM))
        .collect();
    if dims.len() <= 1 {
        return Ok(Vec::new());
    }
    let family = |embedded: bool, label: &str| Series {
        label: label.to_string(),
        points: plain
            .iter()
            .filter(|r| {
                spec.rows
                    .iter()
                    .any(|s| s.name == r.name && s.model.is_embedded() == embedded)
            })
            .filter_map(|r| Some((r.params? as f64, r.mean?, r.std.unwrap_or(0.0))))
            .collect(),
    };
    let series = [
        family(true, "embedded MLPs (d = 3, 5, 8, 16, 32)"),
        family(false, "baselines (parameter-matched)"),
    ];
    figures::curves(
        &sheet.stem("dimension"),
        &sheet.title,
        "parameters (log scale)",
        &series,
        true,
    )
}

/// Learning curves of the unpruned rows: mean ± std over the seeds, epoch by epoch.
fn learning_figure(sheet: &Sheet, plain: &[&SummaryRow]) -> anyhow::Result<Vec<PathBuf>> {
    let mut scored_on = std::collections::BTreeSet::new();
    let learning: Vec<Series> = plain
        .iter()
        .filter(|r| r.prune_during.unwrap_or(0.0) == 0.0)
        .filter_map(|r| {
            let curves: Vec<Vec<f64>> = r
                .runs
                .iter()
                .map(|d| {
                    let (curve, validation) = learning_curve(d);
                    scored_on.insert(validation);
                    curve
                })
                .collect();
            let epochs = curves.iter().map(Vec::len).min()?;
            let points = (0..epochs)
                .map(|e| {
                    let v: Vec<f64> = curves.iter().map(|c| c[e]).collect();
                    let (m, s) = mean_std(&v);
                    ((e + 1) as f64, m.unwrap_or(0.0), s.unwrap_or(0.0))
                })
                .collect();
            Some(Series {
                label: r.name.clone(),
                points,
            })
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if learning.is_empty() {
        return Ok(Vec::new());
    }
    let axis = match (scored_on.contains(&true), scored_on.contains(&false)) {
        (true, false) => "validation accuracy",
        (true, true) => "accuracy (validation where held out, else test)",
        _ => "test accuracy",
    };
    figures::learning(&sheet.stem("learning"), &sheet.title, axis, &learning)
}

/// The learned z of the first relaxed row's first run (Fig. 4b).
fn z_figure(sheet: &Sheet, plain: &[&SummaryRow]) -> anyhow::Result<Vec<PathBuf>> {
    let Some(r) = plain.iter().find(|r| r.kind.ends_with("-relaxed")) else {
        return Ok(Vec::new());
    };
    let Some(run) = r.runs.first() else {
        return Ok(Vec::new());
    };
    let ckpt = checkpoint::read(run)?;
    let layers = ckpt.info.model.layers.len();
    let z: Vec<(String, Vec<f64>)> = (0..layers)
        .filter_map(|l| {
            let t = ckpt.tensors.get(&format!("layers.{l}.z"))?;
            let v = neuropos_models::device::host_f64(t).ok()?;
            Some((format!("layer {l} ({} neurons)", v.len()), v))
        })
        .collect();
    figures::z_histograms(
        &sheet.stem("z"),
        &format!("{}: learned z per layer (seed {})", r.name, r.seeds[0]),
        &z,
    )
}

//! `neuropos sweep`: a spec (TOML) of runs — models, seeds, pruning levels, the paper's values —
//! trained as separate `neuropos train` processes (locally, as a Slurm job array or through GNU
//! parallel), evaluated, and summarised as mean ± sample std over seeds beside the paper.
//!
//! Every run has its own directory, `OUT/runs/<row>[-pd<P>]/seed<S>`, and the rule for it is
//! the same wherever it runs: a completed run (its `config.json` says so) is reused, an
//! interrupted one is continued exactly with `train --resume` (its `run.json` holds the
//! settings), anything else is trained from the start. So an interrupted sweep resumes where it
//! stopped, and local processes, array tasks and `parallel` lines can share one directory.

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use neuropos_models::checkpoint::{self, CheckpointInfo};
use neuropos_models::config::{DEFAULT_BATCH_SIZE, DEFAULT_DIM};
use neuropos_models::ModelKind;
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The spec: a TOML file of rows (see specs/ and docs/cli.md).
    spec: PathBuf,
    /// Trainings to run at once, each a separate process [default: one per core]. On this
    /// project's 2-core machine 2 × 1 thread finished four trainings in 0.60× the time of
    /// 1 × 2 threads (results/sweep-jobs-threads.jsonl): runs scale better than threads.
    #[arg(long)]
    jobs: Option<usize>,
    /// CPU threads per training process [default: the cores / the processes running at once].
    #[arg(long)]
    threads: Option<usize>,
    /// Override every row's epochs (a quick version; the summary says so).
    #[arg(long)]
    epochs: Option<usize>,
    /// Seeds, comma-separated [default: the spec's].
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Passed to every training: the first N training images only (quick checks).
    #[arg(long)]
    train_limit: Option<usize>,
    /// Passed to every training and evaluation: the first N test images only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Output directory for the summaries [default: results/<spec file name>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the runs live, one directory per setting and seed, shared by every spec that uses
    /// that setting (so Table 1, Table 3 and Fig. 3a train the 2048 baseline once)
    /// [default: `runs` beside the output directory].
    #[arg(long)]
    runs: Option<PathBuf>,
    /// Write the runs for a scheduler instead of running them: `slurm` (an sbatch job-array
    /// script, one array task per run) or `jobs` (one command per line, for GNU parallel).
    #[arg(long, value_parser = ["slurm", "jobs"])]
    emit: Option<String>,
    /// Only build the summaries from the runs that exist in the output directory.
    #[arg(long, conflicts_with = "emit")]
    collect: bool,
    /// Run the one run with this index (0-based, as `--emit` numbers them) and exit: what an
    /// array task or a `parallel` line calls.
    #[arg(long, conflicts_with_all = ["emit", "collect"])]
    task: Option<usize>,
    /// Where the zoo's checkpoints are: a row naming one (`zoo = "mlp3d"`) reuses it as seed 0
    /// when its settings are the row's.
    #[arg(long, default_value = "checkpoints")]
    zoo: PathBuf,
}

/// A sweep spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    #[serde(default)]
    pub title: String,
    /// What the spec reproduces (the paper's claim, in words).
    #[serde(default)]
    pub claim: String,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
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

impl Spec {
    pub fn read(path: &Path) -> anyhow::Result<Spec> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let spec: Spec = toml::from_str(&text)
            .with_context(|| format!("{}: not a valid spec", path.display()))?;
        if spec.rows.is_empty() {
            bail!("{}: no [[row]] in the spec", path.display());
        }
        let mut names = std::collections::HashSet::new();
        for row in &spec.rows {
            if !names.insert(slug(&row.name)) {
                bail!("{}: two rows are named `{}`", path.display(), row.name);
            }
            for p in row.prune_during.iter().chain(&row.prune) {
                if !(0.0..100.0).contains(p) {
                    bail!(
                        "{}: row `{}`: pruning level {p} is outside [0, 100)",
                        path.display(),
                        row.name
                    );
                }
            }
            if let Some(s) = &row.scope {
                if s != "layer" && s != "global" {
                    bail!("{}: row `{}`: scope `{s}`", path.display(), row.name);
                }
            }
            const OWN: [&str; 16] = [
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
            ];
            if let Some(f) = row
                .flags
                .iter()
                .find(|f| OWN.contains(&f.split('=').next().unwrap_or(f)))
            {
                bail!(
                    "{}: row `{}`: `{f}` in `flags` is set by the row's own keys (model, \
                     hidden, dim, lr, epochs, batch_size, prune_during, scope) or by the sweep",
                    path.display(),
                    row.name
                );
            }
        }
        Ok(spec)
    }
}

/// A directory-safe name.
fn slug(name: &str) -> String {
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

/// The settings that apply to every run of this invocation.
#[derive(Debug, Clone, Serialize)]
struct Overrides {
    epochs: Option<usize>,
    seeds: Vec<u64>,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
}

/// One training: a row, a pruning-during level and a seed.
#[derive(Debug, Clone)]
struct Unit {
    row: usize,
    prune_during: Option<f64>,
    seed: u64,
    dir: PathBuf,
}

fn level_tag(p: f64) -> String {
    format!("{p}").replace('.', "_")
}

/// A run's directory name: every setting that changes what it trains.
fn setting_slug(row: &RowSpec, prune_during: Option<f64>, over: &Overrides) -> String {
    let hidden: Vec<String> = row.hidden.iter().map(|h| h.to_string()).collect();
    let mut name = format!("{}-h{}", row.model, hidden.join("x"));
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

fn units(spec: &Spec, over: &Overrides, runs: &Path) -> Vec<Unit> {
    let mut units = Vec::new();
    for (r, row) in spec.rows.iter().enumerate() {
        let levels: Vec<Option<f64>> = if row.prune_during.is_empty() {
            vec![None]
        } else {
            row.prune_during.iter().map(|&p| Some(p)).collect()
        };
        for pd in levels {
            let name = setting_slug(row, pd, over);
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

fn row_epochs(row: &RowSpec, over: &Overrides) -> usize {
    over.epochs
        .or(row.epochs)
        .unwrap_or(row.model.paper_epochs())
}

fn row_lr(row: &RowSpec) -> f64 {
    row.lr.unwrap_or(row.model.paper_learning_rate())
}

/// `neuropos train …` for a fresh start of `unit`.
fn train_args(spec: &Spec, unit: &Unit, over: &Overrides) -> Vec<String> {
    let row = &spec.rows[unit.row];
    let hidden: Vec<String> = row.hidden.iter().map(|h| h.to_string()).collect();
    let mut a: Vec<String> = vec![
        "train".into(),
        "--model".into(),
        row.model.to_string(),
        "--hidden".into(),
        hidden.join(","),
    ];
    if row.model.is_embedded() {
        a.extend(["--dim".into(), row.dim.unwrap_or(DEFAULT_DIM).to_string()]);
    }
    a.extend([
        "--lr".into(),
        row_lr(row).to_string(),
        "--epochs".into(),
        row_epochs(row, over).to_string(),
        "--batch-size".into(),
        row.batch_size.unwrap_or(DEFAULT_BATCH_SIZE).to_string(),
        "--seed".into(),
        unit.seed.to_string(),
    ]);
    if let Some(p) = unit.prune_during.filter(|&p| p > 0.0) {
        a.extend([
            "--prune-during".into(),
            p.to_string(),
            "--scope".into(),
            row.scope.clone().unwrap_or("layer".into()),
        ]);
    }
    if let Some(n) = over.train_limit {
        a.extend(["--train-limit".into(), n.to_string()]);
    }
    if let Some(n) = over.test_limit {
        a.extend(["--test-limit".into(), n.to_string()]);
    }
    a.extend(row.flags.iter().cloned());
    a.extend([
        "--device".into(),
        "cpu".into(),
        "--out".into(),
        unit.dir.display().to_string(),
    ]);
    a
}

fn read_info(dir: &Path) -> Option<CheckpointInfo> {
    let text = std::fs::read_to_string(dir.join(checkpoint::CONFIG_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn is_complete(dir: &Path) -> bool {
    checkpoint::completed_training(dir).is_some()
        && !dir.join(neuropos_models::resume::STATE_FILE).exists()
}

/// The zoo checkpoint that stands in for `unit` (seed 0, the row's exact settings, the full
/// training set), if any.
fn zoo_checkpoint(spec: &Spec, unit: &Unit, over: &Overrides, zoo: &Path) -> Option<PathBuf> {
    let row = &spec.rows[unit.row];
    let dir = zoo.join(row.zoo.as_ref()?);
    // The zoo was trained and scored on all of MNIST with the paper's recipe: no reuse for
    // runs on a slice of it or with other flags.
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
fn checkpoint_dir(spec: &Spec, unit: &Unit, over: &Overrides, zoo: &Path) -> PathBuf {
    zoo_checkpoint(spec, unit, over, zoo).unwrap_or_else(|| unit.dir.clone())
}

/// The file a unit's post-training pruning scores go to (one per scope and set of levels).
fn eval_file(row: &RowSpec) -> String {
    let levels: Vec<String> = row.prune.iter().map(|&p| level_tag(p)).collect();
    format!(
        "sweep-eval-{}-{}.json",
        row.scope.as_deref().unwrap_or("layer"),
        levels.join("_")
    )
}

/// Trains `unit` if needed (fresh, or resumed) and scores its post-training pruning levels;
/// returns a line saying what happened.
fn run_unit(
    spec: &Spec,
    unit: &Unit,
    over: &Overrides,
    zoo: &Path,
    threads: usize,
) -> anyhow::Result<String> {
    let bin = std::env::current_exe().context("locating the neuropos binary")?;
    let row = &spec.rows[unit.row];
    let started = Instant::now();
    let ckpt = checkpoint_dir(spec, unit, over, zoo);
    let what = if ckpt != unit.dir {
        format!("reused the zoo's {}", ckpt.display())
    } else if is_complete(&unit.dir) {
        "already trained".to_string()
    } else {
        let args = if unit.dir.join("run.json").exists() {
            vec![
                "train".to_string(),
                "--resume".into(),
                unit.dir.display().to_string(),
                "--device".into(),
                "cpu".into(),
            ]
        } else {
            let mut a = train_args(spec, unit, over);
            a.push("--force".into()); // leftovers of a run killed before its run.json
            a
        };
        std::fs::create_dir_all(&unit.dir)
            .with_context(|| format!("creating {}", unit.dir.display()))?;
        checkpoint::check_replaceable(&unit.dir.join("train.log"))?;
        let log = std::fs::File::create(unit.dir.join("train.log"))
            .with_context(|| format!("creating {}/train.log", unit.dir.display()))?;
        let child = Command::new(&bin)
            .args(&args)
            .env("RAYON_NUM_THREADS", threads.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting neuropos train")?;
        let (status, cpu_seconds) = wait_measured(child)?;
        let segment = serde_json::json!({
            "wall_seconds": started.elapsed().as_secs_f64(),
            "cpu_seconds": cpu_seconds,
            "threads": threads,
            "resumed": args.iter().any(|a| a == "--resume"),
            "succeeded": status.success(),
        });
        append_line(&unit.dir.join(TIMING_FILE), &segment.to_string())?;
        if !status.success() {
            bail!(
                "`neuropos {}` failed ({status}); see {}/train.log",
                args.join(" "),
                unit.dir.display()
            );
        }
        format!("trained in {:.0} s", started.elapsed().as_secs_f64())
    };
    if !row.prune.is_empty() {
        let eval_file = unit.dir.join(eval_file(row));
        let levels: Vec<String> = row.prune.iter().map(|p| p.to_string()).collect();
        let mut args = vec![
            "eval".to_string(),
            ckpt.display().to_string(),
            "--prune".into(),
            levels.join(","),
            "--scope".into(),
            row.scope.clone().unwrap_or("layer".into()),
            "--format".into(),
            "json".into(),
            "--device".into(),
            "cpu".into(),
        ];
        if let Some(n) = over.test_limit {
            args.extend(["--test-limit".into(), n.to_string()]);
        }
        if !eval_is_current(&eval_file, &args) {
            let out = Command::new(&bin)
                .args(&args)
                .env("RAYON_NUM_THREADS", threads.to_string())
                .env("RUST_LOG", "warn")
                .output()
                .context("starting neuropos eval")?;
            if !out.status.success() {
                bail!(
                    "`neuropos {}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let rows: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            std::fs::create_dir_all(&unit.dir)?;
            let saved = serde_json::json!({ "command": args, "rows": rows });
            checkpoint::write_atomically(
                &eval_file,
                serde_json::to_string_pretty(&saved)?.as_bytes(),
            )?;
        }
    }
    let accuracy = read_info(&ckpt)
        .and_then(|i| i.training)
        .and_then(|t| t.final_test_accuracy)
        .map_or("?".into(), |a| format!("{a:.4}"));
    Ok(format!(
        "{} / {}{} seed {}: {accuracy} ({what})",
        spec.name,
        row.name,
        unit.prune_during
            .map_or(String::new(), |p| format!(" pruned {p} % during training,")),
        unit.seed
    ))
}

/// Each training process of a run, one JSON line apiece: wall and CPU seconds (all threads),
/// so the cost of a table is measured, not estimated from a benchmark.
const TIMING_FILE: &str = "timing.jsonl";

/// Waits for `child`; returns its exit status and the CPU seconds (user + system, all its
/// threads) it used, where the platform reports them.
#[cfg(unix)]
fn wait_measured(
    child: std::process::Child,
) -> anyhow::Result<(std::process::ExitStatus, Option<f64>)> {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the C struct, and wait4 only writes
    // through the two pointers, which live for the whole call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // std's Child::wait discards the rusage that wait4 reports for exactly this child.
        // SAFETY: see above; `pid` is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("waiting for neuropos train");
        }
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    Ok((std::process::ExitStatus::from_raw(status), Some(cpu)))
}

#[cfg(not(unix))]
fn wait_measured(
    mut child: std::process::Child,
) -> anyhow::Result<(std::process::ExitStatus, Option<f64>)> {
    Ok((child.wait().context("waiting for neuropos train")?, None))
}

fn append_line(path: &Path, line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{line}").with_context(|| format!("writing {}", path.display()))
}

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

fn run_cost(dir: &Path) -> Option<Cost> {
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

fn eval_is_current(file: &Path, args: &[String]) -> bool {
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
struct Summary<'a> {
    spec: &'a Spec,
    overrides: &'a Overrides,
    rows: Vec<SummaryRow>,
}

fn mean_std(v: &[f64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (Some(mean), std)
}

fn collect(spec: &Spec, over: &Overrides, runs: &Path, zoo: &Path) -> Vec<SummaryRow> {
    let all = units(spec, over, runs);
    let mut rows = Vec::new();
    for (r, row) in spec.rows.iter().enumerate() {
        let levels: Vec<Option<f64>> = if row.prune_during.is_empty() {
            vec![None]
        } else {
            row.prune_during.iter().map(|&p| Some(p)).collect()
        };
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
                let mut acc = Vec::new();
                let mut with = Vec::new();
                let mut dirs = Vec::new();
                for u in &members {
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
                        dirs.push(checkpoint_dir(spec, u, over, zoo));
                    }
                }
                let (mean, std) = mean_std(&acc);
                rows.push(SummaryRow {
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
                });
            }
        }
    }
    rows
}

fn fmt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.4}"))
}

fn write_summaries(
    spec: &Spec,
    over: &Overrides,
    out: &Path,
    rows: Vec<SummaryRow>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut md = format!(
        "# {}\n\n",
        if spec.title.is_empty() {
            &spec.name
        } else {
            &spec.title
        }
    );
    if !spec.claim.is_empty() {
        md += &format!("The paper: {}\n\n", spec.claim);
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
        let val = if with_val {
            match (r.val_mean, r.val_std) {
                (Some(m), Some(s)) => format!("{m:.4} ± {s:.4} | "),
                (Some(m), None) => format!("{m:.4} | "),
                _ => "— | ".into(),
            }
        } else {
            String::new()
        };
        let seeds: Vec<String> = r.seeds.iter().map(|s| s.to_string()).collect();
        let acc = match (r.mean, r.std) {
            (Some(m), Some(s)) => format!("{m:.4} ± {s:.4}"),
            (Some(m), None) => format!("{m:.4}"),
            _ => "—".into(),
        };
        let paper = match (r.paper_mean, r.paper_std) {
            (Some(m), Some(s)) => format!("{m:.4} ± {s:.4}"),
            (Some(m), None) => format!("{m:.4}"),
            _ => "—".into(),
        };
        md += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {val}{acc} | {paper} |\n",
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
        );
        csv += &format!(
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
        );
    }
    md += &cost_note(&rows);
    let json = serde_json::to_string_pretty(&Summary {
        spec,
        overrides: over,
        rows,
    })?;
    checkpoint::write_atomically(&out.join("summary.md"), md.as_bytes())?;
    checkpoint::write_atomically(&out.join("summary.csv"), csv.as_bytes())?;
    checkpoint::write_atomically(&out.join("summary.json"), format!("{json}\n").as_bytes())?;
    Ok(())
}

/// The summary's last paragraph: what the runs behind it cost to train (each run once, though
/// rows may share one).
fn cost_note(rows: &[SummaryRow]) -> String {
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

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `neuropos sweep … --task I` command line that runs unit `i`.
fn task_command(
    args: &SweepArgs,
    spec_path: &Path,
    out: &Path,
    runs: &Path,
    i: &str,
    threads: &str,
) -> anyhow::Result<String> {
    let bin = std::env::current_exe()?.canonicalize()?;
    let mut parts = vec![
        bin.display().to_string(),
        "sweep".into(),
        spec_path.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--runs".into(),
        runs.display().to_string(),
        "--zoo".into(),
        std::path::absolute(&args.zoo)?.display().to_string(),
    ];
    if let Some(e) = args.epochs {
        parts.extend(["--epochs".into(), e.to_string()]);
    }
    if let Some(s) = &args.seeds {
        let s: Vec<String> = s.iter().map(|s| s.to_string()).collect();
        parts.extend(["--seeds".into(), s.join(",")]);
    }
    if let Some(n) = args.train_limit {
        parts.extend(["--train-limit".into(), n.to_string()]);
    }
    if let Some(n) = args.test_limit {
        parts.extend(["--test-limit".into(), n.to_string()]);
    }
    let mut line: Vec<String> = parts.iter().map(|p| shell_quote(p)).collect();
    // `i` and `threads` may be shell expansions (the array task's variables): unquoted.
    line.extend([
        "--threads".into(),
        threads.into(),
        "--task".into(),
        i.into(),
    ]);
    Ok(line.join(" "))
}

/// The files a sweep writes into its --out directory.
const SWEEP_FILES: [&str; 5] = [
    "summary.md",
    "summary.csv",
    "summary.json",
    "sweep.sbatch",
    "jobs.txt",
];

/// `--out` is a sweep's own directory, checked before anything trains: not a file, not a
/// directory holding other things (`--out .` would write its summaries among them and its runs
/// into the parent). It is created here, so an unwritable place fails now, not after the runs.
fn check_sweep_out(out: &Path, runs: &Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        bail!("--out {} exists and is not a directory", out.display());
    }
    if out.is_dir() {
        let cwd = std::env::current_dir().ok();
        if cwd.is_some_and(|cwd| cwd.starts_with(out)) {
            bail!(
                "--out {} holds the current directory: give the sweep a directory of its own \
                 (its runs go beside it, in ../runs)",
                out.display()
            );
        }
        let foreign: Vec<String> = std::fs::read_dir(out)
            .with_context(|| format!("reading --out {}", out.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            // `--runs OUT/runs` puts the runs inside: theirs too.
            .filter(|n| out.join(n) != runs)
            .filter(|n| {
                !SWEEP_FILES.contains(&n.as_str())
                    && !["logs", "figures"].contains(&n.as_str())
                    && !n.starts_with('.')
            })
            .collect();
        if !foreign.is_empty() {
            bail!(
                "--out {} holds files no sweep wrote ({}): give the sweep a directory of its own",
                out.display(),
                foreign.join(", ")
            );
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating --out {}", out.display()))
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let spec_path = std::path::absolute(&args.spec)?;
    let spec = Spec::read(&spec_path)?;
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    crate::common::check_limit("--train-limit", args.train_limit)?;
    crate::common::check_limit("--test-limit", args.test_limit)?;
    if args.epochs == Some(0) {
        bail!("--epochs must be at least 1");
    }
    let out = std::path::absolute(args.out.clone().unwrap_or_else(|| {
        let stem = args
            .spec
            .file_stem()
            .map_or("sweep".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("results").join(stem)
    }))?;
    let over = Overrides {
        epochs: args.epochs,
        seeds: args.seeds.clone().unwrap_or(spec.seeds.clone()),
        train_limit: args.train_limit,
        test_limit: args.test_limit,
    };
    if over.seeds.is_empty() {
        bail!("no seeds");
    }
    // A run counted twice would enter the statistics twice (a mean ± std over fewer runs than
    // it claims): each seed once, each setting once.
    for (i, seed) in over.seeds.iter().enumerate() {
        if over.seeds[..i].contains(seed) {
            bail!(
                "seed {seed} is listed twice ({}): each run would be counted twice",
                if args.seeds.is_some() {
                    "--seeds"
                } else {
                    "the spec's seeds"
                }
            );
        }
    }
    let runs = std::path::absolute(
        args.runs
            .clone()
            .unwrap_or_else(|| out.parent().unwrap_or(Path::new(".")).join("runs")),
    )?;
    if args.task.is_none() {
        check_sweep_out(&out, &runs)?;
    }
    let all = units(&spec, &over, &runs);
    for (i, unit) in all.iter().enumerate() {
        if let Some(first) = all[..i].iter().find(|u| u.dir == unit.dir) {
            bail!(
                "rows `{}` and `{}` of {} are the same runs ({}): a run would be counted twice",
                spec.rows[first.row].name,
                spec.rows[unit.row].name,
                spec_path.display(),
                unit.dir.parent().unwrap_or(&unit.dir).display()
            );
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores);
    // Cores left idle by fewer runs than jobs go to the runs' threads.
    let threads = args
        .threads
        .unwrap_or((cores / jobs.min(all.len()).max(1)).max(1));

    if let Some(i) = args.task {
        let unit = all
            .get(i)
            .with_context(|| format!("--task {i}: the spec has runs 0 to {}", all.len() - 1))?;
        println!("{}", run_unit(&spec, unit, &over, &args.zoo, threads)?);
        return Ok(());
    }
    match args.emit.as_deref() {
        Some("slurm") => {
            std::fs::create_dir_all(out.join("logs"))?;
            let cmd = task_command(
                &args,
                &spec_path,
                &out,
                &runs,
                "\"$SLURM_ARRAY_TASK_ID\"",
                "\"$SLURM_CPUS_PER_TASK\"",
            )?;
            let script = format!(
                "#!/bin/bash\n\
                 # {} runs of {} as a Slurm job array: one array task per run, at most {} at once.\n\
                 # Each task trains its run unless it is complete (an interrupted one resumes), so\n\
                 # resubmitting this script finishes an interrupted sweep. Collect afterwards with\n\
                 #   neuropos sweep {} --out {} --collect\n\
                 #SBATCH --job-name=neuropos-{}\n\
                 #SBATCH --array=0-{}%{}\n\
                 #SBATCH --cpus-per-task={threads}\n\
                 #SBATCH --output={}/logs/%A_%a.out\n\
                 #SBATCH --error={}/logs/%A_%a.err\n\
                 set -euo pipefail\n\
                 export RAYON_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"\n\
                 exec {cmd}\n",
                all.len(),
                spec.name,
                jobs,
                spec_path.display(),
                out.display(),
                slug(&spec.name),
                all.len() - 1,
                jobs,
                out.display(),
                out.display(),
            );
            let path = out.join("sweep.sbatch");
            checkpoint::write_atomically(&path, script.as_bytes())?;
            println!(
                "{} ({} array tasks): sbatch {}",
                path.display(),
                all.len(),
                path.display()
            );
            return Ok(());
        }
        Some(_) => {
            std::fs::create_dir_all(&out)?;
            let lines: Vec<String> = (0..all.len())
                .map(|i| {
                    task_command(
                        &args,
                        &spec_path,
                        &out,
                        &runs,
                        &i.to_string(),
                        &threads.to_string(),
                    )
                })
                .collect::<anyhow::Result<_>>()?;
            let path = out.join("jobs.txt");
            checkpoint::write_atomically(&path, format!("{}\n", lines.join("\n")).as_bytes())?;
            println!(
                "{} ({} lines): parallel -j {} < {}",
                path.display(),
                lines.len(),
                jobs,
                path.display()
            );
            return Ok(());
        }
        None => {}
    }
    if !args.collect {
        tracing::info!(
            "{}: {} runs, {} at a time with {threads} thread(s) each, into {}",
            spec.name,
            all.len(),
            jobs,
            out.display()
        );
        let interactive = std::io::stderr().is_terminal();
        let bar = if interactive {
            let bar = ProgressBar::new(all.len() as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs ({elapsed})")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(spec.name.clone());
            bar
        } else {
            ProgressBar::with_draw_target(Some(all.len() as u64), ProgressDrawTarget::hidden())
        };
        let queue = Arc::new(Mutex::new(
            (0..all.len()).collect::<std::collections::VecDeque<_>>(),
        ));
        let failures = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|s| {
            for _ in 0..jobs.min(all.len()) {
                s.spawn(|| loop {
                    let Some(i) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let line = match run_unit(&spec, &all[i], &over, &args.zoo, threads) {
                        Ok(line) => format!("[{}/{}] {line}", i + 1, all.len()),
                        Err(e) => {
                            failures.lock().unwrap().push(format!("{e:#}"));
                            format!("[{}/{}] failed: {e:#}", i + 1, all.len())
                        }
                    };
                    // A hidden bar swallows its println: off a terminal, plain lines.
                    if interactive {
                        bar.println(line);
                    } else {
                        eprintln!("{line}");
                    }
                    bar.inc(1);
                });
            }
        });
        bar.finish_and_clear();
        let failures = failures.lock().unwrap();
        if !failures.is_empty() {
            write_summaries(&spec, &over, &out, collect(&spec, &over, &runs, &args.zoo))?;
            bail!(
                "{} of {} runs failed; the summary holds the others",
                failures.len(),
                all.len()
            );
        }
    }
    let rows = collect(&spec, &over, &runs, &args.zoo);
    let figures = draw_figures(&spec, &rows, &out)?;
    write_summaries(&spec, &over, &out, rows)?;
    println!(
        "{}: summaries in {}, {} figures in {}",
        spec.name,
        out.display(),
        figures.len(),
        out.join("figures").display()
    );
    Ok(())
}

/// The accuracy after every epoch of a run (`metrics.jsonl`, epoch 0 left out): on the
/// validation split where the run held one out (its test set is scored only after the last
/// epoch, so there is no test curve), else on the test set. The flag says which.
fn learning_curve(dir: &Path) -> (Vec<f64>, bool) {
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.join(crate::common::METRICS_FILE))
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

/// The spec's figures under `OUT/figures/`, as PNG and SVG: bars for its rows, curves for its
/// pruning levels (after or during training) or dimensions, learning curves, and the learned
/// z of a relaxed row.
fn draw_figures(spec: &Spec, rows: &[SummaryRow], out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use crate::figures::{self, Bar, Series};
    let dir = out.join("figures");
    let stem = |what: &str| dir.join(format!("{}-{what}", spec.name));
    let title = if spec.title.is_empty() {
        spec.name.clone()
    } else {
        spec.title.clone()
    };
    let mut files = Vec::new();
    let plain: Vec<&SummaryRow> = rows
        .iter()
        .filter(|r| r.prune_percent.is_none() && r.mean.is_some())
        .collect();
    // Rows in order of first appearance, with their points at `level`.
    let series_by = |level: &dyn Fn(&SummaryRow) -> Option<f64>| -> Vec<Series> {
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
    };
    let during = spec.rows.iter().any(|r| !r.prune_during.is_empty());
    let after = spec.rows.iter().any(|r| !r.prune.is_empty());
    let dims: std::collections::BTreeSet<usize> = spec
        .rows
        .iter()
        .filter(|r| r.model.is_embedded())
        .map(|r| r.dim.unwrap_or(DEFAULT_DIM))
        .collect();
    if during {
        let series = series_by(&|r| {
            r.prune_percent
                .is_none()
                .then(|| r.prune_during.unwrap_or(0.0))
        });
        files.extend(figures::curves(
            &stem("pruning-during-training"),
            &title,
            "weights pruned in every forward pass (%)",
            &series,
            false,
        )?);
    }
    if after {
        let series = series_by(&|r| r.prune_percent);
        files.extend(figures::curves(
            &stem("pruning-after-training"),
            &title,
            "weights pruned after training (%)",
            &series,
            false,
        )?);
    }
    if dims.len() > 1 {
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
        files.extend(figures::curves(
            &stem("dimension"),
            &title,
            "parameters (log scale)",
            &series,
            true,
        )?);
    }
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
        files.extend(figures::bars(&stem("accuracy"), &title, &bars)?);
    }
    // Learning curves of the unpruned rows: mean ± std over the seeds, epoch by epoch.
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
    if !learning.is_empty() {
        let axis = match (scored_on.contains(&true), scored_on.contains(&false)) {
            (true, false) => "validation accuracy",
            (true, true) => "accuracy (validation where held out, else test)",
            _ => "test accuracy",
        };
        files.extend(figures::learning(
            &stem("learning"),
            &title,
            axis,
            &learning,
        )?);
    }
    // The learned z of the first relaxed row's first run (Fig. 4b).
    if let Some(r) = plain.iter().find(|r| r.kind.ends_with("-relaxed")) {
        if let Some(run) = r.runs.first() {
            let ckpt = checkpoint::read(run)?;
            let layers = ckpt.info.model.layers.len();
            let z: Vec<(String, Vec<f64>)> = (0..layers)
                .filter_map(|l| {
                    let t = ckpt.tensors.get(&format!("layers.{l}.z"))?;
                    let v = neuropos_models::device::host_f64(t).ok()?;
                    Some((format!("layer {l} ({} neurons)", v.len()), v))
                })
                .collect();
            files.extend(figures::z_histograms(
                &stem("z"),
                &format!("{}: learned z per layer (seed {})", r.name, r.seeds[0]),
                &z,
            )?);
        }
    }
    Ok(files)
}

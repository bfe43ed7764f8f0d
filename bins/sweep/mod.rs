//! `neuropos sweep`: a spec (TOML) of runs — models, seeds, pruning levels, the paper's values —
//! trained as separate `neuropos train` processes (locally, as a Slurm job array or through GNU
//! parallel), evaluated, and summarised as mean ± sample std over seeds beside the paper.
//!
//! Every run has its own directory, `OUT/runs/<row>[-pd<P>]/seed<S>`, and the rule for it is
//! the same wherever it runs: a completed run (its `config.json` says so) is reused, an
//! interrupted one is continued exactly with `train --resume` (its `run.json` holds the
//! settings), anything else is trained from the start. So an interrupted sweep resumes where it
//! stopped, and local processes, array tasks and `parallel` lines can share one directory.

mod figures;
mod processes;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use neuropos_models::checkpoint;
use neuropos_models::sweep::spec::slug;
use neuropos_models::sweep::{collect, units, write_summaries, Overrides, Spec, Unit};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use processes::{own_binary, run_unit, task_command};

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The spec: a TOML file of rows (see specs/ and docs/cli.md).
    spec: PathBuf,
    /// Trainings to run at once, each a separate process [default: one per core]. On this
    /// project's 2-core machine 2 × 1 thread finished four trainings in 0.60× the time of
    /// 1 × 2 threads (results/performance/sweep-jobs-threads.jsonl): runs scale better than threads.
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
    /// Output directory for the summaries [default: results/sweeps/<spec file name>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the runs live, one directory per setting and seed, shared by every spec that uses
    /// that setting (so Table 1, Table 3 and Fig. 3a train the 2048 baseline once)
    /// [default: `runs` beside the output directory].
    #[arg(long)]
    runs: Option<PathBuf>,
    /// Write the runs for a scheduler instead of running them: `slurm` (an sbatch job-array
    /// script, one array task per run) or `jobs` (one command per line, for GNU parallel).
    #[arg(long)]
    emit: Option<Emit>,
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

/// A scheduler's input.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
enum Emit {
    Slurm,
    Jobs,
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

/// A sweep planned from its flags: the spec, where it writes, and every run.
pub struct Sweep {
    args: SweepArgs,
    spec_path: PathBuf,
    spec: Spec,
    out: PathBuf,
    runs: PathBuf,
    over: Overrides,
    all: Vec<Unit>,
    jobs: usize,
    threads: usize,
}

impl Sweep {
    fn plan(args: SweepArgs) -> anyhow::Result<Self> {
        let spec_path = std::path::absolute(&args.spec)?;
        let spec = Spec::read(&spec_path)?;
        for (flag, value) in [("--jobs", args.jobs), ("--threads", args.threads)] {
            if value == Some(0) {
                bail!("{flag} must be at least 1");
            }
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
            PathBuf::from("results").join("sweeps").join(stem)
        }))?;
        let over = Overrides {
            epochs: args.epochs,
            seeds: args.seeds.clone().unwrap_or(spec.seeds.clone()),
            train_limit: args.train_limit,
            test_limit: args.test_limit,
        };
        let runs = std::path::absolute(
            args.runs
                .clone()
                .unwrap_or_else(|| out.parent().unwrap_or(Path::new(".")).join("runs")),
        )?;
        if args.task.is_none() {
            check_sweep_out(&out, &runs)?;
        }
        let all = units(&spec, &over, &runs);
        let seeds_from = match args.seeds {
            Some(_) => "--seeds",
            None => "the spec's seeds",
        };
        neuropos_models::sweep::plan::check_distinct(&spec, &over, &all, seeds_from)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = args.jobs.unwrap_or(cores);
        // Cores left idle by fewer runs than jobs go to the runs' threads.
        let threads = args
            .threads
            .unwrap_or((cores / jobs.min(all.len()).max(1)).max(1));
        Ok(Sweep {
            args,
            spec_path,
            spec,
            out,
            runs,
            over,
            all,
            jobs,
            threads,
        })
    }

    /// `OUT/sweep.sbatch`: one array task per run.
    fn emit_slurm(&self) -> anyhow::Result<()> {
        let (out, all, jobs) = (&self.out, &self.all, self.jobs);
        std::fs::create_dir_all(out.join("logs"))?;
        let cmd = task_command(self, "\"$SLURM_ARRAY_TASK_ID\"", "\"$SLURM_CPUS_PER_TASK\"")?;
        let script = format!(
            "#!/bin/bash\n\
             # {} runs of {} as a Slurm job array: one array task per run, at most {} at once.\n\
             # Each task trains its run unless it is complete (an interrupted one resumes), so\n\
             # resubmitting this script finishes an interrupted sweep. Collect afterwards with\n\
             #   neuropos sweep {} --out {} --collect\n\
             #SBATCH --job-name=neuropos-{}\n\
             #SBATCH --array=0-{}%{}\n\
             #SBATCH --cpus-per-task={}\n\
             #SBATCH --output={}/logs/%A_%a.out\n\
             #SBATCH --error={}/logs/%A_%a.err\n\
             set -euo pipefail\n\
             export RAYON_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"\n\
             exec {cmd}\n",
            all.len(),
            self.spec.name,
            jobs,
            self.spec_path.display(),
            out.display(),
            slug(&self.spec.name),
            all.len() - 1,
            jobs,
            self.threads,
            out.display(),
            out.display(),
        );
        let path = out.join("sweep.sbatch");
        checkpoint::write_atomically(&path, script.as_bytes())?;
        let shown = path.display();
        println!("{shown} ({} array tasks): sbatch {shown}", all.len());
        Ok(())
    }

    /// `OUT/jobs.txt`: one command per run, for GNU parallel.
    fn emit_jobs(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.out)?;
        let threads = self.threads.to_string();
        let lines: Vec<String> = (0..self.all.len())
            .map(|i| task_command(self, &i.to_string(), &threads))
            .collect::<anyhow::Result<_>>()?;
        let path = self.out.join("jobs.txt");
        checkpoint::write_atomically(&path, format!("{}\n", lines.join("\n")).as_bytes())?;
        let shown = path.display();
        let jobs = self.jobs;
        println!(
            "{shown} ({} lines): parallel -j {jobs} < {shown}",
            lines.len()
        );
        Ok(())
    }

    /// Every run here, `jobs` processes at a time; the failures' messages, and why the sweep
    /// stopped starting runs if it did.
    fn run_local(&self) -> (Vec<String>, Option<String>) {
        let (spec, all, threads) = (&self.spec, &self.all, self.threads);
        tracing::info!(
            "{}: {} runs, {} at a time with {threads} thread(s) each, into {}",
            spec.name,
            all.len(),
            self.jobs,
            self.out.display()
        );
        let interactive = std::io::stderr().is_terminal();
        let bar: ProgressBar = crate::common::progress_bar(all.len() as u64, &spec.name);
        let queue = Arc::new(Mutex::new(
            (0..all.len()).collect::<std::collections::VecDeque<_>>(),
        ));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stopped = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..self.jobs.min(all.len()) {
                s.spawn(|| loop {
                    // Without its binary every remaining run would fail the same way.
                    if let Err(e) = own_binary() {
                        queue.lock().unwrap().clear();
                        stopped.lock().unwrap().get_or_insert(format!("{e:#}"));
                        break;
                    }
                    let Some(i) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let line = match run_unit(self, &all[i]) {
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
        let failures = failures.lock().unwrap().clone();
        (failures, stopped.into_inner().unwrap())
    }
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let sweep = Sweep::plan(args)?;
    let (spec, over, out) = (&sweep.spec, &sweep.over, &sweep.out);
    if let Some(i) = sweep.args.task {
        let unit = sweep.all.get(i).with_context(|| {
            format!("--task {i}: the spec has runs 0 to {}", sweep.all.len() - 1)
        })?;
        println!("{}", run_unit(&sweep, unit)?);
        return Ok(());
    }
    match sweep.args.emit {
        Some(Emit::Slurm) => return sweep.emit_slurm(),
        Some(Emit::Jobs) => return sweep.emit_jobs(),
        None => {}
    }
    let collected = || collect(spec, over, &sweep.runs, &sweep.args.zoo);
    if !sweep.args.collect {
        let (failures, stopped) = sweep.run_local();
        if let Some(why) = stopped {
            write_summaries(spec, over, out, collected())?;
            bail!("{why}");
        }
        if !failures.is_empty() {
            write_summaries(spec, over, out, collected())?;
            bail!(
                "{} of {} runs failed; the summary holds the others",
                failures.len(),
                sweep.all.len()
            );
        }
    }
    let rows = collected();
    let figures = figures::draw(spec, &rows, out)?;
    write_summaries(spec, over, out, rows)?;
    println!(
        "{}: summaries in {}, {} figures in {}",
        spec.name,
        out.display(),
        figures.len(),
        out.join("figures").display()
    );
    Ok(())
}

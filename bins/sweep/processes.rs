//! The processes a sweep starts: `neuropos train` and `neuropos eval` for one run, and the
//! command lines a scheduler runs (`--task I`).

use anyhow::{bail, Context};
use neuropos_models::checkpoint;
use neuropos_models::config::{DEFAULT_BATCH_SIZE, DEFAULT_DIM};
use neuropos_models::run::is_complete;
use neuropos_models::sweep::plan::{checkpoint_dir, eval_file, read_info, row_epochs, row_lr};
use neuropos_models::sweep::summary::{eval_is_current, TIMING_FILE};
use neuropos_models::sweep::{Overrides, Spec, Unit};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::Sweep;

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
    if let Some(data) = &spec.data {
        a.extend(["--data".into(), data.clone()]);
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

/// Trains `unit` if needed (fresh, or resumed) and scores its post-training pruning levels;
/// returns a line saying what happened.
pub fn run_unit(sweep: &Sweep, unit: &Unit) -> anyhow::Result<String> {
    let (spec, over) = (&sweep.spec, &sweep.over);
    let row = &spec.rows[unit.row];
    let ckpt = checkpoint_dir(spec, unit, over, &sweep.args.zoo);
    let what = if ckpt != unit.dir {
        format!("reused the zoo's {}", ckpt.display())
    } else if is_complete(&unit.dir) {
        "already trained".to_string()
    } else {
        train_unit(spec, unit, over, sweep.threads)?
    };
    if !row.prune.is_empty() {
        eval_unit(spec, unit, over, &ckpt, sweep.threads)?;
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

/// The binary this sweep runs from, which starts every run's process. A rebuild during a long
/// sweep replaces it: Linux then names the running file "… (deleted)", and each start would
/// fail with a bare "No such file or directory".
pub fn own_binary() -> anyhow::Result<PathBuf> {
    still_there(std::env::current_exe().context("locating the neuropos binary")?)
}

fn still_there(bin: PathBuf) -> anyhow::Result<PathBuf> {
    if !bin.is_file() {
        bail!(
            "the neuropos binary this sweep started from ({}) is gone: rebuilt or moved since? \
             Start the sweep again; it skips the finished runs and resumes the others",
            bin.display()
        );
    }
    Ok(bin)
}

/// Trains `unit` in a `neuropos train` process (fresh, or resumed); says how long it took.
fn train_unit(
    spec: &Spec,
    unit: &Unit,
    over: &Overrides,
    threads: usize,
) -> anyhow::Result<String> {
    let bin = own_binary()?;
    let started = Instant::now();
    {
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
            .with_context(|| format!("starting {} train", bin.display()))?;
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
        Ok(format!(
            "trained in {:.0} s",
            started.elapsed().as_secs_f64()
        ))
    }
}

/// Scores `unit`'s checkpoint `ckpt` at its row's pruning levels (`neuropos eval`), unless a
/// file from the same command is there.
fn eval_unit(
    spec: &Spec,
    unit: &Unit,
    over: &Overrides,
    ckpt: &Path,
    threads: usize,
) -> anyhow::Result<()> {
    let bin = own_binary()?;
    let row = &spec.rows[unit.row];
    {
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
                .with_context(|| format!("starting {} eval", bin.display()))?;
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
    Ok(())
}

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
pub fn task_command(sweep: &Sweep, i: &str, threads: &str) -> anyhow::Result<String> {
    let (args, spec_path, out, runs) = (&sweep.args, &sweep.spec_path, &sweep.out, &sweep.runs);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_binary_is_named_with_the_way_out() {
        let running = std::env::current_exe().unwrap();
        assert_eq!(still_there(running.clone()).unwrap(), running);
        // What Linux reports for a running binary whose file a rebuild replaced.
        let gone = PathBuf::from(format!("{} (deleted)", running.display()));
        let message = format!("{:#}", still_there(gone).unwrap_err());
        assert!(message.contains("(deleted)) is gone"), "{message}");
        assert!(message.contains("Start the sweep again"), "{message}");
    }
}

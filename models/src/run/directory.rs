//! A run's directory: the files it holds, the lock a training takes on it, and the repairs a
//! resume makes after a kill.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use super::early_stopping::BEST_FILE;
use crate::checkpoint::{self, CONFIG_FILE, MODEL_FILE};
use crate::resume::STATE_FILE;
use crate::{Error, Result};

/// A run's log: one JSON line per epoch.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// A run's settings, what `train --resume` continues with.
pub const RUN_FILE: &str = "run.json";
/// The lock a training holds on its run directory, so that two processes (a sweep launched
/// twice, a resume while the run still trains) never write one run.
pub const LOCK_FILE: &str = ".neuropos-lock";

/// The files a run or a checkpoint puts in its directory; a directory holding any of them holds
/// one, and `--force` replaces all of them, never a mix of two.
pub const RUN_FILES: [&str; 6] = [
    MODEL_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    RUN_FILE,
    STATE_FILE,
    BEST_FILE,
];

/// Which of [`RUN_FILES`] `dir` holds.
pub fn held_run_files(dir: &Path) -> Vec<&'static str> {
    RUN_FILES
        .iter()
        .copied()
        .filter(|f| std::fs::symlink_metadata(dir.join(f)).is_ok())
        .collect()
}

/// `--out` of a command that writes `what` (a run, a checkpoint): not a file, and holding nothing
/// unless `force`. Checked before anything is computed; nothing is removed here.
pub fn check_out_dir(out: &Path, force: bool, what: &str) -> Result<()> {
    let refuse = |problem: String| Err(Error::Run(problem));
    if out.exists() && !out.is_dir() {
        return refuse(format!(
            "--out {} exists and is not a directory",
            out.display()
        ));
    }
    let held = held_run_files(out);
    if held.is_empty() || force {
        return Ok(());
    }
    if held.contains(&RUN_FILE) {
        return refuse(format!(
            "--out {} already holds a run ({}): pass --resume {} to continue it, --force to \
             replace it, or choose another directory",
            out.display(),
            held.join(", "),
            out.display()
        ));
    }
    refuse(format!(
        "--out {} already holds {what} ({}); pass --force to replace it",
        out.display(),
        held.join(", ")
    ))
}

/// Removes every one of [`RUN_FILES`] from `dir`: what `--force` replaces, once everything a
/// command needs has been checked and it is about to write.
pub fn clear_run_files(dir: &Path) -> Result<()> {
    for f in held_run_files(dir) {
        let path = dir.join(f);
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// A run whose checkpoint says it finished and that holds no resume state: nothing left to do.
pub fn is_complete(dir: &Path) -> bool {
    checkpoint::completed_training(dir).is_some() && !dir.join(STATE_FILE).exists()
}

/// How long a lock held by another process is waited for: a process killed a moment ago may
/// still hold it while it dies (a sweep restarted right after a kill).
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// Removes `dir` if it holds nothing but the lock file (a run that failed before its first
/// write, in a directory it created); anything else there stays.
pub fn remove_if_only_lock(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
    if names.iter().all(|n| n == LOCK_FILE) {
        let _ = std::fs::remove_file(dir.join(LOCK_FILE));
        let _ = std::fs::remove_dir(dir);
    }
}

/// The OS file lock on `dir` (created if need be): released when the process ends, however it
/// ends, and when the returned file is dropped.
pub fn lock(dir: &Path) -> Result<File> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Run(format!(
            "creating the output directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let patience = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if patience.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Run(format!(
                    "{}: another neuropos train is writing this run right now; wait for it (or \
                     stop it and --resume)",
                    dir.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
}

/// Drops metrics lines past the resumed position (an epoch logged but not saved before a
/// kill), so the log reads as one uninterrupted run.
pub fn truncate_metrics(path: &Path, epochs_completed: usize) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("epoch").and_then(|e| e.as_u64()))
                .is_some_and(|e| e as usize <= epochs_completed)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    checkpoint::write_atomically(path, kept.as_bytes())
}

/// Temporary files of saves a kill interrupted.
pub fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with(".tmp-") && entry.path().is_file() {
            tracing::info!(
                "removing {}, left by an interrupted save",
                entry.path().display()
            );
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    Ok(())
}

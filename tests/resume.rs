//! Exact resume after SIGKILL, the divergence guard, and the run directory's rules.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{command, failure, ok, tensors};

/// A small run: 12 batches per epoch, 4 epochs, a fraction of a second of training.
const RUN: [&str; 14] = [
    "--model",
    "mlp3d",
    "--hidden",
    "32",
    "--train-limit",
    "1200",
    "--test-limit",
    "200",
    "--batch-size",
    "100",
    "--epochs",
    "4",
    "--device",
    "cpu",
];

fn train_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train"];
    args.extend(RUN);
    args.extend(["--out", out]);
    args.extend(extra);
    args
}

fn spawn(args: &[&str]) -> Child {
    command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the neuropos binary starts")
}

/// Kills the child with SIGKILL after `after`, unless it finished first; whether it finished.
fn kill_after(mut child: Child, after: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < after {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the run failed on its own: {status}");
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no handler, no clean-up
    child.wait().unwrap();
    false
}

fn temporaries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".tmp-")
            })
            .count()
    })
}

/// The metrics log without its timings.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("train_seconds");
            o.remove("ms_per_step");
            v
        })
        .collect()
}

#[test]
fn a_run_killed_at_any_moment_resumes_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    ok(&train_args(reference.to_str().unwrap(), &[]));
    let expected = std::fs::read(reference.join("model.safetensors")).unwrap();

    let dir: PathBuf = tmp.path().join("killed");
    let d = dir.to_str().unwrap();
    // Every file of every save sleeps 30 ms half-way through its bytes (three files per
    // epoch), so most of these moments fall inside a save; the first ones fall before the
    // first checkpoint (run.json only) or before anything is written at all.
    let delay = ["--debug-save-delay-ms", "30"];
    let mut torn_saves = 0;
    let mut finished = false;
    let mut kills = 0;
    for i in 0..40 {
        let after = Duration::from_millis(120 + 37 * i);
        let child = if dir.join("run.json").exists() {
            spawn(&[
                "train", "--resume", d, "--device", "cpu", delay[0], delay[1],
            ])
        } else {
            let _ = std::fs::remove_dir_all(&dir); // killed before run.json: start afresh
            spawn(&train_args(d, &delay))
        };
        if kill_after(child, after) {
            finished = true;
            break;
        }
        kills += 1;
        torn_saves += usize::from(temporaries(&dir) > 0);
    }
    eprintln!("{kills} kills, {torn_saves} of them in the middle of a save");
    assert!(
        kills >= 5,
        "only {kills} kills landed before the run finished"
    );
    assert!(
        torn_saves > 0,
        "no kill landed in the middle of a save ({kills} kills)"
    );
    if !finished {
        ok(&["train", "--resume", d, "--device", "cpu"]);
    }
    let got = std::fs::read(dir.join("model.safetensors")).unwrap();
    assert!(
        got == expected,
        "after {kills} kills ({torn_saves} mid-save) the resumed checkpoint differs"
    );
    assert_eq!(metrics(&dir), metrics(&reference));
    assert_eq!(temporaries(&dir), 0, "stale temporaries were left");
    assert!(
        !dir.join("optimizer.safetensors").exists(),
        "a finished run keeps no resume state"
    );
    // A finished run: nothing to do, and it says so.
    let said = ok(&["train", "--resume", d]);
    assert!(said.contains("complete"), "{said}");
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), got);
}

#[test]
fn a_run_stopped_mid_epoch_resumes_at_its_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    ok(&train_args(reference.to_str().unwrap(), &[]));
    let dir = tmp.path().join("stopped");
    let d = dir.to_str().unwrap();
    // As Ctrl-C would: stop after 17 batches (5 into epoch 2), then twice more.
    ok(&train_args(d, &["--debug-stop-after", "17"]));
    let state = std::fs::read(dir.join("optimizer.safetensors")).unwrap();
    let n = u64::from_le_bytes(state[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&state[8..8 + n]).unwrap();
    let position: serde_json::Value = serde_json::from_str(
        header["__metadata__"]["neuropos-train-state"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(position["epochs_completed"], 1);
    assert_eq!(position["batch"], 5);
    assert_eq!(position["steps"], 17);
    ok(&["train", "--resume", d, "--debug-stop-after", "1"]);
    ok(&["train", "--resume", d, "--debug-stop-after", "12"]);
    ok(&["train", "--resume", d]);
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        std::fs::read(reference.join("model.safetensors")).unwrap()
    );
    assert_eq!(metrics(&dir), metrics(&reference));
}

#[test]
fn resume_refuses_what_it_cannot_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    ok(&train_args(d, &["--debug-stop-after", "3"]));
    // Another model's flags.
    let err = failure(&["train", "--resume", d, "--model", "snn3d"]);
    assert!(err.contains("--model snn3d") && err.contains(d), "{err}");
    // Training flags belong to the run.
    let err = failure(&["train", "--resume", d, "--lr", "0.1"]);
    assert!(err.contains("--lr"), "{err}");
    // A directory no run of `train` wrote.
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let err = failure(&["train", "--resume", plain.to_str().unwrap()]);
    assert!(err.contains("run.json"), "{err}");
    // A state file of another architecture.
    let other = tmp.path().join("other");
    let o = other.to_str().unwrap();
    let mut args = train_args(o, &["--debug-stop-after", "3"]);
    args[4] = "48";
    ok(&args);
    std::fs::copy(
        other.join("optimizer.safetensors"),
        dir.join("optimizer.safetensors"),
    )
    .unwrap();
    let err = failure(&["train", "--resume", d]);
    assert!(
        err.contains("optimizer.safetensors") && err.contains("shape"),
        "{err}"
    );
}

#[test]
fn out_directories_holding_a_run_are_refused_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    ok(&train_args(d, &["--debug-stop-after", "3"]));
    let before = std::fs::read(dir.join("model.safetensors")).unwrap();
    let err = failure(&train_args(d, &[]));
    assert!(
        err.contains("already holds a run") && err.contains("--resume") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        before
    );
    ok(&train_args(d, &["--force"]));
    assert!(!dir.join("optimizer.safetensors").exists());
}

#[test]
fn divergence_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    // The reference: the same run, stopped at the end of epoch 1 (12 steps).
    let reference = tmp.path().join("reference");
    ok(&train_args(
        reference.to_str().unwrap(),
        &["--debug-stop-after", "12"],
    ));
    for (fault, names) in [
        // A NaN gradient at step 17 (epoch 2, batch 5) makes its parameter non-finite...
        ("grad:17:layers.1.coords", ["batch 5", "`layers.1.coords`"]),
        (
            "param:17:layers.0.inhibition",
            ["batch 5", "`layers.0.inhibition`"],
        ),
        // ...and a NaN loss is caught before its step is taken.
        ("loss:17", ["batch 5", "the loss is NaN"]),
    ] {
        let dir = tmp.path().join(fault.replace(':', "-"));
        let err = failure(&train_args(
            dir.to_str().unwrap(),
            &["--debug-fault", fault],
        ));
        assert!(
            err.contains("diverged") && err.contains("epoch 2/4"),
            "{err}"
        );
        for name in names {
            assert!(err.contains(name), "{fault}: `{name}` missing from:\n{err}");
        }
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(info["training"]["epochs_completed"], 1, "{fault}");
        assert_eq!(
            tensors(&dir.join("model.safetensors")),
            tensors(&reference.join("model.safetensors")),
            "{fault}: the checkpoint is not epoch 1's"
        );
    }
}

#[test]
fn two_trainings_never_write_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    // A slow first run (every save sleeps), then a second process on the same directory.
    let first = spawn(&train_args(d, &["--debug-save-delay-ms", "1500"]));
    let start = std::time::Instant::now();
    while !dir.join("run.json").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the first run never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = failure(&["train", "--resume", d]);
    assert!(err.contains("another neuropos train is writing"), "{err}");
    let err = failure(&train_args(d, &["--force"]));
    assert!(err.contains("another neuropos train is writing"), "{err}");
    // Killed, its lock goes with it, and the run resumes.
    assert!(!kill_after(first, Duration::from_millis(0)));
    ok(&["train", "--resume", d]);
    assert!(!dir.join("optimizer.safetensors").exists());
}

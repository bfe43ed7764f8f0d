//! `train --distill-from`: the teacher, T and A recorded in `run.json` and the checkpoint, the
//! soft targets changing what is learned, a resumed run distilling from the same teacher to the
//! same bits as an uninterrupted one, and bad teachers and settings named.

mod support;
use std::path::Path;
use support::{failure, ok};

fn teacher() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/checkpoints/mlp-h14").to_string()
}

fn config(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
}

/// A short mlp3d run into `out`, with `extra` flags (the teacher's among them or not).
fn train(out: &Path, extra: &[&str]) -> String {
    let out = out.to_str().unwrap().to_string();
    let mut args = vec![
        "train",
        "--model",
        "mlp3d",
        "--hidden",
        "32",
        "--epochs",
        "2",
        "--train-limit",
        "1200",
        "--test-limit",
        "500",
        "--device",
        "cpu",
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

fn distil(out: &Path, extra: &[&str]) -> String {
    let teacher = teacher();
    let mut args = vec![
        "--distill-from",
        &teacher,
        "--distill-temperature",
        "3",
        "--distill-weight",
        "0.7",
    ];
    args.extend_from_slice(extra);
    train(out, &args)
}

#[test]
fn a_distilled_run_records_its_teacher_and_resumes_to_the_same_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    distil(&whole, &[]);
    let d = &config(&whole)["training"]["distillation"];
    assert_eq!(d["source"], teacher().as_str());
    assert_eq!(d["temperature"], 3.0);
    assert_eq!(d["weight"], 0.7);
    let sha = d["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["distillation"]["sha256"], sha);

    // The soft targets change what is learned: the same run without them ends elsewhere.
    let plain = tmp.path().join("plain");
    train(&plain, &[]);
    let weights = |dir: &Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    assert_ne!(weights(&whole), weights(&plain));

    // Stopped after 3 batches and resumed: the teacher comes back from run.json.
    let parts = tmp.path().join("parts");
    distil(&parts, &["--debug-stop-after", "3"]);
    ok(&[
        "train",
        "--resume",
        parts.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_eq!(weights(&parts), weights(&whole));
    assert_eq!(config(&parts)["training"]["distillation"], *d);
}

#[test]
fn bad_teachers_and_settings_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    let out = out.to_str().unwrap();
    let teacher = teacher();
    let base = [
        "train",
        "--model",
        "mlp3d",
        "--epochs",
        "1",
        "--train-limit",
        "600",
        "--out",
        out,
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        failure(&args)
    };
    let err = with(&["--distill-from", &teacher, "--distill-temperature", "0"]);
    assert!(
        err.contains("--distill-temperature must be positive"),
        "{err}"
    );
    let err = with(&["--distill-from", &teacher, "--distill-weight", "1.5"]);
    assert!(err.contains("--distill-weight must lie in [0, 1]"), "{err}");
    let err = with(&["--distill-weight", "0.5"]);
    assert!(err.contains("--distill-from"), "{err}");
    let err = with(&["--distill-from", "/nonexistent/teacher"]);
    assert!(err.contains("/nonexistent/teacher"), "{err}");
    assert!(
        !Path::new(out).exists(),
        "nothing written for a refused run"
    );
}

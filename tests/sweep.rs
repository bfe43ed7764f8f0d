//! `neuropos sweep`: runs, summaries, the skip/resume rule, zoo reuse, scheduler output.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod support;
use support::{neuropos, ok_with_log, BIN};

const SPEC: &str = r#"
name = "tiny"
title = "A tiny sweep"
claim = "small networks learn something in a few epochs"
seeds = [0, 1]

[[row]]
name = "3D MLP 32"
model = "mlp3d"
hidden = [32]
prune = [0, 50]
paper_mean = 0.9
paper_std = 0.01

[[row]]
name = "MLP 14"
model = "mlp"
hidden = [14]
"#;

fn sweep(args: &[&str]) -> Output {
    neuropos(&[&["sweep"], args].concat())
}

fn ok(args: &[&str]) -> String {
    ok_with_log(&[&["sweep"], args].concat())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_sweep_trains_summarises_and_never_trains_a_run_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("tiny.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = tmp.path().join("out");
    let (s, o) = (spec.to_str().unwrap(), out.to_str().unwrap());
    let quick = [
        "--epochs",
        "1",
        "--train-limit",
        "1200",
        "--test-limit",
        "300",
        "--out",
        o,
        "--jobs",
        "2",
    ];
    let mut args = vec![s];
    args.extend(quick);
    let log = ok(&args);
    assert_eq!(log.matches("trained in").count(), 4, "{log}");

    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["spec"]["name"], "tiny");
    let rows = summary["rows"].as_array().unwrap();
    // The 3D MLP's row, its two post-training levels, the MLP's row.
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in rows {
        for key in [
            "name",
            "kind",
            "params",
            "epochs",
            "seeds",
            "mean",
            "std",
            "paper_mean",
            "paper_std",
        ] {
            assert!(r.get(key).is_some(), "row without `{key}`: {r}");
        }
        assert_eq!(r["seeds"], serde_json::json!([0, 1]));
        assert_eq!(r["epochs"], 1);
        let acc: Vec<f64> = r["accuracies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_f64().unwrap())
            .collect();
        let mean = (acc[0] + acc[1]) / 2.0;
        let std = ((acc[0] - mean).powi(2) + (acc[1] - mean).powi(2)).sqrt(); // n − 1 = 1
        assert!((r["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
        assert!((r["std"].as_f64().unwrap() - std).abs() < 1e-12);
    }
    assert_eq!(rows[0]["paper_mean"], 0.9);
    assert_eq!(rows[0]["params"], 2510);
    assert_eq!(rows[2]["prune_percent"], 50.0);
    assert_eq!(rows[3]["kind"], "mlp");
    // Each run's accuracy is its checkpoint's.
    let first_run = Path::new(rows[0]["runs"][0].as_str().unwrap()).to_path_buf();
    assert!(
        first_run.ends_with("runs/mlp3d-h32-d3-lr0.005-e1-b600-n1200-t300/seed0"),
        "{first_run:?}"
    );
    let acc0 = json(&first_run.join("config.json"))["training"]["final_test_accuracy"].clone();
    assert_eq!(rows[0]["accuracies"][0], acc0);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("Quick version") && md.contains("--epochs 1"),
        "{md}"
    );
    assert!(md.contains("| 3D MLP 32 | mlp3d | 2510 |"), "{md}");
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert!(csv.starts_with("name,kind,params,"));

    // Its figures: valid PNG and SVG, with something drawn.
    for name in ["accuracy", "pruning-after-training", "learning"] {
        let png = out.join(format!("figures/tiny-{name}.png"));
        let img = image::open(&png)
            .unwrap_or_else(|e| panic!("{}: {e}", png.display()))
            .to_rgb8();
        assert_eq!(img.dimensions(), (900, 560));
        let coloured = img
            .pixels()
            .filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 60)
            .count();
        // One epoch makes the learning curves single points: their legend is what is coloured.
        let least = if name == "learning" { 50 } else { 500 };
        assert!(coloured > least, "{name}: only {coloured} coloured pixels");
        let svg = std::fs::read_to_string(out.join(format!("figures/tiny-{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<text") && svg.len() > 5_000,
            "{name}"
        );
        assert!(svg.contains("test accuracy"), "{name}: no axis label");
    }

    // Again: nothing is trained, nothing rewritten.
    let model = tmp
        .path()
        .join("runs/mlp-h14-lr0.001-e1-b600-n1200-t300/seed1/model.safetensors");
    let before = std::fs::metadata(&model).unwrap().modified().unwrap();
    let log = ok(&args);
    assert_eq!(log.matches("already trained").count(), 4, "{log}");
    assert_eq!(
        std::fs::metadata(&model).unwrap().modified().unwrap(),
        before
    );
    // --collect only summarises.
    let mut collect = args.clone();
    collect.push("--collect");
    let log = ok(&collect);
    assert!(!log.contains("trained"), "{log}");
}

#[test]
fn a_killed_sweep_resumes_its_runs_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("two.toml");
    // Big enough that the first run takes most of a second (the window to kill it in).
    std::fs::write(
        &spec,
        "name = \"two\"\n[[row]]\nname = \"3D MLP 32\"\nmodel = \"mlp3d\"\nhidden = [1024]\n\
         [[row]]\nname = \"MLP 14\"\nmodel = \"mlp\"\nhidden = [14]\n",
    )
    .unwrap();
    let s = spec.to_str().unwrap();
    let quick = |o: &str| {
        vec![
            "sweep".to_string(),
            s.to_string(),
            "--epochs".into(),
            "8".into(),
            "--train-limit".into(),
            "6000".into(),
            "--test-limit".into(),
            "300".into(),
            "--seeds".into(),
            "0".into(),
            "--out".into(),
            format!("{o}/summary"),
            "--runs".into(),
            format!("{o}/runs"),
        ]
    };
    let reference = tmp.path().join("reference");
    let out = Command::new(BIN)
        .args(quick(reference.to_str().unwrap()))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());

    // Kill the whole sweep (its process group) while its first run is part-way through.
    let dir = tmp.path().join("killed");
    let runs = |d: &Path| d.join("runs");
    let first = runs(&dir).join("mlp3d-h1024-d3-lr0.005-e8-b600-n6000-t300/seed0");
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(BIN)
            .args(quick(dir.to_str().unwrap()))
            .env("RUST_LOG", "warn")
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let start = Instant::now();
    while !first.join("optimizer.safetensors").exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "no save seen");
        std::thread::sleep(Duration::from_millis(2));
    }
    let pgid = child.id() as i32;
    Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    child.wait().unwrap();
    assert!(
        first.join("optimizer.safetensors").exists(),
        "killed before the first run finished"
    );
    let again = quick(dir.to_str().unwrap());
    let log = ok(&again[1..].iter().map(String::as_str).collect::<Vec<_>>());
    assert!(log.contains("[1/2]") && log.contains("[2/2]"), "{log}");
    for run in [
        "mlp3d-h1024-d3-lr0.005-e8-b600-n6000-t300/seed0",
        "mlp-h14-lr0.001-e8-b600-n6000-t300/seed0",
    ] {
        assert_eq!(
            std::fs::read(runs(&dir).join(run).join("model.safetensors")).unwrap(),
            std::fs::read(runs(&reference).join(run).join("model.safetensors")).unwrap(),
            "{run}: the resumed run differs from the uninterrupted one"
        );
    }
}

#[test]
fn a_zoo_checkpoint_at_the_rows_settings_counts_as_seed_0() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("zoo.toml");
    std::fs::write(
        &spec,
        r#"
name = "zoo"
seeds = [0]
[[row]]
name = "3D MLP"
model = "mlp3d"
zoo = "mlp3d"
prune = [0, 80]
"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let zoo = concat!(env!("CARGO_MANIFEST_DIR"), "/checkpoints");
    let log = ok(&[
        spec.to_str().unwrap(),
        "--zoo",
        zoo,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(log.contains("reused the zoo's"), "{log}");
    // Only the pruning scores were written beside the (absent) run; nothing was trained.
    let unit = tmp
        .path()
        .join("runs/mlp3d-h2048-d3-lr0.005-e300-b600/seed0");
    let files: Vec<String> = std::fs::read_dir(&unit)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["sweep-eval-layer-0_80.json"], "{files:?}");
    let summary = json(&out.join("summary.json"));
    let zoo_acc =
        json(&Path::new(zoo).join("mlp3d/config.json"))["training"]["final_test_accuracy"].clone();
    assert_eq!(summary["rows"][0]["mean"], zoo_acc);
    assert_eq!(summary["rows"][0]["epochs"], 300);
}

#[test]
fn schedulers_get_one_task_per_run() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("tiny.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = tmp.path().join("out");
    let (s, o) = (spec.to_str().unwrap(), out.to_str().unwrap());
    ok(&[
        s, "--epochs", "1", "--out", o, "--jobs", "3", "--emit", "slurm",
    ]);
    let sbatch = std::fs::read_to_string(out.join("sweep.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --array=0-3%3"), "{sbatch}");
    assert!(
        sbatch.contains("--task \"$SLURM_ARRAY_TASK_ID\""),
        "{sbatch}"
    );
    assert!(
        sbatch.contains(&format!("--output={o}/logs/%A_%a.out")),
        "{sbatch}"
    );
    ok(&[s, "--epochs", "1", "--out", o, "--emit", "jobs"]);
    let jobs = std::fs::read_to_string(out.join("jobs.txt")).unwrap();
    let lines: Vec<&str> = jobs.lines().collect();
    assert_eq!(lines.len(), 4);
    for (i, line) in lines.iter().enumerate() {
        assert!(line.ends_with(&format!("--task {i}")), "{line}");
        assert!(line.contains("--epochs 1"), "{line}");
    }
    // A task index past the runs is an error.
    let err = sweep(&[s, "--out", o, "--task", "9"]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("runs 0 to 3"));
}

#[test]
fn bad_specs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (text, says) in [
        ("name = \"x\"\n[[row]]\nname = \"a\"\nmodel = \"mlp\"\nhiden = [3]\n", "hiden"),
        ("name = \"x\"\n[[row]]\nname = \"a\"\nmodel = \"cnn\"\n", "cnn"),
        (
            "name = \"x\"\n[[row]]\nname = \"a\"\nmodel = \"mlp\"\n[[row]]\nname = \"a\"\nmodel = \"mlp\"\n",
            "two rows",
        ),
        (
            "name = \"x\"\n[[row]]\nname = \"a\"\nmodel = \"mlp\"\nprune = [100]\n",
            "outside [0, 100)",
        ),
        ("name = \"x\"\n", "row"),
        (
            "name = \"x\"\n[[row]]\nname = \"a\"\nmodel = \"mlp\"\nflags = [\"--seed\", \"3\"]\n",
            "`--seed` in `flags` is set by the row's own keys",
        ),
    ] {
        let spec = tmp.path().join("bad.toml");
        std::fs::write(&spec, text).unwrap();
        let out = sweep(&[spec.to_str().unwrap(), "--collect"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && !err.contains("panicked"), "{text}");
        assert!(err.contains(says) && err.contains("bad.toml"), "{text}: {err}");
    }
    // A run counted twice, and outputs that are not the sweep's own: refused before anything
    // trains (each was accepted before: `seeds = [0, 0]` reported a mean over a run twice).
    let spec = tmp.path().join("twice.toml");
    let row = "[[row]]\nname = \"a\"\nmodel = \"mlp\"\nhidden = [3]\nepochs = 1\n";
    let same = "[[row]]\nname = \"b\"\nmodel = \"mlp\"\nhidden = [3]\nepochs = 1\n";
    let out_dir = tmp.path().join("out");
    let o = out_dir.to_str().unwrap();
    for (text, extra, says) in [
        (
            format!("name = \"x\"\nseeds = [0, 0]\n{row}"),
            vec![],
            "seed 0 is listed twice",
        ),
        (
            format!("name = \"x\"\n{row}"),
            vec!["--seeds", "0,1,0"],
            "listed twice",
        ),
        (
            format!("name = \"x\"\n{row}{same}"),
            vec![],
            "are the same runs",
        ),
    ] {
        std::fs::write(&spec, text).unwrap();
        let mut args = vec![spec.to_str().unwrap(), "--out", o, "--train-limit", "600"];
        args.extend(extra);
        let out = sweep(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{err}");
    }
    std::fs::write(&spec, format!("name = \"x\"\n{row}")).unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "mine").unwrap();
    let here = tmp.path().join("here");
    std::fs::create_dir_all(&here).unwrap();
    std::fs::write(here.join("notes.txt"), "mine").unwrap();
    for (out, says) in [
        (&file, "not a directory"),
        (&here, "holds files no sweep wrote"),
    ] {
        let args = [spec.to_str().unwrap(), "--out", out.to_str().unwrap()];
        let out = sweep(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    let out = Command::new(BIN)
        .args(["sweep", spec.to_str().unwrap(), "--out", "."])
        .current_dir(&here)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("current directory"),
        "{err}"
    );
    assert!(
        !tmp.path().join("runs").exists(),
        "runs went into the parent"
    );
}

#[test]
fn a_row_with_recipe_flags_gets_its_own_runs_a_validation_column_and_a_measured_cost() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("flags.toml");
    std::fs::write(
        &spec,
        r#"
name = "flags"
seeds = [0, 1]

[[row]]
name = "MLP 14, paper"
model = "mlp"
hidden = [14]

[[row]]
name = "MLP 14, cosine"
model = "mlp"
hidden = [14]
flags = ["--val-split", "300", "--lr-schedule", "cosine"]
"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let log = ok(&[
        spec.to_str().unwrap(),
        "--epochs",
        "2",
        "--train-limit",
        "900",
        "--test-limit",
        "200",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(log.matches("trained in").count(), 4, "{log}");
    let summary = json(&out.join("summary.json"));
    let rows = summary["rows"].as_array().unwrap();
    let run = Path::new(rows[1]["runs"][0].as_str().unwrap()).to_path_buf();
    assert!(
        run.ends_with(
            "runs/mlp-h14-lr0.001-e2-b600-val-split-300-lr-schedule-cosine-n900-t200/seed0"
        ),
        "{run:?}"
    );
    let config = json(&run.join("config.json"));
    assert_eq!(config["training"]["val_split"], 300);
    assert_eq!(config["training"]["recipe"]["schedule"]["kind"], "cosine");
    // The validation accuracy beside the test accuracy, for the row that has one only.
    assert!(rows[0].get("val_mean").is_none(), "{}", rows[0]);
    let vals: Vec<f64> = rows[1]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json(&Path::new(r.as_str().unwrap()).join("config.json"))["training"]
                ["final_val_accuracy"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let want = (vals[0] + vals[1]) / 2.0;
    assert!((rows[1]["val_mean"].as_f64().unwrap() - want).abs() < 1e-12);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("| validation (mean ± std) |"), "{md}");
    assert!(md.contains(&format!("| {want:.4} ± ")), "{md}");
    // Every training process's wall and CPU time, measured, and their total in the summary.
    let timing = std::fs::read_to_string(run.join("timing.jsonl")).unwrap();
    let segment: serde_json::Value = serde_json::from_str(timing.lines().next().unwrap()).unwrap();
    assert!(segment["cpu_seconds"].as_f64().unwrap() > 0.0, "{segment}");
    assert!(segment["wall_seconds"].as_f64().unwrap() > 0.0, "{segment}");
    assert_eq!(segment["succeeded"], true);
    assert!(
        md.contains("4 runs trained by the sweep took") && md.contains("CPU-hours"),
        "{md}"
    );
    assert_eq!(rows[0]["costs"].as_array().unwrap().len(), 2);
    // A run that holds out validation scores the test set once, so its learning curve is its
    // validation accuracy: both rows draw a line through both epochs, and the axis says so.
    let svg = std::fs::read_to_string(out.join("figures/flags-learning.svg")).unwrap();
    assert!(
        svg.contains("accuracy (validation where held out, else test)"),
        "{svg}"
    );
    // Each row's curve: a line in its colour from epoch 1 to epoch 2, far wider than the
    // 20-pixel sample of it in the legend (the axes' ticks are black).
    for colour in ["#1F77B4", "#FF7F0E"] {
        let spans: Vec<f64> = svg
            .split("<polyline")
            .skip(1)
            .filter(|l| l.contains(&format!("stroke=\"{colour}\"")))
            .filter_map(|l| {
                let points = l.split("points=\"").nth(1)?.split('"').next()?;
                let xs: Vec<f64> = points
                    .split_whitespace()
                    .filter_map(|p| p.split(',').next()?.parse().ok())
                    .collect();
                (xs.len() == 2).then(|| xs[1] - xs[0])
            })
            .collect();
        assert!(
            spans.iter().any(|&w| w > 100.0),
            "{colour}: no curve through both epochs ({spans:?})"
        );
    }
}

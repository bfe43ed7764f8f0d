//! Every row of the "Bad inputs" table (docs/cli.md), run: a non-zero exit, no panic, and the
//! message the table promises. The table and these cases are checked against each other.

mod support;
use std::path::Path;
use std::process::Command;
use support::neuropos;

/// One row: its name in the table, the arguments (`{run}`: a finished small run,
/// `{tmp}`: a scratch directory, `{bogus}`: a file that is not a checkpoint, `{empty}`: an
/// empty directory), and what the message must contain.
struct Case {
    row: &'static str,
    args: &'static str,
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        row: "a pruning share that keeps no weight",
        args: "train --model mlp --hidden 14 --prune-during 99.9999 --out {tmp}/x",
        expect: &[
            "removes every one of the",
            "synapse layer 0 (784 → 14 neurons)",
        ],
    },
    Case {
        row: "a Hub reference that is not one",
        args: "pull hf://a/b@.. --out {tmp}/x",
        expect: &[
            "hf://a/b@..",
            "the revision must be a branch, tag or commit",
        ],
    },
    Case {
        row: "unknown model kind",
        args: "train --model cnn --out {tmp}/x",
        expect: &["unknown model kind `cnn`", "expected one of"],
    },
    Case {
        row: "hidden size 0",
        args: "train --model mlp --hidden 14,0 --out {tmp}/x",
        expect: &["layer sizes must be positive"],
    },
    Case {
        row: "embedding dimension below 2",
        args: "train --model mlp3d --dim 1 --out {tmp}/x",
        expect: &["embedding dimension must be at least 2"],
    },
    Case {
        row: "a flag the kind does not use",
        args: "train --model mlp --time-steps 9 --out {tmp}/x",
        expect: &["do not apply", "--time-steps"],
    },
    Case {
        row: "a flag the kind does not use",
        args: "train --model snn3d --activation tanh --out {tmp}/x",
        expect: &["do not apply", "--activation"],
    },
    Case {
        row: "a flag the kind does not use",
        args: "train --model mlp --dim 5 --out {tmp}/x",
        expect: &["do not apply", "--dim"],
    },
    Case {
        row: "a flag the kind does not use",
        args: "bench --model mlp --time-steps 9 --product sparse --steps 1",
        expect: &["do not apply", "--time-steps", "--product"],
    },
    Case {
        row: "a flag the kind does not use",
        args: "train --model mlp3d --encoder rate --out {tmp}/x",
        expect: &["do not apply", "--encoder"],
    },
    Case {
        row: "an unknown spike encoder",
        args: "train --model snn3d --encoder poisson --out {tmp}/x",
        expect: &[
            "unknown encoder `poisson`",
            "expected direct, rate[:GAIN] or latency",
        ],
    },
    Case {
        row: "an unknown spike encoder",
        args: "train --model snn3d --encoder latency:1.5 --out {tmp}/x",
        expect: &["threshold must lie in (0, 1), got 1.5"],
    },
    Case {
        row: "zero epochs",
        args: "train --model mlp --epochs 0 --out {tmp}/x",
        expect: &["--epochs must be at least 1"],
    },
    Case {
        row: "zero images",
        args: "train --model mlp --test-limit 0 --out {tmp}/x",
        expect: &["--test-limit must be at least 1"],
    },
    Case {
        row: "zero images",
        args: "eval {run} --test-limit 0",
        expect: &["--test-limit must be at least 1"],
    },
    Case {
        row: "a batch larger than the data",
        args: "train --model mlp --train-limit 100 --out {tmp}/x",
        expect: &["--batch-size 600 is larger than the 100 training images"],
    },
    Case {
        row: "a batch of 0",
        args: "train --model mlp --batch-size 0 --out {tmp}/x",
        expect: &["--batch-size must be positive"],
    },
    Case {
        row: "a learning rate ≤ 0",
        args: "train --model mlp --lr 0 --out {tmp}/x",
        expect: &["--lr must be a positive number"],
    },
    Case {
        row: "a recipe option out of range",
        args: "train --model mlp --label-smoothing 1 --out {tmp}/x",
        expect: &["label smoothing must be in [0, 1), got 1"],
    },
    Case {
        row: "a recipe option out of range",
        args: "train --model mlp --epochs 300 --warmup-epochs 300 --out {tmp}/x",
        expect: &["300 warm-up epochs leave none"],
    },
    Case {
        row: "a recipe option out of range",
        args: "train --model mlp --lr-schedule linear --out {tmp}/x",
        expect: &["expected constant, cosine or step:EVERY:GAMMA"],
    },
    Case {
        row: "label smoothing for a spiking kind",
        args: "train --model snn3d --label-smoothing 0.1 --out {tmp}/x",
        expect: &["--label-smoothing applies to MLPs", "has none"],
    },
    Case {
        row: "a recipe option the kind has no use for",
        args: "train --model mlp --steepness-final 20 --out {tmp}/x",
        expect: &["--steepness-final anneals the inhibition masks; a baseline has none"],
    },
    Case {
        row: "a recipe option the kind has no use for",
        args: "train --model mlp3d --axis-lr-scale 10 --out {tmp}/x",
        expect: &["--axis-lr-scale sets the rate of learned gaps or z"],
    },
    Case {
        row: "a recipe option the kind has no use for",
        args: "train --model mlp --augment-shift 9 --out {tmp}/x",
        expect: &["shifts of up to 9 pixels"],
    },
    Case {
        row: "a recipe option the kind has no use for",
        args: "train --model mlp --snn-loss count --out {tmp}/x",
        expect: &["--snn-loss chooses a spiking network's loss", "is an MLP"],
    },
    Case {
        row: "a validation split that leaves nothing",
        args: "train --model mlp --val-split 60000 --out {tmp}/x",
        expect: &["cannot hold out 60000 of 60000 training images"],
    },
    Case {
        row: "a validation split that leaves nothing",
        args: "train --model mlp --val-split 0 --out {tmp}/x",
        expect: &["--val-split 0 holds nothing out"],
    },
    Case {
        row: "an initialisation width of 0",
        args: "train --model mlp3d --coord-init 0 --out {tmp}/x",
        expect: &["init widths must be positive"],
    },
    Case {
        row: "pruning outside [0, 100)",
        args: "train --model mlp3d --prune-during 100 --out {tmp}/x",
        expect: &["less than 100 %"],
    },
    Case {
        row: "pruning outside [0, 100)",
        args: "eval {run} --prune 100",
        expect: &["outside [0, 100)"],
    },
    Case {
        row: "pruning outside [0, 100)",
        args: "export {run} --prune=-5 --out {tmp}/e.safetensors",
        expect: &["outside [0, 100)"],
    },
    Case {
        row: "pruning outside [0, 100)",
        args: "prune {run} --percent 100 --out {tmp}/p",
        expect: &["below 100"],
    },
    Case {
        row: "duplicate pruning levels",
        args: "eval {run} --prune 10,50,10",
        expect: &["pruning level 10 is listed twice"],
    },
    Case {
        row: "an --out directory holding a run",
        args: "train --model mlp --epochs 1 --out {run}",
        expect: &["already holds a run", "--resume", "--force"],
    },
    Case {
        row: "an --out that is a file",
        args: "train --model mlp --epochs 1 --out {run}/config.json",
        expect: &["is not a directory"],
    },
    Case {
        row: "an --out directory that cannot be created",
        args: "train --model mlp --epochs 1 --train-limit 600 --out /sys/neuropos-test",
        expect: &["creating the output directory /sys/neuropos-test"],
    },
    Case {
        row: "an output file in a missing directory",
        args: "export {run} --out {tmp}/missing/e.safetensors",
        expect: &["does not exist"],
    },
    Case {
        row: "a checkpoint of another kind for --init-from",
        args: "train --init-from {run} --model snn3d --out {tmp}/x",
        expect: &["contradict the checkpoint", "--model snn3d"],
    },
    Case {
        row: "--resume of a directory no run wrote",
        args: "train --resume {empty}",
        expect: &["no run.json"],
    },
    Case {
        row: "--resume with training flags",
        args: "train --resume {run} --lr 0.1",
        expect: &["cannot be used with"],
    },
    Case {
        row: "a missing checkpoint",
        args: "eval {tmp}/nothing-here",
        expect: &["nothing-here"],
    },
    Case {
        row: "a file that is not a checkpoint",
        args: "eval {bogus}",
        expect: &["bogus.safetensors", "not a valid safetensors file"],
    },
    Case {
        row: "a file that is not an image",
        args: "predict {run} {run}/config.json",
        expect: &["config.json", "not a readable PNG or JPEG image"],
    },
    Case {
        row: "an MNIST directory without the files",
        args: "train --model mlp --epochs 1 --data-dir {empty} --out {tmp}/x",
        expect: &["train-images-idx3-ubyte"],
    },
    Case {
        row: "an unknown device",
        args: "train --model mlp --device tpu --out {tmp}/x",
        expect: &[
            "invalid value 'tpu' for '--device",
            "cpu, cuda, metal, auto",
        ],
    },
];

fn small_run(dir: &Path) {
    let args: Vec<String> = "train --model mlp3d --hidden 16 --train-limit 1200 --batch-size 100 \
         --test-limit 100 --epochs 2 --device cpu --out"
        .split_whitespace()
        .map(String::from)
        .chain([dir.display().to_string()])
        .collect();
    let out = neuropos(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_bad_input_gets_its_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    small_run(&run);
    let bogus = tmp.path().join("bogus.safetensors");
    std::fs::write(&bogus, b"definitely not safetensors").unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let before = std::fs::read(run.join("model.safetensors")).unwrap();
    for case in CASES {
        let args: Vec<String> = case
            .args
            .split_whitespace()
            .map(|a| {
                a.replace("{run}", run.to_str().unwrap())
                    .replace("{tmp}", tmp.path().to_str().unwrap())
                    .replace("{bogus}", bogus.to_str().unwrap())
                    .replace("{empty}", empty.to_str().unwrap())
            })
            .collect();
        let out = neuropos(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{}: `{}` succeeded",
            case.row,
            case.args
        );
        assert!(
            !stderr.contains("panicked"),
            "{}: panicked\n{stderr}",
            case.row
        );
        for want in case.expect {
            assert!(
                stderr.contains(want),
                "{}: `{}` should say `{want}`, said:\n{stderr}",
                case.row,
                case.args
            );
        }
    }
    assert_eq!(
        std::fs::read(run.join("model.safetensors")).unwrap(),
        before,
        "a refused command touched the run"
    );
}

/// A small run stopped after 12 of its 36 batches, with its resume state: what `--resume`
/// continues and what a refused command must leave alone.
fn interrupted_run(dir: &Path) {
    let mut args: Vec<String> = "train --model mlp3d --hidden 16 --train-limit 1200 \
         --batch-size 100 --test-limit 100 --epochs 3 --device cpu --debug-stop-after 12 --out"
        .split_whitespace()
        .map(String::from)
        .collect();
    args.push(dir.to_str().unwrap().to_string());
    assert!(neuropos(&args).status.success());
}

/// A full disk in the middle of a save, simulated with a file-size limit (SIGXFSZ ignored, so
/// the write fails with EFBIG as it would with ENOSPC): the error names the file and the
/// checkpoint before it is untouched.
#[cfg(unix)]
#[test]
fn a_full_disk_during_a_save_keeps_the_previous_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap().to_string();
    interrupted_run(&dir);
    let before: Vec<Vec<u8>> = ["model.safetensors", "optimizer.safetensors", "config.json"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    // 20 KiB: the next save's optimizer state (31 KB) does not fit.
    let out = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 20; exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_neuropos"),
            "train",
            "--resume",
            &d,
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("optimizer.safetensors: saving failed")
            && stderr.contains("File too large")
            && stderr.contains("untouched"),
        "{stderr}"
    );
    let after: Vec<Vec<u8>> = ["model.safetensors", "optimizer.safetensors", "config.json"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    assert!(after == before, "the previous checkpoint changed");
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .count();
    assert_eq!(leftovers, 0, "the failed save left its temporary file");
    // With room again, the run resumes and completes.
    let out = neuropos(&["train".into(), "--resume".into(), d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The table (docs/cli.md) has exactly the rows the cases cover (plus the full-disk row).
#[test]
fn the_table_lists_the_cases() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md"))
        .expect("docs/cli.md");
    let start = readme
        .find("<!-- bad-inputs:start -->")
        .expect("the bad-inputs table markers");
    let end = readme.find("<!-- bad-inputs:end -->").unwrap();
    let rows: Vec<String> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| bad input"))
        .map(|l| l.split('|').nth(1).unwrap().trim().to_string())
        .collect();
    let mut tested: Vec<String> = CASES.iter().map(|c| c.row.to_string()).collect();
    tested.push("a full disk during a save".into());
    // Rows that need a pruned checkpoint or a Hub: tests/cli.rs
    // (`pruned_checkpoints_are_pruned_further_by_every_command`) and tests/hub_hostile.rs.
    tested.push("a pruning level below a checkpoint's own".into());
    tested.push("a bad HF_ENDPOINT".into());
    tested.push("a hostile or silent Hub".into());
    // files_are_held_to_what_flags_are, below.
    tested.push("an edited run.json".into());
    tested.push("a checkpoint that overflows in f32".into());
    tested.push("a checkpoint of another shape than the data".into());
    // tests/datasets.rs.
    tested.push("a bad dataset".into());
    tested.push("data of another shape than the checkpoint".into());
    tested.push("a checkpoint's data changed since".into());
    // tests/hub_datasets.rs.
    tested.push("a Hub dataset that is not one neuropos reads".into());
    // tests/sweep.rs, bad_specs_are_clear_errors.
    tested.push("a run counted twice in a sweep".into());
    tested.push("a sweep --out that is not its own".into());
    tested.dedup();
    for row in &rows {
        assert!(
            tested.contains(row),
            "docs/cli.md row `{row}` has no test case"
        );
    }
    for row in &tested {
        assert!(
            rows.contains(row),
            "test case `{row}` is not in the docs/cli.md table"
        );
    }
}

/// Settings and checkpoints from files are held to what flags are: an edited `run.json` is
/// validated as the flags would be (a negative rate trained by gradient ascent, a batch of 0
/// panicked), a checkpoint is validated in the f32 it runs in (a steepness of 1e300 gave NaN
/// masks), and one that does not fit the data is refused by name (it scored 0.0000, or failed
/// inside a matrix product).
#[test]
fn files_are_held_to_what_flags_are() {
    use candle_core::{DType, Device};
    use neuropos_models::{checkpoint, Config, ModelKind, Network};
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let r = run.to_str().unwrap().to_string();
    interrupted_run(&run);
    let settings = std::fs::read_to_string(run.join("run.json")).unwrap();
    let fails = |args: &[&str], what: &[&str]| {
        let out = neuropos(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        for w in what {
            assert!(err.contains(w), "{args:?}: expected {w:?} in {err}");
        }
    };
    for (key, value, what) in [
        ("lr", "-0.005", "--lr must be a positive number"),
        ("batch_size", "0", "--batch-size must be positive"),
        ("epochs", "0", "--epochs must be at least 1"),
    ] {
        let mut edited: serde_json::Value = serde_json::from_str(&settings).unwrap();
        edited[key] = serde_json::from_str(value).unwrap();
        std::fs::write(run.join("run.json"), edited.to_string()).unwrap();
        fails(&["train", "--resume", &r], &["run.json", what]);
    }
    for (key, value, what) in [
        ("label_smoothing", "1", "label smoothing must be in [0, 1)"),
        ("augment_shift", "100", "at most 8"),
        ("warmup_epochs", "1000", "warm-up epochs leave none"),
    ] {
        let mut edited: serde_json::Value = serde_json::from_str(&settings).unwrap();
        edited["recipe"][key] = serde_json::from_str(value).unwrap();
        std::fs::write(run.join("run.json"), edited.to_string()).unwrap();
        fails(&["train", "--resume", &r], &["run.json", what]);
    }

    // Checkpoints written by the library with numbers no flag would give, or another shape.
    let save = |config: &Config, name: &str| {
        // Variables of a valid network of the same shape; the description as given.
        let mut valid = config.clone();
        valid.steepness = 10.0;
        if let Some(lif) = valid.lif.as_mut() {
            lif.threshold = 1.0;
        }
        let vars = candle_nn::VarMap::new();
        Network::seeded(&valid, &vars, 0, DType::F32, &Device::Cpu).unwrap();
        let dir = tmp.path().join(name);
        let info = checkpoint::CheckpointInfo::new(config, None);
        checkpoint::save(&dir, &vars, &info).unwrap();
        dir.to_str().unwrap().to_string()
    };
    let mut steep = Config::mnist(ModelKind::Mlp3d, &[8], 3);
    steep.steepness = 1e300;
    let mut faint = Config::mnist(ModelKind::Snn3d, &[8], 3);
    faint.lif.as_mut().unwrap().threshold = 1e-300;
    for (config, name, what) in [
        (
            &steep,
            "steep",
            "steepness must be positive and finite in f32",
        ),
        (&faint, "faint", "threshold must be positive"),
    ] {
        let dir = save(config, name);
        fails(
            &["eval", &dir, "--test-limit", "10", "--device", "cpu"],
            &[what],
        );
    }
    let wide = save(&Config::new(ModelKind::Mlp3d, 784, &[8], 20, 3), "wide");
    let small = save(&Config::new(ModelKind::Mlp, 100, &[8], 10, 3), "small");
    for dir in [&wide, &small] {
        fails(
            &["eval", dir, "--test-limit", "10", "--device", "cpu"],
            &[
                dir.as_str(),
                "the data has 784 pixels per image and 10 classes",
            ],
        );
    }
    // Several checkpoints: the good one's row is printed, the bad one named at the end.
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp-h14");
    let out = neuropos(&[
        "eval",
        good.to_str().unwrap(),
        &wide,
        "--test-limit",
        "10",
        "--device",
        "cpu",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stdout.contains("mlp-h14"),
        "the good row is missing: {stdout}"
    );
    assert!(
        err.contains("1 of 2 checkpoints") && err.contains(&wide),
        "{err}"
    );
}

/// A user error is a message, whatever the environment: no backtrace with `RUST_BACKTRACE=1`
/// (anyhow printed one), no ANSI colours into a pipe or file (they ended up in the sweep's
/// train.log), and an argument of 100,000 characters is not echoed whole.
#[test]
fn errors_are_plain_messages_in_any_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_neuropos"))
        .args(["eval", "/nonexistent/checkpoint", "--device", "cpu"])
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/nonexistent/checkpoint"), "{err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
    assert!(!err.contains('\u{1b}'), "colour codes in a pipe: {err:?}");
    let long = "x".repeat(100_000);
    let out = Command::new(env!("CARGO_BIN_EXE_neuropos"))
        .args(["eval", &format!("hf://a/{long}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        out.stderr.len() < 3000,
        "{} bytes of error",
        out.stderr.len()
    );
}

//! `train --val-split`, `--lr-schedule`, `--warmup-epochs`, `--label-smoothing`: what each
//! records and that a resumed run with them ends bit for bit where an uninterrupted one does.

mod support;
use support::{neuropos, ok, tensors};

fn metrics(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn training(dir: &std::path::Path) -> serde_json::Value {
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["training"].clone()
}

const RECIPE: &str = "train --model mlp3d --hidden 32 --epochs 3 --train-limit 1200 \
    --batch-size 200 --test-limit 300 --val-split 500 --lr-schedule cosine --warmup-epochs 1 \
    --label-smoothing 0.1 --device cpu --out";

/// The unpruned accuracy `neuropos eval` scores for a checkpoint on the first `limit` test
/// images.
fn eval_accuracy(dir: &std::path::Path, limit: usize) -> f64 {
    let out = ok(&[
        "eval".to_string(),
        dir.display().to_string(),
        "--test-limit".into(),
        limit.to_string(),
        "--format".into(),
        "json".into(),
        "--device".into(),
        "cpu".into(),
    ]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    rows[0]["accuracy"].as_f64().unwrap()
}

fn args(base: &str, dir: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = base.split_whitespace().map(String::from).collect();
    a.push(dir.display().to_string());
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn validation_split_scores_test_once_and_the_recipe_is_recorded_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    ok(&args(RECIPE, &full, &[]));
    let lines = metrics(&full);
    assert_eq!(lines.len(), 3);
    for (e, line) in lines.iter().enumerate() {
        assert!(line["val_accuracy"].is_f64(), "epoch {}: {line}", e + 1);
        // The test set is scored once, after the last epoch.
        assert_eq!(
            line["test_accuracy"].is_f64(),
            e == 2,
            "epoch {}: {line}",
            e + 1
        );
    }
    // Warm-up over the first epoch (its last step at the base rate), then the cosine down.
    let lr: Vec<f64> = lines.iter().map(|l| l["lr"].as_f64().unwrap()).collect();
    assert_eq!(lr[0], 0.005);
    assert!(lr[1] < lr[0] && lr[2] < lr[1] && lr[2] < 0.0005, "{lr:?}");

    let t = training(&full);
    assert_eq!(t["val_split"], 500);
    assert_eq!(t["final_val_accuracy"], lines[2]["val_accuracy"]);
    assert_eq!(t["recipe"]["schedule"]["kind"], "cosine");
    assert_eq!(t["recipe"]["warmup_epochs"], 1);
    assert_eq!(t["recipe"]["label_smoothing"], 0.1);
    // 1,200 images trained on: the limit applies after the 500 are held out.
    assert_eq!(t["train_samples"], 1200);
    let out = neuropos(&[
        "eval",
        full.to_str().unwrap(),
        "--test-limit",
        "300",
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["final_test_accuracy"], rows[0]["accuracy"]);
    assert_eq!(lines[2]["test_accuracy"], rows[0]["accuracy"]);

    // Stopped mid-epoch 2 (batch 8 of 18) and resumed: the same bytes and the same record.
    let parted = tmp.path().join("parted");
    ok(&args(RECIPE, &parted, &["--debug-stop-after", "8"]));
    assert!(training(&parted)["final_test_accuracy"].is_null());
    ok(&["train", "--resume", parted.to_str().unwrap()].map(String::from));
    assert_eq!(
        std::fs::read(full.join("model.safetensors")).unwrap(),
        std::fs::read(parted.join("model.safetensors")).unwrap(),
        "resumed with a schedule and a validation split: different weights"
    );
    for (a, b) in metrics(&full).iter().zip(metrics(&parted).iter()) {
        for key in ["val_accuracy", "test_accuracy", "lr", "train_loss"] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }
}

#[test]
fn the_paper_recipe_records_nothing_new_and_smoothing_changes_the_training() {
    let tmp = tempfile::tempdir().unwrap();
    let base = "train --model mlp --hidden 14 --epochs 1 --train-limit 1200 --batch-size 200 \
        --test-limit 300 --device cpu --out";
    let paper = tmp.path().join("paper");
    ok(&args(base, &paper, &[]));
    let line = &metrics(&paper)[0];
    assert!(
        line.get("lr").is_none() && line.get("val_accuracy").is_none(),
        "{line}"
    );
    let t = training(&paper);
    for key in ["recipe", "val_split", "final_val_accuracy"] {
        assert!(t.get(key).is_none(), "{key} in {t}");
    }
    let smoothed = tmp.path().join("smoothed");
    ok(&args(base, &smoothed, &["--label-smoothing", "0.2"]));
    assert_ne!(
        std::fs::read(paper.join("model.safetensors")).unwrap(),
        std::fs::read(smoothed.join("model.safetensors")).unwrap()
    );
    let step = tmp.path().join("step");
    ok(&args(
        "train --model mlp --hidden 14 --epochs 3 --train-limit 1200 --batch-size 200 \
         --test-limit 300 --device cpu --lr-schedule step:1:0.5 --out",
        &step,
        &[],
    ));
    let lr: Vec<f64> = metrics(&step)
        .iter()
        .map(|l| l["lr"].as_f64().unwrap())
        .collect();
    assert_eq!(lr, vec![0.001, 0.0005, 0.00025]);
}

#[test]
fn annealed_steepness_shift_augmentation_and_axis_rate_resume_and_act() {
    let tmp = tempfile::tempdir().unwrap();
    let base =
        "train --model mlp3d-gaps --hidden 32 --epochs 3 --train-limit 1200 --batch-size 200 \
        --test-limit 300 --steepness 5 --steepness-final 15 --augment-shift 2 --axis-lr-scale 10 \
        --device cpu --out";
    let full = tmp.path().join("full");
    ok(&args(base, &full, &[]));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(full.join("config.json")).unwrap()).unwrap();
    // The checkpoint records the k of its last epoch.
    assert_eq!(config["model"]["steepness"], 15.0);
    assert_eq!(config["training"]["recipe"]["augment_shift"], 2);
    let parted = tmp.path().join("parted");
    // Stopped after epoch 1 (6 batches): k was still 5 there.
    ok(&args(base, &parted, &["--debug-stop-after", "6"]));
    let mid: serde_json::Value =
        serde_json::from_slice(&std::fs::read(parted.join("config.json")).unwrap()).unwrap();
    assert_eq!(mid["model"]["steepness"], 5.0);
    ok(&["train", "--resume", parted.to_str().unwrap()].map(String::from));
    assert_eq!(
        std::fs::read(full.join("model.safetensors")).unwrap(),
        std::fs::read(parted.join("model.safetensors")).unwrap(),
        "resumed with augmentation and annealing: different weights"
    );

    // The gaps' rate × 10 moves them further from their start (1) than the plain rate does.
    let gap_travel = |dir: &std::path::Path| {
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let gaps = st.tensor("gaps").unwrap();
        gaps.data()
            .chunks_exact(4)
            .map(|b| (f32::from_le_bytes(b.try_into().unwrap()) - 1.0).abs())
            .sum::<f32>()
    };
    let plain = tmp.path().join("plain");
    ok(&args(
        "train --model mlp3d-gaps --hidden 32 --epochs 3 --train-limit 1200 --batch-size 200 \
         --test-limit 300 --steepness 5 --steepness-final 15 --augment-shift 2 --device cpu --out",
        &plain,
        &[],
    ));
    assert!(
        gap_travel(&full) > 3.0 * gap_travel(&plain),
        "{} vs {}",
        gap_travel(&full),
        gap_travel(&plain)
    );
}

#[test]
fn the_spike_count_loss_trains_a_spiking_network_and_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("count");
    ok(&args(
        "train --model snn3d --hidden 32 --time-steps 5 --epochs 1 --train-limit 600 \
         --batch-size 200 --test-limit 200 --snn-loss count --device cpu --out",
        &dir,
        &[],
    ));
    let line = &metrics(&dir)[0];
    // The count cross-entropy of 10 classes starts near ln 10, far below the membrane loss
    // summed over the steps.
    let loss = line["train_loss"].as_f64().unwrap();
    assert!(loss.is_finite() && loss < 5.0, "{loss}");
    assert_eq!(training(&dir)["recipe"]["snn_loss"], "count");
}

#[test]
fn spike_encoders_and_the_readout_train_resume_exactly_are_recorded_and_evaluate_as_trained() {
    let tmp = tempfile::tempdir().unwrap();
    for encoder in ["rate:1", "latency:0.01:linear"] {
        let base = format!(
            "train --model snn3d --hidden 32 --time-steps 6 --epochs 2 --train-limit 600 \
             --batch-size 200 --test-limit 300 --encoder {encoder} --device cpu --out"
        );
        let tag = encoder.split(':').next().unwrap();
        let full = tmp.path().join(format!("{tag}-full"));
        ok(&args(&base, &full, &[]));
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(full.join("config.json")).unwrap()).unwrap();
        let lif = &config["model"]["lif"];
        assert_eq!(lif["encoder"]["kind"], tag, "{config}");
        let accuracy = training(&full)["final_test_accuracy"].as_f64().unwrap();
        // Spike-coded input still learns something in two short epochs (chance is 0.1).
        assert!(accuracy > 0.2, "{encoder}: {accuracy}");

        // Stopped inside epoch 1 and resumed: the rate code's draws are keyed by the step.
        let parted = tmp.path().join(format!("{tag}-parted"));
        ok(&args(&base, &parted, &["--debug-stop-after", "2"]));
        ok(&["train", "--resume", parted.to_str().unwrap()].map(String::from));
        assert_eq!(
            std::fs::read(full.join("model.safetensors")).unwrap(),
            std::fs::read(parted.join("model.safetensors")).unwrap(),
            "{encoder}: resumed run differs"
        );

        // `eval` reads the encoder from the checkpoint and scores what training scored.
        assert_eq!(eval_accuracy(&full, 300), accuracy, "{encoder}");
    }
    // The membrane readout is recorded and `eval` predicts with it.
    let membrane = tmp.path().join("membrane");
    ok(&args(
        "train --model snn --hidden 14 --time-steps 5 --epochs 1 --train-limit 600 \
         --batch-size 200 --test-limit 300 --readout membrane --device cpu --out",
        &membrane,
        &[],
    ));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(membrane.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["lif"]["readout"], "membrane");
    assert_eq!(
        eval_accuracy(&membrane, 300),
        config["training"]["final_test_accuracy"].as_f64().unwrap()
    );
    // The direct encoder is the paper's and leaves no trace in the checkpoint.
    let direct = tmp.path().join("direct");
    ok(&args(
        "train --model snn --hidden 14 --time-steps 3 --epochs 1 --train-limit 200 \
         --batch-size 200 --test-limit 100 --encoder direct --device cpu --out",
        &direct,
        &[],
    ));
    let text = std::fs::read_to_string(direct.join("config.json")).unwrap();
    assert!(
        !text.contains("encoder") && !text.contains("readout"),
        "{text}"
    );
}

fn run_json(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn the_best_recipe_sets_the_chosen_settings_records_itself_and_yields_to_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let small = "--epochs 1 --train-limit 600 --test-limit 200 --device cpu --out";
    // The relaxed model's choice: rate 0.01, batch 300, the z at 10x the rate.
    let best = tmp.path().join("best");
    ok(&args(
        &format!("train --model mlp3d-relaxed --recipe best {small}"),
        &best,
        &[],
    ));
    let settings = run_json(&best);
    assert_eq!(settings["preset"], "best");
    assert_eq!(settings["lr"], 0.01);
    assert_eq!(settings["batch_size"], 300);
    assert_eq!(settings["recipe"]["axis_lr_scale"], 10.0);
    assert_eq!(training(&best)["preset"], "best");
    // The same settings given as flags train the same weights: the preset is those flags.
    let flags = tmp.path().join("flags");
    ok(&args(
        &format!(
            "train --model mlp3d-relaxed --lr 0.01 --batch-size 300 --axis-lr-scale 10 {small}"
        ),
        &flags,
        &[],
    ));
    assert!(run_json(&flags).get("preset").is_none_or(|p| p.is_null()));
    assert_eq!(
        tensors(&best.join("model.safetensors")),
        tensors(&flags.join("model.safetensors"))
    );
    for (a, b) in metrics(&best).iter().zip(metrics(&flags).iter()) {
        for key in ["train_loss", "test_accuracy"] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }

    // A flag given beside the preset wins; the rest still come from it.
    let mine = tmp.path().join("mine");
    ok(&args(
        &format!("train --model mlp3d-relaxed --recipe best --lr 0.002 {small}"),
        &mine,
        &[],
    ));
    let settings = run_json(&mine);
    assert_eq!(settings["lr"], 0.002);
    assert_eq!(settings["batch_size"], 300);
    assert_eq!(settings["recipe"]["axis_lr_scale"], 10.0);

    // The 3D MLP's choice is architectural (one learned scale per layer, issue 36): the preset
    // builds the same network the flag does, and `--weight-scale fixed` beside it wins.
    let mlp3d = |name: &str, flags: &str| {
        let dir = tmp.path().join(name);
        ok(&args(
            &format!("train --model mlp3d {flags} {small}"),
            &dir,
            &[],
        ));
        dir
    };
    let preset = mlp3d("mlp3d-best", "--recipe best");
    let by_hand = mlp3d("mlp3d-learned", "--weight-scale learned");
    let fixed = mlp3d("mlp3d-fixed", "--recipe best --weight-scale fixed");
    let model = |dir: &std::path::Path| {
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["model"].clone()
    };
    assert_eq!(model(&preset)["weight_scale"], "learned");
    assert!(model(&fixed).get("weight_scale").is_none());
    let (p, h, f) = (
        tensors(&preset.join("model.safetensors")),
        tensors(&by_hand.join("model.safetensors")),
        tensors(&fixed.join("model.safetensors")),
    );
    assert_eq!(p, h);
    let has_scale = |t: &[(String, Vec<u8>)]| t.iter().any(|(name, _)| name == "layers.0.scale");
    assert!(has_scale(&p) && !has_scale(&f));
    assert_eq!(run_json(&preset)["lr"], 0.005);
    assert_eq!(run_json(&preset)["batch_size"], 600);
    // Fine-tuning a checkpoint with the paper's weights keeps them, and says so.
    let zoo = concat!(env!("CARGO_MANIFEST_DIR"), "/checkpoints/mlp3d");
    let tuned = tmp.path().join("tuned");
    let out = neuropos(
        &format!(
            "train --init-from {zoo} --recipe best {small} {}",
            tuned.display()
        )
        .split_whitespace()
        .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(model(&tuned).get("weight_scale").is_none());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("keeps its own (fixed)"), "{said}");

    // Where the full-length runs kept the paper's settings, the preset sets exactly those
    // (and still says it was asked for).
    let base = tmp.path().join("mlp14");
    ok(&args(
        &format!("train --model mlp --hidden 14 --recipe best {small}"),
        &base,
        &[],
    ));
    let settings = run_json(&base);
    assert_eq!(settings["preset"], "best");
    assert_eq!(settings["lr"], 0.001);
    assert_eq!(settings["batch_size"], 600);

    // An architecture the ablation never trained is refused, not guessed at.
    for arch in ["--model mlp3d --hidden 64", "--model mlp3d --dim 5"] {
        let out = neuropos(
            &format!(
                "train {arch} --recipe best {small} {}",
                tmp.path().join("no").display()
            )
            .split_whitespace()
            .collect::<Vec<_>>(),
        );
        assert!(!out.status.success(), "{arch}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--recipe best") && err.contains("no settings"),
            "{arch}: {err}"
        );
    }
}

const KEEP_BEST: &str = "train --model mlp --hidden 14 --epochs 40 --lr 0.05 --train-limit 2000 \
    --batch-size 200 --test-limit 300 --val-split 1000 --keep best --patience 3 --device cpu \
    --out";

#[test]
fn keep_best_keeps_the_best_validation_epoch_stops_on_patience_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    ok(&args(KEEP_BEST, &full, &[]));
    let lines = metrics(&full);
    let (epochs, kept_line) = lines.split_at(lines.len() - 1);
    let kept_line = &kept_line[0];
    let val: Vec<f64> = epochs
        .iter()
        .map(|l| l["val_accuracy"].as_f64().unwrap())
        .collect();
    // The first of the best validation scores, and patience epochs after it.
    let best = val.iter().cloned().fold(f64::MIN, f64::max);
    let best_epoch = val.iter().position(|v| *v == best).unwrap() + 1;
    assert!(
        val.len() < 40,
        "patience 3 never stopped a 40-epoch run: {val:?}"
    );
    assert_eq!(val.len(), best_epoch + 3, "{val:?}");
    assert_eq!(kept_line["kept_epoch"], best_epoch);
    assert_eq!(kept_line["early_stopped"], true);
    // The test set is scored once, on the kept weights.
    assert!(epochs.iter().all(|l| l.get("test_accuracy").is_none()));
    let t = training(&full);
    assert_eq!(t["kept"]["epoch"], best_epoch);
    assert_eq!(t["final_val_accuracy"], best);
    assert_eq!(t["final_test_accuracy"], kept_line["test_accuracy"]);
    assert_eq!(
        t["final_test_accuracy"].as_f64().unwrap(),
        eval_accuracy(&full, 300)
    );
    assert!(!full.join("best.safetensors").exists());

    // The kept weights are the ones a run of exactly that many epochs ends with.
    let short = tmp.path().join("short");
    let epochs_arg = best_epoch.to_string();
    let base: Vec<String> = args(KEEP_BEST, &short, &[])
        .into_iter()
        .filter(|a| !["--keep", "best", "--patience", "3"].contains(&a.as_str()))
        .map(|a| if a == "40" { epochs_arg.clone() } else { a })
        .collect();
    ok(&base);
    assert_eq!(
        tensors(&short.join("model.safetensors")),
        tensors(&full.join("model.safetensors"))
    );

    // Killed after the best epoch was saved, resumed: the same bytes.
    let parted = tmp.path().join("parted");
    let stop = ((best_epoch + 1) * 10 + 5).to_string();
    ok(&args(KEEP_BEST, &parted, &["--debug-stop-after", &stop]));
    assert!(parted.join("best.safetensors").exists());
    ok(&["train", "--resume", parted.to_str().unwrap()].map(String::from));
    assert_eq!(
        std::fs::read(full.join("model.safetensors")).unwrap(),
        std::fs::read(parted.join("model.safetensors")).unwrap()
    );
    for (a, b) in metrics(&full).iter().zip(metrics(&parted).iter()) {
        for key in ["val_accuracy", "test_accuracy", "train_loss", "kept_epoch"] {
            assert_eq!(a.get(key), b.get(key), "{key}");
        }
    }
}

#[test]
fn keep_best_and_patience_need_a_validation_split() {
    let tmp = tempfile::tempdir().unwrap();
    let base = "train --model mlp --hidden 14 --epochs 2 --train-limit 600 --device cpu --out";
    for (extra, said) in [
        (&["--keep", "best"][..], "give --val-split N too"),
        (
            &["--val-split", "100", "--patience", "2"][..],
            "goes with --keep best",
        ),
        (
            &["--val-split", "100", "--keep", "best", "--patience", "0"][..],
            "at least 1",
        ),
    ] {
        let dir = tmp.path().join("x");
        let out = neuropos(
            &args(base, &dir, extra)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(said),
            "{extra:?}: {err}"
        );
        assert!(!dir.exists(), "{extra:?} left {}", dir.display());
    }
}

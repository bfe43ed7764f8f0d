//! End to end through the binary: train → eval, JSON agrees with the library.

use candle_core::{DType, Device};
use neuropos_models::checkpoint;
use neuropos_models::data;
use neuropos_models::prune::{MagnitudeRanking, PruneScope};
use neuropos_models::training;
use std::path::Path;
mod support;
use std::process::Command;
use support::{failure, ok};

fn train_tiny(out: &Path, seed: &str) {
    train_tiny_kind(out, seed, "mlp3d");
}

fn train_tiny_kind(out: &Path, seed: &str, kind: &str) {
    ok(&[
        "train",
        "--model",
        kind,
        "--hidden",
        "48",
        "--epochs",
        "2",
        "--train-limit",
        "3000",
        "--test-limit",
        "1000",
        "--seed",
        seed,
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
}

#[test]
fn train_then_eval_agrees_with_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_tiny(&run, "3");

    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], i + 1);
        assert!(l["train_loss"].as_f64().unwrap().is_finite());
        assert!((0.0..=1.0).contains(&l["test_accuracy"].as_f64().unwrap()));
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let params = (3 - 1) * (784 + 48 + 10) + (48 + 10) + (784 + 48);
    assert_eq!(config["params"], params);
    assert_eq!(config["model"]["steepness"], 10.0);
    assert_eq!(config["training"]["epochs_completed"], 2);
    assert_eq!(config["training"]["lr"], 0.005);
    assert_eq!(config["training"]["seed"], 3);
    assert_eq!(
        config["training"]["final_test_accuracy"],
        lines[1]["test_accuracy"]
    );

    let json = ok(&[
        "eval",
        run.to_str().unwrap(),
        "--prune",
        "0,50,90",
        "--format",
        "json",
        "--test-limit",
        "1000",
        "--device",
        "cpu",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), 3);

    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_test(1000)
        .unwrap();
    let mut loaded = checkpoint::load(&run, DType::F32, &Device::Cpu).unwrap();
    let total = 784 * 48 + 48 * 10;
    let ranking =
        MagnitudeRanking::new(&loaded.network.weights().unwrap(), PruneScope::Layer).unwrap();
    for (row, percent) in rows.iter().zip([0.0, 50.0, 90.0]) {
        for key in [
            "checkpoint",
            "model",
            "params",
            "prune_percent",
            "scope",
            "kept_weights",
            "total_weights",
            "accuracy",
        ] {
            assert!(row.get(key).is_some(), "row lacks `{key}`: {row}");
        }
        assert_eq!(row["params"], params);
        assert_eq!(row["scope"], "layer");
        assert_eq!(row["prune_percent"], percent);
        assert_eq!(row["total_weights"], total);
        let masks = ranking.masks(percent).unwrap();
        assert_eq!(row["kept_weights"], masks.kept);
        loaded
            .network
            .set_keep_masks((percent > 0.0).then_some(masks.masks))
            .unwrap();
        let expected =
            training::accuracy(&loaded.network, &mnist.test_images, &mnist.test_labels).unwrap();
        assert_eq!(
            row["accuracy"].as_f64().unwrap(),
            expected,
            "accuracy at {percent}%"
        );
    }
    assert_eq!(
        rows[0]["accuracy"],
        config["training"]["final_test_accuracy"]
    );

    let csv = ok(&[
        "eval",
        run.to_str().unwrap(),
        "--prune",
        "0,99",
        "--format",
        "csv",
        "--scope",
        "global",
        "--test-limit",
        "500",
        "--device",
        "cpu",
    ]);
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.starts_with(
        "checkpoint,revision,model,params,stored_percent,further_percent,prune_percent,scope,rank,compensated_on,kept_weights,total_weights,accuracy"
    ));
    let table = ok(&[
        "eval",
        run.to_str().unwrap(),
        "--test-limit",
        "500",
        "--device",
        "cpu",
    ]);
    assert!(
        table.starts_with("| checkpoint | revision | model |"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "header, rule, one row: {table}");
}

#[test]
fn same_seed_gives_a_bit_identical_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    train_tiny(&a, "5");
    train_tiny(&b, "5");
    train_tiny(&c, "6");
    let read = |p: &Path| std::fs::read(p.join("model.safetensors")).unwrap();
    assert!(read(&a) == read(&b), "same seed, different checkpoints");
    assert!(read(&a) != read(&c), "different seeds, same checkpoint");
    assert_eq!(
        std::fs::read(a.join("config.json")).unwrap(),
        std::fs::read(b.join("config.json")).unwrap()
    );
    // The spiking kernels split their work deterministically too.
    let (d, e) = (dir.path().join("d"), dir.path().join("e"));
    train_tiny_kind(&d, "5", "snn3d-relaxed");
    train_tiny_kind(&e, "5", "snn3d-relaxed");
    assert!(
        read(&d) == read(&e),
        "snn3d-relaxed: same seed, different checkpoints"
    );
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let o = out.to_str().unwrap();
    assert!(failure(&["train", "--model", "cnn", "--out", o]).contains("unknown model kind"));
    assert!(
        failure(&["train", "--model", "mlp", "--hidden", "14,0", "--out", o]).contains("positive")
    );
    assert!(
        failure(&["train", "--model", "mlp3d", "--dim", "1", "--out", o]).contains("dimension")
    );
    assert!(failure(&["train", "--model", "mlp", "--lr", "0", "--out", o]).contains("--lr"));
    assert!(
        failure(&["eval", "/nonexistent/ckpt", "--device", "cpu"]).contains("/nonexistent/ckpt")
    );
    assert!(failure(&["eval", o, "--prune", "150"]).contains("outside [0, 100)"));
    assert!(
        failure(&["train", "--model", "mlp", "--device", "tpu", "--out", o])
            .contains("possible values: cpu, cuda, metal, auto")
    );

    let bogus = dir.path().join("bogus.safetensors");
    std::fs::write(&bogus, b"definitely not safetensors").unwrap();
    let err = failure(&["eval", bogus.to_str().unwrap(), "--device", "cpu"]);
    assert!(err.contains("bogus.safetensors"), "{err}");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = failure(&[
        "train",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--data-dir",
        empty.to_str().unwrap(),
        "--out",
        o,
    ]);
    assert!(err.contains("train-images-idx3-ubyte"), "{err}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_after_the_batch_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_neuropos"))
        .args([
            "train",
            "--model",
            "mlp3d",
            "--hidden",
            "32",
            "--epochs",
            "100000",
            "--train-limit",
            "1200",
            "--test-limit",
            "200",
            "--batch-size",
            "100",
            "--device",
            "cpu",
            "--out",
        ])
        .arg(&out)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a first checkpoint exists, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !out.join("config.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "interrupted training should exit cleanly: {stderr}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["training"]["interrupted"], true);
    let completed = config["training"]["epochs_completed"].as_u64().unwrap();
    assert!(completed < 100000);
    let lines = std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .count();
    // One line per epoch, plus the partial one when the interrupt landed mid-epoch.
    assert!(
        lines as u64 == completed || lines as u64 == completed + 1,
        "{lines} lines, {completed} epochs"
    );
    checkpoint::load(&out, DType::F32, &Device::Cpu).expect("the saved checkpoint loads");
}

#[test]
fn spiking_models_train_and_prune_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("snn");
    ok(&[
        "train",
        "--model",
        "snn3d",
        "--hidden",
        "32",
        "--epochs",
        "1",
        "--train-limit",
        "1200",
        "--test-limit",
        "300",
        "--time-steps",
        "5",
        "--beta",
        "0.9",
        "--surrogate",
        "fast-sigmoid",
        "--device",
        "cpu",
        "--out",
        run.to_str().unwrap(),
    ]);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let lif = &config["model"]["lif"];
    assert_eq!(lif["time_steps"], 5);
    assert_eq!(lif["beta"], 0.9);
    assert_eq!(lif["threshold"], 1.0);
    assert_eq!(lif["surrogate"]["kind"], "fast-sigmoid");
    assert_eq!(lif["surrogate"]["slope"], 25.0);
    assert_eq!(config["training"]["epochs_planned"], 1);

    let json = ok(&[
        "eval",
        run.to_str().unwrap(),
        "--prune",
        "0,50",
        "--format",
        "json",
        "--test-limit",
        "300",
        "--device",
        "cpu",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["kept_weights"], (784 * 32 + 32 * 10) / 2);
    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_test(300)
        .unwrap();
    let loaded = checkpoint::load(&run, DType::F32, &Device::Cpu).unwrap();
    let expected =
        training::accuracy(&loaded.network, &mnist.test_images, &mnist.test_labels).unwrap();
    assert_eq!(rows[0]["accuracy"].as_f64().unwrap(), expected);
    assert_eq!(rows[0]["model"], "snn3d 784-32-10 d=3 T=5");
}

#[test]
fn bench_prints_one_json_line() {
    let out = ok(&[
        "bench",
        "--model",
        "snn3d",
        "--hidden",
        "64",
        "--time-steps",
        "5",
        "--steps",
        "2",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        line["params"],
        (3 - 1) * (784 + 64 + 10) + (64 + 10) + (784 + 64)
    );
    assert_eq!(line["threads"], 1);
    assert!(line["ms_per_step"].as_f64().unwrap() > 0.0);
    assert!(line["samples_per_s"].as_f64().unwrap() > 0.0);
    let out = ok(&[
        "bench",
        "--model",
        "mlp",
        "--hidden",
        "14",
        "--inference",
        "--device",
        "cpu",
    ]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["weight_bytes"], 4 * (784 * 14 + 14 * 10));
    assert!(line["ms_per_10k_images"].as_f64().unwrap() > 0.0);
}

#[test]
fn fine_tuning_starts_from_the_checkpoint_and_records_its_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    train_tiny_kind(&source, "3", "mlp3d-relaxed");
    let (src, tuned) = (source.to_str().unwrap(), dir.path().join("tuned"));
    let out = tuned.to_str().unwrap();
    let eval = |path: &str| {
        let json = ok(&[
            "eval",
            path,
            "--test-limit",
            "1000",
            "--format",
            "json",
            "--device",
            "cpu",
        ]);
        let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
        rows[0]["accuracy"].as_f64().unwrap()
    };
    let before = eval(src);
    ok(&[
        "train",
        "--init-from",
        src,
        "--epochs",
        "1",
        "--lr",
        "0.002",
        "--train-limit",
        "1200",
        "--test-limit",
        "1000",
        "--seed",
        "5",
        "--device",
        "cpu",
        "--out",
        out,
    ]);
    // The first line is the loaded checkpoint scored before any fine-tuning step.
    let metrics = std::fs::read_to_string(tuned.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    assert_eq!(first["epoch"], 0);
    assert_eq!(first["test_accuracy"].as_f64().unwrap(), before);
    let info = checkpoint::read(&tuned).unwrap().info;
    assert_eq!(info.model, checkpoint::read(&source).unwrap().info.model);
    let training = info.training.unwrap();
    let lineage = training.init_from.expect("the lineage is recorded");
    assert_eq!(lineage.source, src);
    assert_eq!(lineage.initial_test_accuracy, before);
    assert_eq!(lineage.source_epochs, Some(2));
    assert_eq!((training.epochs_completed, training.lr), (1, 0.002));
    assert_ne!(
        eval(out),
        before,
        "one epoch of fine-tuning changed nothing"
    );
    // Without --epochs and --lr, fine-tuning takes its own defaults (--recipe finetune): a few
    // epochs at a low rate, not a fresh run's 300 at the paper's.
    let defaults = dir.path().join("defaults");
    ok(&[
        "train",
        "--init-from",
        src,
        "--train-limit",
        "600",
        "--test-limit",
        "300",
        "--device",
        "cpu",
        "--out",
        defaults.to_str().unwrap(),
    ]);
    let training = checkpoint::read(&defaults).unwrap().info.training.unwrap();
    assert_eq!(training.epochs_planned, 5);
    assert_eq!(training.lr, 0.0005);
    assert_eq!(
        training.preset,
        Some(neuropos_models::recipe::Preset::Finetune)
    );
    let err = failure(&[
        "train", "--model", "mlp3d", "--recipe", "finetune", "--out", out,
    ]);
    assert!(err.contains("goes with --init-from"), "{err}");

    // The checkpoint fixes the architecture: contradicting flags are errors, agreeing ones not.
    let err = failure(&[
        "train",
        "--init-from",
        src,
        "--model",
        "mlp3d",
        "--hidden",
        "64",
        "--epochs",
        "1",
        "--out",
        out,
    ]);
    assert!(
        err.contains("--model mlp3d") && err.contains("--hidden"),
        "{err}"
    );
    let err = failure(&[
        "train",
        "--init-from",
        src,
        "--time-steps",
        "9",
        "--out",
        out,
    ]);
    assert!(err.contains("not a spiking network"), "{err}");
    let err = failure(&[
        "train",
        "--init-from",
        src,
        "--coord-init",
        "3",
        "--out",
        out,
    ]);
    assert!(err.contains("come from the checkpoint"), "{err}");
    let err = failure(&["train", "--init-from", src, "--epochs", "1", "--out", src]);
    assert!(
        err.contains("is the --init-from checkpoint itself"),
        "{err}"
    );
    assert!(failure(&["train", "--epochs", "1", "--out", out]).contains("--model is required"));
}

#[test]
fn predict_classifies_image_files_like_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_test(24)
        .unwrap();
    let pixels = mnist.test_images.to_vec2::<f32>().unwrap();
    let as_bytes =
        |row: &[f32]| -> Vec<u8> { row.iter().map(|v| (v * 255.0).round() as u8).collect() };
    let mut files = Vec::new();
    for (i, row) in pixels.iter().enumerate() {
        let path = dir.path().join(format!("digit{i}.png"));
        image::GrayImage::from_raw(28, 28, as_bytes(row))
            .unwrap()
            .save(&path)
            .unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    // The first digit again, dark on light (for --invert).
    let inverted = dir.path().join("inverted.png");
    let bytes: Vec<u8> = as_bytes(&pixels[0]).iter().map(|v| 255 - v).collect();
    image::GrayImage::from_raw(28, 28, bytes)
        .unwrap()
        .save(&inverted)
        .unwrap();
    // Lossless JPEG does not exist: quality 100 keeps the class of a clear digit.
    let misnamed = dir.path().join("jpeg-really.png");
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 100)
        .encode(&as_bytes(&pixels[0]), 28, 28, image::ExtendedColorType::L8)
        .unwrap();
    std::fs::write(&misnamed, jpeg).unwrap();
    let transparent = dir.path().join("transparent.png");
    let ink: Vec<u8> = as_bytes(&pixels[0])
        .iter()
        .flat_map(|&v| [0u8, v])
        .collect();
    image::GrayAlphaImage::from_raw(28, 28, ink)
        .unwrap()
        .save(&transparent)
        .unwrap();
    for name in ["mlp3d", "snn3d"] {
        let ckpt = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("checkpoints")
            .join(name);
        let net = checkpoint::load(&ckpt, DType::F32, &Device::Cpu)
            .unwrap()
            .network;
        // The PNGs hold the pixels rounded to bytes, exactly as the IDX files do.
        let expected = net.predict(&mnist.test_images).unwrap();
        // As they are: MNIST's own images need no preparation, and the classes are eval's.
        let mut args = vec![
            "predict",
            ckpt.to_str().unwrap(),
            "--preprocess",
            "none",
            "--format",
            "json",
            "--device",
            "cpu",
        ];
        args.extend(files.iter().map(String::as_str));
        let rows: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        let got: Vec<u32> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["class"].as_u64().unwrap() as u32)
            .collect();
        assert_eq!(got, expected, "{name}");
        let scores = rows[0]["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 10);
        if name == "mlp3d" {
            let total: f64 = scores.iter().map(|s| s.as_f64().unwrap()).sum();
            assert!((total - 1.0).abs() < 1e-4, "probabilities sum to {total}");
        }
        let one = ok(&[
            "predict",
            ckpt.to_str().unwrap(),
            inverted.to_str().unwrap(),
            "--invert",
            "--preprocess",
            "none",
            "--format",
            "json",
            "--device",
            "cpu",
        ]);
        let one: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(
            one[0]["class"].as_u64().unwrap() as u32,
            expected[0],
            "{name} --invert"
        );
        // The same digits as a JPEG named .png (read by its bytes), and as black ink on a
        // transparent background (composited onto white, then --invert): the same classes.
        // Both failed before: the name decided the format, and dropping the alpha left a
        // black digit on black.
        let mut args = vec!["predict", ckpt.to_str().unwrap(), "--format", "json"];
        args.extend(["--device", "cpu", "--preprocess", "none"]);
        args.extend([misnamed.to_str().unwrap()]);
        let rows: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        assert_eq!(
            rows[0]["class"].as_u64().unwrap() as u32,
            expected[0],
            "{name} jpeg"
        );
        let mut args = vec!["predict", ckpt.to_str().unwrap(), "--format", "json"];
        args.extend(["--device", "cpu", "--preprocess", "none", "--invert"]);
        args.extend([transparent.to_str().unwrap()]);
        let rows: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        assert_eq!(
            rows[0]["class"].as_u64().unwrap() as u32,
            expected[0],
            "{name} alpha"
        );
    }
    let err = failure(&[
        "predict",
        "checkpoints/mlp3d",
        "/nonexistent.png",
        "--device",
        "cpu",
    ]);
    assert!(err.contains("/nonexistent.png"), "{err}");
}

#[test]
fn dense_export_gives_the_embedded_models_logits_through_plain_linear_layers() {
    use candle_core::Module;
    let dir = tempfile::tempdir().unwrap();
    let ckpt = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp3d");
    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_test(500)
        .unwrap();
    for prune in ["0", "50"] {
        let file = dir.path().join(format!("dense{prune}.safetensors"));
        ok(&[
            "export",
            ckpt.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
            "--prune",
            prune,
        ]);
        let mut loaded = checkpoint::load(&ckpt, DType::F32, &Device::Cpu).unwrap();
        if prune != "0" {
            let weights = loaded.network.weights().unwrap();
            let masks = MagnitudeRanking::new(&weights, PruneScope::Layer).unwrap();
            let masks = masks.masks(50.0).unwrap().masks;
            loaded.network.set_keep_masks(Some(masks)).unwrap();
        }
        let want = loaded.network.forward(&mnist.test_images).unwrap();
        // A plain candle_nn::Linear stack from the file, as a user without neuropos builds it.
        let tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
        let layer = |c: usize| {
            candle_nn::Linear::new(
                tensors[&format!("linear.{c}.weight")].clone(),
                Some(tensors[&format!("linear.{c}.bias")].clone()),
            )
        };
        assert_eq!(tensors[&"linear.0.weight".to_string()].dims(), [2048, 784]);
        let hidden = layer(0)
            .forward(&mnist.test_images)
            .unwrap()
            .relu()
            .unwrap();
        let got = layer(1).forward(&hidden).unwrap();
        let (want, got) = (
            want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in want.iter().zip(&got).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * scale,
                "prune {prune}: logit {i}: {a} vs {b}"
            );
        }
        // neuropos itself loads the export as a dense baseline, and scores it the same.
        let json = |path: &Path, prune: &str| {
            let out = ok(&[
                "eval",
                path.to_str().unwrap(),
                "--test-limit",
                "500",
                "--format",
                "json",
                "--prune",
                prune,
                "--device",
                "cpu",
            ]);
            let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
            rows
        };
        // (pruned or not, as exported: the export is scored unpruned).
        let exported = json(&file, "0");
        assert_eq!(exported[0]["model"], "mlp 784-2048-10");
        assert_eq!(exported[0]["accuracy"], json(&ckpt, prune)[0]["accuracy"]);
    }
    let err = failure(&[
        "export",
        ckpt.to_str().unwrap(),
        "--out",
        "/tmp/x.st",
        "--prune",
        "101",
    ]);
    assert!(err.contains("--prune"), "{err}");
}

#[test]
fn pruning_during_training_is_recorded_and_kept_by_eval() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pruned");
    let o = out.to_str().unwrap();
    for (kind, hidden) in [("mlp3d", "48"), ("snn", "14")] {
        ok(&[
            "train",
            "--model",
            kind,
            "--hidden",
            hidden,
            "--epochs",
            "1",
            "--train-limit",
            "1200",
            "--test-limit",
            "500",
            "--prune-during",
            "80",
            "--scope",
            "layer",
            "--device",
            "cpu",
            "--out",
            o,
        ]);
        let info = checkpoint::read(&out).unwrap().info;
        let pruning = info
            .model
            .pruning
            .expect("the checkpoint records its pruning");
        assert_eq!((pruning.percent, pruning.scope), (80.0, PruneScope::Layer));
        let eval = |extra: &[&str]| {
            let mut args = vec![
                "eval",
                o,
                "--test-limit",
                "500",
                "--format",
                "json",
                "--device",
                "cpu",
            ];
            args.extend_from_slice(extra);
            let rows: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
            rows[0].clone()
        };
        // By default eval scores the network as it was trained: pruned; the same masks as an
        // explicit --prune 80 of its weights.
        let default = eval(&[]);
        assert_eq!(default["prune_percent"], 80.0, "{kind}");
        let total = default["total_weights"].as_u64().unwrap() as f64;
        let kept = default["kept_weights"].as_u64().unwrap() as f64;
        assert!(
            (kept / total - 0.2).abs() < 0.01,
            "{kind}: kept {kept} of {total}"
        );
        let explicit = eval(&["--prune", "80"]);
        assert_eq!(default["accuracy"], explicit["accuracy"], "{kind}");
        std::fs::remove_dir_all(&out).unwrap();
    }
    let err = failure(&[
        "train",
        "--model",
        "mlp",
        "--prune-during",
        "100",
        "--out",
        o,
    ]);
    assert!(err.contains("less than 100"), "{err}");
    let err = failure(&["train", "--model", "mlp", "--scope", "global", "--out", o]);
    assert!(err.contains("--prune-during"), "{err}");
    let line = ok(&[
        "bench",
        "--model",
        "mlp3d",
        "--hidden",
        "64",
        "--steps",
        "2",
        "--prune-during",
        "80",
        "--device",
        "cpu",
    ]);
    let bench: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert!(
        bench["model"].as_str().unwrap().contains("pruned 80%"),
        "{line}"
    );
}

#[test]
fn eval_ranks_by_effective_weight_and_compensates_biases() {
    let ckpt = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp3d");
    let c = ckpt.to_str().unwrap();
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            c,
            "--prune",
            "50",
            "--test-limit",
            "1000",
            "--format",
            "json",
            "--device",
            "cpu",
        ];
        args.extend_from_slice(extra);
        let rows: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        rows[0].clone()
    };
    let paper = eval(&[]);
    let better = eval(&["--rank", "effective", "--compensate", "1000"]);
    assert_eq!(
        (paper["rank"].as_str(), paper["compensated_on"].as_u64()),
        (Some("distance"), Some(0))
    );
    assert_eq!(better["rank"], "effective");
    assert_eq!(better["compensated_on"], 1000);
    let (a, b) = (
        paper["accuracy"].as_f64().unwrap(),
        better["accuracy"].as_f64().unwrap(),
    );
    assert!(
        b > a + 0.1,
        "effective ranking with compensation {b} vs the paper's ranking {a}"
    );
    let err = failure(&["eval", c, "--compensate", "0", "--device", "cpu"]);
    assert!(err.contains("--compensate"), "{err}");
    let err = failure(&["eval", c, "--rank", "random", "--device", "cpu"]);
    assert!(
        err.contains("possible values: distance, effective"),
        "{err}"
    );
}

#[test]
fn prune_writes_a_masked_checkpoint_that_every_command_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    train_tiny(&source, "4");
    let (src, pruned) = (source.to_str().unwrap(), dir.path().join("pruned"));
    let p = pruned.to_str().unwrap();
    ok(&[
        "prune",
        src,
        "--percent",
        "60",
        "--rank",
        "effective",
        "--compensate",
        "500",
        "--finetune-epochs",
        "1",
        "--train-limit",
        "1200",
        "--test-limit",
        "500",
        "--device",
        "cpu",
        "--out",
        p,
    ]);
    let loaded = checkpoint::load(&pruned, DType::F32, &Device::Cpu).unwrap();
    let mask = loaded
        .info
        .model
        .fixed_mask
        .expect("the config records the mask");
    assert_eq!(
        (mask.percent, mask.compensated_on, mask.finetune_epochs),
        (60.0, 500, 1)
    );
    let masks = loaded.network.keep_masks().unwrap();
    let kept: f32 = masks
        .iter()
        .map(|m| m.sum_all().unwrap().to_scalar::<f32>().unwrap())
        .sum();
    let total = loaded.info.model.weight_count() as f32;
    assert!((kept / total - 0.4).abs() < 0.01, "kept {kept} of {total}");
    // eval scores it with its mask, as prune reported.
    let rows: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        p,
        "--test-limit",
        "500",
        "--format",
        "json",
        "--device",
        "cpu",
    ]))
    .unwrap();
    assert_eq!(rows[0]["prune_percent"], 60.0);
    assert_eq!(rows[0]["rank"], "effective");
    let recorded = loaded
        .info
        .training
        .as_ref()
        .unwrap()
        .final_test_accuracy
        .unwrap();
    assert_eq!(rows[0]["accuracy"].as_f64().unwrap(), recorded);
    // Fine-tuning it further keeps the mask fixed and stored.
    let tuned = dir.path().join("tuned");
    ok(&[
        "train",
        "--init-from",
        p,
        "--epochs",
        "1",
        "--train-limit",
        "600",
        "--test-limit",
        "300",
        "--device",
        "cpu",
        "--out",
        tuned.to_str().unwrap(),
    ]);
    let again = checkpoint::load(&tuned, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(again.info.model.fixed_mask, Some(mask));
    for (a, b) in again.network.keep_masks().unwrap().iter().zip(&masks) {
        assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
    }
    // A damaged mask is an error naming the file; pruning a pruned model is refused.
    let file = pruned.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let bits = tensors["prune.keep.0"].narrow(0, 0, 10).unwrap();
    tensors.insert("prune.keep.0".into(), bits);
    let metadata = {
        let bytes = std::fs::read(&file).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        header.metadata().clone()
    };
    let bytes = safetensors::serialize(&tensors, metadata).unwrap();
    std::fs::write(&file, bytes).unwrap();
    let err = failure(&["eval", p, "--device", "cpu"]);
    assert!(
        err.contains("prune.keep.0") && err.contains("bytes"),
        "{err}"
    );
    let err = failure(&[
        "prune",
        tuned.to_str().unwrap(),
        "--percent",
        "10",
        "--out",
        p,
        "--force",
    ]);
    // The tuned checkpoint removes 60 %: a lower level is refused, naming that share.
    assert!(err.contains("60.00 %"), "{err}");
}

#[test]
fn prune_neurons_writes_a_smaller_checkpoint_every_command_loads() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    train_tiny_kind(&source, "6", "snn3d");
    let smaller = dir.path().join("smaller");
    let s = smaller.to_str().unwrap();
    ok(&[
        "prune",
        source.to_str().unwrap(),
        "--neurons",
        "25",
        "--neuron-score",
        "variance",
        "--compensate",
        "300",
        "--train-limit",
        "600",
        "--test-limit",
        "300",
        "--device",
        "cpu",
        "--out",
        s,
    ]);
    let info = checkpoint::read(&smaller).unwrap().info;
    assert_eq!(info.model.layers, vec![784, 36, 10]);
    assert_eq!(info.params, info.model.parameter_count());
    assert!(info.model.fixed_mask.is_none());
    let rows: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        s,
        "--test-limit",
        "300",
        "--format",
        "json",
        "--device",
        "cpu",
    ]))
    .unwrap();
    assert_eq!(rows[0]["model"], "snn3d 784-36-10 d=3 T=25");
    let err = failure(&["prune", s, "--percent", "10", "--neurons", "10", "--out", s]);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// One meaning for a checkpoint that prunes itself, in every command: the model as stored; a
/// level is the share of all weights removed, its own ones first, pruned further among the kept
/// ones; a lower level is refused naming the stored share; compensation covers only the newly
/// removed. Each assertion below failed before (eval re-ranked with the mask installed and
/// printed a 90 %-kept model as "10 % pruned"; `--prune 0` dropped the mask but kept the
/// compensated biases; export wrote `prune_percent 0`; prune refused a pruned checkpoint).
#[test]
fn pruned_checkpoints_are_pruned_further_by_every_command() {
    let zoo = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp3d");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (p80, p50c, p90) = (path("p80"), path("p50c"), path("p90"));
    let common = ["--test-limit", "300", "--device", "cpu"];
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&common);
        ok(&all)
    };
    let fail = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&common);
        failure(&all)
    };
    let rows = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["eval"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        serde_json::from_str(&run(&all)).unwrap()
    };
    let zoo = zoo.to_str().unwrap();
    run(&["prune", zoo, "--percent", "80", "--out", &p80]);
    let total = 784 * 2048 + 2048 * 10;
    let kept_at = |p: f64| {
        total
            - neuropos_models::prune::removed_count(784 * 2048, p)
            - neuropos_models::prune::removed_count(2048 * 10, p)
    };

    // As stored, and the same at its own share.
    let stored = &rows(&[&p80])[0];
    assert_eq!(
        (
            stored["stored_percent"].as_f64(),
            stored["prune_percent"].as_f64()
        ),
        (Some(80.0), Some(80.0))
    );
    assert_eq!(stored["kept_weights"], kept_at(80.0));
    let same = &rows(&[&p80, "--prune", "80"])[0];
    assert_eq!(same["accuracy"], stored["accuracy"]);
    assert_eq!(same["further_percent"], 0.0);

    // Below the stored share: refused, naming it.
    let err = fail(&["eval", &p80, "--prune", "10"]);
    assert!(err.contains("80.00 %") && err.contains("at least"), "{err}");
    let refused = path("refused");
    let err = fail(&["prune", &p80, "--percent", "50", "--out", &refused]);
    assert!(err.contains("80.00 %"), "{err}");
    assert!(
        !Path::new(&refused).exists(),
        "a refused prune wrote its --out"
    );

    // Further: 90 % of all weights by either ranking, the stored 80 % among them.
    let by = |rank: &str| rows(&[&p80, "--prune", "90", "--rank", rank])[0].clone();
    for rank in ["distance", "effective"] {
        let r = by(rank);
        assert_eq!(r["stored_percent"], 80.0);
        assert_eq!(r["further_percent"], 10.0);
        assert_eq!(r["rank"], rank);
        assert_eq!(r["kept_weights"], kept_at(90.0), "{rank}");
    }

    // Iterative pruning: prune of a pruned checkpoint removes a superset of its mask; the two
    // rankings choose different weights.
    run(&["prune", &p80, "--percent", "90", "--out", &p90]);
    let p90e = path("p90e");
    run(&[
        "prune",
        &p80,
        "--percent",
        "90",
        "--rank",
        "effective",
        "--out",
        &p90e,
    ]);
    let masks = |p: &str| {
        checkpoint::load(Path::new(p), DType::F32, &Device::Cpu)
            .unwrap()
            .network
            .keep_masks()
            .unwrap()
            .iter()
            .map(|m| m.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect::<Vec<_>>()
    };
    let (m80, m90, m90e) = (masks(&p80), masks(&p90), masks(&p90e));
    let kept = |m: &[Vec<f32>]| m.iter().flatten().filter(|&&v| v != 0.0).count();
    assert_eq!(kept(&m90), kept_at(90.0));
    for (a, b) in m80.iter().flatten().zip(m90.iter().flatten()) {
        assert!(
            *b <= *a,
            "the 90 % mask keeps a weight the 80 % one removed"
        );
    }
    assert_ne!(
        m90, m90e,
        "distance and effective rankings chose the same weights"
    );
    let info = checkpoint::read(Path::new(&p90)).unwrap().info;
    assert_eq!(info.model.fixed_mask.unwrap().percent, 90.0);
    assert_eq!(rows(&[&p90])[0]["kept_weights"], kept_at(90.0));

    // Compensated: the stored biases stay with the stored mask; no level drops the mask.
    run(&[
        "prune",
        zoo,
        "--percent",
        "50",
        "--compensate",
        "2000",
        "--out",
        &p50c,
    ]);
    let err = fail(&["eval", &p50c, "--prune", "0"]);
    assert!(err.contains("50.00 %"), "{err}");
    let own = &rows(&[&p50c])[0];
    assert_eq!(own["compensated_on"], 2000);
    let again = &rows(&[&p50c, "--prune", "50", "--compensate", "1000"])[0];
    assert_eq!(again["accuracy"], own["accuracy"]);
    assert_eq!(
        again["compensated_on"], 0,
        "nothing newly removed, nothing compensated"
    );

    // Export writes what it exports.
    let out = path("p80.safetensors");
    ok(&["export", &p80, "--out", &out]);
    let bytes = std::fs::read(&out).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&header.metadata().as_ref().unwrap()["neuropos-export"]).unwrap();
    assert_eq!(meta["prune_percent"], 80.0);
    assert_eq!(meta["kept_weights"], kept_at(80.0));
    assert_eq!(meta["stored_pruning"]["percent"], 80.0);
    let tensors = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
    let nonzero: usize = (0..2)
        .map(|c| {
            tensors[&format!("linear.{c}.weight")]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .filter(|&&v| v != 0.0)
                .count()
        })
        .sum();
    assert_eq!(nonzero, kept_at(80.0));
    let err = failure(&["export", &p80, "--prune", "50", "--out", &out]);
    assert!(err.contains("80.00 %"), "{err}");
}

/// A command that fails leaves what it was pointed at as it was, and `--force` replaces all of
/// a directory, never part of it. Each case failed before: `train --force` removed the old
/// run's state before checking the rest; `prune --force` into a run left its run.json (a later
/// `--resume` overwrote the pruned model); `pull` kept an old config.json, and copied the
/// sibling of the file it validated; `export` replaced the checkpoint it read; `prune` created
/// its metrics.jsonl before failing; export's bytes changed from run to run.
#[test]
fn failing_commands_leave_what_they_were_pointed_at() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let run = path("run");
    let interrupted: Vec<&str> = "train --model mlp3d --hidden 16 --train-limit 1200 \
        --batch-size 100 --test-limit 100 --epochs 3 --device cpu --debug-stop-after 12 --out"
        .split_whitespace()
        .collect();
    let mut args = interrupted.clone();
    args.push(&run);
    ok(&args);
    let snapshot = |d: &str| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap_or_default(),
                )
            })
            .filter(|(n, _)| !n.starts_with(".lock"))
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&run);
    assert!(
        before.iter().any(|(n, _)| n == "run.json"),
        "an interrupted run"
    );
    for bad in [
        &["--data-dir", "/nonexistent"][..],
        &["--val-split", "60000"],
        &["--train-limit", "100"],
        &["--device", "cuda"],
    ] {
        let mut args = vec!["train", "--model", "mlp3d", "--hidden", "16", "--out", &run];
        args.extend_from_slice(&["--force", "--epochs", "1", "--device", "cpu"]);
        args.extend_from_slice(bad);
        failure(&args);
        assert_eq!(
            snapshot(&run),
            before,
            "train --force {bad:?} changed the run"
        );
    }
    // prune --force into the interrupted run replaces all of it.
    let zoo = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp-h14");
    let zoo = zoo.to_str().unwrap();
    let prune = |extra: &[&str]| {
        let mut args = vec!["prune", zoo, "--percent", "50", "--test-limit", "200"];
        args.extend_from_slice(&["--device", "cpu", "--out", &run, "--force"]);
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    failure(&prune(&["--compensate", "999999"]));
    assert_eq!(snapshot(&run), before, "a failed prune changed --out");
    ok(&prune(&[]));
    let names: Vec<String> = snapshot(&run).into_iter().map(|(n, _)| n).collect();
    assert!(
        !names.contains(&"run.json".to_string())
            && !names.contains(&"optimizer.safetensors".to_string()),
        "{names:?}"
    );
    let err = failure(&["train", "--resume", &run]);
    assert!(err.contains("run.json"), "{err}");

    // pull copies what it validated, and the pair as one.
    let dest = path("dest");
    ok(&["pull", zoo, "--out", &dest]);
    let lone = path("lone");
    std::fs::create_dir_all(&lone).unwrap();
    let embedded = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp3d");
    std::fs::copy(
        embedded.join("model.safetensors"),
        format!("{lone}/model.safetensors"),
    )
    .unwrap();
    ok(&["pull", &lone, "--out", &dest, "--force"]);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dest}/config.json")).unwrap()).unwrap();
    assert_eq!(
        config["model"]["kind"], "mlp3d",
        "the old config.json stayed"
    );
    let dense = path("dense.safetensors");
    ok(&["export", zoo, "--out", &dense]);
    std::fs::copy(
        embedded.join("model.safetensors"),
        path("model.safetensors"),
    )
    .unwrap();
    ok(&["pull", &dense, "--out", &dest, "--force"]);
    assert_eq!(
        std::fs::read(format!("{dest}/model.safetensors")).unwrap(),
        std::fs::read(&dense).unwrap(),
        "pull copied a sibling of the file it validated"
    );

    // Nor prune or pull into the directory they read.
    for args in [
        vec![
            "prune",
            &dest,
            "--percent",
            "50",
            "--out",
            &dest,
            "--force",
            "--device",
            "cpu",
        ],
        vec!["pull", &dest, "--out", &dest, "--force"],
    ] {
        let before = snapshot(&dest);
        let err = failure(&args);
        assert!(err.contains("the checkpoint being read"), "{err}");
        assert_eq!(snapshot(&dest), before);
    }
    // export: never over its own input, never through a symlink; the same bytes every time.
    let src = path("src");
    ok(&["pull", zoo, "--out", &src]);
    let model = format!("{src}/model.safetensors");
    let original = std::fs::read(&model).unwrap();
    let err = failure(&["export", &src, "--out", &model]);
    assert!(err.contains("being exported"), "{err}");
    assert_eq!(std::fs::read(&model).unwrap(), original);
    let link = path("link.safetensors");
    std::os::unix::fs::symlink(&model, &link).unwrap();
    let err = failure(&["export", zoo, "--out", &link]);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&model).unwrap(), original);
    // Figures too (plotters writes to the path it is given).
    let picture = path("picture.png");
    std::os::unix::fs::symlink(&model, &picture).unwrap();
    let embedded = embedded.to_str().unwrap();
    let err = failure(&["viz", embedded, "--out", &picture]);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&model).unwrap(), original);
    let again = path("again.safetensors");
    ok(&["export", zoo, "--out", &again]);
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&dense).unwrap()
    );
}

/// A digit as a user photographs or draws it — dark ink on white, large, off-centre — is
/// prepared as MNIST's digits were (inverted, the ink's box scaled to 20×20, centred by mass)
/// and read right; `predict` says what it did. The same image as it is reads wrong.
#[test]
fn predict_prepares_a_user_digit_as_mnist_did() {
    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_test(4)
        .unwrap();
    let pixels = mnist.test_images.to_vec2::<f32>().unwrap();
    let labels = mnist.test_labels.to_vec1::<u32>().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (k, image) in pixels.iter().enumerate() {
        // Five times larger, ink black on a light grey page, in the lower right of 240×200.
        let page = image::GrayImage::from_fn(240, 200, |x, y| {
            let (u, v) = (x as i64 - 90, y as i64 - 50);
            let ink = if (0..140).contains(&u) && (0..140).contains(&v) {
                image[(v / 5 * 28 + u / 5) as usize]
            } else {
                0.0
            };
            image::Luma([(230.0 - 200.0 * ink).round() as u8])
        });
        let file = dir.path().join(format!("page{k}.png"));
        page.save(&file).unwrap();
        files.push(file);
    }
    let ckpt = concat!(env!("CARGO_MANIFEST_DIR"), "/checkpoints/mlp3d");
    let mut args = vec![
        "predict", ckpt, "--format", "json", "--device", "cpu", "--top", "2",
    ];
    args.push(dir.path().to_str().unwrap());
    let rows: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    let got: Vec<u32> = (0..4)
        .map(|k| rows[k]["class"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(got, labels, "{rows:#}");
    let prepared = rows[0]["prepared"].to_string();
    assert!(
        prepared.contains("inverted (light background)") && prepared.contains("scaled to"),
        "{prepared}"
    );
    assert_eq!(rows[0]["top"].as_array().unwrap().len(), 2);
    // As it is, the large dark-on-light page is not what the network learned.
    let mut args = vec!["predict", ckpt, "--format", "json", "--device", "cpu"];
    args.extend(["--preprocess", "none", "--invert=no"]);
    args.push(dir.path().to_str().unwrap());
    let raw: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    let raw: Vec<u32> = (0..4)
        .map(|k| raw[k]["class"].as_u64().unwrap() as u32)
        .collect();
    assert_ne!(raw, labels);
}

//! `export --format c`: every kind — embedded and dense MLPs and SNNs, pruned during training
//! and by a stored mask — at each precision, compiled with the system C compiler
//! (`-std=c99 -Wall -Wextra -Werror`) and run on all 10,000 MNIST test images. Its classes
//! agree with the network's own at the same precision (`eval --precision`) on at least 99.9 %
//! of the images, and its accuracy is within 0.0005. Skipped, saying so, only where no C
//! compiler exists.

mod support;
use candle_core::{DType, Device};
use neuropos_models::precision::{round_to, Precision};
use neuropos_models::{checkpoint, data, training};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{failure, ok};

fn compiler() -> Option<&'static str> {
    ["cc", "gcc", "clang"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// gcc and clang where installed, but the one `cc` names; `NEUROPOS_REQUIRE_CLANG` (set by
/// `.ci/run`, which installs it) makes a missing clang an error rather than a skip.
fn other_compilers(cc: &str) -> Vec<&'static str> {
    let found = |c: &str| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let version = |c: &str| {
        Command::new(c)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    if std::env::var_os("NEUROPOS_REQUIRE_CLANG").is_some() {
        assert!(
            found("clang"),
            "NEUROPOS_REQUIRE_CLANG is set but clang is not installed"
        );
    }
    let mine = version(cc);
    ["gcc", "clang"]
        .into_iter()
        .filter(|c| found(c) && version(c) != mine)
        .collect()
}

/// The test images as a raw IDX file, and the data.
fn idx_file(dir: &Path) -> (PathBuf, data::Dataset) {
    let mnist = data::load_dir(&data::default_dir(), true).unwrap();
    let pixels: Vec<u8> = mnist
        .test_images
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|p| (p * 255.0).round() as u8)
        .collect();
    let n = mnist.test_labels.dim(0).unwrap();
    let mut bytes = Vec::new();
    for v in [2051u32, n as u32, 28, 28] {
        bytes.extend(v.to_be_bytes());
    }
    bytes.extend(pixels);
    let file = dir.join("images-idx3-ubyte");
    std::fs::write(&file, bytes).unwrap();
    (file, mnist)
}

fn zoo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("checkpoints")
        .join(name)
}

/// Exports `ckpt` at `precision` into `out`, compiles it and returns the classes it prints.
fn classes_from_c(cc: &str, ckpt: &Path, precision: &str, out: &Path, images: &Path) -> Vec<u32> {
    ok(&[
        "export",
        ckpt.to_str().unwrap(),
        "--format",
        "c",
        "--precision",
        precision,
        "--out",
        out.to_str().unwrap(),
    ]);
    let built = Command::new(cc)
        .current_dir(out)
        .args([
            "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-o", "predict",
        ])
        .args(["example.c", "neuropos_model.c", "-lm"])
        .output()
        .unwrap();
    let name = ckpt.display();
    assert!(
        built.status.success(),
        "{name} {precision}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    // Warning-free under the other compilers too (`.ci/run` installs clang).
    for other in other_compilers(cc) {
        for file in ["neuropos_model.c", "example.c"] {
            let checked = Command::new(other)
                .current_dir(out)
                .args(["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-c", "-o"])
                .arg(out.join(format!("{other}.o")))
                .arg(file)
                .output()
                .unwrap();
            assert!(
                checked.status.success(),
                "{name} {precision}, {other} {file}: {}",
                String::from_utf8_lossy(&checked.stderr)
            );
        }
    }
    let run = Command::new(out.join("predict"))
        .arg(images)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn every_kind_runs_in_c_as_in_candle() {
    let Some(cc) = compiler() else {
        eprintln!("skipped: no C compiler (cc, gcc or clang) on this machine");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (images, mnist) = idx_file(tmp.path());
    let labels = mnist.test_labels.to_vec1::<u32>().unwrap();
    // A stored mask: the shipped 3D MLP pruned by distance, biases compensated.
    let masked = tmp.path().join("mlp3d-p60");
    ok(&[
        "prune",
        zoo("mlp3d").to_str().unwrap(),
        "--percent",
        "60",
        "--compensate",
        "600",
        "--out",
        masked.to_str().unwrap(),
    ]);
    let mut cases: Vec<(PathBuf, &str)> = [
        ("mlp3d", "f32"),
        ("mlp3d", "f16"),
        ("mlp3d", "int8"),
        ("mlp3d-gaps", "int8"),
        ("mlp3d-relaxed", "f32"),
        ("mlp5d", "f16"),
        ("mlp3d-pd80", "f32"),
        ("mlp3d-pd80", "int8"),
        ("mlp-h14", "f32"),
        ("mlp-h14", "int8"),
        ("snn3d", "f32"),
        ("snn3d", "int8"),
        ("snn3d-gaps", "f16"),
        ("snn-h14", "f32"),
    ]
    .into_iter()
    .map(|(n, p)| (zoo(n), p))
    .collect();
    cases.push((masked, "f32"));
    // A learned weight scale (beyond the paper) rides on the masks in C as in Candle.
    for (kind, name) in [("mlp3d", "mlp3d-scaled"), ("snn3d", "snn3d-scaled")] {
        let dir = tmp.path().join(name);
        ok(&[
            "train",
            "--model",
            kind,
            "--hidden",
            "96",
            "--weight-scale",
            "learned",
            "--epochs",
            "2",
            "--lr",
            "0.02",
            "--train-limit",
            "3000",
            "--test-limit",
            "100",
            "--out",
            dir.to_str().unwrap(),
        ]);
        // Scales far from their start, so that C leaving one out cannot agree by chance.
        let loaded = checkpoint::load(&dir, DType::F32, &Device::Cpu).unwrap();
        for (l, s) in [(0, 1.8f32), (1, 0.55)] {
            let data = loaded.vars.data().lock().unwrap();
            let var = &data[&format!("layers.{l}.scale")];
            var.set(&candle_core::Tensor::new(&[s], &Device::Cpu).unwrap())
                .unwrap();
        }
        checkpoint::save(&dir, &loaded.vars, &loaded.info).unwrap();
        cases.push((dir.clone(), "f32"));
        cases.push((dir, "int8"));
    }
    // Pruned first layers of widths that are and are not multiples of four (the four-neuron
    // pass and the single one), spiking and not, and one too narrow for a four-neuron pass;
    // the latency input code (each pixel's step written out as bounds) on embedded SNNs,
    // unpruned and pruned, and on the dense one.
    for (kind, hidden, name, extra) in [
        (
            "snn3d",
            "30",
            "snn3d-h30-pd50",
            &["--prune-during", "50"][..],
        ),
        ("mlp3d", "2", "mlp3d-h2-pd50", &["--prune-during", "50"][..]),
        (
            "snn3d",
            "30",
            "snn3d-latency",
            &["--encoder", "latency"][..],
        ),
        (
            "snn3d",
            "30",
            "snn3d-latency-pd50",
            &["--encoder", "latency:0.05:linear", "--prune-during", "50"][..],
        ),
        ("snn", "30", "snn-latency", &["--encoder", "latency"][..]),
    ] {
        let dir = tmp.path().join(name);
        let mut args = vec![
            "train",
            "--model",
            kind,
            "--hidden",
            hidden,
            "--epochs",
            "1",
            "--train-limit",
            "2000",
            "--test-limit",
            "100",
            "--out",
            dir.to_str().unwrap(),
        ];
        args.extend(extra);
        ok(&args);
        cases.push((dir, "f32"));
    }
    // Two at a time: the C programs and the networks' own predictions are the slow part.
    std::thread::scope(|scope| {
        for pair in cases.chunks(cases.len().div_ceil(2)) {
            let (images, mnist, labels, tmp) = (&images, &mnist, &labels, tmp.path());
            scope.spawn(move || {
                for (ckpt, precision) in pair {
                    let name = ckpt.file_name().unwrap().to_string_lossy().into_owned();
                    let out = tmp.join(format!("{name}-{precision}"));
                    let from_c = classes_from_c(cc, ckpt, precision, &out, images);
                    let mut loaded = checkpoint::load(ckpt, DType::F32, &Device::Cpu).unwrap();
                    round_to(&mut loaded, precision.parse::<Precision>().unwrap()).unwrap();
                    let own = training::predict(&loaded.network, &mnist.test_images, 1000).unwrap();
                    assert_eq!(from_c.len(), own.len(), "{name} {precision}");
                    let agree = from_c.iter().zip(&own).filter(|(a, b)| a == b).count();
                    assert!(
                        agree * 1000 >= own.len() * 999,
                        "{name} {precision}: {agree} of {} agree",
                        own.len()
                    );
                    let acc = |p: &[u32]| {
                        p.iter().zip(labels).filter(|(a, b)| a == b).count() as f64
                            / labels.len() as f64
                    };
                    assert!(
                        (acc(&from_c) - acc(&own)).abs() <= 0.0005,
                        "{name} {precision}: {} in C, {} in Candle",
                        acc(&from_c),
                        acc(&own)
                    );
                }
            });
        }
    });
}

#[test]
fn what_the_c_export_cannot_write_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // A mask ranked by the effective weight is not a distance threshold.
    let effective = tmp.path().join("effective");
    ok(&[
        "prune",
        zoo("mlp3d").to_str().unwrap(),
        "--percent",
        "60",
        "--rank",
        "effective",
        "--out",
        effective.to_str().unwrap(),
    ]);
    let out = tmp.path().join("c");
    let err = failure(&[
        "export",
        effective.to_str().unwrap(),
        "--format",
        "c",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(err.contains("not a distance threshold"), "{err}");
    assert!(!out.exists(), "nothing written");
    // The rate code's spikes come from a random stream.
    let rate = tmp.path().join("rate");
    ok(&[
        "train",
        "--model",
        "snn3d",
        "--hidden",
        "8",
        "--encoder",
        "rate",
        "--epochs",
        "1",
        "--train-limit",
        "600",
        "--test-limit",
        "100",
        "--out",
        rate.to_str().unwrap(),
    ]);
    let err = failure(&[
        "export",
        rate.to_str().unwrap(),
        "--format",
        "c",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(err.contains("random stream"), "{err}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn nir_export_writes_spiking_networks_and_refuses_mlps() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("snn.nir");
    ok(&[
        "export",
        zoo("snn-h14-zero").to_str().unwrap(),
        "--format",
        "nir",
        "--out",
        file.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[..8], b"\x89HDF\r\n\x1a\n", "an HDF5 file");
    let mlp = tmp.path().join("mlp.nir");
    let err = failure(&[
        "export",
        zoo("mlp3d").to_str().unwrap(),
        "--format",
        "nir",
        "--out",
        mlp.to_str().unwrap(),
    ]);
    assert!(err.contains("NIR export writes spiking networks"), "{err}");
    assert!(!mlp.exists(), "nothing written");
}

//! `export --format c`: every MLP kind at every precision compiled with the system C compiler
//! (`-std=c99 -Wall -Wextra -Werror`) and run on the first 1,000 MNIST test images; its classes
//! agree with the network's own at the same precision (`eval --precision`). Skipped, saying so,
//! only where no C compiler exists.

mod support;
use candle_core::{DType, Device};
use neuropos_models::precision::{round_to, Precision};
use neuropos_models::{checkpoint, data, training};
use std::path::Path;
use std::process::Command;
use support::{failure, ok};

const IMAGES: usize = 1000;

fn compiler() -> Option<&'static str> {
    ["cc", "gcc", "clang"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The first `IMAGES` test images as a raw IDX file, and the data.
fn idx_file(dir: &Path) -> (std::path::PathBuf, data::Dataset) {
    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_test(IMAGES)
        .unwrap();
    let pixels: Vec<u8> = mnist
        .test_images
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|p| (p * 255.0).round() as u8)
        .collect();
    let mut bytes = Vec::new();
    for v in [2051u32, IMAGES as u32, 28, 28] {
        bytes.extend(v.to_be_bytes());
    }
    bytes.extend(pixels);
    let file = dir.join("images-idx3-ubyte");
    std::fs::write(&file, bytes).unwrap();
    (file, mnist)
}

#[test]
fn every_mlp_kind_runs_in_c_as_in_candle() {
    let Some(cc) = compiler() else {
        eprintln!("skipped: no C compiler (cc, gcc or clang) on this machine");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (images, mnist) = idx_file(tmp.path());
    let labels = mnist.test_labels.to_vec1::<u32>().unwrap();
    for (name, precision) in [
        ("mlp3d", "f32"),
        ("mlp3d", "f16"),
        ("mlp3d", "int8"),
        ("mlp3d-gaps", "int8"),
        ("mlp3d-relaxed", "f32"),
        ("mlp5d", "f16"),
        ("mlp-h14", "f32"),
        ("mlp-h14", "int8"),
    ] {
        let ckpt = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("checkpoints")
            .join(name);
        let out = tmp.path().join(format!("{name}-{precision}"));
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
        let program = out.join("predict");
        let built = Command::new(cc)
            .current_dir(&out)
            .args([
                "-std=c99",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-o",
                "predict",
                "example.c",
                "neuropos_model.c",
                "-lm",
            ])
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{name} {precision}: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let run = Command::new(&program).arg(&images).output().unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let from_c: Vec<u32> = String::from_utf8(run.stdout)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        // The network's own classes with its numbers rounded the same way.
        let mut loaded = checkpoint::load(&ckpt, DType::F32, &Device::Cpu).unwrap();
        round_to(&mut loaded, precision.parse::<Precision>().unwrap()).unwrap();
        let own = training::predict(&loaded.network, &mnist.test_images, 1000).unwrap();
        let agree = from_c.iter().zip(&own).filter(|(a, b)| a == b).count();
        assert_eq!(from_c.len(), IMAGES);
        assert!(
            agree * 1000 >= IMAGES * 999,
            "{name} {precision}: {agree} of {IMAGES} agree"
        );
        let acc = |p: &[u32]| {
            p.iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / IMAGES as f64
        };
        assert!(
            (acc(&from_c) - acc(&own)).abs() <= 0.0005,
            "{name} {precision}"
        );
    }
}

#[test]
fn what_the_c_export_does_not_write_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, expect) in [("snn3d", "spiking networks"), ("mlp3d-pd80", "pruned")] {
        let ckpt = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("checkpoints")
            .join(name);
        let out = tmp.path().join(name);
        let err = failure(&[
            "export",
            ckpt.to_str().unwrap(),
            "--format",
            "c",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(err.contains(expect), "{name}: {err}");
        assert!(!out.exists(), "{name}: nothing written");
    }
}

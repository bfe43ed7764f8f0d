//! Data beyond MNIST: a small synthetic dataset (12 × 12 images, 3 classes) written by the test as
//! IDX files and as a safetensors file of arrays, trained on, recorded in the checkpoint, scored
//! on its own data by default; other data of another shape refused; Fashion-MNIST where Debian's
//! package is installed.

mod support;
use safetensors::{Dtype, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use support::{failure, ok, ok_with_log};

const SIDE: usize = 12;
const CLASSES: usize = 3;

/// `n` images of `SIDE`², class `i % CLASSES`: a bright square in the class's third of the
/// image, plus a deterministic speckle, so a network learns it in a few steps.
fn images(n: usize, offset: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pixels = vec![0u8; n * SIDE * SIDE];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i + offset) % CLASSES;
        labels.push(class as u8);
        for y in 0..SIDE {
            for x in 0..SIDE {
                let inside = x / (SIDE / CLASSES) == class && (3..9).contains(&y);
                let speckle = ((i * 7 + x * 13 + y * 31) % 17) as u8 * 3;
                pixels[(i * SIDE + y) * SIDE + x] = if inside { 200 + speckle } else { speckle };
            }
        }
    }
    (pixels, labels)
}

fn idx(images: bool, n: usize, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if images {
        out.extend(2051u32.to_be_bytes());
        for d in [n, SIDE, SIDE] {
            out.extend((d as u32).to_be_bytes());
        }
    } else {
        out.extend(2049u32.to_be_bytes());
        out.extend((n as u32).to_be_bytes());
    }
    out.extend(payload);
    out
}

/// The dataset as a directory of the four raw IDX files.
fn write_idx(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n, offset) in [("train", 300, 0), ("t10k", 90, 1)] {
        let (x, y) = images(n, offset);
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            idx(true, n, &x),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx(false, n, &y),
        )
        .unwrap();
    }
}

/// A change to the arrays or the metadata of a dataset file before it is written.
type Edit = Box<dyn FnOnce(&mut HashMap<String, Array>, &mut HashMap<String, String>)>;

struct Array {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Array {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Labels as little-endian i64, what `torch.long` and numpy's default integers are.
fn longs(labels: &[i64]) -> Array {
    Array {
        dtype: Dtype::I64,
        shape: vec![labels.len()],
        data: labels.iter().flat_map(|l| l.to_le_bytes()).collect(),
    }
}

/// The dataset as one safetensors file: u8 images `[N, 12, 12]`, i64 labels; `edit` may change
/// the arrays or the metadata before it is written.
fn write_arrays(
    path: &Path,
    edit: impl FnOnce(&mut HashMap<String, Array>, &mut HashMap<String, String>),
) {
    let mut arrays = HashMap::new();
    for (split, n, offset) in [("train", 300, 0), ("test", 90, 1)] {
        let (x, y) = images(n, offset);
        let labels: Vec<i64> = y.iter().map(|&l| l as i64).collect();
        arrays.insert(
            format!("{split}_x"),
            Array {
                dtype: Dtype::U8,
                shape: vec![n, SIDE, SIDE],
                data: x,
            },
        );
        arrays.insert(format!("{split}_y"), longs(&labels));
    }
    let mut metadata = HashMap::from([(
        "class_names".to_string(),
        r#"["left", "middle", "right"]"#.to_string(),
    )]);
    edit(&mut arrays, &mut metadata);
    let views: Vec<(String, &Array)> = arrays.iter().map(|(k, v)| (k.clone(), v)).collect();
    safetensors::serialize_to_file(views, Some(metadata), path).unwrap();
}

fn config(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
}

fn train(data: &str, out: &Path, epochs: &str) -> String {
    let o = out.to_str().unwrap();
    ok_with_log(&[
        "train",
        "--model",
        "mlp3d",
        "--hidden",
        "32",
        "--data",
        data,
        "--epochs",
        epochs,
        "--batch-size",
        "30",
        "--lr",
        "0.02",
        "--device",
        "cpu",
        "--out",
        o,
    ])
}

/// The accuracy in the one row of `eval --format json`.
fn eval_accuracy(args: &[&str]) -> f64 {
    let rows: serde_json::Value = serde_json::from_str(&ok(args)).unwrap();
    rows[0]["accuracy"].as_f64().unwrap()
}

#[test]
fn an_idx_directory_of_another_shape_trains_and_is_remembered() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_idx(&data);
    let run = tmp.path().join("run");
    train(data.to_str().unwrap(), &run, "3");
    let c = config(&run);
    assert_eq!(c["model"]["layers"], serde_json::json!([144, 32, 3]));
    assert_eq!(
        c["model"]["input_shape"],
        serde_json::Value::Null,
        "a square needs no shape"
    );
    let record = &c["training"]["dataset"];
    assert_eq!(record["shape"], serde_json::json!([12, 12]));
    assert_eq!(record["classes"], 3);
    assert_eq!(record["source"], data.to_str().unwrap());
    assert_eq!(record["sha256"].as_str().unwrap().len(), 64);
    let trained = c["training"]["final_test_accuracy"].as_f64().unwrap();
    assert!(
        trained > 0.6,
        "3 epochs of a separable 3-class set: {trained}"
    );

    // eval without --data scores the checkpoint on its own data: the run's own number.
    let r = run.to_str().unwrap();
    let own = eval_accuracy(&["eval", r, "--format", "json", "--device", "cpu"]);
    assert_eq!(own, trained);

    // Data of another shape is refused, both ways, never scored.
    let err = failure(&["eval", r, "--data", "mnist", "--device", "cpu"]);
    assert!(
        err.contains("trained on") && err.contains("[12, 12]"),
        "{err}"
    );
    let mnist_ckpt = concat!(env!("CARGO_MANIFEST_DIR"), "/checkpoints/mlp3d");
    let err = failure(&[
        "eval",
        mnist_ckpt,
        "--data",
        data.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(
        err.contains("trained on MNIST") && err.contains("3 classes"),
        "{err}"
    );

    // The recorded data changed under the checkpoint: refused, naming both hashes.
    let (x, y) = images(90, 2);
    std::fs::write(data.join("t10k-images-idx3-ubyte"), idx(true, 90, &x)).unwrap();
    std::fs::write(data.join("t10k-labels-idx1-ubyte"), idx(false, 90, &y)).unwrap();
    let err = failure(&["eval", r, "--device", "cpu"]);
    assert!(
        err.contains("not the data") && err.contains("SHA-256"),
        "{err}"
    );
}

#[test]
fn a_safetensors_file_of_arrays_trains_with_its_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("shapes.safetensors");
    write_arrays(&file, |_, _| {});
    let run = tmp.path().join("run");
    train(file.to_str().unwrap(), &run, "2");
    let c = config(&run);
    let record = &c["training"]["dataset"];
    assert_eq!(
        record["class_names"],
        serde_json::json!(["left", "middle", "right"])
    );
    assert_eq!(c["model"]["layers"], serde_json::json!([144, 32, 3]));
    assert!(c["training"]["final_test_accuracy"].as_f64().unwrap() > 0.5);
    // Per class, with the data's names: the confusion counts every test image once.
    let r = run.to_str().unwrap();
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&["eval", r, "--per-class", "--format", "json"])).unwrap();
    let pc = &rows[0]["per_class"];
    assert_eq!(pc["names"], serde_json::json!(["left", "middle", "right"]));
    let counts: Vec<u64> = pc["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .sum()
        })
        .collect();
    assert_eq!(counts, vec![30, 30, 30]);
    let right: u64 = (0..3)
        .map(|c| pc["confusion"][c][c].as_u64().unwrap())
        .sum();
    assert_eq!(right as f64 / 90.0, rows[0]["accuracy"].as_f64().unwrap());
    let table = ok(&["eval", r, "--per-class"]);
    assert!(table.contains("| middle |"), "{table}");
    // predict reads a 12×12 image as the data's, and names the classes.
    let (x, _) = images(3, 0);
    let png = tmp.path().join("right.png");
    let right = x[2 * SIDE * SIDE..].to_vec();
    image::GrayImage::from_raw(SIDE as u32, SIDE as u32, right)
        .unwrap()
        .save(&png)
        .unwrap();
    let rows: serde_json::Value = serde_json::from_str(&ok(&[
        "predict",
        r,
        png.to_str().unwrap(),
        "--format",
        "json",
        "--device",
        "cpu",
    ]))
    .unwrap();
    assert_eq!(rows[0]["name"], "right", "{rows:#}");
    assert_eq!(rows[0]["top"][0]["name"], "right");
    let err = failure(&["predict", r, png.to_str().unwrap(), "--preprocess", "mnist"]);
    assert!(err.contains("--preprocess none"), "{err}");
    // Fine-tuning keeps the source's data unless told otherwise.
    let tuned = tmp.path().join("tuned");
    ok_with_log(&[
        "train",
        "--init-from",
        run.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "30",
        "--device",
        "cpu",
        "--out",
        tuned.to_str().unwrap(),
    ]);
    assert_eq!(config(&tuned)["training"]["dataset"], *record);
}

/// Every bad dataset gets an error naming the file and what is wrong (docs/cli.md's table).
#[test]
fn bad_datasets_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    let o = out.to_str().unwrap();
    let attempt = |path: &Path| {
        failure(&[
            "train",
            "--model",
            "mlp3d",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--data",
            path.to_str().unwrap(),
            "--device",
            "cpu",
            "--out",
            o,
        ])
    };
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "label-too-large",
            Box::new(|_, m| {
                m.insert("classes".into(), "2".into());
                m.remove("class_names");
            }),
            "expected 0 to 1 (2 classes)",
        ),
        (
            "negative",
            Box::new(|a, _| {
                a.insert("test_y".into(), longs(&[-1; 90]));
            }),
            "the label -1",
        ),
        (
            "count",
            Box::new(|a, _| {
                a.insert("train_y".into(), longs(&[0; 299]));
            }),
            "[299] for 300 images",
        ),
        (
            "empty",
            Box::new(|a, _| {
                a.insert(
                    "test_x".into(),
                    Array {
                        dtype: Dtype::U8,
                        shape: vec![0, SIDE, SIDE],
                        data: vec![],
                    },
                );
                a.insert("test_y".into(), longs(&[]));
            }),
            "has no image",
        ),
        (
            "shapes",
            Box::new(|a, _| {
                a.insert(
                    "test_x".into(),
                    Array {
                        dtype: Dtype::U8,
                        shape: vec![90, 10, 10],
                        data: vec![0; 9000],
                    },
                );
            }),
            "one image shape for both",
        ),
        (
            "missing",
            Box::new(|a, _| {
                a.remove("test_y");
            }),
            "no `test_y` array",
        ),
    ];
    for (name, edit, expect) in cases {
        let file = tmp.path().join(format!("{name}.safetensors"));
        write_arrays(&file, edit);
        let err = attempt(&file);
        assert!(
            err.contains(expect) && err.contains(&*file.to_string_lossy()),
            "{name}: {err}"
        );
    }
    let text = tmp.path().join("notes.safetensors");
    std::fs::write(&text, "not arrays").unwrap();
    assert!(attempt(&text).contains("not a safetensors file"));
    let neither = tmp.path().join("data.csv");
    std::fs::write(&neither, "1,2,3").unwrap();
    assert!(attempt(&neither).contains("not mnist, fashion-mnist"));
    let dir = tmp.path().join("idx");
    write_idx(&dir);
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(false, 89, &[0; 89])).unwrap();
    let err = attempt(&dir);
    assert!(err.contains("t10k") || err.contains("labels"), "{err}");
}

/// Fashion-MNIST from Debian's package: its class names recorded, its data used by eval.
/// `.ci/run` installs the package and sets NEUROPOS_REQUIRE_FASHION; elsewhere the test says
/// why it did not run.
#[test]
fn fashion_mnist_is_recorded_with_its_class_names() {
    let installed =
        Path::new("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists();
    if !installed {
        assert!(
            std::env::var_os("NEUROPOS_REQUIRE_FASHION").is_none(),
            "NEUROPOS_REQUIRE_FASHION is set but dataset-fashion-mnist is not installed"
        );
        eprintln!(
            "skipped: dataset-fashion-mnist is not installed (scripts/install-fashion-mnist.sh)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // One epoch of a small MLP on the first 1,200 images, the data named by `data`.
    let train_on = |data: [&str; 2], out: &Path| {
        ok_with_log(&[
            "train",
            "--model",
            "mlp",
            "--hidden",
            "16",
            data[0],
            data[1],
            "--epochs",
            "1",
            "--train-limit",
            "1200",
            "--test-limit",
            "500",
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let run = tmp.path().join("run");
    let r = run.to_str().unwrap();
    train_on(["--data", "fashion-mnist"], &run);
    let c = config(&run);
    let record = &c["training"]["dataset"];
    assert_eq!(record["source"], "fashion-mnist");
    assert_eq!(record["class_names"][9], "Ankle boot");
    let trained = c["training"]["final_test_accuracy"].as_f64().unwrap();
    let own = eval_accuracy(&[
        "eval",
        r,
        "--test-limit",
        "500",
        "--format",
        "json",
        "--device",
        "cpu",
    ]);
    assert_eq!(own, trained, "eval without --data uses Fashion-MNIST");

    // MNIST has Fashion-MNIST's shape, so --data may pick it, but the score says what it is on;
    // naming the recorded data again says nothing.
    let scored = |data: &str| {
        ok_with_log(&[
            "eval",
            r,
            "--data",
            data,
            "--test-limit",
            "500",
            "--device",
            "cpu",
        ])
    };
    let log = scored("mnist");
    assert!(
        log.contains("was trained on fashion-mnist; scoring it on vendored:data/mnist instead"),
        "{log}"
    );
    let log = scored("fashion-mnist");
    assert!(!log.contains("scoring it on"), "{log}");

    // The package's directory given as plain IDX files is recognised by its bytes: the same
    // record's hash, and the class names.
    let dir_run = tmp.path().join("dir-run");
    train_on(
        ["--data-dir", "/usr/share/datasets/fashion-mnist"],
        &dir_run,
    );
    let by_dir = &config(&dir_run)["training"]["dataset"];
    assert_eq!(by_dir["source"], "/usr/share/datasets/fashion-mnist");
    assert_eq!(by_dir["sha256"], record["sha256"]);
    assert_eq!(by_dir["class_names"], record["class_names"]);
}

//! `--data hf://datasets/owner/name[@revision]`: a dataset's parquet files from the (fake) Hub on
//! 127.0.0.1 — a small parquet file of PNG images (the Hub's Image feature: a struct of
//! `bytes` and `path`) and int64 labels, written here — trained on, the revision pinned to the
//! commit read and recorded, scored again from the cache; a parquet without the columns named.

mod fake_hub;
mod support;

use arrow_array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema};
use std::sync::Arc;
use support::command;

const SIDE: u32 = 10;

/// `n` PNG images of `SIDE`², class `i % 2`: a bright left or right half, plus speckle.
fn pngs(n: usize) -> (Vec<Vec<u8>>, Vec<i64>) {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let class = (i % 2) as u32;
        let img = image::GrayImage::from_fn(SIDE, SIDE, |x, y| {
            let lit = (x < SIDE / 2) == (class == 0);
            let speckle = ((i as u32 * 7 + x * 13 + y * 31) % 23) as u8;
            image::Luma([if lit { 200 + speckle } else { speckle }])
        });
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        images.push(png);
        labels.push(class as i64);
    }
    (images, labels)
}

/// A parquet file with the Hub's layout: `image` {bytes, path} and `label`.
fn parquet(n: usize, label_column: &str) -> Vec<u8> {
    let (images, labels) = pngs(n);
    let fields = Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ]);
    let bytes: ArrayRef = Arc::new(BinaryArray::from_iter_values(images.iter()));
    let paths: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| format!("{i}.png")),
    ));
    let image = StructArray::new(fields.clone(), vec![bytes, paths], None);
    let schema = Schema::new(vec![
        Field::new("image", DataType::Struct(fields), true),
        Field::new(label_column, DataType::Int64, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(image), Arc::new(Int64Array::from(labels))],
    )
    .unwrap();
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

fn served(bytes: Vec<u8>) -> fake_hub::Served {
    fake_hub::Served {
        bytes,
        truncated: false,
        quirk: fake_hub::Quirk::None,
    }
}

#[test]
fn a_hub_dataset_of_parquet_files_trains_and_is_pinned() {
    let mut repos = fake_hub::Repos::new();
    let repo = "datasets/lab/halves".to_string();
    repos.insert(
        (repo.clone(), "plain/train-00000-of-00001.parquet".into()),
        served(parquet(200, "label")),
    );
    repos.insert(
        (repo.clone(), "plain/test-00000-of-00001.parquet".into()),
        served(parquet(60, "label")),
    );
    repos.insert(
        (repo.clone(), "README.md".into()),
        served(b"# halves".to_vec()),
    );
    let bad = "datasets/lab/unlabelled".to_string();
    repos.insert(
        (bad.clone(), "data/train.parquet".into()),
        served(parquet(20, "target")),
    );
    repos.insert(
        (bad.clone(), "data/test.parquet".into()),
        served(parquet(20, "target")),
    );
    let mut hub = fake_hub::start(repos);
    let home = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let r = run.to_str().unwrap();
    let neuropos = |args: &[&str]| {
        command(args)
            .env("HF_ENDPOINT", format!("http://127.0.0.1:{}", hub.port))
            .env("HF_HOME", home.path())
            .env_remove("HF_TOKEN")
            .output()
            .unwrap()
    };
    let out = neuropos(&[
        "train",
        "--model",
        "mlp",
        "--hidden",
        "16",
        "--data",
        "hf://datasets/lab/halves",
        "--epochs",
        "3",
        "--batch-size",
        "20",
        "--lr",
        "0.01",
        "--device",
        "cpu",
        "--out",
        r,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let record = &config["training"]["dataset"];
    assert_eq!(
        record["source"],
        format!("hf://datasets/lab/halves@{}", fake_hub::COMMIT),
        "the revision pinned to the commit read"
    );
    assert_eq!(record["shape"], serde_json::json!([10, 10]));
    assert_eq!(record["classes"], 2);
    assert_eq!(config["model"]["layers"], serde_json::json!([100, 16, 2]));
    let trained = config["training"]["final_test_accuracy"].as_f64().unwrap();
    assert!(trained > 0.8, "two separable halves: {trained}");

    // eval finds the checkpoint's data by its pinned reference: the same number.
    let out = neuropos(&["eval", r, "--format", "json", "--device", "cpu"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["accuracy"].as_f64().unwrap(), trained);

    // A parquet without a label column is named, with the columns it has.
    let out = neuropos(&[
        "train",
        "--model",
        "mlp",
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--data",
        "hf://datasets/lab/unlabelled",
        "--device",
        "cpu",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no image column") && err.contains("target"),
        "{err}"
    );
    // A dataset that does not exist.
    let out = neuropos(&[
        "train",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--data",
        "hf://datasets/lab/none",
        "--device",
        "cpu",
        "--out",
        tmp.path().join("y").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("hf://datasets/lab/none"),
        "{err}"
    );
    hub.stop();
}

//! Datasets on the Hub, `hf://datasets/owner/name[@revision]`: the repository's parquet files
//! (their paths name the split: `…train…` and `…test…`), downloaded into the Hugging Face cache
//! like checkpoints (the revision resolved to its commit, `HF_HUB_OFFLINE` honoured), with an
//! image column (the Hub's Image feature: a struct with the encoded `bytes`, or plain bytes)
//! decoded and an integer label column.

use arrow_array::{Array, BinaryArray, LargeBinaryArray, RecordBatch, StructArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use super::client::client;
use super::{offline, HubRef};
use crate::data::Dataset;
use crate::{Error, Result};

/// The prefix of a dataset reference.
pub const DATASET_SCHEME: &str = "hf://datasets/";

/// The image column's names, in the order they are looked for.
const IMAGE_COLUMNS: [&str; 2] = ["image", "img"];
/// The label column's names.
const LABEL_COLUMNS: [&str; 2] = ["label", "labels"];

/// `hf://datasets/owner/name[@revision]` as the repository it names.
pub fn parse_dataset_ref(reference: &str) -> Result<HubRef> {
    let rest = reference
        .strip_prefix(DATASET_SCHEME)
        .ok_or_else(|| Error::Hub {
            reference: reference.to_string(),
            problem: format!("a dataset reference starts with {DATASET_SCHEME}"),
        })?;
    let parsed: HubRef = format!("{}{rest}", super::SCHEME)
        .parse()
        .map_err(|e: Error| Error::Hub {
            reference: reference.to_string(),
            problem: e.to_string(),
        })?;
    if parsed.subdir.is_some() {
        return Err(Error::Hub {
            reference: reference.to_string(),
            problem: "a dataset reference is owner/name[@revision], without a folder".into(),
        });
    }
    Ok(parsed)
}

/// Loads the dataset `reference` names: the dataset, the SHA-256 of its parquet files in order,
/// and the reference pinned to the commit that was read (what a checkpoint records).
pub fn load_dataset(reference: &str) -> Result<(Dataset, String, String)> {
    let r = parse_dataset_ref(reference)?;
    let fail = |problem: String| Error::Hub {
        reference: reference.to_string(),
        problem,
    };
    let client = client().map_err(&fail)?;
    let repo = client.dataset(r.owner.clone(), r.repo.clone());
    if offline() {
        return Err(fail(
            "HF_HUB_OFFLINE is set: listing a dataset's files needs the Hub (load it once online)"
                .into(),
        ));
    }
    let entries = repo
        .list_tree()
        .maybe_revision(r.revision.clone())
        .recursive(true)
        .send()
        .map_err(|e| fail(format!("listing the dataset's files failed: {e}")))?;
    let mut parquet: Vec<String> = entries
        .into_iter()
        .filter_map(|e| match e {
            hf_hub::repository::RepoTreeEntry::File { path, .. } if path.ends_with(".parquet") => {
                Some(path)
            }
            _ => None,
        })
        .collect();
    parquet.sort();
    let split = |name: &str| -> Vec<String> {
        parquet
            .iter()
            .filter(|p| p.split('/').any(|part| part.starts_with(name)))
            .cloned()
            .collect()
    };
    let (train, test) = (split("train"), split("test"));
    if train.is_empty() || test.is_empty() {
        return Err(fail(format!(
            "no parquet files of a train and a test split (their paths name the split); the \
             dataset has {parquet:?}"
        )));
    }
    let mut sha = Sha256::new();
    let mut commit = None;
    let mut read = |files: &[String]| -> Result<(Vec<Vec<u8>>, Vec<i64>)> {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for file in files {
            let path = repo
                .download_file()
                .filename(file.clone())
                .maybe_revision(r.revision.clone())
                .send()
                .map_err(|e| fail(format!("downloading {file} failed: {e}")))?;
            if commit.is_none() {
                commit = super::snapshot_commit(&path);
            }
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            sha.update(&bytes);
            read_parquet(&path, bytes, &mut images, &mut labels)?;
        }
        Ok((images, labels))
    };
    let (train_images, train_labels) = read(&train)?;
    let (test_images, test_labels) = read(&test)?;
    let origin = PathBuf::from(reference);
    let data = decode(
        &origin,
        [train_images, test_images],
        [train_labels, test_labels],
    )?;
    let pinned = match commit {
        Some(c) => format!("{DATASET_SCHEME}{}/{}@{c}", r.owner, r.repo),
        None => reference.to_string(),
    };
    Ok((data, crate::data::hex(&sha.finalize()), pinned))
}

/// The encoded images and the labels of one parquet file, appended.
fn read_parquet(
    path: &Path,
    bytes: Vec<u8>,
    images: &mut Vec<Vec<u8>>,
    labels: &mut Vec<i64>,
) -> Result<()> {
    let bad = |problem: String| Error::data(path, problem);
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| bad(format!("not a parquet file ({e})")))?
        .build()
        .map_err(|e| bad(format!("not a readable parquet file ({e})")))?;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| bad(format!("unreadable rows ({e})")))?;
        let column = |names: &[&str]| names.iter().find_map(|n| batch.column_by_name(n).cloned());
        let columns: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let (Some(image), Some(label)) = (column(&IMAGE_COLUMNS), column(&LABEL_COLUMNS)) else {
            return Err(bad(format!(
                "no image column ({IMAGE_COLUMNS:?}) and label column ({LABEL_COLUMNS:?}); it has \
                 {columns:?}"
            )));
        };
        // The Hub's Image feature is a struct of the encoded `bytes` and a `path`.
        let image = match image.as_any().downcast_ref::<StructArray>() {
            Some(s) => s
                .column_by_name("bytes")
                .cloned()
                .ok_or_else(|| bad("the image struct has no `bytes` field".into()))?,
            None => image,
        };
        let any = image.as_any();
        for i in 0..image.len() {
            let encoded = if let Some(b) = any.downcast_ref::<BinaryArray>() {
                b.value(i).to_vec()
            } else if let Some(b) = any.downcast_ref::<LargeBinaryArray>() {
                b.value(i).to_vec()
            } else {
                return Err(bad(format!(
                    "the image column holds {:?}, not encoded image bytes",
                    image.data_type()
                )));
            };
            images.push(encoded);
        }
        let label = arrow_cast_i64(&label)
            .map_err(|t| bad(format!("the label column holds {t}, not integers")))?;
        labels.extend(label);
    }
    Ok(())
}

/// An integer column's values as i64.
fn arrow_cast_i64(column: &std::sync::Arc<dyn Array>) -> std::result::Result<Vec<i64>, String> {
    use arrow_array::{
        Int16Array, Int32Array, Int64Array, Int8Array, UInt16Array, UInt32Array, UInt8Array,
    };
    let any = column.as_any();
    macro_rules! ints {
        ($($t:ty),*) => {
            $(if let Some(a) = any.downcast_ref::<$t>() {
                return Ok(a.values().iter().map(|&v| v as i64).collect());
            })*
        };
    }
    ints!(
        Int64Array,
        Int32Array,
        Int16Array,
        Int8Array,
        UInt32Array,
        UInt16Array,
        UInt8Array
    );
    Err(format!("{:?}", column.data_type()))
}

/// Decodes the images (one size for all; gray, or RGB when any has colour) into a dataset.
fn decode(origin: &Path, images: [Vec<Vec<u8>>; 2], labels: [Vec<i64>; 2]) -> Result<Dataset> {
    let mut decoded = Vec::new();
    let mut size = None;
    let mut colour = false;
    for split in &images {
        let mut out = Vec::with_capacity(split.len());
        for (i, bytes) in split.iter().enumerate() {
            let img = image::load_from_memory(bytes)
                .map_err(|e| Error::data(origin, format!("image {i} cannot be decoded ({e})")))?;
            let dims = (img.width(), img.height());
            if *size.get_or_insert(dims) != dims {
                return Err(Error::data(
                    origin,
                    format!(
                        "images of {}×{} and {}×{}: one size for all",
                        size.unwrap().0,
                        size.unwrap().1,
                        dims.0,
                        dims.1
                    ),
                ));
            }
            colour |= img.color().has_color();
            out.push(img);
        }
        decoded.push(out);
    }
    let (w, h) = size.unwrap_or((0, 0));
    let shape = if colour {
        vec![h as usize, w as usize, 3]
    } else {
        vec![h as usize, w as usize]
    };
    let mut tensors = Vec::new();
    for (split, split_labels) in decoded.iter().zip(&labels) {
        let pixels: Vec<f32> = split
            .iter()
            .flat_map(|img| {
                let raw = if colour {
                    img.to_rgb8().into_raw()
                } else {
                    img.to_luma8().into_raw()
                };
                raw.into_iter().map(|v| v as f32 / 255.0)
            })
            .collect();
        let n = split.len();
        let per = shape.iter().product::<usize>();
        let device = &candle_core::Device::Cpu;
        tensors.push(candle_core::Tensor::from_vec(pixels, (n, per), device)?);
        let l: Vec<u32> = split_labels
            .iter()
            .map(|&v| {
                u32::try_from(v).map_err(|_| {
                    Error::data(origin, format!("the label {v}: labels are 0 to C − 1"))
                })
            })
            .collect::<Result<_>>()?;
        tensors.push(candle_core::Tensor::new(l, device)?);
    }
    let classes = super::super::data::class_count(&[&tensors[1], &tensors[3]])?;
    let [a, b, c, d]: [candle_core::Tensor; 4] = tensors.try_into().expect("two splits");
    Dataset::checked([a, b, c, d], shape, classes, None, origin)
}

//! A dataset as one `.safetensors` file of arrays, what any numpy or PyTorch user can write with
//! one `save_file` call: `train_x` `[N, …]` (u8 pixels, or floats already scaled), `train_y` `[N]`
//! (any integer type), `test_x`, `test_y`; optional metadata `class_names` (a JSON list of
//! strings) and `classes` (a number).

use candle_core::Tensor;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use std::path::Path;

use super::Dataset;
use crate::{Error, Result};

/// The four arrays a dataset file must hold.
pub const ARRAY_KEYS: [&str; 4] = ["train_x", "train_y", "test_x", "test_y"];

/// The most a dataset file may hold: a bound on what a crafted header can make us allocate.
const MAX_FILE_BYTES: u64 = 8 << 30;

/// Reads `path`: the dataset and the SHA-256 of the file.
pub fn load_arrays(path: &Path) -> Result<(Dataset, String)> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(Error::data(
            path,
            format!("{size} bytes, over the limit of {MAX_FILE_BYTES}"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let sha = super::idx::hex(&Sha256::digest(&bytes));
    let file = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::data(
            path,
            format!("not a safetensors file of arrays ({e}); expected {ARRAY_KEYS:?}"),
        )
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::data(path, format!("not a safetensors file ({e})")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let array = |key: &str| {
        file.tensor(key).map_err(|_| {
            let found: Vec<String> = file.names().into_iter().map(String::from).collect();
            Error::data(
                path,
                format!("no `{key}` array (it holds {found:?}; expected {ARRAY_KEYS:?})"),
            )
        })
    };
    let (train_x, train_shape) = images(path, "train_x", &array("train_x")?)?;
    let (test_x, test_shape) = images(path, "test_x", &array("test_x")?)?;
    if train_shape[1..] != test_shape[1..] {
        return Err(Error::data(
            path,
            format!(
                "test_x is {test_shape:?} and train_x {train_shape:?}: one image shape for both"
            ),
        ));
    }
    let train_y = labels(path, "train_y", &array("train_y")?, train_shape[0])?;
    let test_y = labels(path, "test_y", &array("test_y")?, test_shape[0])?;
    let class_names: Option<Vec<String>> = match metadata.get("class_names") {
        None => None,
        Some(text) => Some(serde_json::from_str(text).map_err(|e| {
            Error::data(
                path,
                format!("metadata `class_names` is not a JSON list of strings: {e}"),
            )
        })?),
    };
    let largest = train_y.iter().chain(&test_y).copied().max().unwrap_or(0) as usize;
    let classes = match (metadata.get("classes"), &class_names) {
        (Some(text), _) => text.trim().parse::<usize>().map_err(|_| {
            Error::data(path, format!("metadata `classes` is `{text}`, not a count"))
        })?,
        (None, Some(names)) => names.len(),
        (None, None) => largest + 1,
    };
    let device = &candle_core::Device::Cpu;
    let tensors = [
        train_x,
        Tensor::new(train_y, device)?,
        test_x,
        Tensor::new(test_y, device)?,
    ];
    let shape = train_shape[1..].to_vec();
    Ok((
        Dataset::checked(tensors, shape, classes, class_names, path)?,
        sha,
    ))
}

/// `[N, …]` images as f32 `[N, pixels]`: bytes scaled to [0, 1], floats as stored.
fn images(
    path: &Path,
    key: &str,
    view: &safetensors::tensor::TensorView,
) -> Result<(Tensor, Vec<usize>)> {
    let shape = view.shape().to_vec();
    if shape.len() < 2 {
        return Err(Error::data(
            path,
            format!("`{key}` is {shape:?}: expected [N, …] images"),
        ));
    }
    let n = shape[0];
    let pixels: usize = shape[1..].iter().product();
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::U8 => data.iter().map(|&b| b as f32 / 255.0).collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        other => {
            return Err(Error::data(
                path,
                format!("`{key}` holds {other:?}: images are u8 pixels or f32/f64 values"),
            ))
        }
    };
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(Error::data(
            path,
            format!("`{key}` holds {bad}: values must be finite"),
        ));
    }
    let tensor = Tensor::from_vec(values, (n, pixels), &candle_core::Device::Cpu)?;
    Ok((tensor, shape))
}

/// `[N]` integer labels (any width, signed or not) as u32, none negative.
fn labels(
    path: &Path,
    key: &str,
    view: &safetensors::tensor::TensorView,
    images: usize,
) -> Result<Vec<u32>> {
    if view.shape() != [images] {
        return Err(Error::data(
            path,
            format!(
                "`{key}` is {:?} for {images} images: expected [{images}] labels",
                view.shape()
            ),
        ));
    }
    let data = view.data();
    let wide: Vec<i128> = match view.dtype() {
        Dtype::U8 => data.iter().map(|&b| b as i128).collect(),
        Dtype::I8 => data.iter().map(|&b| b as i8 as i128).collect(),
        Dtype::U16 => data
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as i128)
            .collect(),
        Dtype::I16 => data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as i128)
            .collect(),
        Dtype::U32 => data
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")) as i128)
            .collect(),
        Dtype::I32 => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4")) as i128)
            .collect(),
        Dtype::U64 => data
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8")) as i128)
            .collect(),
        Dtype::I64 => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8")) as i128)
            .collect(),
        other => {
            return Err(Error::data(
                path,
                format!("`{key}` holds {other:?}: labels are integers"),
            ))
        }
    };
    wide.into_iter()
        .map(|v| {
            u32::try_from(v).map_err(|_| {
                Error::data(
                    path,
                    format!("`{key}` holds the label {v}: labels are 0 to C − 1"),
                )
            })
        })
        .collect()
}

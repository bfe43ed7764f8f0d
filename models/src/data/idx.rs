//! IDX files (MNIST's format): a directory of the four files, gzip-compressed or raw, images of
//! any shape (`[N, H, W]` or `[N, H, W, C]` bytes) and byte labels.

use candle_core::{DType, Tensor};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::Dataset;
use crate::{Error, Result};

/// The four IDX files, without their `.gz` suffix.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

pub const CHECKSUM_FILE: &str = "SHA256SUMS";

/// The repository's vendored copy, wherever the binary is run from: `./data/mnist` if it
/// exists, else the copy beside the sources this binary was built from.
pub fn default_dir() -> PathBuf {
    let local = PathBuf::from("data/mnist");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")
    }
}

/// Where a directory's checksums come from: its own `SHA256SUMS` (of the files as stored,
/// required or optional), or a list pinned in this repository (of the decompressed bytes: a
/// distribution may recompress the `.gz` files, as Debian's `dataset-fashion-mnist` did).
pub enum Checksums<'a> {
    Listed { required: bool },
    Pinned { list: &'a str, name: &'a str },
}

/// Loads the four IDX files of `dir` (gzip-compressed `.gz` or raw), checked against the
/// checksums; returns the dataset (classes: one more than the largest label) and the SHA-256
/// of the four decompressed files in order (what a checkpoint records of its data).
pub fn load_idx_dir(dir: &Path, checksums: Checksums<'_>) -> Result<(Dataset, String)> {
    let sums_path = dir.join(CHECKSUM_FILE);
    let (sums, decompressed) = match checksums {
        Checksums::Pinned { list, name } => (Some(parse_checksums(Path::new(name), list)?), true),
        Checksums::Listed { .. } if sums_path.is_file() => {
            (Some(read_checksums(&sums_path)?), false)
        }
        Checksums::Listed { required: true } => return Err(Error::data(
            &sums_path,
            "missing: the checksum list (`sha256  filename` lines) is needed to verify the data",
        )),
        Checksums::Listed { required: false } => {
            tracing::warn!("{}: no {CHECKSUM_FILE}; data not verified", dir.display());
            (None, false)
        }
    };
    let mut parsed = Vec::with_capacity(MNIST_FILES.len());
    let mut shapes = Vec::new();
    let mut whole = Sha256::new();
    for name in MNIST_FILES {
        let gz = dir.join(format!("{name}.gz"));
        let raw = dir.join(name);
        let source = if gz.is_file() {
            gz
        } else if raw.is_file() {
            raw
        } else {
            return Err(Error::data(
                &gz,
                format!("missing: expected the IDX file {name}.gz (or uncompressed {name})"),
            ));
        };
        let bytes = std::fs::read(&source).map_err(|e| Error::io(&source, e))?;
        if let (Some(sums), false) = (&sums, decompressed) {
            verify_checksum(&source, &source, &bytes, sums, &sums_path)?;
        }
        let decoded = if source.extension().is_some_and(|e| e == "gz") {
            gunzip(&source, &bytes)?
        } else {
            bytes
        };
        if let (Some(sums), true) = (&sums, decompressed) {
            verify_checksum(&source, Path::new(name), &decoded, sums, &sums_path)?;
        }
        whole.update(&decoded);
        let (tensor, shape) = parse_idx_shaped(&source, name.contains("images"), &decoded)?;
        parsed.push(tensor);
        shapes.push((source, shape));
    }
    let (train_shape, test_shape) = (&shapes[0], &shapes[2]);
    if train_shape.1 != test_shape.1 {
        return Err(Error::data(
            &test_shape.0,
            format!(
                "images of shape {:?}, but the training images ({}) are {:?}",
                test_shape.1,
                train_shape.0.display(),
                train_shape.1
            ),
        ));
    }
    let classes = super::class_count(&[&parsed[1], &parsed[3]])?;
    let shape = train_shape.1.clone();
    let tensors: [Tensor; 4] = parsed.try_into().expect("four files");
    let data = Dataset::checked(tensors, shape, classes, None, dir)?;
    Ok((data, hex(&whole.finalize())))
}

/// Loads MNIST-shaped data from `dir` (the four IDX files, gzip-compressed or raw). With
/// `require_checksums`, `dir/SHA256SUMS` must exist and list every file; without it, a present
/// `SHA256SUMS` is still enforced.
pub fn load_dir(dir: &Path, require_checksums: bool) -> Result<Dataset> {
    let checksums = Checksums::Listed {
        required: require_checksums,
    };
    Ok(load_idx_dir(dir, checksums)?.0)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The most a gzip member may expand to (MNIST's training images are 47 MB): a bound on what a
/// crafted file can make us allocate.
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// Decompresses a gzip member of at most [`MAX_IDX_BYTES`]; `source` names it in errors.
pub fn gunzip(source: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_IDX_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::data(source, format!("not a valid gzip file: {e}")))?;
    if out.len() as u64 > MAX_IDX_BYTES {
        return Err(Error::data(
            source,
            format!("expands to more than {MAX_IDX_BYTES} bytes: not an MNIST file"),
        ));
    }
    Ok(out)
}

/// Parses one IDX file from memory (images `[N, H·W·C]` f32 = byte / 255, labels `[N]` u8),
/// checking the header against the bytes actually there before allocating. `file` names the
/// source in errors.
pub fn parse_idx(file: &Path, images: bool, bytes: &[u8]) -> Result<Tensor> {
    Ok(parse_idx_shaped(file, images, bytes)?.0)
}

/// [`parse_idx`], with the shape of one image (`[H, W]` or `[H, W, C]`; `[]` for labels).
pub fn parse_idx_shaped(file: &Path, images: bool, bytes: &[u8]) -> Result<(Tensor, Vec<usize>)> {
    let be = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let kind = if images { "image" } else { "label" };
    let found = be(0).ok_or_else(|| Error::data(file, "too short to be an IDX file"))?;
    // Unsigned bytes (type 0x08) in 1 dimension for labels, 3 or 4 for images.
    let dims = match (images, found) {
        (false, 2049) => 1,
        (true, 2051) => 3,
        (true, 2052) => 4,
        _ => {
            let expected = if images { "2051 or 2052" } else { "2049" };
            return Err(Error::data(
                file,
                format!("IDX magic number {found}, expected {expected} ({kind} file of bytes)"),
            ));
        }
    };
    let header_len = 4 + 4 * dims;
    let mut sizes = Vec::with_capacity(dims);
    for d in 0..dims {
        let size = be(4 + 4 * d).ok_or_else(|| Error::data(file, "truncated IDX header"))?;
        sizes.push(size as usize);
    }
    let count = sizes[0];
    let shape = sizes[1..].to_vec();
    if images && shape.contains(&0) {
        return Err(Error::data(
            file,
            format!("images of shape {shape:?} hold no pixel"),
        ));
    }
    let per_item = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| Error::data(file, format!("images of shape {shape:?}")))?;
    let expected = count
        .checked_mul(per_item)
        .and_then(|n| n.checked_add(header_len))
        .ok_or_else(|| Error::data(file, format!("header announces {count} items")))?;
    if bytes.len() != expected {
        return Err(Error::data(
            file,
            format!(
                "{}: header announces {count} {kind}s ({expected} bytes) but the file has {}",
                if bytes.len() < expected {
                    "truncated"
                } else {
                    "trailing bytes"
                },
                bytes.len()
            ),
        ));
    }
    let data = bytes[header_len..].to_vec();
    let device = &candle_core::Device::Cpu;
    Ok(if images {
        // candle-datasets' expression, so the pixels keep their bits.
        let t = Tensor::from_vec(data, (count, per_item), device)?.to_dtype(DType::F32)? / 255.;
        (t?, shape)
    } else {
        (Tensor::from_vec(data, count, device)?, Vec::new())
    })
}

/// Downloads MNIST with candle-datasets' Hugging Face hub loader (online users).
#[cfg(feature = "datasets")]
pub fn load_hub() -> Result<Dataset> {
    let ds = candle_datasets::vision::mnist::load()
        .map_err(|e| Error::data("hub:ylecun/mnist", format!("download failed: {e}")))?;
    let tensors = [
        ds.train_images,
        ds.train_labels,
        ds.test_images,
        ds.test_labels,
    ];
    Dataset::checked(
        tensors,
        super::MNIST_SHAPE.to_vec(),
        10,
        None,
        Path::new("hub:ylecun/mnist"),
    )
}

/// Without the `datasets` feature there is no Hub loader: an error saying so.
#[cfg(not(feature = "datasets"))]
pub fn load_hub() -> Result<Dataset> {
    Err(Error::data(
        "hub:ylecun/mnist",
        "this build of neuropos-models has no dataset loader: enable its `datasets` feature \
         (on by default), or give a directory of the IDX files",
    ))
}

fn read_checksums(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_checksums(path, &text)
}

/// `sha256  filename` lines (`sha256sum`'s output); `path` names them in errors.
fn parse_checksums(path: &Path, text: &str) -> Result<HashMap<String, String>> {
    let mut sums = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some(hash), Some(name)) if hash.len() == 64 => {
                sums.insert(
                    name.trim_start_matches('*').to_string(),
                    hash.to_lowercase(),
                );
            }
            _ => {
                return Err(Error::data(
                    path,
                    format!("line {}: expected `<64 hex digits>  <filename>`", i + 1),
                ))
            }
        }
    }
    Ok(sums)
}

/// Checks `bytes` (read from `file`) against the entry for `listed` in `sums`.
fn verify_checksum(
    file: &Path,
    listed: &Path,
    bytes: &[u8],
    sums: &HashMap<String, String>,
    sums_path: &Path,
) -> Result<()> {
    let name = listed
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let expected = sums
        .get(name)
        .ok_or_else(|| Error::data(file, format!("not listed in {}", sums_path.display())))?;
    let actual: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if &actual != expected {
        return Err(Error::data(
            file,
            format!(
                "SHA-256 mismatch: expected {expected}, got {actual} (corrupt or replaced file)"
            ),
        ));
    }
    Ok(())
}

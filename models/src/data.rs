//! MNIST: the vendored `data/mnist/*.gz` (SHA-256 checked), another directory of IDX files,
//! or candle-datasets' hub loader.

use candle_core::{DType, Tensor};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The four IDX files, without their `.gz` suffix.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

pub const CHECKSUM_FILE: &str = "SHA256SUMS";

/// Images `[N, 784]` f32 in [0, 1] and labels `[N]` u32, on the CPU.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train_images: Tensor,
    pub train_labels: Tensor,
    pub test_images: Tensor,
    pub test_labels: Tensor,
}

impl Mnist {
    /// Pixels per image: what a network's input layer must hold.
    pub fn inputs(&self) -> Result<usize> {
        Ok(self.train_images.dim(1)?)
    }

    /// The number of classes: one more than the largest label of either split.
    pub fn classes(&self) -> Result<usize> {
        class_count(&[&self.train_labels, &self.test_labels])
    }

    /// Refuses a network that does not fit this data: its input layer not the images' pixel
    /// count, or its output layer not the class count (it would score 0 or fail inside a
    /// matrix product instead).
    pub fn check_fits(&self, config: &crate::Config, source: &str) -> Result<()> {
        check_fits(config, self.inputs()?, self.classes()?, true, source)
    }
}

/// [`Mnist::check_fits`] for data seen only in part: with `exact` false (a limited split may
/// lack some classes), only labels beyond the output layer are refused.
pub fn check_fits(
    config: &crate::Config,
    inputs: usize,
    classes: usize,
    exact: bool,
    source: &str,
) -> Result<()> {
    let outputs_fit = match exact {
        true => config.output_size() == classes,
        false => config.output_size() >= classes,
    };
    if config.input_size() != inputs || !outputs_fit {
        return Err(crate::Error::Config(format!(
            "{source} ({}) takes {} inputs and gives {} classes; the data has {inputs} pixels per \
             image and {classes} classes",
            config.describe(),
            config.input_size(),
            config.output_size()
        )));
    }
    Ok(())
}

/// One more than the largest label in `labels` (0 for none).
pub fn class_count(labels: &[&Tensor]) -> Result<usize> {
    let mut count = 0;
    for l in labels {
        if l.dim(0)? > 0 {
            let max: u32 = l
                .to_device(&candle_core::Device::Cpu)?
                .to_dtype(DType::U32)?
                .max(0)?
                .to_scalar()?;
            count = count.max(max as usize + 1);
        }
    }
    Ok(count)
}

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

/// Loads MNIST from `dir`, which holds the four IDX files, gzip-compressed (`.gz`) or raw.
/// With `require_checksums`, `dir/SHA256SUMS` must exist and list every file; without it, a
/// present `SHA256SUMS` is still enforced.
pub fn load_dir(dir: &Path, require_checksums: bool) -> Result<Mnist> {
    let sums_path = dir.join(CHECKSUM_FILE);
    let sums = if sums_path.is_file() {
        Some(read_checksums(&sums_path)?)
    } else if require_checksums {
        return Err(Error::data(
            &sums_path,
            "missing: the checksum list (`sha256  filename` lines) is needed to verify the data",
        ));
    } else {
        tracing::warn!("{}: no {CHECKSUM_FILE}; data not verified", dir.display());
        None
    };

    let mut parsed = Vec::with_capacity(MNIST_FILES.len());
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
                format!("missing: expected the MNIST file {name}.gz (or uncompressed {name})"),
            ));
        };
        let bytes = std::fs::read(&source).map_err(|e| Error::io(&source, e))?;
        if let Some(sums) = &sums {
            verify_checksum(&source, &bytes, sums, &sums_path)?;
        }
        let decoded = if source.extension().is_some_and(|e| e == "gz") {
            gunzip(&source, &bytes)?
        } else {
            bytes
        };
        parsed.push(parse_idx(&source, name.contains("images"), &decoded)?);
    }
    let [train_images, train_labels, test_images, test_labels]: [Tensor; 4] =
        parsed.try_into().expect("four files");
    checked([train_images, train_labels, test_images, test_labels], dir)
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

/// Parses one IDX file from memory, as candle-datasets' MNIST reader does (images `[N, 784]`
/// f32 = byte / 255, labels `[N]` u8), but checking the header against the bytes actually
/// there before allocating: candle-datasets allocates whatever count a header claims and
/// reads only from files, which forced a 55 MB staging copy per load. `file` names the source
/// in errors.
pub fn parse_idx(file: &Path, images: bool, bytes: &[u8]) -> Result<Tensor> {
    let be = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (magic, header_len) = if images { (2051, 16) } else { (2049, 8) };
    let kind = if images { "image" } else { "label" };
    let found = be(0).ok_or_else(|| Error::data(file, "too short to be an IDX file"))?;
    if found != magic {
        return Err(Error::data(
            file,
            format!("IDX magic number {found}, expected {magic} ({kind} file)"),
        ));
    }
    let count = be(4).ok_or_else(|| Error::data(file, "truncated IDX header"))? as usize;
    let per_item = if images {
        let (Some(rows), Some(cols)) = (be(8), be(12)) else {
            return Err(Error::data(file, "truncated IDX header"));
        };
        if (rows, cols) != (28, 28) {
            return Err(Error::data(
                file,
                format!("images are {rows}×{cols}, expected 28×28"),
            ));
        }
        784
    } else {
        1
    };
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
    Ok(if images {
        // candle-datasets' expression, so the pixels keep their bits.
        (Tensor::from_vec(data, (count, 784), &candle_core::Device::Cpu)?.to_dtype(DType::F32)?
            / 255.)?
    } else {
        Tensor::from_vec(data, count, &candle_core::Device::Cpu)?
    })
}

/// Downloads MNIST with candle-datasets' Hugging Face hub loader (online users).
#[cfg(feature = "datasets")]
pub fn load_hub() -> Result<Mnist> {
    let ds = candle_datasets::vision::mnist::load()
        .map_err(|e| Error::data("hub:ylecun/mnist", format!("download failed: {e}")))?;
    let tensors = [
        ds.train_images,
        ds.train_labels,
        ds.test_images,
        ds.test_labels,
    ];
    checked(tensors, Path::new("hub:ylecun/mnist"))
}

/// Without the `datasets` feature there is no Hub loader: an error saying so.
#[cfg(not(feature = "datasets"))]
pub fn load_hub() -> Result<Mnist> {
    Err(Error::data(
        "hub:ylecun/mnist",
        "this build of neuropos-models has no dataset loader: enable its `datasets` feature \
         (on by default), or give a directory of the IDX files",
    ))
}

/// The four tensors as MNIST, checked: `[N, 784]` images and `[N]` labels 0–9 in each split.
fn checked(tensors: [Tensor; 4], origin: &Path) -> Result<Mnist> {
    let [train_images, train_labels, test_images, test_labels] = tensors;
    let mnist = Mnist {
        train_images,
        train_labels: train_labels.to_dtype(DType::U32)?,
        test_images,
        test_labels: test_labels.to_dtype(DType::U32)?,
    };
    for (images, labels, split) in [
        (&mnist.train_images, &mnist.train_labels, "train"),
        (&mnist.test_images, &mnist.test_labels, "test"),
    ] {
        let (n, pixels) = images.dims2()?;
        if pixels != 784 || labels.dims() != [n] {
            return Err(Error::data(
                origin,
                format!(
                    "{split} split has images {:?} and labels {:?}; expected [N, 784] and [N]",
                    images.dims(),
                    labels.dims()
                ),
            ));
        }
        let max_label: u32 = labels.max(0)?.to_scalar()?;
        if max_label > 9 {
            return Err(Error::data(
                origin,
                format!("{split} labels go up to {max_label}; expected digits 0–9"),
            ));
        }
    }
    Ok(mnist)
}

fn read_checksums(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
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

fn verify_checksum(
    file: &Path,
    bytes: &[u8],
    sums: &HashMap<String, String>,
    sums_path: &Path,
) -> Result<()> {
    let name = file
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

/// Checks the IDX magic number and that the payload length matches the header, so a
/// truncated or mislabelled file is reported by name before parsing.
impl Mnist {
    /// Keeps the first `n` training samples (a slice for quick runs and tests).
    pub fn limit_train(self, n: usize) -> Result<Self> {
        let (train_images, train_labels) = first(&self.train_images, &self.train_labels, n)?;
        Ok(Mnist {
            train_images,
            train_labels,
            ..self
        })
    }

    /// Splits off the last `n` training samples: `(the rest, (images, labels) held out)`.
    pub fn hold_out(self, n: usize) -> Result<(Self, (Tensor, Tensor))> {
        let total = self.train_images.dim(0)?;
        if n >= total {
            return Err(Error::Config(format!(
                "cannot hold out {n} of {total} training images for validation"
            )));
        }
        let held = (
            self.train_images.narrow(0, total - n, n)?,
            self.train_labels.narrow(0, total - n, n)?,
        );
        Ok((self.limit_train(total - n)?, held))
    }

    /// Keeps the first `n` test samples.
    pub fn limit_test(self, n: usize) -> Result<Self> {
        let (test_images, test_labels) = first(&self.test_images, &self.test_labels, n)?;
        Ok(Mnist {
            test_images,
            test_labels,
            ..self
        })
    }
}

/// Where the images come from: the vendored MNIST (SHA-256 checked), candle-datasets' Hugging
/// Face loader, or a directory of the four IDX files.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    Vendored,
    Hub,
    Dir(PathBuf),
}

impl DataSource {
    /// From what a run records: `data` (`vendored` or `hub`) unless a directory is given.
    pub fn from_names(data: &str, dir: Option<&Path>) -> Result<Self> {
        match (dir, data) {
            (Some(dir), _) => Ok(DataSource::Dir(dir.to_path_buf())),
            (None, "hub") => Ok(DataSource::Hub),
            (None, "vendored") => Ok(DataSource::Vendored),
            (None, other) => Err(Error::Run(format!(
                "unknown data source `{}`; expected vendored or hub",
                crate::error::shortened(other)
            ))),
        }
    }

    /// The images and labels, and where they came from (as a checkpoint's provenance says).
    pub fn load(&self) -> Result<(Mnist, String)> {
        let (mnist, origin) = match self {
            DataSource::Dir(dir) => (load_dir(dir, false)?, dir.display().to_string()),
            DataSource::Hub => (load_hub()?, "hub:ylecun/mnist".to_string()),
            DataSource::Vendored => {
                let dir = default_dir();
                let m = load_dir(&dir, true)
                    .map_err(|e| Error::data(&dir, format!("loading the vendored MNIST: {e}")))?;
                (m, "vendored:data/mnist".to_string())
            }
        };
        tracing::info!(
            "MNIST from {origin}: {} train, {} test images",
            mnist.train_images.dim(0)?,
            mnist.test_images.dim(0)?
        );
        Ok((mnist, origin))
    }

    /// [`DataSource::load`], cut to the first `train_limit` / `test_limit` images, on `device`.
    pub fn splits(
        &self,
        device: &candle_core::Device,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> Result<(Splits, String)> {
        check_limit("--train-limit", train_limit)?;
        check_limit("--test-limit", test_limit)?;
        let (mnist, origin) = self.load()?;
        Ok((mnist.splits(device, train_limit, test_limit)?, origin))
    }

    /// [`DataSource::splits`] with the last `val_split` training images held out first (so
    /// `train_limit` takes the first of the rest).
    pub fn splits_held_out(
        &self,
        device: &candle_core::Device,
        val_split: Option<usize>,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> Result<(HeldOutSplits, String)> {
        let Some(n) = val_split else {
            let (splits, origin) = self.splits(device, train_limit, test_limit)?;
            let validation = None;
            return Ok((HeldOutSplits { splits, validation }, origin));
        };
        check_limit("--val-split", Some(n))?;
        check_limit("--train-limit", train_limit)?;
        check_limit("--test-limit", test_limit)?;
        let (mnist, origin) = self.load()?;
        let (mnist, (val_x, val_y)) = mnist
            .hold_out(n)
            .map_err(|e| Error::Run(format!("--val-split {n}: {e}")))?;
        let splits = mnist.splits(device, train_limit, test_limit)?;
        let validation = Some((val_x.to_device(device)?, val_y.to_device(device)?));
        Ok((HeldOutSplits { splits, validation }, origin))
    }
}

/// An image limit of 0 would leave nothing to train on or score (an accuracy of 0/0).
pub fn check_limit(flag: &str, limit: Option<usize>) -> Result<()> {
    if limit == Some(0) {
        return Err(Error::Run(format!(
            "{flag} must be at least 1 (0 images leave nothing to train on or score)"
        )));
    }
    Ok(())
}

/// The four tensors on the device a command runs on.
pub struct Splits {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
}

/// [`Splits`] and the images held out for validation, if any.
pub struct HeldOutSplits {
    pub splits: Splits,
    pub validation: Option<(Tensor, Tensor)>,
}

impl Mnist {
    /// Cut to the first `train_limit` / `test_limit` images, on `device`.
    pub fn splits(
        mut self,
        device: &candle_core::Device,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> Result<Splits> {
        if let Some(n) = train_limit {
            self = self.limit_train(n)?;
        }
        if let Some(n) = test_limit {
            self = self.limit_test(n)?;
        }
        Ok(Splits {
            train_x: self.train_images.to_device(device)?,
            train_y: self.train_labels.to_device(device)?,
            test_x: self.test_images.to_device(device)?,
            test_y: self.test_labels.to_device(device)?,
        })
    }
}

fn first(images: &Tensor, labels: &Tensor, n: usize) -> Result<(Tensor, Tensor)> {
    let n = n.min(images.dim(0)?);
    Ok((images.narrow(0, 0, n)?, labels.narrow(0, 0, n)?))
}

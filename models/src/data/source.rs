//! Where a dataset comes from ([`DataSource`]) and what a checkpoint records of it
//! ([`DatasetRecord`]).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::idx::{self, Checksums};
use super::{Dataset, HeldOutSplits, Splits, MNIST_SHAPE};
use crate::{Error, Result};

/// Fashion-MNIST's classes, in label order (Zalando's names).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Where Debian's `dataset-fashion-mnist` installs the four IDX files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The SHA-256 of Fashion-MNIST's four files, decompressed: Debian recompressed the `.gz`
/// files, so their own hashes differ from upstream's while the data is the same.
const FASHION_MNIST_SUMS: &str = include_str!("../../../data/fashion-mnist.sha256");

/// The SHA-256 of those four files read as one, in load order: what a checkpoint records of
/// Fashion-MNIST, and how a plain directory of it is recognised.
const FASHION_MNIST_SHA256: &str =
    "14410854cf7a289477dcfc7df3f8ec24741e281cdcc425ede0d9a748ca630214";

/// Where the images come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// The vendored MNIST (`data/mnist`, SHA-256 checked): `mnist` (or `vendored`).
    Mnist,
    /// MNIST through candle-datasets' Hugging Face loader: `hub`.
    MnistHub,
    /// `fashion-mnist`: Debian's package, `$NEUROPOS_DATA/fashion-mnist`, or the given directory.
    FashionMnist { dir: Option<PathBuf> },
    /// A directory of the four IDX files, images of any shape.
    Idx(PathBuf),
    /// A `.safetensors` file of arrays ([`super::load_arrays`]).
    Arrays(PathBuf),
    /// `hf://datasets/owner/name[@revision]`: its parquet files (the `hub-datasets` feature).
    HubDataset(String),
}

/// What a checkpoint records of the data it was trained on (absent: MNIST).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// What `--data` takes to load it again: `fashion-mnist`, a directory, a file.
    pub source: String,
    /// SHA-256 of what was read: the four decompressed IDX files in order, or the file.
    pub sha256: String,
    /// One image: `[H, W]` or `[H, W, C]`.
    pub shape: Vec<usize>,
    pub classes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
}

/// Where loaded data came from: the description a checkpoint's provenance has always held
/// (`vendored:data/mnist`, …) and, for anything but MNIST, the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub description: String,
    pub record: Option<DatasetRecord>,
}

impl DataSource {
    /// `mnist`/`vendored`, `hub`, `fashion-mnist`, a `.safetensors` file or a directory of IDX
    /// files.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "mnist" | "vendored" => return Ok(DataSource::Mnist),
            "hub" => return Ok(DataSource::MnistHub),
            "fashion-mnist" => return Ok(DataSource::FashionMnist { dir: None }),
            _ => {}
        }
        if s.starts_with("hf://datasets/") {
            return Ok(DataSource::HubDataset(s.to_string()));
        }
        let path = PathBuf::from(s);
        if path.extension().is_some_and(|e| e == "safetensors") {
            return Ok(DataSource::Arrays(path));
        }
        if path.is_dir() {
            return Ok(DataSource::Idx(path));
        }
        Err(Error::Run(format!(
            "--data {}: not mnist, fashion-mnist, hub, hf://datasets/owner/name, a .safetensors \
             file of arrays or a directory of IDX files",
            crate::error::shortened(s)
        )))
    }

    /// From what a run records: `data` as [`DataSource::parse`] takes it, and `--data-dir` (a
    /// directory of IDX files; for `fashion-mnist`, where to find it).
    pub fn from_names(data: &str, dir: Option<&Path>) -> Result<Self> {
        match (Self::parse(data)?, dir) {
            (DataSource::FashionMnist { .. }, Some(dir)) => Ok(DataSource::FashionMnist {
                dir: Some(dir.to_path_buf()),
            }),
            (DataSource::Mnist, Some(dir)) => Ok(DataSource::Idx(dir.to_path_buf())),
            (source, None) => Ok(source),
            (_, Some(_)) => Err(Error::Run(format!(
                "--data-dir names a directory of IDX files; --data {data} is not one to look for"
            ))),
        }
    }

    /// What `--data` takes to load this again (recorded in a checkpoint).
    pub fn name(&self) -> String {
        match self {
            DataSource::Mnist => "mnist".into(),
            DataSource::MnistHub => "hub".into(),
            DataSource::FashionMnist { .. } => "fashion-mnist".into(),
            DataSource::Idx(p) | DataSource::Arrays(p) => p.display().to_string(),
            DataSource::HubDataset(r) => r.clone(),
        }
    }

    /// MNIST, whichever copy: what a checkpoint without a record was trained on.
    pub fn is_mnist(&self) -> bool {
        matches!(self, DataSource::Mnist | DataSource::MnistHub)
    }

    /// The shape of one image and the class count where they are known without reading the
    /// data (MNIST, Fashion-MNIST).
    pub fn known_shape(&self) -> Option<(Vec<usize>, usize)> {
        match self {
            DataSource::Mnist | DataSource::MnistHub | DataSource::FashionMnist { .. } => {
                Some((MNIST_SHAPE.to_vec(), 10))
            }
            _ => None,
        }
    }

    /// The images and labels, and where they came from.
    pub fn load(&self) -> Result<(Dataset, Origin)> {
        let mut name = self.name();
        let (mut data, description, sha256) = match self {
            DataSource::Mnist => {
                let dir = idx::default_dir();
                let m = idx::load_dir(&dir, true)
                    .map_err(|e| Error::data(&dir, format!("loading the vendored MNIST: {e}")))?;
                (m, "vendored:data/mnist".to_string(), None)
            }
            DataSource::MnistHub => (idx::load_hub()?, "hub:ylecun/mnist".to_string(), None),
            DataSource::FashionMnist { dir } => {
                let dir = fashion_mnist_dir(dir.as_deref())?;
                let pinned = Checksums::Pinned {
                    list: FASHION_MNIST_SUMS,
                    name: "data/fashion-mnist.sha256",
                };
                let (d, sha) = idx::load_idx_dir(&dir, pinned)?;
                (d, format!("fashion-mnist:{}", dir.display()), Some(sha))
            }
            DataSource::Idx(dir) => {
                let checksums = Checksums::Listed { required: false };
                let (d, sha) = idx::load_idx_dir(dir, checksums)?;
                (d, dir.display().to_string(), Some(sha))
            }
            DataSource::Arrays(file) => {
                let (d, sha) = super::load_arrays(file)?;
                (d, file.display().to_string(), Some(sha))
            }
            DataSource::HubDataset(reference) => {
                let (d, sha, pinned) = load_hub_dataset(reference)?;
                // Recorded at the commit read, so the same data loads again.
                name = pinned.clone();
                (d, pinned, Some(sha))
            }
        };
        // Fashion-MNIST's bytes name their classes however the data was named (`fashion-mnist`,
        // or its directory as plain IDX files, as a new user gives it): `predict` then names
        // them and does not prepare photos as digits.
        if sha256.as_deref() == Some(FASHION_MNIST_SHA256) {
            data.class_names = Some(FASHION_MNIST_CLASSES.map(String::from).to_vec());
        }
        tracing::info!(
            "data from {description}: {} train, {} test images of {:?}, {} classes",
            data.train_images.dim(0)?,
            data.test_images.dim(0)?,
            data.shape,
            data.classes
        );
        let record = sha256.map(|sha256| DatasetRecord {
            source: name,
            sha256,
            shape: data.shape.clone(),
            classes: data.classes,
            class_names: data.class_names.clone(),
        });
        Ok((
            data,
            Origin {
                description,
                record,
            },
        ))
    }

    /// [`DataSource::load`], cut to the first `train_limit` / `test_limit` images, on `device`.
    pub fn splits(
        &self,
        device: &candle_core::Device,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> Result<(Splits, Origin)> {
        check_limit("--train-limit", train_limit)?;
        check_limit("--test-limit", test_limit)?;
        let (data, origin) = self.load()?;
        Ok((data.splits(device, train_limit, test_limit)?, origin))
    }

    /// [`DataSource::splits`] with the last `val_split` training images held out first (so
    /// `train_limit` takes the first of the rest).
    pub fn splits_held_out(
        &self,
        device: &candle_core::Device,
        val_split: Option<usize>,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> Result<(HeldOutSplits, Origin)> {
        let Some(n) = val_split else {
            let (splits, origin) = self.splits(device, train_limit, test_limit)?;
            let validation = None;
            return Ok((HeldOutSplits { splits, validation }, origin));
        };
        check_limit("--val-split", Some(n))?;
        check_limit("--train-limit", train_limit)?;
        check_limit("--test-limit", test_limit)?;
        let (data, origin) = self.load()?;
        let (data, (val_x, val_y)) = data
            .hold_out(n)
            .map_err(|e| Error::Run(format!("--val-split {n}: {e}")))?;
        let splits = data.splits(device, train_limit, test_limit)?;
        let validation = Some((val_x.to_device(device)?, val_y.to_device(device)?));
        Ok((HeldOutSplits { splits, validation }, origin))
    }
}

impl DatasetRecord {
    /// Refuses data that is not what this record describes (other bytes than were trained on).
    pub fn check_same(&self, origin: &Origin, checkpoint: &str) -> Result<()> {
        match &origin.record {
            Some(r) if r.sha256 == self.sha256 => Ok(()),
            Some(r) => Err(Error::Run(format!(
                "{}: not the data {checkpoint} was trained on (SHA-256 {} there, {} recorded)",
                origin.description, r.sha256, self.sha256
            ))),
            None => Err(Error::Run(format!(
                "{}: {checkpoint} was trained on {}, not MNIST",
                origin.description, self.source
            ))),
        }
    }
}

#[cfg(feature = "hub-datasets")]
fn load_hub_dataset(reference: &str) -> Result<(Dataset, String, String)> {
    crate::hub::datasets::load_dataset(reference)
}

/// Without the `hub-datasets` feature there is no parquet reader: an error saying so.
#[cfg(not(feature = "hub-datasets"))]
fn load_hub_dataset(reference: &str) -> Result<(Dataset, String, String)> {
    Err(Error::Hub {
        reference: reference.to_string(),
        problem: "this build of neuropos-models reads no Hub datasets: enable its `hub-datasets` \
                  feature"
            .into(),
    })
}

/// Where Fashion-MNIST's files are: `dir` when given, else Debian's directory, else
/// `$NEUROPOS_DATA/fashion-mnist`.
fn fashion_mnist_dir(dir: Option<&Path>) -> Result<PathBuf> {
    let holds = |d: &Path| {
        let f = "train-images-idx3-ubyte";
        d.join(f).is_file() || d.join(format!("{f}.gz")).is_file()
    };
    if let Some(dir) = dir {
        return Ok(dir.to_path_buf());
    }
    let mut tried = vec![PathBuf::from(FASHION_MNIST_DIR)];
    if let Some(root) = std::env::var_os("NEUROPOS_DATA") {
        tried.push(PathBuf::from(root).join("fashion-mnist"));
    }
    if let Some(found) = tried.iter().find(|d| holds(d)) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = tried.iter().map(|d| d.display().to_string()).collect();
    Err(Error::Run(format!(
        "Fashion-MNIST is not in {}: install it with `apt-get install dataset-fashion-mnist` \
         (scripts/install-fashion-mnist.sh), or give a directory of its four IDX files with \
         --data-dir (or $NEUROPOS_DATA/fashion-mnist)",
        tried.join(" or ")
    )))
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

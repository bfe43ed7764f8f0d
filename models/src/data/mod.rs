//! Datasets: images of any shape with integer labels, from MNIST (vendored, SHA-256 checked, or
//! candle-datasets' Hub loader), Fashion-MNIST (Debian's `dataset-fashion-mnist`), a directory of
//! IDX files, or a `.safetensors` file of arrays ([`DataSource`]). Whatever the source, the
//! images are `[N, H·W·C]` f32 in [0, 1] and the labels `[N]` u32 in `0..classes`; a checkpoint
//! records which data it was trained on ([`DatasetRecord`]).

mod arrays;
mod idx;
mod source;

pub use arrays::{load_arrays, ARRAY_KEYS};
#[cfg(feature = "hub-datasets")]
pub(crate) use idx::hex;
pub use idx::{
    default_dir, gunzip, load_dir, parse_idx, CHECKSUM_FILE, MAX_IDX_BYTES, MNIST_FILES,
};
pub use idx::{load_hub, load_idx_dir, parse_idx_shaped, Checksums};
pub use source::{
    check_limit, DataSource, DatasetRecord, Origin, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR,
};

use candle_core::{DType, Tensor};
use std::path::Path;

use crate::{Error, Result};

/// A dataset's two splits: images `[N, H·W·C]` f32 in [0, 1] and labels `[N]` u32, on the CPU,
/// with the shape of one image and the class count (and names, where the data has them).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub train_images: Tensor,
    pub train_labels: Tensor,
    pub test_images: Tensor,
    pub test_labels: Tensor,
    /// One image: `[H, W]`, or `[H, W, C]` with channels last.
    pub shape: Vec<usize>,
    /// Labels run over `0..classes`.
    pub classes: usize,
    pub class_names: Option<Vec<String>>,
}

/// The name the code used when MNIST was the only dataset.
pub type Mnist = Dataset;

/// MNIST's (and Fashion-MNIST's) image shape.
pub const MNIST_SHAPE: [usize; 2] = [28, 28];

impl Dataset {
    /// Pixels per image: what a network's input layer must hold.
    pub fn inputs(&self) -> Result<usize> {
        Ok(self.train_images.dim(1)?)
    }

    /// The number of classes.
    pub fn classes(&self) -> Result<usize> {
        Ok(self.classes)
    }

    /// Refuses a network that does not fit this data: its input layer not the images' pixel
    /// count, or its output layer not the class count (it would score 0 or fail inside a
    /// matrix product instead).
    pub fn check_fits(&self, config: &crate::Config, source: &str) -> Result<()> {
        check_fits(config, self.inputs()?, self.classes, true, source)
    }

    /// The four tensors checked against each other and `classes`: `[N, …]` images of one shape
    /// in both splits (flattened here), `[N]` labels below `classes`, at least one image in
    /// each split. `origin` names the data in errors.
    pub fn checked(
        tensors: [Tensor; 4],
        shape: Vec<usize>,
        classes: usize,
        class_names: Option<Vec<String>>,
        origin: &Path,
    ) -> Result<Dataset> {
        let [train_images, train_labels, test_images, test_labels] = tensors;
        let pixels: usize = shape.iter().product();
        if shape.is_empty() || pixels == 0 {
            return Err(Error::data(
                origin,
                format!("images of shape {shape:?} hold no pixel"),
            ));
        }
        if classes < 2 {
            return Err(Error::data(
                origin,
                format!("{classes} class: a classifier needs at least 2"),
            ));
        }
        if let Some(names) = &class_names {
            if names.len() != classes {
                return Err(Error::data(
                    origin,
                    format!("{} class names for {classes} classes", names.len()),
                ));
            }
        }
        let flat = |images: Tensor| -> Result<Tensor> {
            let n = images.dim(0)?;
            Ok(images.reshape((n, images.elem_count() / n.max(1)))?)
        };
        let data = Dataset {
            train_images: flat(train_images)?,
            train_labels: train_labels.to_dtype(DType::U32)?,
            test_images: flat(test_images)?,
            test_labels: test_labels.to_dtype(DType::U32)?,
            shape,
            classes,
            class_names,
        };
        for (images, labels, split) in [
            (&data.train_images, &data.train_labels, "train"),
            (&data.test_images, &data.test_labels, "test"),
        ] {
            let (n, found) = images.dims2()?;
            if n == 0 {
                return Err(Error::data(
                    origin,
                    format!("the {split} split has no image"),
                ));
            }
            if found != pixels || labels.dims() != [n] {
                return Err(Error::data(
                    origin,
                    format!(
                        "the {split} split has images {:?} and labels {:?}; expected [N, {pixels}] \
                         (images of shape {:?}) and [N]",
                        images.dims(),
                        labels.dims(),
                        data.shape
                    ),
                ));
            }
            let max_label: u32 = labels.max(0)?.to_scalar()?;
            if max_label as usize >= classes {
                return Err(Error::data(
                    origin,
                    format!(
                        "{split} labels go up to {max_label}; expected 0 to {} ({classes} classes)",
                        classes - 1
                    ),
                ));
            }
        }
        Ok(data)
    }
}

/// [`Dataset::check_fits`] for data seen only in part: with `exact` false (a limited split may
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

impl Dataset {
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

    /// Keeps the first `n` training samples (a slice for quick runs and tests).
    pub fn limit_train(self, n: usize) -> Result<Self> {
        let (train_images, train_labels) = first(&self.train_images, &self.train_labels, n)?;
        Ok(Dataset {
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
        Ok(Dataset {
            test_images,
            test_labels,
            ..self
        })
    }
}

fn first(images: &Tensor, labels: &Tensor, n: usize) -> Result<(Tensor, Tensor)> {
    let n = n.min(images.dim(0)?);
    Ok((images.narrow(0, 0, n)?, labels.narrow(0, 0, n)?))
}

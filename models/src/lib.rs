//! Spatially embedded neural networks in Candle.
//!
//! A network is *synapses × neuron dynamics*: synapses turn presynaptic activity into
//! postsynaptic current, `current = (x ⊙ m) W + b`, and the dynamics — ReLU for MLPs, leaky
//! integrate-and-fire neurons over time for SNNs — turn current into activity. Where to read
//! each idea of the paper:
//!
//! - [`geometry`]: positions → weights `W = 1/‖p_i − p_j‖`, and the inhibition mask
//!   `m = 2·σ(k·v) − 1`, in plain Candle ops;
//! - [`layers`]: an embedded layer ([`layers::embedded`]: the neurons and the synapses between
//!   them), a dense layer ([`layers::dense`]), LIF neurons and their surrogate gradient
//!   ([`layers::lif`]);
//! - [`network`]: the layers and dynamics stacked, with predictions; [`loss`]: the losses;
//! - [`prune`]: cutting the longest wires; [`config`]: the architecture and the parameter
//!   counts of the paper's eq. (3)/(4); [`checkpoint`] (and [`hub`] for `hf://` references),
//!   [`data`], [`training`], [`init`], [`device`].
//!
//! Load a shipped checkpoint (or `hf://owner/repo[@revision][/subdir]`) and classify a test
//! image:
//!
//! ```
//! use candle_core::Device;
//! use neuropos_models::{data, Network};
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../checkpoints/mlp3d");
//! let network = Network::from_pretrained(dir, &Device::Cpu)?;
//! let mnist = data::load_dir(&data::default_dir(), true)?;
//! let image = mnist.test_images.narrow(0, 0, 1)?; // [1, 784], pixels in [0, 1]
//! let label = mnist.test_labels.narrow(0, 0, 1)?.to_vec1::<u32>()?[0];
//! assert_eq!(network.predict(&image)?, vec![label]); // the first test image is a 7
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The hot ops have fused CPU kernels (Candle `CustomOp`s with their own backward passes) in a
//! private `kernels` module, each tested against the plain ops above; every op keeps its
//! plain-ops path, which CUDA and Metal run. With the `unstable-kernels` feature that module is
//! public for the timing examples (no stability promise).

pub mod card;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
pub mod distill;
pub mod encoder;
pub mod error;
pub mod export_c;
pub mod geometry;
pub mod hub;
#[cfg(feature = "images")]
pub mod images;
pub mod init;
pub mod inspect;
#[cfg(feature = "unstable-kernels")]
pub mod kernels;
#[cfg(not(feature = "unstable-kernels"))]
mod kernels;
pub mod layers;
pub mod loss;
mod names;
pub mod network;
#[cfg(feature = "nir")]
pub mod nir;
pub mod optimizer;
pub mod precision;
pub mod prune;
pub mod recipe;
pub mod resume;
pub mod run;
#[cfg(feature = "sweep")]
pub mod sweep;
pub mod training;

#[cfg(test)]
mod test_support;

/// Using the crate as a library: features, scoring and pruning a checkpoint, training a run
/// (`docs/library.md`, whose examples run as this crate's doc tests).
#[doc = include_str!("../../docs/library.md")]
pub mod library_guide {}

pub use config::{Activation, AxisMode, Config, ModelKind};
pub use error::{Error, Result};
pub use network::Network;

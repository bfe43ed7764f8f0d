//! Spatially embedded neural networks in Candle.
//!
//! A network is *synapses × neuron dynamics*: synapses turn presynaptic activity into
//! postsynaptic current, `current = (x ⊙ m) Wᵀ + b`, and the dynamics (ReLU for MLPs) turn
//! current into activity. Embedded synapses synthesise `W` from neuron positions
//! ([`geometry::synthesize_weights`], the one place that math lives); dense synapses are a plain
//! `candle_nn::Linear`.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod geometry;
pub mod init;
pub mod lif;
pub mod lif_projection;
pub mod network;
pub mod prune;
pub mod synapses;
pub mod training;

#[cfg(test)]
mod test_support;

pub use config::{Activation, AxisMode, Config, ModelKind};
pub use error::{Error, Result};
pub use network::Network;

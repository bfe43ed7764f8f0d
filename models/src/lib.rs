//! Spatially embedded neural networks in Candle.
//!
//! A network is *synapses × neuron dynamics*: synapses turn presynaptic activity into
//! postsynaptic current, `current = (x ⊙ m) W + b`, and the dynamics — ReLU for MLPs, leaky
//! integrate-and-fire neurons over time for SNNs ([`lif`]) — turn current into activity.
//! Embedded synapses synthesise `W` from neuron positions ([`geometry::synthesize_weights`], the
//! one place that math lives); dense synapses are a plain `candle_nn::Linear`.
//!
//! Hot ops have a fused CPU kernel (a Candle `CustomOp`) and a plain-ops fallback that every
//! other backend runs: the weight synthesis, the embedded synapses' current on sparse input
//! ([`sparse_synapses::embedded_current`]), the LIF recurrence ([`lif::lif`]) and a hidden LIF
//! layer feeding the next synapses ([`lif_projection::lif_project`]) and the SNN training loss
//! ([`spiking_loss::membrane_cross_entropy`]).

pub mod checkpoint;
pub mod config;
mod constant_input;
pub mod data;
pub mod device;
pub mod error;
pub mod geometry;
pub mod init;
pub mod lif;
pub mod lif_projection;
mod narrow;
pub mod network;
pub mod prune;
pub mod simd;
pub mod sparse_synapses;
pub mod spiking_loss;
pub mod synapses;
pub mod training;

#[cfg(test)]
mod test_support;

pub use config::{Activation, AxisMode, Config, ModelKind};
pub use error::{Error, Result};
pub use network::Network;

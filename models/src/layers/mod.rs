//! Layers: synapses turn presynaptic activity into postsynaptic current,
//! `current = (x ⊙ m) W + b`, and neurons turn current into activity.
//!
//! Two kinds of synapses share that contract: [`embedded`] ones synthesise `W` from neuron
//! positions and carry an inhibition mask `m`; [`dense`] ones are a plain `candle_nn::Linear`
//! (m = 1). The neuron dynamics are a ReLU (MLPs) or leaky integrate-and-fire neurons over
//! time ([`lif`]). [`Synapses`] is the common view that the network, pruning and evaluation
//! ask for weights, currents and biases.

pub mod current;
pub mod dense;
pub mod embedded;
pub mod lif;
pub mod lif_config;

use candle_core::{Module, Result, Tensor};

use crate::config::Activation;
use dense::Dense;
use embedded::EmbeddedSynapses;

/// The synapses from one layer to the next, embedded or dense, with any pruning applied.
#[derive(Debug, Clone, Copy)]
pub enum Synapses<'a> {
    Embedded(EmbeddedSynapses<'a>),
    /// A dense layer and its optional keep-mask `[n_out, n_in]`.
    Dense(&'a Dense, Option<&'a Tensor>),
}

impl Synapses<'_> {
    /// `activation(current)` for `x` `[B, n_in]`; a ReLU is fused into the synapses' CPU ops.
    pub fn forward_activated(&self, x: &Tensor, activation: Option<Activation>) -> Result<Tensor> {
        let (current, applied) = match self {
            Synapses::Embedded(s) => {
                let relu = activation == Some(Activation::Relu);
                (s.forward_activated(x, relu)?, relu)
            }
            Synapses::Dense(d, keep) => {
                let relu = activation == Some(Activation::Relu);
                (d.forward_pruned(x, *keep, relu)?, relu)
            }
        };
        match activation {
            Some(a) if !applied => a.apply(&current),
            _ => Ok(current),
        }
    }

    /// Effective weights in `candle_nn::Linear`'s layout `[n_out, n_in]` (pruning applied,
    /// inhibition mask not: for embedded synapses these are the `1/distance` magnitudes).
    pub fn weights(&self) -> Result<Tensor> {
        match self {
            Synapses::Embedded(s) => s.weights()?.t()?.contiguous(),
            Synapses::Dense(d, Some(keep)) => d.weight().mul(keep),
            Synapses::Dense(d, None) => Ok(d.weight().clone()),
        }
    }

    /// Sign-like presynaptic mask `[n_in]`, `None` for dense synapses.
    pub fn mask(&self) -> Result<Option<Tensor>> {
        match self {
            Synapses::Embedded(s) => s.mask().map(Some),
            Synapses::Dense(..) => Ok(None),
        }
    }

    /// The matrix `P` `[n_in, n_out]` with `current = x P + b`: the inhibition mask and any
    /// pruning folded into the weights. The fused spiking kernels consume it directly.
    pub fn projection(&self) -> Result<Tensor> {
        match self {
            Synapses::Embedded(s) => s.projection(),
            Synapses::Dense(..) => self.weights()?.t(),
        }
    }

    /// Biases `[n_out]`.
    pub fn bias(&self) -> Option<&Tensor> {
        match self {
            Synapses::Embedded(s) => Some(s.bias()),
            Synapses::Dense(d, _) => d.linear().bias(),
        }
    }

    /// `(n_in, n_out)`.
    pub fn shape(&self) -> Result<(usize, usize)> {
        match self {
            Synapses::Embedded(s) => Ok(s.shape()),
            Synapses::Dense(d, _) => d.shape(),
        }
    }
}

impl Module for Synapses<'_> {
    /// The postsynaptic current `[B, n_out]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_activated(x, None)
    }
}

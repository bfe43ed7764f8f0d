//! Magnitude pruning: zero the smallest |w|. For embedded synapses |w| = 1/distance, so this
//! cuts the longest wires.
//!
//! - [`magnitude`]: the ranking of all weights and the masks of a level (after a stored pruning);
//! - [`selection`]: the same masks in linear time (host) or on the device, for pruning in every
//!   forward pass;
//! - [`levels`]: scoring a checkpoint at levels, with one meaning for a checkpoint that prunes
//!   itself;
//! - [`compensation`]: folding removed connections' mean current into the biases;
//! - [`neurons`]: removing whole hidden neurons; [`mask_bits`]: masks as bits in a checkpoint.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

pub mod compensation;
pub mod levels;
pub mod magnitude;
pub mod mask_bits;
pub mod neurons;
pub mod selection;

pub use compensation::{compensate, restore_biases, save_biases};
pub use magnitude::{MagnitudeRanking, PruneMasks};
pub use mask_bits::{pack_mask, unpack_mask};
pub use neurons::{
    compensate_removed_neurons, neuron_scores, neurons_to_keep, remove_neurons, NeuronScore,
};
pub use selection::{smallest_removed, smallest_removed_on_device, smallest_removed_on_host};

/// Whether the p % is taken within each synapse layer or over all weights at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneScope {
    Layer,
    Global,
}

crate::names::serde_named!(
    PruneScope,
    "pruning scope",
    [PruneScope::Layer, PruneScope::Global]
);

/// Pruning applied in every forward pass (the paper's pruning during training, Fig. 3b): the
/// smallest `percent` % of the weights, within each layer or over all of them, ranked afresh
/// each time (positions move, and with them the weights). A checkpoint trained so records it in
/// its [`crate::Config`], and its network keeps pruning when it is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pruning {
    pub percent: f64,
    pub scope: PruneScope,
}

impl Pruning {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if (0.0..100.0).contains(&self.percent) {
            Ok(())
        } else {
            Err(format!(
                "pruning during training must remove at least 0 and less than 100 % of the \
                 weights, got {}",
                self.percent
            ))
        }
    }
}

/// A fixed pruning mask stored with a checkpoint (`neuropos prune`): how it was chosen. The
/// masks themselves are tensors `prune.keep.{c}` of the checkpoint, bit-packed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FixedMask {
    pub percent: f64,
    pub scope: PruneScope,
    pub rank: Rank,
    /// Training images the biases were compensated on (0: not compensated).
    pub compensated_on: usize,
    /// Epochs of fine-tuning with the mask fixed, after pruning.
    pub finetune_epochs: usize,
}

/// What a ranking orders the connections by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rank {
    /// |w| = 1/distance: the paper's (for dense synapses, |w|).
    Distance,
    /// |m_i · w_ij|, the weight as it acts: a wire from a neuron whose mask is ≈ 0 carries
    /// nothing, however short (for dense synapses, |w| again).
    Effective,
}

crate::names::serde_named!(Rank, "ranking", [Rank::Distance, Rank::Effective]);

/// The weights a ranking of `network` orders, `[n_out, n_in]` per layer.
pub fn ranked_weights(network: &crate::Network, rank: Rank) -> Result<Vec<Tensor>> {
    match rank {
        Rank::Distance => network.weights(),
        Rank::Effective => network.effective_weights(),
    }
}

/// How many of `total` weights a `percent` % pruning removes (rounded to nearest).
pub fn removed_count(total: usize, percent: f64) -> usize {
    ((total as f64) * percent / 100.0).round().min(total as f64) as usize
}

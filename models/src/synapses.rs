//! Synapses turn presynaptic activity into postsynaptic current: `(x ⊙ m) W + b`.
//!
//! Two kinds share that contract: [`EmbeddedSynapses`] synthesise `W` from neuron positions
//! and carry an inhibition mask `m`; [`DenseSynapses`] are a plain `candle_nn::Linear`
//! (m = 1). Anything that needs weights (forward, pruning, evaluation, plots) asks here.

use candle_core::{Module, Result, Tensor};
use candle_nn::Linear;

use crate::config::Activation;
use crate::geometry::{inhibition_mask, positions, synthesize_weights, LayerAxis};
use crate::sparse_synapses::{embedded_current_with, CurrentOptions, EmbeddedLayer};

/// Synapses between neurons placed in space.
#[derive(Debug, Clone)]
pub struct EmbeddedSynapses {
    /// `[n_in, d−1]` free coordinates of the presynaptic layer.
    pub pre_coords: Tensor,
    pub pre_axis: LayerAxis,
    /// `[n_out, d−1]` free coordinates of the postsynaptic layer.
    pub post_coords: Tensor,
    pub post_axis: LayerAxis,
    /// `[n_in]` raw inhibition values of the presynaptic neurons.
    pub inhibition: Tensor,
    /// `[n_out]`.
    pub bias: Tensor,
    pub steepness: f64,
    pub distance_epsilon: f64,
    /// Optional `[n_in, n_out]` 0/1 keep-mask from pruning.
    keep: Option<Tensor>,
    /// How the CPU op forms the current (event-driven or dense, weight tile).
    current: CurrentOptions,
}

/// Synapses with a free weight matrix, the baseline.
#[derive(Debug, Clone)]
pub struct DenseSynapses {
    pub linear: Linear,
    /// Optional `[n_out, n_in]` 0/1 keep-mask from pruning (Linear's layout).
    keep: Option<Tensor>,
}

#[derive(Debug, Clone)]
pub enum Synapses {
    Embedded(EmbeddedSynapses),
    Dense(DenseSynapses),
}

impl EmbeddedSynapses {
    pub fn new(
        (pre_coords, pre_axis): (Tensor, LayerAxis),
        (post_coords, post_axis): (Tensor, LayerAxis),
        inhibition: Tensor,
        bias: Tensor,
        steepness: f64,
        distance_epsilon: f64,
    ) -> Self {
        EmbeddedSynapses {
            pre_coords,
            pre_axis,
            post_coords,
            post_axis,
            inhibition,
            bias,
            steepness,
            distance_epsilon,
            keep: None,
            current: CurrentOptions::default(),
        }
    }

    /// `[n_in, n_out]` weights `1/distance`, with pruned connections zeroed.
    fn weights_pre_major(&self) -> Result<Tensor> {
        let w = synthesize_weights(
            &positions(&self.pre_coords, &self.pre_axis)?,
            &positions(&self.post_coords, &self.post_axis)?,
            self.distance_epsilon,
        )?;
        match &self.keep {
            Some(keep) => w.mul(keep),
            None => Ok(w),
        }
    }

    pub fn mask(&self) -> Result<Tensor> {
        inhibition_mask(&self.inhibition, self.steepness)
    }

    fn forward(&self, x: &Tensor, activation: Option<Activation>) -> Result<Tensor> {
        if self.keep.is_some() {
            let current = x.matmul(&self.projection()?)?.broadcast_add(&self.bias)?;
            return match activation {
                Some(a) => a.apply(&current),
                None => Ok(current),
            };
        }
        // One fused, event-driven op on the CPU (with the ReLU), plain ops elsewhere.
        let relu = activation == Some(Activation::Relu);
        let layer = EmbeddedLayer {
            pre: &positions(&self.pre_coords, &self.pre_axis)?,
            post: &positions(&self.post_coords, &self.post_axis)?,
            mask: &self.mask()?,
            bias: &self.bias,
            relu,
            eps: self.distance_epsilon,
        };
        let out = embedded_current_with(x, &layer, self.current)?;
        match activation {
            Some(a) if !relu => a.apply(&out),
            _ => Ok(out),
        }
    }

    /// `diag(m) W`, `[n_in, n_out]`: the matrix that maps presynaptic activity to current.
    fn projection(&self) -> Result<Tensor> {
        let n_in = self.pre_coords.dim(0)?;
        self.weights_pre_major()?
            .broadcast_mul(&self.mask()?.reshape((n_in, 1))?)
    }
}

impl DenseSynapses {
    pub fn new(linear: Linear) -> Self {
        DenseSynapses { linear, keep: None }
    }

    fn forward(&self, x: &Tensor, activation: Option<Activation>) -> Result<Tensor> {
        let current = match &self.keep {
            None => self.linear.forward(x)?,
            Some(keep) => {
                let pruned =
                    Linear::new(self.linear.weight().mul(keep)?, self.linear.bias().cloned());
                pruned.forward(x)?
            }
        };
        match activation {
            Some(a) => a.apply(&current),
            None => Ok(current),
        }
    }
}

impl Synapses {
    /// Postsynaptic current for a batch `[B, n_in]` → `[B, n_out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_activated(x, None)
    }

    /// `activation(current)`: the same as applying it to [`Synapses::forward`], fused into
    /// one op where the backend allows (a ReLU after embedded synapses on the CPU).
    pub fn forward_activated(&self, x: &Tensor, activation: Option<Activation>) -> Result<Tensor> {
        match self {
            Synapses::Embedded(s) => s.forward(x, activation),
            Synapses::Dense(s) => s.forward(x, activation),
        }
    }

    /// Effective weights in `candle_nn::Linear`'s layout `[n_out, n_in]` (pruning applied,
    /// inhibition mask not: for embedded synapses these are the `1/distance` magnitudes).
    pub fn weights(&self) -> Result<Tensor> {
        match self {
            Synapses::Embedded(s) => s.weights_pre_major()?.t()?.contiguous(),
            Synapses::Dense(s) => match &s.keep {
                Some(keep) => s.linear.weight().mul(keep),
                None => Ok(s.linear.weight().clone()),
            },
        }
    }

    /// Sign-like presynaptic mask `[n_in]`, `None` for dense synapses.
    pub fn mask(&self) -> Result<Option<Tensor>> {
        match self {
            Synapses::Embedded(s) => s.mask().map(Some),
            Synapses::Dense(_) => Ok(None),
        }
    }

    /// The matrix `P` `[n_in, n_out]` with `current = x P + b`: the inhibition mask and any
    /// pruning folded into the weights. Fused spiking kernels consume it directly.
    pub fn projection(&self) -> Result<Tensor> {
        match self {
            Synapses::Embedded(s) => s.projection(),
            Synapses::Dense(_) => self.weights()?.t(),
        }
    }

    /// Biases `[n_out]`.
    pub fn bias(&self) -> Option<&Tensor> {
        match self {
            Synapses::Embedded(s) => Some(&s.bias),
            Synapses::Dense(s) => s.linear.bias(),
        }
    }

    /// `(n_in, n_out)`.
    pub fn shape(&self) -> Result<(usize, usize)> {
        match self {
            Synapses::Embedded(s) => Ok((s.pre_coords.dim(0)?, s.post_coords.dim(0)?)),
            Synapses::Dense(s) => {
                let (o, i) = s.linear.weight().dims2()?;
                Ok((i, o))
            }
        }
    }

    /// Chooses how embedded synapses form their current on the CPU (no effect on dense
    /// synapses, on pruned ones, or off the CPU). [`crate::sparse_synapses::ProductPath::Sparse`]
    /// with a small tile is the O(n)-memory inference path.
    pub fn set_current_options(&mut self, options: CurrentOptions) {
        if let Synapses::Embedded(s) = self {
            s.current = options;
        }
    }

    /// Installs (or clears) a pruning keep-mask given in `[n_out, n_in]` layout.
    pub fn set_keep_mask(&mut self, keep: Option<Tensor>) -> Result<()> {
        let (n_in, n_out) = self.shape()?;
        if let Some(k) = &keep {
            if k.dims() != [n_out, n_in] {
                candle_core::bail!(
                    "keep-mask has shape {:?}, expected [{n_out}, {n_in}]",
                    k.dims()
                );
            }
        }
        match self {
            Synapses::Embedded(s) => {
                s.keep = keep.map(|k| k.t()?.contiguous()).transpose()?;
            }
            Synapses::Dense(s) => s.keep = keep,
        }
        Ok(())
    }
}

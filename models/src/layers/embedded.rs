//! Embedded layers: neurons placed in space, and the synapses between consecutive layers whose
//! weights come from those places.
//!
//! The state belongs to the neurons ([`Neurons`]): each layer's free coordinates and place on
//! the layer axis, the inhibition value of every neuron that sends synapses, the bias of every
//! neuron that receives them. A layer's coordinates enter two weight matrices (its incoming and
//! its outgoing synapses), so the synapses do not own them: [`EmbeddedSynapses`] is a view of
//! two consecutive layers of an [`Embedding`], and its `Module::forward` is the current
//! `(x ⊙ m) W + b` with `W = 1/‖p_i − p_j‖` ([`crate::geometry`]).
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::VarMap;
//! use neuropos_models::init::SeededVarMap;
//! use neuropos_models::layers::embedded::{EmbeddedConfig, Embedding};
//! use neuropos_models::{Config, ModelKind};
//!
//! let cfg = EmbeddedConfig::of(&Config::mnist(ModelKind::Mlp3d, &[64], 3)).unwrap();
//! let vars = VarMap::new();
//! let vb = SeededVarMap::var_builder(&vars, 0, DType::F32, &Device::Cpu);
//! let embedding = Embedding::new(&cfg, vb)?;
//! let x = Tensor::zeros((2, 784), DType::F32, &Device::Cpu)?;
//! let current = embedding.synapses(0)?.forward(&x)?; // [2, 64]: the biases, all 0
//! assert_eq!(current.dims(), [2, 64]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::config::{AxisMode, Config, EmbeddedInit, WeightScale};
use crate::geometry::{inhibition_mask, positions, synthesize_weights, LayerAxis};
use crate::kernels::dispatch;
use crate::kernels::embedded_current::embedded_current_fused;
pub use crate::kernels::embedded_current::{MIN_SPARSE_OUTPUTS, SPARSE_DENSITY_THRESHOLD};
pub use crate::layers::current::{CurrentInputs, CurrentOptions, ProductPath, DEFAULT_TILE};

/// What an [`Embedding`] needs: the layer sizes and the embedded part of a [`Config`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedConfig {
    /// Neurons per layer, input first.
    pub layers: Vec<usize>,
    /// Embedding dimension d: d − 1 free coordinates plus the layer axis.
    pub dim: usize,
    pub axis: AxisMode,
    /// Steepness k of the inhibition mask.
    pub steepness: f64,
    /// Floor on squared distances before `1/sqrt(·)`.
    pub distance_epsilon: f64,
    pub init: EmbeddedInit,
    #[serde(default, skip_serializing_if = "WeightScale::is_fixed")]
    pub weight_scale: WeightScale,
}

impl EmbeddedConfig {
    /// The embedded part of a network's configuration; `None` for the dense baselines.
    pub fn of(config: &Config) -> Option<Self> {
        Some(EmbeddedConfig {
            layers: config.layers.clone(),
            dim: config.dim,
            axis: config.kind.axis()?,
            steepness: config.steepness,
            distance_epsilon: config.distance_epsilon,
            init: config.init,
            weight_scale: config.weight_scale,
        })
    }
}

/// One layer of embedded neurons.
#[derive(Debug, Clone)]
pub struct Neurons {
    /// `[n, d − 1]` free coordinates.
    pub coords: Tensor,
    /// Where the layer sits on the layer axis.
    pub axis: LayerAxis,
    /// `[n]` raw inhibition values; layers that send synapses (all but the last).
    pub inhibition: Option<Tensor>,
    /// `[n]`; layers that receive synapses (all but the first).
    pub bias: Option<Tensor>,
    /// `[1]`, `--weight-scale learned`: the scale of this layer's outgoing weights.
    pub scale: Option<Tensor>,
}

impl Neurons {
    /// Full positions `[n, d]`.
    pub fn positions(&self) -> Result<Tensor> {
        positions(&self.coords, &self.axis)
    }

    pub fn len(&self) -> usize {
        self.coords.dims().first().copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every neuron of an embedded network, layer by layer.
///
/// Variable names (also the checkpoint's tensor names), for layer `l` of `L`:
/// `layers.{l}.coords` `[n_l, d−1]`, `layers.{l}.inhibition` `[n_l]` (l < L−1),
/// `layers.{l}.bias` `[n_l]` (l ≥ 1), `layers.{l}.z` `[n_l]` (relaxed), `gaps` `[L−1]` (gaps),
/// `layers.{l}.scale` `[1]` (l < L−1, learned weight scale).
#[derive(Debug, Clone)]
pub struct Embedding {
    config: EmbeddedConfig,
    layers: Vec<Neurons>,
}

impl Embedding {
    /// Creates (or, from a loaded `VarBuilder`, fetches) every layer's neurons. Free
    /// coordinates start uniform in ±`coord_half_width`, inhibition values uniform in
    /// ±`inhibition_half_width`, biases at 0, gaps at 1 and relaxed z uniform in [l, l + 1).
    pub fn new(cfg: &EmbeddedConfig, vb: VarBuilder) -> Result<Self> {
        let n = &cfg.layers;
        let depth = n.len();
        if depth < 2 || cfg.dim < 2 {
            candle_core::bail!(
                "an embedding needs two layers and d ≥ 2, got layers {n:?} and d = {}",
                cfg.dim
            );
        }
        let (a, b) = (cfg.init.coord_half_width, cfg.init.inhibition_half_width);
        // The variables are drawn in this order (gaps, then per layer coords, z, inhibition,
        // bias) from one seeded stream: changing it changes every seeded initialisation.
        let gaps = match cfg.axis {
            AxisMode::Gaps => Some(vb.get_with_hints(depth - 1, "gaps", Init::Const(1.0))?),
            _ => None,
        };
        let vb = vb.pp("layers");
        let mut layers = Vec::with_capacity(depth);
        for (l, &size) in n.iter().enumerate() {
            let lv = vb.pp(l);
            let coords = lv.get_with_hints(
                (size, cfg.dim - 1),
                "coords",
                Init::Uniform { lo: -a, up: a },
            )?;
            let axis = match (cfg.axis, &gaps) {
                (AxisMode::Gaps, Some(gaps)) => LayerAxis::Gaps {
                    gaps: gaps.clone(),
                    layer: l,
                },
                (AxisMode::Relaxed, _) => {
                    let lo = l as f64;
                    let up = lo + 1.0;
                    LayerAxis::PerNeuron(lv.get_with_hints(size, "z", Init::Uniform { lo, up })?)
                }
                _ => LayerAxis::Fixed(l as f64),
            };
            let inhibition = (l + 1 < depth)
                .then(|| lv.get_with_hints(size, "inhibition", Init::Uniform { lo: -b, up: b }))
                .transpose()?;
            let bias = (l > 0)
                .then(|| lv.get_with_hints(size, "bias", Init::Const(0.0)))
                .transpose()?;
            layers.push(Neurons {
                coords,
                axis,
                inhibition,
                bias,
                scale: None,
            });
        }
        // After every drawn variable: a learned scale leaves the seeded start of the rest as
        // it was, so the two settings start from the same neurons.
        if cfg.weight_scale == WeightScale::Learned {
            for (l, layer) in layers.iter_mut().take(depth - 1).enumerate() {
                layer.scale = Some(vb.pp(l).get_with_hints(1, "scale", Init::Const(1.0))?);
            }
        }
        Ok(Embedding {
            config: cfg.clone(),
            layers,
        })
    }

    /// The masks' steepness k from here on.
    pub fn set_steepness(&mut self, k: f64) {
        self.config.steepness = k;
    }

    pub fn config(&self) -> &EmbeddedConfig {
        &self.config
    }

    /// The neurons of every layer, input first.
    pub fn neurons(&self) -> &[Neurons] {
        &self.layers
    }

    /// The synapses from layer `c` to layer `c + 1`, unpruned, with the default current
    /// options.
    pub fn synapses(&self, c: usize) -> Result<EmbeddedSynapses<'_>> {
        let (Some(pre), Some(post)) = (self.layers.get(c), self.layers.get(c + 1)) else {
            candle_core::bail!(
                "no synapses {c} → {} in a network of {} layers",
                c + 1,
                self.layers.len()
            );
        };
        let inhibition = pre
            .inhibition
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg(format!("layer {c} has no inhibition")))?;
        let bias = post
            .bias
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg(format!("layer {} has no bias", c + 1)))?;
        Ok(EmbeddedSynapses {
            pre,
            post,
            inhibition,
            bias,
            scale: pre.scale.as_ref(),
            steepness: self.config.steepness,
            distance_epsilon: self.config.distance_epsilon,
            keep: None,
            options: CurrentOptions::default(),
        })
    }
}

/// The synapses between two consecutive layers of an [`Embedding`]: `current = (x ⊙ m) W + b`,
/// `W[i, j] = 1 / ‖p_i − p_j‖`, `m` the presynaptic inhibition mask, `b` the postsynaptic
/// bias, and an optional pruning keep-mask on `W`.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedSynapses<'a> {
    pre: &'a Neurons,
    post: &'a Neurons,
    inhibition: &'a Tensor,
    bias: &'a Tensor,
    /// `[1]`: the learned scale of the weights, or none (1).
    scale: Option<&'a Tensor>,
    steepness: f64,
    distance_epsilon: f64,
    /// `[n_in, n_out]` 0/1 keep-mask (pre × post, the layout of `W`).
    keep: Option<&'a Tensor>,
    options: CurrentOptions,
}

impl<'a> EmbeddedSynapses<'a> {
    /// The same synapses with a pruning keep-mask `[n_in, n_out]` (pre × post), or none.
    pub fn with_keep(self, keep: Option<&'a Tensor>) -> Self {
        EmbeddedSynapses { keep, ..self }
    }

    /// The same synapses with the CPU op's product path and tile chosen.
    pub fn with_options(self, options: CurrentOptions) -> Self {
        EmbeddedSynapses { options, ..self }
    }

    /// `(n_in, n_out)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.pre.len(), self.post.len())
    }

    /// The presynaptic inhibition mask `m = 2·σ(k·v) − 1`, `[n_in]`.
    pub fn mask(&self) -> Result<Tensor> {
        inhibition_mask(self.inhibition, self.steepness)
    }

    pub fn bias(&self) -> &'a Tensor {
        self.bias
    }

    /// `W` `[n_in, n_out]`, `s/distance` (`s` 1 unless learned), pruned connections zeroed.
    pub fn weights(&self) -> Result<Tensor> {
        let mut w = synthesize_weights(
            &self.pre.positions()?,
            &self.post.positions()?,
            self.distance_epsilon,
        )?;
        if let Some(scale) = self.scale {
            w = w.broadcast_mul(scale)?;
        }
        match self.keep {
            Some(keep) => w.mul(keep),
            None => Ok(w),
        }
    }

    /// The learned scale `s` of the weights, `[1]`; `None` where it is 1.
    pub fn scale(&self) -> Option<&'a Tensor> {
        self.scale
    }

    /// `diag(m) W` `[n_in, n_out]`: the matrix that maps presynaptic activity to current.
    pub fn projection(&self) -> Result<Tensor> {
        let n_in = self.pre.len();
        self.weights()?
            .broadcast_mul(&self.mask()?.reshape((n_in, 1))?)
    }

    /// `relu((x ⊙ m) W + b)` when `relu`, else the current itself; on the CPU one fused op
    /// (event-driven over the input's non-zeros, the keep-mask applied inside), plain ops
    /// elsewhere.
    pub fn forward_activated(&self, x: &Tensor, relu: bool) -> Result<Tensor> {
        // (x ⊙ m)(s W) = (x ⊙ s·m) W: the scale rides on the mask, so every path of the
        // current (fused, event-driven, plain ops) applies it and returns its gradient through
        // the mask's.
        let mask = match self.scale {
            Some(scale) => self.mask()?.broadcast_mul(scale)?,
            None => self.mask()?,
        };
        let inputs = CurrentInputs {
            pre: &self.pre.positions()?,
            post: &self.post.positions()?,
            mask: &mask,
            bias: self.bias,
            keep: self.keep,
            relu,
            eps: self.distance_epsilon,
        };
        embedded_current(x, &inputs, self.options)
    }
}

impl Module for EmbeddedSynapses<'_> {
    /// The postsynaptic current `(x ⊙ m) W + b` for `x` `[B, n_in]`: `[B, n_out]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_activated(x, false)
    }
}

/// `act((x ⊙ m) W + b)` for `x` `[B, n_in]`: `[B, n_out]`. The fused kernel on the CPU (its
/// product path and tile from `options`), [`embedded_current_reference`] elsewhere.
pub fn embedded_current(
    x: &Tensor,
    inputs: &CurrentInputs,
    options: CurrentOptions,
) -> Result<Tensor> {
    dispatch(
        x,
        || embedded_current_fused(x, inputs, options),
        || embedded_current_reference(x, inputs),
    )
}

/// The embedded current in plain Candle ops: `W` synthesised whole, masked, multiplied.
pub fn embedded_current_reference(x: &Tensor, inputs: &CurrentInputs) -> Result<Tensor> {
    let n_in = inputs.pre.dim(0)?;
    let mut weights =
        crate::geometry::synthesize_weights_reference(inputs.pre, inputs.post, inputs.eps)?;
    if let Some(keep) = inputs.keep {
        weights = weights.mul(keep)?;
    }
    let projection = weights.broadcast_mul(&inputs.mask.reshape((n_in, 1))?)?;
    let current = x.matmul(&projection)?.broadcast_add(inputs.bias)?;
    if inputs.relu {
        current.relu()
    } else {
        Ok(current)
    }
}

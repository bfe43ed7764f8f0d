//! The serde [`Config`] that fully describes a network's architecture and initialisation.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::layers::lif::LifConfig;
use crate::prune::{FixedMask, Pruning};
use crate::{Error, Result};

/// Default steepness `k` of the inhibition mask `m = 2·σ(k·v) − 1`.
///
/// The paper asks for a "scaled steep sigmoid" without a value. With k = 10 a raw inhibition
/// value of ±0.3 already gives |m| ≈ 0.9, so a neuron can commit to a sign within tens of Adam
/// steps at lr 0.005, yet values near 0 keep a usable gradient.
pub const DEFAULT_STEEPNESS: f64 = 10.0;

/// Default floor on squared neuron distances, so coincident neurons give a large but finite
/// weight `1/sqrt(eps)` = 1000 instead of inf/NaN.
pub const DEFAULT_DISTANCE_EPSILON: f64 = 1e-6;

/// The embedding dimension d when none is given: the paper's 3D networks.
pub const DEFAULT_DIM: usize = 3;

/// The training batch when none is given: the paper's.
pub const DEFAULT_BATCH_SIZE: usize = 600;

/// The user-facing model kinds (`--model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Embedded MLP, layers at fixed z = l (gap 1).
    Mlp3d,
    /// Embedded MLP, one learned gap per pair of consecutive layers.
    Mlp3dGaps,
    /// Embedded MLP, a learned z per neuron.
    Mlp3dRelaxed,
    /// Baseline MLP made of `candle_nn::Linear` layers.
    Mlp,
    /// Embedded spiking network (LIF neurons), layers at fixed z = l.
    Snn3d,
    /// Embedded spiking network with learned layer gaps.
    Snn3dGaps,
    /// Embedded spiking network with a learned z per neuron.
    Snn3dRelaxed,
    /// Baseline spiking network made of `candle_nn::Linear` layers.
    Snn,
}

impl ModelKind {
    pub const ALL: [ModelKind; 8] = [
        ModelKind::Mlp3d,
        ModelKind::Mlp3dGaps,
        ModelKind::Mlp3dRelaxed,
        ModelKind::Mlp,
        ModelKind::Snn3d,
        ModelKind::Snn3dGaps,
        ModelKind::Snn3dRelaxed,
        ModelKind::Snn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp3d => "mlp3d",
            ModelKind::Mlp3dGaps => "mlp3d-gaps",
            ModelKind::Mlp3dRelaxed => "mlp3d-relaxed",
            ModelKind::Mlp => "mlp",
            ModelKind::Snn3d => "snn3d",
            ModelKind::Snn3dGaps => "snn3d-gaps",
            ModelKind::Snn3dRelaxed => "snn3d-relaxed",
            ModelKind::Snn => "snn",
        }
    }

    /// How the layer axis is treated, or `None` for dense (non-embedded) models.
    pub fn axis(self) -> Option<AxisMode> {
        match self {
            ModelKind::Mlp3d | ModelKind::Snn3d => Some(AxisMode::Fixed),
            ModelKind::Mlp3dGaps | ModelKind::Snn3dGaps => Some(AxisMode::Gaps),
            ModelKind::Mlp3dRelaxed | ModelKind::Snn3dRelaxed => Some(AxisMode::Relaxed),
            ModelKind::Mlp | ModelKind::Snn => None,
        }
    }

    /// Spiking kinds run LIF neurons over time instead of ReLU.
    pub fn is_spiking(self) -> bool {
        matches!(
            self,
            ModelKind::Snn3d | ModelKind::Snn3dGaps | ModelKind::Snn3dRelaxed | ModelKind::Snn
        )
    }

    /// The paper's training length: 300 epochs for MLPs, 200 for SNNs.
    pub fn paper_epochs(self) -> usize {
        if self.is_spiking() {
            200
        } else {
            300
        }
    }

    pub fn is_embedded(self) -> bool {
        self.axis().is_some()
    }

    /// The paper's learning rate for this family: 0.005 embedded, 0.001 baselines.
    pub fn paper_learning_rate(self) -> f64 {
        if self.is_embedded() {
            0.005
        } else {
            0.001
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                Error::Config(format!(
                    "unknown model kind `{s}`; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// Position of each layer on the layer axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AxisMode {
    /// z_l = l: consecutive layers are exactly 1 apart.
    Fixed,
    /// One learned gap per pair of consecutive layers, initialised to 1.
    Gaps,
    /// One learned z per neuron, initialised uniformly in [l, l+1).
    Relaxed,
}

/// Non-linearity between hidden layers (the output layer gives raw logits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    Relu,
    Tanh,
    Sigmoid,
}

crate::names::serde_named!(
    Activation,
    "activation",
    [Activation::Relu, Activation::Tanh, Activation::Sigmoid]
);

impl Activation {
    pub fn apply(self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(x),
        }
    }
}

/// Initial distribution of the embedded parameters (unspecified by the paper; see README).
///
/// Measured on MNIST 784-2048-10, d = 3, seed 0 (test accuracy; README "Choices"): coordinates
/// in ±1 or ±5 with small inhibition values collapse to a constant prediction (weights are
/// nearly equal for every pair, so all hidden units share one pre-activation and die
/// together); ±10 reaches 0.866 after 8 epochs and 0.883 after 14; ±20 0.852 and 0.867;
/// ±40 trails ±20. With ±20 coordinates, inhibition ±1 → 0.79 after 3 epochs, ±0.3 → 0.81,
/// ±0.1 → 0.82, ±0.03 → 0.82. Typical weights ≈ 1/10 keep the currents of a [0, 1] image O(1),
/// and small inhibition values start every mask in the steep, trainable part of the sigmoid
/// (|m| ≤ 0.46 with k = 10).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedInit {
    /// Free coordinates start uniform in [−coord_half_width, coord_half_width] (or on the
    /// `layout`'s structure, spanning that range).
    pub coord_half_width: f64,
    /// Raw inhibition values start uniform in [−inhibition_half_width, inhibition_half_width].
    pub inhibition_half_width: f64,
    /// Where the free coordinates start (absent in older configurations: uniform).
    #[serde(default, skip_serializing_if = "CoordLayout::is_uniform")]
    pub layout: CoordLayout,
}

impl Default for EmbeddedInit {
    fn default() -> Self {
        EmbeddedInit {
            coord_half_width: 10.0,
            inhibition_half_width: 0.1,
            layout: CoordLayout::Uniform,
        }
    }
}

/// The starting arrangement of the neurons' free coordinates ([`crate::init::grid_coords`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CoordLayout {
    /// Independently uniform (the default).
    #[default]
    Uniform,
    /// Structured: the input neurons on the image's pixel grid, hidden neurons on a square
    /// grid, the output neurons on a circle.
    Grid,
}

crate::names::serde_named!(
    CoordLayout,
    "coordinate layout",
    [CoordLayout::Uniform, CoordLayout::Grid]
);

impl CoordLayout {
    pub fn is_uniform(&self) -> bool {
        *self == CoordLayout::Uniform
    }
}

/// How an embedded synapse layer's weights are sized (`train --weight-scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WeightScale {
    /// `w_ij = 1/‖p_i − p_j‖` (the paper's): a layer's weights grow only as its neurons crowd.
    #[default]
    Fixed,
    /// `w_ij = s_l/‖p_i − p_j‖` with one learned `s_l` per synapse layer (starting at 1): how
    /// strong a layer is, apart from who is near whom. Beyond the paper; +1 parameter a layer.
    Learned,
}

crate::names::serde_named!(
    WeightScale,
    "weight scale",
    [WeightScale::Fixed, WeightScale::Learned]
);

impl WeightScale {
    pub fn is_fixed(&self) -> bool {
        *self == WeightScale::Fixed
    }
}

/// Everything needed to rebuild a network: `Network::new(&config, vb)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub kind: ModelKind,
    /// Neurons per layer, input first: `[784, 2048, 10]`.
    pub layers: Vec<usize>,
    /// Embedding dimension d: d − 1 free coordinates plus the layer axis (embedded kinds only).
    pub dim: usize,
    /// Steepness k of the inhibition mask `m = 2·σ(k·v) − 1`.
    pub steepness: f64,
    /// Floor on squared distances before `1/sqrt(·)`.
    pub distance_epsilon: f64,
    /// Hidden activation of MLP kinds (spiking kinds use `lif` instead).
    pub activation: Activation,
    pub init: EmbeddedInit,
    /// LIF neurons and simulation length; present exactly for spiking kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lif: Option<LifConfig>,
    /// Pruning in every forward pass (`train --prune-during`); the network keeps applying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruning: Option<Pruning>,
    /// A fixed pruning mask stored with the checkpoint (`neuropos prune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_mask: Option<FixedMask>,
    /// The input image's shape, `[H, W]` or `[H, W, C]`, where it is not a square of one
    /// channel (absent: `√n × √n`, MNIST's 28 × 28): the grid layout puts the input neurons on
    /// the real pixel grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<usize>>,
    /// Embedded kinds: a learned scale per synapse layer (absent: the paper's `1/distance`).
    #[serde(default, skip_serializing_if = "WeightScale::is_fixed")]
    pub weight_scale: WeightScale,
}

/// Sanity bounds on a configuration (see [`Config::validate`]).
pub const MAX_LAYERS: usize = 64;
pub const MAX_LAYER_SIZE: usize = 1 << 24;
pub const MAX_DIM: usize = 4096;

impl Config {
    /// The paper's architecture `784 – hidden… – 10` with neuropos' defaults.
    pub fn new(kind: ModelKind, input: usize, hidden: &[usize], output: usize, dim: usize) -> Self {
        let mut layers = Vec::with_capacity(hidden.len() + 2);
        layers.push(input);
        layers.extend_from_slice(hidden);
        layers.push(output);
        Config {
            kind,
            layers,
            dim,
            steepness: DEFAULT_STEEPNESS,
            distance_epsilon: DEFAULT_DISTANCE_EPSILON,
            activation: Activation::Relu,
            init: EmbeddedInit::default(),
            lif: kind.is_spiking().then(LifConfig::default),
            pruning: None,
            fixed_mask: None,
            input_shape: None,
            weight_scale: WeightScale::Fixed,
        }
    }

    /// MNIST-shaped (784 inputs, 10 classes) network.
    pub fn mnist(kind: ModelKind, hidden: &[usize], dim: usize) -> Self {
        Self::new(kind, 784, hidden, 10, dim)
    }

    /// The architecture for images of `shape` (`[H, W]` or `[H, W, C]`) in `classes` classes:
    /// `H·W·C – hidden… – classes`, the shape kept where it is not a square of one channel.
    pub fn for_data(
        kind: ModelKind,
        shape: &[usize],
        hidden: &[usize],
        classes: usize,
        dim: usize,
    ) -> Self {
        let inputs = shape.iter().product();
        let mut config = Self::new(kind, inputs, hidden, classes, dim);
        let square = shape.len() == 2 && shape[0] == shape[1];
        config.input_shape = (!square).then(|| shape.to_vec());
        config
    }

    /// The columns of the input image's pixel grid and its channels: the shape's, or a square.
    pub fn input_grid(&self) -> (usize, usize) {
        match self.input_shape.as_deref() {
            Some([_, w]) => (*w, 1),
            Some([_, w, c]) => (*w, *c),
            _ => ((self.input_size() as f64).sqrt().ceil() as usize, 1),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::Config(msg));
        if let Some(shape) = &self.input_shape {
            let pixels: usize = shape.iter().product();
            if !(2..=3).contains(&shape.len()) || pixels != self.input_size() {
                return fail(format!(
                    "input shape {shape:?} is not [H, W] or [H, W, C] of the {} inputs",
                    self.input_size()
                ));
            }
        }
        if self.layers.len() < 2 {
            return fail(format!(
                "need at least an input and an output layer, got layers {:?}",
                self.layers
            ));
        }
        // Bounds far above any real network, so that a crafted configuration cannot make the
        // parameter count overflow or a loader allocate more than memory holds.
        if self.layers.len() > MAX_LAYERS {
            return fail(format!(
                "{} layers; at most {MAX_LAYERS} are supported",
                self.layers.len()
            ));
        }
        if let Some(&n) = self.layers.iter().find(|&&n| n > MAX_LAYER_SIZE) {
            return fail(format!(
                "a layer of {n} neurons; at most {MAX_LAYER_SIZE} are supported"
            ));
        }
        if self.dim > MAX_DIM {
            return fail(format!(
                "embedding dimension {}; at most {MAX_DIM} is supported",
                self.dim
            ));
        }
        if let Some(l) = self.layers.iter().position(|&n| n == 0) {
            return fail(format!(
                "layer {l} has no neurons (layers {:?})",
                self.layers
            ));
        }
        match (self.kind.is_spiking(), &self.lif) {
            (true, None) => return fail(format!("{} needs a `lif` configuration", self.kind)),
            (false, Some(_)) => {
                return fail(format!(
                    "{} is not spiking but has a `lif` configuration",
                    self.kind
                ))
            }
            (true, Some(lif)) => lif.validate().map_err(Error::Config)?,
            (false, None) => {}
        }
        if let Some(pruning) = &self.pruning {
            pruning.validate().map_err(Error::Config)?;
            self.check_pruning_keeps_weights(pruning.percent, pruning.scope)?;
        }
        if self.pruning.is_some() && self.fixed_mask.is_some() {
            return fail(
                "a model prunes in every forward pass or has a fixed mask, not both".into(),
            );
        }
        if !self.weight_scale.is_fixed() && !self.kind.is_embedded() {
            return fail(format!(
                "a learned weight scale sizes 1/distance weights; {} has weight matrices",
                self.kind
            ));
        }
        if self.kind.is_embedded() {
            if self.dim < 2 {
                return fail(format!(
                    "embedding dimension must be at least 2 (one free coordinate plus the layer axis), got {}",
                    self.dim
                ));
            }
            // Checked as the network computes them, in f32: a steepness of 1e300 is infinite
            // there (NaN masks), an epsilon of 1e-300 is 0 (an infinite weight).
            if !crate::device::positive_in_f32(self.steepness) {
                return fail(format!(
                    "steepness must be positive and finite in f32, got {:e}",
                    self.steepness
                ));
            }
            if !crate::device::positive_in_f32(self.distance_epsilon) {
                return fail(format!(
                    "distance_epsilon must be positive and finite in f32, got {:e}",
                    self.distance_epsilon
                ));
            }
            let init = self.init;
            // A width of 0 starts every neuron of a layer at the same place (or every mask at
            // 0): a symmetric start that training cannot break.
            let width_ok = crate::device::positive_in_f32;
            if !(width_ok(init.coord_half_width) && width_ok(init.inhibition_half_width)) {
                return fail(format!(
                    "init widths must be positive and finite, got {init:?}"
                ));
            }
        }
        Ok(())
    }

    /// Refuses a pruning share that leaves a synapse layer (or, for scope global, the network)
    /// without a single weight: 99.9999 % rounds to all of them, and such a network trains to
    /// chance while reporting a complete run.
    pub fn check_pruning_keeps_weights(
        &self,
        percent: f64,
        scope: crate::prune::PruneScope,
    ) -> Result<()> {
        let sizes: Vec<usize> = self.layers.windows(2).map(|w| w[0] * w[1]).collect();
        let empty = |n: usize| crate::prune::removed_count(n, percent) >= n;
        let bad = match scope {
            crate::prune::PruneScope::Layer => sizes.iter().position(|&n| empty(n)),
            crate::prune::PruneScope::Global => empty(sizes.iter().sum()).then_some(0),
        };
        match bad {
            None => Ok(()),
            Some(c) => Err(Error::Config(match scope {
                crate::prune::PruneScope::Layer => format!(
                    "pruning {percent} % removes every one of the {} weights of synapse layer {c} \
                     ({} → {} neurons)",
                    sizes[c],
                    self.layers[c],
                    self.layers[c + 1]
                ),
                crate::prune::PruneScope::Global => format!(
                    "pruning {percent} % removes every one of the network's {} weights",
                    sizes.iter().sum::<usize>()
                ),
            })),
        }
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn input_size(&self) -> usize {
        self.layers[0]
    }

    pub fn output_size(&self) -> usize {
        self.layers[self.layers.len() - 1]
    }

    pub fn hidden(&self) -> &[usize] {
        &self.layers[1..self.layers.len() - 1]
    }

    /// Number of weight entries the network uses (embedded: synthesised, not stored).
    pub fn weight_count(&self) -> usize {
        self.layers.windows(2).map(|w| w[0] * w[1]).sum()
    }

    /// Trainable parameter count, by the paper's eq. (4) for embedded models and the usual
    /// `Σ n_i n_{i+1} + Σ n_i` for baselines.
    pub fn parameter_count(&self) -> usize {
        let n = &self.layers;
        let all: usize = n.iter().sum();
        let biases: usize = n[1..].iter().sum();
        match self.kind.axis() {
            None => self.weight_count() + biases,
            Some(axis) => {
                let inhibition: usize = n[..n.len() - 1].iter().sum();
                let scales = match self.weight_scale {
                    WeightScale::Fixed => 0,
                    WeightScale::Learned => n.len() - 1,
                };
                let base = (self.dim - 1) * all + biases + inhibition + scales;
                match axis {
                    AxisMode::Fixed => base,
                    AxisMode::Gaps => base + (n.len() - 1),
                    AxisMode::Relaxed => base + all,
                }
            }
        }
    }

    /// Short human-readable description, e.g. `mlp3d 784-2048-10 d=3`.
    pub fn describe(&self) -> String {
        let layers: Vec<String> = self.layers.iter().map(|n| n.to_string()).collect();
        let mut text = format!("{} {}", self.kind, layers.join("-"));
        if self.kind.is_embedded() {
            text += &format!(" d={}", self.dim);
        }
        if let Some(lif) = &self.lif {
            text += &format!(" T={}", lif.time_steps);
            if !lif.encoder.is_direct() {
                text += &format!(" {} input", lif.encoder);
            }
            if !lif.readout.is_count() {
                text += &format!(" {} readout", lif.readout);
            }
        }
        if !self.weight_scale.is_fixed() {
            text += " learned scale";
        }
        if let Some(p) = &self.pruning {
            text += &format!(" pruned {}% ({})", p.percent, p.scope);
        }
        if let Some(m) = &self.fixed_mask {
            text += &format!(" mask {}% ({}, {})", m.percent, m.scope, m.rank);
        }
        text
    }
}

//! A network is a stack of synapses with neuron dynamics in between.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Init, Linear, VarBuilder, VarMap};

use crate::config::{AxisMode, Config};
use crate::geometry::LayerAxis;
use crate::init::SeededVarMap;
use crate::lif::{lif, LifConfig};
use crate::lif_projection::lif_project;
use crate::sparse_synapses::{CurrentOptions, ProductPath};
use crate::spiking_loss::membrane_cross_entropy;
use crate::synapses::{DenseSynapses, EmbeddedSynapses, Synapses};

/// Embedded or baseline MLP or SNN, selected by [`Config::kind`]: the same synapses, with
/// ReLU (MLP) or LIF neurons over time (SNN) as dynamics.
///
/// Variable names (also the checkpoint's tensor names), for layer `l` of `L`:
/// embedded: `layers.{l}.coords` `[n_l, d−1]`, `layers.{l}.inhibition` `[n_l]` (l < L−1),
/// `layers.{l}.bias` `[n_l]` (l ≥ 1), `layers.{l}.z` `[n_l]` (relaxed), `gaps` `[L−1]` (gaps);
/// baseline: `linear.{c}.weight` `[n_{c+1}, n_c]`, `linear.{c}.bias` `[n_{c+1}]`.
#[derive(Debug, Clone)]
pub struct Network {
    config: Config,
    synapses: Vec<Synapses>,
}

impl Network {
    pub fn new(config: &Config, vb: VarBuilder) -> crate::Result<Self> {
        config.validate()?;
        let synapses = match config.kind.axis() {
            Some(axis) => embedded_synapses(config, axis, vb)?,
            None => dense_synapses(config, vb)?,
        };
        Ok(Network {
            config: config.clone(),
            synapses,
        })
    }

    /// A freshly initialised network whose variables live in `vars`.
    pub fn seeded(
        config: &Config,
        vars: &VarMap,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> crate::Result<Self> {
        Network::new(config, SeededVarMap::var_builder(vars, seed, dtype, device))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn synapses(&self) -> &[Synapses] {
        &self.synapses
    }

    /// Effective weights of every synapse layer, `[n_out, n_in]` each.
    pub fn weights(&self) -> Result<Vec<Tensor>> {
        self.synapses.iter().map(Synapses::weights).collect()
    }

    /// Sets how every embedded layer forms its current on the CPU
    /// ([`Synapses::set_current_options`]).
    pub fn set_current_options(&mut self, options: CurrentOptions) {
        for s in &mut self.synapses {
            s.set_current_options(options);
        }
    }

    /// Bytes of synthesised weights held at once by a forward pass with `options` on
    /// `threads` threads: every matrix whole on the dense path; on the event-driven path,
    /// one `[n_in, tile]` tile per concurrently running task, for the hungriest layer. (Spiking
    /// layers after the first feed the fused LIF projection, which takes its matrix whole.)
    /// `None` for [`ProductPath::Auto`] on embedded models, where the path follows the input.
    pub fn weight_working_set_bytes(
        &self,
        options: CurrentOptions,
        threads: usize,
    ) -> Option<usize> {
        let bytes = self
            .synapses
            .iter()
            .find_map(|s| s.bias())
            .map_or(4, |b| b.dtype().size_in_bytes());
        let spiking = self.config.lif.is_some();
        let layers = self.config.layers.windows(2).enumerate();
        match (self.config.kind.axis(), options.path) {
            (Some(_), ProductPath::Auto) => None,
            (Some(_), ProductPath::Sparse) => layers
                .map(|(c, w)| {
                    let (n_in, n_out) = (w[0], w[1]);
                    if spiking && c > 0 {
                        return n_in * n_out * bytes;
                    }
                    let tile = options.tile.min(n_out);
                    n_out.div_ceil(tile).min(threads.max(1)) * n_in * tile * bytes
                })
                .max(),
            _ => Some(self.config.weight_count() * bytes),
        }
    }

    /// Installs pruning keep-masks, one `[n_out, n_in]` 0/1 tensor per synapse layer, or
    /// removes them with `None`.
    pub fn set_keep_masks(&mut self, masks: Option<Vec<Tensor>>) -> Result<()> {
        match masks {
            None => {
                for s in &mut self.synapses {
                    s.set_keep_mask(None)?;
                }
            }
            Some(masks) => {
                if masks.len() != self.synapses.len() {
                    candle_core::bail!(
                        "{} keep-masks for {} synapse layers",
                        masks.len(),
                        self.synapses.len()
                    );
                }
                for (s, m) in self.synapses.iter_mut().zip(masks) {
                    s.set_keep_mask(Some(m))?;
                }
            }
        }
        Ok(())
    }
}

/// What a forward pass produces.
#[derive(Debug, Clone)]
pub enum NetworkOutput {
    /// MLP kinds: `[B, classes]`.
    Logits(Tensor),
    /// Spiking kinds: output-layer spikes and membranes, `[T, B, classes]` each.
    Spiking { spikes: Tensor, membrane: Tensor },
}

impl Network {
    /// Runs the network on a batch `[B, n_input]`.
    pub fn run(&self, x: &Tensor) -> Result<NetworkOutput> {
        match &self.config.lif {
            None => Ok(NetworkOutput::Logits(self.logits(x)?)),
            Some(lif_cfg) => {
                let out = lif(&self.output_currents(x, lif_cfg)?, lif_cfg, true)?;
                let membrane = out.membrane.ok_or_else(|| {
                    candle_core::Error::Msg("the output LIF layer lost its membranes".into())
                })?;
                Ok(NetworkOutput::Spiking {
                    spikes: out.spikes,
                    membrane,
                })
            }
        }
    }

    /// An MLP's logits `[B, classes]`.
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let last = self.synapses.len() - 1;
        let mut h = x.clone();
        for (c, syn) in self.synapses.iter().enumerate() {
            let activation = (c < last).then_some(self.config.activation);
            h = syn.forward_activated(&h, activation)?;
        }
        Ok(h)
    }

    /// An SNN's input currents to its output LIF layer: `[T, B, classes]`, or `[B, classes]`
    /// (constant over the steps) for a network with no hidden layer.
    fn output_currents(&self, x: &Tensor, lif_cfg: &LifConfig) -> Result<Tensor> {
        // The image is the same current at every step: the first layer's current is computed
        // once and the LIF ops take it as a constant input (identical to recomputing and
        // repeating it T times, without the T copies). Every hidden LIF layer feeds the next
        // synapses through the fused projection, so no [T, B, N] spike tensor is materialised
        // on the CPU.
        let mut current = self.synapses[0].forward(x)?;
        for syn in &self.synapses[1..] {
            // Every synapse layer here has a bias (embedded ones and the baselines' `Linear`s
            // alike).
            let bias = syn.bias().ok_or_else(|| {
                candle_core::Error::Msg("a spiking layer's synapses have no bias".into())
            })?;
            current = lif_project(&current, &syn.projection()?, bias, lif_cfg)?;
        }
        Ok(current)
    }

    /// Training loss: cross-entropy of the logits (MLP), or the cross-entropy of the output
    /// membrane at every step summed over the steps, averaged over the batch (SNN, the snnTorch
    /// tutorial convention; one fused op on the CPU, [`membrane_cross_entropy`]).
    pub fn loss(&self, x: &Tensor, labels: &Tensor) -> Result<Tensor> {
        match &self.config.lif {
            None => candle_nn::loss::cross_entropy(&self.logits(x)?, labels),
            Some(lif_cfg) => {
                membrane_cross_entropy(&self.output_currents(x, lif_cfg)?, labels, lif_cfg)
            }
        }
    }

    /// Predicted class per sample: the largest logit (MLP), or the most output spikes with
    /// ties broken by the larger summed membrane potential (SNN).
    pub fn predict(&self, x: &Tensor) -> Result<Vec<u32>> {
        match self.run(x)? {
            NetworkOutput::Logits(logits) => logits.detach().argmax(D::Minus1)?.to_vec1::<u32>(),
            NetworkOutput::Spiking { spikes, membrane } => {
                let counts = spikes
                    .detach()
                    .sum(0)?
                    .to_dtype(DType::F32)?
                    .to_vec2::<f32>()?;
                let potential = membrane
                    .detach()
                    .sum(0)?
                    .to_dtype(DType::F32)?
                    .to_vec2::<f32>()?;
                Ok(counts
                    .iter()
                    .zip(&potential)
                    .map(|(c, p)| {
                        (0..c.len())
                            .max_by(|&a, &b| c[a].total_cmp(&c[b]).then(p[a].total_cmp(&p[b])))
                            .unwrap_or(0) as u32
                    })
                    .collect())
            }
        }
    }
}

impl Module for Network {
    /// Class scores `[B, classes]`: logits (MLP) or output spike counts (SNN; see
    /// [`Network::predict`] for the tie-break).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.run(x)? {
            NetworkOutput::Logits(logits) => Ok(logits),
            NetworkOutput::Spiking { spikes, .. } => spikes.sum(0),
        }
    }
}

fn embedded_synapses(cfg: &Config, axis: AxisMode, vb: VarBuilder) -> Result<Vec<Synapses>> {
    let n = &cfg.layers;
    let depth = n.len();
    let free = cfg.dim - 1;
    let a = cfg.init.coord_half_width;
    let b = cfg.init.inhibition_half_width;
    let layers = vb.pp("layers");

    // Gaps are constants at init, so creating them first leaves the random stream (and so
    // every seeded initialisation) as it is.
    let gaps = match axis {
        AxisMode::Gaps => Some(vb.get_with_hints(depth - 1, "gaps", Init::Const(1.0))?),
        _ => None,
    };
    let mut coords = Vec::with_capacity(depth);
    let mut axes = Vec::with_capacity(depth);
    let mut inhibition = Vec::with_capacity(depth - 1);
    let mut bias = Vec::with_capacity(depth - 1);
    for (l, &size) in n.iter().enumerate() {
        let lv = layers.pp(l);
        coords.push(lv.get_with_hints((size, free), "coords", Init::Uniform { lo: -a, up: a })?);
        axes.push(match (axis, &gaps) {
            (AxisMode::Gaps, Some(gaps)) => LayerAxis::Gaps {
                gaps: gaps.clone(),
                layer: l,
            },
            (AxisMode::Relaxed, _) => {
                let lo = l as f64;
                LayerAxis::PerNeuron(lv.get_with_hints(
                    size,
                    "z",
                    Init::Uniform { lo, up: lo + 1.0 },
                )?)
            }
            _ => LayerAxis::Fixed(l as f64),
        });
        if l + 1 < depth {
            inhibition.push(lv.get_with_hints(
                size,
                "inhibition",
                Init::Uniform { lo: -b, up: b },
            )?);
        }
        if l > 0 {
            bias.push(lv.get_with_hints(size, "bias", Init::Const(0.0))?);
        }
    }
    Ok((0..depth - 1)
        .map(|c| {
            Synapses::Embedded(EmbeddedSynapses::new(
                (coords[c].clone(), axes[c].clone()),
                (coords[c + 1].clone(), axes[c + 1].clone()),
                inhibition[c].clone(),
                bias[c].clone(),
                cfg.steepness,
                cfg.distance_epsilon,
            ))
        })
        .collect())
}

/// `candle_nn::Linear` layers with PyTorch's default initialisation: weights and biases
/// uniform in ±1/sqrt(fan_in) (Kaiming-uniform with a = √5).
fn dense_synapses(cfg: &Config, vb: VarBuilder) -> Result<Vec<Synapses>> {
    cfg.layers
        .windows(2)
        .enumerate()
        .map(|(c, pair)| {
            let (n_in, n_out) = (pair[0], pair[1]);
            let bound = 1.0 / (n_in as f64).sqrt();
            let init = Init::Uniform {
                lo: -bound,
                up: bound,
            };
            let lv = vb.pp("linear").pp(c);
            let w = lv.get_with_hints((n_out, n_in), "weight", init)?;
            let b = lv.get_with_hints(n_out, "bias", init)?;
            Ok(Synapses::Dense(DenseSynapses::new(Linear::new(w, Some(b)))))
        })
        .collect()
}

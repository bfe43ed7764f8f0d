//! A network is a stack of synapses with neuron dynamics in between.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{VarBuilder, VarMap};

use crate::config::{Config, CoordLayout};
use crate::encoder::{encode, DrawKey};
use crate::init::SeededVarMap;
use crate::layers::dense::{Dense, DenseConfig};
use crate::layers::embedded::{CurrentOptions, EmbeddedConfig, Embedding, ProductPath};
use crate::layers::lif::{lif, lif_project, LifConfig, Readout};
use crate::layers::Synapses;
use crate::loss::{membrane_cross_entropy, smoothed_cross_entropy};
use crate::prune::smallest_removed;
use crate::recipe::{Recipe, SnnLoss};

/// Embedded or baseline MLP or SNN, selected by [`Config::kind`]: the same synapses, with
/// ReLU (MLP) or LIF neurons over time (SNN) as dynamics.
///
/// Variable names (also the checkpoint's tensor names): an embedded network's are those of
/// its [`Embedding`]; a baseline's `linear.{c}.weight` `[n_{c+1}, n_c]` and
/// `linear.{c}.bias` `[n_{c+1}]` ([`Dense`]).
#[derive(Debug, Clone)]
pub struct Network {
    config: Config,
    layers: Layers,
    /// Pruning keep-masks per synapse layer, in the layout of that layer's weights: `[n_in,
    /// n_out]` for embedded synapses (as `W` is synthesised), `[n_out, n_in]` for dense ones.
    keep: Vec<Option<Tensor>>,
    current: CurrentOptions,
}

/// Where the state lives: the neurons of an embedding, or one weight matrix per layer.
#[derive(Debug, Clone)]
enum Layers {
    Embedded(Embedding),
    Dense(Vec<Dense>),
}

impl Network {
    pub fn new(config: &Config, vb: VarBuilder) -> crate::Result<Self> {
        config.validate()?;
        let layers = match EmbeddedConfig::of(config) {
            Some(cfg) => Layers::Embedded(Embedding::new(&cfg, vb)?),
            None => Layers::Dense(
                config
                    .layers
                    .windows(2)
                    .enumerate()
                    .map(|(c, pair)| {
                        let cfg = DenseConfig {
                            n_in: pair[0],
                            n_out: pair[1],
                        };
                        Dense::new(&cfg, vb.pp("linear").pp(c))
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        Ok(Network {
            config: config.clone(),
            layers,
            keep: vec![None; config.layers.len() - 1],
            current: CurrentOptions::default(),
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
        let network = Network::new(config, SeededVarMap::var_builder(vars, seed, dtype, device))?;
        if config.init.layout == CoordLayout::Grid && config.kind.is_embedded() {
            // Drawn uniform first, so the other variables get the same random values as
            // with the uniform layout; then placed.
            let data = vars
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("variable map poisoned".into()))?;
            let depth = config.layers.len();
            for (l, &n) in config.layers.iter().enumerate() {
                let name = format!("layers.{l}.coords");
                let var = data.get(&name).ok_or_else(|| {
                    candle_core::Error::Msg(format!("no variable {name} to lay out"))
                })?;
                let free = config.dim - 1;
                let image = config.input_shape.is_some().then(|| config.input_grid());
                let half = config.init.coord_half_width;
                let coords = crate::init::grid_coords_on(n, free, l, depth, half, image);
                var.set(
                    &Tensor::from_vec(coords, (n, free), &Device::Cpu)?
                        .to_dtype(dtype)?
                        .to_device(device)?,
                )?;
            }
        }
        Ok(network)
    }

    /// Sets the inhibition masks' steepness k (an annealed recipe); the configuration, and so
    /// a checkpoint written from it, records the new k. A no-op for dense kinds.
    pub fn set_steepness(&mut self, k: f64) {
        if let Layers::Embedded(e) = &mut self.layers {
            self.config.steepness = k;
            e.set_steepness(k);
        }
    }

    /// The network of a checkpoint: a directory, a `.safetensors` file or
    /// `hf://owner/repo[@revision][/subdir]` ([`crate::hub::load_pretrained`]; that
    /// function also returns the trainable variables, for fine-tuning).
    pub fn from_pretrained(reference: &str, device: &Device) -> crate::Result<Self> {
        Ok(crate::hub::load_pretrained(reference, DType::F32, device)?.network)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The embedded neurons, `None` for the dense baselines.
    pub fn embedding(&self) -> Option<&Embedding> {
        match &self.layers {
            Layers::Embedded(e) => Some(e),
            Layers::Dense(_) => None,
        }
    }

    /// The synapses from every layer to the next, with the installed keep-masks
    /// ([`Network::set_keep_masks`]) and current options applied.
    pub fn synapses(&self) -> Vec<Synapses<'_>> {
        self.synapses_with(&self.keep)
    }

    /// The synapses with `keep` (one optional mask per layer, in the layers' own layouts).
    fn synapses_with<'a>(&'a self, keep: &'a [Option<Tensor>]) -> Vec<Synapses<'a>> {
        (0..self.keep.len())
            .map(|c| self.synapse_layer(c, keep[c].as_ref()))
            .collect()
    }

    /// The masks a forward pass runs with when they differ from the installed ones: with a
    /// [`crate::prune::Pruning`] in the config and no keep-masks installed, masks ranked afresh
    /// from the current weights (detached: the ranking carries no gradient).
    fn forward_masks(&self) -> Result<Option<Vec<Option<Tensor>>>> {
        match (&self.config.pruning, self.keep.iter().any(Option::is_some)) {
            (Some(pruning), false) => {
                // In each layer's own layout: W pre-major for embedded synapses, Linear's for
                // dense ones (the ranking does not depend on the layout).
                let weights: Vec<Tensor> = (0..self.keep.len())
                    .map(|c| match self.synapse_layer(c, None) {
                        Synapses::Embedded(s) => s.weights(),
                        Synapses::Dense(d, _) => Ok(d.weight().clone()),
                    })
                    .collect::<Result<_>>()?;
                let masks = smallest_removed(&weights, pruning.percent, pruning.scope)?;
                Ok(Some(masks.into_iter().map(Some).collect()))
            }
            _ => Ok(None),
        }
    }

    /// The masks of the config's pruning for the current weights, `[n_out, n_in]` per layer as
    /// [`Network::set_keep_masks`] takes them; `None` without one.
    pub fn pruning_masks(&self) -> Result<Option<Vec<Tensor>>> {
        let Some(masks) = self.forward_masks()? else {
            return Ok(None);
        };
        masks
            .into_iter()
            .flatten()
            .map(|m| match self.layers {
                Layers::Embedded(_) => m.t()?.contiguous(),
                Layers::Dense(_) => Ok(m),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Synapse layer `c` without any pruning.
    pub fn synapses_unpruned(&self, c: usize) -> Result<Synapses<'_>> {
        if c >= self.keep.len() {
            candle_core::bail!("no synapse layer {c} in {}", self.config.describe());
        }
        Ok(self.synapse_layer(c, None))
    }

    fn synapse_layer<'a>(&'a self, c: usize, keep: Option<&'a Tensor>) -> Synapses<'a> {
        match &self.layers {
            Layers::Embedded(e) => Synapses::Embedded(
                e.synapses(c)
                    .expect("a validated config has synapses between consecutive layers")
                    .with_keep(keep)
                    .with_options(self.current),
            ),
            Layers::Dense(d) => Synapses::Dense(&d[c], keep),
        }
    }

    /// Effective weights of every synapse layer, `[n_out, n_in]` each.
    pub fn weights(&self) -> Result<Vec<Tensor>> {
        self.synapses().iter().map(Synapses::weights).collect()
    }

    /// Sets how every embedded layer forms its current on the CPU (no effect on dense layers
    /// or off the CPU). [`ProductPath::Sparse`] with a small tile is the O(n)-memory inference
    /// path.
    pub fn set_current_options(&mut self, options: CurrentOptions) {
        self.current = options;
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
            .synapses()
            .iter()
            .find_map(|s| s.bias().map(|b| b.dtype().size_in_bytes()))
            .unwrap_or(4);
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

    /// The installed keep-masks, `[n_out, n_in]` per layer (all ones where none is installed).
    pub fn keep_masks(&self) -> Result<Vec<Tensor>> {
        (0..self.keep.len())
            .map(|c| {
                let (n_in, n_out) = self.synapse_layer(c, None).shape()?;
                match (&self.keep[c], &self.layers) {
                    (Some(k), Layers::Embedded(_)) => k.t()?.contiguous(),
                    (Some(k), Layers::Dense(_)) => Ok(k.clone()),
                    (None, _) => {
                        let like = self.synapse_layer(c, None).weights()?;
                        Tensor::ones((n_out, n_in), like.dtype(), like.device())
                    }
                }
            })
            .collect()
    }

    /// Installs pruning keep-masks, one `[n_out, n_in]` 0/1 tensor per synapse layer, or
    /// removes them with `None`.
    pub fn set_keep_masks(&mut self, masks: Option<Vec<Tensor>>) -> Result<()> {
        let Some(masks) = masks else {
            self.keep.iter_mut().for_each(|k| *k = None);
            return Ok(());
        };
        if masks.len() != self.keep.len() {
            candle_core::bail!(
                "{} keep-masks for {} synapse layers",
                masks.len(),
                self.keep.len()
            );
        }
        let mut keep = Vec::with_capacity(masks.len());
        for (c, mask) in masks.into_iter().enumerate() {
            let (n_in, n_out) = self.synapse_layer(c, None).shape()?;
            if mask.dims() != [n_out, n_in] {
                candle_core::bail!(
                    "keep-mask {c} has shape {:?}, expected [{n_out}, {n_in}]",
                    mask.dims()
                );
            }
            keep.push(Some(match self.layers {
                Layers::Embedded(_) => mask.t()?.contiguous()?,
                Layers::Dense(_) => mask,
            }));
        }
        self.keep = keep;
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
        self.run_keyed(x, DrawKey::evaluation(0))
    }

    /// [`Network::run`] with the random streams a rate-coded input draws from (the samples of
    /// `x` are the data set's from `key.first` on); other networks ignore the key.
    pub fn run_keyed(&self, x: &Tensor, key: DrawKey) -> Result<NetworkOutput> {
        match &self.config.lif {
            None => Ok(NetworkOutput::Logits(self.logits(x)?)),
            Some(lif_cfg) => {
                let out = lif(&self.output_currents(x, lif_cfg, key)?, lif_cfg, true)?;
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
        let masks = self.forward_masks()?;
        let synapses = self.synapses_with(masks.as_deref().unwrap_or(&self.keep));
        let last = synapses.len() - 1;
        let mut h = x.clone();
        for (c, syn) in synapses.iter().enumerate() {
            let activation = (c < last).then_some(self.config.activation);
            h = syn.forward_activated(&h, activation)?;
        }
        Ok(h)
    }

    /// An SNN's input currents to its output LIF layer: `[T, B, classes]`, or `[B, classes]`
    /// (constant over the steps) for a network with no hidden layer.
    fn output_currents(&self, x: &Tensor, lif_cfg: &LifConfig, key: DrawKey) -> Result<Tensor> {
        // With the direct encoder the image is the same current at every step: the first
        // layer's current is computed once and the LIF ops take it as a constant input
        // (identical to recomputing and repeating it T times, without the T copies). Every
        // hidden LIF layer feeds the next synapses through the fused projection, so no
        // [T, B, N] spike tensor is materialised on the CPU.
        let masks = self.forward_masks()?;
        let synapses = self.synapses_with(masks.as_deref().unwrap_or(&self.keep));
        let mut current = self.input_current(&synapses[0], x, lif_cfg, key)?;
        for syn in &synapses[1..] {
            // Every synapse layer here has a bias (embedded ones and the baselines' `Linear`s
            // alike).
            let bias = syn.bias().ok_or_else(|| {
                candle_core::Error::Msg("a spiking layer's synapses have no bias".into())
            })?;
            current = lif_project(&current, &syn.projection()?, bias, lif_cfg)?;
        }
        Ok(current)
    }

    /// The first synapses' current: `[B, N]` for the direct encoder, `[T, B, N]` for spike
    /// trains (all T steps through the layer as one `[T·B, n]` batch; its event-driven
    /// kernel skips the silent inputs).
    fn input_current(
        &self,
        synapses: &Synapses<'_>,
        x: &Tensor,
        lif_cfg: &LifConfig,
        key: DrawKey,
    ) -> Result<Tensor> {
        match encode(x, &lif_cfg.encoder, lif_cfg.time_steps, key)? {
            None => synapses.forward(x),
            Some(spikes) => {
                let (t, b, n) = spikes.dims3()?;
                let current = synapses.forward(&spikes.reshape((t * b, n))?)?;
                let out = current.dim(1)?;
                current.reshape((t, b, out))
            }
        }
    }

    /// The mean presynaptic activity of synapse layer `c` over the samples `x` `[B, n_input]`,
    /// `[n_in]` ([`Network::layer_input`] averaged over the samples).
    pub fn mean_input(&self, x: &Tensor, c: usize) -> Result<Tensor> {
        self.layer_input(x, c)?.mean(0)
    }

    /// The presynaptic activity of synapse layer `c` per sample, `[B, n_in]`, detached: the
    /// pixels for layer 0; after it the hidden activations (MLP) or each neuron's spikes per
    /// step (SNN, the mean over the T steps), computed with the masks in force.
    pub fn layer_input(&self, x: &Tensor, c: usize) -> Result<Tensor> {
        let masks = self.forward_masks()?;
        let synapses = self.synapses_with(masks.as_deref().unwrap_or(&self.keep));
        if c >= synapses.len() {
            candle_core::bail!("no synapse layer {c} in {}", self.config.describe());
        }
        let x = x.detach();
        match &self.config.lif {
            None => {
                let mut h = x;
                for syn in &synapses[..c] {
                    h = syn.forward_activated(&h, Some(self.config.activation))?;
                }
                Ok(h.detach())
            }
            Some(lif_cfg) => {
                let key = DrawKey::evaluation(0);
                if c == 0 {
                    // What the first synapses see per step, on average.
                    return match encode(&x, &lif_cfg.encoder, lif_cfg.time_steps, key)? {
                        None => Ok(x),
                        Some(spikes) => spikes.mean(0),
                    };
                }
                let mut current = self.input_current(&synapses[0], &x, lif_cfg, key)?;
                for syn in &synapses[1..c] {
                    let bias = syn.bias().ok_or_else(|| {
                        candle_core::Error::Msg("a spiking layer's synapses have no bias".into())
                    })?;
                    current = lif_project(&current, &syn.projection()?, bias, lif_cfg)?;
                }
                // Spikes [T, B, n]: the mean over steps is what the next current sees on average.
                Ok(lif(&current, lif_cfg, false)?.spikes.mean(0)?.detach())
            }
        }
    }

    /// Weights as they act, `[n_out, n_in]` per layer: the inhibition mask folded in
    /// (`m_i · w_ij` for embedded synapses; dense weights as they are), pruning applied.
    pub fn effective_weights(&self) -> Result<Vec<Tensor>> {
        self.synapses()
            .iter()
            .map(|s| s.projection()?.t()?.contiguous())
            .collect()
    }

    /// The name of synapse layer `c`'s bias variable.
    pub fn bias_name(&self, c: usize) -> String {
        match self.layers {
            Layers::Embedded(_) => format!("layers.{}.bias", c + 1),
            Layers::Dense(_) => format!("linear.{c}.bias"),
        }
    }

    /// Training loss: cross-entropy of the logits (MLP), or the cross-entropy of the output
    /// membrane at every step summed over the steps, averaged over the batch (SNN, the snnTorch
    /// tutorial convention; one fused op on the CPU, [`membrane_cross_entropy`]).
    pub fn loss(&self, x: &Tensor, labels: &Tensor) -> Result<Tensor> {
        self.loss_with(x, labels, &Recipe::default(), DrawKey::default())
    }

    /// [`Network::loss`] with a recipe's label smoothing (MLPs; a spiking network refuses a
    /// smoothing it would not apply) and SNN loss, and the random streams of a rate-coded
    /// input ([`DrawKey::training`]).
    pub fn loss_with(
        &self,
        x: &Tensor,
        labels: &Tensor,
        recipe: &Recipe,
        key: DrawKey,
    ) -> Result<Tensor> {
        match &self.config.lif {
            None => smoothed_cross_entropy(&self.logits(x)?, labels, recipe.label_smoothing),
            Some(_) if recipe.label_smoothing != 0.0 => candle_core::bail!(
                "label smoothing applies to MLPs; the membrane loss of {} has none",
                self.config.describe()
            ),
            Some(lif_cfg) => {
                let currents = self.output_currents(x, lif_cfg, key)?;
                match recipe.snn_loss {
                    SnnLoss::Membrane => membrane_cross_entropy(&currents, labels, lif_cfg),
                    SnnLoss::Count => {
                        let spikes = lif(&currents, lif_cfg, false)?.spikes;
                        smoothed_cross_entropy(&spikes.sum(0)?, labels, 0.0)
                    }
                }
            }
        }
    }

    /// What distillation compares (`train --distill-from`): an MLP's logits, an SNN's output
    /// membrane summed over the steps, `[B, classes]`.
    pub fn distillation_scores(&self, x: &Tensor) -> Result<Tensor> {
        self.loss_parts(x, None, &Recipe::default(), DrawKey::evaluation(0))
            .map(|(_, scores)| scores)
    }

    /// [`Network::loss_with`] and [`Network::distillation_scores`] from one forward pass, for a
    /// distilled step.
    pub fn loss_and_scores(
        &self,
        x: &Tensor,
        labels: &Tensor,
        recipe: &Recipe,
        key: DrawKey,
    ) -> Result<(Tensor, Tensor)> {
        let (loss, scores) = self.loss_parts(x, Some(labels), recipe, key)?;
        Ok((loss.expect("labels were given"), scores))
    }

    fn loss_parts(
        &self,
        x: &Tensor,
        labels: Option<&Tensor>,
        recipe: &Recipe,
        key: DrawKey,
    ) -> Result<(Option<Tensor>, Tensor)> {
        match &self.config.lif {
            None => {
                let logits = self.logits(x)?;
                let loss = labels
                    .map(|y| smoothed_cross_entropy(&logits, y, recipe.label_smoothing))
                    .transpose()?;
                Ok((loss, logits))
            }
            Some(lif_cfg) => {
                let currents = self.output_currents(x, lif_cfg, key)?;
                let out = lif(&currents, lif_cfg, true)?;
                let membrane = out.membrane.ok_or_else(|| {
                    candle_core::Error::Msg("the output LIF layer lost its membranes".into())
                })?;
                let loss = match labels {
                    None => None,
                    Some(_) if recipe.label_smoothing != 0.0 => candle_core::bail!(
                        "label smoothing applies to MLPs; the membrane loss of {} has none",
                        self.config.describe()
                    ),
                    Some(y) => Some(match recipe.snn_loss {
                        SnnLoss::Membrane => membrane_cross_entropy(&currents, y, lif_cfg)?,
                        SnnLoss::Count => smoothed_cross_entropy(&out.spikes.sum(0)?, y, 0.0)?,
                    }),
                };
                Ok((loss, membrane.sum(0)?))
            }
        }
    }

    /// Predicted class per sample: the largest logit (MLP), or the most output spikes with
    /// ties broken by the larger summed membrane potential (SNN).
    pub fn predict(&self, x: &Tensor) -> Result<Vec<u32>> {
        self.predict_keyed(x, DrawKey::evaluation(0))
    }

    /// [`Network::predict`] for the samples of a data set from `key.first` on (what a
    /// rate-coded input draws; see [`Network::run_keyed`]).
    pub fn predict_keyed(&self, x: &Tensor, key: DrawKey) -> Result<Vec<u32>> {
        match self.run_keyed(x, key)? {
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
                let membrane_only = self
                    .config
                    .lif
                    .is_some_and(|l| l.readout == Readout::Membrane);
                Ok(counts
                    .iter()
                    .zip(&potential)
                    .map(|(c, p)| {
                        (0..c.len())
                            .max_by(|&a, &b| {
                                if membrane_only {
                                    p[a].total_cmp(&p[b])
                                } else {
                                    c[a].total_cmp(&c[b]).then(p[a].total_cmp(&p[b]))
                                }
                            })
                            .unwrap_or(0) as u32
                    })
                    .collect())
            }
        }
    }
}

impl Module for Network {
    /// Class scores `[B, classes]`: logits (MLP), or what the SNN's readout ranks: output
    /// spike counts (see [`Network::predict`] for the tie-break) or the summed membrane.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.run(x)? {
            NetworkOutput::Logits(logits) => Ok(logits),
            NetworkOutput::Spiking { membrane, .. }
                if self
                    .config
                    .lif
                    .is_some_and(|l| l.readout == Readout::Membrane) =>
            {
                membrane.sum(0)
            }
            NetworkOutput::Spiking { spikes, .. } => spikes.sum(0),
        }
    }
}

//! What a user chose for a run, before defaults: every field is `None` unless given. The CLI's
//! `train` flags are these fields (the `cli` feature derives them with clap, their doc comments
//! are the `--help`), so a flag is declared once; [`super::RunSettings::resolve`] turns them into
//! the settings a run records.

#[cfg(feature = "cli")]
use clap::Args;
use std::str::FromStr;

use super::early_stopping::Keep;
use crate::config::{Activation, CoordLayout, WeightScale};
use crate::encoder::Encoder;
use crate::hub::CheckpointSource;
use crate::layers::lif::{Readout, Reset, Surrogate};
use crate::prune::{PruneScope, Pruning};
use crate::recipe::{LrSchedule, Preset, SnnLoss};
use crate::ModelKind;

/// Comma-separated layer sizes, e.g. `512,512,256`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes(pub Vec<usize>);

impl FromStr for Sizes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(|p| {
                let p = p.trim();
                match p.parse::<usize>() {
                    Ok(0) => Err("layer sizes must be positive".to_string()),
                    Ok(n) => Ok(n),
                    Err(_) => Err(format!("`{p}` is not a layer size")),
                }
            })
            .collect::<Result<_, _>>()
            .map(Sizes)
    }
}

/// The network: what a checkpoint fixes. Given beside `--init-from` or `--resume`, each must say
/// what the checkpoint says.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "cli", derive(Args))]
pub struct ArchitectureChoices {
    /// mlp3d, mlp3d-gaps, mlp3d-relaxed, snn3d, snn3d-gaps, snn3d-relaxed (embedded) or
    /// mlp, snn (baselines). Required unless --init-from gives the architecture.
    #[cfg_attr(feature = "cli", arg(long))]
    pub model: Option<ModelKind>,
    /// Hidden layer sizes, comma-separated (inputs-…-classes around them) [default: 2048].
    #[cfg_attr(feature = "cli", arg(long))]
    pub hidden: Option<Sizes>,
    /// Embedding dimension d (embedded models): d − 1 free coordinates plus the layer axis
    /// [default: 3].
    #[cfg_attr(feature = "cli", arg(long))]
    pub dim: Option<usize>,
    /// Embedded kinds: `fixed` (w = 1/distance, the paper's) or `learned` (w = s/distance with
    /// one learned s per synapse layer, starting at 1; one parameter a layer) [default: fixed].
    #[cfg_attr(feature = "cli", arg(long, value_name = "SCALE"))]
    pub weight_scale: Option<WeightScale>,
    /// Hidden activation [default: relu].
    #[cfg_attr(feature = "cli", arg(long))]
    pub activation: Option<Activation>,
    /// SNN: simulation steps T [default: 25].
    #[cfg_attr(feature = "cli", arg(long))]
    pub time_steps: Option<usize>,
    /// SNN: how the image enters — `direct` (the pixels as a constant current at every step,
    /// the paper's), `rate[:GAIN]` (snnTorch's spikegen.rate: a spike per step with
    /// probability GAIN·pixel) or `latency[:THRESHOLD][:linear]` (spikegen.latency with
    /// normalize and clip: one spike per pixel, brighter earlier) [default: direct].
    #[cfg_attr(feature = "cli", arg(long))]
    pub encoder: Option<Encoder>,
    /// SNN: the prediction — `count` (the most output spikes, ties broken by the summed
    /// membrane: the paper's rule as neuropos reads it) or `membrane` (the largest summed
    /// membrane potential) [default: count].
    #[cfg_attr(feature = "cli", arg(long))]
    pub readout: Option<Readout>,
    /// SNN: what a spike does to the membrane — `subtract` (the threshold, at the next step:
    /// snnTorch's Leaky default, the paper's) or `zero` (set to 0 at once: NIR's LIF, what
    /// `export --format nir` writes, so a model trained so runs the same in snnTorch)
    /// [default: subtract].
    #[cfg_attr(feature = "cli", arg(long))]
    pub reset: Option<Reset>,
    /// SNN: membrane decay β per step [default: 0.95].
    #[cfg_attr(feature = "cli", arg(long))]
    pub beta: Option<f64>,
    /// SNN: firing threshold [default: 1].
    #[cfg_attr(feature = "cli", arg(long))]
    pub threshold: Option<f64>,
    /// SNN: surrogate gradient of the spike, arctan (snnTorch's default) or fast-sigmoid
    /// [default: arctan].
    #[cfg_attr(feature = "cli", arg(long, value_parser = ["arctan", "fast-sigmoid"]))]
    pub surrogate: Option<String>,
    /// SNN: the surrogate's α (arctan, default 2) or slope (fast-sigmoid, default 25).
    #[cfg_attr(feature = "cli", arg(long))]
    pub surrogate_scale: Option<f64>,
}

impl ArchitectureChoices {
    /// The surrogate the two surrogate choices name, with its default scale.
    pub fn surrogate(&self) -> Surrogate {
        match self.surrogate.as_deref() {
            Some("fast-sigmoid") => Surrogate::FastSigmoid {
                slope: self.surrogate_scale.unwrap_or(25.0),
            },
            _ => Surrogate::Arctan {
                alpha: self.surrogate_scale.unwrap_or(2.0),
            },
        }
    }

    /// The spiking-only choices given, by flag.
    pub(crate) fn spiking_given(&self) -> Vec<&'static str> {
        [
            ("--time-steps", self.time_steps.is_some()),
            ("--encoder", self.encoder.is_some()),
            ("--readout", self.readout.is_some()),
            ("--reset", self.reset.is_some()),
            ("--beta", self.beta.is_some()),
            ("--threshold", self.threshold.is_some()),
            ("--surrogate", self.surrogate.is_some()),
            ("--surrogate-scale", self.surrogate_scale.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

/// Pruning in every forward pass, for `train` and `bench`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "cli", derive(Args))]
pub struct PruneDuringChoices {
    /// Remove the smallest P % of the weights in every forward pass (the longest wires of an
    /// embedded model), ranked afresh each step; the checkpoint records it and `eval` keeps it.
    #[cfg_attr(feature = "cli", arg(long, value_name = "P"))]
    pub prune_during: Option<f64>,
    /// With --prune-during: rank within each layer or over the whole network [default: layer].
    #[cfg_attr(feature = "cli", arg(long, requires = "prune_during"))]
    pub scope: Option<PruneScope>,
}

impl PruneDuringChoices {
    pub fn pruning(&self) -> Option<Pruning> {
        self.prune_during.map(|percent| Pruning {
            percent,
            scope: self.scope.unwrap_or(PruneScope::Layer),
        })
    }
}

/// How a run trains, and how its fresh network starts: what `--resume` takes from the run
/// itself, so none may be given beside it.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "cli", derive(Args))]
pub struct TrainingChoices {
    /// Start from this checkpoint's positions, inhibition values, biases, gaps or z (a directory
    /// or hf://owner/repo[@revision][/subdir]) and keep its architecture: architecture flags
    /// must agree with it. The optimizer starts fresh (new Adam moments).
    #[cfg_attr(feature = "cli", arg(long, value_parser = CheckpointSource::parse))]
    pub init_from: Option<CheckpointSource>,
    /// Training epochs [default: 300 for MLPs, 200 for SNNs, as in the paper].
    #[cfg_attr(feature = "cli", arg(long))]
    pub epochs: Option<usize>,
    /// Adam learning rate [default: 0.005 embedded, 0.001 baselines, as in the paper].
    #[cfg_attr(feature = "cli", arg(long))]
    pub lr: Option<f64>,
    /// Learning-rate schedule: constant (the paper's), cosine (from the base rate to 0 over
    /// the steps after the warm-up) or step:EVERY:GAMMA (× GAMMA every EVERY epochs)
    /// [default: constant].
    #[cfg_attr(feature = "cli", arg(long, value_name = "SCHEDULE"))]
    pub lr_schedule: Option<LrSchedule>,
    /// Epochs of linear warm-up to the base rate before the schedule [default: 0].
    #[cfg_attr(feature = "cli", arg(long, value_name = "E"))]
    pub warmup_epochs: Option<usize>,
    /// Label smoothing ε of an MLP's loss: the target puts 1 − ε on the label and ε/10 on every
    /// class [default: 0].
    #[cfg_attr(feature = "cli", arg(long, value_name = "EPS"))]
    pub label_smoothing: Option<f64>,
    /// Shift every training image by a random whole number of pixels in [−P, P] along each
    /// axis, drawn afresh at every step [default: 0, no augmentation].
    #[cfg_attr(feature = "cli", arg(long, value_name = "P"))]
    pub augment_shift: Option<usize>,
    /// Anneal the mask steepness k linearly from --steepness at the first epoch to this at the
    /// last (embedded kinds) [default: k fixed].
    #[cfg_attr(feature = "cli", arg(long, value_name = "K"))]
    pub steepness_final: Option<f64>,
    /// The layer-axis parameters' rate (gaps, or the relaxed kinds' z) as a factor of --lr
    /// [default: 1].
    #[cfg_attr(feature = "cli", arg(long, value_name = "S"))]
    pub axis_lr_scale: Option<f64>,
    /// Spiking kinds: the loss on the output membrane at every step (the paper's) or on the
    /// output spike counts [default: membrane].
    #[cfg_attr(feature = "cli", arg(long, value_name = "LOSS"))]
    pub snn_loss: Option<SnnLoss>,
    /// Hold out the last N training images (before --train-limit) for validation: every epoch
    /// is scored on them, and the test set only once, after the last epoch — choose settings
    /// on validation, never on test.
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub val_split: Option<usize>,
    /// Which epoch's weights the checkpoint keeps: `last` (the paper's) or `best` (the best on
    /// the --val-split images; the test set is then scored once, on it) [default: last].
    #[cfg_attr(feature = "cli", arg(long))]
    pub keep: Option<Keep>,
    /// With --keep best: stop once P epochs in a row have not beaten the best validation score
    /// [default: train every epoch].
    #[cfg_attr(feature = "cli", arg(long, value_name = "P"))]
    pub patience: Option<usize>,
    /// Distil from this teacher (a directory or hf://owner/repo[@revision][/subdir], any kind
    /// with the student's inputs and classes): loss = (1 − A)·(the student's own loss) +
    /// A·T²·KL(softmax(teacher/T) ‖ softmax(student/T)), on an MLP's logits or an SNN's summed
    /// output membrane. The teacher is frozen; the run records it (with the SHA-256 of its
    /// weights), T and A.
    #[cfg_attr(feature = "cli", arg(long, value_name = "TEACHER"))]
    pub distill_from: Option<String>,
    /// With --distill-from: the temperature T [default: 4].
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "T", requires = "distill_from")
    )]
    pub distill_temperature: Option<f64>,
    /// With --distill-from: the weight A of the teacher's term, in [0, 1] [default: 0.9].
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "A", requires = "distill_from")
    )]
    pub distill_weight: Option<f64>,
    /// Samples per batch [default: 600].
    #[cfg_attr(feature = "cli", arg(long))]
    pub batch_size: Option<usize>,
    /// Seeds the initialisation and the batch order [default: 0].
    #[cfg_attr(feature = "cli", arg(long))]
    pub seed: Option<u64>,
    /// Train on the first N training images only.
    #[cfg_attr(feature = "cli", arg(long))]
    pub train_limit: Option<usize>,
    /// Score on the first N test images only.
    #[cfg_attr(feature = "cli", arg(long))]
    pub test_limit: Option<usize>,
    /// Steepness k of the inhibition mask 2·σ(k·v) − 1 [default: 10].
    #[cfg_attr(feature = "cli", arg(long))]
    pub steepness: Option<f64>,
    /// Free coordinates start uniform in ±this [default: 10].
    #[cfg_attr(feature = "cli", arg(long))]
    pub coord_init: Option<f64>,
    /// Where the free coordinates start: uniform (in ±--coord-init) or grid (the input
    /// neurons on the image's pixel grid, hidden neurons on a square grid, outputs on a circle,
    /// spanning ±--coord-init) [default: uniform].
    #[cfg_attr(feature = "cli", arg(long, value_name = "LAYOUT"))]
    pub coord_layout: Option<CoordLayout>,
    /// Raw inhibition values start uniform in ±this [default: 0.1].
    #[cfg_attr(feature = "cli", arg(long))]
    pub inhibition_init: Option<f64>,
    /// `paper` (the paper's settings), `best` (the settings this project's ablation chose for
    /// the kind on the validation split; docs/cli.md lists them) or `finetune` (with
    /// --init-from: 5 epochs at lr 0.0005 with a fresh Adam, measured in
    /// results/accuracy/finetune.jsonl); flags given beside it win. Recorded in the
    /// checkpoint's provenance [default: finetune with --init-from, else paper].
    #[cfg_attr(feature = "cli", arg(long))]
    pub recipe: Option<Preset>,
}

/// Everything a user may choose for a fresh run (`neuropos train`'s flags but the output, the
/// device and the data).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "cli", derive(Args))]
pub struct Choices {
    #[cfg_attr(feature = "cli", command(flatten))]
    pub architecture: ArchitectureChoices,
    #[cfg_attr(feature = "cli", command(flatten))]
    pub training: TrainingChoices,
    #[cfg_attr(feature = "cli", command(flatten))]
    pub pruning: PruneDuringChoices,
}

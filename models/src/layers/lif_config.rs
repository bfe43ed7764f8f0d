//! What a LIF layer is, apart from running it: its parameters ([`LifConfig`]), the surrogate
//! gradient's one definition ([`Surrogate::form`]), the readout, and the output. Shared by the
//! layer (`layers/lif.rs`) and its fused kernels, so neither imports the other's types.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::encoder::Encoder;
use crate::kernels::simd::Real;

/// Stand-in derivative of the Heaviside step used in the backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Surrogate {
    /// snnTorch's default: `dS/dU = (α/2) / (1 + (π/2·α·U)²)`.
    Arctan { alpha: f64 },
    /// snnTorch's `fast_sigmoid`: `dS/dU = 1 / (1 + slope·|U|)²`.
    FastSigmoid { slope: f64 },
}

impl Default for Surrogate {
    fn default() -> Self {
        Surrogate::Arctan { alpha: 2.0 }
    }
}

/// The one definition of every surrogate: `dS/dU = numerator / ((scale·|u| + offset)² + floor)`
/// at `u = mem − thr`. Arctan is `(α/2) / ((π/2·α·|u|)² + 1)`, fast sigmoid
/// `1 / (slope·|u| + 1)²`. The plain ops ([`SurrogateForm::slope_tensor`]), the kernels'
/// scalar loops (`SurrogateForm::slope`, crate-private) and the closed-form constant-input
/// gradient (which folds a per-step factor into the numerator and evaluates the denominator
/// with fused multiply-adds) all take their constants from here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurrogateForm {
    pub numerator: f64,
    pub scale: f64,
    pub offset: f64,
    pub floor: f64,
}

impl SurrogateForm {
    /// `dS/dU` as a function of `u` in `F`, constants converted once: the multiplies and adds
    /// rounded one by one, as [`SurrogateForm::slope_tensor`] rounds them, so both give the
    /// same bits. A closure, so the kernels' loops inline it.
    #[inline(always)]
    pub(crate) fn slope<F: Real>(&self) -> impl Fn(F) -> F + Copy {
        let [numerator, scale, offset, floor] =
            [self.numerator, self.scale, self.offset, self.floor].map(F::from_f64);
        move |u: F| {
            let x = scale * u.abs() + offset;
            numerator / (x * x + floor)
        }
    }

    /// The same as tensor ops, for the plain-ops path.
    pub fn slope_tensor(&self, u: &Tensor) -> Result<Tensor> {
        u.abs()?
            .affine(self.scale, self.offset)?
            .sqr()?
            .affine(1.0, self.floor)?
            .recip()?
            .affine(self.numerator, 0.0)
    }
}

impl Surrogate {
    /// This surrogate's constants in the common form.
    pub fn form(self) -> SurrogateForm {
        match self {
            Surrogate::Arctan { alpha } => SurrogateForm {
                numerator: alpha / 2.0,
                scale: std::f64::consts::FRAC_PI_2 * alpha,
                offset: 0.0,
                floor: 1.0,
            },
            Surrogate::FastSigmoid { slope } => SurrogateForm {
                numerator: 1.0,
                scale: slope,
                offset: 1.0,
                floor: 0.0,
            },
        }
    }

    /// `dS/dU` at `u = mem − thr`, in f64.
    pub fn derivative(self, u: f64) -> f64 {
        self.form().slope::<f64>()(u)
    }

    fn validate(self) -> std::result::Result<(), String> {
        let (name, v) = match self {
            Surrogate::Arctan { alpha } => ("alpha", alpha),
            Surrogate::FastSigmoid { slope } => ("slope", slope),
        };
        if crate::device::positive_in_f32(v) {
            Ok(())
        } else {
            Err(format!(
                "surrogate {name} must be positive and finite, got {v}"
            ))
        }
    }
}

/// A bound far above any useful simulation length, so a crafted checkpoint cannot ask for an
/// unbounded one.
pub const MAX_TIME_STEPS: usize = 100_000;

/// LIF neuron parameters (not trained, as in the paper) and the simulation length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LifConfig {
    pub beta: f64,
    pub threshold: f64,
    pub surrogate: Surrogate,
    /// Simulation steps T.
    pub time_steps: usize,
    /// How the image enters: a constant current at every step (the paper's, left out of the
    /// JSON so the paper's checkpoints read as they always have), or spike trains.
    #[serde(default, skip_serializing_if = "Encoder::is_direct")]
    pub encoder: Encoder,
    /// How the output layer's activity becomes a class (the paper's spike count left out of
    /// the JSON, as the encoder is).
    #[serde(default, skip_serializing_if = "Readout::is_count")]
    pub readout: Readout,
    /// What a spike does to the membrane (the paper's subtraction left out of the JSON).
    #[serde(default, skip_serializing_if = "Reset::is_subtract")]
    pub reset: Reset,
}

/// What a spike does to its neuron's membrane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Reset {
    /// The threshold is subtracted at the next step, the spike of step t − 1 taken into step
    /// t: snnTorch's `Leaky` default, and the paper's.
    #[default]
    Subtract,
    /// The membrane is set to 0 at the step it spikes (and the membrane reported for that step
    /// is 0): snnTorch's `Leaky(reset_mechanism="zero", reset_delay=False)`, NIR's `LIF` with
    /// `v_reset = 0` — what an exported NIR graph runs.
    Zero,
}

crate::names::serde_named!(Reset, "reset", [Reset::Subtract, Reset::Zero]);

impl Reset {
    pub fn is_subtract(&self) -> bool {
        *self == Reset::Subtract
    }

    pub fn is_zero(&self) -> bool {
        *self == Reset::Zero
    }
}

/// The prediction of a spiking network's output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Readout {
    /// The most output spikes over the T steps, ties broken by the larger summed membrane.
    #[default]
    Count,
    /// The largest membrane potential summed over the T steps, spikes ignored (what the
    /// membrane loss trains directly).
    Membrane,
}

crate::names::serde_named!(Readout, "readout", [Readout::Count, Readout::Membrane]);

impl Readout {
    pub fn is_count(&self) -> bool {
        *self == Readout::Count
    }
}

impl Default for LifConfig {
    fn default() -> Self {
        LifConfig {
            beta: 0.95,
            threshold: 1.0,
            surrogate: Surrogate::default(),
            time_steps: 25,
            encoder: Encoder::Direct,
            readout: Readout::Count,
            reset: Reset::Subtract,
        }
    }
}

impl LifConfig {
    /// The default neurons with another surrogate gradient.
    pub fn with_surrogate(surrogate: Surrogate) -> Self {
        LifConfig {
            surrogate,
            ..LifConfig::default()
        }
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.beta.is_finite() && (0.0..=1.0).contains(&self.beta)) {
            return Err(format!("beta must lie in [0, 1], got {}", self.beta));
        }
        if !crate::device::positive_in_f32(self.threshold) {
            return Err(format!(
                "threshold must be positive (and above 0 in f32), got {:e}",
                self.threshold
            ));
        }
        if self.time_steps == 0 || self.time_steps > MAX_TIME_STEPS {
            return Err(format!(
                "time_steps must lie in 1..={MAX_TIME_STEPS}, got {}",
                self.time_steps
            ));
        }
        self.encoder.validate()?;
        self.surrogate.validate()
    }
}

/// Output of a LIF layer: spikes `[T, B, N]`, and the membranes when asked for.
#[derive(Debug, Clone)]
pub struct LifOutput {
    pub spikes: Tensor,
    pub membrane: Option<Tensor>,
}

/// `(steps, constant)` for a `[T, B, N]` or `[B, N]` input.
pub(crate) fn sequence_shape(currents: &Tensor, cfg: &LifConfig) -> Result<(usize, bool)> {
    match currents.rank() {
        3 => Ok((currents.dim(0)?, false)),
        2 => Ok((cfg.time_steps, true)),
        r => candle_core::bail!("LIF currents must be [T, B, N] or [B, N], got rank {r}"),
    }
}

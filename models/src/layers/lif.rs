//! Leaky integrate-and-fire neurons over a whole sequence, with surrogate gradients.
//!
//! Semantics follow snnTorch's `Leaky` (subtractive reset, reset taken from the previous step
//! and carrying no gradient), so results compare with the paper's:
//!
//! ```text
//! mem[t] = β·mem[t−1] + I[t] − H(mem[t−1] − thr)·thr,   mem[−1] = 0
//! spk[t] = H(mem[t] − thr)
//! ```
//!
//! [`lif_reference`] is that recurrence in plain Candle ops, with autograd providing the
//! backpropagation through time; every backend runs it (CUDA, Metal). On the CPU [`lif`] runs
//! a fused kernel instead (the private `kernels` module) that agrees with it exactly on spikes. The
//! surrogate gradient is defined once, here ([`Surrogate::form`]), and every implementation
//! evaluates that definition.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::encoder::Encoder;

use crate::kernels::lif_projection::lif_project_fused;
use crate::kernels::lif_recurrence::lif_fused;
use crate::kernels::{dispatch, simd::Real};

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

impl Readout {
    pub fn is_count(&self) -> bool {
        *self == Readout::Count
    }
}

impl std::str::FromStr for Readout {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "count" => Ok(Readout::Count),
            "membrane" => Ok(Readout::Membrane),
            _ => Err(format!("unknown readout `{s}`; expected count or membrane")),
        }
    }
}

impl std::fmt::Display for Readout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Readout::Count => "count",
            Readout::Membrane => "membrane",
        })
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

/// Runs LIF neurons: the fused kernel on the CPU, plain ops elsewhere.
///
/// `currents` is either a sequence `[T, B, N]`, or `[B, N]` for a current that is the same at
/// each of `cfg.time_steps` steps (direct image input) — then nothing is copied T times and
/// the gradient comes back already summed over time. `with_membrane` also returns the
/// membrane potentials (the output layer's loss needs them; hidden layers do not).
pub fn lif(currents: &Tensor, cfg: &LifConfig, with_membrane: bool) -> Result<LifOutput> {
    dispatch(
        currents,
        || lif_fused(currents, cfg, with_membrane),
        || lif_reference(currents, cfg, with_membrane),
    )
}

/// `(steps, constant)` for a `[T, B, N]` or `[B, N]` input.
pub(crate) fn sequence_shape(currents: &Tensor, cfg: &LifConfig) -> Result<(usize, bool)> {
    match currents.rank() {
        3 => Ok((currents.dim(0)?, false)),
        2 => Ok((cfg.time_steps, true)),
        r => candle_core::bail!("LIF currents must be [T, B, N] or [B, N], got rank {r}"),
    }
}

/// Plain Candle ops, one step at a time; autograd provides backpropagation through time.
pub fn lif_reference(currents: &Tensor, cfg: &LifConfig, with_membrane: bool) -> Result<LifOutput> {
    let (steps, constant) = sequence_shape(currents, cfg)?;
    let shape = if constant {
        currents.dims().to_vec()
    } else {
        currents.dims()[1..].to_vec()
    };
    let mut mem = Tensor::zeros(shape, currents.dtype(), currents.device())?;
    let mut previous_spikes = mem.clone();
    let mut spikes = Vec::with_capacity(steps);
    let mut membranes = Vec::with_capacity(steps);
    for t in 0..steps {
        let input = if constant {
            currents.clone()
        } else {
            currents.get(t)?
        };
        // The reset is detached, as in snnTorch: it shapes the value, not the gradient.
        let reset = previous_spikes.detach().affine(cfg.threshold, 0.0)?;
        mem = mem.affine(cfg.beta, 0.0)?.add(&input)?.sub(&reset)?;
        let u = mem.affine(1.0, -cfg.threshold)?;
        let step = u.gt(0.0)?.to_dtype(u.dtype())?;
        // Value H(u), gradient s(u): s(u)·u carries the gradient, the rest is detached.
        let slope = cfg.surrogate.form().slope_tensor(&u)?.detach();
        let carrier = slope.mul(&u)?;
        let spk = (&carrier + (step - carrier.detach())?.detach())?;
        previous_spikes = spk.clone();
        spikes.push(spk);
        if with_membrane {
            membranes.push(mem.clone());
        }
    }
    Ok(LifOutput {
        spikes: Tensor::stack(&spikes, 0)?,
        membrane: if with_membrane {
            Some(Tensor::stack(&membranes, 0)?)
        } else {
            None
        },
    })
}

/// A hidden LIF layer feeding the next synapses: `spikes(currents) · weights + bias`, the
/// `[T, B, K]` currents of the next layer.
///
/// `currents` is `[T, B, N]`, or `[B, N]` constant over `cfg.time_steps` steps; `weights` is
/// `[N, K]` (pre × post, with the inhibition mask and any pruning folded in), `bias` `[K]`.
/// On the CPU one fused op that never materialises the `[T, B, N]` spikes; plain ops
/// ([`lif_project_reference`]) elsewhere.
pub fn lif_project(
    currents: &Tensor,
    weights: &Tensor,
    bias: &Tensor,
    cfg: &LifConfig,
) -> Result<Tensor> {
    dispatch(
        currents,
        || lif_project_fused(currents, weights, bias, cfg),
        || lif_project_reference(currents, weights, bias, cfg),
    )
}

/// [`lif_reference`], a matmul and the bias, in plain ops.
pub fn lif_project_reference(
    currents: &Tensor,
    weights: &Tensor,
    bias: &Tensor,
    cfg: &LifConfig,
) -> Result<Tensor> {
    let spikes = lif_reference(currents, cfg, false)?.spikes;
    let (steps, batch, n) = spikes.dims3()?;
    let next = spikes.reshape((steps * batch, n))?.matmul(weights)?;
    next.reshape((steps, batch, weights.dim(1)?))?
        .broadcast_add(bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::lif_recurrence::lif_fused;
    use candle_core::Device;

    #[test]
    fn hand_computed_five_steps() {
        // One neuron, β = 0.95, thr = 1. Currents 0.6, 0.6, 0.2, 1.5, 0:
        // mem0 = 0.6                      → no spike
        // mem1 = 0.57 + 0.6 = 1.17        → spike
        // mem2 = 1.1115 + 0.2 − 1 = 0.3115 → no spike (reset from step 1)
        // mem3 = 0.295925 + 1.5 = 1.795925 → spike
        // mem4 = 1.70612875 + 0 − 1 = 0.70612875 → no spike
        let currents = Tensor::new(&[0.6f64, 0.6, 0.2, 1.5, 0.0], &Device::Cpu)
            .unwrap()
            .reshape((5, 1, 1))
            .unwrap();
        let expect_mem = [0.6, 1.17, 0.3115, 1.795925, 0.70612875];
        let expect_spk = [0.0, 1.0, 0.0, 1.0, 0.0];
        let c = LifConfig::default();
        for out in [
            lif_fused(&currents, &c, true).unwrap(),
            lif_reference(&currents, &c, true).unwrap(),
        ] {
            let mem = out
                .membrane
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let spk = out.spikes.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            for t in 0..5 {
                assert!(
                    (mem[t] - expect_mem[t]).abs() < 1e-12,
                    "mem[{t}] = {}",
                    mem[t]
                );
            }
            assert_eq!(spk, expect_spk);
        }
    }

    #[test]
    fn surrogates_match_their_formulas() {
        let u = [-1.0, -0.2, 0.0, 0.05, 0.7];
        let ut = Tensor::new(&u, &Device::Cpu).unwrap();
        let arctan = Surrogate::Arctan { alpha: 2.0 };
        let fast = Surrogate::FastSigmoid { slope: 25.0 };
        let a = arctan
            .form()
            .slope_tensor(&ut)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let f = fast
            .form()
            .slope_tensor(&ut)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for (i, &x) in u.iter().enumerate() {
            let pi = std::f64::consts::PI;
            let want_a = 1.0 / (1.0 + (pi / 2.0 * 2.0 * x).powi(2));
            let want_f = 1.0 / (1.0 + 25.0 * x.abs()).powi(2);
            assert!((arctan.derivative(x) - want_a).abs() < 1e-15);
            assert!((a[i] - want_a).abs() < 1e-15);
            assert!((fast.derivative(x) - want_f).abs() < 1e-15);
            assert!((f[i] - want_f).abs() < 1e-15);
        }
        // The arctan surrogate peaks at α/2 at the threshold.
        assert_eq!(arctan.derivative(0.0), 1.0);
    }

    #[test]
    fn configuration_is_validated() {
        assert!(LifConfig::default().validate().is_ok());
        let bad_beta = LifConfig {
            beta: 1.5,
            ..LifConfig::default()
        };
        assert!(bad_beta.validate().is_err());
        let bad_encoder = LifConfig {
            encoder: Encoder::Rate { gain: -1.0 },
            ..LifConfig::default()
        };
        assert!(bad_encoder.validate().is_err());
        let no_steps = LifConfig {
            time_steps: 0,
            ..LifConfig::default()
        };
        assert!(no_steps.validate().is_err());
        assert!(LifConfig::with_surrogate(Surrogate::Arctan { alpha: -1.0 })
            .validate()
            .is_err());
    }
}

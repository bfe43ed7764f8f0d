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

use crate::kernels::dispatch;
use crate::kernels::lif_projection::lif_project_fused;
use crate::kernels::lif_recurrence::lif_fused;
use crate::layers::lif_config::sequence_shape;
pub use crate::layers::lif_config::{
    LifConfig, LifOutput, Readout, Reset, Surrogate, SurrogateForm, MAX_TIME_STEPS,
};

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
        mem = match cfg.reset {
            Reset::Subtract => {
                let reset = previous_spikes.detach().affine(cfg.threshold, 0.0)?;
                mem.affine(cfg.beta, 0.0)?.add(&input)?.sub(&reset)?
            }
            // `mem` is the membrane before the last step's reset: zero it where that step
            // spiked (snnTorch does so at once; the next membrane is the same).
            Reset::Zero => {
                let kept = previous_spikes.detach().affine(-1.0, 1.0)?;
                mem.affine(cfg.beta, 0.0)?.mul(&kept)?.add(&input)?
            }
        };
        let u = mem.affine(1.0, -cfg.threshold)?;
        let step = u.gt(0.0)?.to_dtype(u.dtype())?;
        // Value H(u), gradient s(u): s(u)·u carries the gradient, the rest is detached.
        let slope = cfg.surrogate.form().slope_tensor(&u)?.detach();
        let carrier = slope.mul(&u)?;
        let spk = (&carrier + (step - carrier.detach())?.detach())?;
        previous_spikes = spk.clone();
        spikes.push(spk);
        if with_membrane {
            membranes.push(match cfg.reset {
                Reset::Subtract => mem.clone(),
                // Reported after the reset, as snnTorch reports it.
                Reset::Zero => mem.mul(&previous_spikes.detach().affine(-1.0, 1.0)?)?,
            });
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
    use crate::encoder::Encoder;
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

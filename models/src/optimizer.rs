//! Adam as in the paper, with its state open for saving and restoring.
//!
//! candle-nn's `AdamW` keeps its moments and step count private, so a run that saved it could
//! not be resumed exactly. This is the same update, op for op (the same Candle ops in the same
//! order, so the same bits), with named moments that [`Adam::state`] hands out and
//! [`Adam::restore`] takes back.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW, VarMap};
use std::collections::HashMap;

use crate::{Error, Result};

/// Prefixes of the moment tensors' names in a saved optimizer state.
pub const FIRST_MOMENT_PREFIX: &str = "adam.m.";
pub const SECOND_MOMENT_PREFIX: &str = "adam.v.";

struct Slot {
    name: String,
    var: Var,
    m: Var,
    v: Var,
    /// This parameter's rate as a factor of the optimizer's ([`Adam::scale_learning_rate`]).
    lr_scale: f64,
}

/// A fault to inject into one step, for testing the divergence guard: at global step `step`
/// (1-based) the named parameter's gradient, or the parameter itself after the update, is
/// filled with NaN, or the step's loss reads as NaN (`param` unused).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub step: usize,
    pub param: String,
    pub target: FaultTarget,
}

#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultTarget {
    Gradient,
    Parameter,
    Loss,
}

/// Adam (weight decay 0) over every float variable of a `VarMap`, keyed by variable name.
pub struct Adam {
    slots: Vec<Slot>,
    step_t: usize,
    params: ParamsAdamW,
    fault: Option<Fault>,
}

impl Adam {
    /// The paper's Adam (PyTorch defaults: β = (0.9, 0.999), ε = 1e-8) at learning rate `lr`.
    pub fn paper(vars: &VarMap, lr: f64) -> Result<Self> {
        Self::with_params(
            vars,
            ParamsAdamW {
                lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                // candle-nn's default decay of 0.01 would pull every neuron towards the origin.
                weight_decay: 0.0,
            },
        )
    }

    pub fn with_params(vars: &VarMap, params: ParamsAdamW) -> Result<Self> {
        let data = vars
            .data()
            .lock()
            .map_err(|_| Error::Config("variable map poisoned".into()))?;
        let mut named: Vec<(&String, &Var)> =
            data.iter().filter(|(_, v)| v.dtype().is_float()).collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        let slots = named
            .into_iter()
            .map(|(name, var)| {
                Ok(Slot {
                    name: name.clone(),
                    var: var.clone(),
                    m: Var::zeros(var.shape(), var.dtype(), var.device())?,
                    v: Var::zeros(var.shape(), var.dtype(), var.device())?,
                    lr_scale: 1.0,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Adam {
            slots,
            step_t: 0,
            params,
            fault: None,
        })
    }

    /// Multiplies the rate of every parameter whose name `applies` to by `scale`; the
    /// names of the parameters so scaled.
    pub fn scale_learning_rate(
        &mut self,
        applies: impl Fn(&str) -> bool,
        scale: f64,
    ) -> Vec<String> {
        let mut scaled = Vec::new();
        for s in self.slots.iter_mut().filter(|s| applies(&s.name)) {
            s.lr_scale *= scale;
            scaled.push(s.name.clone());
        }
        scaled
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.step_t
    }

    /// The step count and both moments of every parameter, named `adam.m.{name}` and
    /// `adam.v.{name}`.
    pub fn state(&self) -> (usize, Vec<(String, Tensor)>) {
        let mut out = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            out.push((
                format!("{FIRST_MOMENT_PREFIX}{}", s.name),
                s.m.as_tensor().clone(),
            ));
            out.push((
                format!("{SECOND_MOMENT_PREFIX}{}", s.name),
                s.v.as_tensor().clone(),
            ));
        }
        (self.step_t, out)
    }

    /// Puts back a state from [`Adam::state`]: every moment must be there, with its
    /// parameter's shape; `what` names the source in errors.
    pub fn restore(
        &mut self,
        steps: usize,
        tensors: &HashMap<String, Tensor>,
        what: &str,
    ) -> Result<()> {
        for s in &self.slots {
            for (prefix, moment) in [(FIRST_MOMENT_PREFIX, &s.m), (SECOND_MOMENT_PREFIX, &s.v)] {
                let key = format!("{prefix}{}", s.name);
                let t = tensors.get(&key).ok_or_else(|| {
                    Error::Config(format!("{what}: the optimizer state has no `{key}`"))
                })?;
                if t.dims() != s.var.dims() {
                    return Err(Error::Config(format!(
                        "{what}: `{key}` has shape {:?}, its parameter {:?}",
                        t.dims(),
                        s.var.dims()
                    )));
                }
                moment.set(&t.to_dtype(s.var.dtype())?.to_device(s.var.device())?)?;
            }
        }
        self.step_t = steps;
        Ok(())
    }

    /// The first parameter (by name) holding a NaN or an infinity, if any. A sum propagates
    /// both, and one reduction per tensor is cheap next to a training step.
    pub fn first_non_finite(&self) -> Result<Option<&str>> {
        for s in &self.slots {
            let total = s
                .var
                .as_tensor()
                .sum_all()?
                .to_dtype(candle_core::DType::F32)?;
            if !total.to_scalar::<f32>()?.is_finite() {
                return Ok(Some(&s.name));
            }
        }
        Ok(None)
    }

    #[doc(hidden)]
    pub fn inject_fault(&mut self, fault: Fault) -> Result<()> {
        if fault.target != FaultTarget::Loss && !self.slots.iter().any(|s| s.name == fault.param) {
            let names: Vec<&str> = self.slots.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Config(format!(
                "no parameter `{}` to inject a fault into (parameters: {})",
                fault.param,
                names.join(", ")
            )));
        }
        self.fault = Some(fault);
        Ok(())
    }

    /// Whether the injected fault poisons the loss of the step about to be taken.
    #[doc(hidden)]
    pub fn poisons_next_loss(&self) -> bool {
        self.fault
            .as_ref()
            .is_some_and(|f| f.step == self.step_t + 1 && f.target == FaultTarget::Loss)
    }

    fn fault_now(&self, name: &str, target: FaultTarget) -> bool {
        self.fault
            .as_ref()
            .is_some_and(|f| f.step == self.step_t && f.param == name && f.target == target)
    }
}

fn nan_like(t: &Tensor) -> candle_core::Result<Tensor> {
    t.ones_like()?.affine(f64::NAN, 0.0)
}

impl Optimizer for Adam {
    type Config = ParamsAdamW;

    fn new(_vars: Vec<Var>, _config: ParamsAdamW) -> candle_core::Result<Self> {
        Err(candle_core::Error::Msg(
            "neuropos' Adam names its moments: build it with Adam::paper or Adam::with_params \
             from the VarMap"
                .into(),
        ))
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }

    // candle-nn 0.11's AdamW::step, expression for expression: changing the order of these ops
    // would change the trained bits. On the CPU the fused in-place kernel evaluates the same
    // expressions without allocating ([`crate::kernels::adam_step`]).
    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step_t += 1;
        let beta1 = self.params.beta1;
        let beta2 = self.params.beta2;
        let scale_m = 1f64 / (1f64 - beta1.powi(self.step_t as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.step_t as i32));
        for s in &self.slots {
            // × 1.0 for every parameter unless scaled: the same bits as without the factor.
            let lr = self.params.lr * s.lr_scale;
            let lr_lambda = lr * self.params.weight_decay;
            let theta = &s.var;
            let Some(g) = grads.get(theta) else { continue };
            let poisoned;
            let g = if self.fault_now(&s.name, FaultTarget::Gradient) {
                poisoned = nan_like(g)?;
                &poisoned
            } else {
                g
            };
            if crate::kernels::has_kernel(theta.as_tensor()) {
                let constants = crate::kernels::adam_step::AdamConstants {
                    beta1,
                    beta2,
                    scale_m,
                    scale_v,
                    decay: 1f64 - lr_lambda,
                    eps: self.params.eps,
                    lr,
                };
                crate::kernels::adam_step::adam_step(theta, &s.m, &s.v, g, constants)?;
                if self.fault_now(&s.name, FaultTarget::Parameter) {
                    theta.set(&nan_like(theta.as_tensor())?)?;
                }
                continue;
            }
            let next_m = ((s.m.as_tensor() * beta1)? + (g * (1.0 - beta1))?)?;
            let next_v = ((s.v.as_tensor() * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
            let adjusted_grad = (m_hat / (v_hat.sqrt()? + self.params.eps)?)?;
            let next_theta = (next_theta - (adjusted_grad * lr)?)?;
            s.m.set(&next_m)?;
            s.v.set(&next_v)?;
            if self.fault_now(&s.name, FaultTarget::Parameter) {
                theta.set(&nan_like(&next_theta)?)?;
            } else {
                theta.set(&next_theta)?;
            }
        }
        Ok(())
    }
}

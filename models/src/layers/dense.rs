//! Dense synapses, the baselines: a free weight matrix, `candle_nn::Linear`.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Sizes of one dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseConfig {
    pub n_in: usize,
    pub n_out: usize,
}

/// A `candle_nn::Linear` with PyTorch's default initialisation (the paper's baselines):
/// weights and biases uniform in ±1/sqrt(n_in) (Kaiming-uniform with a = √5).
///
/// Variable names: `weight` `[n_out, n_in]`, `bias` `[n_out]` under the builder's prefix.
#[derive(Debug, Clone)]
pub struct Dense {
    linear: Linear,
}

impl Dense {
    pub fn new(cfg: &DenseConfig, vb: VarBuilder) -> Result<Self> {
        let bound = 1.0 / (cfg.n_in as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints((cfg.n_out, cfg.n_in), "weight", init)?;
        let bias = vb.get_with_hints(cfg.n_out, "bias", init)?;
        Ok(Dense {
            linear: Linear::new(weight, Some(bias)),
        })
    }

    pub fn linear(&self) -> &Linear {
        &self.linear
    }

    /// `[n_out, n_in]`.
    pub fn weight(&self) -> &Tensor {
        self.linear.weight()
    }

    /// `(n_in, n_out)`.
    pub fn shape(&self) -> Result<(usize, usize)> {
        let (o, i) = self.linear.weight().dims2()?;
        Ok((i, o))
    }

    /// `x Wᵀ + b` with `W ⊙ keep` (`keep` `[n_out, n_in]`, a pruning keep-mask), then a ReLU
    /// when `relu`. On the CPU a `[B, n_in]` input takes the fused kernel: bias and ReLU in the
    /// product's pass, no input gradient for data, and in a wide layer a product that skips the
    /// input's zeros (MNIST pixels are ~81 % zeros, spikes mostly zeros too); elsewhere it is
    /// `candle_nn::Linear`'s and Candle's ReLU.
    pub fn forward_pruned(&self, x: &Tensor, keep: Option<&Tensor>, relu: bool) -> Result<Tensor> {
        let weight = match keep {
            None => self.linear.weight().clone(),
            Some(keep) => self.linear.weight().mul(keep)?,
        };
        let bias = self.linear.bias();
        let plain = || {
            let y = Linear::new(weight.clone(), bias.cloned()).forward(x)?;
            if relu {
                y.relu()
            } else {
                Ok(y)
            }
        };
        match bias {
            Some(b) if x.rank() == 2 => crate::kernels::dispatch(
                x,
                || crate::kernels::sparse_linear::sparse_input_linear(x, &weight, b, relu),
                plain,
            ),
            _ => plain(),
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_pruned(x, None, false)
    }
}

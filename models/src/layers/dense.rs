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

    /// `x Wᵀ + b` with `W ⊙ keep` (`keep` `[n_out, n_in]`, a pruning keep-mask).
    pub fn forward_pruned(&self, x: &Tensor, keep: Option<&Tensor>) -> Result<Tensor> {
        match keep {
            None => self.linear.forward(x),
            Some(keep) => {
                Linear::new(self.linear.weight().mul(keep)?, self.linear.bias().cloned()).forward(x)
            }
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.linear.forward(x)
    }
}

//! Whole-neuron pruning: scores, the smaller network, and its compensation.

use candle_core::{DType, Device, Result, Tensor};
use serde::{Deserialize, Serialize};

use super::compensation::lock_vars;
use super::removed_count;

/// How a hidden neuron's contribution is scored for whole-neuron pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NeuronScore {
    /// `|m_j| · Σ_k |w_jk|`: the strength of its outgoing wires as they act (the inhibition mask
    /// folded in; for dense layers `Σ_k |W_kj|`). Far-away outlier neurons have long, weak wires.
    Outgoing,
    /// The variance of its activity (activation, or spikes per step) over training images: a
    /// neuron that does the same for every image only adds a constant, which a bias could carry.
    Variance,
}

crate::names::serde_named!(
    NeuronScore,
    "neuron score",
    [NeuronScore::Outgoing, NeuronScore::Variance]
);

/// The score of every neuron of every hidden layer (`[n_l]` for l = 1..L−1), higher = keep.
pub fn neuron_scores(
    network: &crate::Network,
    score: NeuronScore,
    images: &Tensor,
) -> Result<Vec<Vec<f32>>> {
    let layers = network.config().layers.len();
    (1..layers - 1)
        .map(|l| {
            let s = match score {
                // Layer l's outgoing wires are synapse layer l, [n_{l+1}, n_l].
                NeuronScore::Outgoing => network.effective_weights()?[l].abs()?.sum(0)?,
                NeuronScore::Variance => network.layer_input(images, l)?.var(0)?,
            };
            s.to_dtype(DType::F32)?.to_vec1::<f32>()
        })
        .collect()
}

/// The indices (ascending) of the neurons to keep when the lowest-scoring `percent` % of each
/// hidden layer go (ties by position), at least one neuron per layer.
pub fn neurons_to_keep(scores: &[Vec<f32>], percent: f64) -> Vec<Vec<u32>> {
    scores
        .iter()
        .map(|s| {
            let removed = removed_count(s.len(), percent).min(s.len().saturating_sub(1));
            let mut order: Vec<u32> = (0..s.len() as u32).collect();
            order.sort_by(|&a, &b| s[a as usize].total_cmp(&s[b as usize]));
            let mut kept = order[removed..].to_vec();
            kept.sort_unstable();
            kept
        })
        .collect()
}

/// A smaller network of the same kind without the hidden neurons not in `keep` (per hidden
/// layer, as [`neurons_to_keep`] gives): its config and its variables, ready to save. Every
/// other neuron keeps its coordinates, z, inhibition value and bias (or its weights' rows and
/// columns), so the result computes what the full network computes with the removed neurons'
/// outgoing wires cut.
pub fn remove_neurons(
    network: &crate::Network,
    vars: &candle_nn::VarMap,
    keep: &[Vec<u32>],
) -> crate::Result<(crate::Config, candle_nn::VarMap)> {
    let old = network.config();
    let hidden = old.layers.len() - 2;
    if keep.len() != hidden {
        return Err(crate::Error::Config(format!(
            "{} kept-neuron lists for {hidden} hidden layers",
            keep.len()
        )));
    }
    let mut config = old.clone();
    for (l, kept) in keep.iter().enumerate() {
        config.layers[l + 1] = kept.len();
    }
    let data = lock_vars(vars)?;
    let mut tensors: std::collections::HashMap<String, Tensor> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    drop(data);
    let select = |t: &Tensor, idx: &[u32], dim: usize| -> Result<Tensor> {
        let idx = Tensor::new(idx, t.device())?;
        t.index_select(&idx, dim)
    };
    for (h, kept) in keep.iter().enumerate() {
        let l = h + 1;
        let names: Vec<(String, usize)> = if old.kind.is_embedded() {
            ["coords", "inhibition", "bias", "z"]
                .iter()
                .map(|n| (format!("layers.{l}.{n}"), 0))
                .collect()
        } else {
            vec![
                (format!("linear.{}.weight", l - 1), 0),
                (format!("linear.{}.bias", l - 1), 0),
                (format!("linear.{l}.weight"), 1),
            ]
        };
        for (name, dim) in names {
            if let Some(t) = tensors.get(&name) {
                let smaller = select(t, kept, dim)?;
                tensors.insert(name, smaller);
            }
        }
    }
    let smaller = candle_nn::VarMap::new();
    let first = tensors
        .values()
        .next()
        .map(|t| (t.dtype(), t.device().clone()));
    let (dtype, device) = first.unwrap_or((DType::F32, Device::Cpu));
    crate::Network::seeded(&config, &smaller, 0, dtype, &device)?;
    {
        let data = lock_vars(&smaller)?;
        for (name, var) in data.iter() {
            let t = tensors.get(name).ok_or_else(|| {
                crate::Error::Config(format!("no tensor {name} for the smaller network"))
            })?;
            var.set(t)?;
        }
    }
    Ok((config, smaller))
}

/// Folds the mean current that the removed neurons sent (`keep` as [`neurons_to_keep`] gives)
/// into the biases of the layers they fed, measured on `images` in the full network, and
/// writes them into the smaller network's variables `smaller` (which [`remove_neurons`] made).
pub fn compensate_removed_neurons(
    full: &crate::Network,
    keep: &[Vec<u32>],
    smaller_net: &crate::Network,
    smaller: &candle_nn::VarMap,
    images: &Tensor,
) -> Result<()> {
    let data = lock_vars(smaller)?;
    for (h, kept) in keep.iter().enumerate() {
        let l = h + 1;
        let mean = full.mean_input(images, l)?; // [n_l], the hidden activity
        let n = mean.dim(0)?;
        let mut gone = vec![1f32; n];
        for &j in kept {
            gone[j as usize] = 0.0;
        }
        let gone = Tensor::from_vec(gone, n, mean.device())?.to_dtype(mean.dtype())?;
        // The removed neurons' mean outgoing current: (ā ⊙ gone) · P, P = [n_l, n_{l+1}].
        let projection = full.synapses_unpruned(l)?.projection()?;
        let shift = mean
            .mul(&gone)?
            .unsqueeze(0)?
            .matmul(&projection)?
            .squeeze(0)?
            .detach();
        let name = smaller_net.bias_name(l);
        let bias = data.get(&name).ok_or_else(|| {
            candle_core::Error::Msg(format!("no bias variable {name} to compensate"))
        })?;
        bias.set(&(bias.as_tensor() + shift.to_dtype(bias.dtype())?)?)?;
    }
    Ok(())
}

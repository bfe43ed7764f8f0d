//! Magnitude pruning: zero the smallest |w|. For embedded synapses |w| = 1/distance, so this
//! cuts the longest wires.

use candle_core::{DType, Device, Result, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Whether the p % is taken within each synapse layer or over all weights at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneScope {
    Layer,
    Global,
}

impl fmt::Display for PruneScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PruneScope::Layer => "layer",
            PruneScope::Global => "global",
        })
    }
}

impl FromStr for PruneScope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "layer" => Ok(PruneScope::Layer),
            "global" => Ok(PruneScope::Global),
            _ => Err(format!(
                "unknown pruning scope `{s}`; expected layer or global"
            )),
        }
    }
}

/// Pruning applied in every forward pass (the paper's pruning during training, Fig. 3b): the
/// smallest `percent` % of the weights, within each layer or over all of them, ranked afresh
/// each time (positions move, and with them the weights). A checkpoint trained so records it in
/// its [`crate::Config`], and its network keeps pruning when it is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pruning {
    pub percent: f64,
    pub scope: PruneScope,
}

impl Pruning {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if (0.0..100.0).contains(&self.percent) {
            Ok(())
        } else {
            Err(format!(
                "pruning during training must remove at least 0 and less than 100 % of the \
                 weights, got {}",
                self.percent
            ))
        }
    }
}

/// 0/1 keep-masks (in `weights`' dtype, device and layout) that remove the smallest
/// `percent` % of |w| of each tensor (`Layer`) or of all of them together (`Global`): exactly
/// [`removed_count`] of them, ties broken by position (layer, then flat index), the same masks
/// as [`MagnitudeRanking`] gives. For pruning in every forward pass: on the CPU
/// [`smallest_removed_on_host`] (linear time), elsewhere [`smallest_removed_on_device`] (no
/// copy of the weights to the host).
pub fn smallest_removed(
    weights: &[Tensor],
    percent: f64,
    scope: PruneScope,
) -> Result<Vec<Tensor>> {
    match weights.first() {
        Some(w) if !w.device().is_cpu() => smallest_removed_on_device(weights, percent, scope),
        _ => smallest_removed_on_host(weights, percent, scope),
    }
}

fn check_percent(percent: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&percent) {
        candle_core::bail!("pruning percentage must be within 0..=100, got {percent}");
    }
    Ok(())
}

/// [`smallest_removed`] with the selection on the weights' own device, in ops every backend has:
/// a bisection over the 2^31 order-preserving keys of |w| (31 rounds of `le` + a per-row `sum`,
/// each reading back one count per row, never the weights), then the tie at the cut-off broken
/// by position from per-row counts of the equal keys and the one row where the tie ends.
/// Weights holding NaN beyond the cut-off fall back to the host (a diverged run; the
/// divergence guard stops it anyway).
pub fn smallest_removed_on_device(
    weights: &[Tensor],
    percent: f64,
    scope: PruneScope,
) -> Result<Vec<Tensor>> {
    check_percent(percent)?;
    let mags: Vec<Tensor> = weights
        .iter()
        .map(|w| {
            w.dims2()?;
            w.detach().abs()?.to_dtype(DType::F32)
        })
        .collect::<Result<_>>()?;
    let groups: Vec<Vec<usize>> = match scope {
        PruneScope::Layer => (0..weights.len()).map(|l| vec![l]).collect(),
        PruneScope::Global => vec![(0..weights.len()).collect()],
    };
    // Per layer, the count of each row's entries that `test` marks (a U8 tensor of the
    // layer's shape): exact in f32 for rows below 2^24 entries.
    let row_counts = |t: &Tensor| -> Result<Vec<usize>> {
        Ok(t.to_dtype(DType::F32)?
            .sum(1)?
            .to_device(&Device::Cpu)?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|c| c as usize)
            .collect())
    };
    let count_le = |layers: &[usize], cut: u32| -> Result<usize> {
        let threshold = f32::from_bits(cut);
        layers.iter().try_fold(0, |n, &l| {
            Ok(n + row_counts(&mags[l].le(threshold)?)?.iter().sum::<usize>())
        })
    };
    let mut keep: Vec<Option<Tensor>> = vec![None; weights.len()];
    for layers in groups {
        let total: usize = layers.iter().map(|&l| mags[l].elem_count()).sum();
        let removed = removed_count(total, percent);
        if removed == 0 {
            continue;
        }
        const INFINITY: u32 = 0x7f80_0000;
        if count_le(&layers, INFINITY)? < removed {
            return smallest_removed_on_host(weights, percent, scope);
        }
        // The smallest key whose count of keys at or below it reaches `removed`.
        let (mut lo, mut hi) = (0u32, INFINITY);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if count_le(&layers, mid)? >= removed {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let cutoff = lo;
        let below = match cutoff.checked_sub(1) {
            Some(c) => count_le(&layers, c)?,
            None => 0,
        };
        let threshold = f32::from_bits(cutoff);
        let equal_rows: Vec<Vec<usize>> = layers
            .iter()
            .map(|&l| row_counts(&mags[l].eq(threshold)?))
            .collect::<Result<_>>()?;
        let equal: usize = equal_rows.iter().flatten().sum();
        // Of the keys equal to the cut-off, the first `ties` in position order go too.
        let mut ties = removed - below;
        for (&l, rows) in layers.iter().zip(&equal_rows) {
            let w = &mags[l];
            let (n_rows, n_cols) = w.dims2()?;
            let lower = w.lt(threshold)?.to_dtype(DType::F32)?;
            let gone = if ties == equal {
                // Everything at the cut-off goes (the usual case: weights from positions rarely tie).
                w.le(threshold)?.to_dtype(DType::F32)?
            } else if ties == 0 {
                lower
            } else if rows.iter().sum::<usize>() <= ties {
                ties -= rows.iter().sum::<usize>();
                w.le(threshold)?.to_dtype(DType::F32)?
            } else {
                // The tie ends in this layer: rows before the one where it ends lose all their
                // equal keys, that row the first ones up to a column, later rows none.
                let mut row = 0;
                while rows[row] <= ties {
                    ties -= rows[row];
                    row += 1;
                }
                let flags = w
                    .narrow(0, row, 1)?
                    .eq(threshold)?
                    .to_dtype(DType::F32)?
                    .to_device(&Device::Cpu)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                let mut seen = 0;
                let cols: Vec<f32> = flags
                    .iter()
                    .map(|&f| {
                        if f != 0.0 && seen < ties {
                            seen += 1;
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .collect();
                ties = 0;
                let before: Vec<f32> = (0..n_rows).map(|r| f32::from(r < row)).collect();
                let at: Vec<f32> = (0..n_rows).map(|r| f32::from(r == row)).collect();
                let device = w.device();
                let before = Tensor::from_vec(before, (n_rows, 1), device)?;
                let at = Tensor::from_vec(at, (n_rows, 1), device)?;
                let cols = Tensor::from_vec(cols, (1, n_cols), device)?;
                let which = before.broadcast_add(&at.broadcast_mul(&cols)?)?;
                let equal_gone = w.eq(threshold)?.to_dtype(DType::F32)?.mul(&which)?;
                (lower + equal_gone)?
            };
            keep[l] = Some(gone.affine(-1.0, 1.0)?);
        }
    }
    keep.into_iter()
        .zip(weights)
        .map(|(k, w)| match k {
            Some(k) => k.to_dtype(w.dtype()),
            None => w.ones_like(),
        })
        .collect()
}

/// [`smallest_removed`] on the host, in linear time: the cut-off comes from a histogram and a
/// selection within one bucket, not from a sort.
pub fn smallest_removed_on_host(
    weights: &[Tensor],
    percent: f64,
    scope: PruneScope,
) -> Result<Vec<Tensor>> {
    check_percent(percent)?;
    let values: Vec<Vec<f32>> = weights
        .iter()
        .map(|w| {
            w.detach()
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()
        })
        .collect::<Result<_>>()?;
    let groups: Vec<Vec<usize>> = match scope {
        PruneScope::Layer => (0..weights.len()).map(|l| vec![l]).collect(),
        PruneScope::Global => vec![(0..weights.len()).collect()],
    };
    let mut keep: Vec<Option<Vec<f32>>> = vec![None; values.len()];
    for layers in groups {
        let members: Vec<&[f32]> = layers.iter().map(|&l| values[l].as_slice()).collect();
        let total: usize = members.iter().map(|m| m.len()).sum();
        let removed = removed_count(total, percent);
        let Some(last) = removed.checked_sub(1) else {
            continue;
        };
        let Selection {
            cutoff,
            below,
            equal,
        } = kth_key(&members, last);
        // Of the keys equal to the cut-off, the first `ties` in position order go too. Weights
        // synthesised from positions rarely tie: then all of them go, in one parallel pass.
        let ties = removed - below;
        if ties == equal {
            for &l in &layers {
                keep[l] = Some(
                    values[l]
                        .par_iter()
                        .map(|&v| if key(v) <= cutoff { 0.0 } else { 1.0 })
                        .collect(),
                );
            }
            continue;
        }
        // Otherwise each chunk learns how many equal keys come before it.
        let mut seen_before = 0;
        for &l in &layers {
            let counts: Vec<usize> = values[l]
                .par_chunks(MASK_CHUNK)
                .map(|c| c.iter().filter(|&&v| key(v) == cutoff).count())
                .collect();
            let mut starts = Vec::with_capacity(counts.len());
            for count in counts {
                starts.push(seen_before);
                seen_before += count;
            }
            let mut flags = vec![1.0f32; values[l].len()];
            flags
                .par_chunks_mut(MASK_CHUNK)
                .zip(values[l].par_chunks(MASK_CHUNK))
                .zip(starts)
                .for_each(|((flags, chunk), mut seen)| {
                    for (flag, &v) in flags.iter_mut().zip(chunk) {
                        let k = key(v);
                        let gone = k < cutoff
                            || (k == cutoff && {
                                seen += 1;
                                seen <= ties
                            });
                        if gone {
                            *flag = 0.0;
                        }
                    }
                });
            keep[l] = Some(flags);
        }
    }
    keep.into_iter()
        .zip(weights)
        .map(|(k, w)| match k {
            Some(k) => Tensor::from_vec(k, w.shape(), &Device::Cpu)?
                .to_dtype(w.dtype())?
                .to_device(w.device()),
            None => w.ones_like(),
        })
        .collect()
}

/// Weights per task of the mask pass.
const MASK_CHUNK: usize = 1 << 16;

/// |w| as an order-preserving integer key: with the sign bit cleared, IEEE bit patterns sort as
/// the magnitudes do (NaN above infinity, as `f32::total_cmp` puts it).
#[inline(always)]
fn key(v: f32) -> u32 {
    v.to_bits() & 0x7fff_ffff
}

/// Where [`kth_key`] puts the cut.
struct Selection {
    /// The k-th smallest key.
    cutoff: u32,
    /// Keys smaller than it.
    below: usize,
    /// Keys equal to it.
    equal: usize,
}

/// The `k`-th smallest key (0-based) of all `groups` together: a histogram of the keys' top 12
/// bits (the exponent and 3 mantissa bits: an L1-sized table, one per thread, added up), then a
/// selection among the keys of the one bucket that holds the k-th.
fn kth_key(groups: &[&[f32]], k: usize) -> Selection {
    const SHIFT: u32 = 19;
    const BUCKETS: usize = 1 << (31 - SHIFT);
    let total: usize = groups.iter().map(|g| g.len()).sum();
    let part = total.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let pieces: Vec<&[f32]> = groups.iter().flat_map(|g| g.chunks(part)).collect();
    let histogram = pieces
        .par_iter()
        .map(|piece| {
            let mut h = vec![0u32; BUCKETS];
            piece
                .iter()
                .for_each(|&v| h[(key(v) >> SHIFT) as usize] += 1);
            h
        })
        .reduce(
            || vec![0u32; BUCKETS],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let (mut bucket, mut smaller) = (0, 0);
    while smaller + histogram[bucket] as usize <= k {
        smaller += histogram[bucket] as usize;
        bucket += 1;
    }
    let mut inside: Vec<u32> = pieces
        .par_iter()
        .flat_map_iter(|piece| {
            piece
                .iter()
                .map(|&v| key(v))
                .filter(move |&k| (k >> SHIFT) as usize == bucket)
        })
        .collect();
    let (_, &mut cutoff, _) = inside.select_nth_unstable(k - smaller);
    let below = smaller + inside.iter().filter(|&&k| k < cutoff).count();
    let equal = inside.iter().filter(|&&k| k == cutoff).count();
    Selection {
        cutoff,
        below,
        equal,
    }
}

/// A fixed pruning mask stored with a checkpoint (`neuropos prune`): how it was chosen. The
/// masks themselves are tensors `prune.keep.{c}` of the checkpoint, bit-packed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FixedMask {
    pub percent: f64,
    pub scope: PruneScope,
    pub rank: Rank,
    /// Training images the biases were compensated on (0: not compensated).
    pub compensated_on: usize,
    /// Epochs of fine-tuning with the mask fixed, after pruning.
    pub finetune_epochs: usize,
}

/// A 0/1 mask as bits, 8 to a byte, row-major (a compact checkpoint tensor: 1/32 of f32).
pub fn pack_mask(mask: &Tensor) -> Result<Vec<u8>> {
    let values = mask.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let mut bits = vec![0u8; values.len().div_ceil(8)];
    for (i, &v) in values.iter().enumerate() {
        if v != 0.0 {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(bits)
}

/// The inverse of [`pack_mask`] for a mask of `shape`, or `None` if the bytes do not fit it.
pub fn unpack_mask(bits: &[u8], shape: (usize, usize)) -> Option<Tensor> {
    let n = shape.0 * shape.1;
    if bits.len() != n.div_ceil(8) {
        return None;
    }
    let values: Vec<f32> = (0..n)
        .map(|i| f32::from((bits[i / 8] >> (i % 8)) & 1))
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).ok()
}

/// What a ranking orders the connections by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rank {
    /// |w| = 1/distance: the paper's (for dense synapses, |w|).
    Distance,
    /// |m_i · w_ij|, the weight as it acts: a wire from a neuron whose mask is ≈ 0 carries
    /// nothing, however short (for dense synapses, |w| again).
    Effective,
}

impl fmt::Display for Rank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rank::Distance => "distance",
            Rank::Effective => "effective",
        })
    }
}

impl FromStr for Rank {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "distance" => Ok(Rank::Distance),
            "effective" => Ok(Rank::Effective),
            _ => Err(format!(
                "unknown ranking `{s}`; expected distance or effective"
            )),
        }
    }
}

/// The weights a ranking of `network` orders, `[n_out, n_in]` per layer.
pub fn ranked_weights(network: &crate::Network, rank: Rank) -> Result<Vec<Tensor>> {
    match rank {
        Rank::Distance => network.weights(),
        Rank::Effective => network.effective_weights(),
    }
}

/// Folds the mean current that the newly removed connections carried into the biases, layer
/// by layer: with `keep` (`[n_out, n_in]` per layer) installed in `network`, each layer's mean
/// input activity over `images` (training images, never the test set) is measured after the
/// earlier layers were pruned and compensated, and `b_j += Σ_i ā_i · P_ij · (before_ij −
/// keep_ij)`. `before` is the pruning the biases already account for (a checkpoint's stored
/// mask; `None`: nothing removed). The biases are the variables in `vars`; pass the saved ones
/// back with [`restore_biases`] before another level.
pub fn compensate(
    network: &crate::Network,
    vars: &candle_nn::VarMap,
    keep: &[Tensor],
    before: Option<&[Tensor]>,
    images: &Tensor,
) -> Result<()> {
    if let Some(before) = before {
        if before.len() != keep.len() {
            candle_core::bail!("{} stored masks for {} layers", before.len(), keep.len());
        }
    }
    let data = lock_vars(vars)?;
    for (c, keep) in keep.iter().enumerate() {
        let mean = network.mean_input(images, c)?; // [n_in]
                                                   // The layer's unpruned action: P [n_in, n_out] with the mask folded in.
        let unpruned = {
            let synapses = network.synapses_unpruned(c)?;
            synapses.projection()?
        };
        let gone = match before {
            Some(before) => (before[c].to_dtype(keep.dtype())? - keep)?,
            None => keep.affine(-1.0, 1.0)?,
        };
        let removed = unpruned.mul(&gone.t()?)?;
        let shift = mean.unsqueeze(0)?.matmul(&removed)?.squeeze(0)?.detach();
        let name = network.bias_name(c);
        let bias = data.get(&name).ok_or_else(|| {
            candle_core::Error::Msg(format!("no bias variable {name} to compensate"))
        })?;
        bias.set(&(bias.as_tensor() + shift.to_dtype(bias.dtype())?)?)?;
    }
    Ok(())
}

/// The variables behind `vars`' lock (a poisoned lock is an error, not a panic).
fn lock_vars(
    vars: &candle_nn::VarMap,
) -> Result<std::sync::MutexGuard<'_, std::collections::HashMap<String, candle_core::Var>>> {
    vars.data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("variable map poisoned".into()))
}

/// A host copy of every bias variable, to undo [`compensate`]. Not `Tensor::copy`, which on
/// Metal shares the GPU buffer that `Var::set` then writes ([`crate::device::to_host`]).
pub fn save_biases(
    network: &crate::Network,
    vars: &candle_nn::VarMap,
) -> Result<Vec<(String, Tensor)>> {
    let data = lock_vars(vars)?;
    (0..network.config().layers.len() - 1)
        .map(|c| {
            let name = network.bias_name(c);
            let t = data
                .get(&name)
                .ok_or_else(|| candle_core::Error::Msg(format!("no bias variable {name}")))?;
            Ok((name, crate::device::to_host(t.as_tensor())?))
        })
        .collect()
}

/// Puts saved biases back.
pub fn restore_biases(vars: &candle_nn::VarMap, saved: &[(String, Tensor)]) -> Result<()> {
    let data = lock_vars(vars)?;
    for (name, t) in saved {
        if let Some(var) = data.get(name) {
            var.set(&t.to_device(var.device())?)?;
        }
    }
    Ok(())
}

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

impl fmt::Display for NeuronScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NeuronScore::Outgoing => "outgoing",
            NeuronScore::Variance => "variance",
        })
    }
}

impl FromStr for NeuronScore {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "outgoing" => Ok(NeuronScore::Outgoing),
            "variance" => Ok(NeuronScore::Variance),
            _ => Err(format!(
                "unknown neuron score `{s}`; expected outgoing or variance"
            )),
        }
    }
}

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

/// How many of `total` weights a `percent` % pruning removes (rounded to nearest).
pub fn removed_count(total: usize, percent: f64) -> usize {
    ((total as f64) * percent / 100.0).round().min(total as f64) as usize
}

/// Keep-masks for one pruning level.
#[derive(Debug, Clone)]
pub struct PruneMasks {
    /// One `[n_out, n_in]` 0/1 tensor per synapse layer.
    pub masks: Vec<Tensor>,
    pub kept: usize,
    pub total: usize,
}

/// All weights ordered from smallest to largest magnitude, computed once so a sweep over many
/// pruning levels sorts only once. Ties are broken by position, so every level removes exactly
/// [`removed_count`] weights.
///
/// A ranking [`MagnitudeRanking::after`] a stored pruning puts the weights that pruning removed
/// first: a level P then removes P % of all weights, the stored ones and the smallest of the
/// kept ones (as `torch.nn.utils.prune` applied twice), and a level that would bring back a
/// stored-removed weight is refused.
#[derive(Debug, Clone)]
pub struct MagnitudeRanking {
    shapes: Vec<(usize, usize)>,
    scope: PruneScope,
    /// Per layer (scope layer) or a single list (scope global) of (layer, flat index).
    order: Vec<Vec<(u32, u32)>>,
    /// Per list, how many of its first entries a stored pruning removed already.
    stored: Vec<usize>,
    dtype: DType,
    device: Device,
}

impl MagnitudeRanking {
    /// `weights`: `[n_out, n_in]` per synapse layer, as given by `Network::weights`.
    pub fn new(weights: &[Tensor], scope: PruneScope) -> Result<Self> {
        Self::with_stored(weights, scope, None)
    }

    /// A ranking of the weights a stored pruning kept: `stored` are its keep-masks
    /// (`[n_out, n_in]` 0/1 per layer), whose zeros come first in every level.
    pub fn after(weights: &[Tensor], scope: PruneScope, stored: &[Tensor]) -> Result<Self> {
        Self::with_stored(weights, scope, Some(stored))
    }

    fn with_stored(
        weights: &[Tensor],
        scope: PruneScope,
        stored: Option<&[Tensor]>,
    ) -> Result<Self> {
        let first = weights
            .first()
            .ok_or_else(|| candle_core::Error::Msg("no weights to prune".into()))?;
        if let Some(stored) = stored {
            if stored.len() != weights.len() {
                candle_core::bail!(
                    "{} stored masks for {} synapse layers",
                    stored.len(),
                    weights.len()
                );
            }
        }
        let mut shapes = Vec::with_capacity(weights.len());
        let mut mags: Vec<Vec<f32>> = Vec::with_capacity(weights.len());
        let mut gone: Vec<Vec<bool>> = Vec::with_capacity(weights.len());
        for (l, w) in weights.iter().enumerate() {
            shapes.push(w.dims2()?);
            // On the host: the sort runs there, and so no cast happens on the device.
            let host = w.to_device(&Device::Cpu)?;
            mags.push(host.abs()?.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?);
            gone.push(match stored {
                Some(stored) => {
                    if stored[l].dims() != w.dims() {
                        candle_core::bail!(
                            "stored mask {l} has shape {:?}, the weights {:?}",
                            stored[l].dims(),
                            w.dims()
                        );
                    }
                    let keep = crate::device::host_f64(&stored[l])?;
                    keep.iter().map(|&k| k == 0.0).collect()
                }
                None => vec![false; mags[l].len()],
            });
        }
        // Stored-removed first (false < true), then by magnitude, then by position.
        let by_magnitude = |a: &(u32, u32), b: &(u32, u32)| {
            let (la, ia, lb, ib) = (a.0 as usize, a.1 as usize, b.0 as usize, b.1 as usize);
            (!gone[la][ia])
                .cmp(&!gone[lb][ib])
                .then(mags[la][ia].total_cmp(&mags[lb][ib]))
        };
        let indexed = |l: usize| (0..mags[l].len() as u32).map(move |i| (l as u32, i));
        let order: Vec<Vec<(u32, u32)>> = match scope {
            PruneScope::Layer => (0..mags.len())
                .map(|l| {
                    let mut v: Vec<(u32, u32)> = indexed(l).collect();
                    v.sort_by(by_magnitude);
                    v
                })
                .collect(),
            PruneScope::Global => {
                let mut v: Vec<(u32, u32)> = (0..mags.len()).flat_map(indexed).collect();
                v.sort_by(by_magnitude);
                vec![v]
            }
        };
        let stored = order
            .iter()
            .map(|list| {
                list.iter()
                    .filter(|&&(l, i)| gone[l as usize][i as usize])
                    .count()
            })
            .collect();
        Ok(MagnitudeRanking {
            shapes,
            scope,
            order,
            stored,
            dtype: first.dtype(),
            device: first.device().clone(),
        })
    }

    pub fn scope(&self) -> PruneScope {
        self.scope
    }

    pub fn total(&self) -> usize {
        self.shapes.iter().map(|(o, i)| o * i).sum()
    }

    /// The share (%) of all weights the stored pruning removed (0 without one).
    pub fn stored_percent(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        100.0 * self.stored.iter().sum::<usize>() as f64 / total as f64
    }

    /// The levels this ranking can give: `Err` names the stored share when `percent` is below
    /// it (by more than the rounding of each ranked list to whole weights).
    pub fn check_level(&self, percent: f64) -> std::result::Result<(), String> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!(
                "pruning percentage must be within 0..=100, got {percent}"
            ));
        }
        let stored = self.stored_percent();
        let rounding = 100.0 * self.order.len() as f64 / (2.0 * self.total().max(1) as f64);
        if percent < stored - rounding - 1e-9 {
            return Err(format!(
                "the checkpoint's own pruning removes {stored:.2} % of its weights; a {percent} % \
                 level would bring some back: levels are shares of all weights, its own ones \
                 first and then the smallest of the kept ones, so give at least {stored:.2}"
            ));
        }
        Ok(())
    }

    /// Keep-masks removing the smallest `percent` % (0 ≤ percent ≤ 100), the stored-removed
    /// weights first. A ranked list (a layer, for scope layer) whose stored share is above
    /// `percent` keeps its stored pruning: nothing stored-removed comes back.
    pub fn masks(&self, percent: f64) -> Result<PruneMasks> {
        self.check_level(percent).map_err(candle_core::Error::Msg)?;
        let mut keep: Vec<Vec<f32>> = self.shapes.iter().map(|(o, i)| vec![1.0; o * i]).collect();
        let mut removed = 0;
        for (list, &stored) in self.order.iter().zip(&self.stored) {
            let k = removed_count(list.len(), percent).max(stored);
            for &(l, i) in &list[..k] {
                keep[l as usize][i as usize] = 0.0;
            }
            removed += k;
        }
        let masks = keep
            .into_iter()
            .zip(&self.shapes)
            .map(|(k, &shape)| {
                Tensor::from_vec(k, shape, &Device::Cpu)?
                    .to_dtype(self.dtype)?
                    .to_device(&self.device)
            })
            .collect::<Result<Vec<_>>>()?;
        let total = self.total();
        Ok(PruneMasks {
            masks,
            kept: total - removed,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranks(weights: &[Tensor], scope: PruneScope, p: f64) -> PruneMasks {
        MagnitudeRanking::new(weights, scope)
            .unwrap()
            .masks(p)
            .unwrap()
    }

    #[test]
    fn keeps_exactly_the_expected_number_even_with_ties() {
        let w = Tensor::new(
            &[[1.0f32, 1.0, 1.0, 1.0], [1.0, 1.0, 2.0, -3.0]],
            &Device::Cpu,
        )
        .unwrap();
        for (p, kept) in [(0.0, 8), (25.0, 6), (50.0, 4), (90.0, 1), (100.0, 0)] {
            let m = ranks(std::slice::from_ref(&w), PruneScope::Layer, p);
            assert_eq!(m.kept, kept, "p = {p}");
            let ones: f32 = m.masks[0].sum_all().unwrap().to_scalar().unwrap();
            assert_eq!(ones as usize, kept, "p = {p}");
        }
        // The negative weight has the largest magnitude: the last one standing.
        let m = ranks(&[w], PruneScope::Layer, 90.0);
        assert_eq!(m.masks[0].to_vec2::<f32>().unwrap()[1][3], 1.0);
    }

    #[test]
    fn global_scope_ranks_across_layers_and_layer_scope_within() {
        let small = Tensor::new(&[[0.1f32, 0.2], [0.3, 0.4]], &Device::Cpu).unwrap();
        let large = Tensor::new(&[[5.0f32, 6.0], [7.0, 8.0]], &Device::Cpu).unwrap();
        let ws = [small, large];
        let g = ranks(&ws, PruneScope::Global, 50.0);
        assert_eq!(
            g.masks[0].sum_all().unwrap().to_scalar::<f32>().unwrap(),
            0.0
        );
        assert_eq!(
            g.masks[1].sum_all().unwrap().to_scalar::<f32>().unwrap(),
            4.0
        );
        let l = ranks(&ws, PruneScope::Layer, 50.0);
        assert_eq!(
            l.masks[0].to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 0.0], vec![1.0, 1.0]]
        );
        assert_eq!(l.kept, 4);
    }

    #[test]
    fn linear_time_selection_removes_what_the_sorted_ranking_removes() {
        let a = Tensor::randn(0f32, 1.0, (37, 23), &Device::Cpu).unwrap();
        // Ties on purpose: a block of equal magnitudes straddles every cut-off below.
        let b = Tensor::new(
            &[[0.5f32, -0.5, 0.5, 0.5], [0.5, 2.0, -0.5, 0.1]],
            &Device::Cpu,
        )
        .unwrap();
        // More weights than one mask chunk, on a few levels only: ties span chunk boundaries.
        let c = (Tensor::randn(0f32, 1.0, (300, 300), &Device::Cpu).unwrap() * 4.0)
            .unwrap()
            .round()
            .unwrap()
            .affine(0.25, 0.0)
            .unwrap();
        let weights = [a, b, c];
        for scope in [PruneScope::Layer, PruneScope::Global] {
            for p in [0.0, 10.0, 37.5, 50.0, 80.0, 99.0, 100.0] {
                let fast = smallest_removed(&weights, p, scope).unwrap();
                let sorted = ranks(&weights, scope, p).masks;
                for (f, s) in fast.iter().zip(&sorted) {
                    assert_eq!(
                        f.to_vec2::<f32>().unwrap(),
                        s.to_vec2::<f32>().unwrap(),
                        "{scope} {p} %"
                    );
                }
            }
        }
    }

    #[test]
    fn device_selection_removes_what_the_host_selection_removes() {
        let a = Tensor::randn(0f32, 1.0, (37, 23), &Device::Cpu).unwrap();
        // Ties: a block of equal magnitudes straddles every cut-off, across rows and layers.
        let b = Tensor::new(
            &[[0.5f32, -0.5, 0.5, 0.5], [0.5, 2.0, -0.5, 0.1]],
            &Device::Cpu,
        )
        .unwrap();
        let c = (Tensor::randn(0f32, 1.0, (120, 90), &Device::Cpu).unwrap() * 4.0)
            .unwrap()
            .round()
            .unwrap()
            .affine(0.25, 0.0)
            .unwrap();
        // A transposed view, as embedded synapses hand their weights (pre-major).
        let d = Tensor::randn(0f32, 1.0, (16, 40), &Device::Cpu)
            .unwrap()
            .t()
            .unwrap();
        // Exact zeros and infinities.
        let e = Tensor::new(
            &[[0.0f32, 0.0, f32::INFINITY], [-0.0, 1.0, f32::NEG_INFINITY]],
            &Device::Cpu,
        )
        .unwrap();
        let weights = [a, b, c, d, e];
        for scope in [PruneScope::Layer, PruneScope::Global] {
            for p in [0.0, 1.0, 10.0, 37.5, 50.0, 80.0, 99.0, 100.0] {
                let host = smallest_removed_on_host(&weights, p, scope).unwrap();
                let device = smallest_removed_on_device(&weights, p, scope).unwrap();
                for (l, (h, d)) in host.iter().zip(&device).enumerate() {
                    assert_eq!(h.dims(), d.dims());
                    assert_eq!(
                        h.to_vec2::<f32>().unwrap(),
                        d.to_vec2::<f32>().unwrap(),
                        "{scope} {p} %, layer {l}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_ranking_after_a_stored_mask_prunes_further_among_the_kept() {
        let w = Tensor::new(
            &[[0.1f32, 0.9, 0.2, 0.8], [0.3, 0.7, 0.4, 0.6]],
            &Device::Cpu,
        )
        .unwrap();
        // The stored mask removed the two largest weights (as an effective ranking might).
        let stored = Tensor::new(
            &[[1.0f32, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]],
            &Device::Cpu,
        )
        .unwrap();
        let r = MagnitudeRanking::after(
            std::slice::from_ref(&w),
            PruneScope::Layer,
            std::slice::from_ref(&stored),
        )
        .unwrap();
        assert_eq!(r.stored_percent(), 25.0);
        let same = r.masks(25.0).unwrap();
        assert_eq!(
            same.masks[0].to_vec2::<f32>().unwrap(),
            stored.to_vec2::<f32>().unwrap()
        );
        // 50 %: the stored two, then the two smallest kept ones (0.1, 0.2).
        let further = r.masks(50.0).unwrap();
        assert_eq!(further.kept, 4);
        assert_eq!(
            further.masks[0].to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 0.0, 0.0, 0.0], vec![1.0, 1.0, 1.0, 1.0]]
        );
        let err = r.check_level(10.0).unwrap_err();
        assert!(err.contains("25.00 %"), "{err}");
        assert!(r.masks(10.0).is_err());
        // A second layer pruned less: a level at the overall share keeps every stored weight
        // out, and prunes the less-pruned layer up to the level.
        let v = Tensor::new(&[[0.5f32, 0.6], [0.7, 0.8]], &Device::Cpu).unwrap();
        let none = Tensor::ones((2, 2), DType::F32, &Device::Cpu).unwrap();
        let r =
            MagnitudeRanking::after(&[w.clone(), v], PruneScope::Layer, &[stored.clone(), none])
                .unwrap();
        let m = r.masks(r.stored_percent()).unwrap();
        assert_eq!(
            m.masks[0].to_vec2::<f32>().unwrap(),
            stored.to_vec2::<f32>().unwrap()
        );
        assert_eq!(m.masks[1].to_vec2::<f32>().unwrap()[0], vec![0.0, 1.0]);
        assert_eq!(m.kept, 12 - 2 - 1);
    }

    #[test]
    fn masks_pack_to_bits_and_back() {
        let mask = Tensor::rand(0f32, 1.0, (13, 7), &Device::Cpu)
            .unwrap()
            .ge(0.5)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let bits = pack_mask(&mask).unwrap();
        assert_eq!(bits.len(), 12); // 91 bits
        let back = unpack_mask(&bits, (13, 7)).unwrap();
        assert_eq!(
            back.to_vec2::<f32>().unwrap(),
            mask.to_vec2::<f32>().unwrap()
        );
        assert!(
            unpack_mask(&bits, (13, 8)).is_none(),
            "a wrong shape is refused"
        );
    }

    #[test]
    fn rejects_bad_percentages() {
        let w = Tensor::new(&[[1.0f32]], &Device::Cpu).unwrap();
        let r = MagnitudeRanking::new(&[w], PruneScope::Layer).unwrap();
        assert!(r.masks(-1.0).is_err());
        assert!(r.masks(100.5).is_err());
        assert!(r.masks(f64::NAN).is_err());
    }
}

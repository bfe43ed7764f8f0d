//! The data the viewer page carries: the model, each layer's positions, masks, biases and
//! activity, the inputs, and per ranking and pruning level the accuracy, kept counts, thresholds
//! and predicted classes.

use base64::Engine;
use candle_core::{DType, Tensor};
use neuropos_models::checkpoint::Loaded;
use neuropos_models::data::Mnist;
use neuropos_models::prune::levels::{at_levels, Levels};
use neuropos_models::prune::{self, PruneScope, Rank};
use neuropos_models::{training, Network};
use serde::Serialize;

use super::ViewerSettings;

#[derive(Serialize)]
pub(super) struct Data {
    pub(super) format: &'static str,
    pub(super) model: ModelInfo,
    pub(super) layers: Vec<LayerData>,
    /// How the free coordinates are drawn: `plane` (d = 3, as they are), `line` (d = 2) or
    /// `pca` (d > 3: the first two principal components over all neurons).
    pub(super) projection: &'static str,
    /// The pickable inputs: the ten digits' average test images, then single test images.
    pub(super) inputs: Inputs,
    pub(super) pruning: Pruning,
    pub(super) first_digit: u32,
}

#[derive(Serialize)]
pub(super) struct ModelInfo {
    pub(super) describe: String,
    pub(super) kind: String,
    pub(super) layers: Vec<usize>,
    pub(super) dim: usize,
    pub(super) params: usize,
    pub(super) spiking: bool,
    pub(super) time_steps: Option<usize>,
    pub(super) steepness: f64,
    pub(super) distance_epsilon: f64,
    pub(super) checkpoint: String,
}

#[derive(Serialize)]
pub(super) struct LayerData {
    pub(super) name: String,
    pub(super) n: usize,
    /// `[n, d]` f32, little-endian, base64: the full positions (the layer axis last).
    pub(super) positions: String,
    /// `[n, 3]` f32: the drawn point, two free (or projected) coordinates and the layer axis.
    pub(super) view: String,
    /// `[n]` f32 inhibition mask m = 2σ(kv) − 1 (layers that send synapses).
    pub(super) mask: Option<String>,
    /// `[n]` f32 biases (layers that receive synapses).
    pub(super) bias: Option<String>,
    /// `[inputs, n]` i8 activity, each row scaled to its largest magnitude (`scale`), for every
    /// layer after the input (whose activity is the pixels).
    pub(super) activity: Option<String>,
    pub(super) scale: Option<Vec<f32>>,
}

#[derive(Serialize)]
pub(super) struct Inputs {
    /// `[count, 784]` u8 pixels (the averages rounded), base64.
    pub(super) pixels: String,
    pub(super) count: usize,
    /// The true digit of each input (for the averages, the digit averaged).
    pub(super) labels: Vec<u32>,
    /// The test-set index of each single image (null for the averages).
    pub(super) test_index: Vec<Option<usize>>,
    /// How many test images each average is made of.
    pub(super) averaged: Vec<usize>,
}

#[derive(Serialize)]
pub(super) struct Pruning {
    pub(super) scope: PruneScope,
    /// The share (%) of all weights the checkpoint removes by itself (its stored mask or its
    /// pruning during training); every level is at least this, pruned further among the kept.
    pub(super) stored_percent: f64,
    pub(super) levels: Vec<f64>,
    pub(super) test_images: usize,
    pub(super) ranks: Vec<RankData>,
}

#[derive(Serialize)]
pub(super) struct RankData {
    pub(super) rank: Rank,
    pub(super) accuracy: Vec<f64>,
    pub(super) kept: Vec<usize>,
    pub(super) total: usize,
    /// Per level, per synapse layer: the smallest kept |w| (`distance`) or |m·w| (`effective`).
    pub(super) thresholds: Vec<Vec<f32>>,
    /// Per level, the predicted class of every input.
    pub(super) predicted: Vec<Vec<u32>>,
}

pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn f32_b64(values: &[f32]) -> String {
    b64(&values
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect::<Vec<u8>>())
}

/// `[B, n]` as i8 rows, each scaled to its own largest magnitude.
pub(super) fn quantize(t: &Tensor) -> anyhow::Result<(String, Vec<f32>)> {
    let rows = t.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let mut bytes = Vec::with_capacity(rows.len() * rows.first().map_or(0, Vec::len));
    let mut scales = Vec::with_capacity(rows.len());
    for row in rows {
        let scale = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        scales.push(scale);
        bytes.extend(row.iter().map(|v| {
            if scale > 0.0 {
                (v / scale * 127.0).round() as i8 as u8
            } else {
                0
            }
        }));
    }
    Ok((b64(&bytes), scales))
}

/// Per synapse layer, the smallest |w| among the weights `keep` keeps (what the page draws down
/// to); a threshold no weight reaches when none is kept (JSON has no infinity).
pub(super) fn thresholds(magnitudes: &[Vec<f32>], keep: &[Tensor]) -> anyhow::Result<Vec<f32>> {
    magnitudes
        .iter()
        .zip(keep)
        .map(|(m, k)| {
            let k = k.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            Ok(m.iter()
                .zip(&k)
                .filter(|(_, &k)| k != 0.0)
                .map(|(&m, _)| m)
                .fold(f32::MAX, f32::min))
        })
        .collect()
}

/// The viewer's inputs: the ten average digits, then the first `images` test images.
pub(super) struct ViewerInputs {
    pub(super) inputs: Tensor,
    /// The test labels (all of them).
    pub(super) labels: Vec<u32>,
    pub(super) pixels: Vec<u8>,
    pub(super) count: usize,
    pub(super) input_labels: Vec<u32>,
    pub(super) test_index: Vec<Option<usize>>,
    pub(super) averaged: Vec<usize>,
}

impl ViewerInputs {
    pub(super) fn pick(mnist: &Mnist, images_wanted: usize) -> anyhow::Result<Self> {
        let labels = mnist.test_labels.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        let single = images_wanted.min(labels.len());
        let mut images = Vec::with_capacity(10 + single);
        let mut input_labels = Vec::new();
        let mut test_index = Vec::new();
        let mut averaged = Vec::new();
        for digit in 0..10u32 {
            let picked: Vec<u32> = (0..labels.len() as u32)
                .filter(|&i| labels[i as usize] == digit)
                .collect();
            if picked.is_empty() {
                anyhow::bail!("the test set has no image of digit {digit} to average");
            }
            let idx = Tensor::new(picked.as_slice(), mnist.test_images.device())?;
            images.push(mnist.test_images.index_select(&idx, 0)?.mean_keepdim(0)?);
            input_labels.push(digit);
            test_index.push(None);
            averaged.push(picked.len());
        }
        images.push(mnist.test_images.narrow(0, 0, single)?);
        input_labels.extend(&labels[..single]);
        test_index.extend((0..single).map(Some));
        averaged.extend(std::iter::repeat_n(1, single));
        let inputs = Tensor::cat(&images, 0)?.to_dtype(DType::F32)?;
        let count = inputs.dim(0)?;
        let pixels: Vec<u8> = inputs
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .map(|p| (p * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();

        Ok(ViewerInputs {
            inputs,
            labels,
            pixels,
            count,
            input_labels,
            test_index,
            averaged,
        })
    }
}

/// Per layer: positions, drawn coordinates, masks, biases and the inputs' activity.
pub(super) fn layer_data(network: &Network, activity: &[Tensor]) -> anyhow::Result<Vec<LayerData>> {
    let config = network.config();
    let neurons = network.embedding().expect("checked by write").neurons();
    let depth = neurons.len();
    let (full, free, plane) = neuropos_models::inspect::layer_positions(neurons, config.dim)?;
    let synapses = network.synapses();
    let mut layers = Vec::with_capacity(depth);
    for (l, n) in neurons.iter().enumerate() {
        let flat: Vec<f32> = full[l].iter().flatten().map(|&v| v as f32).collect();
        let drawn = neuropos_models::inspect::project(&free[l], &plane);
        let view: Vec<f32> = drawn
            .iter()
            .zip(&full[l])
            .flat_map(|(&(x, y), p)| [x as f32, y as f32, p[p.len() - 1] as f32])
            .collect();
        let mask = match &n.inhibition {
            Some(raw) => Some(f32_b64(
                &neuropos_models::geometry::inhibition_mask(raw, config.steepness)?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?,
            )),
            None => None,
        };
        let bias = match l.checked_sub(1).and_then(|c| synapses[c].bias()) {
            Some(b) => Some(f32_b64(&b.to_dtype(DType::F32)?.to_vec1::<f32>()?)),
            None => None,
        };
        let (activity, scale) = if l == 0 {
            (None, None)
        } else {
            let (a, s) = quantize(&activity[l])?;
            (Some(a), Some(s))
        };
        layers.push(LayerData {
            name: match l {
                0 => "input".to_string(),
                l if l == depth - 1 => "output".to_string(),
                l => format!("hidden {l}"),
            },
            n: n.len(),
            positions: f32_b64(&flat),
            view: f32_b64(&view),
            mask,
            bias,
            activity,
            scale,
        });
    }
    drop(synapses);

    Ok(layers)
}

/// Per rank and level: the test accuracy, the kept count, the threshold and the inputs'
/// predicted classes, all from eval's loop.
pub(super) fn rank_data(
    loaded: &mut Loaded,
    settings: &ViewerSettings,
    inputs: &Tensor,
    mnist: &Mnist,
) -> anyhow::Result<Vec<RankData>> {
    let config = loaded.network.config().clone();
    let test_x = &mnist.test_images;
    let test_y = &mnist.test_labels;
    let chunk = if config.lif.is_some() { 500 } else { 2000 };
    let bar = indicatif::ProgressBar::new(2 * settings.levels.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} levels [{elapsed}]")
            .expect("a valid template"),
    );
    bar.set_message("scoring pruning levels");
    let mut ranks = Vec::new();
    for rank in [Rank::Distance, Rank::Effective] {
        // |w| by this ranking; a stored mask's removed weights are 0 here and never kept.
        let magnitudes: Vec<Vec<f32>> = prune::ranked_weights(&loaded.network, rank)?
            .iter()
            .map(|w| {
                Ok(w.abs()?
                    .flatten_all()?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?)
            })
            .collect::<anyhow::Result<_>>()?;
        let mut data = RankData {
            rank,
            accuracy: Vec::new(),
            kept: Vec::new(),
            total: 0,
            thresholds: Vec::new(),
            predicted: Vec::new(),
        };
        let how = Levels {
            levels: Some(settings.levels),
            rank,
            scope: PruneScope::Layer,
            compensation: None,
        };
        at_levels(loaded, &how, |level, network: &Network| {
            data.accuracy
                .push(training::accuracy(network, test_x, test_y)?);
            data.kept.push(level.kept);
            data.total = level.total;
            data.thresholds
                .push(thresholds(&magnitudes, &network.keep_masks()?)?);
            data.predicted
                .push(training::predict(network, inputs, chunk)?);
            bar.inc(1);
            anyhow::Ok(())
        })?;
        ranks.push(data);
    }
    bar.finish_and_clear();

    Ok(ranks)
}

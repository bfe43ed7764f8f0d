//! `neuropos viz … --html FILE`: one self-contained HTML page to explore an embedded network in
//! the browser (assets/viewer: plain WebGL with a 2-D canvas fallback, no library, nothing
//! fetched when the page opens).
//!
//! The page gets the positions, masks and biases, a few test images and every layer's activity
//! for them, and what needs the test set — the accuracy and each shown image's predicted class at
//! every pruning level — precomputed here with `eval`'s own pruning loop
//! ([`neuropos_models::prune::levels::at_levels`]),
//! so the page shows what `eval` and `predict` compute. The weight matrix is not shipped: the
//! page synthesises `1/distance` from the positions to draw the kept wires, keeping those at or
//! above the weight of the weakest connection this command kept at that level.

use anyhow::Context;
use base64::Engine;
use candle_core::{DType, Tensor};
use neuropos_models::checkpoint::Loaded;
use neuropos_models::data::Mnist;
use neuropos_models::prune::levels::{at_levels, Levels, StoredPruning};
use neuropos_models::prune::{self, PruneScope, Rank};
use neuropos_models::{training, Network};
use serde::Serialize;
use std::path::Path;

const TEMPLATE: &str = include_str!("../assets/viewer/viewer.html");
const SCRIPT: &str = include_str!("../assets/viewer/viewer.js");
const STYLE: &str = include_str!("../assets/viewer/viewer.css");
/// Marks in the template the page's pieces replace.
const MARKS: [&str; 4] = [
    "/*NEUROPOS_STYLE*/",
    "/*NEUROPOS_SCRIPT*/",
    "NEUROPOS_DATA",
    "NEUROPOS_TITLE",
];

pub struct ViewerSettings<'a> {
    pub source: &'a str,
    /// The first `images` test images are pickable one by one.
    pub images: usize,
    pub levels: &'a [f64],
    /// The digit average shown first.
    pub first_digit: u32,
}

#[derive(Serialize)]
struct Data {
    format: &'static str,
    model: ModelInfo,
    layers: Vec<LayerData>,
    /// How the free coordinates are drawn: `plane` (d = 3, as they are), `line` (d = 2) or
    /// `pca` (d > 3: the first two principal components over all neurons).
    projection: &'static str,
    /// The pickable inputs: the ten digits' average test images, then single test images.
    inputs: Inputs,
    pruning: Pruning,
    first_digit: u32,
}

#[derive(Serialize)]
struct ModelInfo {
    describe: String,
    kind: String,
    layers: Vec<usize>,
    dim: usize,
    params: usize,
    spiking: bool,
    time_steps: Option<usize>,
    steepness: f64,
    distance_epsilon: f64,
    checkpoint: String,
}

#[derive(Serialize)]
struct LayerData {
    name: String,
    n: usize,
    /// `[n, d]` f32, little-endian, base64: the full positions (the layer axis last).
    positions: String,
    /// `[n, 3]` f32: the drawn point, two free (or projected) coordinates and the layer axis.
    view: String,
    /// `[n]` f32 inhibition mask m = 2σ(kv) − 1 (layers that send synapses).
    mask: Option<String>,
    /// `[n]` f32 biases (layers that receive synapses).
    bias: Option<String>,
    /// `[inputs, n]` i8 activity, each row scaled to its largest magnitude (`scale`), for every
    /// layer after the input (whose activity is the pixels).
    activity: Option<String>,
    scale: Option<Vec<f32>>,
}

#[derive(Serialize)]
struct Inputs {
    /// `[count, 784]` u8 pixels (the averages rounded), base64.
    pixels: String,
    count: usize,
    /// The true digit of each input (for the averages, the digit averaged).
    labels: Vec<u32>,
    /// The test-set index of each single image (null for the averages).
    test_index: Vec<Option<usize>>,
    /// How many test images each average is made of.
    averaged: Vec<usize>,
}

#[derive(Serialize)]
struct Pruning {
    scope: PruneScope,
    /// The share (%) of all weights the checkpoint removes by itself (its stored mask or its
    /// pruning during training); every level is at least this, pruned further among the kept.
    stored_percent: f64,
    levels: Vec<f64>,
    test_images: usize,
    ranks: Vec<RankData>,
}

#[derive(Serialize)]
struct RankData {
    rank: Rank,
    accuracy: Vec<f64>,
    kept: Vec<usize>,
    total: usize,
    /// Per level, per synapse layer: the smallest kept |w| (`distance`) or |m·w| (`effective`).
    thresholds: Vec<Vec<f32>>,
    /// Per level, the predicted class of every input.
    predicted: Vec<Vec<u32>>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn f32_b64(values: &[f32]) -> String {
    b64(&values
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect::<Vec<u8>>())
}

/// `[B, n]` as i8 rows, each scaled to its own largest magnitude.
fn quantize(t: &Tensor) -> anyhow::Result<(String, Vec<f32>)> {
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
fn thresholds(magnitudes: &[Vec<f32>], keep: &[Tensor]) -> anyhow::Result<Vec<f32>> {
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

/// Writes the page for `loaded` to `out`; returns its size in bytes.
pub fn write(
    loaded: &mut Loaded,
    mnist: &Mnist,
    settings: &ViewerSettings,
    out: &Path,
) -> anyhow::Result<usize> {
    let config = loaded.network.config().clone();
    loaded.network.embedding().with_context(|| {
        format!(
            "{}: {} is a baseline without neuron positions; the viewer shows embedded kinds",
            settings.source,
            config.describe()
        )
    })?;
    let picked = ViewerInputs::pick(mnist, settings.images)?;
    let (inputs, labels) = (&picked.inputs, &picked.labels);
    // Activity of the network as it stands (unpruned, or with its stored pruning).
    let activity = neuropos_models::inspect::layer_activity(&loaded.network, inputs)?;

    let layers = layer_data(&loaded.network, &activity)?;

    let ranks = rank_data(loaded, settings, inputs, mnist)?;

    let data = Data {
        format: "neuropos-viewer/1",
        model: ModelInfo {
            describe: config.describe(),
            kind: config.kind.to_string(),
            layers: config.layers.clone(),
            dim: config.dim,
            params: loaded.info.params,
            spiking: config.lif.is_some(),
            time_steps: config.lif.map(|l| l.time_steps),
            steepness: config.steepness,
            distance_epsilon: config.distance_epsilon,
            checkpoint: settings.source.to_string(),
        },
        layers,
        projection: match config.dim {
            2 => "line",
            3 => "plane",
            _ => "pca",
        },
        inputs: Inputs {
            pixels: b64(&picked.pixels),
            count: picked.count,
            labels: picked.input_labels,
            test_index: picked.test_index,
            averaged: picked.averaged,
        },
        pruning: Pruning {
            scope: PruneScope::Layer,
            stored_percent: StoredPruning::of(loaded).map_or(0.0, |s| s.percent),
            levels: settings.levels.to_vec(),
            test_images: labels.len(),
            ranks,
        },
        first_digit: settings.first_digit,
    };
    // Inside a <script> element only `</script` and `<!--` could end or confuse it: JSON
    // allows `<` to be escaped.
    let json = serde_json::to_string(&data)?.replace('<', "\\u003c");
    let page = render(&config.describe(), &json);
    neuropos_models::checkpoint::write_atomically(out, page.as_bytes())?;
    Ok(page.len())
}

/// The viewer's inputs: the ten average digits, then the first `images` test images.
struct ViewerInputs {
    inputs: Tensor,
    /// The test labels (all of them).
    labels: Vec<u32>,
    pixels: Vec<u8>,
    count: usize,
    input_labels: Vec<u32>,
    test_index: Vec<Option<usize>>,
    averaged: Vec<usize>,
}

impl ViewerInputs {
    fn pick(mnist: &Mnist, images_wanted: usize) -> anyhow::Result<Self> {
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
fn layer_data(network: &Network, activity: &[Tensor]) -> anyhow::Result<Vec<LayerData>> {
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
fn rank_data(
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

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn render(title: &str, json: &str) -> String {
    debug_assert!(MARKS.iter().all(|m| TEMPLATE.contains(m)));
    TEMPLATE
        .replace(MARKS[0], STYLE)
        .replace(MARKS[1], SCRIPT)
        .replace(MARKS[3], &html_escape(title))
        .replace(MARKS[2], json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_has_every_mark_once() {
        for m in MARKS {
            assert_eq!(TEMPLATE.matches(m).count(), 1, "{m}");
        }
        // The pieces must not carry marks themselves, or replacing would nest them.
        for piece in [SCRIPT, STYLE] {
            for m in MARKS {
                assert!(!piece.contains(m), "{m} in a piece");
            }
        }
    }

    #[test]
    fn quantized_rows_keep_their_sign_and_scale() {
        let t = Tensor::new(
            &[[0.5f32, -1.0, 0.25], [0.0, 0.0, 0.0]],
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let (b, scales) = quantize(&t).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
        let q: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
        assert_eq!(q, vec![64, -127, 32, 0, 0, 0]);
        assert_eq!(scales, vec![1.0, 0.0]);
    }

    #[test]
    fn thresholds_are_the_weakest_kept_value() {
        let magnitudes = vec![vec![3.0f32, 1.0, 4.0, 2.0]];
        let keep = |k: [f32; 4]| vec![Tensor::new(&[k], &candle_core::Device::Cpu).unwrap()];
        let at = |k| thresholds(&magnitudes, &keep(k)).unwrap();
        assert_eq!(at([1.0, 1.0, 1.0, 1.0]), vec![1.0]);
        assert_eq!(at([1.0, 0.0, 1.0, 0.0]), vec![3.0]);
        // A stored mask need not follow the magnitudes: the weakest kept one counts.
        assert_eq!(at([0.0, 0.0, 1.0, 1.0]), vec![2.0]);
        // Every weight removed: nothing reaches the threshold.
        assert_eq!(at([0.0; 4]), vec![f32::MAX]);
    }
}

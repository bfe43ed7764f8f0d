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
use neuropos_models::checkpoint::Loaded;
use neuropos_models::data::Mnist;
use neuropos_models::prune::levels::StoredPruning;
use neuropos_models::prune::PruneScope;
use std::path::Path;

mod page_data;

use page_data::{b64, layer_data, rank_data, Data, Inputs, ModelInfo, Pruning, ViewerInputs};

const TEMPLATE: &str = include_str!("../../assets/viewer/viewer.html");
const SCRIPT: &str = include_str!("../../assets/viewer/viewer.js");
const STYLE: &str = include_str!("../../assets/viewer/viewer.css");
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
    use super::page_data::{quantize, thresholds};
    use super::*;
    use base64::Engine;
    use candle_core::Tensor;

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

//! A checkpoint as a self-contained C99 library (`neuropos export --format c`): `neuropos_model.h`
//! and `neuropos_model.c` — no allocation, no state that changes, `sqrtf` the only libm call for
//! ReLU networks — and an example program that reads an IDX image file and prints one class per
//! line.
//!
//! An embedded layer's weights are not stored: each is made when it is used, `1/sqrt(max(d², ε))`
//! from the two neurons' positions, over only the inputs that are not zero (most of an MNIST
//! image) and only the neurons that fire. So the model is its positions, masks and biases, and
//! RAM is the gathered inputs and the next layer's currents. A pruned embedded layer is one
//! number, the longest wire it keeps ([`limits`]). Numbers are stored at the precision asked for
//! ([`Precision`]): f32, f16, or int8 with the scale and offset [`crate::precision`] chose.
//!
//! Every kind is written: embedded and dense MLPs and SNNs (direct input encoding), unpruned or
//! pruned (during training, or a stored mask of an embedded layer ranked by distance; a dense
//! layer's mask is stored as zero weights).

mod dense;
mod embedded;
mod latency;
mod limits;
mod numbers;
mod predict;

use candle_core::Tensor;

use crate::checkpoint::Loaded;
use crate::config::{AxisMode, WeightScale};
use crate::encoder::Encoder;
use crate::precision::{round_to, Precision};
use crate::{Error, Result};
use embedded::Layer;
use limits::{Axis, Geometry};
use numbers::Array;
use predict::First;

/// The three files.
#[derive(Debug, Clone, PartialEq)]
pub struct CExport {
    pub header: String,
    pub source: String,
    pub example: String,
    /// Bytes of the model's stored numbers (the arrays, not the code).
    pub model_bytes: usize,
    /// What a user should know about the export: each pruned layer's limit, and the wires at
    /// its cut-off where it and the network's own mask differ.
    pub notes: Vec<String>,
}

fn refuse<T>(problem: String) -> Result<T> {
    Err(Error::Config(problem))
}

/// `loaded` (rounded to `precision` in place first) as C99.
pub fn export_c(loaded: &mut Loaded, precision: Precision) -> Result<CExport> {
    let config = loaded.network.config().clone();
    // The latency code is a step function of each pixel, written out; the rate code draws its
    // spikes from a random stream the C code does not have.
    let latency = match config.lif.as_ref().map(|l| (l.encoder, l.time_steps)) {
        Some((Encoder::Rate { .. }, _)) => {
            return refuse(format!(
                "{}: the C export writes spiking networks with the direct or the latency input \
                 code; the rate code's spike trains come from a random stream the C code does \
                 not have",
                config.describe()
            ))
        }
        Some((Encoder::Latency { threshold, linear }, steps)) => {
            Some(latency::latency(threshold, linear, steps))
        }
        _ => None,
    };
    let rounded = round_to(loaded, precision)?;
    let var = |name: &str| -> Result<Vec<f32>> {
        let data = loaded
            .vars
            .data()
            .lock()
            .map_err(|_| Error::Config("variable map poisoned".into()))?;
        let v = data
            .get(name)
            .ok_or_else(|| Error::Config(format!("no variable {name}")))?;
        host_f32(v.as_tensor())
    };
    let affine = |name: &str| -> Option<(f64, f64)> {
        (precision == Precision::Int8).then(|| {
            let t = rounded.tensors.iter().find(|t| t.name == name);
            t.map_or((1.0, 0.0), |t| (t.scale, t.offset))
        })
    };
    let array = |name: String, var_name: &str| -> Result<Array> {
        Ok(Array {
            name,
            values: var(var_name)?,
            affine: affine(var_name),
        })
    };
    // The masks the network runs with (its pruning during training ranked on the rounded
    // numbers, or its stored mask), `[n_out][n_in]` per synapse layer.
    let masks: Option<Vec<Vec<f32>>> = if config.pruning.is_some() || config.fixed_mask.is_some() {
        Some(
            crate::prune::levels::stored_masks(&loaded.network)?
                .iter()
                .map(host_f32)
                .collect::<Result<_>>()?,
        )
    } else {
        None
    };
    let layers = config.layers.clone();
    let depth = layers.len();
    let spiking = config.lif.is_some();
    let mut arrays = Vec::new();
    let mut code = String::new();
    let mut notes = Vec::new();
    let first = match config.kind.axis() {
        Some(axis) => {
            let free = config.dim - 1;
            let relaxed = axis == AxisMode::Relaxed;
            let gaps = match axis {
                AxisMode::Gaps => var("gaps")?,
                _ => Vec::new(),
            };
            // z of layer l for the fixed and gaps axes (relaxed: per neuron, stored).
            let layer_z = |l: usize| -> f32 {
                match axis {
                    AxisMode::Gaps => gaps[..l].iter().sum(),
                    _ => l as f32,
                }
            };
            let (mut coords, mut zs) = (Vec::new(), Vec::new());
            for l in 0..depth {
                let a = array(format!("coords{l}"), &format!("layers.{l}.coords"))?;
                coords.push(a.as_c(precision));
                arrays.push(a);
                if relaxed {
                    let a = array(format!("z{l}"), &format!("layers.{l}.z"))?;
                    zs.push(a.as_c(precision));
                    arrays.push(a);
                }
                if l + 1 < depth {
                    // A learned weight scale rides on the mask, as in the network's forward.
                    let scale = match config.weight_scale {
                        WeightScale::Learned => var(&format!("layers.{l}.scale"))?[0],
                        WeightScale::Fixed => 1.0,
                    };
                    arrays.push(inhibition_mask(
                        &var(&format!("layers.{l}.inhibition"))?,
                        config.steepness as f32,
                        scale,
                        l,
                        precision,
                    ));
                }
                if l > 0 {
                    arrays.push(array(format!("bias{l}"), &format!("layers.{l}.bias"))?);
                }
            }
            let mut synapses = Vec::new();
            for l in 0..depth - 1 {
                let dz = layer_z(l) - layer_z(l + 1);
                let axis2 = dz * dz;
                let geometry = Geometry {
                    senders: &coords[l],
                    receivers: &coords[l + 1],
                    free,
                    axis: if relaxed {
                        Axis::PerNeuron {
                            senders: &zs[l],
                            receivers: &zs[l + 1],
                        }
                    } else {
                        Axis::Constant(axis2)
                    },
                    epsilon: config.distance_epsilon as f32,
                };
                let limit = match &masks {
                    Some(m) => limits::limit(l, &geometry, &m[l])?,
                    None => None,
                };
                if let Some(limit) = limit {
                    notes.push(format!(
                        "synapse layer {l}: pruning written as one limit, kept when the squared \
                         distance is at most {}; {} of {} wires at the cut-off differ from the \
                         network's own mask",
                        limit.distance2, limit.disagreeing, limit.wires
                    ));
                }
                let grid = (l == 0)
                    .then_some(())
                    .and(limit)
                    .map(|lim| limits::grid(&geometry, &lim));
                synapses.push(Layer {
                    index: l,
                    n_in: layers[l],
                    n_out: layers[l + 1],
                    free,
                    relaxed,
                    axis2,
                    epsilon: config.distance_epsilon as f32,
                    limit,
                    grid,
                    latency: latency
                        .as_ref()
                        .filter(|_| l == 0)
                        .map(|c| (c.least, c.steps)),
                });
            }
            if let (Some(g), true) = (synapses[0].grid, depth >= 3) {
                // Neighbours next to each other, so that the four neurons of a pass share
                // most of their cells. Only a hidden layer: the output's order is the classes'.
                let order = limits::cell_order(&coords[1], free, &g);
                for a in arrays.iter_mut() {
                    let block = match a.name.as_str() {
                        "coords1" => free,
                        "z1" | "bias1" | "mask1" => 1,
                        _ => continue,
                    };
                    let old = std::mem::take(&mut a.values);
                    a.values = order
                        .iter()
                        .flat_map(|&j| old[j * block..(j + 1) * block].iter().copied())
                        .collect();
                }
            }
            code += embedded::ROOT;
            code += &embedded::sender_type(free, relaxed, latency.is_some());
            if let Some(code_of) = &latency {
                code += &code_of.c();
            }
            code += &embedded::gather0(&synapses[0]);
            let first = match synapses[0].grid {
                Some(g) => {
                    if layers[1] >= 4 {
                        code += embedded::LEAST_MOST;
                    }
                    code += &embedded::current0_regional(&synapses[0], &g);
                    First::Regional { cells: g.nx * g.ny }
                }
                None => {
                    code += &embedded::current0(&synapses[0]);
                    First::Embedded
                }
            };
            for layer in &synapses[1..] {
                code += &embedded::push(layer, spiking);
            }
            first
        }
        None => {
            for c in 0..depth - 1 {
                let mut w = array(format!("weight{c}"), &format!("linear.{c}.weight"))?;
                if let Some(m) = &masks {
                    // A pruned dense weight is a stored zero.
                    for (v, k) in w.values.iter_mut().zip(&m[c]) {
                        if *k == 0.0 {
                            *v = 0.0;
                        }
                    }
                }
                arrays.push(w);
                arrays.push(array(
                    format!("bias{}", c + 1),
                    &format!("linear.{c}.bias"),
                )?);
            }
            if let Some(code_of) = &latency {
                code += &code_of.c();
            }
            code += &dense::gather0(layers[0], latency.as_ref().map(|c| c.least));
            code += &dense::current0(layers[0], latency.as_ref().map(|c| c.steps));
            for l in 1..depth - 1 {
                code += &dense::push(l, layers[l], layers[l + 1], spiking);
            }
            First::Dense
        }
    };
    code += &predict::predict(
        &layers,
        &first,
        config.activation,
        config.lif.as_ref(),
        config.kind.axis().is_some(),
        latency.is_some(),
    );
    let (header, source) = files(
        &config.describe(),
        &layers,
        spiking,
        &arrays,
        &code,
        precision,
    );
    Ok(CExport {
        header,
        source,
        example: EXAMPLE.to_string(),
        model_bytes: arrays.iter().map(|a| a.bytes(precision)).sum(),
        notes,
    })
}

fn host_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(crate::device::host_f64(&t.flatten_all()?)?
        .into_iter()
        .map(|x| x as f32)
        .collect())
}

/// Layer `l`'s inhibition mask `2σ(k·v) − 1 = tanh(k·v/2)` as the network uses it, times the
/// layer's weight scale `s`, stored as such (int8: the mask in steps of 1/127, as
/// [`crate::precision`] stores it, times `s`).
fn inhibition_mask(inhibition: &[f32], k: f32, s: f32, l: usize, precision: Precision) -> Array {
    let values = inhibition
        .iter()
        .map(|v| (k * v / 2.0).tanh())
        .map(|m| match precision {
            Precision::Int8 => (m * 127.0).round() / 127.0,
            _ => m,
        })
        .map(|m| m * s)
        .collect();
    Array {
        name: format!("mask{l}"),
        values,
        affine: (precision == Precision::Int8).then_some((f64::from(s) / 127.0, 0.0)),
    }
}

fn files(
    describe: &str,
    layers: &[usize],
    spiking: bool,
    arrays: &[Array],
    code: &str,
    precision: Precision,
) -> (String, String) {
    let (inputs, classes) = (layers[0], layers[layers.len() - 1]);
    let scores = if spiking {
        "the output spike counts (the summed\n   membrane for a membrane readout); \
         returns the predicted class: the most spikes, a tie to the larger\n   summed membrane"
    } else {
        "logits; returns the predicted class\n   (the first of the largest scores)"
    };
    let header = format!(
        "/* {describe}: generated by `neuropos export --format c` ({precision}). */\n\
         #ifndef NEUROPOS_MODEL_H\n#define NEUROPOS_MODEL_H\n\n\
         #define NEUROPOS_INPUTS {inputs}\n#define NEUROPOS_CLASSES {classes}\n\n\
         /* input: NEUROPOS_INPUTS floats in [0, 1]; scores: NEUROPOS_CLASSES floats, {scores}. */\n\
         int neuropos_predict(const float *input, float *scores);\n\n#endif\n"
    );
    let mut src = format!(
        "/* {describe}: generated by `neuropos export --format c` ({precision}).\n\
         \x20  Weights are made from the positions as they are used: nothing is allocated and no\n\
         \x20  state changes between calls. */\n#include <math.h>\n#include \"neuropos_model.h\"\n\n"
    );
    if precision == Precision::F16 {
        src += numbers::HALF;
    }
    for a in arrays {
        src += &a.definition(precision);
    }
    src += code;
    (header, src)
}

/// Reads an IDX image file (raw, not compressed) and prints one predicted class per line.
const EXAMPLE: &str = r#"/* Reads an IDX image file (magic 2051, unsigned bytes) and prints one predicted class per
   line: `./predict t10k-images-idx3-ubyte`. */
#include <stdio.h>
#include "neuropos_model.h"

static unsigned long be32(const unsigned char *b)
{
    return ((unsigned long)b[0] << 24) | ((unsigned long)b[1] << 16) | ((unsigned long)b[2] << 8) | b[3];
}

int main(int argc, char **argv)
{
    unsigned char head[16], pixels[NEUROPOS_INPUTS];
    float input[NEUROPOS_INPUTS], scores[NEUROPOS_CLASSES];
    unsigned long n, i;
    int k;
    FILE *f;
    if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: %s IMAGES-IDX-FILE\n", argv[0]);
        return 2;
    }
    if (fread(head, 1, 16, f) != 16 || be32(head) != 2051 || be32(head + 8) * be32(head + 12) != NEUROPOS_INPUTS) {
        fprintf(stderr, "%s: not an IDX image file of %d pixels per image\n", argv[1], NEUROPOS_INPUTS);
        return 1;
    }
    n = be32(head + 4);
    for (i = 0; i < n; i++) {
        if (fread(pixels, 1, NEUROPOS_INPUTS, f) != NEUROPOS_INPUTS) {
            fprintf(stderr, "%s: truncated at image %lu\n", argv[1], i);
            return 1;
        }
        for (k = 0; k < NEUROPOS_INPUTS; k++) input[k] = (float)pixels[k] / 255.0f;
        printf("%d\n", neuropos_predict(input, scores));
    }
    fclose(f);
    return 0;
}
"#;

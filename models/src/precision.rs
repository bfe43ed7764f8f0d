//! A checkpoint as it would run with its stored numbers rounded to a narrower type: f16, or
//! int8 with one scale and offset per tensor. What a deployment stores is the positions (not the
//! weights they make), so the question is how rounding the coordinates moves the weights
//! `1/‖p_i − p_j‖`, and with them the accuracy.
//!
//! int8 (`q = round((x − offset)/scale)` in −128…127, `x ≈ offset + scale·q`): the range is not
//! simply the tensor's min and max. For each tensor a few clipping ranges are tried — the
//! values between the c and 1 − c quantiles for c in 0, 10⁻⁴, 10⁻³, 5·10⁻³, 0.01, 0.02, 0.05 —
//! and the one kept is the one whose rounded values give the smallest error where it matters:
//! for coordinates (and z), the relative Frobenius error of the synthesised weight matrices of
//! the layer pairs the layer belongs to, its neighbours already rounded (layer by layer, input
//! first); for a dense weight matrix, its own squared error; for biases and gaps, their own.
//! The inhibition values are stored as their mask `m = tanh(k·v/2)` in steps of 1/127 (the mask
//! is what the network uses, and it lies in [−1, 1]).

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Loaded;
use crate::geometry::synthesize_weights;
use crate::{Error, Result};

/// The type a checkpoint's stored numbers are rounded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    F16,
    Int8,
}
crate::names::serde_named!(
    Precision,
    "precision",
    [Precision::F32, Precision::F16, Precision::Int8]
);

/// What rounding did to a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rounded {
    pub precision: Precision,
    /// Bytes of the stored numbers: the values, plus a scale and an offset (f32 each) per tensor
    /// at int8.
    pub bytes: usize,
    /// Per tensor at int8: its name, the clipping quantile chosen and the error it left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tensors: Vec<TensorChoice>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorChoice {
    pub name: String,
    pub clip: f64,
    pub scale: f64,
    pub offset: f64,
    /// The error minimised (relative, of the weights for coordinates).
    pub error: f64,
}

/// The clipping quantiles tried for each tensor.
const CLIPS: [f64; 7] = [0.0, 1e-4, 1e-3, 5e-3, 0.01, 0.02, 0.05];

/// Rounds every variable of `loaded` to `precision` in place (the network uses the rounded
/// values from now on) and says what was stored.
pub fn round_to(loaded: &mut Loaded, precision: Precision) -> Result<Rounded> {
    let vars: Vec<(String, Var)> = {
        let data = loaded
            .vars
            .data()
            .lock()
            .map_err(|_| Error::Config("variable map poisoned".into()))?;
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let count: usize = vars.iter().map(|(_, v)| v.elem_count()).sum();
    match precision {
        Precision::F32 => Ok(Rounded {
            precision,
            bytes: 4 * count,
            tensors: Vec::new(),
        }),
        Precision::F16 => {
            for (_, var) in &vars {
                let rounded = var
                    .as_tensor()
                    .to_dtype(DType::F16)?
                    .to_dtype(var.dtype())?;
                var.set(&rounded)?;
            }
            Ok(Rounded {
                precision,
                bytes: 2 * count,
                tensors: Vec::new(),
            })
        }
        Precision::Int8 => {
            let tensors = int8(loaded, &vars)?;
            Ok(Rounded {
                precision,
                bytes: count + 8 * vars.len(),
                tensors,
            })
        }
    }
}

/// A tensor's values on the host, in f64.
fn host(t: &Tensor) -> Result<Vec<f64>> {
    Ok(crate::device::host_f64(&t.flatten_all()?)?)
}

/// `values` rounded to int8 over the range between the `clip` and `1 − clip` quantiles:
/// the rounded values, the scale and the offset.
fn affine(values: &[f64], clip: f64) -> (Vec<f64>, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = if sorted.is_empty() {
        (0.0, 0.0)
    } else {
        (at(clip), at(1.0 - clip))
    };
    let scale = ((hi - lo) / 255.0).max(f64::MIN_POSITIVE);
    let offset = lo + 128.0 * scale;
    let rounded = values
        .iter()
        .map(|&x| offset + scale * ((x - offset) / scale).round().clamp(-128.0, 127.0))
        .collect();
    (rounded, scale, offset)
}

fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        num += (x - y) * (x - y);
        den += y * y;
    }
    num / den.max(f64::MIN_POSITIVE)
}

fn set(var: &Var, values: Vec<f64>) -> Result<()> {
    let t = Tensor::from_vec(values, var.shape(), &Device::Cpu)?
        .to_dtype(var.dtype())?
        .to_device(var.device())?;
    Ok(var.set(&t)?)
}

/// The int8 rounding of every variable, choosing each tensor's range as the module says.
fn int8(loaded: &Loaded, vars: &[(String, Var)]) -> Result<Vec<TensorChoice>> {
    let network = &loaded.network;
    let config = network.config().clone();
    let eps = config.distance_epsilon;
    // The weights as trained, between each pair of layers, for the coordinates' error.
    let reference: Vec<Vec<f64>> = match network.embedding() {
        Some(e) => {
            let n = e.neurons();
            (0..n.len() - 1)
                .map(|l| {
                    host(&synthesize_weights(
                        &n[l].positions()?,
                        &n[l + 1].positions()?,
                        eps,
                    )?)
                })
                .collect::<Result<_>>()?
        }
        None => Vec::new(),
    };
    let weight_error = |layer: usize| -> Result<f64> {
        let n = network.embedding().expect("embedded").neurons();
        let mut error = 0.0;
        for pair in [
            layer.checked_sub(1),
            Some(layer).filter(|&l| l + 1 < n.len()),
        ]
        .into_iter()
        .flatten()
        {
            let w = host(&synthesize_weights(
                &n[pair].positions()?,
                &n[pair + 1].positions()?,
                eps,
            )?)?;
            error += relative_error(&w, &reference[pair]);
        }
        Ok(error)
    };
    // Coordinates and z first, layer by layer from the input, so each choice sees its
    // neighbours' rounding; then everything else.
    let layer_of = |name: &str| -> Option<usize> {
        let rest = name.strip_prefix("layers.")?;
        let (l, field) = rest.split_once('.')?;
        matches!(field, "coords" | "z")
            .then(|| l.parse().ok())
            .flatten()
    };
    let mut ordered: Vec<&(String, Var)> = vars.iter().collect();
    ordered.sort_by_key(|(name, _)| (layer_of(name).is_none(), layer_of(name), name.clone()));
    let mut choices = Vec::with_capacity(vars.len());
    for (name, var) in ordered {
        let values = host(var.as_tensor())?;
        if name.ends_with(".inhibition") {
            // Stored as the mask in steps of 1/127, turned back into the raw value it needs.
            let k = config.steepness;
            let raw: Vec<f64> = values
                .iter()
                .map(|&v| {
                    let m = ((k * v / 2.0).tanh() * 127.0).round() / 127.0;
                    2.0 / k * m.clamp(-0.999_999, 0.999_999).atanh()
                })
                .collect();
            set(var, raw)?;
            let scale = 1.0 / 127.0;
            choices.push(TensorChoice {
                name: name.clone(),
                clip: 0.0,
                scale,
                offset: 0.0,
                error: 0.0,
            });
            continue;
        }
        let mut best: Option<(f64, f64, Vec<f64>, f64, f64)> = None;
        for clip in CLIPS {
            let (rounded, scale, offset) = affine(&values, clip);
            let error = match layer_of(name) {
                Some(layer) if !reference.is_empty() => {
                    set(var, rounded.clone())?;
                    weight_error(layer)?
                }
                _ => relative_error(&rounded, &values),
            };
            if best.as_ref().is_none_or(|b| error < b.0) {
                best = Some((error, clip, rounded, scale, offset));
            }
        }
        let (error, clip, rounded, scale, offset) = best.expect("at least one clip");
        set(var, rounded)?;
        choices.push(TensorChoice {
            name: name.clone(),
            clip,
            scale,
            offset,
            error,
        });
    }
    Ok(choices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_keeps_each_value_within_half_a_step_of_its_range() {
        let values: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 1000) as f64 / 100.0 - 3.0)
            .collect();
        let (rounded, scale, offset) = affine(&values, 0.0);
        assert!((scale - 9.99 / 255.0).abs() < 1e-12, "{scale}");
        for (x, r) in values.iter().zip(&rounded) {
            assert!((x - r).abs() <= scale / 2.0 + 1e-12, "{x} → {r}");
            let q = (r - offset) / scale;
            assert!((q - q.round()).abs() < 1e-9 && (-128.0..=127.0).contains(&q.round()));
        }
        // A clipped range rounds the outliers to its ends and the rest more finely.
        let mut spiky = values.clone();
        spiky.push(1000.0);
        let (wide, wide_scale, _) = affine(&spiky, 0.0);
        let (narrow, narrow_scale, _) = affine(&spiky, 0.01);
        assert!(narrow_scale < wide_scale / 50.0);
        let body = |r: &[f64]| relative_error(&r[..1000], &values);
        assert!(body(&narrow) < body(&wide));
    }
}

//! Positions → weights: the readable math of the paper, in plain Candle ops.
//!
//! A neuron's position is its `d − 1` free coordinates followed by its place on the layer
//! axis ([`positions`]). The weight between a presynaptic neuron `i` and a postsynaptic neuron
//! `j` is `W[i, j] = 1 / ‖p_i − p_j‖` ([`synthesize_weights`]), and every presynaptic neuron's
//! learned inhibition value `v` becomes a sign-like mask `m = 2·σ(k·v) − 1`
//! ([`inhibition_mask`]). Everything that needs an embedded weight (training, pruning,
//! evaluation, export, plots) goes through here, so nothing can disagree about what a
//! position means.
//!
//! [`synthesize_weights_reference`] is the reference that the fused CPU kernel (in the
//! private `kernels` module) is tested against; [`synthesize_weights`] picks the kernel on the
//! CPU and these plain ops everywhere else.

use candle_core::{Result, Tensor};

use crate::kernels::dispatch;
use crate::kernels::inverse_distance::{check_positions, synthesize_weights_fused};

/// Where a layer's neurons sit on the layer axis.
#[derive(Debug, Clone)]
pub enum LayerAxis {
    /// Every neuron at this fixed z (the paper's fixed mode: z = l).
    Fixed(f64),
    /// Layer `layer` at the sum of the first `layer` learned gaps (`gaps` is `[L − 1]`).
    Gaps { gaps: Tensor, layer: usize },
    /// A learned z per neuron, `[n]`.
    PerNeuron(Tensor),
}

/// Full positions `[n, d]`: the free coordinates `[n, d − 1]`, then z.
pub fn positions(coords: &Tensor, axis: &LayerAxis) -> Result<Tensor> {
    let n = coords.dim(0)?;
    let z = match axis {
        // Built in the coordinates' own dtype: an f64 constant tensor cannot be created on
        // Metal, and on CUDA it would be an extra allocation and cast per layer and step.
        LayerAxis::Fixed(z) => {
            Tensor::ones((n, 1), coords.dtype(), coords.device())?.affine(*z, 0.0)?
        }
        LayerAxis::Gaps { gaps, layer } => {
            if *layer == 0 {
                Tensor::zeros((n, 1), coords.dtype(), coords.device())?
            } else {
                gaps.narrow(0, 0, *layer)?
                    .sum_keepdim(0)?
                    .reshape((1, 1))?
                    .broadcast_as((n, 1))?
            }
        }
        LayerAxis::PerNeuron(z) => z.reshape((n, 1))?,
    };
    Tensor::cat(&[coords, &z], 1)
}

/// Synthesises the weight matrix between two layers from full positions `pre` `[n_in, d]` and
/// `post` `[n_out, d]`:
///
/// `W[i, j] = 1 / sqrt(max(‖p_j − p_i‖², eps))`, laid out `[n_in, n_out]` (pre × post), so the
/// forward pass is a plain `x · W` with a contiguous right-hand side. The floor `eps` keeps
/// coincident neurons finite (weight `1/sqrt(eps)`); the result is differentiable in every
/// coordinate, z and gap.
pub fn synthesize_weights(pre: &Tensor, post: &Tensor, eps: f64) -> Result<Tensor> {
    dispatch(
        pre,
        || synthesize_weights_fused(pre, post, eps),
        || synthesize_weights_reference(pre, post, eps),
    )
}

/// The same as [`synthesize_weights`] in plain Candle ops, for every backend.
pub fn synthesize_weights_reference(pre: &Tensor, post: &Tensor, eps: f64) -> Result<Tensor> {
    let (_, d) = check_positions(pre, post)?;
    // One coordinate at a time keeps the working set at one [n_in, n_out] matrix whatever d
    // is; a broadcast over a [n_in, n_out, d] tensor would need d times the memory.
    let mut sum: Option<Tensor> = None;
    for c in 0..d {
        let a = pre.narrow(1, c, 1)?; // [n_in, 1]
        let b = post.narrow(1, c, 1)?.t()?; // [1, n_out]
        let sq = a.broadcast_sub(&b)?.sqr()?;
        sum = Some(match sum {
            None => sq,
            Some(s) => (s + sq)?,
        });
    }
    let sum = sum.ok_or_else(|| candle_core::Error::Msg("positions need a coordinate".into()))?;
    sum.maximum(eps)?.sqrt()?.recip()
}

/// The sign-like inhibition mask `m = 2·σ(k·v) − 1`, computed as the identical `tanh(k·v/2)`
/// (one op, and exact where the sigmoid form would cancel near 0).
pub fn inhibition_mask(raw: &Tensor, steepness: f64) -> Result<Tensor> {
    raw.affine(steepness / 2.0, 0.0)?.tanh()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn t2(rows: &[&[f64]]) -> Tensor {
        let n = rows.len();
        let d = rows[0].len();
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_vec(flat, (n, d), &Device::Cpu).unwrap()
    }

    fn both(pre: &Tensor, post: &Tensor, eps: f64) -> [Vec<Vec<f64>>; 2] {
        [
            synthesize_weights_fused(pre, post, eps).unwrap(),
            synthesize_weights_reference(pre, post, eps).unwrap(),
        ]
        .map(|w| w.to_dtype(DType::F64).unwrap().to_vec2::<f64>().unwrap())
    }

    #[test]
    fn weights_are_inverse_distances_for_hand_placed_neurons() {
        let pre = positions(
            &t2(&[&[0.0, 0.0], &[3.0, 0.0], &[1.0, 1.0]]),
            &LayerAxis::Fixed(0.0),
        )
        .unwrap();
        let post = positions(&t2(&[&[0.0, 4.0], &[1.0, 1.0]]), &LayerAxis::Fixed(1.0)).unwrap();
        // pre (0,0) to post (0,4): sqrt(16 + 1); pre (3,0) to post (1,1): sqrt(4 + 1 + 1).
        let expect = [
            [1.0 / 17f64.sqrt(), 1.0 / 3f64.sqrt()],
            [1.0 / 26f64.sqrt(), 1.0 / 6f64.sqrt()],
            [1.0 / 11f64.sqrt(), 1.0],
        ];
        for w in both(&pre, &post, 1e-6) {
            for i in 0..3 {
                for j in 0..2 {
                    assert!(
                        (w[i][j] - expect[i][j]).abs() < 1e-12,
                        "W[{i},{j}] = {}",
                        w[i][j]
                    );
                }
            }
        }
    }

    #[test]
    fn learned_gaps_and_per_neuron_z_enter_the_distance() {
        let gaps = Tensor::new(&[2.0f64, 0.5], &Device::Cpu).unwrap();
        let coords = t2(&[&[0.0], &[2.0]]);
        let layer = |l| {
            positions(
                &coords,
                &LayerAxis::Gaps {
                    gaps: gaps.clone(),
                    layer: l,
                },
            )
            .unwrap()
        };
        let z: Vec<Vec<f64>> = (0..3)
            .map(|l| {
                layer(l)
                    .narrow(1, 1, 1)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap()
            })
            .collect();
        assert_eq!(z, vec![vec![0.0, 0.0], vec![2.0, 2.0], vec![2.5, 2.5]]);
        for w in both(&layer(0), &layer(1), 1e-6) {
            assert!((w[0][0] - 0.5).abs() < 1e-12);
            assert!((w[1][0] - 1.0 / 8f64.sqrt()).abs() < 1e-12);
        }

        let pre = positions(
            &coords,
            &LayerAxis::PerNeuron(Tensor::new(&[0.25f64, 0.5], &Device::Cpu).unwrap()),
        )
        .unwrap();
        let post = positions(
            &t2(&[&[0.0]]),
            &LayerAxis::PerNeuron(Tensor::new(&[1.75f64], &Device::Cpu).unwrap()),
        )
        .unwrap();
        for w in both(&pre, &post, 1e-6) {
            assert!((w[0][0] - 1.0 / 1.5).abs() < 1e-12);
            assert!((w[1][0] - 1.0 / (4.0f64 + 1.25 * 1.25).sqrt()).abs() < 1e-12);
        }
    }

    #[test]
    fn coincident_neurons_stay_finite_with_finite_gradients() {
        let eps = 1e-6;
        for fused in [true, false] {
            let pre = Var::from_tensor(&t2(&[&[0.5, -0.5, 1.0]])).unwrap();
            let post = Var::from_tensor(&t2(&[&[0.5, -0.5, 1.0]])).unwrap();
            let synth = if fused {
                synthesize_weights_fused
            } else {
                synthesize_weights_reference
            };
            let w = synth(pre.as_tensor(), post.as_tensor(), eps).unwrap();
            let v = w.to_vec2::<f64>().unwrap()[0][0];
            assert!((v - 1.0 / eps.sqrt()).abs() < 1e-6, "weight {v}");
            let grads = w.sum_all().unwrap().backward().unwrap();
            for var in [pre.as_tensor(), post.as_tensor()] {
                let g = grads
                    .get(var)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap();
                assert!(g.iter().all(|x| x.is_finite()), "gradient {g:?}");
            }
            // f32 too: the default training dtype.
            let p32 = pre.to_dtype(DType::F32).unwrap();
            let w32 = synth(&p32, &p32, eps).unwrap();
            let v = w32.to_vec2::<f32>().unwrap()[0][0];
            assert!(v.is_finite() && (v - 1000.0).abs() < 1e-2, "f32 weight {v}");
        }
    }

    #[test]
    fn mask_is_sign_like_and_matches_the_sigmoid_form() {
        let raw = Tensor::new(&[-1.0f64, -0.1, 0.0, 0.1, 1.0], &Device::Cpu).unwrap();
        let k = 10.0;
        let m = inhibition_mask(&raw, k).unwrap().to_vec1::<f64>().unwrap();
        for (v, mv) in [-1.0f64, -0.1, 0.0, 0.1, 1.0].iter().zip(&m) {
            let sigmoid_form = 2.0 / (1.0 + (-k * v).exp()) - 1.0;
            assert!((mv - sigmoid_form).abs() < 1e-12);
            if *v != 0.0 {
                assert_eq!(mv.signum(), v.signum(), "sign of m({v}) = {mv}");
            }
        }
        assert!(m[0] < -0.9999 && m[4] > 0.9999, "steep: {m:?}");
        assert_eq!(m[2], 0.0);
    }
}

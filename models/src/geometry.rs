//! Positions → weights: the only place the distance math lives.
//!
//! Every consumer that needs an embedded weight (training forward pass, pruning, evaluation,
//! export, plots) goes through [`synthesize_weights`] via the synapses, so they can never
//! disagree about what a position means.

use candle_core::{Result, Tensor};

/// How far apart two consecutive layers are along the layer axis.
#[derive(Debug, Clone)]
pub enum LayerSeparation {
    /// A fixed gap (1.0 in the paper's fixed mode).
    Constant(f64),
    /// One learned gap shared by every pair of neurons, shape `[1]`.
    Learned(Tensor),
    /// A learned z per neuron: `pre` is `[n_in]`, `post` is `[n_out]`.
    PerNeuron { pre: Tensor, post: Tensor },
}

/// Synthesises the weight matrix between two layers, laid out `[n_in, n_out]` (pre × post), so
/// the forward pass is a plain `x · W` with a contiguous right-hand side and the gradient
/// arrives in the same layout as the synthesis (no transposed element-wise passes).
///
/// `W[i, j] = 1 / sqrt(max(‖x_j − x_i‖² + (z_j − z_i)², eps))` where `pre` is `[n_in, d−1]` and
/// `post` is `[n_out, d−1]`. The floor `eps` keeps coincident neurons finite (weight
/// `1/sqrt(eps)`), and the result is differentiable in every coordinate, z and gap.
pub fn synthesize_weights(
    pre: &Tensor,
    post: &Tensor,
    separation: &LayerSeparation,
    eps: f64,
) -> Result<Tensor> {
    squared_distances(pre, post, separation)?
        .maximum(eps)?
        .sqrt()?
        .recip()
}

/// `‖p_j − p_i‖²` for every (pre i, post j) pair, `[n_in, n_out]`.
pub fn squared_distances(
    pre: &Tensor,
    post: &Tensor,
    separation: &LayerSeparation,
) -> Result<Tensor> {
    let (n_in, free_in) = pre.dims2()?;
    let (n_out, free_out) = post.dims2()?;
    if free_in != free_out {
        candle_core::bail!(
            "pre and post layers have different numbers of free coordinates ({free_in} vs {free_out})"
        );
    }
    // One coordinate at a time keeps the working set at one [n_in, n_out] matrix whatever d
    // is; a broadcast over a [n_in, n_out, d−1] tensor would need d−1 times the memory.
    let mut sum: Option<Tensor> = None;
    for c in 0..free_in {
        let a = pre.narrow(1, c, 1)?; // [n_in, 1]
        let b = post.narrow(1, c, 1)?.t()?; // [1, n_out]
        let sq = a.broadcast_sub(&b)?.sqr()?;
        sum = Some(match sum {
            None => sq,
            Some(s) => (s + sq)?,
        });
    }
    let axial = match separation {
        LayerSeparation::Constant(gap) => return add_scalar(sum, gap * gap, n_in, n_out, pre),
        LayerSeparation::Learned(gap) => gap.sqr()?.reshape((1, 1))?,
        LayerSeparation::PerNeuron { pre: zi, post: zj } => {
            let zi = zi.reshape((n_in, 1))?;
            let zj = zj.reshape((1, n_out))?;
            zi.broadcast_sub(&zj)?.sqr()?
        }
    };
    match sum {
        Some(s) => s.broadcast_add(&axial),
        None => axial.broadcast_as((n_in, n_out))?.contiguous(),
    }
}

fn add_scalar(
    sum: Option<Tensor>,
    value: f64,
    n_in: usize,
    n_out: usize,
    like: &Tensor,
) -> Result<Tensor> {
    match sum {
        Some(s) => s.affine(1.0, value),
        None => Tensor::full(value, (n_in, n_out), like.device())?.to_dtype(like.dtype()),
    }
}

/// The sign-like inhibition mask `m = 2·σ(k·v) − 1`, computed as the identical `tanh(k·v/2)`
/// (one op, and exact where the sigmoid form would cancel near 0).
pub fn inhibition_mask(raw: &Tensor, steepness: f64) -> Result<Tensor> {
    raw.affine(steepness / 2.0, 0.0)?.tanh()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t2(rows: &[&[f64]]) -> Tensor {
        let n = rows.len();
        let d = rows[0].len();
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_vec(flat, (n, d), &Device::Cpu).unwrap()
    }

    #[test]
    fn weights_are_inverse_distances_for_hand_placed_neurons() {
        let pre = t2(&[&[0.0, 0.0], &[3.0, 0.0], &[1.0, 1.0]]);
        let post = t2(&[&[0.0, 4.0], &[1.0, 1.0]]);
        let w = synthesize_weights(&pre, &post, &LayerSeparation::Constant(1.0), 1e-6)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        // pre (0,0) to post (0,4): sqrt(16 + 1); pre (3,0) to post (1,1): sqrt(4 + 1 + 1).
        let expect = [
            [1.0 / 17f64.sqrt(), 1.0 / 3f64.sqrt()],
            [1.0 / 26f64.sqrt(), 1.0 / 6f64.sqrt()],
            [1.0 / 11f64.sqrt(), 1.0],
        ];
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

    #[test]
    fn learned_gap_and_per_neuron_z_enter_the_distance() {
        let pre = t2(&[&[0.0], &[2.0]]);
        let post = t2(&[&[0.0]]);
        let gap = Tensor::new(&[2.0f64], &Device::Cpu).unwrap();
        let w = synthesize_weights(&pre, &post, &LayerSeparation::Learned(gap), 1e-6)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        assert!((w[0][0] - 0.5).abs() < 1e-12);
        assert!((w[1][0] - 1.0 / 8f64.sqrt()).abs() < 1e-12);

        let zi = Tensor::new(&[0.25f64, 0.5], &Device::Cpu).unwrap();
        let zj = Tensor::new(&[1.75f64], &Device::Cpu).unwrap();
        let sep = LayerSeparation::PerNeuron { pre: zi, post: zj };
        let w = synthesize_weights(&pre, &post, &sep, 1e-6)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        assert!((w[0][0] - 1.0 / 1.5).abs() < 1e-12);
        assert!((w[1][0] - 1.0 / (4.0f64 + 1.25 * 1.25).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn coincident_neurons_stay_finite_with_finite_gradients() {
        let pre = Var::from_tensor(&t2(&[&[0.5, -0.5]])).unwrap();
        let post = Var::from_tensor(&t2(&[&[0.5, -0.5]])).unwrap();
        let z = Var::new(&[1.0f64], &Device::Cpu).unwrap();
        let sep = LayerSeparation::PerNeuron {
            pre: z.as_tensor().clone(),
            post: z.as_tensor().clone(),
        };
        let eps = 1e-6;
        let w = synthesize_weights(&pre, &post, &sep, eps).unwrap();
        let v = w.to_vec2::<f64>().unwrap()[0][0];
        assert!((v - 1.0 / eps.sqrt()).abs() < 1e-6, "weight {v}");
        let grads = w.sum_all().unwrap().backward().unwrap();
        for var in [pre.as_tensor(), post.as_tensor(), z.as_tensor()] {
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
        let w32 = synthesize_weights(
            &pre.to_dtype(candle_core::DType::F32).unwrap(),
            &post.to_dtype(candle_core::DType::F32).unwrap(),
            &LayerSeparation::Constant(0.0),
            eps,
        )
        .unwrap();
        let v = w32.to_vec2::<f32>().unwrap()[0][0];
        assert!(v.is_finite() && (v - 1000.0).abs() < 1e-2, "f32 weight {v}");
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

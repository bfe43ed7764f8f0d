//! Autograd gradients of the embedded network match central finite differences (f64).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use neuropos_models::config::WeightScale;
use neuropos_models::{Config, ModelKind, Network};

fn loss(net: &Network, x: &Tensor, probe: &Tensor) -> f64 {
    net.forward(x)
        .unwrap()
        .mul(probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

fn check(kind: ModelKind, dim: usize) {
    check_with(kind, dim, WeightScale::Fixed)
}

fn check_with(kind: ModelKind, dim: usize, scale: WeightScale) {
    let mut cfg = Config::new(kind, 5, &[4, 3], 2, dim);
    cfg.weight_scale = scale;
    // Wide enough to keep every pair well apart from the distance floor, and a moderate mask.
    cfg.init.coord_half_width = 1.5;
    cfg.init.inhibition_half_width = 0.2;
    // Tanh keeps the loss smooth, so finite differences never straddle a ReLU kink.
    cfg.activation = neuropos_models::Activation::Tanh;
    let vars = VarMap::new();
    let dev = Device::Cpu;
    let net = Network::seeded(&cfg, &vars, 7, DType::F64, &dev).unwrap();
    // Learned scales away from 1, each its own, so a gradient that ignored or swapped them fails.
    for (l, s) in [(0, 1.4f64), (1, 0.6), (2, 1.1)] {
        if let Some(var) = vars
            .data()
            .lock()
            .unwrap()
            .get(&format!("layers.{l}.scale"))
        {
            var.set(&Tensor::new(&[s], &dev).unwrap()).unwrap();
        }
    }
    let x = Tensor::rand(0f64, 1.0, (3, 5), &dev).unwrap();
    let probe = Tensor::randn(0f64, 1.0, (3, 2), &dev).unwrap();

    let out = net
        .forward(&x)
        .unwrap()
        .mul(&probe)
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = out.backward().unwrap();

    let data = vars.data().lock().unwrap().clone();
    let mut names: Vec<_> = data.keys().cloned().collect();
    names.sort();
    let mut checked = 0;
    for name in names {
        let var = &data[&name];
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{kind}: no gradient for {name}"))
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let h = 1e-6;
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] = base[i] + h;
            var.set(&Tensor::from_vec(v.clone(), var.shape(), &dev).unwrap())
                .unwrap();
            let up = loss(&net, &x, &probe);
            v[i] = base[i] - h;
            var.set(&Tensor::from_vec(v, var.shape(), &dev).unwrap())
                .unwrap();
            let down = loss(&net, &x, &probe);
            var.set(&Tensor::from_vec(base.clone(), var.shape(), &dev).unwrap())
                .unwrap();
            let fd = (up - down) / (2.0 * h);
            let tol = 1e-6 * (1.0 + fd.abs());
            assert!(
                (fd - g[i]).abs() < tol,
                "{kind} d={dim}: d loss / d {name}[{i}]: autograd {} vs finite difference {fd}",
                g[i]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, cfg.parameter_count());
}

#[test]
fn fixed_axis_gradients_match_finite_differences() {
    check(ModelKind::Mlp3d, 3);
}

#[test]
fn learned_gap_gradients_match_finite_differences() {
    check(ModelKind::Mlp3dGaps, 3);
}

#[test]
fn relaxed_z_gradients_match_finite_differences() {
    check(ModelKind::Mlp3dRelaxed, 3);
}

#[test]
fn higher_dimensional_gradients_match_finite_differences() {
    check(ModelKind::Mlp3dGaps, 5);
}

#[test]
fn learned_weight_scale_gradients_match_finite_differences() {
    for kind in [
        ModelKind::Mlp3d,
        ModelKind::Mlp3dGaps,
        ModelKind::Mlp3dRelaxed,
    ] {
        check_with(kind, 3, WeightScale::Learned);
    }
}

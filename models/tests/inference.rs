//! The O(n)-memory inference path (event-driven, weights synthesised tile by tile) gives the
//! dense path's outputs, and its weight working set is what the README promises.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use neuropos_models::layers::embedded::{CurrentOptions, ProductPath};
use neuropos_models::{Config, ModelKind, Network};

/// Pixel-like input, fixed (so spike counts compare the same way every run): values in
/// (0, 1] at about 20 % of the pixels, zeros elsewhere.
fn sparse_images(n: usize, pixels: usize) -> Tensor {
    let values: Vec<f32> = (0..n * pixels)
        .map(|i| {
            let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            if h.is_multiple_of(5) {
                ((h >> 3) % 255 + 1) as f32 / 255.0
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(values, (n, pixels), &Device::Cpu).unwrap()
}

fn outputs(net: &mut Network, x: &Tensor, path: ProductPath, tile: usize) -> Vec<f32> {
    net.set_current_options(CurrentOptions { path, tile });
    net.forward(x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn tiled_inference_matches_the_dense_path() {
    for kind in [ModelKind::Mlp3d, ModelKind::Mlp3dRelaxed, ModelKind::Snn3d] {
        let cfg = Config::new(kind, 196, &[300], 10, 3);
        let vars = VarMap::new();
        let mut net = Network::seeded(&cfg, &vars, 3, DType::F32, &Device::Cpu).unwrap();
        let x = sparse_images(40, 196);
        let dense = outputs(&mut net, &x, ProductPath::Dense, 256);
        assert!(dense.iter().any(|&v| v != 0.0), "{kind}: all outputs zero");
        let scale = dense.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for tile in [7, 32, 300] {
            let tiled = outputs(&mut net, &x, ProductPath::Sparse, tile);
            for (i, (a, b)) in tiled.iter().zip(&dense).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * scale,
                    "{kind} tile {tile}: output {i}: tiled {a} vs dense {b}"
                );
            }
        }
    }
}

#[test]
fn paper_network_weight_working_set_fits_256_kib_with_tiles_of_32() {
    let cfg = Config::new(ModelKind::Mlp3d, 784, &[2048], 10, 3);
    let vars = VarMap::new();
    let net = Network::seeded(&cfg, &vars, 0, DType::F32, &Device::Cpu).unwrap();
    let tiled = CurrentOptions {
        path: ProductPath::Sparse,
        tile: 32,
    };
    // Two tasks at a time, each with 784 × 32 f32 weights; the 2048 × 10 output layer is
    // one 80 KiB tile.
    assert_eq!(
        net.weight_working_set_bytes(tiled, 2),
        Some(2 * 784 * 32 * 4)
    );
    assert!(net.weight_working_set_bytes(tiled, 2).unwrap() <= 256 * 1024);
    let dense = CurrentOptions {
        path: ProductPath::Dense,
        tile: 32,
    };
    assert_eq!(
        net.weight_working_set_bytes(dense, 2),
        Some((784 * 2048 + 2048 * 10) * 4)
    );
}

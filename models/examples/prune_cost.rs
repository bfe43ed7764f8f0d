//! Where `--prune-during` spends its time: `Network::pruning_masks` (weights synthesised, the
//! selection, the masks, transposed to Linear's layout), the selection alone on given weights, and a
//! whole mlp3d training step with and without pruning in every forward pass.
//! `cargo run --release -p neuropos-models --example prune_cost`; one JSON line per part.
use candle_core::{DType, Device};
use candle_nn::{Optimizer, VarMap};
use neuropos_models::prune::{smallest_removed, PruneScope, Pruning};
use neuropos_models::{data, training::adam, Config, ModelKind, Network};
use std::time::Instant;

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let mnist = data::load_dir(&data::default_dir(), true)?;
    for pruning in [None, Some(80.0)] {
        let mut config = Config::mnist(ModelKind::Mlp3d, &[2048], 3);
        config.pruning = pruning.map(|percent| Pruning {
            percent,
            scope: PruneScope::Layer,
        });
        let vars = VarMap::new();
        let network = Network::seeded(&config, &vars, 0, DType::F32, &Device::Cpu)?;
        let mut optimizer = adam(&vars, 0.005)?;
        let (mut steps, mut ranking, mut selection) = (Vec::new(), Vec::new(), Vec::new());
        for step in 0..22 {
            let x = mnist.train_images.narrow(0, (step % 100) * 600, 600)?;
            let y = mnist.train_labels.narrow(0, (step % 100) * 600, 600)?;
            let t0 = Instant::now();
            optimizer.backward_step(&network.loss(&x, &y)?)?;
            let t1 = Instant::now();
            let masks = network.pruning_masks()?;
            let t2 = Instant::now();
            let weights = network.weights()?;
            let t3 = Instant::now();
            let _ = smallest_removed(&weights, 80.0, PruneScope::Layer)?;
            let t4 = Instant::now();
            if step >= 2 {
                steps.push((t1 - t0).as_secs_f64() * 1e3);
                ranking.push((t2 - t1).as_secs_f64() * 1e3);
                selection.push((t4 - t3).as_secs_f64() * 1e3);
            }
            std::hint::black_box(masks);
        }
        let line = serde_json::json!({
            "prune_during": pruning,
            "step_ms": median(steps),
            "pruning_masks_in_linear_layout_ms": median(ranking),
            "selection_and_masks_ms": median(selection),
        });
        println!("{line}");
    }
    Ok(())
}

//! Times the fused LIF projection alone — forward, and forward + backward — on the paper's
//! hidden layer (batch 600, 2048 neurons, T = 25, 10 outputs), best of 6 rounds of 5 calls:
//! `cargo run --release -p neuropos-models --example lif_projection_timing`
//! (`RAYON_NUM_THREADS=1` for one thread).
use candle_core::{DType, Device, Tensor, Var};
use neuropos_models::layers::lif::lif_project;
use neuropos_models::layers::lif::LifConfig;
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let cfg = LifConfig::default();
    let currents = Var::from_tensor(&Tensor::randn(0.3f32, 0.6, (600, 2048), &dev)?)?;
    let weights = Var::from_tensor(&Tensor::randn(0f32, 0.1, (2048, 10), &dev)?)?;
    let bias = Var::from_tensor(&Tensor::zeros(10, DType::F32, &dev)?)?;
    let reps = 5;
    let (mut best_forward, mut best_both) = (f64::MAX, f64::MAX);
    for _round in 0..6 {
        let start = Instant::now();
        for _ in 0..reps {
            lif_project(
                currents.as_tensor(),
                weights.as_tensor(),
                bias.as_tensor(),
                &cfg,
            )?
            .sum_all()?;
        }
        best_forward = best_forward.min(start.elapsed().as_secs_f64() * 1e3 / reps as f64);
        let start = Instant::now();
        for _ in 0..reps {
            let out = lif_project(
                currents.as_tensor(),
                weights.as_tensor(),
                bias.as_tensor(),
                &cfg,
            )?;
            out.sqr()?.sum_all()?.backward()?;
        }
        best_both = best_both.min(start.elapsed().as_secs_f64() * 1e3 / reps as f64);
    }
    println!("best of 6: forward {best_forward:.1} ms, forward + backward {best_both:.1} ms");
    Ok(())
}

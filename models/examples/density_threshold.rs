//! Times the embedded synapses' current (784 → 2048, batch 600, f32) forward and backward on
//! the event-driven and the dense path at a range of input densities, to place
//! `SPARSE_DENSITY_THRESHOLD`: one JSON line per density, forward + backward, median of 7.
//!
//! `cargo run --release -p neuropos-models --example density_threshold [threads]`

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use neuropos_models::layers::embedded::{
    embedded_current, CurrentInputs, CurrentOptions, ProductPath,
};

fn main() -> anyhow::Result<()> {
    if let Some(threads) = std::env::args().nth(1) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.parse()?)
            .build_global()?;
    }
    let dev = Device::Cpu;
    let (batch, n_in, n_out, d) = (600, 784, 2048, 3);
    let pre = Var::from_tensor(&Tensor::rand(-10f32, 10.0, (n_in, d), &dev)?)?;
    let post = Var::from_tensor(&Tensor::rand(-10f32, 10.0, (n_out, d), &dev)?)?;
    let mask = Var::from_tensor(&Tensor::rand(-1f32, 1.0, n_in, &dev)?)?;
    let bias = Var::from_tensor(&Tensor::zeros(n_out, DType::F32, &dev)?)?;
    let layer = CurrentInputs {
        pre: pre.as_tensor(),
        post: post.as_tensor(),
        mask: mask.as_tensor(),
        bias: bias.as_tensor(),
        keep: None,
        relu: true,
        eps: 1e-6,
    };
    for density in [0.05, 0.1, 0.15, 0.19, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 1.0] {
        let values = Tensor::rand(0f32, 1.0, (batch, n_in), &dev)?;
        let keep = Tensor::rand(0f32, 1.0, (batch, n_in), &dev)?
            .lt(density)?
            .to_dtype(DType::F32)?;
        let x = values.mul(&keep)?;
        let mut times = Vec::new();
        for path in [ProductPath::Sparse, ProductPath::Dense] {
            let mut runs = Vec::new();
            for _ in 0..7 {
                let start = Instant::now();
                let options = CurrentOptions {
                    path,
                    ..CurrentOptions::default()
                };
                let y = embedded_current(&x, &layer, options)?;
                let grads = y.sum_all()?.backward()?;
                std::hint::black_box(grads);
                runs.push(start.elapsed().as_secs_f64() * 1e3);
            }
            runs.sort_by(f64::total_cmp);
            times.push(runs[runs.len() / 2]);
        }
        let line = serde_json::json!({
            "density": density,
            "event_driven_ms": times[0],
            "dense_ms": times[1],
            "runs": 7,
        });
        println!("{line}");
    }
    Ok(())
}

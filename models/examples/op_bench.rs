//! A dense layer's forward and backward time (ms, median of 15) on a batch of 600, for the
//! two shapes of the 784-2048-10 baseline: the pixels into 2048 neurons (event-driven on the
//! CPU) and 2048 ReLU activations into 10 outputs (a GEMM, see `sparse_linear::MIN_OUTPUTS`).
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use neuropos_models::data;
use neuropos_models::layers::dense::{Dense, DenseConfig};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let m = data::load_dir(&data::default_dir(), true)?;
    let pixels = m.train_images.narrow(0, 0, 600)?;
    let hidden = Tensor::randn(0f32, 1.0, (600, 2048), &Device::Cpu)?.relu()?;
    for (n_in, n_out, x) in [(784usize, 2048usize, &pixels), (2048, 10, &hidden)] {
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let dense = Dense::new(&DenseConfig { n_in, n_out }, vb)?;
        let (mut forward, mut backward) = (vec![], vec![]);
        for _ in 0..15 {
            let t = Instant::now();
            let y = dense.forward(x)?.sum_all()?;
            y.to_scalar::<f32>()?;
            forward.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            y.backward()?;
            backward.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "{n_in} -> {n_out}: forward {:.2} ms, backward {:.2} ms",
            median(forward),
            median(backward)
        );
    }
    Ok(())
}

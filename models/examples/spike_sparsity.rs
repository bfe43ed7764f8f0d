//! How sparse the hidden spikes of `snn3d` are while it trains from initialisation (seed 0,
//! the paper's settings): the numbers behind the decision not to skip silent neurons in the
//! spiking layer's kernels. Every few hundred steps, on the first 600 training images: the
//! spike rate, the share of (sample, neuron) pairs that never fire in T steps, of (sample,
//! 16-neuron chunk) pairs that never fire, of chunk-steps without a spike, and of neurons
//! silent for every sample.
//!
//! `cargo run --release -p neuropos-models --example spike_sparsity` (about a minute).
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Optimizer, VarMap};
use neuropos_models::{data, layers::lif::lif, training::adam, Config, ModelKind, Network};

/// Neurons per chunk of the spiking layer's kernels.
const CHUNK: usize = 16;

fn report(step: usize, network: &Network, x: &Tensor) -> anyhow::Result<()> {
    let cfg = network.config().lif.expect("an SNN");
    let current = network.synapses()[0].forward(x)?;
    let spikes: Vec<Vec<Vec<f32>>> = lif(&current, &cfg, false)?.spikes.to_vec3()?;
    let (steps, batch, n) = (spikes.len(), spikes[0].len(), spikes[0][0].len());
    let fired = |t: usize, b: usize, j: usize| spikes[t][b][j] != 0.0;
    let (mut total, mut silent_pairs, mut silent_chunks, mut silent_chunk_steps) = (0, 0, 0, 0);
    for b in 0..batch {
        for chunk in (0..n).step_by(CHUNK) {
            let lanes = chunk..(chunk + CHUNK).min(n);
            let mut chunk_fired = false;
            for j in lanes.clone() {
                let count = (0..steps).filter(|&t| fired(t, b, j)).count();
                total += count;
                silent_pairs += usize::from(count == 0);
                chunk_fired |= count > 0;
            }
            silent_chunks += usize::from(!chunk_fired);
            silent_chunk_steps += (0..steps)
                .filter(|&t| lanes.clone().all(|j| !fired(t, b, j)))
                .count();
        }
    }
    let dead = (0..n)
        .filter(|&j| (0..batch).all(|b| (0..steps).all(|t| !fired(t, b, j))))
        .count();
    let chunks = batch * n.div_ceil(CHUNK);
    let line = serde_json::json!({
        "step": step,
        "spike_rate": total as f64 / (steps * batch * n) as f64,
        "silent_sample_neuron_pairs": silent_pairs as f64 / (batch * n) as f64,
        "silent_sample_chunk_pairs": silent_chunks as f64 / chunks as f64,
        "chunk_steps_without_a_spike": silent_chunk_steps as f64 / (chunks * steps) as f64,
        "neurons_silent_for_every_sample": dead as f64 / n as f64,
    });
    println!("{line}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mnist = data::load_dir(&data::default_dir(), true)?;
    let kind = ModelKind::Snn3d;
    let config = Config::mnist(kind, &[2048], 3);
    let vars = VarMap::new();
    let network = Network::seeded(&config, &vars, 0, DType::F32, &Device::Cpu)?;
    let mut optimizer = adam(&vars, kind.paper_learning_rate())?;
    let probe = mnist.train_images.narrow(0, 0, 600)?;
    for step in 0..=1000 {
        if [0, 20, 100, 300, 1000].contains(&step) {
            report(step, &network, &probe)?;
        }
        let first = (step % 100) * 600;
        let x = mnist.train_images.narrow(0, first, 600)?;
        let y = mnist.train_labels.narrow(0, first, 600)?;
        optimizer.backward_step(&network.loss(&x, &y)?)?;
    }
    Ok(())
}

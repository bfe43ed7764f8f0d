//! Hidden-layer spike rate of a trained SNN checkpoint on 600 training images: how sparse the
//! spikes the LIF projection handles are. `cargo run --release -p neuropos-models --example
//! spike_rate -- runs/snn3d-seed0`
use candle_core::{DType, Device, Module, Tensor};
use neuropos_models::{checkpoint, data, layers::lif::lif};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "runs/snn3d-seed0".into());
    let loaded = checkpoint::load(std::path::Path::new(&dir), DType::F32, &Device::Cpu)?;
    let mnist = data::load_dir(&data::default_dir(), true)?;
    let x = mnist.train_images.narrow(0, 0, 600)?;
    let net = &loaded.network;
    let cfg = net.config().lif.expect("an SNN checkpoint");
    let current = net.synapses()[0].forward(&x)?;
    let spikes = lif(&current, &cfg, false)?.spikes;
    let rate = spikes.mean_all()?.to_scalar::<f32>()?;
    let per_neuron = spikes.mean((0, 1))?;
    let silent = per_neuron
        .eq(&Tensor::zeros_like(&per_neuron)?)?
        .to_dtype(DType::F32)?;
    println!(
        "{dir}: hidden spike rate {rate:.4} (T = {}), silent neurons {:.3}",
        cfg.time_steps,
        silent.mean_all()?.to_scalar::<f32>()?
    );
    Ok(())
}

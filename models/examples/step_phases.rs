//! Wall time of a training step's phases (forward + loss, backward, optimizer update) for a
//! model on real MNIST batches: where a step's time goes, beyond the kernels' own profile.
//!
//! `cargo run --release -p neuropos-models --features unstable-kernels --example step_phases --
//! snn3d` (or `mlp3d`); one JSON line per phase.
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Optimizer, VarMap};
use neuropos_models::{data, training::adam, Config, ModelKind, Network};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let kind = match std::env::args().nth(1).as_deref() {
        Some("mlp3d") => ModelKind::Mlp3d,
        _ => ModelKind::Snn3d,
    };
    let mnist = data::load_dir(&data::default_dir(), true)?;
    let config = Config::mnist(kind, &[2048], 3);
    let vars = VarMap::new();
    let network = Network::seeded(&config, &vars, 0, DType::F32, &Device::Cpu)?;
    let mut optimizer = adam(&vars, kind.paper_learning_rate())?;
    let (mut fwd, mut bwd, mut upd) = (Vec::new(), Vec::new(), Vec::new());
    for step in 0..32 {
        let x = mnist.train_images.narrow(0, (step % 20) * 600, 600)?;
        let y = mnist.train_labels.narrow(0, (step % 20) * 600, 600)?;
        let start = Instant::now();
        let loss = network.loss(&x, &y)?;
        let _: f32 = loss.to_dtype(DType::F32)?.to_scalar()?;
        let forward_done = Instant::now();
        let grads = loss.backward()?;
        let backward_done = Instant::now();
        optimizer.step(&grads)?;
        let _: Tensor = vars.all_vars()[0].as_tensor().sum_all()?;
        let end = Instant::now();
        if step >= 2 {
            fwd.push((forward_done - start).as_secs_f64() * 1e3);
            bwd.push((backward_done - forward_done).as_secs_f64() * 1e3);
            upd.push((end - backward_done).as_secs_f64() * 1e3);
        }
    }
    {
        // The first layer alone, as the MLP runs it (ReLU fused) and as the SNN does (none).
        let mut t = [Vec::new(), Vec::new()];
        for step in 0..20 {
            let x = mnist.train_images.narrow(0, (step % 20) * 600, 600)?;
            for (v, act) in [Some(neuropos_models::Activation::Relu), None]
                .into_iter()
                .enumerate()
            {
                let t0 = Instant::now();
                let h = network.synapses()[0].forward_activated(&x, act)?;
                let _ = h.sum_all()?.to_scalar::<f32>()?;
                t[v].push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        for (name, t) in ["first layer relu", "first layer none"].iter().zip(&mut t) {
            report(kind, name, t);
        }
    }
    if let Some(lif_cfg) = &config.lif {
        // The SNN forward pass piece by piece (as Network::run), each forced to finish.
        let mut parts = vec![Vec::new(); 4];
        for step in 0..20 {
            let x = mnist.train_images.narrow(0, (step % 20) * 600, 600)?;
            let syn = network.synapses();
            let t0 = Instant::now();
            let current = syn[0].forward(&x)?;
            let _ = current.sum_all()?.to_scalar::<f32>()?;
            let t1 = Instant::now();
            let w = syn[1].projection()?;
            let _ = w.sum_all()?.to_scalar::<f32>()?;
            let t2 = Instant::now();
            let bias = syn[1].bias().unwrap();
            let next = neuropos_models::layers::lif::lif_project(&current, &w, bias, lif_cfg)?;
            let _ = next.sum_all()?.to_scalar::<f32>()?;
            let t3 = Instant::now();
            let out = neuropos_models::layers::lif::lif(&next, lif_cfg, true)?;
            let _ = out.spikes.sum_all()?.to_scalar::<f32>()?;
            let t4 = Instant::now();
            for (p, (a, b)) in parts
                .iter_mut()
                .zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)])
            {
                p.push((b - a).as_secs_f64() * 1e3);
            }
        }
        for (name, t) in [
            "first layer",
            "projection W",
            "lif_project (with bias)",
            "output lif",
        ]
        .iter()
        .zip(&mut parts)
        {
            report(kind, name, t);
        }
        // The loss, forward and backward, on the output layer's currents of the paper's
        // network: the fused op against the plain ops it replaces.
        let currents = candle_core::Var::from_tensor(&Tensor::randn(
            0.3f32,
            0.6,
            (lif_cfg.time_steps, 600, 10),
            &Device::Cpu,
        )?)?;
        let labels = mnist.train_labels.narrow(0, 0, 600)?;
        type Loss = fn(
            &Tensor,
            &Tensor,
            &neuropos_models::layers::lif::LifConfig,
        ) -> candle_core::Result<Tensor>;
        let losses: [(&str, Loss); 2] = [
            (
                "loss, fused op",
                neuropos_models::kernels::membrane_cross_entropy::membrane_cross_entropy_fused,
            ),
            (
                "loss, plain ops",
                neuropos_models::loss::membrane_cross_entropy_reference,
            ),
        ];
        for (name, loss) in losses {
            let mut t = Vec::new();
            for _ in 0..20 {
                let t0 = Instant::now();
                let grads = loss(currents.as_tensor(), &labels, lif_cfg)?.backward()?;
                let _ = grads.get(currents.as_tensor()).map(|g| g.sum_all());
                t.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            report(kind, &format!("{name} (forward + backward)"), &mut t);
        }
    }
    for (name, t) in [
        ("forward+loss", &mut fwd),
        ("backward", &mut bwd),
        ("update", &mut upd),
    ] {
        report(kind, name, t);
    }
    Ok(())
}

/// One JSON line: the phase's fastest and median time over its runs.
fn report(kind: ModelKind, phase: &str, t: &mut [f64]) {
    t.sort_by(f64::total_cmp);
    let line = serde_json::json!({
        "model": kind.name(),
        "phase": phase,
        "runs": t.len(),
        "min_ms": t[0],
        "median_ms": t[t.len() / 2],
    });
    println!("{line}");
}

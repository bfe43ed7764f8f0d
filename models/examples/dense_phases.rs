//! Where a dense baseline's training step goes: forward, backward, Adam (ms, medians).
use candle_core::{DType, Device};
use candle_nn::{Optimizer, VarMap};
use neuropos_models::{data, training::adam, Config, ModelKind, Network};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let hidden: usize = std::env::args().nth(1).map_or(2048, |h| h.parse().unwrap());
    let kind = ModelKind::Mlp;
    let cfg = Config::mnist(kind, &[hidden], 3);
    let vars = VarMap::new();
    let net = Network::seeded(&cfg, &vars, 0, DType::F32, &Device::Cpu)?;
    let mut opt = adam(&vars, 0.001)?;
    let m = data::load_dir(&data::default_dir(), true)?;
    let x = m.train_images.narrow(0, 0, 600)?;
    let y = m.train_labels.narrow(0, 0, 600)?;
    let (mut f, mut b, mut s) = (vec![], vec![], vec![]);
    for _ in 0..15 {
        let t = Instant::now();
        let loss = net.loss(&x, &y)?;
        loss.to_scalar::<f32>()?;
        f.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let grads = loss.backward()?;
        b.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        opt.step(&grads)?;
        s.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    println!(
        "hidden {hidden}: forward {:.2} ms, backward {:.2} ms, adam {:.2} ms",
        med(&mut f),
        med(&mut b),
        med(&mut s)
    );
    Ok(())
}

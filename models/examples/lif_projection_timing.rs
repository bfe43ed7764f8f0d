//! Times the fused LIF projection (forward, forward + backward) on the paper's hidden layer.
use candle_core::{Device, Tensor, Var};
use neuropos_models::lif::LifConfig;
use neuropos_models::lif_projection::lif_project;
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    if std::env::var("FTZ").is_ok() {
        #[allow(deprecated)]
        rayon::ThreadPoolBuilder::new()
            .start_handler(|_| unsafe {
                std::arch::x86_64::_mm_setcsr(std::arch::x86_64::_mm_getcsr() | 0x8040)
            })
            .build_global()
            .unwrap();
    }
    let dev = Device::Cpu;
    let cfg = LifConfig::default();
    let currents = Var::from_tensor(&Tensor::randn(0.3f32, 0.6, (600, 2048), &dev)?)?;
    let weights = Var::from_tensor(&Tensor::randn(0f32, 0.1, (2048, 10), &dev)?)?;
    let (mut best_forward, mut best_both) = (f64::MAX, f64::MAX);
    for _round in 0..6 {
        let start = Instant::now();
        let reps = 5;
        for _ in 0..reps {
            let out = lif_project(currents.as_tensor(), weights.as_tensor(), &cfg)?;
            out.sum_all()?;
        }
        let forward = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let start = Instant::now();
        for _ in 0..reps {
            let out = lif_project(currents.as_tensor(), weights.as_tensor(), &cfg)?;
            out.sqr()?.sum_all()?.backward()?;
        }
        let both = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        best_forward = best_forward.min(forward);
        best_both = best_both.min(both);
    }
    println!(
        "best of 6: forward {best_forward:.1} ms, backward {:.1} ms",
        best_both - best_forward
    );
    Ok(())
}

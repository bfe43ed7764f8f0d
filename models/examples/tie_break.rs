//! How an SNN checkpoint's test accuracy depends on the prediction rule when several classes
//! share the most output spikes: neuropos' rule (ties broken by the larger summed membrane)
//! against snnTorch's tutorial rule (`spk_rec.sum(0).max(1)`: the first class among the tied
//! ones), with the share of test images that tie and that have no output spike at all.
//!
//! `cargo run --release -p neuropos-models --example tie_break -- runs/snn14-seed0 …`
use candle_core::{DType, Device};
use neuropos_models::{checkpoint, data, network::NetworkOutput};

fn main() -> anyhow::Result<()> {
    let mnist = data::load_dir(&data::default_dir(), true)?;
    let labels = mnist.test_labels.to_vec1::<u32>()?;
    for dir in std::env::args().skip(1) {
        let loaded = checkpoint::load(std::path::Path::new(&dir), DType::F32, &Device::Cpu)?;
        let (mut membrane_rule, mut first_rule, mut tied, mut silent) = (0, 0, 0, 0);
        let mut membrane_only = 0;
        for start in (0..labels.len()).step_by(1000) {
            let x = mnist.test_images.narrow(0, start, 1000)?;
            let NetworkOutput::Spiking { spikes, membrane } = loaded.network.run(&x)? else {
                anyhow::bail!("{dir} is not an SNN checkpoint");
            };
            let counts = spikes.sum(0)?.to_vec2::<f32>()?;
            let potential = membrane.sum(0)?.to_vec2::<f32>()?;
            for ((c, p), &y) in counts.iter().zip(&potential).zip(&labels[start..]) {
                let most = c.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let leaders: Vec<usize> = (0..c.len()).filter(|&k| c[k] == most).collect();
                tied += usize::from(leaders.len() > 1);
                silent += usize::from(most == 0.0);
                first_rule += usize::from(leaders[0] == y as usize);
                let by_membrane = leaders
                    .iter()
                    .copied()
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                    .unwrap_or(0);
                membrane_rule += usize::from(by_membrane == y as usize);
                let by_potential = (0..p.len())
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                    .unwrap_or(0);
                membrane_only += usize::from(by_potential == y as usize);
            }
        }
        let n = labels.len() as f64;
        let line = serde_json::json!({
            "checkpoint": dir,
            "accuracy_ties_by_membrane": membrane_rule as f64 / n,
            "accuracy_first_of_the_tied": first_rule as f64 / n,
            "accuracy_membrane_only": membrane_only as f64 / n,
            "tied_images": tied as f64 / n,
            "images_without_an_output_spike": silent as f64 / n,
        });
        println!("{line}");
    }
    Ok(())
}

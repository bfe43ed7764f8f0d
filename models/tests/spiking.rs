//! Spiking networks: the constant-input shortcut is exact, and LIF settings are honoured.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use neuropos_models::layers::lif::lif_project;
use neuropos_models::layers::lif::{lif, LifConfig, Readout};
use neuropos_models::network::NetworkOutput;
use neuropos_models::{Config, ModelKind, Network};

fn spiking(out: NetworkOutput) -> (Tensor, Tensor) {
    match out {
        NetworkOutput::Spiking { spikes, membrane } => (spikes, membrane),
        NetworkOutput::Logits(_) => panic!("a spiking kind gave logits"),
    }
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Recomputes the first layer's current at every step and feeds the `[T, B, N]` sequence
/// through the same LIF ops: the straightforward simulation the network's constant-input
/// shortcut must reproduce exactly.
fn naive(net: &Network, x: &Tensor) -> (Tensor, Tensor) {
    let lif_cfg = net.config().lif.unwrap();
    let per_step: Vec<Tensor> = (0..lif_cfg.time_steps)
        .map(|_| net.synapses()[0].forward(x).unwrap())
        .collect();
    let mut current = Tensor::stack(&per_step, 0).unwrap();
    for syn in &net.synapses()[1..] {
        let projection = syn.projection().unwrap();
        current = lif_project(&current, &projection, syn.bias().unwrap(), &lif_cfg).unwrap();
    }
    let out = lif(&current, &lif_cfg, true).unwrap();
    (out.spikes, out.membrane.unwrap())
}

#[test]
fn first_layer_computed_once_equals_recomputing_it_every_step() {
    for kind in [ModelKind::Snn3d, ModelKind::Snn3dRelaxed, ModelKind::Snn] {
        let mut cfg = Config::new(kind, 30, &[40, 20], 6, 3);
        cfg.lif = Some(LifConfig {
            time_steps: 11,
            ..LifConfig::default()
        });
        // Tighter neurons than the MNIST default so that this small net spikes.
        cfg.init.coord_half_width = 2.0;
        cfg.init.inhibition_half_width = 1.0;
        let vars = VarMap::new();
        let net = Network::seeded(&cfg, &vars, 4, DType::F32, &Device::Cpu).unwrap();
        // Make the deeper layers excitatory so that spikes reach the output.
        for (name, var) in vars.data().lock().unwrap().iter() {
            if name.starts_with("layers.1.inhibition") || name.starts_with("linear.1.weight") {
                var.set(&var.as_tensor().abs().unwrap().affine(1.0, 0.05).unwrap())
                    .unwrap();
            }
        }
        let x = Tensor::rand(0f32, 5.0, (7, 30), &Device::Cpu).unwrap();
        let (spikes, membrane) = spiking(net.run(&x).unwrap());
        assert_eq!(spikes.dims(), [11, 7, 6]);
        let (naive_spikes, naive_membrane) = naive(&net, &x);
        assert_eq!(flat(&spikes), flat(&naive_spikes), "{kind}: spikes");
        assert_eq!(flat(&membrane), flat(&naive_membrane), "{kind}: membranes");
        let hidden_spikes = spikes.sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(
            hidden_spikes > 0.0,
            "{kind}: no output spikes, the comparison says little"
        );
    }
}

#[test]
fn prediction_counts_spikes_and_breaks_ties_by_membrane() {
    let mut cfg = Config::new(ModelKind::Snn, 8, &[16], 4, 3);
    cfg.lif = Some(LifConfig {
        time_steps: 6,
        ..LifConfig::default()
    });
    let vars = VarMap::new();
    let net = Network::seeded(&cfg, &vars, 1, DType::F32, &Device::Cpu).unwrap();
    let x = Tensor::rand(0f32, 3.0, (32, 8), &Device::Cpu).unwrap();
    let predicted = net.predict(&x).unwrap();
    let (spikes, membrane) = spiking(net.run(&x).unwrap());
    let counts = spikes.sum(0).unwrap().to_vec2::<f32>().unwrap();
    let potential = membrane.sum(0).unwrap().to_vec2::<f32>().unwrap();
    // Both rules must be exercised: samples whose prediction the spike counts decide (more
    // spikes than some other class), and samples with a tie in the counts.
    let decided_by_counts = predicted
        .iter()
        .enumerate()
        .filter(|&(b, &p)| counts[b].iter().any(|&c| c < counts[b][p as usize]))
        .count();
    let tied = predicted
        .iter()
        .enumerate()
        .filter(|&(b, &p)| {
            let top = counts[b][p as usize];
            counts[b].iter().filter(|&&c| c == top).count() > 1
        })
        .count();
    assert!(
        decided_by_counts > 0 && tied > 0,
        "{decided_by_counts} samples decided by spike counts, {tied} by the tie-break"
    );
    for (b, &p) in predicted.iter().enumerate() {
        let p = p as usize;
        for c in 0..4 {
            let better = counts[b][c] > counts[b][p]
                || (counts[b][c] == counts[b][p] && potential[b][c] > potential[b][p]);
            assert!(!better, "sample {b}: class {c} beats the prediction {p}");
        }
    }
}

#[test]
fn the_membrane_readout_ranks_the_summed_membrane_alone() {
    let mut cfg = Config::new(ModelKind::Snn, 8, &[16], 4, 3);
    cfg.lif = Some(LifConfig {
        time_steps: 6,
        readout: Readout::Membrane,
        ..LifConfig::default()
    });
    let vars = VarMap::new();
    let net = Network::seeded(&cfg, &vars, 1, DType::F32, &Device::Cpu).unwrap();
    let x = Tensor::rand(0f32, 3.0, (64, 8), &Device::Cpu).unwrap();
    let predicted = net.predict(&x).unwrap();
    let (spikes, membrane) = spiking(net.run(&x).unwrap());
    let potential = membrane.sum(0).unwrap();
    let want = potential.argmax(1).unwrap().to_vec1::<u32>().unwrap();
    assert_eq!(predicted, want);
    assert_eq!(
        net.forward(&x).unwrap().to_vec2::<f32>().unwrap(),
        potential.to_vec2::<f32>().unwrap()
    );
    // Not the spike count's rule in disguise: some samples' spike counts pick another class.
    let by_counts = spikes
        .sum(0)
        .unwrap()
        .argmax(1)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    assert!(by_counts.iter().zip(&want).any(|(a, b)| a != b));
}

#[test]
fn spiking_loss_sums_cross_entropy_over_steps() {
    let mut cfg = Config::new(ModelKind::Snn, 8, &[16], 4, 3);
    cfg.lif = Some(LifConfig {
        time_steps: 5,
        ..LifConfig::default()
    });
    let vars = VarMap::new();
    let net = Network::seeded(&cfg, &vars, 2, DType::F32, &Device::Cpu).unwrap();
    let x = Tensor::rand(0f32, 2.0, (6, 8), &Device::Cpu).unwrap();
    let y = Tensor::new(&[0u32, 1, 2, 3, 0, 1], &Device::Cpu).unwrap();
    let loss = net.loss(&x, &y).unwrap().to_scalar::<f32>().unwrap();
    let (_, membrane) = spiking(net.run(&x).unwrap());
    let mut expected = 0.0;
    for t in 0..5 {
        let ce = candle_nn::loss::cross_entropy(&membrane.get(t).unwrap(), &y).unwrap();
        expected += ce.to_scalar::<f32>().unwrap();
    }
    assert!(
        (loss - expected).abs() < 1e-4 * expected.abs(),
        "{loss} vs {expected}"
    );
}

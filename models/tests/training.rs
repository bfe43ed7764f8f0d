//! A short training run on a slice of MNIST learns far above chance (10 %).

use candle_core::{DType, Device, Module};
use candle_nn::VarMap;
use neuropos_models::training::{accuracy, adam, train_epoch};
use neuropos_models::{data, Config, ModelKind, Network};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Test accuracy before and after training, and (spiking kinds) the share of test images for
/// which some output neuron fired: an SNN whose outputs stay silent would still be scored
/// through the membrane tie-break, and must not pass for one that learned to spike.
fn train_slice(kind: ModelKind, hidden: usize, epochs: usize) -> (f64, f64) {
    let (before, after, _) = train_slice_with_spikes(kind, hidden, epochs);
    (before, after)
}

fn train_slice_with_spikes(kind: ModelKind, hidden: usize, epochs: usize) -> (f64, f64, f64) {
    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_train(12_000)
        .unwrap()
        .limit_test(2_000)
        .unwrap();
    let cfg = Config::mnist(kind, &[hidden], 3);
    let vars = VarMap::new();
    let net = Network::seeded(&cfg, &vars, 0, DType::F32, &Device::Cpu).unwrap();
    let before = accuracy(&net, &mnist.test_images, &mnist.test_labels).unwrap();
    let mut opt = adam(&vars, kind.paper_learning_rate()).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let mut last_loss = f64::INFINITY;
    for _ in 0..epochs {
        let r = train_epoch(
            &net,
            &mut opt,
            &mnist.train_images,
            &mnist.train_labels,
            600,
            &mut rng,
            |_, _| true,
        )
        .unwrap();
        assert!(r.mean_loss.is_finite());
        assert_eq!(r.samples, 12_000);
        last_loss = r.mean_loss;
    }
    // Spiking losses sum T per-step cross-entropies.
    let steps = cfg.lif.map_or(1.0, |l| l.time_steps as f64);
    assert!(last_loss < 2.0 * steps, "{kind}: loss still {last_loss}");
    let after = accuracy(&net, &mnist.test_images, &mnist.test_labels).unwrap();
    let firing = if kind.is_spiking() {
        let counts = net
            .forward(&mnist.test_images.narrow(0, 0, 500).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        counts
            .iter()
            .filter(|row| row.iter().any(|&c| c > 0.0))
            .count() as f64
            / 500.0
    } else {
        1.0
    };
    (before, after, firing)
}

#[test]
fn embedded_mlp_learns_on_a_slice() {
    let (before, after) = train_slice(ModelKind::Mlp3d, 256, 5);
    assert!(
        after > 0.5 && after > before + 0.3,
        "mlp3d: {before} → {after}"
    );
}

#[test]
fn relaxed_and_gap_models_learn_on_a_slice() {
    for kind in [ModelKind::Mlp3dGaps, ModelKind::Mlp3dRelaxed] {
        let (before, after) = train_slice(kind, 256, 5);
        assert!(
            after > 0.5 && after > before + 0.3,
            "{kind}: {before} → {after}"
        );
    }
}

#[test]
fn baseline_mlp_learns_on_a_slice() {
    let (before, after) = train_slice(ModelKind::Mlp, 14, 3);
    assert!(after > 0.6, "mlp 14: {before} → {after}");
}

#[test]
fn spiking_networks_learn_on_a_slice() {
    for (kind, hidden, epochs) in [(ModelKind::Snn3d, 256, 4), (ModelKind::Snn, 14, 2)] {
        let (before, after, firing) = train_slice_with_spikes(kind, hidden, epochs);
        assert!(
            after > 0.4 && after > before + 0.2,
            "{kind} {hidden}: {before} → {after}"
        );
        assert!(
            firing > 0.5,
            "{kind} {hidden}: output spikes on only {firing:.2} of the test images"
        );
    }
}

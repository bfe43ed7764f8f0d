//! The paths `plain_ops.rs` does not reach, run through the plain ops (what CUDA and Metal run)
//! and through the fused CPU kernels, with the same outcome: training batches (the images' and
//! labels' `index_select`, augmentation, label smoothing, the spike-count loss), the rate and
//! latency encoders, tanh/sigmoid, d ≠ 3, the grid layout, bias save/compensate/restore across
//! pruning levels, neuron pruning, loading a checkpoint onto the device, and scoring a
//! checkpoint that prunes itself.
//!
//! Behaviour, not only values: compensation at several levels in one call must equal
//! compensation at each level alone (a bias snapshot that shares the variables' buffer, as
//! `Tensor::copy` does on Metal, fails it on any backend).
//!
//! One test function: the kernels are switched off process-wide (`device::set_fused_kernels`).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use neuropos_models::checkpoint::{self, CheckpointInfo};
use neuropos_models::config::{Activation, CoordLayout};
use neuropos_models::encoder::Encoder;
use neuropos_models::prune::levels::{at_levels, Levels};
use neuropos_models::prune::{self, NeuronScore, PruneScope, Pruning, Rank};
use neuropos_models::recipe::{Recipe, SnnLoss};
use neuropos_models::training::{self, adam, EpochStart, StepPlan};
use neuropos_models::{data, device, Config, ModelKind, Network};

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// Every variable's values, by name.
fn parameters(vars: &VarMap) -> Vec<(String, Vec<f32>)> {
    let mut named: Vec<(String, Vec<f32>)> = vars
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), values(v.as_tensor())))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

struct Data {
    x: Tensor,
    y: Tensor,
    test: Tensor,
    test_y: Tensor,
}

/// A named variant of a small network.
struct Case {
    name: String,
    config: Config,
    recipe: Recipe,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let base = |kind: ModelKind| Config::mnist(kind, &[24], 3);
    for kind in ModelKind::ALL {
        // Training batches with augmentation, and each kind's own loss variant.
        let mut recipe = Recipe {
            augment_shift: 2,
            ..Recipe::default()
        };
        if kind.is_spiking() {
            recipe.snn_loss = SnnLoss::Count;
        } else {
            recipe.label_smoothing = 0.1;
        }
        out.push(Case {
            name: format!("{kind} augmented"),
            config: base(kind),
            recipe,
        });
    }
    for activation in [Activation::Tanh, Activation::Sigmoid] {
        let mut config = base(ModelKind::Mlp3d);
        config.activation = activation;
        out.push(Case {
            name: format!("mlp3d {activation:?}"),
            config,
            recipe: Recipe::default(),
        });
    }
    for dim in [2, 5] {
        for kind in [ModelKind::Mlp3dRelaxed, ModelKind::Snn3d] {
            out.push(Case {
                name: format!("{kind} d = {dim}"),
                config: Config::mnist(kind, &[24], dim),
                recipe: Recipe::default(),
            });
        }
    }
    for kind in [ModelKind::Mlp3d, ModelKind::Snn3dGaps] {
        let mut config = base(kind);
        config.init.layout = CoordLayout::Grid;
        out.push(Case {
            name: format!("{kind} grid layout"),
            config,
            recipe: Recipe::default(),
        });
    }
    for encoder in [
        Encoder::Rate { gain: 1.0 },
        Encoder::Latency {
            threshold: 0.01,
            linear: false,
        },
    ] {
        for kind in [ModelKind::Snn3d, ModelKind::Snn] {
            let mut config = base(kind);
            config.lif.as_mut().unwrap().encoder = encoder;
            out.push(Case {
                name: format!("{kind} {encoder:?}"),
                config,
                recipe: Recipe::default(),
            });
        }
    }
    out
}

/// What one case does, as numbers to compare between the two paths.
struct Observed {
    /// Before training: the forward pass (encoders, activations, layouts) alone.
    scores: Vec<f32>,
    losses: Vec<f32>,
    parameters: Vec<(String, Vec<f32>)>,
    /// After the two steps.
    predictions: Vec<u32>,
}

/// Two training batches through `train_batches` (index_select, augmentation, the recipe's
/// loss, Adam), then the scores on the test images.
fn train(case: &Case, fused: bool, d: &Data) -> Observed {
    device::set_fused_kernels(fused);
    let vars = VarMap::new();
    let net = Network::seeded(&case.config, &vars, 3, DType::F32, &Device::Cpu).unwrap();
    let scores = values(&net.forward(&d.test).unwrap());
    let mut opt = adam(&vars, case.config.kind.paper_learning_rate()).unwrap();
    let order: Vec<u32> = (0..d.x.dim(0).unwrap() as u32).rev().collect();
    let plan = StepPlan {
        recipe: case.recipe,
        lr: case.config.kind.paper_learning_rate(),
        steps_per_epoch: 2,
        epochs: 1,
        seed: 11,
    };
    let mut losses = Vec::new();
    training::train_batches(
        &net,
        &mut opt,
        &d.x,
        &d.y,
        30,
        &order,
        EpochStart::default(),
        &plan,
        |_, loss| {
            losses.push(loss);
            true
        },
    )
    .unwrap();
    let predictions = training::predict(&net, &d.test, 50).unwrap();
    device::set_fused_kernels(true);
    Observed {
        scores,
        losses,
        parameters: parameters(&vars),
        predictions,
    }
}

/// Relative closeness against the larger magnitude of the whole vector.
fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = a.iter().chain(b).fold(1e-12f32, |m, v| m.max(v.abs()));
    for (i, (u, v)) in a.iter().zip(b).enumerate() {
        assert!(
            u.is_finite() && v.is_finite() && (u - v).abs() <= tol * scale,
            "{what}[{i}]: fused {u} vs plain {v} (scale {scale})"
        );
    }
}

/// Spike counts: integers a rounding away from the threshold may change by one; nearly all
/// must agree, and they must not all be silent.
fn assert_counts(what: &str, a: &[f32], b: &[f32]) {
    let equal = a.iter().zip(b).filter(|(u, v)| u == v).count();
    let share = equal as f64 / a.len() as f64;
    assert!(share >= 0.98, "{what}: spike counts equal for {share:.3}");
}

/// A small checkpoint of `config` on disk (trained for one batch, so it is not at its seed),
/// loaded back onto the device.
fn saved(config: &Config, d: &Data, dir: &std::path::Path) -> checkpoint::Loaded {
    let vars = VarMap::new();
    let net = Network::seeded(config, &vars, 5, DType::F32, &Device::Cpu).unwrap();
    let mut opt = adam(&vars, config.kind.paper_learning_rate()).unwrap();
    let order: Vec<u32> = (0..d.x.dim(0).unwrap() as u32).collect();
    training::train_batches(
        &net,
        &mut opt,
        &d.x,
        &d.y,
        60,
        &order,
        EpochStart::default(),
        &StepPlan::paper(),
        |_, _| true,
    )
    .unwrap();
    checkpoint::save(dir, &vars, &CheckpointInfo::new(config, None)).unwrap();
    checkpoint::load(dir, DType::F32, &Device::Cpu).unwrap()
}

/// Scores at levels, with compensation, in one call and one level at a time.
fn levels_in_one_call_and_alone(loaded: &mut checkpoint::Loaded, d: &Data) -> Vec<f32> {
    let levels = [30.0, 60.0, 85.0];
    let score = |net: &Network| values(&net.forward(&d.test).unwrap());
    let mut together = Vec::new();
    let how = |levels: &'static [f64]| Levels {
        levels: Some(levels),
        rank: Rank::Distance,
        scope: PruneScope::Layer,
        compensation: Some(&d.x),
    };
    at_levels(loaded, &how(&[30.0, 60.0, 85.0]), |level, net| {
        assert!(level.compensated_on > 0);
        together.push(score(net));
        neuropos_models::Result::Ok(())
    })
    .unwrap();
    let mut alone = Vec::new();
    for level in levels {
        let one: &'static [f64] = match level {
            30.0 => &[30.0],
            60.0 => &[60.0],
            _ => &[85.0],
        };
        at_levels(loaded, &how(one), |_, net| {
            alone.push(score(net));
            neuropos_models::Result::Ok(())
        })
        .unwrap();
    }
    for (i, (a, b)) in together.iter().zip(&alone).enumerate() {
        assert_eq!(
            a, b,
            "level {}: compensated in one call vs alone differ",
            levels[i]
        );
    }
    together.concat()
}

/// Bias snapshots, compensation and restoring, neuron pruning, a stored mask and pruning during
/// training, on a checkpoint loaded onto the device.
fn pruning(kind: ModelKind, fused: bool, d: &Data, dir: &std::path::Path) -> Vec<f32> {
    device::set_fused_kernels(fused);
    let config = Config::mnist(kind, &[24], 3);
    let mut loaded = saved(&config, d, dir);
    let before = parameters(&loaded.vars);
    let mut out = levels_in_one_call_and_alone(&mut loaded, d);
    assert_eq!(
        parameters(&loaded.vars),
        before,
        "{kind}: the network is left as loaded"
    );

    // Whole neurons: scores, the smaller network, its compensation.
    let images = d.x.narrow(0, 0, 40).unwrap();
    for score in [NeuronScore::Outgoing, NeuronScore::Variance] {
        let scores = prune::neuron_scores(&loaded.network, score, &images).unwrap();
        let keep = prune::neurons_to_keep(&scores, 50.0);
        let (small, vars) = prune::remove_neurons(&loaded.network, &loaded.vars, &keep).unwrap();
        let net = Network::seeded(&small, &vars, 0, DType::F32, &Device::Cpu).unwrap();
        // The smaller network's variables were set from the full one's, not from its seed.
        let smaller = Network::seeded(&small, &VarMap::new(), 0, DType::F32, &Device::Cpu)
            .unwrap()
            .forward(&d.test)
            .unwrap();
        prune::compensate_removed_neurons(&loaded.network, &keep, &net, &vars, &images).unwrap();
        let scores = values(&net.forward(&d.test).unwrap());
        assert_ne!(
            scores,
            values(&smaller),
            "{kind}: neuron pruning kept no weights"
        );
        out.extend(scores);
    }

    // A stored mask: the model as stored, then pruned further.
    let (masks, _) = neuropos_models::prune::levels::masks_at(
        &loaded,
        50.0,
        Rank::Effective,
        PruneScope::Global,
    )
    .unwrap();
    let mut model = config.clone();
    model.fixed_mask = Some(prune::FixedMask {
        percent: 50.0,
        scope: PruneScope::Global,
        rank: Rank::Effective,
        compensated_on: 0,
        finetune_epochs: 0,
    });
    let stored_dir = dir.join("stored");
    checkpoint::save_with_masks(
        &stored_dir,
        &loaded.vars,
        &CheckpointInfo::new(&model, None),
        Some(&masks.masks),
    )
    .unwrap();
    let mut stored = checkpoint::load(&stored_dir, DType::F32, &Device::Cpu).unwrap();
    let mut kept = Vec::new();
    for levels in [None, Some(&[50.0, 70.0][..])] {
        // The stored mask's scope: its own share is then exactly the model as stored.
        let how = Levels {
            levels,
            rank: Rank::Distance,
            scope: PruneScope::Global,
            compensation: Some(&d.x),
        };
        at_levels(&mut stored, &how, |level, net| {
            assert_eq!(level.stored_percent, 50.0);
            kept.push(level.kept);
            out.extend(values(&net.forward(&d.test).unwrap()));
            neuropos_models::Result::Ok(())
        })
        .unwrap();
    }
    assert_eq!(
        kept[0], masks.kept,
        "{kind}: the stored model keeps its mask"
    );
    assert_eq!(
        kept[1], masks.kept,
        "{kind}: 50 % of a 50 % mask is the mask"
    );
    assert!(kept[2] < kept[1], "{kind}: 70 % prunes further");

    // Pruning during training, scored as stored.
    let mut during = config.clone();
    during.pruning = Some(Pruning {
        percent: 60.0,
        scope: PruneScope::Layer,
    });
    let during_dir = dir.join("during");
    checkpoint::save(
        &during_dir,
        &loaded.vars,
        &CheckpointInfo::new(&during, None),
    )
    .unwrap();
    let mut during = checkpoint::load(&during_dir, DType::F32, &Device::Cpu).unwrap();
    let how = Levels {
        levels: None,
        rank: Rank::Distance,
        scope: PruneScope::Layer,
        compensation: None,
    };
    at_levels(&mut during, &how, |level, net| {
        assert_eq!(level.percent, 60.0);
        let expected = config.weight_count()
            - prune::removed_count(784 * 24, 60.0)
            - prune::removed_count(24 * 10, 60.0);
        assert_eq!(
            level.kept, expected,
            "{kind}: kept weights of a self-pruning model"
        );
        out.extend(values(&net.forward(&d.test).unwrap()));
        neuropos_models::Result::Ok(())
    })
    .unwrap();
    device::set_fused_kernels(true);
    out
}

#[test]
fn plain_ops_reach_every_training_pruning_and_loading_path_like_the_kernels() {
    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_train(60)
        .unwrap()
        .limit_test(100)
        .unwrap();
    let d = Data {
        x: mnist.train_images.clone(),
        y: mnist.train_labels.clone(),
        test: mnist.test_images.clone(),
        test_y: mnist.test_labels.clone(),
    };
    for case in cases() {
        let (fused, plain) = (train(&case, true, &d), train(&case, false, &d));
        let spiking = case.config.lif.is_some();
        assert_eq!(fused.losses.len(), 2, "{}: two batches", case.name);
        assert_close(
            &format!("{} losses", case.name),
            &fused.losses,
            &plain.losses,
            1e-3,
        );
        // Adam divides by the gradient's own size: where a gradient is near zero, the two
        // paths' rounding can differ by up to a step (lr) per step, not more.
        let lr = case.config.kind.paper_learning_rate() as f32;
        for ((name, a), (_, b)) in fused.parameters.iter().zip(&plain.parameters) {
            for (i, (u, v)) in a.iter().zip(b).enumerate() {
                assert!(
                    u.is_finite() && (u - v).abs() <= 2.0 * lr + 1e-4 * u.abs(),
                    "{} {name}[{i}]: fused {u} vs plain {v}",
                    case.name
                );
            }
        }
        if spiking {
            assert_counts(&case.name, &fused.scores, &plain.scores);
        } else {
            assert_close(
                &format!("{} scores", case.name),
                &fused.scores,
                &plain.scores,
                1e-4,
            );
        }
        // Two steps in, near-equal class scores may rank differently; most may not.
        let agree = fused
            .predictions
            .iter()
            .zip(&plain.predictions)
            .filter(|(a, b)| a == b)
            .count();
        assert!(
            agree * 10 >= fused.predictions.len() * 8,
            "{}: predictions after training agree on {agree} of {}",
            case.name,
            fused.predictions.len()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for kind in ModelKind::ALL {
        let (a, b) = (dir.path().join("fused"), dir.path().join("plain"));
        let fused = pruning(kind, true, &d, &a);
        let plain = pruning(kind, false, &d, &b);
        if kind.is_spiking() {
            assert_counts(&format!("{kind} pruning"), &fused, &plain);
        } else {
            assert_close(&format!("{kind} pruning"), &fused, &plain, 1e-3);
        }
        // The saved checkpoint loaded and scored as eval does, through each path: the same
        // accuracy (an SNN may flip a near-tie).
        let score = |fused: bool| {
            device::set_fused_kernels(fused);
            let loaded = checkpoint::load(&b, DType::F32, &Device::Cpu).unwrap();
            let a = training::accuracy(&loaded.network, &d.test, &d.test_y).unwrap();
            device::set_fused_kernels(true);
            a
        };
        let (fused, plain) = (score(true), score(false));
        let slack = if kind.is_spiking() { 0.02 } else { 0.0 };
        assert!(
            (fused - plain).abs() <= slack,
            "{kind}: accuracy fused {fused} vs plain {plain}"
        );
    }
}

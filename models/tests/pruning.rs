//! Pruning an embedded network removes exactly the longest connections.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use neuropos_models::prune::{removed_count, MagnitudeRanking, PruneScope};
use neuropos_models::{Config, ModelKind, Network};

/// `Network::forward` (logits or spike counts), flattened.
fn outputs(net: &Network, x: &Tensor) -> Vec<f32> {
    net.forward(x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// Distances computed straight from the stored coordinates and z, independent of the library's
/// weight synthesis: `[n_out][n_in]` per synapse layer.
fn distances(vars: &VarMap, cfg: &Config) -> Vec<Vec<Vec<f64>>> {
    let data = vars.data().lock().unwrap();
    let coords = |l: usize| {
        data[&format!("layers.{l}.coords")]
            .as_tensor()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap()
    };
    let z = |l: usize, i: usize| -> f64 {
        data[&format!("layers.{l}.z")]
            .as_tensor()
            .to_dtype(DType::F64)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()[i]
    };
    (0..cfg.layers.len() - 1)
        .map(|c| {
            let (pre, post) = (coords(c), coords(c + 1));
            post.iter()
                .enumerate()
                .map(|(j, pj)| {
                    pre.iter()
                        .enumerate()
                        .map(|(i, pi)| {
                            let xy: f64 = pi.iter().zip(pj).map(|(a, b)| (a - b) * (a - b)).sum();
                            let dz = z(c + 1, j) - z(c, i);
                            (xy + dz * dz).sqrt()
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[test]
fn pruning_cuts_the_longest_wires_per_layer_and_globally() {
    let cfg = Config::new(ModelKind::Mlp3dRelaxed, 40, &[30, 20], 5, 3);
    let vars = VarMap::new();
    let mut net = Network::seeded(&cfg, &vars, 2, DType::F64, &Device::Cpu).unwrap();
    let dist = distances(&vars, &cfg);
    let total = cfg.weight_count();

    for scope in [PruneScope::Layer, PruneScope::Global] {
        net.set_keep_masks(None).unwrap();
        let ranking = MagnitudeRanking::new(&net.weights().unwrap(), scope).unwrap();
        for percent in [10.0, 50.0, 80.0, 95.0] {
            let masks = ranking.masks(percent).unwrap();
            let expected_removed: usize = match scope {
                PruneScope::Layer => cfg
                    .layers
                    .windows(2)
                    .map(|w| removed_count(w[0] * w[1], percent))
                    .sum(),
                PruneScope::Global => removed_count(total, percent),
            };
            assert_eq!(masks.kept, total - expected_removed, "{scope} {percent}%");
            let mut longest_kept = vec![0.0f64; dist.len()];
            let mut shortest_removed = vec![f64::INFINITY; dist.len()];
            let mut ones = 0;
            for (c, m) in masks.masks.iter().enumerate() {
                for (j, row) in m.to_vec2::<f64>().unwrap().iter().enumerate() {
                    for (i, &keep) in row.iter().enumerate() {
                        let d = dist[c][j][i];
                        if keep == 1.0 {
                            longest_kept[c] = longest_kept[c].max(d);
                            ones += 1;
                        } else {
                            shortest_removed[c] = shortest_removed[c].min(d);
                        }
                    }
                }
            }
            assert_eq!(ones, masks.kept);
            match scope {
                PruneScope::Layer => {
                    for c in 0..dist.len() {
                        assert!(
                            longest_kept[c] <= shortest_removed[c] + 1e-12,
                            "layer {c} at {percent}%"
                        );
                    }
                }
                PruneScope::Global => {
                    let kept = longest_kept.iter().cloned().fold(0.0, f64::max);
                    let removed = shortest_removed
                        .iter()
                        .cloned()
                        .fold(f64::INFINITY, f64::min);
                    assert!(
                        kept <= removed + 1e-12,
                        "global at {percent}%: kept {longest_kept:?} removed {shortest_removed:?}"
                    );
                }
            }
            // Installed masks really zero those weights in the forward pass.
            net.set_keep_masks(Some(masks.masks.clone())).unwrap();
            for (w, m) in net.weights().unwrap().iter().zip(&masks.masks) {
                let off = w
                    .mul(&(1.0 - m).unwrap())
                    .unwrap()
                    .abs()
                    .unwrap()
                    .sum_all()
                    .unwrap();
                assert_eq!(off.to_scalar::<f64>().unwrap(), 0.0);
            }
        }
    }
    // Pruning everything leaves only the biases; removing the masks restores the network.
    let x = Tensor::rand(0f64, 1.0, (3, 40), &Device::Cpu).unwrap();
    net.set_keep_masks(None).unwrap();
    let full = net.forward(&x).unwrap().to_vec2::<f64>().unwrap();
    let everything = MagnitudeRanking::new(&net.weights().unwrap(), PruneScope::Layer)
        .unwrap()
        .masks(100.0)
        .unwrap();
    assert_eq!(everything.kept, 0);
    net.set_keep_masks(Some(everything.masks)).unwrap();
    let pruned = net.forward(&x).unwrap().to_vec2::<f64>().unwrap();
    assert_ne!(full, pruned);
    net.set_keep_masks(None).unwrap();
    assert_eq!(full, net.forward(&x).unwrap().to_vec2::<f64>().unwrap());
}

/// A network that prunes in its forward pass (`Config::pruning`) computes exactly what the
/// same network computes with those masks installed, for every kind; the masks keep the
/// right share of each layer; and no gradient reaches a pruned weight.
#[test]
fn pruning_during_the_forward_pass_masks_ranks_afresh_and_stops_gradients() {
    use neuropos_models::prune::Pruning;
    for kind in ModelKind::ALL {
        let mut cfg = Config::new(kind, 30, &[40], 6, 3);
        cfg.init.coord_half_width = 2.0;
        cfg.pruning = Some(Pruning {
            percent: 60.0,
            scope: PruneScope::Layer,
        });
        let vars = VarMap::new();
        let mut net = Network::seeded(&cfg, &vars, 9, DType::F32, &Device::Cpu).unwrap();
        let x = Tensor::rand(0f32, 1.0, (8, 30), &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32, 1, 2, 3, 4, 5, 0, 1], &Device::Cpu).unwrap();
        let masks = net
            .pruning_masks()
            .unwrap()
            .expect("a pruning config gives masks");
        for (m, total) in masks.iter().zip([30 * 40, 40 * 6]) {
            let kept = m.sum_all().unwrap().to_scalar::<f32>().unwrap() as usize;
            assert_eq!(kept, total - removed_count(total, 60.0), "{kind}");
        }
        let dynamic = outputs(&net, &x);
        let loss = net.loss(&x, &y).unwrap();
        let grads = loss.backward().unwrap();
        net.set_keep_masks(Some(masks.clone())).unwrap();
        let installed = outputs(&net, &x);
        assert_eq!(dynamic, installed, "{kind}");
        if !kind.is_embedded() {
            // A free weight's gradient is exactly zero where the mask removed it.
            let data = vars.data().lock().unwrap();
            for (c, m) in masks.iter().enumerate() {
                let w = data[&format!("linear.{c}.weight")].as_tensor();
                let g = grads
                    .get(w)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                let m = m.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                assert!(
                    g.iter().zip(&m).all(|(g, m)| *m == 1.0 || *g == 0.0),
                    "{kind} {c}"
                );
                assert!(
                    g.iter().zip(&m).any(|(g, m)| *m == 1.0 && *g != 0.0),
                    "{kind} {c}"
                );
            }
        }
        // The ranking follows the weights: move them and the masks change.
        net.set_keep_masks(None).unwrap();
        for var in vars.all_vars() {
            let moved = var.as_tensor().affine(1.0, 0.0).unwrap()
                + Tensor::randn(0f32, 0.5, var.shape(), &Device::Cpu).unwrap();
            var.set(&moved.unwrap()).unwrap();
        }
        let after = net.pruning_masks().unwrap().unwrap();
        let same = after
            .iter()
            .zip(&masks)
            .all(|(a, b)| a.to_vec2::<f32>().unwrap() == b.to_vec2::<f32>().unwrap());
        assert!(!same, "{kind}: masks did not follow the moved weights");
    }
}

/// `effective` ranking removes first the wires of a presynaptic neuron whose mask is ~0 (they
/// carry nothing, however short); compensation moves the removed connections' mean current into
/// the biases, so a pruned layer's mean pre-activation over the compensation images is what it
/// was before pruning.
#[test]
fn effective_ranking_and_bias_compensation() {
    use neuropos_models::prune::{compensate, ranked_weights, save_biases, Rank};
    let cfg = Config::new(ModelKind::Mlp3d, 20, &[16], 4, 3);
    let vars = VarMap::new();
    let mut net = Network::seeded(&cfg, &vars, 5, DType::F32, &Device::Cpu).unwrap();
    // Input neuron 3 inhibition 0: mask 0, so its 16 wires act with weight 0.
    {
        let data = vars.data().lock().unwrap();
        let v = &data["layers.0.inhibition"];
        let mut values = v.as_tensor().to_vec1::<f32>().unwrap();
        values[3] = 0.0;
        v.set(&Tensor::new(values, &Device::Cpu).unwrap()).unwrap();
    }
    let weights = ranked_weights(&net, Rank::Effective).unwrap();
    let masks = MagnitudeRanking::new(&weights, PruneScope::Layer)
        .unwrap()
        .masks(5.0) // 16 of 320 in the first layer
        .unwrap();
    let first = masks.masks[0].to_vec2::<f32>().unwrap();
    assert!(
        first.iter().all(|row| row[3] == 0.0),
        "the silent neuron's wires stay"
    );

    let x = Tensor::rand(0f32, 1.0, (64, 20), &Device::Cpu).unwrap();
    let mean_current = |net: &Network| {
        net.synapses()[0]
            .forward(&x)
            .unwrap()
            .mean(0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let before = mean_current(&net);
    let masks = MagnitudeRanking::new(
        &ranked_weights(&net, Rank::Distance).unwrap(),
        PruneScope::Layer,
    )
    .unwrap()
    .masks(50.0)
    .unwrap()
    .masks;
    let saved = save_biases(&net, &vars).unwrap();
    net.set_keep_masks(Some(masks.clone())).unwrap();
    let pruned = mean_current(&net);
    compensate(&net, &vars, &masks, None, &x).unwrap();
    let compensated = mean_current(&net);
    let moved: f32 = before.iter().zip(&pruned).map(|(a, b)| (a - b).abs()).sum();
    assert!(
        moved > 1e-3,
        "pruning half the weights did not move the mean current"
    );
    for (a, b) in before.iter().zip(&compensated) {
        assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "{a} vs {b}");
    }
    neuropos_models::prune::restore_biases(&vars, &saved).unwrap();
    assert_eq!(
        mean_current(&net),
        pruned,
        "restored biases give the uncompensated current"
    );
}

/// Removing hidden neurons gives a smaller network of the same kind, with the expected shapes
/// and parameter count, that computes what the full network computes with those neurons'
/// outgoing wires cut.
#[test]
fn whole_neuron_pruning_makes_a_smaller_equivalent_network() {
    use neuropos_models::prune::{neuron_scores, neurons_to_keep, remove_neurons, NeuronScore};
    for (kind, score) in [
        (ModelKind::Mlp3dRelaxed, NeuronScore::Outgoing),
        (ModelKind::Mlp3dGaps, NeuronScore::Variance),
        (ModelKind::Mlp, NeuronScore::Outgoing),
        (ModelKind::Snn3d, NeuronScore::Variance),
    ] {
        let mut cfg = Config::new(kind, 12, &[20, 15], 4, 3);
        cfg.init.coord_half_width = 2.0;
        let vars = VarMap::new();
        let mut full = Network::seeded(&cfg, &vars, 2, DType::F32, &Device::Cpu).unwrap();
        let x = Tensor::rand(0f32, 1.0, (9, 12), &Device::Cpu).unwrap();
        let scores = neuron_scores(&full, score, &x).unwrap();
        let keep = neurons_to_keep(&scores, 40.0);
        assert_eq!((keep[0].len(), keep[1].len()), (12, 9), "{kind}");
        let (small_cfg, small_vars) = remove_neurons(&full, &vars, &keep).unwrap();
        assert_eq!(small_cfg.layers, vec![12, 12, 9, 4]);
        let counted: usize = small_vars.all_vars().iter().map(|v| v.elem_count()).sum();
        assert_eq!(counted, small_cfg.parameter_count(), "{kind}");
        let small = Network::seeded(&small_cfg, &small_vars, 0, DType::F32, &Device::Cpu).unwrap();
        // The full network with every removed neuron's outgoing wires cut (masks [n_out, n_in]).
        let masks: Vec<Tensor> = (0..3)
            .map(|c| {
                let (n_in, n_out) = (cfg.layers[c], cfg.layers[c + 1]);
                let kept_inputs: Vec<bool> = match c {
                    0 => vec![true; n_in],
                    _ => (0..n_in)
                        .map(|i| keep[c - 1].contains(&(i as u32)))
                        .collect(),
                };
                let values: Vec<f32> = (0..n_out * n_in)
                    .map(|k| f32::from(u8::from(kept_inputs[k % n_in])))
                    .collect();
                Tensor::from_vec(values, (n_out, n_in), &Device::Cpu).unwrap()
            })
            .collect();
        full.set_keep_masks(Some(masks)).unwrap();
        let a = outputs(&full, &x);
        let b = outputs(&small, &x);
        let scale = a.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() <= 1e-5 * scale, "{kind}: {u} vs {v}");
        }
    }
}

//! The plain-ops path — what CUDA and Metal run — trains, prunes and evaluates every model kind
//! end to end, and agrees with the fused CPU kernels: the same loss, gradients, step, and
//! predictions with and without pruning.
//!
//! One test function: the kernels are switched off process-wide (`device::set_fused_kernels`),
//! and the tests of one file share a process.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Optimizer, VarMap};
use neuropos_models::config::WeightScale;
use neuropos_models::prune::{MagnitudeRanking, PruneScope, Pruning};
use neuropos_models::training::{adam, predict};
use neuropos_models::{data, device, Config, ModelKind, Network};

struct Outcome {
    loss: f32,
    /// Per variable, by name.
    grads: Vec<(String, Vec<f32>)>,
    loss_after_step: f32,
    /// `Network::forward` on the test images: logits (MLP) or spike counts (SNN).
    scores: Vec<f32>,
    predictions: Vec<u32>,
    pruned_scores: Vec<f32>,
    pruned_predictions: Vec<u32>,
    pruned_loss: f32,
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn scalar(t: &Tensor) -> f32 {
    t.to_scalar::<f32>().unwrap()
}

/// Forward, backward and one Adam step on `x`/`y`, then predictions on `test`, unpruned and with
/// half the weights of every layer pruned.
fn outcome(
    (kind, scale): (ModelKind, WeightScale),
    fused: bool,
    pruning: Option<Pruning>,
    (x, y, test): (&Tensor, &Tensor, &Tensor),
) -> Outcome {
    device::set_fused_kernels(fused);
    let mut cfg = Config::mnist(kind, &[48], 3);
    cfg.pruning = pruning;
    cfg.weight_scale = scale;
    let vars = VarMap::new();
    let mut net = Network::seeded(&cfg, &vars, 0, DType::F32, &Device::Cpu).unwrap();
    // Learned scales away from their start, one up and one down: a path that dropped or
    // squared the scale would differ.
    for (l, s) in [(0, 1.6f32), (1, 0.7)] {
        if let Some(var) = vars
            .data()
            .lock()
            .unwrap()
            .get(&format!("layers.{l}.scale"))
        {
            var.set(&Tensor::new(&[s], &Device::Cpu).unwrap()).unwrap();
        }
    }
    let loss = net.loss(x, y).unwrap();
    let grads = loss.backward().unwrap();
    let mut named: Vec<(String, Vec<f32>)> = vars
        .data()
        .lock()
        .unwrap()
        .iter()
        .map(|(name, var)| {
            let g = grads.get(var.as_tensor()).map(values);
            let g = g.unwrap_or_else(|| panic!("{kind}: no gradient for {name}"));
            (name.clone(), g)
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut opt = adam(&vars, kind.paper_learning_rate()).unwrap();
    opt.step(&grads).unwrap();
    let loss_after_step = scalar(&net.loss(x, y).unwrap());
    let scores = values(&net.forward(test).unwrap());
    let predictions = predict(&net, test, 100).unwrap();
    let ranking = MagnitudeRanking::new(&net.weights().unwrap(), PruneScope::Layer).unwrap();
    let masks = ranking.masks(50.0).unwrap();
    net.set_keep_masks(Some(masks.masks)).unwrap();
    let pruned_loss = scalar(&net.loss(x, y).unwrap());
    let pruned_scores = values(&net.forward(test).unwrap());
    let pruned_predictions = predict(&net, test, 100).unwrap();
    device::set_fused_kernels(true);
    Outcome {
        loss: scalar(&loss),
        grads: named,
        loss_after_step,
        scores,
        predictions,
        pruned_scores,
        pruned_predictions,
        pruned_loss,
    }
}

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-6)
}

fn agreement(a: &[u32], b: &[u32]) -> f64 {
    a.iter().zip(b).filter(|(p, q)| p == q).count() as f64 / a.len() as f64
}

#[test]
fn plain_ops_train_prune_and_evaluate_every_kind_like_the_kernels() {
    let mnist = data::load_dir(&data::default_dir(), true)
        .unwrap()
        .limit_train(120)
        .unwrap()
        .limit_test(400)
        .unwrap();
    let (x, y, test) = (&mnist.train_images, &mnist.train_labels, &mnist.test_images);
    let learned = ModelKind::ALL
        .into_iter()
        .filter(|k| k.is_embedded())
        .map(|k| (k, WeightScale::Learned));
    let cases: Vec<(ModelKind, WeightScale)> = ModelKind::ALL
        .into_iter()
        .map(|k| (k, WeightScale::Fixed))
        .chain(learned)
        .collect();
    for case in cases {
        let kind = case.0;
        // Pruning in every forward pass (the ranking, its masks, the masked ops) agrees too.
        let during = Some(Pruning {
            percent: 80.0,
            scope: PruneScope::Global,
        });
        let (fused, plain) = (
            outcome(case, true, during, (x, y, test)),
            outcome(case, false, during, (x, y, test)),
        );
        assert!(
            close(fused.loss, plain.loss, 1e-4)
                && close(fused.loss_after_step, plain.loss_after_step, 1e-3),
            "{kind} pruned during: losses fused {} / {} vs plain {} / {}",
            fused.loss,
            fused.loss_after_step,
            plain.loss,
            plain.loss_after_step
        );
        let fused = outcome(case, true, None, (x, y, test));
        let plain = outcome(case, false, None, (x, y, test));
        for o in [&fused, &plain] {
            assert!(o.loss.is_finite() && o.pruned_loss.is_finite(), "{kind}");
            assert!(
                o.loss_after_step < o.loss,
                "{kind}: one Adam step did not lower the batch loss ({} → {})",
                o.loss,
                o.loss_after_step
            );
        }
        assert!(
            close(fused.loss, plain.loss, 1e-4),
            "{kind}: loss fused {} vs plain {}",
            fused.loss,
            plain.loss
        );
        assert!(
            close(fused.loss_after_step, plain.loss_after_step, 1e-3),
            "{kind}: loss after a step fused {} vs plain {}",
            fused.loss_after_step,
            plain.loss_after_step
        );
        assert!(
            close(fused.pruned_loss, plain.pruned_loss, 1e-3),
            "{kind}: pruned loss fused {} vs plain {}",
            fused.pruned_loss,
            plain.pruned_loss
        );
        assert_eq!(fused.grads.len(), plain.grads.len());
        for ((name, a), (_, b)) in fused.grads.iter().zip(&plain.grads) {
            let scale = b.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
            for (i, (u, v)) in a.iter().zip(b).enumerate() {
                assert!(
                    (u - v).abs() <= 2e-3 * scale,
                    "{kind}: gradient of {name}[{i}] fused {u} vs plain {v} (scale {scale})"
                );
            }
        }
        // Barely trained networks give near-equal class scores, so their argmax says little:
        // compare the logits of MLPs, the spike counts of SNNs (integers, which a membrane a
        // rounding away from the threshold could change by one). An SNN this young is mostly
        // silent, and its predictions fall to the membrane tie-break, where the two paths'
        // rounding decides between near-equal sums: those are only checked loosely.
        for (what, a, b, p, q) in [
            (
                "unpruned",
                &fused.scores,
                &plain.scores,
                &fused.predictions,
                &plain.predictions,
            ),
            (
                "pruned",
                &fused.pruned_scores,
                &plain.pruned_scores,
                &fused.pruned_predictions,
                &plain.pruned_predictions,
            ),
        ] {
            if kind.is_spiking() {
                let equal = a.iter().zip(b.iter()).filter(|(u, v)| u == v).count();
                let share = equal as f64 / a.len() as f64;
                assert!(
                    share >= 0.99 && a.iter().sum::<f32>() > 0.0,
                    "{kind}: {what} spike counts equal for {share:.3} of the outputs"
                );
                let share = agreement(p, q);
                assert!(
                    share >= 0.8,
                    "{kind}: {what} predictions agree on {share:.3} of the test images"
                );
            } else {
                let scale = b.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
                for (i, (u, v)) in a.iter().zip(b.iter()).enumerate() {
                    assert!(
                        (u - v).abs() <= 1e-4 * scale,
                        "{kind}: {what} logit {i} fused {u} vs plain {v}"
                    );
                }
            }
        }
    }
}

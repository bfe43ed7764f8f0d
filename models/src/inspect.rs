//! Looking inside a trained network: where its neurons sit (projected to a plane for d > 3) and
//! what each layer does for an input. What `neuropos viz` draws and the viewer page shows.

use candle_core::{DType, Device, Result, Tensor};

use crate::Network;

fn to_rows(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    t.to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .to_vec2::<f64>()
}

/// The two leading principal axes of `rows` (power iteration on the covariance, deterministic
/// start), and the mean.
fn principal_plane(rows: &[Vec<f64>]) -> (Vec<f64>, [Vec<f64>; 2]) {
    let d = rows[0].len();
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..d)
        .map(|k| rows.iter().map(|r| r[k]).sum::<f64>() / n)
        .collect();
    let mut cov = vec![vec![0.0; d]; d];
    for r in rows {
        for a in 0..d {
            for b in 0..d {
                cov[a][b] += (r[a] - mean[a]) * (r[b] - mean[b]) / n;
            }
        }
    }
    let mut axes: Vec<Vec<f64>> = Vec::new();
    for k in 0..2 {
        let mut v: Vec<f64> = (0..d).map(|i| if i == k { 1.0 } else { 0.1 }).collect();
        for _ in 0..200 {
            let mut w: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a][b] * v[b]).sum())
                .collect();
            for prev in &axes {
                let dot: f64 = w.iter().zip(prev).map(|(x, y)| x * y).sum();
                w.iter_mut().zip(prev).for_each(|(x, y)| *x -= dot * y);
            }
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            v = w.iter().map(|x| x / norm).collect();
        }
        axes.push(v);
    }
    let [a, b]: [Vec<f64>; 2] = axes.try_into().expect("two axes");
    (mean, [a, b])
}

/// The principal plane of all neurons' free coordinates (d > 3): the mean and two axes.
pub type Plane = Option<(Vec<f64>, [Vec<f64>; 2])>;

/// Per layer, every neuron's full position (the layer axis last) and its free coordinates, and
/// for d > 3 the [`Plane`] that the static figure and the viewer both draw them on.
#[allow(clippy::type_complexity)]
pub fn layer_positions(
    neurons: &[crate::layers::embedded::Neurons],
    dim: usize,
) -> Result<(Vec<Vec<Vec<f64>>>, Vec<Vec<Vec<f64>>>, Plane)> {
    let full: Vec<Vec<Vec<f64>>> = neurons
        .iter()
        .map(|n| to_rows(&n.positions()?))
        .collect::<Result<_>>()?;
    let free: Vec<Vec<Vec<f64>>> = full
        .iter()
        .map(|rows| rows.iter().map(|r| r[..r.len() - 1].to_vec()).collect())
        .collect();
    let plane = (dim > 3).then(|| {
        let all: Vec<Vec<f64>> = free.iter().flatten().cloned().collect();
        principal_plane(&all)
    });
    Ok((full, free, plane))
}

pub fn project(rows: &[Vec<f64>], plane: &Plane) -> Vec<(f64, f64)> {
    rows.iter()
        .map(|r| match (plane, r.len()) {
            (Some((mean, [a, b])), _) => {
                let c: Vec<f64> = r.iter().zip(mean).map(|(x, m)| x - m).collect();
                (
                    c.iter().zip(a).map(|(x, y)| x * y).sum(),
                    c.iter().zip(b).map(|(x, y)| x * y).sum(),
                )
            }
            (None, 1) => (r[0], 0.0),
            (None, _) => (r[0], r[1]),
        })
        .collect()
}

/// Every layer's activity for each image of `images` `[B, 784]`, `[B, n_l]` per layer: the
/// pixels, then the hidden activations (MLP) or spike counts over the T steps (SNN), and the
/// output's logits (MLP) or spike counts (SNN); with the masks in force.
pub fn layer_activity(network: &Network, images: &Tensor) -> Result<Vec<Tensor>> {
    let config = network.config();
    let time_steps = config.lif.map_or(1.0, |l| l.time_steps as f64);
    let mut activity = Vec::with_capacity(config.layers.len());
    for c in 0..config.layers.len() - 1 {
        let a = network.layer_input(images, c)?;
        activity.push(if c > 0 && config.lif.is_some() {
            (a * time_steps)? // mean spikes per step → spike count
        } else {
            a
        });
    }
    activity.push(match network.run(images)? {
        crate::network::NetworkOutput::Logits(l) => l,
        crate::network::NetworkOutput::Spiking { spikes, .. } => spikes.sum(0)?,
    });
    Ok(activity)
}

/// The mean of the test images labelled `digit`, `[1, N]`, and how many there were.
pub fn average_image(mnist: &crate::data::Mnist, digit: u32) -> Result<(Tensor, usize)> {
    let labels = mnist.test_labels.to_vec1::<u32>()?;
    let picked: Vec<u32> = (0..labels.len() as u32)
        .filter(|&i| labels[i as usize] == digit)
        .collect();
    let n = picked.len();
    let idx = Tensor::from_vec(picked, n, &Device::Cpu)?;
    Ok((mnist.test_images.index_select(&idx, 0)?.mean_keepdim(0)?, n))
}

/// What each neuron passes on for `image` `[1, N]`, on the host: its activity times its
/// inhibition mask (the output layer: logits or spike counts, unmasked); and the output neuron
/// with the largest value (the prediction).
pub fn passed_on(network: &Network, image: &Tensor) -> Result<(Vec<Vec<f64>>, usize)> {
    let mut activity: Vec<Vec<f64>> = layer_activity(network, image)?
        .iter()
        .map(crate::device::host_f64)
        .collect::<Result<_>>()?;
    let depth = activity.len();
    let predicted = activity[depth - 1]
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    if let Some(embedding) = network.embedding() {
        let steepness = network.config().steepness;
        for (c, n) in embedding.neurons().iter().enumerate().take(depth - 1) {
            if let Some(inhibition) = &n.inhibition {
                let mask = crate::geometry::inhibition_mask(inhibition, steepness)?;
                let m = crate::device::host_f64(&mask)?;
                activity[c].iter_mut().zip(&m).for_each(|(a, m)| *a *= m);
            }
        }
    }
    Ok((activity, predicted))
}

/// The `k` shortest and `k` longest wires between layers `pre` and `post` (full positions):
/// `(i, j, long)` per wire, shortest first.
pub fn extreme_wires(pre: &[Vec<f64>], post: &[Vec<f64>], k: usize) -> Vec<(usize, usize, bool)> {
    let mut d: Vec<(f64, usize, usize)> = Vec::with_capacity(pre.len() * post.len());
    for (i, p) in pre.iter().enumerate() {
        for (j, q) in post.iter().enumerate() {
            let dist: f64 = p.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum();
            d.push((dist, i, j));
        }
    }
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    let k = k.min(d.len() / 2);
    let shortest = d[..k].iter().map(|&(_, i, j)| (i, j, false));
    let longest = d[d.len() - k..].iter().map(|&(_, i, j)| (i, j, true));
    shortest.chain(longest).collect()
}

/// Each layer's positions on the layer axis (the last coordinate), on the host.
pub fn layer_z(network: &Network) -> Result<Vec<Vec<f64>>> {
    let Some(embedding) = network.embedding() else {
        return Ok(Vec::new());
    };
    embedding
        .neurons()
        .iter()
        .map(|n| {
            let p = n.positions()?;
            let d = p.dim(1)?;
            crate::device::host_f64(&p.narrow(1, d - 1, 1)?.flatten_all()?)
        })
        .collect()
}

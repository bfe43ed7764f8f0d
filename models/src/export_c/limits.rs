//! A pruned embedded layer as one number: its weights are `1/distance` and pruning by distance
//! removes the smallest of them, so what is kept is every wire shorter than a limit. The limit
//! is read off the mask the network runs with (the farthest kept wire), on the distances the C
//! code computes, and the wires on which that reading and the mask disagree are counted
//! (only ties at the cut-off, which `eval` breaks by position, can disagree).

use crate::{Error, Result};

/// Where one synapse layer's neurons are, as the C code sees them.
pub(super) struct Geometry<'a> {
    /// Free coordinates per neuron, `[n][free]`, of the sending and the receiving layer.
    pub senders: &'a [f32],
    pub receivers: &'a [f32],
    pub free: usize,
    /// The squared distance along the layer axis: a constant (fixed, gaps) or per pair
    /// (relaxed: each neuron's z).
    pub axis: Axis<'a>,
    pub epsilon: f32,
}

pub(super) enum Axis<'a> {
    Constant(f32),
    PerNeuron {
        senders: &'a [f32],
        receivers: &'a [f32],
    },
}

impl Geometry<'_> {
    /// The squared distance of the wire from sender `i` to receiver `k`, with the C code's
    /// operations in the C code's order.
    pub fn distance2(&self, i: usize, k: usize) -> f32 {
        let mut d = match self.axis {
            Axis::Constant(dz2) => dz2,
            Axis::PerNeuron { senders, receivers } => {
                let dz = senders[i] - receivers[k];
                dz * dz
            }
        };
        let f = self.free;
        for c in 0..f {
            let e = self.senders[i * f + c] - self.receivers[k * f + c];
            d += e * e;
        }
        d.max(self.epsilon)
    }

    /// The least squared distance along the axis between any sender and any receiver.
    pub fn least_axis2(&self) -> f32 {
        match self.axis {
            Axis::Constant(dz2) => dz2,
            Axis::PerNeuron { senders, receivers } => {
                let range = |v: &[f32]| {
                    v.iter()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                            (lo.min(x), hi.max(x))
                        })
                };
                let ((s0, s1), (r0, r1)) = (range(senders), range(receivers));
                let gap = (r0 - s1).max(s0 - r1).max(0.0);
                gap * gap
            }
        }
    }
}

/// A layer's pruning as a limit on the squared distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Limit {
    /// Wires with a squared distance at most this are kept.
    pub distance2: f32,
    /// Wires the limit keeps and the mask removes, or the other way round.
    pub disagreeing: usize,
    pub wires: usize,
}

/// The limit that `keep` (`[n_out][n_in]`, 1 kept, 0 removed) follows, `None` when it keeps
/// every wire. More than one disagreeing wire in a thousand means the mask is not a distance
/// threshold (ranked by the effective weight, say): refused.
pub(super) fn limit(layer: usize, geometry: &Geometry, keep: &[f32]) -> Result<Option<Limit>> {
    let n_in = geometry.senders.len() / geometry.free.max(1);
    let n_out = geometry.receivers.len() / geometry.free.max(1);
    if keep.len() != n_in * n_out {
        return Err(Error::Config(format!(
            "synapse layer {layer}: a mask of {} entries for {n_out} × {n_in} wires",
            keep.len()
        )));
    }
    if keep.iter().all(|&k| k != 0.0) {
        return Ok(None);
    }
    let distance = |w: usize| geometry.distance2(w % n_in, w / n_in);
    let farthest_kept = (0..keep.len())
        .filter(|&w| keep[w] != 0.0)
        .map(distance)
        .fold(f32::NEG_INFINITY, f32::max);
    let disagreeing = (0..keep.len())
        .filter(|&w| (keep[w] != 0.0) != (distance(w) <= farthest_kept))
        .count();
    if disagreeing * 1000 > keep.len() {
        return Err(Error::Config(format!(
            "synapse layer {layer}: its pruning is not a distance threshold ({disagreeing} of {} \
             wires are removed although nearer than the farthest kept one — a mask ranked by the \
             effective weight?); the C export writes pruning of embedded layers as a distance",
            keep.len()
        )));
    }
    Ok(Some(Limit {
        distance2: farthest_kept,
        disagreeing,
        wires: keep.len(),
    }))
}

/// Cells over the first one or two free coordinates of a layer's senders, so a receiver visits
/// only the senders in the cells its limit reaches. `x0`, `y0`: the lower corner; `cell`: the
/// side; `nx` × `ny` cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Grid {
    pub x0: f32,
    pub y0: f32,
    pub cell: f32,
    pub nx: usize,
    pub ny: usize,
    /// The radius in the gridded coordinates within which a kept sender can lie.
    pub radius: f32,
}

/// At most this many cells a side: the row starts live on the stack, `(nx·ny + 1)` ints.
const MOST_CELLS: usize = 32;

/// A grid for the senders of `geometry` under `limit`: cells of a quarter of the radius (a
/// receiver visits a square of side 2.25 radii, 1.6 times the disc its limit keeps), at most
/// [`MOST_CELLS`] a side.
pub(super) fn grid(geometry: &Geometry, limit: &Limit) -> Grid {
    let f = geometry.free;
    let axes = f.min(2);
    let range = |c: usize| {
        (0..geometry.senders.len() / f)
            .map(|i| geometry.senders[i * f + c])
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            })
    };
    let (x_lo, x_hi) = range(0);
    let (y_lo, y_hi) = if axes == 2 { range(1) } else { (0.0, 0.0) };
    let radius = (limit.distance2 - geometry.least_axis2()).max(0.0).sqrt() * 1.001;
    let span = (x_hi - x_lo).max(y_hi - y_lo).max(f32::MIN_POSITIVE);
    let cell = (radius / 4.0).max(span / MOST_CELLS as f32 * 1.0001);
    let count = |lo: f32, hi: f32| (((hi - lo) / cell) as usize + 1).min(MOST_CELLS);
    Grid {
        x0: x_lo,
        y0: y_lo,
        cell,
        nx: count(x_lo, x_hi),
        ny: if axes == 2 { count(y_lo, y_hi) } else { 1 },
        radius,
    }
}

/// The receivers of a layer (free coordinates `[n][free]`) in the order of `grid`'s cells: row
/// by row, each row walked the other way from the last (so consecutive neurons stay close
/// across a row's end), by x within a cell. Returns the neuron at each new place.
pub(super) fn cell_order(receivers: &[f32], free: usize, grid: &Grid) -> Vec<usize> {
    let n = receivers.len() / free.max(1);
    let cell = |v: f32, lo: f32, count: usize| -> i64 {
        let t = (v - lo) / grid.cell;
        if t.is_nan() || t <= 0.0 {
            0
        } else {
            (t as i64).min(count as i64 - 1)
        }
    };
    let key = |j: usize| {
        let x = receivers[j * free];
        let y = if free >= 2 {
            receivers[j * free + 1]
        } else {
            0.0
        };
        let row = cell(y, grid.y0, grid.ny);
        let col = cell(x, grid.x0, grid.nx);
        let serpentine = if row % 2 == 0 { col } else { -col };
        (row, serpentine, x)
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (key(a), key(b));
        (ka.0, ka.1).cmp(&(kb.0, kb.1)).then(ka.2.total_cmp(&kb.2))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    #[test]
    fn a_mask_by_distance_is_its_farthest_kept_wire() {
        let (s, r) = (line(6), vec![0.0, 5.0]);
        let g = Geometry {
            senders: &s,
            receivers: &r,
            free: 1,
            axis: Axis::Constant(1.0),
            epsilon: 1e-6,
        };
        // Receiver 0 keeps senders 0..=2, receiver 1 senders 3..=5: |dx| ≤ 2.
        let keep = [1., 1., 1., 0., 0., 0., 0., 0., 0., 1., 1., 1.];
        let l = limit(0, &g, &keep).unwrap().unwrap();
        assert_eq!(l.distance2, 5.0);
        assert_eq!(l.disagreeing, 0);
        assert_eq!(limit(0, &g, &[1.0; 12]).unwrap(), None);
        // A mask that keeps far wires and drops near ones is refused.
        let odd = [0., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 0.];
        assert!(limit(0, &g, &odd).is_err());
    }

    #[test]
    fn the_grid_covers_every_sender_and_the_radius() {
        let s: Vec<f32> = (0..100)
            .flat_map(|i| [(i % 10) as f32, (i / 10) as f32])
            .collect();
        let r = vec![4.5, 4.5];
        let g = Geometry {
            senders: &s,
            receivers: &r,
            free: 2,
            axis: Axis::Constant(1.0),
            epsilon: 1e-6,
        };
        let grid = grid(
            &g,
            &Limit {
                distance2: 5.0,
                disagreeing: 0,
                wires: 100,
            },
        );
        assert!(grid.radius >= 2.0);
        // The order is a permutation, row by row, alternating direction.
        let order = cell_order(&s, 2, &grid);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        let first_row: Vec<usize> = order.iter().copied().filter(|&j| j < 10).collect();
        assert!(first_row.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(grid.x0 + grid.cell * grid.nx as f32 > 9.0);
        assert!(grid.y0 + grid.cell * grid.ny as f32 > 9.0);
    }
}

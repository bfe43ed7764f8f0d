//! A seeded `VarBuilder` backend, so the same seed gives bit-identical initial parameters on
//! every device (Candle's CPU RNG cannot be seeded).

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

/// Creates missing variables from a seeded RNG and stores them in a [`VarMap`]; existing ones
/// are returned as they are. Values are drawn in f64 on the host, then cast and moved, so they
/// do not depend on the device.
pub struct SeededVarMap {
    vars: VarMap,
    rng: Mutex<StdRng>,
}

impl SeededVarMap {
    pub fn new(vars: VarMap, seed: u64) -> Self {
        SeededVarMap {
            vars,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// A `VarBuilder` whose variables land in `vars`, initialised from `seed`.
    pub fn var_builder(
        vars: &VarMap,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> VarBuilder<'static> {
        VarBuilder::from_backend(
            Box::new(SeededVarMap::new(vars.clone(), seed)),
            dtype,
            device.clone(),
        )
    }

    fn sample(&self, shape: &Shape, init: Init) -> Result<Vec<f64>> {
        let n = shape.elem_count();
        let mut rng = self
            .rng
            .lock()
            .map_err(|_| candle_core::Error::Msg("initialisation RNG poisoned".into()))?;
        Ok(match init {
            Init::Const(c) => vec![c; n],
            Init::Uniform { lo, up } => (0..n)
                .map(|_| lo + (up - lo) * rng.random::<f64>())
                .collect(),
            Init::Randn { mean, stdev } => (0..n)
                .map(|_| {
                    // Box–Muller: one normal per pair of uniforms keeps the stream simple.
                    let u1: f64 = 1.0 - rng.random::<f64>();
                    let u2: f64 = rng.random::<f64>();
                    mean + stdev * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
                })
                .collect(),
            Init::Kaiming { .. } => candle_core::bail!(
                "Kaiming hints are not used by neuropos models; pass an explicit Uniform bound"
            ),
        })
    }
}

impl SimpleBackend for SeededVarMap {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut data = self
            .vars
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("variable map poisoned".into()))?;
        if let Some(existing) = data.get(name) {
            let t = existing.as_tensor();
            if t.shape() != &s {
                candle_core::bail!("variable {name} has shape {:?}, expected {s:?}", t.shape());
            }
            return Ok(t.clone());
        }
        let values = self.sample(&s, h)?;
        let t = Tensor::from_vec(values, s, &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(dev)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        let data = self
            .vars
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("variable map poisoned".into()))?;
        data.get(name)
            .map(|v| v.as_tensor().clone())
            .ok_or_else(|| candle_core::Error::CannotFindTensor { path: name.into() })
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.vars
            .data()
            .lock()
            .map(|d| d.contains_key(name))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_values_other_seed_other_values() {
        let draw = |seed| {
            let vars = VarMap::new();
            let vb = SeededVarMap::var_builder(&vars, seed, DType::F32, &Device::Cpu);
            vb.get_with_hints(100, "x", Init::Uniform { lo: -1.0, up: 1.0 })
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        assert!(draw(3).iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}

/// The free coordinates `[n, free]` (row-major) of layer `layer` of `depth` layers in the grid
/// layout, spanning ±`half`: the input layer of a square image (784 = 28²) on its pixel grid in
/// reading order, so neighbouring pixels start as neighbours; hidden layers on a grid of ⌈√n⌉
/// columns, filled row by row; the output layer on a circle of radius `half`/2. Free
/// coordinates beyond the first two start at 0; with one free coordinate (d = 2) every layer is
/// spread evenly along it.
pub fn grid_coords(n: usize, free: usize, layer: usize, depth: usize, half: f64) -> Vec<f64> {
    grid_coords_on(n, free, layer, depth, half, None)
}

/// [`grid_coords`] with the input image's `(columns, channels)` when it is not a square of one
/// channel: its pixels on their real grid, the channels of a pixel together (spread along a
/// third free coordinate where there is one).
pub fn grid_coords_on(
    n: usize,
    free: usize,
    layer: usize,
    depth: usize,
    half: f64,
    image: Option<(usize, usize)>,
) -> Vec<f64> {
    let mut out = vec![0.0; n * free];
    let spread = |k: usize, m: usize| {
        if m <= 1 {
            0.0
        } else {
            -half + 2.0 * half * k as f64 / (m - 1) as f64
        }
    };
    for i in 0..n {
        let row = &mut out[i * free..(i + 1) * free];
        if free == 1 {
            row[0] = spread(i, n);
        } else if layer + 1 == depth && layer > 0 {
            let angle = std::f64::consts::TAU * i as f64 / n as f64;
            row[0] = 0.5 * half * angle.cos();
            row[1] = 0.5 * half * angle.sin();
        } else if let (0, Some((columns, channels))) = (layer, image) {
            let pixel = i / channels;
            let rows = (n / channels).div_ceil(columns);
            row[0] = spread(pixel % columns, columns);
            row[1] = -spread(pixel / columns, rows);
            if free > 2 {
                row[2] = spread(i % channels, channels);
            }
        } else {
            let side = (n as f64).sqrt().ceil() as usize;
            let rows = n.div_ceil(side);
            row[0] = spread(i % side, side);
            // Image rows run downwards.
            row[1] = -spread(i / side, rows);
        }
    }
    out
}

#[cfg(test)]
mod grid_tests {
    use super::*;

    #[test]
    fn the_input_layer_sits_on_the_pixel_grid() {
        let c = grid_coords(784, 2, 0, 3, 10.0);
        // Pixel (row 0, column 0) top left, (0, 27) top right, (27, 0) bottom left.
        assert_eq!((c[0], c[1]), (-10.0, 10.0));
        assert_eq!((c[2 * 27], c[2 * 27 + 1]), (10.0, 10.0));
        assert_eq!((c[2 * 27 * 28], c[2 * 27 * 28 + 1]), (-10.0, -10.0));
        // Neighbouring pixels 20/27 apart.
        assert!((c[2] - c[0] - 20.0 / 27.0).abs() < 1e-12);
    }

    #[test]
    fn hidden_grid_output_circle_and_extra_coordinates() {
        let h = grid_coords(2048, 4, 1, 3, 10.0);
        assert!(h
            .chunks(4)
            .all(|p| p[0].abs() <= 10.0 && p[1].abs() <= 10.0));
        assert!(h.chunks(4).all(|p| p[2] == 0.0 && p[3] == 0.0));
        let distinct: std::collections::HashSet<(i64, i64)> = h
            .chunks(4)
            .map(|p| ((p[0] * 1e6) as i64, (p[1] * 1e6) as i64))
            .collect();
        assert_eq!(
            distinct.len(),
            2048,
            "every hidden neuron on its own grid point"
        );
        let o = grid_coords(10, 2, 2, 3, 10.0);
        assert!(o.chunks(2).all(|p| (p[0].hypot(p[1]) - 5.0).abs() < 1e-12));
        let line = grid_coords(5, 1, 1, 3, 10.0);
        assert_eq!(line, vec![-10.0, -5.0, 0.0, 5.0, 10.0]);
    }
}

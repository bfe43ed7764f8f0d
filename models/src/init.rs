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

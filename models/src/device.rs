//! Device selection (`--device cpu|cuda|metal|auto`), and whether the CPU runs the fused kernels.

use candle_core::{DType, Device, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    Metal,
    /// CUDA if compiled in and present, then Metal, then the CPU.
    Auto,
}

crate::names::serde_named!(
    DeviceChoice,
    "device",
    [
        DeviceChoice::Cpu,
        DeviceChoice::Cuda,
        DeviceChoice::Metal,
        DeviceChoice::Auto
    ]
);

pub fn select(choice: DeviceChoice) -> Result<Device> {
    let unavailable = |name: &str, feature: &str| {
        Error::Config(format!(
            "device {name} requested but unavailable: build with `--features {feature}` on a machine that has one"
        ))
    };
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => {
            if candle_core::utils::cuda_is_available() {
                Ok(Device::new_cuda(0)?)
            } else {
                Err(unavailable("cuda", "cuda"))
            }
        }
        DeviceChoice::Metal => {
            if candle_core::utils::metal_is_available() {
                Ok(Device::new_metal(0)?)
            } else {
                Err(unavailable("metal", "metal"))
            }
        }
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(d) = Device::new_metal(0) {
                    return Ok(d);
                }
            }
            Ok(Device::Cpu)
        }
    }
}

static FUSED_KERNELS: AtomicBool = AtomicBool::new(true);

/// Turns the fused CPU kernels on (the default) or off for the whole process. Off, the CPU
/// runs the same plain Candle ops that CUDA and Metal run: slower, but the way to reproduce
/// (or debug) what those backends compute on a machine without them.
pub fn set_fused_kernels(enabled: bool) {
    FUSED_KERNELS.store(enabled, Ordering::Relaxed);
}

/// Whether the fused CPU kernels may run ([`set_fused_kernels`]).
pub fn fused_kernels() -> bool {
    FUSED_KERNELS.load(Ordering::Relaxed)
}

/// `t` on the CPU as a tensor that owns its memory, whatever the backend. A snapshot must be
/// this, not `Tensor::copy`: Metal's `try_clone` shares the GPU buffer, so a later `Var::set`
/// would change the "copy" too; and `to_device(&Device::Cpu)` of a CPU tensor shares its storage.
pub fn to_host(t: &Tensor) -> candle_core::Result<Tensor> {
    let host = t.to_device(&Device::Cpu)?;
    let shape = host.shape().clone();
    let flat = host.flatten_all()?;
    match t.dtype() {
        // Both widen to f32 exactly and come back unchanged.
        DType::F16 | DType::BF16 | DType::F32 => Tensor::from_vec(
            flat.to_dtype(DType::F32)?.to_vec1::<f32>()?,
            shape,
            &Device::Cpu,
        )?
        .to_dtype(t.dtype()),
        DType::F64 => Tensor::from_vec(flat.to_vec1::<f64>()?, shape, &Device::Cpu),
        DType::U8 => Tensor::from_vec(flat.to_vec1::<u8>()?, shape, &Device::Cpu),
        DType::U32 => Tensor::from_vec(flat.to_vec1::<u32>()?, shape, &Device::Cpu),
        DType::I64 => Tensor::from_vec(flat.to_vec1::<i64>()?, shape, &Device::Cpu),
        other => candle_core::bail!("no host copy for dtype {other:?}"),
    }
}

/// `t` as f64 values on the host (counts, statistics, drawing): moved to the CPU before the
/// cast, so it works on every backend.
pub fn host_f64(t: &Tensor) -> candle_core::Result<Vec<f64>> {
    t.to_device(&Device::Cpu)?
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()
}

/// How many entries of `t` are not zero, counted on the host (a mask's kept weights).
pub fn count_nonzero(t: &Tensor) -> candle_core::Result<usize> {
    Ok(host_f64(t)?.iter().filter(|&&v| v != 0.0).count())
}

/// Whether `v` is a positive, finite number once the network holds it in f32.
pub fn positive_in_f32(v: f64) -> bool {
    let narrow = v as f32;
    narrow.is_finite() && narrow > 0.0
}

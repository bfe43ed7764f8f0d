//! Device selection (`--device cpu|cuda|metal|auto`), and whether the CPU runs the fused kernels.

use candle_core::Device;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    Metal,
    /// CUDA if compiled in and present, then Metal, then the CPU.
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            "metal" => Ok(DeviceChoice::Metal),
            "auto" => Ok(DeviceChoice::Auto),
            _ => Err(format!(
                "unknown device `{s}`; expected cpu, cuda, metal or auto"
            )),
        }
    }
}

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

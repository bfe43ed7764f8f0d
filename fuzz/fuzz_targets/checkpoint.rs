//! The checkpoint loader as it reads a directory: `model.safetensors` bytes and the
//! `config.json` beside it, parsed, validated and instantiated as a network on the CPU.
//! Input: a little-endian u16 length, that many bytes of config.json (0: none), then the
//! safetensors bytes.
#![no_main]

use candle_core::{DType, Device};
use libfuzzer_sys::fuzz_target;
use neuropos_models::checkpoint;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = (u16::from_le_bytes(*len) as usize).min(rest.len());
    let (config, model) = rest.split_at(len);
    let config = (len > 0).then_some(config);
    if let Ok(ckpt) = checkpoint::parse(Path::new("fuzz/model.safetensors"), model, config) {
        if let Ok(loaded) = checkpoint::instantiate(ckpt, DType::F32, &Device::Cpu) {
            // A valid checkpoint must also run: one image through it.
            let x = candle_core::Tensor::zeros((1, loaded.info.model.layers[0]), DType::F32, &Device::Cpu)
                .unwrap();
            let _ = loaded.network.predict(&x);
        }
    }
});

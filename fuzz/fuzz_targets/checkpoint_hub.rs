//! The checkpoint loader on the `hf://` path: the same two files as `checkpoint`, placed in a
//! Hugging Face cache as a download leaves them (refs/main → a commit, snapshots/<commit>/…) and
//! loaded from there as `eval hf://…` does. The reference is resolved through the hf-hub
//! client offline (`HF_HUB_OFFLINE=1`) on every 256th input; the others load the snapshot
//! folder that resolution returns (the same files, the same loader), because setting up the
//! client costs ~50 ms and would hold the target to 18 executions a second.
#![no_main]

use candle_core::{DType, Device};
use libfuzzer_sys::fuzz_target;
use neuropos_models::checkpoint;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn cache() -> &'static std::path::Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let repo = dir.path().join("models--fuzz--ckpt");
            std::fs::create_dir_all(repo.join("refs")).unwrap();
            std::fs::create_dir_all(repo.join("snapshots").join(COMMIT)).unwrap();
            std::fs::write(repo.join("refs").join("main"), COMMIT).unwrap();
            std::env::set_var("HF_HUB_CACHE", dir.path());
            std::env::set_var("HF_HUB_OFFLINE", "1");
            dir
        })
        .path()
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let len = (u16::from_le_bytes(*len) as usize).min(rest.len());
    let (config, model) = rest.split_at(len);
    let snapshot = cache().join("models--fuzz--ckpt/snapshots").join(COMMIT);
    std::fs::write(snapshot.join("config.json"), config).unwrap();
    std::fs::write(snapshot.join("model.safetensors"), model).unwrap();
    static N: AtomicUsize = AtomicUsize::new(0);
    if N.fetch_add(1, Ordering::Relaxed) % 256 == 0 {
        let _ = neuropos_models::hub::load_pretrained("hf://fuzz/ckpt", DType::F32, &Device::Cpu);
    } else {
        let _ = checkpoint::load(&snapshot, DType::F32, &Device::Cpu);
    }
});

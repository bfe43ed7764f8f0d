//! The MNIST IDX reader: the first byte picks images or labels and whether the rest is
//! gzip-compressed, as `data::load_dir` reads `*.gz` or raw files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuropos_models::data;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let images = mode & 1 == 1;
    let file = Path::new("fuzz-idx");
    let decoded = if mode & 2 == 2 {
        match data::gunzip(file, bytes) {
            Ok(d) => d,
            Err(_) => return,
        }
    } else {
        bytes.to_vec()
    };
    if let Ok(t) = data::parse_idx(file, images, &decoded) {
        let n = t.dim(0).unwrap();
        assert_eq!(t.dims().len(), if images { 2 } else { 1 });
        assert!(n <= decoded.len());
    }
});

//! What the CPU forgives and Metal does not, held to by reading the code: Metal has no f64 (its
//! cast table, candle-core 0.11.1 `metal_backend/mod.rs`, stops at f32), so no f64 tensor may be
//! made from a tensor that can live on the model's device. Every f64 cast in the library and the
//! CLI either goes through `neuropos_models::device::host_f64` (which moves to the CPU first) or
//! moves to `Device::Cpu` in the same statement. `eval`'s old kept-weight count
//! (`m.sum_all()?.to_dtype(DType::F64)?` on the device) fails this test.
//!
//! Left out: the fused kernels (`kernels/`, CPU only by construction) and `#[cfg(test)]` modules.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "kernels") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The offending lines of `code` (the part of a file before its tests).
fn f64_casts_on_the_device(code: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let text = line.trim_start();
        if text.starts_with("//") || !text.contains("DType::F64") {
            continue;
        }
        // A dtype match (`DType::F64 => …`) or comparison is not a cast.
        if !text.contains("to_dtype(") && !lines[i.saturating_sub(1)].contains(".to_dtype(") {
            continue;
        }
        // The statement so far: back to the previous `;` or `{`.
        let mut start = i;
        while start > 0 && !lines[start - 1].trim_end().ends_with([';', '{']) {
            start -= 1;
        }
        let statement = lines[start..=i].join("\n");
        if !statement.contains("Device::Cpu") {
            found.push((i + 1, line.to_string()));
        }
    }
    found
}

#[test]
fn no_f64_tensor_is_made_off_the_cpu() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("../bins"), &mut files);
    assert!(files.len() > 20, "found {} source files", files.len());
    let mut bad = Vec::new();
    for file in files {
        if file.ends_with("test_support.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (line, content) in f64_casts_on_the_device(code) {
            bad.push(format!("{}:{line}: {}", file.display(), content.trim()));
        }
    }
    assert!(
        bad.is_empty(),
        "f64 casts that may run on the model's device (use device::host_f64, or move to \
         Device::Cpu first):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scan_finds_the_cast_eval_used_to_make() {
    let old =
        "                let kept: f64 = masks\n                    .iter()\n                    \
               .map(|m| m.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>())\n";
    assert_eq!(f64_casts_on_the_device(old).len(), 1);
    let host = "    Ok(t.to_device(&Device::Cpu)?\n        .to_dtype(DType::F64)?\n";
    assert!(f64_casts_on_the_device(host).is_empty());
}

//! Helpers shared by the kernels' unit tests.

use candle_core::{DType, Tensor};

/// A tensor's values as f64, flattened.
pub fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// Fixed pseudo-random weights in [−1, 1) shaped like `like`, so that `sum(like ⊙ probe)` is a
/// scalar whose gradient exercises every element, identically for every implementation.
pub fn probe_weights(like: &Tensor) -> Tensor {
    let n = like.elem_count();
    let w: Vec<f64> = (0..n)
        .map(|i| ((i * 7919 % 1000) as f64 / 500.0) - 1.0)
        .collect();
    Tensor::from_vec(w, like.shape(), like.device())
        .unwrap()
        .to_dtype(like.dtype())
        .unwrap()
}

/// `sum(t ⊙ probe_weights(t))`.
pub fn probe_loss(t: &Tensor) -> Tensor {
    t.mul(&probe_weights(t)).unwrap().sum_all().unwrap()
}

/// Runs `f` twice, with the kernels' baseline build and with the widest the CPU has, and
/// returns both results; serialised, since the choice is a process-wide switch. On a CPU with
/// neither AVX2 nor AVX-512 (Apple silicon included) both runs would take the baseline build
/// and compare it with itself: then it prints why and returns `None`, and the test skips.
pub fn portable_and_vector<T>(test: &str, mut f: impl FnMut() -> T) -> Option<[T; 2]> {
    if !vector_builds_run(test, "AVX2 or AVX-512") {
        return None;
    }
    static SWITCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = SWITCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    crate::kernels::simd::force_portable(true);
    let portable = f();
    crate::kernels::simd::force_portable(false);
    Some([portable, f()])
}

/// Whether this CPU runs a vector build of the kernels (`needs`: which); if not, says on the
/// test's stderr — written directly, so it shows even when the test passes — that `test`
/// is skipped and why.
pub fn vector_builds_run(test: &str, needs: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    let available = match needs {
        "AVX-512" => crate::kernels::simd::has_avx512(),
        _ => crate::kernels::simd::has_avx2() || crate::kernels::simd::has_avx512(),
    };
    #[cfg(not(target_arch = "x86_64"))]
    let available = false;
    if !available {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: this CPU lacks {needs}, so the kernels' vector build is the \
             portable one and a comparison would test it against itself"
        );
    }
    available
}

/// Asserts that `got` equals `want` element by element within `tol` times the largest
/// magnitude in `want` (at least `floor`), naming `context` and the first index that is not.
pub fn assert_close(got: &[f64], want: &[f64], tol: f64, floor: f64, context: &str) {
    assert_eq!(got.len(), want.len(), "{context}: lengths differ");
    let scale = want.iter().fold(floor, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{context}[{i}]: {g} vs {w} (tolerance {tol} × {scale})"
        );
    }
}

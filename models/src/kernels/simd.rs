//! Runtime selection of the widest vector instructions the CPU has, for the fused kernels.
//!
//! The crate is built for baseline x86-64 (SSE2) so the binary runs anywhere, which leaves the
//! kernels' loops four f32 lanes wide. `vectorized!` compiles a kernel three times — for
//! AVX-512, for AVX2 and as built — and picks one per call from what the CPU reports. The
//! kernels contain no floating-point reductions across lanes (LLVM vectorises only
//! element-wise loops without fast-math), so every version returns bit-identical results.
//! Fused multiply-adds are written as `mul_add`: exactly rounded on every build (hardware FMA
//! on AVX2 / AVX-512 and on aarch64; a libm call, identical but slow, on pre-2013 x86 CPUs).
//! Also here: the small helpers the kernels share (fixed-order lane sums, a transpose).

/// Defines `fn $name` whose body is compiled for AVX-512 and AVX2 besides the baseline, and
/// dispatched at run time. Use it on the per-task bodies of the parallel kernels: rayon's
/// closures do not inherit target features, so the dispatch has to sit inside the task.
macro_rules! vectorized {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident<$F:ident: $bound:path $(, const $C:ident: usize)*>
            ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
        $body:block
    ) => {
        $(#[$meta])*
        #[inline(never)]
        $vis fn $name<$F: $bound $(, const $C: usize)*>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable<$F: $bound $(, const $C: usize)*>($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512<$F: $bound $(, const $C: usize)*>($($arg: $ty),*) $(-> $ret)? {
                    portable::<$F $(, $C)*>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2<$F: $bound $(, const $C: usize)*>($($arg: $ty),*) $(-> $ret)? {
                    portable::<$F $(, $C)*>($($arg),*)
                }
                if $crate::kernels::simd::has_avx512() {
                    // SAFETY: the CPU reports AVX-512F and AVX-512VL (and so AVX2 and FMA).
                    return unsafe { avx512::<$F $(, $C)*>($($arg),*) };
                }
                if $crate::kernels::simd::has_avx2() {
                    // SAFETY: the CPU reports AVX2 and FMA.
                    return unsafe { avx2::<$F $(, $C)*>($($arg),*) };
                }
            }
            portable::<$F $(, $C)*>($($arg),*)
        }
    };
}

pub(crate) use vectorized;

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, WithDType};

/// The float types the fused kernels run on (f32, f64): Candle's dtype plus the math
/// (`sqrt`, `recip`) that must stay in the type's own precision to match the plain ops.
pub trait Real: WithDType + num_traits::Float {}

impl<T: WithDType + num_traits::Float> Real for T {}

static PORTABLE_ONLY: AtomicBool = AtomicBool::new(false);

/// Restricts the kernels to their baseline build (`true`) or lets them use the widest
/// instructions the CPU has (`false`, the default): for comparing the two, in speed or in
/// results.
#[cfg(test)]
pub(crate) fn force_portable(portable: bool) {
    PORTABLE_ONLY.store(portable, Ordering::Relaxed);
}

/// Whether the AVX-512 versions may run (cached by the standard library).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    !PORTABLE_ONLY.load(Ordering::Relaxed)
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
}

/// Whether the AVX2 versions may run.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    !PORTABLE_ONLY.load(Ordering::Relaxed)
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
}

/// Lanes of the explicit partial sums of [`lane_dot`] and [`lane_sum`]: the summation order
/// is written out, so every vector width gives the same result.
pub(crate) const LANES: usize = 16;

/// `Σ_j a[j]·b[j]` in [`LANES`] interleaved partial sums, added up in order.
#[inline(always)]
pub(crate) fn lane_dot<F: WithDType>(a: &[F], b: &[F]) -> F {
    let mut lanes = [F::zero(); LANES];
    let mut a_chunks = a.chunks_exact(LANES);
    let mut b_chunks = b.chunks_exact(LANES);
    for (x, y) in (&mut a_chunks).zip(&mut b_chunks) {
        for k in 0..LANES {
            lanes[k] += x[k] * y[k];
        }
    }
    for (k, (&x, &y)) in a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .enumerate()
    {
        lanes[k] += x * y;
    }
    lanes.iter().fold(F::zero(), |acc, &v| acc + v)
}

/// `Σ_j a[j]` in [`LANES`] interleaved partial sums, added up in order.
#[inline(always)]
pub(crate) fn lane_sum<F: WithDType>(a: &[F]) -> F {
    let mut lanes = [F::zero(); LANES];
    let mut chunks = a.chunks_exact(LANES);
    for x in &mut chunks {
        for k in 0..LANES {
            lanes[k] += x[k];
        }
    }
    for (k, &x) in chunks.remainder().iter().enumerate() {
        lanes[k] += x;
    }
    lanes.iter().fold(F::zero(), |acc, &v| acc + v)
}

/// Asks the CPU to bring `data` into L1 ahead of use, for access patterns its prefetchers
/// do not follow (a few lines from each of many rows in turn). A hint: no effect on results,
/// and nothing at all off x86-64.
#[inline(always)]
pub(crate) fn prefetch<F>(data: &[F]) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(data);
        let start = data.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: a prefetch never faults, and the address lies inside `data`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    start.add(offset),
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// `[rows, cols]` → `[cols, rows]`.
pub(crate) fn transpose<T: Copy>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| m[r * cols + c]))
        .collect()
}

/// Floats per [`Chunk`]: one AVX-512 vector of f32.
pub(crate) const CHUNK: usize = 16;

/// [`CHUNK`] floats on a 64-byte boundary, so a vector load never straddles two cache lines
/// (a split load costs twice; the allocator only guarantees 16-byte alignment for `Vec<f32>`).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Chunk<F>(pub [F; CHUNK]);

impl<F: Real> Chunk<F> {
    pub(crate) fn zeros(len: usize) -> Vec<Self> {
        vec![Chunk([F::zero(); CHUNK]); len]
    }
}

/// 64 bytes on a 64-byte boundary: the unit of [`Scratch`] storage.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Buffers kept per thread for reuse (a task needs at most three at once).
const SCRATCH_POOL: usize = 4;

thread_local! {
    static SCRATCH_LINES: std::cell::RefCell<Vec<Vec<Line>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A 64-byte-aligned `[F]` taken from a per-thread pool and given back on drop, for the
/// kernels' per-task tiles: the pool's buffers stay mapped, so a training step does not pay a
/// fresh `mmap`, its page faults and its zeroing for every tile. The contents start
/// unspecified (whatever the last user left, or zeros): every user overwrites them all.
pub(crate) struct Scratch<F> {
    lines: Vec<Line>,
    len: usize,
    _float: std::marker::PhantomData<F>,
}

impl<F: Real> Scratch<F> {
    pub(crate) fn take(len: usize) -> Self {
        // Plain floats only: every bit pattern of the stale bytes must be a value of F.
        assert!(
            matches!(F::DTYPE, DType::F16 | DType::BF16 | DType::F32 | DType::F64),
            "scratch buffers hold floats"
        );
        let needed = (len * std::mem::size_of::<F>()).div_ceil(64);
        let mut lines = SCRATCH_LINES
            .with(|pool| {
                let mut pool = pool.borrow_mut();
                let fit = pool.iter().position(|b| b.capacity() >= needed);
                fit.map(|i| pool.swap_remove(i)).or_else(|| pool.pop())
            })
            .unwrap_or_default();
        if lines.len() < needed {
            lines.resize(needed, Line([0; 64]));
        }
        Self {
            lines,
            len,
            _float: std::marker::PhantomData,
        }
    }
}

impl<F> Drop for Scratch<F> {
    fn drop(&mut self) {
        let lines = std::mem::take(&mut self.lines);
        // `try_with`: a buffer dropped while its thread shuts down is simply freed.
        let _ = SCRATCH_LINES.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < SCRATCH_POOL {
                pool.push(lines);
            }
        });
    }
}

impl<F: Real> std::ops::Deref for Scratch<F> {
    type Target = [F];
    fn deref(&self) -> &[F] {
        // SAFETY: `lines` holds at least `len · size_of::<F>()` initialised bytes, 64-byte
        // aligned (≥ F's alignment), and F is a float type (checked in `take`), for which
        // every bit pattern is a value.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<F>(), self.len) }
    }
}

impl<F: Real> std::ops::DerefMut for Scratch<F> {
    fn deref_mut(&mut self) -> &mut [F] {
        // SAFETY: as in `deref`, borrowed exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<F>(), self.len) }
    }
}

/// A buffer that parallel tasks write at disjoint indices (strided pieces that `chunks_mut`
/// cannot hand out).
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<F> {
    ptr: *mut F,
    len: usize,
}

// SAFETY: the pointer is only written through `write` / `slice`, whose callers guarantee that
// no two tasks touch the same index.
unsafe impl<F: Send> Send for SharedMut<F> {}
unsafe impl<F: Send> Sync for SharedMut<F> {}

impl<F> SharedMut<F> {
    /// The buffer must outlive every use of the result.
    pub(crate) fn new(buffer: &mut [F]) -> Self {
        Self {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
        }
    }

    /// # Safety
    /// `i` must be written by no other task while this one runs.
    pub(crate) unsafe fn write(self, i: usize, v: F) {
        assert!(i < self.len, "index {i} out of {}", self.len);
        unsafe { *self.ptr.add(i) = v }
    }

    /// # Safety
    /// `start..start + len` must be touched by no other task while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [F] {
        assert!(start + len <= self.len, "{start}+{len} out of {}", self.len);
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

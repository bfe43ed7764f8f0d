//! The gradient of a LIF layer driven by a constant input current, in closed form, for the
//! narrow LIF projection's backward pass ([`super::lif_projection`]).
//!
//! Backpropagation through time runs backwards: `dmem_t = dspike_t · slope_t + β · dmem_{t+1}`,
//! and a constant input collects `dI = Σ_t dmem_t`. Unrolled, that sum is
//! `Σ_t c_t · slope_t · dspike_t` with `c_t = Σ_{i ≤ t} β^i`, and with `dspike_t = Σ_k g_t[k] w_k`
//! it becomes `dI = Σ_k w_k · A_k`, `A_k = Σ_t g_t[k] · c_t · slope_t`. Nothing then has to
//! run backwards: one pass forward in time recomputes the membranes and accumulates the A_k and
//! the weight-gradient rows `Σ_t g_t[k] · spike_t` — no membrane history in memory, no
//! recurrence, and `c_t` folds into the surrogate's numerator.
//!
//! The surrogate comes from its one definition, [`crate::layers::lif::SurrogateForm`]:
//! `slope = numerator / ((a·|mem − thr| + c)² + r)`, here with `c_t` folded into the numerator
//! and the denominator formed with two fused multiply-adds (one rounding each instead of two:
//! the closed form's sums differ from backpropagation through time in rounding anyway, and
//! the fused form is what the AVX-512 version computes in one instruction each).
//!
//! [`chunk_gradient`] is written for LLVM's vectoriser; on x86-64 with AVX-512 and f32 the
//! same operations in the same order run as explicit intrinsics (LLVM compiled this loop —
//! twenty accumulators and a division — with scalar multiply-adds), with bit-identical results
//! (tested).

use super::lif_recurrence::lif_step;
use super::simd::{Chunk, Real, CHUNK};
use crate::layers::lif_config::LifConfig;

/// The per-call constants of [`chunk_gradient`].
#[derive(Clone)]
pub(crate) struct ClosedForm<F> {
    /// `c_t · numerator` for every step t.
    numerators: Vec<F>,
    beta: F,
    thr: F,
    /// `a`, `c`, `r` of the denominator `(a·|u| + c)² + r`.
    shape: [F; 3],
}

impl<F: Real> ClosedForm<F> {
    pub(crate) fn new(cfg: &LifConfig, steps: usize) -> Self {
        let form = cfg.surrogate.form();
        let (numerator, shape) = (form.numerator, [form.scale, form.offset, form.floor]);
        // c_t = 1 + β + … + β^t, in f64.
        let mut c = 0.0;
        let mut power = 1.0;
        let numerators = (0..steps)
            .map(|_| {
                c += power;
                power *= cfg.beta;
                F::from_f64(c * numerator)
            })
            .collect();
        Self {
            numerators,
            beta: F::from_f64(cfg.beta),
            thr: F::from_f64(cfg.threshold),
            shape: shape.map(F::from_f64),
        }
    }

    pub(crate) fn steps(&self) -> usize {
        self.numerators.len()
    }
}

/// One chunk of 16 neurons with constant input currents `input`, through all steps: the
/// gradient of the input currents, given the chunk's NK weight vectors and the gradients
/// `g[t·NK + k]` of the next layer's currents; the chunk's weight-gradient rows are added to
/// `d_w` (`[NK][CHUNK]`, kept across samples so they leave registers once per run of them).
#[inline(always)]
pub(crate) fn chunk_gradient<F: Real, const NK: usize>(
    input: &[F; CHUNK],
    weights: &[Chunk<F>; NK],
    g: &[F],
    form: &ClosedForm<F>,
    d_w: &mut [Chunk<F>; NK],
) -> [F; CHUNK] {
    #[cfg(target_arch = "x86_64")]
    if F::DTYPE == candle_core::DType::F32 && super::simd::has_avx512() {
        // SAFETY: F is f32 (checked), so every reinterpretation below is of f32 data as f32;
        // the CPU reports AVX-512F.
        unsafe {
            let d_input = avx512::chunk_gradient::<NK>(
                &*(input as *const [F; CHUNK]).cast(),
                &*(weights as *const [Chunk<F>; NK]).cast(),
                std::slice::from_raw_parts(g.as_ptr().cast(), g.len()),
                &*(form as *const ClosedForm<F>).cast(),
                &mut *(d_w as *mut [Chunk<F>; NK]).cast(),
            );
            return std::mem::transmute_copy(&d_input);
        }
    }
    portable_chunk_gradient(input, weights, g, form, d_w)
}

#[inline(always)]
fn portable_chunk_gradient<F: Real, const NK: usize>(
    input: &[F; CHUNK],
    weights: &[Chunk<F>; NK],
    g: &[F],
    form: &ClosedForm<F>,
    d_w_sums: &mut [Chunk<F>; NK],
) -> [F; CHUNK] {
    let [a, c, r] = form.shape;
    let (mut mem, mut spiked) = ([F::zero(); CHUNK], [F::zero(); CHUNK]);
    let mut slope_sums = [[F::zero(); CHUNK]; NK];
    let mut d_w = d_w_sums.map(|Chunk(row)| row);
    for (g_t, &numerator) in g.chunks_exact(NK).zip(&form.numerators) {
        let mut weighted_slope = [F::zero(); CHUNK];
        for l in 0..CHUNK {
            (mem[l], spiked[l]) = lif_step(mem[l], spiked[l], input[l], form.beta, form.thr, false);
            let p = a.mul_add((mem[l] - form.thr).abs(), c);
            weighted_slope[l] = numerator / p.mul_add(p, r);
        }
        for k in 0..NK {
            for l in 0..CHUNK {
                slope_sums[k][l] = g_t[k].mul_add(weighted_slope[l], slope_sums[k][l]);
                d_w[k][l] = g_t[k].mul_add(spiked[l], d_w[k][l]);
            }
        }
    }
    let mut d_input = [F::zero(); CHUNK];
    for (sums, Chunk(w)) in slope_sums.iter().zip(weights) {
        for l in 0..CHUNK {
            d_input[l] = sums[l].mul_add(w[l], d_input[l]);
        }
    }
    *d_w_sums = d_w.map(Chunk);
    d_input
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::ClosedForm;
    use crate::kernels::simd::{Chunk, CHUNK};
    use std::arch::x86_64::*;

    /// [`super::portable_chunk_gradient`] for f32, operation for operation.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn chunk_gradient<const NK: usize>(
        input: &[f32; CHUNK],
        weights: &[Chunk<f32>; NK],
        g: &[f32],
        form: &ClosedForm<f32>,
        d_w_sums: &mut [Chunk<f32>; NK],
    ) -> [f32; CHUNK] {
        let [a, c, r] = form.shape.map(|v| _mm512_set1_ps(v));
        let (beta, thr) = (_mm512_set1_ps(form.beta), _mm512_set1_ps(form.thr));
        // SAFETY: 16 f32 from a [f32; 16].
        let input = unsafe { _mm512_loadu_ps(input.as_ptr()) };
        let mut mem = _mm512_setzero_ps();
        let mut spiked: __mmask16 = 0;
        let mut slope_sums = [_mm512_setzero_ps(); NK];
        // SAFETY: 16 f32 from each [f32; 16].
        let mut d_w = d_w_sums.map(|Chunk(row)| unsafe { _mm512_loadu_ps(row.as_ptr()) });
        for (g_t, &numerator) in g.chunks_exact(NK).zip(&form.numerators) {
            // lif_step: β·mem + I (two roundings), then −s·thr: a subtraction of thr where the
            // neuron fired (−1·thr + x rounds as x − thr), nothing where it did not.
            let charged = _mm512_add_ps(_mm512_mul_ps(mem, beta), input);
            mem = _mm512_mask_sub_ps(charged, spiked, charged, thr);
            spiked = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(mem, thr);
            let p = _mm512_fmadd_ps(a, _mm512_abs_ps(_mm512_sub_ps(mem, thr)), c);
            let weighted_slope = _mm512_div_ps(_mm512_set1_ps(numerator), _mm512_fmadd_ps(p, p, r));
            for k in 0..NK {
                let g_k = _mm512_set1_ps(g_t[k]);
                slope_sums[k] = _mm512_fmadd_ps(g_k, weighted_slope, slope_sums[k]);
                // g·1 + acc rounds as acc + g; g·0 + acc is acc.
                d_w[k] = _mm512_mask_add_ps(d_w[k], spiked, d_w[k], g_k);
            }
        }
        let mut d_input = _mm512_setzero_ps();
        for (sums, Chunk(w)) in slope_sums.iter().zip(weights) {
            // SAFETY: 16 f32 from a [f32; 16].
            d_input = _mm512_fmadd_ps(*sums, unsafe { _mm512_loadu_ps(w.as_ptr()) }, d_input);
        }
        let mut out = [0f32; CHUNK];
        // SAFETY: 16 f32 into a [f32; 16], for each.
        unsafe {
            _mm512_storeu_ps(out.as_mut_ptr(), d_input);
            for (Chunk(row), v) in d_w_sums.iter_mut().zip(d_w) {
                _mm512_storeu_ps(row.as_mut_ptr(), v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::lif::Surrogate;

    /// Currents around the threshold's reach (some neurons fire often, some never), weights and
    /// output gradients of both signs.
    fn sample_inputs() -> ([f32; CHUNK], [Chunk<f32>; 10], Vec<[f32; 10]>) {
        let input = std::array::from_fn(|l| -0.05 + 0.03 * l as f32);
        let weights = std::array::from_fn(|k| {
            Chunk(std::array::from_fn(|l| {
                ((k * 7 + l * 3) % 11) as f32 / 5.0 - 1.0
            }))
        });
        let g = (0..25)
            .map(|t| std::array::from_fn(|k| ((t * 5 + k * 3) % 13) as f32 / 13.0 - 0.45))
            .collect();
        (input, weights, g)
    }

    /// The closed form against backpropagation through time written out step by step in f64.
    #[test]
    fn closed_form_matches_backpropagation_through_time() {
        for surrogate in [
            Surrogate::Arctan { alpha: 2.0 },
            Surrogate::FastSigmoid { slope: 25.0 },
        ] {
            let cfg = LifConfig::with_surrogate(surrogate);
            let (input, weights, g) = sample_inputs();
            let form = ClosedForm::<f32>::new(&cfg, g.len());
            // Weight-gradient rows that already hold a previous sample's sums.
            let mut d_w = std::array::from_fn(|k| Chunk([k as f32 * 0.5; CHUNK]));
            let d_input = chunk_gradient(&input, &weights, &g.concat(), &form, &mut d_w);
            for l in 0..CHUNK {
                let (mut mem, mut spiked) = (0f64, 0f64);
                let mut history = Vec::new();
                for _ in &g {
                    mem = cfg.beta * mem + f64::from(input[l]) - spiked * cfg.threshold;
                    spiked = if mem > cfg.threshold { 1.0 } else { 0.0 };
                    history.push((mem, spiked));
                }
                let (mut carry, mut expected_input) = (0f64, 0f64);
                let mut expected_w = std::array::from_fn::<f64, 10, _>(|k| k as f64 * 0.5);
                for (t, &(mem, spiked)) in history.iter().enumerate().rev() {
                    let d_spike: f64 = (0..10)
                        .map(|k| f64::from(g[t][k]) * f64::from(weights[k].0[l]))
                        .sum();
                    let d_mem = d_spike * surrogate.derivative(mem - cfg.threshold) + carry;
                    carry = cfg.beta * d_mem;
                    expected_input += d_mem;
                    for (e, &g_k) in expected_w.iter_mut().zip(&g[t]) {
                        *e += f64::from(g_k) * spiked;
                    }
                }
                let close = |got: f32, want: f64| {
                    (f64::from(got) - want).abs() <= 1e-5 * want.abs().max(1.0)
                };
                assert!(
                    close(d_input[l], expected_input),
                    "{surrogate:?} lane {l}: {} vs {expected_input}",
                    d_input[l]
                );
                for k in 0..10 {
                    assert!(
                        close(d_w[k].0[l], expected_w[k]),
                        "{surrogate:?} dW[{k}][{l}]"
                    );
                }
            }
        }
    }

    /// The AVX-512 intrinsics and the portable loop give the same bits.
    #[test]
    fn vector_and_portable_versions_agree_exactly() {
        // Only f32 on AVX-512 has a second version; elsewhere both calls run the portable loop.
        let test = "constant_input_gradient::vector_and_portable_versions_agree_exactly";
        if !crate::test_support::vector_builds_run(test, "AVX-512") {
            return;
        }
        for surrogate in [
            Surrogate::Arctan { alpha: 2.0 },
            Surrogate::FastSigmoid { slope: 25.0 },
        ] {
            let (input, weights, g) = sample_inputs();
            let form = ClosedForm::<f32>::new(&LifConfig::with_surrogate(surrogate), g.len());
            let start: [Chunk<f32>; 10] = std::array::from_fn(|k| Chunk([k as f32 * 0.5; CHUNK]));
            let (mut portable_w, mut fast_w) = (start, start);
            let g = g.concat();
            let portable = portable_chunk_gradient(&input, &weights, &g, &form, &mut portable_w);
            let fast = chunk_gradient(&input, &weights, &g, &form, &mut fast_w);
            assert_eq!(portable.map(f32::to_bits), fast.map(f32::to_bits));
            assert_eq!(
                portable_w.map(|Chunk(row)| row.map(f32::to_bits)),
                fast_w.map(|Chunk(row)| row.map(f32::to_bits))
            );
        }
    }
}

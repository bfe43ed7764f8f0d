//! How a spiking network sees an image: as the same input current at every step (`direct`, the
//! paper's), or as spike trains — snnTorch's `spikegen.rate` (Bernoulli spikes with the pixel
//! as the probability per step) and `spikegen.latency` (one spike per pixel, brighter pixels
//! earlier).
//!
//! The spike trains are drawn on the host and uploaded as `f32` (never `f64`, which Metal
//! lacks). Rate coding is random: every sample draws from its own stream, keyed by the run's
//! seed, the optimizer step and the sample's position in its batch (training) or in the data
//! set (evaluation), so a resumed run draws exactly what the uninterrupted one would have, and
//! an evaluation does not depend on how the test set is chunked.

use candle_core::{DType, Device, Result, Tensor};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The input encoding of a spiking network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Encoder {
    /// The pixel intensities as a constant current at every step (the paper's).
    #[default]
    Direct,
    /// `spikegen.rate`: at every step a pixel spikes with probability `clamp(gain · x, 0, 1)`.
    Rate { gain: f64 },
    /// `spikegen.latency(…, normalize=True, clip=True)`: one spike per pixel at or above
    /// `threshold`, brighter pixels earlier — at the time an RC circuit charged by the pixel
    /// crosses the threshold (`ln(x / (x − threshold))`), or `1 − x` with `linear` — scaled
    /// onto the T steps as snnTorch's `normalize` does; darker pixels never spike (`clip`).
    Latency { threshold: f64, linear: bool },
}

impl Encoder {
    pub fn is_direct(&self) -> bool {
        matches!(self, Encoder::Direct)
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        match *self {
            Encoder::Direct => Ok(()),
            Encoder::Rate { gain } if !(gain.is_finite() && gain > 0.0) => Err(format!(
                "the rate encoder's gain must be positive, got {gain}"
            )),
            Encoder::Rate { .. } => Ok(()),
            Encoder::Latency { threshold, .. } => {
                if !(threshold > 0.0 && threshold < 1.0) {
                    return Err(format!(
                        "the latency encoder's threshold must lie in (0, 1), got {threshold}"
                    ));
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Encoder {
    type Err = String;

    /// `direct`, `rate[:GAIN]` (gain 1) or `latency[:THRESHOLD][:linear]` (threshold 0.01,
    /// snnTorch's default). snnTorch's `tau` is absent: with `normalize` it cancels out.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let mut parts = s.split(':');
        let bad = |why: &str| {
            format!("`{s}`: {why}; expected direct, rate[:GAIN] or latency[:THRESHOLD][:linear]")
        };
        let number = |p: &str| {
            p.parse::<f64>()
                .map_err(|_| bad(&format!("`{p}` is not a number")))
        };
        let encoder = match parts.next().unwrap_or("") {
            "direct" => Encoder::Direct,
            "rate" => Encoder::Rate {
                gain: parts.next().map(number).transpose()?.unwrap_or(1.0),
            },
            "latency" => {
                let mut rest: Vec<&str> = parts.by_ref().collect();
                let linear = rest.last() == Some(&"linear");
                if linear {
                    rest.pop();
                }
                if rest.len() > 1 {
                    return Err(bad("too many fields"));
                }
                Encoder::Latency {
                    threshold: rest.first().map(|p| number(p)).transpose()?.unwrap_or(0.01),
                    linear,
                }
            }
            other => return Err(bad(&format!("unknown encoder `{other}`"))),
        };
        if parts.next().is_some() {
            return Err(bad("too many fields"));
        }
        encoder.validate().map_err(|e| format!("`{s}`: {e}"))?;
        Ok(encoder)
    }
}

impl std::fmt::Display for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encoder::Direct => write!(f, "direct"),
            Encoder::Rate { gain } => write!(f, "rate:{gain}"),
            Encoder::Latency { threshold, linear } => write!(
                f,
                "latency:{threshold}{}",
                if *linear { ":linear" } else { "" }
            ),
        }
    }
}

/// Which random streams a rate-coded batch draws from: sample `b` of the batch draws from
/// the stream of (`seed`, `first + b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrawKey {
    pub seed: u64,
    pub first: u64,
}

impl DrawKey {
    /// A training batch: the run's seed and the optimizer step (a batch's samples are its
    /// positions in the batch), so no state beyond the step count is needed to resume.
    pub fn training(seed: u64, step: usize) -> Self {
        DrawKey {
            seed: seed ^ 0x5EED_0F5D_1CE5,
            first: (step as u64) << 32,
        }
    }

    /// Evaluation: the sample's index in the data set, with a fixed seed, so every
    /// evaluation of a checkpoint scores the same spike trains.
    pub fn evaluation(first_sample: usize) -> Self {
        DrawKey {
            seed: 0,
            first: first_sample as u64,
        }
    }

    fn stream(&self, b: usize) -> rand_chacha::ChaCha8Rng {
        // splitmix64 of the pair: neighbouring samples get unrelated streams.
        let mut z = self
            .seed
            .wrapping_add((self.first.wrapping_add(b as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        rand_chacha::ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
    }
}

/// The latency code's spike step of a pixel `p` (`None`: below the threshold, it never spikes),
/// for `steps` steps: snnTorch's `spikegen.latency(…, normalize=True, clip=True)`.
pub fn latency_steps(threshold: f64, linear: bool, steps: usize) -> impl Fn(f32) -> Option<usize> {
    let last = steps.saturating_sub(1) as f64;
    // snnTorch's times before its normalisation, and the factor that puts the latest on the
    // last step. For the log code that is the time of a pixel clamped to just above the
    // threshold, which any batch holding a darker pixel (every MNIST batch) has as its maximum:
    // taken as a constant, a sample's spikes do not depend on its batch.
    let raw = move |p: f64| {
        if linear {
            (1.0 - p).min(1.0 - threshold)
        } else {
            let p = p.max(threshold + 1e-7);
            (p / (p - threshold)).ln()
        }
    };
    let scale = if linear { last } else { last / raw(threshold) };
    move |p: f32| {
        if (p as f64) < threshold {
            return None;
        }
        let t = (raw(p as f64) * scale).round().max(0.0) as usize;
        Some(t.min(steps.saturating_sub(1)))
    }
}

/// The spike trains of `x` `[B, n]` over `steps` steps, `[T, B, n]` in `x`'s dtype on its
/// device; `None` for the direct encoder (the network takes the image as a constant current).
pub fn encode(x: &Tensor, encoder: &Encoder, steps: usize, key: DrawKey) -> Result<Option<Tensor>> {
    if encoder.is_direct() {
        return Ok(None);
    }
    let (batch, n) = x.dims2()?;
    let pixels = x.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let mut spikes = vec![0f32; steps * batch * n];
    let at = |t: usize, b: usize, i: usize| (t * batch + b) * n + i;
    match *encoder {
        Encoder::Direct => unreachable!("handled above"),
        Encoder::Rate { gain } => {
            for (b, row) in pixels.iter().enumerate() {
                let mut rng = key.stream(b);
                for (i, &p) in row.iter().enumerate() {
                    let p = (gain as f32 * p).clamp(0.0, 1.0);
                    // A pixel that never spikes draws nothing: MNIST is mostly zeros.
                    if p == 0.0 {
                        continue;
                    }
                    for t in 0..steps {
                        if rng.random::<f32>() < p {
                            spikes[at(t, b, i)] = 1.0;
                        }
                    }
                }
            }
        }
        Encoder::Latency { threshold, linear } => {
            let step = latency_steps(threshold, linear, steps);
            for (b, row) in pixels.iter().enumerate() {
                for (i, &p) in row.iter().enumerate() {
                    if let Some(t) = step(p) {
                        spikes[at(t, b, i)] = 1.0;
                    }
                }
            }
        }
    }
    Tensor::from_vec(spikes, (steps, batch, n), &Device::Cpu)?
        .to_dtype(x.dtype())?
        .to_device(x.device())
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in [
            "direct",
            "rate:1",
            "rate:0.5",
            "latency:0.01",
            "latency:0.05:linear",
        ] {
            let e: Encoder = s.parse().unwrap();
            assert_eq!(e.to_string(), s);
            assert_eq!(e.to_string().parse::<Encoder>().unwrap(), e);
        }
        assert_eq!(
            "rate".parse::<Encoder>().unwrap(),
            Encoder::Rate { gain: 1.0 }
        );
        assert_eq!(
            "latency:linear".parse::<Encoder>().unwrap(),
            Encoder::Latency {
                threshold: 0.01,
                linear: true
            }
        );
        for bad in [
            "poisson",
            "rate:0",
            "rate:x",
            "latency:2",
            "latency:0",
            "rate:1:2",
            "latency:0.1:0.2",
        ] {
            assert!(bad.parse::<Encoder>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn rate_spikes_at_the_pixel_probability_and_repeats_its_draws() {
        let x = Tensor::new(&[[0.0f32, 0.25, 1.0], [0.5, 0.0, 0.75]], &Device::Cpu).unwrap();
        let steps = 4000;
        let key = DrawKey::training(3, 7);
        let s = encode(&x, &Encoder::Rate { gain: 1.0 }, steps, key)
            .unwrap()
            .unwrap();
        assert_eq!(s.dims(), &[steps, 2, 3]);
        let rate = (s.sum(0).unwrap() / steps as f64)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let want = [[0.0f32, 0.25, 1.0], [0.5, 0.0, 0.75]];
        for (r, w) in rate.iter().flatten().zip(want.iter().flatten()) {
            assert!((r - w).abs() < 0.03, "rate {r} for probability {w}");
        }
        let again = encode(&x, &Encoder::Rate { gain: 1.0 }, steps, key)
            .unwrap()
            .unwrap();
        assert_eq!(s.to_vec3::<f32>().unwrap(), again.to_vec3::<f32>().unwrap());
        let other = encode(
            &x,
            &Encoder::Rate { gain: 1.0 },
            steps,
            DrawKey::training(3, 8),
        )
        .unwrap()
        .unwrap();
        assert_ne!(s.to_vec3::<f32>().unwrap(), other.to_vec3::<f32>().unwrap());
        // A sample's draws depend on its index, not on the chunk it was evaluated in.
        let whole = encode(&x, &Encoder::Rate { gain: 1.0 }, 8, DrawKey::evaluation(10))
            .unwrap()
            .unwrap();
        let second = encode(
            &x.narrow(0, 1, 1).unwrap(),
            &Encoder::Rate { gain: 1.0 },
            8,
            DrawKey::evaluation(11),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            whole.narrow(1, 1, 1).unwrap().to_vec3::<f32>().unwrap(),
            second.to_vec3::<f32>().unwrap()
        );
    }

    #[test]
    fn latency_fires_once_brighter_pixels_first() {
        let x = Tensor::new(&[[0.0f32, 0.005, 0.02, 0.5, 1.0]], &Device::Cpu).unwrap();
        let steps = 25;
        for linear in [false, true] {
            let enc = Encoder::Latency {
                threshold: 0.01,
                linear,
            };
            let s = encode(&x, &enc, steps, DrawKey::default())
                .unwrap()
                .unwrap();
            assert_eq!(s.dims(), &[steps, 1, 5]);
            let s = s.squeeze(1).unwrap().t().unwrap().to_vec2::<f32>().unwrap(); // [pixel, t]
            let first = |row: &Vec<f32>| row.iter().position(|&v| v == 1.0).unwrap();
            for dark in &s[..2] {
                assert_eq!(
                    dark.iter().sum::<f32>(),
                    0.0,
                    "a pixel below the threshold spiked"
                );
            }
            for row in &s[2..] {
                assert_eq!(
                    row.iter().sum::<f32>(),
                    1.0,
                    "not exactly one spike: {row:?}"
                );
            }
            assert!(first(&s[4]) <= first(&s[3]) && first(&s[3]) < first(&s[2]));
            assert_eq!(first(&s[4]), 0);
        }
        // snnTorch's documented example: latency([0.02, 0.5, 1], num_steps=5, normalize=True,
        // linear=True).
        let x = Tensor::new(&[[0.02f32, 0.5, 1.0]], &Device::Cpu).unwrap();
        let enc = Encoder::Latency {
            threshold: 0.01,
            linear: true,
        };
        let s = encode(&x, &enc, 5, DrawKey::default()).unwrap().unwrap();
        let s = s.squeeze(1).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(
            s,
            vec![
                vec![0.0, 0.0, 1.0],
                vec![0.0, 0.0, 0.0],
                vec![0.0, 1.0, 0.0],
                vec![0.0, 0.0, 0.0],
                vec![1.0, 0.0, 0.0]
            ]
        );
        // The log code, normalised over a batch with a dark pixel as snnTorch does: times
        // ln(x/(x−0.01)) · 24 / ln(0.01000001/1e-7) for x = 0.02, 0.5 and 1.
        let x = Tensor::new(&[[0.0f32, 0.02, 0.5, 1.0]], &Device::Cpu).unwrap();
        let enc = Encoder::Latency {
            threshold: 0.01,
            linear: false,
        };
        let s = encode(&x, &enc, 25, DrawKey::default()).unwrap().unwrap();
        let s = s.squeeze(1).unwrap().t().unwrap().to_vec2::<f32>().unwrap();
        let max = (0.01000001f64 / 1e-7).ln();
        for (row, p) in s[1..].iter().zip([0.02f64, 0.5, 1.0]) {
            let want = ((p / (p - 0.01)).ln() * 24.0 / max).round() as usize;
            assert_eq!(row.iter().position(|&v| v == 1.0), Some(want), "pixel {p}");
        }
    }
}

//! The latency input code in C: one spike per pixel at or above the threshold, at a step that
//! falls as the pixel brightens ([`crate::encoder::latency_steps`]). The step is a monotone
//! step function of the pixel, so the C code needs no logarithm: the export finds, for every
//! step k, the least f32 pixel value that spikes at k or earlier, and a pixel's step is the
//! number of those bounds it falls below — the network's own steps for every f32 input.

use std::fmt::Write;

use super::numbers::literal;

/// The bounds of one latency code.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Latency {
    pub steps: usize,
    /// The least pixel value that spikes at all.
    pub least: f32,
    /// `bounds[k]`: the least pixel value that spikes at step k or earlier, `k < steps − 1`.
    pub bounds: Vec<f32>,
}

/// The least non-negative f32 for which `holds` is true (it must be monotone: false, then
/// true), `f32::MAX` if none.
fn least_where(holds: impl Fn(f32) -> bool) -> f32 {
    let (mut lo, mut hi) = (0u32, f32::MAX.to_bits());
    if !holds(f32::MAX) {
        return f32::MAX;
    }
    // Non-negative floats order as their bits do.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(f32::from_bits(mid)) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    f32::from_bits(lo)
}

pub(super) fn latency(threshold: f64, linear: bool, steps: usize) -> Latency {
    let step = crate::encoder::latency_steps(threshold, linear, steps);
    let least = least_where(|p| step(p).is_some());
    let bounds = (0..steps.saturating_sub(1))
        .map(|k| least_where(|p| step(p).is_some_and(|t| t <= k)))
        .collect();
    Latency {
        steps,
        least,
        bounds,
    }
}

impl Latency {
    /// `step0(x)`: the spike step of a pixel at or above `least`.
    pub fn c(&self) -> String {
        let bounds: Vec<String> = self.bounds.iter().map(|&b| literal(b)).collect();
        let mut out = format!(
            "/* The latency code: a pixel at or above {} spikes once, at the step it returns (the\n\
             \x20  count of these bounds it falls below; brighter pixels earlier). */\n",
            literal(self.least)
        );
        if bounds.is_empty() {
            out += "static int step0(float x)\n{\n    (void)x;\n    return 0;\n}\n\n";
            return out;
        }
        write!(
            out,
            "static const float step_bounds[{n}] = {{{}}};\n\
             static int step0(float x)\n{{\n    int k, t = 0;\n    \
             for (k = 0; k < {n}; k++) t += x < step_bounds[k];\n    return t;\n}}\n\n",
            bounds.join(", "),
            n = bounds.len()
        )
        .expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_give_the_encoders_step_for_every_pixel_byte_and_between() {
        for linear in [false, true] {
            let code = latency(0.01, linear, 25);
            let step = crate::encoder::latency_steps(0.01, linear, 25);
            let mut values: Vec<f32> = (0..=255).map(|b| b as f32 / 255.0).collect();
            values.extend(code.bounds.iter().flat_map(|&b| {
                [
                    b,
                    f32::from_bits(b.to_bits() - 1),
                    f32::from_bits(b.to_bits() + 1),
                ]
            }));
            values.extend([
                code.least,
                f32::from_bits(code.least.to_bits() - 1),
                1.5,
                0.0,
            ]);
            for p in values {
                let from_bounds =
                    (p >= code.least).then(|| code.bounds.iter().filter(|&&b| p < b).count());
                assert_eq!(from_bounds, step(p), "linear {linear}, pixel {p:e}");
            }
        }
    }
}

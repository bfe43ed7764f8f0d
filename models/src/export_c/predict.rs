//! `neuropos_predict`: the layers in order, the same for every kind. Layer 1's currents come
//! from the first layer's `current0` (four neurons at a time where it has `current0x4`); each
//! layer's neurons then pass on what they send — an activation that is not 0, or spikes — with
//! `push{l}`; the output layer's values are the scores.

use std::fmt::Write;

use crate::layers::lif::{LifConfig, Readout, Reset};
use crate::Activation;

use super::numbers::literal;

/// How the first layer is read.
pub(super) enum First {
    /// Embedded and unpruned: `gather0(input, s)`, `current0x4` and `current0(j, nnz, s)`.
    Embedded,
    /// Embedded and pruned: `gather0(input, s, start)` into `cells` cells, `current0(j, s, start)`.
    Regional { cells: usize },
    /// Dense: `gather0(input, idx, val)`, `current0(j, nnz, idx, val)`.
    Dense,
}

/// The C of an activation of `x`.
fn activation(a: Activation, x: &str) -> String {
    match a {
        Activation::Relu => format!("{x} > 0.0f ? {x} : 0.0f"),
        Activation::Tanh => format!("tanhf({x})"),
        Activation::Sigmoid => format!("1.0f / (1.0f + expf(-{x}))"),
    }
}

/// One LIF neuron over the steps, snnTorch's `Leaky` as the network runs it.
fn lif_function(cfg: &LifConfig) -> String {
    let (beta, thr) = (literal(cfg.beta as f32), literal(cfg.threshold as f32));
    let (rule, subtract, zero) = match cfg.reset {
        Reset::Subtract => (
            format!(
                "subtractive reset from the step\n\
                 \x20  before): m = {beta}·m + I[t] − (spiked at t − 1 ? {thr} : 0)"
            ),
            format!("        if (spiked) m = m - {thr};\n"),
            "",
        ),
        Reset::Zero => (
            format!(
                "reset to 0 at the step it\n\
                 \x20  spikes, as NIR's LIF): m = {beta}·m + I[t], then 0 after a spike"
            ),
            String::new(),
            " m = 0.0f;",
        ),
    };
    format!(
        "/* One LIF neuron over the {steps} steps (snnTorch's Leaky, {rule}; a spike when m > {thr}.\n\
         \x20  I[t] = cur[t * stride] + bias (stride 0: the same current at every step). Writes the\n\
         \x20  spike steps to times and, when potential is not null, the summed membrane there;\n\
         \x20  returns the spike count. */\n\
         static int lif(const float *cur, int stride, float bias, int *times, float *potential)\n{{\n    \
         float m = 0.0f, sum = 0.0f;\n    int t, n = 0, spiked = 0;\n    \
         for (t = 0; t < {steps}; t++) {{\n        \
         m = m * {beta};\n        m = m + (cur[t * stride] + bias);\n\
         {subtract}        spiked = m > {thr};\n        \
         if (spiked) {{ times[n++] = t;{zero} }}\n        sum = sum + m;\n    }}\n    \
         if (potential) *potential = sum;\n    return n;\n}}\n\n",
        steps = cfg.time_steps,
    )
}

/// The `send1` helper, `neuropos_predict` and (SNN) `lif`.
pub(super) fn predict(
    layers: &[usize],
    first: &First,
    a: Activation,
    lif: Option<&LifConfig>,
    embedded: bool,
    latency: bool,
) -> String {
    let depth = layers.len();
    let classes = layers[depth - 1];
    let mut out = String::new();
    // A latency-coded SNN's layer 1 gets one current per step (`h` rows of `per` floats).
    let per = if latency {
        lif.map_or(1, |c| c.time_steps)
    } else {
        1
    };
    let mut decl = match first {
        First::Embedded => format!("    Sender s[{}];\n    float h[{}];\n", layers[0], 4 * per),
        First::Regional { cells } => format!(
            "    Sender s[{}];\n    int start[{}];\n    float h[{}];\n",
            layers[0],
            cells + 1,
            4 * per
        ),
        First::Dense if latency => format!(
            "    unsigned short idx[{0}];\n    float val[{0}];\n    int stp[{0}];\n    float h[{per}];\n",
            layers[0]
        ),
        First::Dense => format!(
            "    unsigned short idx[{0}];\n    float val[{0}];\n",
            layers[0]
        ),
    };
    let (gather, current, args) = match first {
        First::Embedded => ("gather0(input, s)", "current0", "nnz, s"),
        First::Regional { .. } => ("gather0(input, s, start)", "current0", "s, start"),
        First::Dense if latency => (
            "gather0(input, idx, val, stp)",
            "current0",
            "nnz, idx, val, stp",
        ),
        First::Dense => ("gather0(input, idx, val)", "current0", "nnz, idx, val"),
    };
    let mask = |l: usize| {
        if embedded {
            format!("mask{l}_at(j)")
        } else {
            "1.0f".to_string()
        }
    };
    // What a neuron j of layer l with value (MLP) or current (SNN) `x` does: pass it on, or,
    // in the output layer, score.
    let steps = lif.map_or(1, |c| c.time_steps);
    // Layer l ≥ 2's currents: two buffers, `[steps][n]` for an SNN.
    let widest = layers[2.min(depth - 1)..]
        .iter()
        .copied()
        .max()
        .unwrap_or(1);
    let buffer = |l: usize| -> &'static str {
        match (l + 1 == depth, l % 2) {
            (true, _) if lif.is_none() => "scores",
            (_, 0) => "a",
            _ => "b",
        }
    };
    let mut body = String::new();
    if depth >= 3 {
        let to = buffer(2);
        match lif {
            None => {
                writeln!(
                    body,
                    "    for (k = 0; k < {}; k++) {to}[k] = bias2_at(k);",
                    layers[2]
                )
            }
            Some(_) => writeln!(
                body,
                "    for (k = 0; k < {}; k++) {to}[k] = 0.0f;",
                steps * layers[2]
            ),
        }
        .expect("writing to a String");
    }
    // Layer 1: each neuron's current, then what it passes on (or its score).
    // `x`: the current (latency: a pointer to the per-step currents, the bias not in them).
    let send = |x: &str, j: &str| -> String {
        match (lif, depth) {
            (None, 2) => format!("scores[{j}] = {x};"),
            (None, _) => format!("send1({j}, {x}, {});", buffer(2)),
            (Some(_), 2) if latency => {
                format!("scores[{j}] = (float)lif({x}, 1, bias1_at({j}), times, &potential[{j}]);")
            }
            (Some(_), 2) => format!(
                "{{ float i1 = {x}; scores[{j}] = (float)lif(&i1, 0, 0.0f, times, &potential[{j}]); }}"
            ),
            (Some(_), _) => format!("send1({j}, {x}, {});", buffer(2)),
        }
    };
    if matches!(first, First::Embedded | First::Regional { .. }) {
        let n = layers[1];
        let whole = n - n % 4;
        let rest = match (whole < n, latency) {
            (false, _) => String::new(),
            (true, false) => format!(
                "    for (j = {whole}; j < {n}; j++) {}\n",
                send(&format!("{current}(j, {args})"), "j")
            ),
            (true, true) => format!(
                "    for (j = {whole}; j < {n}; j++) {{ {current}(j, {args}, h); {} }}\n",
                send("h", "j")
            ),
        };
        let each = if latency {
            send(&format!("h + k * {per}"), "j + k")
        } else {
            send("h[k]", "j + k")
        };
        let blocks = if whole > 0 {
            format!(
                "    for (j = 0; j < {whole}; j += 4) {{\n        current0x4(j, {args}, h);\n        \
                 for (k = 0; k < 4; k++) {each}\n    }}\n",
            )
        } else {
            "    (void)h;\n".to_string()
        };
        write!(body, "{blocks}{rest}")
    } else if latency {
        writeln!(
            body,
            "    for (j = 0; j < {}; j++) {{ {current}(j, {args}, h); {} }}",
            layers[1],
            send("h", "j")
        )
    } else {
        writeln!(
            body,
            "    for (j = 0; j < {}; j++) {}",
            layers[1],
            send(&format!("{current}(j, {args})"), "j")
        )
    }
    .expect("writing to a String");
    // Layers 2 … depth − 2 pass on; the last one scores.
    for l in 2..depth {
        let (from, n) = (buffer(l), layers[l]);
        if l + 1 == depth {
            if lif.is_some() {
                writeln!(
                    body,
                    "    for (k = 0; k < {n}; k++) scores[k] = (float)lif({from} + k, {n}, bias{l}_at(k), times, &potential[k]);"
                )
                .expect("writing to a String");
            }
            break;
        }
        let to = buffer(l + 1);
        let next = layers[l + 1];
        match lif {
            None => writeln!(
                body,
                "    for (k = 0; k < {next}; k++) {to}[k] = bias{}_at(k);\n    \
                 for (j = 0; j < {n}; j++) {{ float v = {}; if (v != 0.0f) push{l}(j, v * {}, {to}); }}",
                l + 1,
                activation(a, &format!("{from}[j]")),
                mask(l)
            ),
            Some(_) => writeln!(
                body,
                "    for (k = 0; k < {}; k++) {to}[k] = 0.0f;\n    \
                 for (j = 0; j < {n}; j++) {{ int nspk = lif({from} + j, {n}, bias{l}_at(j), times, 0); if (nspk) push{l}(j, {}, times, nspk, {to}); }}",
                steps * next,
                mask(l)
            ),
        }
        .expect("writing to a String");
    }
    // The send1 helper for layer 1's neurons.
    if depth >= 3 {
        match lif {
            None => write!(
                out,
                "/* Neuron j of layer 1, current x: its activation, passed on unless it is 0. */\n\
                 static void send1(int j, float x, float *y)\n{{\n    float v = {};\n    \
                 if (v != 0.0f) push1(j, v * {}, y);\n}}\n\n",
                activation(a, "x"),
                mask(1)
            ),
            Some(_) if latency => write!(
                out,
                "/* Neuron j of layer 1, its current at each step in cur (the bias added there): its\n\
                 \x20  spikes passed on. */\n\
                 static void send1(int j, const float *cur, float *y)\n{{\n    int times[{steps}];\n    \
                 int nspk = lif(cur, 1, bias1_at(j), times, 0);\n    \
                 if (nspk) push1(j, {}, times, nspk, y);\n}}\n\n",
                mask(1)
            ),
            Some(_) => write!(
                out,
                "/* Neuron j of layer 1, the same current x at every step: its spikes passed on. */\n\
                 static void send1(int j, float x, float *y)\n{{\n    int times[{steps}];\n    \
                 int nspk = lif(&x, 0, 0.0f, times, 0);\n    \
                 if (nspk) push1(j, {}, times, nspk, y);\n}}\n\n",
                mask(1)
            ),
        }
        .expect("writing to a String");
    }
    if depth >= 3 {
        match lif {
            None if depth >= 4 => {
                decl += &format!("    float a[{widest}], b[{widest}];\n    (void)a; (void)b;\n")
            }
            None => {}
            Some(_) => {
                decl += &format!(
                    "    float a[{0}], b[{0}];\n    (void)a; (void)b;\n",
                    steps * widest
                )
            }
        }
    }
    if lif.is_some() {
        decl += &format!("    float potential[{classes}];\n    int times[{steps}];\n");
    }
    let pick = match lif.map(|c| c.readout) {
        None => {
            "    for (k = 1; k < NEUROPOS_CLASSES; k++) if (scores[k] > scores[best]) best = k;\n"
                .to_string()
        }
        Some(Readout::Count) => {
            // As `Network::predict`: the most spikes, ties to the larger summed membrane, and
            // a full tie to the last.
            "    for (k = 1; k < NEUROPOS_CLASSES; k++)\n        \
             if (scores[k] > scores[best] || (scores[k] == scores[best] && potential[k] >= potential[best])) best = k;\n"
                .to_string()
        }
        Some(Readout::Membrane) => {
            "    for (k = 0; k < NEUROPOS_CLASSES; k++) scores[k] = potential[k];\n    \
             for (k = 1; k < NEUROPOS_CLASSES; k++) if (scores[k] >= scores[best]) best = k;\n"
                .to_string()
        }
    };
    write!(
        out,
        "int neuropos_predict(const float *input, float *scores)\n{{\n{decl}    \
         int j, k, nnz, best = 0;\n    nnz = {gather};\n    (void)nnz; (void)k;\n{body}{pick}    return best;\n}}\n"
    )
    .expect("writing to a String");
    match lif {
        Some(cfg) => lif_function(cfg) + &out,
        None => out,
    }
}

//! C for dense layers (the baselines), in the same shape as the embedded ones — the first
//! layer pulls over the non-zero inputs, later layers push from the neurons that fire — with
//! the stored weights `[out][in]` (a pruned weight stored as 0).

/// `gather0`: the non-zero inputs' indices and values (latency code, `least`: the inputs that
/// spike, value 1, and their steps).
pub(super) fn gather0(n_in: usize, least: Option<f32>) -> String {
    if let Some(least) = least {
        return format!(
            "/* The inputs that spike (at or above {least}): indices, value 1, spike steps; returns\n\
             \x20  how many. */\n\
             static int gather0(const float *x, unsigned short *idx, float *val, int *stp)\n{{\n    \
             int i, n = 0;\n    \
             for (i = 0; i < {n_in}; i++) if (x[i] >= {least}) {{ idx[n] = (unsigned short)i; val[n] = 1.0f; stp[n] = step0(x[i]); n++; }}\n    \
             return n;\n}}\n\n",
            least = super::numbers::literal(least)
        );
    }
    format!(
        "/* The non-zero inputs' indices and values; returns how many. */\n\
         static int gather0(const float *x, unsigned short *idx, float *val)\n{{\n    \
         int i, n = 0;\n    \
         for (i = 0; i < {n_in}; i++) if (x[i] != 0.0f) {{ idx[n] = (unsigned short)i; val[n] = x[i]; n++; }}\n    \
         return n;\n}}\n\n"
    )
}

/// `current0`: the current into neuron `j` of layer 1 (latency code, `steps`: one per step in
/// `h`, the bias added later).
pub(super) fn current0(n_in: usize, steps: Option<usize>) -> String {
    if let Some(steps) = steps {
        return format!(
            "/* The current into neuron j of layer 1 at each of the {steps} steps. */\n\
             static void current0(int j, int nnz, const unsigned short *idx, const float *val, const int *stp, float *h)\n{{\n    \
             int t;\n    for (t = 0; t < {steps}; t++) h[t] = 0.0f;\n    \
             for (t = 0; t < nnz; t++) h[stp[t]] += val[t] * weight0_at(j * {n_in} + idx[t]);\n}}\n\n"
        );
    }
    format!(
        "/* The current into neuron j of layer 1. */\n\
         static float current0(int j, int nnz, const unsigned short *idx, const float *val)\n{{\n    \
         float acc = bias1_at(j);\n    int t;\n    \
         for (t = 0; t < nnz; t++) acc += val[t] * weight0_at(j * {n_in} + idx[t]);\n    \
         return acc;\n}}\n\n"
    )
}

/// `push{l}`: neuron `j` of layer `l` adding its column of weights to layer `l + 1`'s
/// currents, times its value `v` (MLP) or at each of its spike steps (SNN).
pub(super) fn push(l: usize, n_in: usize, n_out: usize, spiking: bool) -> String {
    if spiking {
        format!(
            "/* Neuron j of layer {l}, spiked at the nspk steps in times: its weights added to layer\n\
             \x20  {next}'s current at those steps (m is 1: a dense layer has no mask). */\n\
             static void push{l}(int j, float m, const int *times, int nspk, float *y)\n{{\n    \
             int k, t;\n    \
             for (k = 0; k < {n_out}; k++) {{\n        \
             float w = m * weight{l}_at(k * {n_in} + j);\n        \
             for (t = 0; t < nspk; t++) y[times[t] * {n_out} + k] += w;\n    }}\n}}\n\n",
            next = l + 1
        )
    } else {
        format!(
            "/* Neuron j of layer {l} passing on its activation v to layer {next}. */\n\
             static void push{l}(int j, float v, float *y)\n{{\n    int k;\n    \
             for (k = 0; k < {n_out}; k++) y[k] += v * weight{l}_at(k * {n_in} + j);\n}}\n\n",
            next = l + 1
        )
    }
}

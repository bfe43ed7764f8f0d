//! C for embedded layers: weights made from positions where they are used.
//!
//! The first layer pulls: the image's non-zero pixels are gathered once (position and value
//! times mask, side by side), then each hidden neuron's current is a sum over them — four
//! neurons per pass over the gathered pixels, so each pixel is loaded once for four wires. A
//! pruned first layer keeps only wires shorter than its limit: the pixels are gathered sorted
//! into grid cells and a neuron visits only the cells its limit reaches. Later layers push: a
//! neuron that fires (ReLU above 0, or a spike) adds its wires to the next layer's currents,
//! so a silent neuron costs nothing.

use std::fmt::Write;

use super::limits::{Grid, Limit};
use super::numbers::literal;

/// What the code of one synapse layer needs to know about its geometry.
pub(super) struct Layer {
    /// The synapse layer: layer `index` sends to layer `index + 1`.
    pub index: usize,
    pub n_in: usize,
    pub n_out: usize,
    pub free: usize,
    /// Per-neuron z (relaxed axis) instead of one squared distance along the axis.
    pub relaxed: bool,
    /// The squared distance along the axis (fixed and gaps axes).
    pub axis2: f32,
    pub epsilon: f32,
    pub limit: Option<Limit>,
    /// The first layer's cells, when it is pruned.
    pub grid: Option<Grid>,
    /// The first layer of a latency-coded SNN: the least pixel that spikes, and the steps.
    /// Each gathered input then carries its spike step, and a neuron's current is one per step.
    pub latency: Option<(f32, usize)>,
}

impl Layer {
    /// Whether a squared distance can fall below ε (then it is floored there, as the network
    /// does); with a constant axis distance of at least ε it never can.
    fn floors(&self) -> bool {
        self.relaxed || self.axis2 < self.epsilon
    }

    /// C statements that set `d` to the squared distance between a sender (coordinate `c`:
    /// `sender(c)`, z `sender_z`) and a receiver (`receiver(c)`, `receiver_z`), in the order
    /// [`super::limits::Geometry::distance2`] computes it; `e` is a declared float.
    fn distance(
        &self,
        d: &str,
        sender: impl Fn(usize) -> String,
        receiver: impl Fn(usize) -> String,
        (sender_z, receiver_z): (&str, &str),
        indent: &str,
    ) -> String {
        let mut out = if self.relaxed {
            format!("{indent}e = {sender_z} - {receiver_z}; {d} = e * e;\n")
        } else {
            format!("{indent}{d} = {};\n", literal(self.axis2))
        };
        for c in 0..self.free {
            writeln!(
                out,
                "{indent}e = {} - {}; {d} += e * e;",
                sender(c),
                receiver(c)
            )
            .expect("writing to a String");
        }
        if self.floors() {
            let eps = literal(self.epsilon);
            writeln!(out, "{indent}if ({d} < {eps}) {d} = {eps};").expect("writing to a String");
        }
        out
    }

    /// What makes an input gathered: not 0, or (latency code) bright enough to spike.
    fn sends(&self, x: &str) -> String {
        match self.latency {
            Some((least, _)) => format!("{x} >= {}", literal(least)),
            None => format!("{x} != 0.0f"),
        }
    }

    /// Neuron `j + u`'s accumulator: its declaration (the bias; or, latency-coded, its row
    /// of per-step currents in `h`) and the statement adding an input's wire of squared
    /// distance `d{u}`.
    fn accumulator(&self, u: usize) -> (String, String) {
        match self.latency {
            None => (
                format!("    float a{u} = bias1_at(j + {u});\n"),
                format!("a{u} += t->v / root(d{u});"),
            ),
            Some((_, steps)) => (
                format!("    float *c{u} = h + {u} * {steps};\n"),
                format!("c{u}[t->t] += t->v / root(d{u});"),
            ),
        }
    }

    /// The widths of the first layer's functions: four neurons a pass, and one for the rest —
    /// only what the layer's width uses (an unused static function is a warning, and the export
    /// compiles with -Werror).
    fn widths(&self) -> Vec<usize> {
        let n = self.n_out;
        [(4, n >= 4), (1, !n.is_multiple_of(4))]
            .into_iter()
            .filter_map(|(w, used)| used.then_some(w))
            .collect()
    }

    /// The declarations of neurons `j` … `j + width − 1` of layer 1: coordinates, accumulator,
    /// z (relaxed).
    fn receivers(&self, width: usize) -> String {
        let f = self.free;
        let mut decl = String::new();
        for u in 0..width {
            let coords: Vec<String> = (0..f)
                .map(|c| format!("p{u}_{c} = coords1_at((j + {u}) * {f} + {c})"))
                .collect();
            writeln!(decl, "    float {};", coords.join(", ")).expect("writing to a String");
            decl += &self.accumulator(u).0;
            if self.relaxed {
                writeln!(decl, "    float z{u} = z1_at(j + {u});").expect("writing to a String");
            }
        }
        decl
    }

    /// A first-layer function's name, signature (after `args`), return type, opening and
    /// closing for `width` neurons: a float or four in `h`; latency-coded, `width` rows of
    /// per-step currents in `h`, zeroed first (the bias joins at each step later).
    fn frame(&self, width: usize, args: &str) -> (String, &'static str, String, String) {
        let name = if width == 4 { "current0x4" } else { "current0" };
        match (self.latency, width) {
            (Some((_, steps)), _) => (
                format!("{name}({args}, float *h)"),
                "void",
                format!(
                    "    int k;\n    for (k = 0; k < {}; k++) h[k] = 0.0f;\n",
                    width * steps
                ),
                "}\n\n".into(),
            ),
            (None, 4) => (
                format!("{name}({args}, float *h)"),
                "void",
                String::new(),
                "    h[0] = a0; h[1] = a1; h[2] = a2; h[3] = a3;\n}\n\n".into(),
            ),
            (None, _) => (
                format!("{name}({args})"),
                "float",
                String::new(),
                "    return a0;\n}\n\n".into(),
            ),
        }
    }

    /// A line that skips the wire when it is beyond the limit (none without one).
    fn keep_test(&self, d: &str, indent: &str) -> String {
        self.limit.map_or(String::new(), |l| {
            format!("{indent}if ({d} > {}) continue;\n", literal(l.distance2))
        })
    }
}

/// The gathered form of a non-zero input.
pub(super) fn sender_type(free: usize, relaxed: bool, latency: bool) -> String {
    let z = if relaxed { " float z;" } else { "" };
    let (t, what) = if latency {
        (" int t;", "its mask, and its spike step")
    } else {
        ("", "its value times its\n   mask")
    };
    format!(
        "/* A non-zero input of the first layer, gathered: its position and {what}. */\n\
         typedef struct {{ float c[{free}];{z} float v;{t} }} Sender;\n\n"
    )
}

/// `root`: the FPU's one-instruction square root on an Arm core with one — `sqrtf` would also
/// test its argument to set errno, three instructions per wire, and a squared distance is never
/// negative.
pub(super) const ROOT: &str = "#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__GNUC__)\n\
    /* The FPU's square root, one instruction: sqrtf would also test the argument (for errno), and\n\
    \x20  a squared distance is never negative. */\n\
    static float root(float x) { float r; __asm__(\"vsqrt.f32 %0, %1\" : \"=t\"(r) : \"t\"(x)); return r; }\n\
    #else\nstatic float root(float x) { return sqrtf(x); }\n#endif\n\n";

/// `gather0`: the non-zero inputs into `s`, in input order, or sorted by grid cell (then
/// `start[c]` is where cell `c` begins).
pub(super) fn gather0(layer: &Layer) -> String {
    let (n, f) = (layer.n_in, layer.free);
    let mut fill = match layer.latency {
        Some(_) => String::from("            e->v = mask0_at(i); e->t = step0(x[i]);\n"),
        None => String::from("            e->v = x[i] * mask0_at(i);\n"),
    };
    let sends = layer.sends("x[i]");
    for c in 0..f {
        writeln!(fill, "            e->c[{c}] = coords0_at(i * {f} + {c});")
            .expect("writing to a String");
    }
    if layer.relaxed {
        fill += "            e->z = z0_at(i);\n";
    }
    let Some(g) = layer.grid else {
        return format!(
            "/* The non-zero inputs, gathered; returns how many. */\n\
             static int gather0(const float *x, Sender *s)\n{{\n    int i, n = 0;\n    \
             for (i = 0; i < {n}; i++) {{\n        if ({sends}) {{\n            \
             Sender *e = s + n++;\n{fill}        }}\n    }}\n    return n;\n}}\n\n"
        );
    };
    let cells = g.nx * g.ny;
    let y = if f >= 2 {
        format!("coords0_at(i * {f} + 1)")
    } else {
        "0.0f".into()
    };
    format!(
        "{}\
         /* The cell of the input at (x, y). */\nstatic int cell0(float x, float y)\n{{\n    \
         return cell_index((y - {y0}) * {inv}, {ny}) * {nx} + cell_index((x - {x0}) * {inv}, {nx});\n}}\n\n\
         /* The non-zero inputs, gathered sorted by cell: cell c's are s[start[c]] to\n\
         \x20  s[start[c + 1] - 1]; returns how many. */\n\
         static int gather0(const float *x, Sender *s, int *start)\n{{\n    int i, c, n = 0;\n    \
         for (c = 0; c <= {cells}; c++) start[c] = 0;\n    \
         for (i = 0; i < {n}; i++) if ({sends}) start[cell0(coords0_at(i * {f}), {y}) + 1]++;\n    \
         for (c = 0; c < {cells}; c++) start[c + 1] += start[c];\n    \
         for (i = 0; i < {n}; i++) {{\n        if ({sends}) {{\n            \
         Sender *e = s + start[cell0(coords0_at(i * {f}), {y})]++;\n{fill}            n++;\n        }}\n    }}\n    \
         for (c = {cells}; c > 0; c--) start[c] = start[c - 1];\n    start[0] = 0;\n    return n;\n}}\n\n",
        CELL_INDEX,
        x0 = literal(g.x0),
        y0 = literal(g.y0),
        inv = literal(1.0 / g.cell),
        nx = g.nx,
        ny = g.ny,
    )
}

/// Truncation to a cell, clamped (and NaN-safe): the sort and the search use the same one.
const CELL_INDEX: &str = "/* The cell a scaled coordinate v falls in, of n. */\n\
    static int cell_index(float v, int n)\n{\n    \
    if (!(v > 0.0f)) return 0;\n    if (v >= (float)n) return n - 1;\n    return (int)v;\n}\n\n";

/// `current0x4` and `current0` (unpruned first layer): the currents into neurons `j`..`j + 3`,
/// and into one neuron.
pub(super) fn current0(layer: &Layer) -> String {
    let mut out = String::new();
    for width in layer.widths() {
        let decl = layer.receivers(width);
        let mut body = String::new();
        for u in 0..width {
            body += &layer.distance(
                &format!("d{u}"),
                |c| format!("t->c[{c}]"),
                |c| format!("p{u}_{c}"),
                ("t->z", &format!("z{u}")),
                "        ",
            );
        }
        let ds: Vec<String> = (0..width).map(|u| format!("d{u}")).collect();
        let sums: String = (0..width)
            .map(|u| format!("        {}\n", layer.accumulator(u).1))
            .collect();
        let (signature, ret, open, result) = layer.frame(width, "int j, int nnz, const Sender *s");
        write!(
            out,
            "/* The current into {what} of layer 1: the bias and, per gathered input, a weight\n\
             \x20  1/distance made here. */\n\
             static {ret} {signature}\n{{\n{decl}{open}    \
             const Sender *t, *end = s + nnz;\n    \
             for (t = s; t < end; t++) {{\n        float e, {};\n{body}{sums}    }}\n{result}",
            ds.join(", "),
            what = if width == 4 {
                "neurons j to j + 3"
            } else {
                "neuron j"
            },
        )
        .expect("writing to a String");
    }
    out
}

/// `current0x4` and `current0` of a pruned first layer: only the gathered inputs in the cells
/// the limit can reach — the rows of cells around the neurons, each row one run of the sorted
/// inputs — and of those only the wires within the limit. Four neurons share one pass over the
/// union of their cells (each input loaded once for four wires), which pays when they are near
/// one another: the export orders the layer's neurons by cell ([`super::limits::cell_order`]).
/// (Narrowing each row to the disc's chord visits fewer inputs but cost more per row than it
/// saved on `mlp3d-pd80`, in QEMU's instruction count.)
pub(super) fn current0_regional(layer: &Layer, grid: &Grid) -> String {
    let f = layer.free;
    let limit = layer.limit.expect("a regional layer has a limit");
    let (x0, y0, r) = (literal(grid.x0), literal(grid.y0), literal(grid.radius));
    let inv = literal(1.0 / grid.cell);
    let (nx, ny) = (grid.nx, grid.ny);
    let mut out = String::new();
    for width in layer.widths() {
        let decl = layer.receivers(width);
        // The cells' bounds: those of the four neurons' squares together.
        let bound = |c: usize, pick: &str| -> String {
            (1..width).fold(format!("p0_{c}"), |acc, u| {
                format!("{pick}({acc}, p{u}_{c})")
            })
        };
        let (xlo, xhi) = (bound(0, "least"), bound(0, "most"));
        let (ylo, yhi) = if f >= 2 {
            (bound(1, "least"), bound(1, "most"))
        } else {
            ("0.0f".to_string(), "0.0f".to_string())
        };
        let mut body = String::new();
        for u in 0..width {
            body += &layer.distance(
                &format!("d{u}"),
                |c| format!("q{c}"),
                |c| format!("p{u}_{c}"),
                ("t->z", &format!("z{u}")),
                "            ",
            );
        }
        let loads: Vec<String> = (0..f).map(|c| format!("q{c} = t->c[{c}]")).collect();
        let ds: Vec<String> = (0..width).map(|u| format!("d{u}")).collect();
        let lim = literal(limit.distance2);
        let sums: String = (0..width)
            .map(|u| {
                format!(
                    "            if (d{u} <= {lim}) {}\n",
                    layer.accumulator(u).1
                )
            })
            .collect();
        let (signature, ret, open, result) =
            layer.frame(width, "int j, const Sender *s, const int *start");
        write!(
            out,
            "/* The current into {what} of layer 1: the bias and the gathered inputs nearer than\n\
             \x20  the limit (squared distance {lim}), looked for only in the cells within reach. */\n\
             static {ret} {signature}\n{{\n{decl}{open}    \
             int lo = cell_index(({xlo} - {r} - {x0}) * {inv}, {nx}), hi = cell_index(({xhi} + {r} - {x0}) * {inv}, {nx}) + 1;\n    \
             int row = cell_index(({ylo} - {r} - {y0}) * {inv}, {ny}), last = cell_index(({yhi} + {r} - {y0}) * {inv}, {ny});\n    \
             for (; row <= last; row++) {{\n        \
             const Sender *t = s + start[row * {nx} + lo], *end = s + start[row * {nx} + hi];\n        \
             for (; t < end; t++) {{\n            float e, {}, {};\n{body}{sums}        }}\n    }}\n{result}",
            loads.join(", "),
            ds.join(", "),
            what = if width == 4 { "neurons j to j + 3" } else { "neuron j" },
        )
        .expect("writing to a String");
    }
    out
}

/// `least` and `most` of two floats, for the union of neighbouring neurons' cells.
pub(super) const LEAST_MOST: &str =
    "static float least(float a, float b) { return a < b ? a : b; }\n\
    static float most(float a, float b) { return a < b ? b : a; }\n\n";

/// `push{l}`: what neuron `j` of layer `l` sends added to layer `l + 1`'s currents `y` — for
/// an MLP its value `v` (activation × mask) over every wire; for an SNN its mask `m` over
/// every wire at each of its `nspk` spike steps (`y` is `[steps][n_out]`).
pub(super) fn push(layer: &Layer, spiking: bool) -> String {
    let (l, n, f) = (layer.index, layer.n_out, layer.free);
    let next = l + 1;
    let coords: Vec<String> = (0..f)
        .map(|c| format!("p{c} = coords{l}_at(j * {f} + {c})"))
        .collect();
    let z = if layer.relaxed {
        format!("    float zj = z{l}_at(j);\n")
    } else {
        String::new()
    };
    let distance = layer.distance(
        "d",
        |c| format!("p{c}"),
        |c| format!("coords{next}_at(k * {f} + {c})"),
        ("zj", &format!("z{next}_at(k)")),
        "        ",
    );
    let keep = layer.keep_test("d", "        ");
    if spiking {
        format!(
            "/* Neuron j of layer {l}, mask m, spiked at the nspk steps in times: each wire's weight\n\
             \x20  added to layer {next}'s current at those steps. */\n\
             static void push{l}(int j, float m, const int *times, int nspk, float *y)\n{{\n    \
             float {};\n{z}    int k, t;\n    \
             for (k = 0; k < {n}; k++) {{\n        float e, d, w;\n{distance}{keep}        \
             w = m * (1.0f / root(d));\n        \
             for (t = 0; t < nspk; t++) y[times[t] * {n} + k] += w;\n    }}\n}}\n\n",
            coords.join(", ")
        )
    } else {
        format!(
            "/* Neuron j of layer {l} passing on v (its activation times its mask): v/distance added\n\
             \x20  to each current of layer {next}. */\n\
             static void push{l}(int j, float v, float *y)\n{{\n    \
             float {};\n{z}    int k;\n    \
             for (k = 0; k < {n}; k++) {{\n        float e, d;\n{distance}{keep}        \
             y[k] += v / root(d);\n    }}\n}}\n\n",
            coords.join(", ")
        )
    }
}

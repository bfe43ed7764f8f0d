//! A checkpoint as a self-contained C99 library (`neuropos export --format c`): `neuropos_model.h`
//! and `neuropos_model.c` — no allocation, no state that changes, `sqrtf` the only libm call for
//! ReLU networks — and an example program that reads an IDX image file and prints one class per
//! line.
//!
//! An embedded layer's weights are not stored: each is made when it is used, `1/sqrt(max(d², ε))`
//! from the two neurons' positions, output neuron by output neuron, over only the inputs that
//! are not zero (most of an MNIST image), premultiplied once by their inhibition mask. So the
//! model is its positions, masks and biases, and RAM is two layers' activations and the list of
//! non-zero inputs. Numbers are stored at the precision asked for ([`Precision`]): f32, f16
//! (decoded bit by bit), or int8 with the scale and offset [`crate::precision`] chose.
//!
//! Exported here: MLPs, embedded (fixed, gaps, relaxed, any dimension) and dense, unpruned. Spiking
//! networks and pruned checkpoints are refused with a clear message (not written yet).

use std::fmt::Write;

use crate::checkpoint::Loaded;
use crate::config::AxisMode;
use crate::precision::{round_to, Precision};
use crate::{Activation, Error, Result};

/// The three files.
#[derive(Debug, Clone, PartialEq)]
pub struct CExport {
    pub header: String,
    pub source: String,
    pub example: String,
    /// Bytes of the model's stored numbers (the arrays, not the code).
    pub model_bytes: usize,
}

/// One array of stored numbers and how it decodes.
struct Array {
    name: String,
    values: Vec<f32>,
    /// int8: the scale and the offset.
    affine: Option<(f64, f64)>,
}

fn refuse<T>(problem: String) -> Result<T> {
    Err(Error::Config(problem))
}

/// `loaded` (rounded to `precision` in place first) as C99.
pub fn export_c(loaded: &mut Loaded, precision: Precision) -> Result<CExport> {
    let config = loaded.network.config().clone();
    if config.lif.is_some() {
        return refuse(format!(
            "{}: the C export writes MLPs; spiking networks are not exported yet",
            config.describe()
        ));
    }
    if config.pruning.is_some() || config.fixed_mask.is_some() {
        return refuse(format!(
            "{}: the C export writes unpruned networks; pruned ones are not exported yet",
            config.describe()
        ));
    }
    let rounded = round_to(loaded, precision)?;
    let var = |name: &str| -> Result<Vec<f32>> {
        let data = loaded
            .vars
            .data()
            .lock()
            .map_err(|_| Error::Config("poisoned".into()))?;
        let v = data
            .get(name)
            .ok_or_else(|| Error::Config(format!("no variable {name}")))?;
        Ok(crate::device::host_f64(&v.as_tensor().flatten_all()?)?
            .into_iter()
            .map(|x| x as f32)
            .collect())
    };
    let affine = |name: &str| -> Option<(f64, f64)> {
        (precision == Precision::Int8).then(|| {
            let t = rounded.tensors.iter().find(|t| t.name == name);
            t.map_or((1.0, 0.0), |t| (t.scale, t.offset))
        })
    };
    let layers = config.layers.clone();
    let depth = layers.len();
    let mut arrays = Vec::new();
    let mut body = String::new();
    match config.kind.axis() {
        Some(axis) => {
            let free = config.dim - 1;
            let gaps = match axis {
                AxisMode::Gaps => var("gaps")?,
                _ => Vec::new(),
            };
            for (l, &n) in layers.iter().enumerate() {
                let name = format!("layers.{l}.coords");
                arrays.push(Array {
                    name: format!("coords{l}"),
                    values: var(&name)?,
                    affine: affine(&name),
                });
                if axis == AxisMode::Relaxed {
                    let name = format!("layers.{l}.z");
                    arrays.push(Array {
                        name: format!("z{l}"),
                        values: var(&name)?,
                        affine: affine(&name),
                    });
                }
                if l + 1 < depth {
                    // The mask the network uses, as precision.rs stored it.
                    let k = config.steepness as f32;
                    let mask: Vec<f32> = var(&format!("layers.{l}.inhibition"))?
                        .iter()
                        .map(|v| (k * v / 2.0).tanh())
                        .map(|m| match precision {
                            Precision::Int8 => (m * 127.0).round() / 127.0,
                            _ => m,
                        })
                        .collect();
                    let int8 = (precision == Precision::Int8).then_some((1.0 / 127.0, 0.0));
                    arrays.push(Array {
                        name: format!("mask{l}"),
                        values: mask,
                        affine: int8,
                    });
                }
                if l > 0 {
                    let name = format!("layers.{l}.bias");
                    arrays.push(Array {
                        name: format!("bias{l}"),
                        values: var(&name)?,
                        affine: affine(&name),
                    });
                }
                let _ = n;
            }
            let eps = config.distance_epsilon as f32;
            // z of layer l for the fixed and gaps axes (relaxed: per neuron, stored).
            let layer_z = |l: usize| -> f32 {
                match axis {
                    AxisMode::Gaps => gaps[..l].iter().sum(),
                    _ => l as f32,
                }
            };
            let relaxed = axis == AxisMode::Relaxed;
            let fused = depth == 3 && config.activation == Activation::Relu;
            let sending = if fused {
                layers[0]
            } else {
                layers[..depth - 1].iter().copied().max().unwrap_or(1)
            };
            for l in 0..depth - 1 {
                let (n_in, n_out) = (layers[l], layers[l + 1]);
                // Fixed and gaps: every wire of the pair has the same dz, so dz² is a constant
                // and, when it is at least ε, the floor never applies.
                let dz = layer_z(l) - layer_z(l + 1);
                let (dz2_init, zj, clamp) = if relaxed {
                    (
                        "(pz[t] - zj) * (pz[t] - zj)".to_string(),
                        format!("    float zj = z{}_at(j);\n", l + 1),
                        format!("        if (d2 < {eps:?}f) d2 = {eps:?}f;\n"),
                    )
                } else {
                    let floor = if dz * dz >= eps {
                        String::new()
                    } else {
                        format!("        if (d2 < {eps:?}f) d2 = {eps:?}f;\n")
                    };
                    (format!("{:?}f", dz * dz), String::new(), floor)
                };
                let gather_z = if relaxed {
                    format!("            pz[nnz] = z{l}_at(i);\n")
                } else {
                    String::new()
                };
                if fused && l == 1 {
                    let zk = if relaxed {
                        "(zp - z2_at(k)) * (zp - z2_at(k))".to_string()
                    } else {
                        dz2_init.clone()
                    };
                    write!(
                        body,
                        "/* Layer 1 → 2, pushed: what one hidden neuron at p (z = zp) passes on, v, added to\n\
                         \x20  every output's current. */\n\
                         static void pass1(const float *p, float zp, float v, float *y)\n{{\n\
                         \x20   int k, c;\n\
                         \x20   (void)zp;\n\
                         \x20   for (k = 0; k < {n_out}; k++) {{\n\
                         \x20       float d2 = {zk};\n\
                         \x20       for (c = 0; c < {free}; c++) {{ float dc = p[c] - coords2_at(k * {free} + c); d2 += dc * dc; }}\n\
                         {clamp}\
                         \x20       y[k] += v / sqrtf(d2);\n\
                         \x20   }}\n}}\n\n"
                    )
                    .expect("writing to a String");
                    continue;
                }
                write!(
                    body,
                    "/* Layer {l} → {next}: {n_in} → {n_out} neurons. The non-zero inputs, each times its\n\
                     \x20  mask, and their coordinates, gathered once. */\n\
                     static int gather{l}(const float *x, float *val, float *pc, float *pz)\n{{\n\
                     \x20   int i, c, nnz = 0;\n\
                     \x20   (void)pz;\n\
                     \x20   for (i = 0; i < {n_in}; i++) {{\n\
                     \x20       if (x[i] != 0.0f) {{\n\
                     \x20           val[nnz] = x[i] * mask{l}_at(i);\n\
                     \x20           for (c = 0; c < {free}; c++) pc[c * {sending} + nnz] = coords{l}_at(i * {free} + c);\n\
                     {gather_z}\
                     \x20           nnz++;\n\
                     \x20       }}\n\
                     \x20   }}\n\
                     \x20   return nnz;\n}}\n\n\
                     /* The current into neuron j of layer {next}: its bias and a weight 1/distance per\n\
                     \x20  gathered input, made here. */\n\
                     static float current{l}(int j, int nnz, const float *val, const float *pc, const float *pz)\n{{\n\
                     \x20   float p[{free}], acc = bias{next}_at(j);\n\
                     \x20   int t, c;\n\
                     {zj}\
                     \x20   (void)pz;\n\
                     \x20   for (c = 0; c < {free}; c++) p[c] = coords{next}_at(j * {free} + c);\n\
                     \x20   for (t = 0; t < nnz; t++) {{\n\
                     \x20       float d2 = {dz2_init};\n\
                     \x20       for (c = 0; c < {free}; c++) {{ float dc = pc[c * {sending} + t] - p[c]; d2 += dc * dc; }}\n\
                     {clamp}\
                     \x20       acc += val[t] / sqrtf(d2);\n\
                     \x20   }}\n\
                     \x20   return acc;\n}}\n\n",
                    next = l + 1,
                )
                .expect("writing to a String");
            }
            let z1 = if relaxed {
                "z1_at(j)".to_string()
            } else {
                format!("{:?}f", layer_z(1))
            };
            body += &embedded_predict(&layers, free, sending, config.activation, fused, &z1);
        }
        None => {
            for c in 0..depth - 1 {
                let (w, b) = (format!("linear.{c}.weight"), format!("linear.{c}.bias"));
                arrays.push(Array {
                    name: format!("weight{c}"),
                    values: var(&w)?,
                    affine: affine(&w),
                });
                arrays.push(Array {
                    name: format!("bias{}", c + 1),
                    values: var(&b)?,
                    affine: affine(&b),
                });
                let last = c + 2 == depth;
                let act = activation(config.activation, last);
                let (n_in, n_out) = (layers[c], layers[c + 1]);
                writeln!(
                    body,
                    "/* Dense layer {c}: {n_in} → {n_out}, weights [out][in]. */\n\
                     static void layer{c}(const float *x, float *y, unsigned short *idx, float *val)\n{{\n\
                     \x20   int i, j, t, nnz = 0;\n\
                     \x20   for (i = 0; i < {n_in}; i++) {{\n\
                     \x20       if (x[i] != 0.0f) {{ idx[nnz] = (unsigned short)i; val[nnz] = x[i]; nnz++; }}\n\
                     \x20   }}\n\
                     \x20   for (j = 0; j < {n_out}; j++) {{\n\
                     \x20       float acc = bias{}_at(j);\n\
                     \x20       for (t = 0; t < nnz; t++) acc += val[t] * weight{c}_at(j * {n_in} + idx[t]);\n\
                     \x20       y[j] = {act};\n\
                     \x20   }}\n}}\n",
                    c + 1
                )
                .expect("writing to a String");
            }
        }
    }
    if config.kind.axis().is_none() {
        body += &dense_predict(&layers);
    }
    let (header, source) = files(&config.describe(), &layers, &arrays, &body, precision);
    let model_bytes = arrays
        .iter()
        .map(|a| a.values.len() * element_bytes(precision) + if a.affine.is_some() { 8 } else { 0 })
        .sum();
    Ok(CExport {
        header,
        source,
        example: EXAMPLE.to_string(),
        model_bytes,
    })
}

fn element_bytes(p: Precision) -> usize {
    match p {
        Precision::F32 => 4,
        Precision::F16 => 2,
        Precision::Int8 => 1,
    }
}

/// The expression a layer's output neuron gets: the activation of `acc`, or `acc` (logits).
fn activation(a: Activation, last: bool) -> &'static str {
    match (last, a) {
        (true, _) => "acc",
        (false, Activation::Relu) => "acc > 0.0f ? acc : 0.0f",
        (false, Activation::Tanh) => "tanhf(acc)",
        (false, Activation::Sigmoid) => "1.0f / (1.0f + expf(-acc))",
    }
}

/// An f32 as the bits of the nearest f16 (round to nearest even; the values were rounded to f16
/// already, so this is exact).
fn f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let mant = bits & 0x7f_ffff;
    if x == 0.0 {
        return sign;
    }
    if exp >= 31 {
        return sign | 0x7c00;
    }
    if exp <= 0 {
        // Subnormal: shift the implicit bit in.
        let m = (mant | 0x80_0000) >> (1 - exp) as u32;
        return sign | ((m + 0x1000) >> 13) as u16;
    }
    let rounded = (exp as u32) << 10 | ((mant + 0x1000) >> 13);
    sign | rounded as u16
}

fn files(
    describe: &str,
    layers: &[usize],
    arrays: &[Array],
    body: &str,
    precision: Precision,
) -> (String, String) {
    let (inputs, classes) = (layers[0], layers[layers.len() - 1]);
    let header = format!(
        "/* {describe}: generated by `neuropos export --format c` ({precision}). */\n\
         #ifndef NEUROPOS_MODEL_H\n#define NEUROPOS_MODEL_H\n\n\
         #define NEUROPOS_INPUTS {inputs}\n#define NEUROPOS_CLASSES {classes}\n\n\
         /* input: NEUROPOS_INPUTS floats in [0, 1]; scores: NEUROPOS_CLASSES floats (logits);\n\
         \x20  returns the predicted class (the first of the largest scores). */\n\
         int neuropos_predict(const float *input, float *scores);\n\n#endif\n"
    );
    let mut src = format!(
        "/* {describe}: generated by `neuropos export --format c` ({precision}).\n\
         \x20  Weights are made from the positions as they are used: nothing is allocated and no\n\
         \x20  state changes between calls. */\n#include <math.h>\n#include \"neuropos_model.h\"\n\n"
    );
    if precision == Precision::F16 {
        src += "/* An IEEE half as a float. */\nstatic float half(unsigned short h)\n{\n    \
                unsigned int s = (unsigned int)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;\n    \
                union { unsigned int u; float f; } v;\n    \
                if (e == 0) { float f = (float)m / 16777216.0f; return s ? -f : f; }\n    \
                v.u = s | ((e == 31 ? 255u : e + 112u) << 23) | (m << 13);\n    return v.f;\n}\n\n";
    }
    for a in arrays {
        let n = a.values.len();
        match precision {
            Precision::F32 => {
                let v: Vec<String> = a.values.iter().map(|x| format!("{x:?}f")).collect();
                src += &format!("static const float {}[{n}] = {{{}}};\n", a.name, wrap(&v));
                src += &format!(
                    "static float {0}_at(int k) {{ return {0}[k]; }}\n\n",
                    a.name
                );
            }
            Precision::F16 => {
                let v: Vec<String> = a
                    .values
                    .iter()
                    .map(|&x| format!("0x{:04x}", f16_bits(x)))
                    .collect();
                src += &format!(
                    "static const unsigned short {}[{n}] = {{{}}};\n",
                    a.name,
                    wrap(&v)
                );
                src += &format!(
                    "static float {0}_at(int k) {{ return half({0}[k]); }}\n\n",
                    a.name
                );
            }
            Precision::Int8 => {
                let (scale, offset) = a.affine.unwrap_or((1.0, 0.0));
                let v: Vec<String> = a
                    .values
                    .iter()
                    .map(|&x| {
                        (((x as f64 - offset) / scale).round().clamp(-128.0, 127.0) as i32)
                            .to_string()
                    })
                    .collect();
                src += &format!(
                    "static const signed char {}[{n}] = {{{}}};\n",
                    a.name,
                    wrap(&v)
                );
                src += &format!(
                    "static float {0}_at(int k) {{ return {1:?}f + {2:?}f * (float){0}[k]; }}\n\n",
                    a.name, offset as f32, scale as f32
                );
            }
        }
    }
    src += body;
    (header, src)
}

/// Values as C initialiser lines of at most ~100 characters.
fn wrap(values: &[String]) -> String {
    let mut out = String::from("\n    ");
    let mut line = 0;
    for (i, v) in values.iter().enumerate() {
        if line + v.len() > 96 {
            out += "\n    ";
            line = 0;
        }
        out += v;
        if i + 1 < values.len() {
            out += ", ";
        }
        line += v.len() + 2;
    }
    out + "\n"
}

/// Reads an IDX image file (raw, not compressed) and prints one predicted class per line.
const EXAMPLE: &str = r#"/* Reads an IDX image file (magic 2051, unsigned bytes) and prints one predicted class per
   line: `./predict t10k-images-idx3-ubyte`. */
#include <stdio.h>
#include "neuropos_model.h"

static unsigned long be32(const unsigned char *b)
{
    return ((unsigned long)b[0] << 24) | ((unsigned long)b[1] << 16) | ((unsigned long)b[2] << 8) | b[3];
}

int main(int argc, char **argv)
{
    unsigned char head[16], pixels[NEUROPOS_INPUTS];
    float input[NEUROPOS_INPUTS], scores[NEUROPOS_CLASSES];
    unsigned long n, i;
    int k;
    FILE *f;
    if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: %s IMAGES-IDX-FILE\n", argv[0]);
        return 2;
    }
    if (fread(head, 1, 16, f) != 16 || be32(head) != 2051 || be32(head + 8) * be32(head + 12) != NEUROPOS_INPUTS) {
        fprintf(stderr, "%s: not an IDX image file of %d pixels per image\n", argv[1], NEUROPOS_INPUTS);
        return 1;
    }
    n = be32(head + 4);
    for (i = 0; i < n; i++) {
        if (fread(pixels, 1, NEUROPOS_INPUTS, f) != NEUROPOS_INPUTS) {
            fprintf(stderr, "%s: truncated at image %lu\n", argv[1], i);
            return 1;
        }
        for (k = 0; k < NEUROPOS_INPUTS; k++) input[k] = (float)pixels[k] / 255.0f;
        printf("%d\n", neuropos_predict(input, scores));
    }
    fclose(f);
    return 0;
}
"#;

/// Which buffers layer `l` of `layers` reads and writes when every layer is computed in full.
fn buffers(l: usize, layers: &[usize]) -> (&'static str, &'static str) {
    match (l, l + 2 == layers.len()) {
        (0, true) => ("input", "scores"),
        (0, false) => ("input", "a"),
        (_, true) => (if l % 2 == 1 { "a" } else { "b" }, "scores"),
        _ if l % 2 == 1 => ("a", "b"),
        _ => ("b", "a"),
    }
}

const ARGMAX: &str = "    for (k = 1; k < NEUROPOS_CLASSES; k++) if (scores[k] > scores[best]) best = k;\n    return best;\n}\n";

/// `neuropos_predict` of a dense network: every layer in full, over its non-zero inputs.
fn dense_predict(layers: &[usize]) -> String {
    let widest = *layers.iter().max().expect("layers");
    let calls: String = (0..layers.len() - 1)
        .map(|l| {
            let (from, to) = buffers(l, layers);
            format!("    layer{l}({from}, {to}, idx, val);\n")
        })
        .collect();
    format!(
        "\nint neuropos_predict(const float *input, float *scores)\n{{\n    \
         float a[{widest}], b[{widest}], val[{widest}];\n    unsigned short idx[{widest}];\n    \
         int k, best = 0;\n    (void)a; (void)b;\n{calls}{ARGMAX}"
    )
}

/// `neuropos_predict` of an embedded network. With one hidden ReLU layer (the paper's
/// 784-2048-10) the two layers are fused: each hidden neuron's activation is made and at once
/// passed on to the outputs, so no hidden layer is stored and a silent neuron (ReLU 0) costs no
/// wire of the second layer. Otherwise layer by layer, through two buffers.
fn embedded_predict(
    layers: &[usize],
    free: usize,
    sending: usize,
    a: Activation,
    fused: bool,
    z1: &str,
) -> String {
    let scratch = format!(
        "    float val[{sending}], pc[{free} * {sending}], pz[{sending}];\n    int k, best = 0, nnz;\n"
    );
    if fused {
        let (hidden, classes) = (layers[1], layers[2]);
        return format!(
            "\nint neuropos_predict(const float *input, float *scores)\n{{\n{scratch}    \
             int j, c;\n    \
             nnz = gather0(input, val, pc, pz);\n    \
             for (k = 0; k < {classes}; k++) scores[k] = bias2_at(k);\n    \
             for (j = 0; j < {hidden}; j++) {{\n        \
             float p[{free}], h = current0(j, nnz, val, pc, pz);\n        \
             if (h <= 0.0f) continue; /* ReLU: a silent neuron passes nothing on */\n        \
             for (c = 0; c < {free}; c++) p[c] = coords1_at(j * {free} + c);\n        \
             pass1(p, {z1}, h * mask1_at(j), scores);\n    \
             }}\n{ARGMAX}"
        );
    }
    let widest = *layers.iter().max().expect("layers");
    let calls: String = (0..layers.len() - 1)
        .map(|l| {
            let (from, to) = buffers(l, layers);
            let out = layers[l + 1];
            let act = activation(a, l + 2 == layers.len()).replace("acc", "v");
            format!(
                "    nnz = gather{l}({from}, val, pc, pz);\n    \
                 for (k = 0; k < {out}; k++) {{ float v = current{l}(k, nnz, val, pc, pz); {to}[k] = {act}; }}\n"
            )
        })
        .collect();
    format!(
        "\nint neuropos_predict(const float *input, float *scores)\n{{\n{scratch}    \
         float a[{widest}], b[{widest}];\n    (void)a; (void)b;\n{calls}{ARGMAX}"
    )
}

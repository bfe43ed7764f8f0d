//! The model's stored numbers as C arrays at a precision, and each value as the generated C
//! code will decode it — the thresholds of a pruned layer are chosen on those values, so the C
//! program and the choice agree to the bit.

use crate::precision::Precision;

/// One array of stored numbers and how it decodes.
pub(super) struct Array {
    pub name: String,
    pub values: Vec<f32>,
    /// int8: the scale and the offset.
    pub affine: Option<(f64, f64)>,
}

impl Array {
    /// The stored code of every value: int8 steps, f16 bits, or the f32 itself.
    fn int8_codes(&self) -> Vec<i32> {
        let (scale, offset) = self.affine.unwrap_or((1.0, 0.0));
        self.values
            .iter()
            .map(|&x| ((x as f64 - offset) / scale).round().clamp(-128.0, 127.0) as i32)
            .collect()
    }

    /// The values as `{name}_at(k)` returns them in C.
    pub fn as_c(&self, precision: Precision) -> Vec<f32> {
        match precision {
            Precision::F32 => self.values.clone(),
            Precision::F16 => self
                .values
                .iter()
                .map(|&x| half::f16::from_f32(x).to_f32())
                .collect(),
            Precision::Int8 => {
                let (scale, offset) = self.affine.unwrap_or((1.0, 0.0));
                let (scale, offset) = (scale as f32, offset as f32);
                // `offset + scale * (float)q`, two roundings, as the C expression.
                self.int8_codes()
                    .into_iter()
                    .map(|q| offset + scale * q as f32)
                    .collect()
            }
        }
    }

    /// A small array (the output layer's positions, say) is stored as the floats it decodes
    /// to: the same values, without a decode per use, for a few bytes more.
    fn decoded(&self) -> bool {
        self.values.len() <= SMALL
    }

    /// Bytes of storage: the elements, and the scale and offset of an int8 array.
    pub fn bytes(&self, precision: Precision) -> usize {
        if self.decoded() {
            return 4 * self.values.len();
        }
        let element = match precision {
            Precision::F32 => 4,
            Precision::F16 => 2,
            Precision::Int8 => 1,
        };
        self.values.len() * element + if self.affine.is_some() { 8 } else { 0 }
    }

    /// The C definition of the array and of its accessor `{name}_at(k)`.
    pub fn definition(&self, precision: Precision) -> String {
        let (name, n) = (&self.name, self.values.len());
        if self.decoded() && precision != Precision::F32 {
            let v: Vec<String> = self.as_c(precision).into_iter().map(literal).collect();
            return format!(
                "/* Decoded from {precision}: few enough to keep as floats. */\n\
                 static const float {name}[{n}] = {{{}}};\n\
                 static float {name}_at(int k) {{ return {name}[k]; }}\n\n",
                wrap(&v)
            );
        }
        match precision {
            Precision::F32 => {
                let v: Vec<String> = self.values.iter().map(|x| format!("{x:?}f")).collect();
                format!(
                    "static const float {name}[{n}] = {{{}}};\n\
                     static float {name}_at(int k) {{ return {name}[k]; }}\n\n",
                    wrap(&v)
                )
            }
            Precision::F16 => {
                let v: Vec<String> = self
                    .values
                    .iter()
                    .map(|&x| format!("0x{:04x}", half::f16::from_f32(x).to_bits()))
                    .collect();
                format!(
                    "static const unsigned short {name}[{n}] = {{{}}};\n\
                     static float {name}_at(int k) {{ return half({name}[k]); }}\n\n",
                    wrap(&v)
                )
            }
            Precision::Int8 => {
                let (scale, offset) = self.affine.unwrap_or((1.0, 0.0));
                let v: Vec<String> = self.int8_codes().iter().map(i32::to_string).collect();
                format!(
                    "static const signed char {name}[{n}] = {{{}}};\n\
                     static float {name}_at(int k) {{ return {:?}f + {:?}f * (float){name}[k]; }}\n\n",
                    wrap(&v),
                    offset as f32,
                    scale as f32
                )
            }
        }
    }
}

/// Arrays of at most this many values are stored decoded ([`Array::decoded`]).
const SMALL: usize = 64;

/// An IEEE half as a float, in C (only an f16 export needs it).
pub(super) const HALF: &str = "/* An IEEE half as a float. */\nstatic float half(unsigned short h)\n{\n    \
    unsigned int s = (unsigned int)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;\n    \
    union { unsigned int u; float f; } v;\n    \
    if (e == 0) { float f = (float)m / 16777216.0f; return s ? -f : f; }\n    \
    v.u = s | ((e == 31 ? 255u : e + 112u) << 23) | (m << 13);\n    return v.f;\n}\n\n";

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

/// A float as a C literal that reads back as the same f32.
pub(super) fn literal(x: f32) -> String {
    format!("{x:?}f")
}

//! Keep-masks as bits, 8 to a byte: how a checkpoint stores a fixed mask.

use candle_core::{DType, Device, Result, Tensor};

/// A 0/1 mask as bits, 8 to a byte, row-major (a compact checkpoint tensor: 1/32 of f32).
pub fn pack_mask(mask: &Tensor) -> Result<Vec<u8>> {
    let values = mask.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let mut bits = vec![0u8; values.len().div_ceil(8)];
    for (i, &v) in values.iter().enumerate() {
        if v != 0.0 {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(bits)
}

/// The inverse of [`pack_mask`] for a mask of `shape`, or `None` if the bytes do not fit it.
pub fn unpack_mask(bits: &[u8], shape: (usize, usize)) -> Option<Tensor> {
    let n = shape.0 * shape.1;
    if bits.len() != n.div_ceil(8) {
        return None;
    }
    let values: Vec<f32> = (0..n)
        .map(|i| f32::from((bits[i / 8] >> (i % 8)) & 1))
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_pack_to_bits_and_back() {
        let mask = Tensor::rand(0f32, 1.0, (13, 7), &Device::Cpu)
            .unwrap()
            .ge(0.5)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let bits = pack_mask(&mask).unwrap();
        assert_eq!(bits.len(), 12); // 91 bits
        let back = unpack_mask(&bits, (13, 7)).unwrap();
        assert_eq!(
            back.to_vec2::<f32>().unwrap(),
            mask.to_vec2::<f32>().unwrap()
        );
        assert!(
            unpack_mask(&bits, (13, 8)).is_none(),
            "a wrong shape is refused"
        );
    }
}

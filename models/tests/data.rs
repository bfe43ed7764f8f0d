//! MNIST loading: the vendored copy verifies; missing or corrupt files name themselves.

use neuropos_models::data::{self, MNIST_FILES};
use std::path::Path;

fn vendored() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")
}

fn copy_vendored(to: &Path) {
    for entry in std::fs::read_dir(vendored()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn vendored_mnist_loads_with_checksums() {
    let m = data::load_dir(&vendored(), true).unwrap();
    assert_eq!(m.train_images.dims(), [60_000, 784]);
    assert_eq!(m.test_images.dims(), [10_000, 784]);
    assert_eq!(m.train_labels.dims(), [60_000]);
    let max: f32 = m.train_images.max_all().unwrap().to_scalar().unwrap();
    let min: f32 = m.train_images.min_all().unwrap().to_scalar().unwrap();
    assert_eq!((min, max), (0.0, 1.0), "pixels scaled to [0, 1]");
    // The first test digit of MNIST is a 7.
    assert_eq!(m.test_labels.to_vec1::<u32>().unwrap()[0], 7);
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    copy_vendored(dir.path());
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let err = data::load_dir(dir.path(), true).unwrap_err().to_string();
    assert!(err.contains("t10k-labels-idx1-ubyte"), "{err}");
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn a_corrupt_file_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    copy_vendored(dir.path());
    let victim = dir.path().join(format!("{}.gz", MNIST_FILES[1]));
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let err = data::load_dir(dir.path(), true).unwrap_err().to_string();
    assert!(
        err.contains("train-labels-idx1-ubyte.gz") && err.contains("SHA-256"),
        "{err}"
    );
}

#[test]
fn checksums_are_required_for_the_vendored_copy_and_optional_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    copy_vendored(dir.path());
    std::fs::remove_file(dir.path().join("SHA256SUMS")).unwrap();
    let err = data::load_dir(dir.path(), true).unwrap_err().to_string();
    assert!(err.contains("SHA256SUMS"), "{err}");
    assert!(data::load_dir(dir.path(), false).is_ok());
}

#[test]
fn a_truncated_raw_idx_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    copy_vendored(dir.path());
    std::fs::remove_file(dir.path().join("SHA256SUMS")).unwrap();
    // Replace the gzip test images by a raw IDX file that stops early.
    let gz = dir.path().join("t10k-images-idx3-ubyte.gz");
    let mut raw = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    std::fs::remove_file(&gz).unwrap();
    std::fs::write(
        dir.path().join("t10k-images-idx3-ubyte"),
        &raw[..raw.len() - 100],
    )
    .unwrap();
    let err = data::load_dir(dir.path(), false).unwrap_err().to_string();
    assert!(
        err.contains("t10k-images-idx3-ubyte") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn idx_headers_are_checked_against_the_bytes_before_allocating() {
    let file = Path::new("probe-idx");
    // A label file claiming 2^32 − 1 labels over 3 bytes, an image file claiming 2^32 − 1
    // images (3 TB): refused from the header, nothing allocated.
    let mut labels = vec![0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff];
    labels.extend([1, 2, 3]);
    let err = data::parse_idx(file, false, &labels)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("probe-idx") && err.contains("truncated"),
        "{err}"
    );
    let images = [0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28];
    let err = data::parse_idx(file, true, &images)
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
    // Trailing bytes, a short header, another shape, the wrong magic.
    let mut trailing = vec![0, 0, 8, 1, 0, 0, 0, 2, 5, 6];
    trailing.push(7);
    assert!(data::parse_idx(file, false, &trailing)
        .unwrap_err()
        .to_string()
        .contains("trailing"));
    assert!(data::parse_idx(file, true, &images[..10]).is_err());
    // Any image shape is data (28 × 29 here, whose bytes are missing), and channels last too.
    let mut wide = images.to_vec();
    wide[15] = 29;
    assert!(data::parse_idx(file, true, &wide)
        .unwrap_err()
        .to_string()
        .contains("truncated"));
    let rgb = [
        0, 0, 8, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 51, 102, 153, 204, 255,
    ];
    let (t, shape) = data::parse_idx_shaped(file, true, &rgb).unwrap();
    assert_eq!((t.dims(), shape), (&[1, 6][..], vec![2, 1, 3]));
    assert!(data::parse_idx(file, true, &labels)
        .unwrap_err()
        .to_string()
        .contains("magic"));
    // A good one.
    let t = data::parse_idx(file, false, &[0, 0, 8, 1, 0, 0, 0, 2, 5, 6]).unwrap();
    assert_eq!(t.to_vec1::<u8>().unwrap(), [5, 6]);
}

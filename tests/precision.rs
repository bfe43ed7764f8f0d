//! `eval --precision`: the shipped checkpoints scored with their stored numbers rounded to f16
//! and to int8, and what they then store.

mod support;
use support::ok;

fn score(checkpoint: &str, precision: &str) -> (f64, u64) {
    let path = format!("{}/checkpoints/{checkpoint}", env!("CARGO_MANIFEST_DIR"));
    let out = ok(&[
        "eval",
        &path,
        "--precision",
        precision,
        "--test-limit",
        "2000",
        "--format",
        "json",
        "--device",
        "cpu",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["precision"], precision);
    (
        rows[0]["accuracy"].as_f64().unwrap(),
        rows[0]["stored_bytes"].as_u64().unwrap(),
    )
}

#[test]
fn rounded_checkpoints_keep_their_accuracy_in_a_quarter_of_the_bytes() {
    for (checkpoint, params, tensors, int8_loss) in [
        ("mlp3d", 10_574u64, 7u64, 0.01),
        ("mlp-h14", 11_140, 4, 0.01),
        ("snn3d", 10_574, 7, 0.02),
    ] {
        let (f32_acc, f32_bytes) = score(checkpoint, "f32");
        let (f16_acc, f16_bytes) = score(checkpoint, "f16");
        let (int8_acc, int8_bytes) = score(checkpoint, "int8");
        assert_eq!(
            (f32_bytes, f16_bytes),
            (4 * params, 2 * params),
            "{checkpoint}"
        );
        assert_eq!(
            int8_bytes,
            params + 8 * tensors,
            "{checkpoint}: values, a scale and an offset per tensor"
        );
        assert!(
            (f16_acc - f32_acc).abs() <= 0.002,
            "{checkpoint}: f16 {f16_acc} vs {f32_acc}"
        );
        assert!(
            f32_acc - int8_acc <= int8_loss,
            "{checkpoint}: int8 {int8_acc} vs {f32_acc}"
        );
        // The rounding is a function of the checkpoint: the same numbers every time.
        assert_eq!(score(checkpoint, "int8").0, int8_acc);
    }
}

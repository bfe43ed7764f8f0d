//! `--data hub` goes through candle-datasets' Hugging Face loader, which honours HF_ENDPOINT.
//! No internet here: the fake Hub on 127.0.0.1 (holding no repositories) records what the loader
//! asks for and answers 404, and the CLI must turn that into a clear error (no panic).

mod fake_hub;

use std::process::Command;

#[test]
fn hub_loader_asks_the_configured_endpoint_and_reports_failure() {
    let mut hub = fake_hub::start(fake_hub::Repos::new());
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("run");
    let result = Command::new(env!("CARGO_BIN_EXE_neuropos"))
        .args([
            "train", "--model", "mlp", "--hidden", "14", "--epochs", "1", "--data", "hub",
            "--device", "cpu", "--out",
        ])
        .arg(&out)
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{}", hub.port))
        .env("HF_HOME", home.path())
        .env("HF_HUB_DISABLE_XET", "1")
        .output()
        .unwrap();
    hub.stop();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "a 404 hub cannot give a dataset");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("hub:ylecun/mnist"),
        "error does not say where it looked: {stderr}"
    );
    let asked = hub.requests.lock().unwrap().clone();
    assert!(
        asked.iter().any(|r| r.contains("ylecun/mnist")),
        "the loader never asked the local endpoint for ylecun/mnist: {asked:?}"
    );
}

//! `hf://` checkpoints against a small Hub on 127.0.0.1 that answers the routes the hf-hub crate
//! calls: `HEAD`/`GET {endpoint}/{owner}/{repo}/resolve/{revision}/{path}` (ETag, X-Repo-Commit,
//! Content-Length, and X-Error-Code on a 404, as the Hub sends them) and
//! `GET {endpoint}/api/models/{owner}/{repo}[/revision/{revision}]`. A good download at a pinned
//! revision, `pull`, a missing repository, a missing file, a body cut short, a corrupt checkpoint,
//! and a second run from the cache with the server stopped and `HF_HUB_OFFLINE=1`.

mod fake_hub;

use std::path::Path;
use std::process::{Command, Output};

use fake_hub::{Quirk, Repos, Served, COMMIT};

fn neuropos(args: &[&str], home: &Path, port: u16, offline: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neuropos"));
    fake_hub::against(command.args(args), port, home);
    if offline {
        command.env("HF_HUB_OFFLINE", "1");
    }
    command.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The failure of `args`, checked to name `reference` and to say `what`, never a panic.
fn fails_saying(args: &[&str], home: &Path, port: u16, reference: &str, what: &str) {
    let out = neuropos(args, home, port, false);
    let err = stderr(&out);
    if std::env::var_os("SHOW_ERRORS").is_some() {
        eprintln!("{args:?}: {err}");
    }
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        err.contains(reference) && err.contains(what),
        "{args:?}: expected {reference:?} and {what:?} in: {err}"
    );
}

fn accuracy_of(out: &Output) -> f64 {
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("eval output is not JSON ({e}): {}", stderr(out)));
    rows[0]["accuracy"].as_f64().unwrap()
}

#[test]
fn hub_checkpoints_download_validate_fail_clearly_and_work_offline() {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp-h14");
    let config = std::fs::read(local.join("config.json")).unwrap();
    let model = std::fs::read(local.join("model.safetensors")).unwrap();
    let mut repos = Repos::new();
    let mut add = |repo: &str, path: &str, bytes: &[u8], truncated: bool| {
        let served = Served {
            bytes: bytes.to_vec(),
            truncated,
            quirk: Quirk::None,
        };
        repos.insert((repo.to_string(), path.to_string()), served);
    };
    let card = std::fs::read(local.join("README.md")).unwrap();
    let log = std::fs::read(local.join("metrics.jsonl")).unwrap();
    add("neuropos/zoo", "mlp-h14/config.json", &config, false);
    add("neuropos/zoo", "mlp-h14/model.safetensors", &model, false);
    add("neuropos/zoo", "mlp-h14/README.md", &card, false);
    add("neuropos/zoo", "mlp-h14/metrics.jsonl", &log, false);
    add("neuropos/cut", "config.json", &config, false);
    add("neuropos/cut", "model.safetensors", &model, true);
    add("neuropos/corrupt", "config.json", &config, false);
    add(
        "neuropos/corrupt",
        "model.safetensors",
        &model[..model.len() - 100],
        false,
    );
    let embedded = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp3d");
    for file in ["config.json", "model.safetensors"] {
        add(
            "neuropos/embedded",
            file,
            &std::fs::read(embedded.join(file)).unwrap(),
            false,
        );
    }
    let mut hub = fake_hub::start(repos);
    let port = hub.port;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let eval = |reference: &str, offline: bool| {
        let args = [
            "eval",
            reference,
            "--test-limit",
            "300",
            "--format",
            "json",
            "--device",
            "cpu",
        ];
        neuropos(&args, home, port, offline)
    };

    let expected = accuracy_of(&eval(local.to_str().unwrap(), false));
    let pinned = format!("hf://neuropos/zoo@{COMMIT}/mlp-h14");
    let out = eval(&pinned, false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        accuracy_of(&out),
        expected,
        "the downloaded checkpoint scores differently"
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["checkpoint"], pinned.as_str());
    // The commit the reference resolved to, so a sweep names exactly what it measured.
    assert_eq!(rows[0]["revision"], COMMIT);
    let snapshot = home
        .join("hub/models--neuropos--zoo/snapshots")
        .join(COMMIT);
    assert!(
        snapshot.join("mlp-h14/model.safetensors").exists(),
        "not in the standard cache"
    );

    let pulled = home.join("pulled");
    let out = neuropos(
        &[
            "pull",
            "hf://neuropos/zoo/mlp-h14",
            "--out",
            pulled.to_str().unwrap(),
        ],
        home,
        port,
        false,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(pulled.join("model.safetensors")).unwrap(),
        model
    );
    assert_eq!(std::fs::read(pulled.join("config.json")).unwrap(), config);
    // The card and the training log come along; a repository without them pulls all the same.
    assert_eq!(std::fs::read(pulled.join("README.md")).unwrap(), card);
    assert_eq!(std::fs::read(pulled.join("metrics.jsonl")).unwrap(), log);
    let bare = home.join("bare");
    let out = neuropos(
        &[
            "pull",
            "hf://neuropos/embedded",
            "--out",
            bare.to_str().unwrap(),
        ],
        home,
        port,
        false,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(bare.join("model.safetensors").exists() && !bare.join("README.md").exists());
    fails_saying(
        &[
            "pull",
            "hf://neuropos/zoo/mlp-h14",
            "--out",
            pulled.to_str().unwrap(),
        ],
        home,
        port,
        "pulled",
        "--force",
    );

    let pull = |reference: &'static str| ["pull", reference, "--out", "/nonexistent/never"];
    fails_saying(
        &pull("hf://nobody/nothing"),
        home,
        port,
        "hf://nobody/nothing",
        "repository nobody/nothing not found",
    );
    fails_saying(
        &pull("hf://neuropos/zoo@v9/mlp-h14"),
        home,
        port,
        "hf://neuropos/zoo@v9/mlp-h14",
        "revision v9 not found",
    );
    fails_saying(
        &pull("hf://neuropos/zoo/mlp3d"),
        home,
        port,
        "hf://neuropos/zoo/mlp3d",
        "mlp3d/config.json not found in the repository",
    );
    fails_saying(
        &pull("hf://neuropos/cut"),
        home,
        port,
        "hf://neuropos/cut",
        "model.safetensors",
    );
    fails_saying(
        &pull("hf://neuropos/corrupt"),
        home,
        port,
        "hf://neuropos/corrupt",
        "not a valid safetensors file",
    );
    fails_saying(
        &pull("hf://neuropos"),
        home,
        port,
        "hf://neuropos",
        "expected hf://owner/repo",
    );

    // Fine-tuning from the Hub records the reference and the commit it was downloaded at.
    let tuned = home.join("tuned");
    let args = [
        "train",
        "--init-from",
        &pinned,
        "--epochs",
        "1",
        "--train-limit",
        "600",
        "--test-limit",
        "300",
        "--device",
        "cpu",
        "--out",
        tuned.to_str().unwrap(),
    ];
    let out = neuropos(&args, home, port, false);
    assert!(out.status.success(), "{}", stderr(&out));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tuned.join("config.json")).unwrap()).unwrap();
    let lineage = &config["training"]["init_from"];
    assert_eq!(lineage["source"], pinned.as_str());
    assert_eq!(lineage["commit"], COMMIT);
    assert_eq!(lineage["initial_test_accuracy"].as_f64().unwrap(), expected);

    // The viewer page of an embedded checkpoint straight from the Hub names its source.
    let page = home.join("viewer.html");
    let args = [
        "viz",
        "hf://neuropos/embedded",
        "--html",
        page.to_str().unwrap(),
        "--images",
        "2",
        "--levels",
        "0,50",
        "--test-limit",
        "200",
    ];
    let out = neuropos(&args, home, port, false);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(r#""checkpoint":"hf://neuropos/embedded""#));

    // The server goes away; the branch reference resolves from the cache alone.
    hub.stop();
    let out = eval("hf://neuropos/zoo/mlp-h14", true);
    assert!(
        out.status.success(),
        "offline from the cache: {}",
        stderr(&out)
    );
    assert_eq!(accuracy_of(&out), expected);
    let out = eval("hf://neuropos/corrupt/elsewhere", true);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
}

//! `neuropos push` against a writable fake Hub on 127.0.0.1 that answers the routes hf-hub's
//! upload API calls (create repository, preupload, LFS batch, commit, branch): a push that
//! `pull` reads back byte for byte, a branch and a pull request beside an untouched main, a
//! private repository, and every refusal — no token, a bad token (401), another's namespace
//! (403), a repository that exists under another owner (409, then 403), a server failing
//! mid-commit (5xx), an unfinished run, an incomplete directory — each a clear error with
//! nothing committed that `pull` would take for a model.

mod fake_hub;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use fake_hub::{Accounts, Repos};

const TOKEN: &str = "hf_lab_write";

fn neuropos(args: &[&str], home: &Path, port: u16, token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neuropos"));
    fake_hub::against(command.args(args), port, home);
    if let Some(token) = token {
        command.env("HF_TOKEN", token);
    }
    command.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// The failure of a command, checked to say each of `what`, never a panic.
fn fails_saying(out: Output, what: &[&str]) {
    let err = stderr(&out);
    if std::env::var_os("SHOW_ERRORS").is_some() {
        eprintln!("{err}");
    }
    assert!(!out.status.success(), "succeeded: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in what {
        assert!(err.contains(w), "expected {w:?} in: {err}");
    }
}

fn checkpoint(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("checkpoints")
        .join(name)
}

fn commits(hub: &fake_hub::FakeHub, repo: &str) -> usize {
    let state = hub.state.lock().unwrap();
    state.pushed.get(repo).map_or(0, |p| p.commits.len())
}

#[test]
fn push_then_pull_gives_the_same_bytes_on_main_a_branch_and_a_pull_request() {
    let accounts = Accounts {
        tokens: HashMap::from([(TOKEN.to_string(), "lab".to_string())]),
        ..Default::default()
    };
    let hub = fake_hub::start_writable(Repos::new(), accounts);
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let run = |args: &[&str], token| neuropos(args, home, hub.port, token);
    let mlp3d = checkpoint("mlp3d");
    let out = ok(run(
        &[
            "push",
            mlp3d.to_str().unwrap(),
            "hf://lab/mlp3d",
            "--message",
            "first",
        ],
        Some(TOKEN),
    ));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("neuropos pull hf://lab/mlp3d@"), "{said}");
    let requests = hub.requests.lock().unwrap().clone();
    for route in [
        "POST /api/repos/create",
        "POST /api/models/lab/mlp3d/preupload/main",
        "POST /lab/mlp3d.git/info/lfs/objects/batch",
        "POST /api/models/lab/mlp3d/commit/main",
    ] {
        assert!(
            requests.iter().any(|r| r.starts_with(route)),
            "{route} not called: {requests:?}"
        );
    }

    let pulled = home.join("pulled");
    ok(run(
        &["pull", "hf://lab/mlp3d", "--out", pulled.to_str().unwrap()],
        None,
    ));
    for file in [
        "config.json",
        "model.safetensors",
        "metrics.jsonl",
        "pruning.json",
    ] {
        assert_eq!(
            std::fs::read(pulled.join(file)).unwrap(),
            std::fs::read(mlp3d.join(file)).unwrap(),
            "{file} differs after push and pull"
        );
    }
    let card = std::fs::read_to_string(pulled.join("README.md")).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mlp3d.join("config.json")).unwrap()).unwrap();
    let accuracy = config["training"]["final_test_accuracy"].as_f64().unwrap();
    assert!(
        card.contains(&format!("      value: {accuracy}\n")),
        "{card}"
    );
    assert!(card.contains("neuropos eval hf://lab/mlp3d "), "{card}");
    // The card pushed is the one `push --dry-run` prints: regenerated from the checkpoint.
    let dry = ok(run(
        &[
            "push",
            mlp3d.to_str().unwrap(),
            "hf://lab/mlp3d",
            "--dry-run",
        ],
        None,
    ));
    assert_eq!(String::from_utf8_lossy(&dry.stdout), card);
    let scored = ok(run(
        &[
            "eval",
            "hf://lab/mlp3d",
            "--test-limit",
            "200",
            "--format",
            "json",
        ],
        None,
    ));
    let local = ok(run(
        &[
            "eval",
            mlp3d.to_str().unwrap(),
            "--test-limit",
            "200",
            "--format",
            "json",
        ],
        None,
    ));
    let accuracy_of = |out: &Output| {
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        rows[0]["accuracy"].as_f64().unwrap()
    };
    assert_eq!(accuracy_of(&scored), accuracy_of(&local));

    // A second model on a branch: main keeps the first.
    let gaps = checkpoint("mlp3d-gaps");
    ok(run(
        &["push", gaps.to_str().unwrap(), "hf://lab/mlp3d@dev"],
        Some(TOKEN),
    ));
    let on_dev = home.join("dev");
    ok(run(
        &[
            "pull",
            "hf://lab/mlp3d@dev",
            "--out",
            on_dev.to_str().unwrap(),
        ],
        None,
    ));
    assert_eq!(
        std::fs::read(on_dev.join("model.safetensors")).unwrap(),
        std::fs::read(gaps.join("model.safetensors")).unwrap()
    );
    assert!(std::fs::read_to_string(on_dev.join("README.md"))
        .unwrap()
        .contains("hf://lab/mlp3d@dev"));
    let main_again = home.join("main-again");
    ok(run(
        &[
            "pull",
            "hf://lab/mlp3d",
            "--out",
            main_again.to_str().unwrap(),
        ],
        None,
    ));
    assert_eq!(
        std::fs::read(main_again.join("model.safetensors")).unwrap(),
        std::fs::read(mlp3d.join("model.safetensors")).unwrap()
    );

    // A pull request: its own ref, main untouched.
    ok(run(
        &[
            "push",
            gaps.to_str().unwrap(),
            "hf://lab/mlp3d",
            "--create-pr",
        ],
        Some(TOKEN),
    ));
    {
        let state = hub.state.lock().unwrap();
        let repo = &state.pushed["lab/mlp3d"];
        let pr = &repo.commits[&repo.branches["refs/pr/1"]];
        assert_eq!(
            pr["model.safetensors"],
            std::fs::read(gaps.join("model.safetensors")).unwrap()
        );
        let main = &repo.commits[&repo.branches["main"]];
        assert_eq!(
            main["model.safetensors"],
            std::fs::read(mlp3d.join("model.safetensors")).unwrap()
        );
        assert_eq!(repo.messages[1], "first");
    }

    // A private repository: its owner pulls it, nobody else.
    ok(run(
        &[
            "push",
            mlp3d.to_str().unwrap(),
            "hf://lab/secret",
            "--private",
        ],
        Some(TOKEN),
    ));
    let out = run(
        &[
            "pull",
            "hf://lab/secret",
            "--out",
            home.join("x").to_str().unwrap(),
        ],
        None,
    );
    fails_saying(out, &["hf://lab/secret", "HF_TOKEN"]);
    ok(run(
        &[
            "pull",
            "hf://lab/secret",
            "--out",
            home.join("secret").to_str().unwrap(),
        ],
        Some(TOKEN),
    ));
}

#[test]
fn failed_pushes_say_why_and_publish_nothing_pull_would_take() {
    let accounts = Accounts {
        tokens: HashMap::from([(TOKEN.to_string(), "lab".to_string())]),
        existing: HashMap::from([("lab/taken".to_string(), "someone".to_string())]),
        commit_status: None,
    };
    let mut hub = fake_hub::start_writable(Repos::new(), accounts);
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let port = hub.port;
    let run = |args: &[&str], token| neuropos(args, home, port, token);
    let mlp = checkpoint("mlp-h14");
    let dir = mlp.to_str().unwrap();

    // Checked before any request.
    fails_saying(
        run(&["push", dir, "hf://lab/x"], None),
        &["hf://lab/x", "HF_TOKEN"],
    );
    let tmp = tempfile::tempdir().unwrap();
    let partial = tmp.path().join("partial");
    std::fs::create_dir(&partial).unwrap();
    std::fs::copy(mlp.join("config.json"), partial.join("config.json")).unwrap();
    fails_saying(
        run(
            &["push", partial.to_str().unwrap(), "hf://lab/x"],
            Some(TOKEN),
        ),
        &["partial", "model.safetensors", "not a complete checkpoint"],
    );
    fails_saying(
        run(
            &[
                "push",
                mlp.join("model.safetensors").to_str().unwrap(),
                "hf://lab/x",
            ],
            Some(TOKEN),
        ),
        &["not a checkpoint directory"],
    );
    fails_saying(
        run(
            &["push", dir, &format!("hf://lab/x@{}", fake_hub::COMMIT)],
            Some(TOKEN),
        ),
        &["name a branch"],
    );
    let unfinished = tmp.path().join("unfinished");
    let args: Vec<&str> = "train --model mlp3d --hidden 16 --train-limit 1200 --batch-size 100 \
         --test-limit 100 --epochs 3 --device cpu --debug-stop-after 12 --out"
        .split_whitespace()
        .chain([unfinished.to_str().unwrap()])
        .collect();
    ok(run(&args, None));
    fails_saying(
        run(
            &["push", unfinished.to_str().unwrap(), "hf://lab/x"],
            Some(TOKEN),
        ),
        &["unfinished", "--allow-unfinished"],
    );
    assert!(
        hub.requests.lock().unwrap().is_empty(),
        "a refused push sent a request"
    );
    // --allow-unfinished publishes it, the card saying how far it got.
    ok(run(
        &[
            "push",
            unfinished.to_str().unwrap(),
            "hf://lab/early",
            "--allow-unfinished",
        ],
        Some(TOKEN),
    ));
    let early = hub.state.lock().unwrap().pushed["lab/early"].clone();
    let card =
        String::from_utf8(early.commits[&early.branches["main"]]["README.md"].clone()).unwrap();
    assert!(card.contains("(interrupted)"), "{card}");

    fails_saying(
        run(&["push", dir, "hf://lab/x"], Some("hf_wrong")),
        &["hf://lab/x", "401", "refused the token"],
    );
    fails_saying(
        run(&["push", dir, "hf://other/x"], Some(TOKEN)),
        &["hf://other/x", "403", "forbids"],
    );
    fails_saying(
        run(&["push", dir, "hf://lab/taken"], Some(TOKEN)),
        &["hf://lab/taken", "403", "someone else's"],
    );
    assert_eq!(commits(&hub, "lab/x"), 0);
    assert_eq!(commits(&hub, "other/x"), 0);

    hub.state.lock().unwrap().accounts.commit_status = Some(500);
    fails_saying(
        run(&["push", dir, "hf://lab/flaky"], Some(TOKEN)),
        &["hf://lab/flaky", "500", "nothing was committed"],
    );
    // The repository exists (created before the commit failed), holding no model.
    assert_eq!(commits(&hub, "lab/flaky"), 1);
    fails_saying(
        run(
            &[
                "pull",
                "hf://lab/flaky",
                "--out",
                home.join("f").to_str().unwrap(),
            ],
            None,
        ),
        &["hf://lab/flaky", "config.json not found"],
    );
    assert!(!home.join("f").exists());
    hub.state.lock().unwrap().accounts.commit_status = None;
    ok(run(&["push", dir, "hf://lab/flaky"], Some(TOKEN)));
    ok(run(
        &[
            "pull",
            "hf://lab/flaky",
            "--out",
            home.join("f").to_str().unwrap(),
        ],
        None,
    ));
    hub.stop();
}

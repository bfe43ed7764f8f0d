//! `hf://` checkpoints against a small Hub on 127.0.0.1 that answers the routes the hf-hub crate
//! calls: `HEAD`/`GET {endpoint}/{owner}/{repo}/resolve/{revision}/{path}` (ETag, X-Repo-Commit,
//! Content-Length, and X-Error-Code on a 404, as the Hub sends them) and
//! `GET {endpoint}/api/models/{owner}/{repo}[/revision/{revision}]`. A good download at a pinned
//! revision, `pull`, a missing repository, a missing file, a body cut short, a corrupt checkpoint,
//! and a second run from the cache with the server stopped and `HF_HUB_OFFLINE=1`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A file the fake Hub serves, and whether its body is cut short.
struct Served {
    bytes: Vec<u8>,
    truncated: bool,
}

/// `(repo, path in repo)` → file; revisions `main` and [`COMMIT`] both resolve to these.
type Repos = HashMap<(String, String), Served>;

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn not_found(stream: &mut TcpStream, code: &str) {
    let body = format!("{{\"error\":\"{code}\"}}");
    respond(
        stream,
        "404 Not Found",
        &[
            ("X-Error-Code", code.to_string()),
            ("Content-Type", "application/json".into()),
            ("Content-Length", body.len().to_string()),
        ],
        body.as_bytes(),
    );
}

fn serve(mut stream: TcpStream, repos: &Repos) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut header = String::new();
    while reader
        .read_line(&mut header)
        .map(|n| n > 2)
        .unwrap_or(false)
    {
        header.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path: Vec<&str> = target
        .split('?')
        .next()
        .unwrap_or("")
        .split('/')
        .skip(1)
        .collect();
    let known_repo = |repo: &str| repos.keys().any(|(r, _)| r == repo);
    let known_revision = |rev: &str| rev == "main" || rev == COMMIT;
    match path.as_slice() {
        ["api", "models", owner, name, rest @ ..] => {
            let repo = format!("{owner}/{name}");
            if !known_repo(&repo) {
                return not_found(&mut stream, "RepoNotFound");
            }
            if let ["revision", rev] = rest {
                if !known_revision(rev) {
                    return not_found(&mut stream, "RevisionNotFound");
                }
            }
            let body = format!("{{\"id\":\"{repo}\",\"sha\":\"{COMMIT}\"}}");
            respond(
                &mut stream,
                "200 OK",
                &[
                    ("Content-Type", "application/json".into()),
                    ("Content-Length", body.len().to_string()),
                ],
                body.as_bytes(),
            );
        }
        [owner, name, "resolve", rev, file @ ..] => {
            let repo = format!("{owner}/{name}");
            if !known_repo(&repo) {
                return not_found(&mut stream, "RepoNotFound");
            }
            if !known_revision(rev) {
                return not_found(&mut stream, "RevisionNotFound");
            }
            let Some(served) = repos.get(&(repo, file.join("/"))) else {
                return not_found(&mut stream, "EntryNotFound");
            };
            let etag = format!("\"{:x}\"", Sha256::digest(&served.bytes));
            let headers = [
                ("ETag", etag),
                ("X-Repo-Commit", COMMIT.to_string()),
                ("Content-Length", served.bytes.len().to_string()),
            ];
            let body: &[u8] = match (method, served.truncated) {
                ("HEAD", _) => &[],
                (_, true) => &served.bytes[..served.bytes.len() / 2],
                _ => &served.bytes,
            };
            respond(&mut stream, "200 OK", &headers, body);
        }
        _ => not_found(&mut stream, "EntryNotFound"),
    }
}

/// Serves `repos` on an ephemeral port until the returned flag is set.
fn start_hub(repos: Repos) -> (u16, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let handle = std::thread::spawn(move || {
        // Bounded: the server also stops by itself after 120 s.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !stopped.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    serve(stream, &repos);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => break,
            }
        }
    });
    (port, stop, handle)
}

fn neuropos(args: &[&str], home: &Path, port: u16, offline: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neuropos"));
    command
        .args(args)
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("HF_HOME", home)
        .env("HF_HUB_DISABLE_XET", "1")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE");
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
        };
        repos.insert((repo.to_string(), path.to_string()), served);
    };
    add("neuropos/zoo", "mlp-h14/config.json", &config, false);
    add("neuropos/zoo", "mlp-h14/model.safetensors", &model, false);
    add("neuropos/cut", "config.json", &config, false);
    add("neuropos/cut", "model.safetensors", &model, true);
    add("neuropos/corrupt", "config.json", &config, false);
    add(
        "neuropos/corrupt",
        "model.safetensors",
        &model[..model.len() - 100],
        false,
    );
    let (port, stop, server) = start_hub(repos);
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

    // The server goes away; the branch reference resolves from the cache alone.
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
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

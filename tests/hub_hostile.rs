//! A hostile or broken Hub can neither write outside the cache nor hang a command: a commit id or
//! an ETag that climbs out of the cache, a declared size of 10^15 bytes, a body that stops and
//! hangs, a server that accepts and never answers; bad `HF_ENDPOINT` values, over-long names and
//! a `..` revision are named as such. Each case failed before (files replaced outside `HF_HOME`,
//! commands that never returned, "builder error").

mod fake_hub;

use std::path::Path;
use std::process::{Command, Output};

use fake_hub::{Quirk, Repos, Served};

/// `neuropos ARGS` against the Hub on `port` with the cache in `home`, killed (and reported as
/// hung) if it runs past 90 s: the commands below must end by themselves.
fn neuropos(args: &[&str], home: &Path, port: u16, env: &[(&str, &str)]) -> Output {
    // coreutils' timeout: a hung command is killed (exit 124) and reported as hung.
    let mut command = Command::new("timeout");
    command
        .args(["90", env!("CARGO_BIN_EXE_neuropos")])
        .args(args)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0");
    fake_hub::against(&mut command, port, home);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let shown: Vec<String> = args.iter().map(|a| a.chars().take(60).collect()).collect();
    assert_ne!(
        out.status.code(),
        Some(124),
        "neuropos {shown:?} still running after 90 s: it hangs"
    );
    out
}

fn fails_saying(out: &Output, what: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let shown: String = err.chars().take(3000).collect();
    assert!(!out.status.success(), "succeeded: {shown}");
    assert!(!err.contains("panicked"), "{shown}");
    for w in what {
        assert!(err.contains(w), "expected {w:?} in: {shown}");
    }
    err
}

/// Every path below `dir`, with its bytes (files) or link target (symlinks).
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".into()
            } else {
                format!("{:?}", std::fs::read(&path).unwrap())
            };
            out.push((path.display().to_string(), what));
        }
    }
    out.sort();
    out
}

/// Files in the cache that a failed download must not leave.
fn partial_files(home: &Path) -> Vec<String> {
    tree(home)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.ends_with(".incomplete"))
        .collect()
}

#[test]
fn a_hostile_hub_cannot_write_outside_the_cache_or_hang_us() {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp-h14");
    let config = std::fs::read(local.join("config.json")).unwrap();
    let model = std::fs::read(local.join("model.safetensors")).unwrap();
    let mut repos = Repos::new();
    let climb = "../../../../victim".to_string();
    for (repo, quirk) in [
        ("evil/commit", Quirk::Commit(climb.clone())),
        ("evil/etag", Quirk::Etag(climb.clone())),
        ("evil/huge", Quirk::Length(1_000_000_000_000_000)),
        ("evil/stall", Quirk::Stall(30)),
    ] {
        repos.insert(
            (repo.to_string(), "config.json".to_string()),
            Served {
                bytes: config.clone(),
                truncated: false,
                quirk: match quirk {
                    Quirk::Commit(_) | Quirk::Etag(_) => quirk.clone(),
                    _ => Quirk::None,
                },
            },
        );
        repos.insert(
            (repo.to_string(), "model.safetensors".to_string()),
            Served {
                bytes: model.clone(),
                truncated: false,
                quirk,
            },
        );
    }
    let hub = fake_hub::start(repos);
    let root = tempfile::tempdir().unwrap();
    // HF_HOME is root/a/home; the cache is root/a/home/hub; `../../../../victim` from a
    // snapshot or blob folder is root/a/victim.
    let home = root.path().join("a/home");
    let victim = root.path().join("a/victim");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("model.safetensors"), b"the user's own file").unwrap();
    std::fs::write(victim.join("config.json"), b"{}").unwrap();
    let outside = |root: &Path| {
        tree(root)
            .into_iter()
            .filter(|(p, _)| !Path::new(p).starts_with(&home))
            .collect::<Vec<_>>()
    };
    let before = outside(root.path());
    let fast = [("HF_HUB_DOWNLOAD_TIMEOUT", "1")];
    let eval = |reference: &str| {
        let args = ["eval", reference, "--test-limit", "100", "--device", "cpu"];
        neuropos(&args, &home, hub.port, &fast)
    };

    let out = eval("hf://evil/commit");
    fails_saying(&out, &["hf://evil/commit", "commit id"]);
    let out = eval("hf://evil/etag");
    fails_saying(&out, &["hf://evil/etag", "ETag"]);
    assert_eq!(
        outside(root.path()),
        before,
        "files outside HF_HOME were created, replaced or removed"
    );

    let out = eval("hf://evil/huge");
    fails_saying(&out, &["hf://evil/huge", "limit"]);
    let out = eval("hf://evil/stall");
    fails_saying(&out, &["hf://evil/stall", "HF_HUB_DOWNLOAD_TIMEOUT"]);
    assert_eq!(partial_files(&home), Vec::<String>::new());
    // The limit is the user's to set.
    let out = neuropos(
        &["eval", "hf://evil/commit", "--device", "cpu"],
        &home,
        hub.port,
        &[("NEUROPOS_HUB_MAX_BYTES", "-3")],
    );
    fails_saying(&out, &["NEUROPOS_HUB_MAX_BYTES", "-3"]);
    for bad in ["inf", "1e300", "NaN", "0"] {
        let out = neuropos(
            &["eval", "hf://evil/commit", "--device", "cpu"],
            &home,
            hub.port,
            &[("HF_HUB_DOWNLOAD_TIMEOUT", bad)],
        );
        fails_saying(&out, &["HF_HUB_DOWNLOAD_TIMEOUT"]);
    }

    // A server that accepts and never answers.
    let silent = fake_hub::start_silent(60);
    let args = ["eval", "hf://some/model", "--device", "cpu"];
    let out = neuropos(&args, &home, silent.port, &fast);
    fails_saying(
        &out,
        &["hf://some/model", "no answer", "HF_HUB_DOWNLOAD_TIMEOUT"],
    );
    assert!(!silent.requests.lock().unwrap().is_empty());
}

#[test]
fn bad_endpoints_names_and_revisions_are_named() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let args = ["pull", "hf://a/b", "--out", "/nonexistent/never"];
    for endpoint in ["", "ftp://example.org", "http://", "huggingface.co"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_neuropos"));
        let out = command
            .args(args)
            .env("HF_ENDPOINT", endpoint)
            .env("HF_HOME", home)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let err = fails_saying(&out, &["HF_ENDPOINT", &format!("{endpoint:?}")]);
        assert!(!err.contains("builder error"), "{err}");
    }
    let long = format!("hf://owner/{}", "x".repeat(100_000));
    for (reference, what) in [
        (long.as_str(), "1 to 96"),
        ("hf://a/b@..", "revision"),
        ("hf://a/b@../../x", "revision"),
        ("hf://a/b@main/../x", "folder"),
    ] {
        let out = neuropos(&["pull", reference, "--out", "/nonexistent"], home, 9, &[]);
        let err = fails_saying(&out, &[what]);
        assert!(
            err.len() < 3000,
            "the message repeats the input: {} bytes",
            err.len()
        );
    }
}

/// A model in the cache, the server gone: the command works from the cache and says so once.
#[test]
fn a_cached_model_is_used_when_the_hub_is_down_and_that_is_said_once() {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("checkpoints/mlp-h14");
    let mut repos = Repos::new();
    for file in ["config.json", "model.safetensors"] {
        repos.insert(
            ("lab/model".to_string(), file.to_string()),
            Served {
                bytes: std::fs::read(local.join(file)).unwrap(),
                truncated: false,
                quirk: Quirk::None,
            },
        );
    }
    let mut hub = fake_hub::start(repos);
    let port = hub.port;
    let home = tempfile::tempdir().unwrap();
    let args = [
        "eval",
        "hf://lab/model",
        "--test-limit",
        "100",
        "--device",
        "cpu",
    ];
    let out = neuropos(&args, home.path(), port, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hub.stop();
    let out = neuropos(&args, home.path(), port, &[("RUST_LOG", "info")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let said: Vec<&str> = err.lines().filter(|l| l.contains("cached copy")).collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(said[0].contains("hf://lab/model"), "{err}");
    assert!(!err.contains("ERROR"), "{err}");
}

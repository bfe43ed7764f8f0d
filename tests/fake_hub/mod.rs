//! A small Hugging Face Hub on 127.0.0.1 for the tests: it answers the routes the hf-hub crate
//! calls — `HEAD`/`GET {endpoint}/{owner}/{repo}/resolve/{revision}/{path}` with the headers the
//! Hub sends (ETag, X-Repo-Commit, Content-Length; X-Error-Code on a 404) and
//! `GET {endpoint}/api/models/{owner}/{repo}[/revision/{revision}]`; for datasets (keyed
//! `datasets/{owner}/{name}`) `GET {endpoint}/datasets/{owner}/{name}/resolve/…` and the tree
//! listing `GET {endpoint}/api/datasets/{owner}/{name}/tree/{revision}` — and records every request
//! line. Anything else gets a 404. A file may be served by a hostile or broken server instead
//! ([`Quirk`]): a commit id or ETag that climbs out of the cache, a `Content-Length` of 10^15, a
//! body that stops and hangs; [`start_silent`] accepts connections and never answers.

#![allow(dead_code)] // each test file uses its part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A file the fake Hub serves, and whether its body is cut short.
pub struct Served {
    pub bytes: Vec<u8>,
    pub truncated: bool,
    pub quirk: Quirk,
}

/// How a hostile or broken server answers for one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Quirk {
    #[default]
    None,
    /// `X-Repo-Commit` is this (say `../../../../victim`).
    Commit(String),
    /// `ETag` (and `X-Linked-Etag`) is this.
    Etag(String),
    /// Declares this `Content-Length` on HEAD and GET, then sends the file.
    Length(u64),
    /// GET sends the headers and half the body, then hangs for this many seconds.
    Stall(u64),
}

/// `(repo, path in repo)` → file; revisions `main` and [`COMMIT`] both resolve to these.
pub type Repos = HashMap<(String, String), Served>;

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn respond_json(stream: &mut TcpStream, body: &str) {
    respond(
        stream,
        "200 OK",
        &[
            ("Content-Type", "application/json".into()),
            ("Content-Length", body.len().to_string()),
        ],
        body.as_bytes(),
    );
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

fn serve(mut stream: TcpStream, repos: &Repos, requests: &Mutex<Vec<String>>) {
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
    requests.lock().unwrap().push(line.trim().to_string());
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
            respond_json(&mut stream, &body);
        }
        ["api", "datasets", owner, name, "tree", rev, ..] => {
            let repo = format!("datasets/{owner}/{name}");
            if !known_repo(&repo) {
                return not_found(&mut stream, "RepoNotFound");
            }
            if !known_revision(rev) {
                return not_found(&mut stream, "RevisionNotFound");
            }
            let entries: Vec<String> = repos
                .iter()
                .filter(|((r, _), _)| *r == repo)
                .map(|((_, path), served)| {
                    format!(
                        "{{\"type\":\"file\",\"oid\":\"{:x}\",\"size\":{},\"path\":\"{path}\"}}",
                        Sha256::digest(&served.bytes),
                        served.bytes.len()
                    )
                })
                .collect();
            let body = format!("[{}]", entries.join(","));
            respond_json(&mut stream, &body);
        }
        ["datasets", owner, name, "resolve", rev, file @ ..] => {
            let repo = format!("datasets/{owner}/{name}");
            resolve(&mut stream, method, repos, &repo, rev, file)
        }
        [owner, name, "resolve", rev, file @ ..] => {
            let repo = format!("{owner}/{name}");
            resolve(&mut stream, method, repos, &repo, rev, file)
        }
        _ => not_found(&mut stream, "EntryNotFound"),
    }
}

/// A file's `HEAD` or `GET` (`resolve/{rev}/{file}`) in `repo`.
fn resolve(
    stream: &mut TcpStream,
    method: &str,
    repos: &Repos,
    repo: &str,
    rev: &str,
    file: &[&str],
) {
    let known_repo = |repo: &str| repos.keys().any(|(r, _)| r == repo);
    let known_revision = |rev: &str| rev == "main" || rev == COMMIT;
    if !known_repo(repo) {
        return not_found(stream, "RepoNotFound");
    }
    if !known_revision(rev) {
        return not_found(stream, "RevisionNotFound");
    }
    let Some(served) = repos.get(&(repo.to_string(), file.join("/"))) else {
        return not_found(stream, "EntryNotFound");
    };
    let mut etag = format!("\"{:x}\"", Sha256::digest(&served.bytes));
    let mut commit = COMMIT.to_string();
    let mut length = served.bytes.len() as u64;
    match &served.quirk {
        Quirk::Commit(c) => commit = c.clone(),
        Quirk::Etag(e) => etag = format!("\"{e}\""),
        Quirk::Length(n) => length = *n,
        Quirk::None | Quirk::Stall(_) => {}
    }
    let headers = [
        ("ETag", etag),
        ("X-Repo-Commit", commit),
        ("Content-Length", length.to_string()),
    ];
    let body: &[u8] = match (method, served.truncated) {
        ("HEAD", _) => &[],
        (_, true) => &served.bytes[..served.bytes.len() / 2],
        _ => &served.bytes,
    };
    if let (Quirk::Stall(secs), "GET") = (&served.quirk, method) {
        respond(stream, "200 OK", &headers, &body[..body.len() / 2]);
        let _ = stream.flush();
        std::thread::sleep(Duration::from_secs(*secs));
        return;
    }
    respond(stream, "200 OK", &headers, body);
}

/// A running fake Hub.
pub struct FakeHub {
    pub port: u16,
    /// Every request line served, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeHub {
    /// Stops the server and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts connections on an ephemeral port for at most `secs` seconds (or until stopped) and
/// hands each to `handle` with the request log.
fn listen(
    secs: u64,
    mut handle: impl FnMut(TcpStream, &Mutex<Vec<String>>) + Send + 'static,
) -> FakeHub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (stopped, seen) = (stop.clone(), requests.clone());
    let thread = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while !stopped.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => handle(stream, &seen),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => break,
            }
        }
    });
    FakeHub {
        port,
        requests,
        stop,
        thread: Some(thread),
    }
}

/// Serves `repos` on an ephemeral port until stopped (bounded: it also stops by itself after
/// 120 s).
pub fn start(repos: Repos) -> FakeHub {
    listen(120, move |stream, seen| {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        serve(stream, &repos, seen);
    })
}

/// A server that accepts every connection and never answers (until `secs` have passed or it is
/// dropped): what a hung mirror looks like.
pub fn start_silent(secs: u64) -> FakeHub {
    let mut held = Vec::new();
    listen(secs, move |stream, seen| {
        seen.lock().unwrap().push("(connection)".to_string());
        held.push(stream);
    })
}

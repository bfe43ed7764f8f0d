//! A small Hugging Face Hub on 127.0.0.1 for the tests: it answers the routes the hf-hub crate
//! calls — `HEAD`/`GET {endpoint}/{owner}/{repo}/resolve/{revision}/{path}` with the headers the
//! Hub sends (ETag, X-Repo-Commit, Content-Length; X-Error-Code on a 404) and
//! `GET {endpoint}/api/models/{owner}/{repo}[/revision/{revision}]`; for datasets (keyed
//! `datasets/{owner}/{name}`) `GET {endpoint}/datasets/{owner}/{name}/resolve/…` and the tree
//! listing `GET {endpoint}/api/datasets/{owner}/{name}/tree/{revision}` — and records every request
//! line. Anything else gets a 404. A file may be served by a hostile or broken server instead
//! ([`Quirk`]): a commit id or ETag that climbs out of the cache, a `Content-Length` of 10^15, a
//! body that stops and hangs; [`start_silent`] accepts connections and never answers.
//!
//! [`start_writable`] also answers what hf-hub's upload API calls (its
//! `src/repository/upload.rs`): `POST /api/repos/create`, `POST /api/models/{repo}/preupload/{rev}`
//! (`lfs` for `.safetensors`, as the Hub classifies binaries), the LFS batch
//! `POST /{repo}.git/info/lfs/objects/batch` (answering `basic`, so hf-hub sends the bytes
//! inline), `POST /api/models/{repo}/commit/{rev}[?create_pr=1]` (NDJSON: a header line, then one
//! line per file) and `POST /api/models/{repo}/branch/{branch}`, with a `Bearer` token checked on
//! each ([`Accounts`]): 401 for an unknown token, 403 where the token's user does not own the
//! repository, 409 for a repository that exists; a commit lands all its files at once or none.
//! A pushed repository is then served at its branches and commits like any other.

#![allow(dead_code)] // each test file uses its part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
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

/// Who may write what on a writable fake Hub.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    /// Token → user name.
    pub tokens: HashMap<String, String>,
    /// Repositories that already exist (`owner/name` → owner), empty, owned by someone.
    pub existing: HashMap<String, String>,
    /// The commit route answers this status every time (a server failing mid-push).
    pub commit_status: Option<u16>,
}

/// A repository created through the API: its branches and commits.
#[derive(Clone, Debug, Default)]
pub struct Pushed {
    pub owner: String,
    pub private: bool,
    /// Branch (or `refs/pr/N`) → commit.
    pub branches: HashMap<String, String>,
    /// Commit → its files.
    pub commits: HashMap<String, HashMap<String, Vec<u8>>>,
    /// Commit messages in order.
    pub messages: Vec<String>,
}

/// Everything a fake Hub serves; the writable part changes as it is pushed to.
#[derive(Default)]
pub struct State {
    pub repos: Repos,
    pub accounts: Accounts,
    pub pushed: HashMap<String, Pushed>,
}

/// One request as read off the socket.
struct Request {
    method: String,
    target: String,
    token: Option<String>,
    body: Vec<u8>,
}

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

fn read_request(stream: &TcpStream) -> Option<(String, Request)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let (mut length, mut token) = (0usize, None);
    loop {
        let mut header = String::new();
        if reader
            .read_line(&mut header)
            .map(|n| n <= 2)
            .unwrap_or(true)
        {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => {
                token = value
                    .trim()
                    .strip_prefix("Bearer ")
                    .map(|t| t.trim().to_string())
            }
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    std::io::Read::read_exact(&mut reader, &mut body).ok()?;
    let mut parts = line.split_whitespace();
    let request = Request {
        method: parts.next().unwrap_or("").to_string(),
        target: parts.next().unwrap_or("").to_string(),
        token,
        body,
    };
    Some((line.trim().to_string(), request))
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, requests: &Mutex<Vec<String>>) {
    let Some((line, request)) = read_request(&stream) else {
        return;
    };
    requests.lock().unwrap().push(line);
    let mut state = state.lock().unwrap();
    if writes(&mut stream, &mut state, &request) {
        return;
    }
    let repos = &state.repos;
    let (method, target) = (request.method.as_str(), request.target.as_str());
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

fn error(stream: &mut TcpStream, status: &str, message: &str) {
    let body = format!("{{\"error\":\"{message}\"}}");
    respond(
        stream,
        status,
        &[
            ("Content-Type", "application/json".into()),
            ("Content-Length", body.len().to_string()),
        ],
        body.as_bytes(),
    );
}

fn json_body(request: &Request) -> serde_json::Value {
    serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null)
}

/// A commit id from what it holds: 40 hex digits, as git's.
fn commit_id(parent: &str, message: &str, files: &HashMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(parent.as_bytes());
    hasher.update(message.as_bytes());
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    for name in names {
        hasher.update(name.as_bytes());
        hasher.update(Sha256::digest(&files[name]));
    }
    format!("{:x}", hasher.finalize())[..40].to_string()
}

/// The API's write routes, and reads of a repository pushed to this server; `false` for what
/// [`serve`] answers from the read-only files.
fn writes(stream: &mut TcpStream, state: &mut State, request: &Request) -> bool {
    let user = request
        .token
        .as_ref()
        .and_then(|t| state.accounts.tokens.get(t).cloned());
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let parts: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|p| p.replace("%2F", "/").replace("%2f", "/"))
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let post = request.method == "POST";
    // Writing needs a known token.
    let authorised = |stream: &mut TcpStream| match &user {
        Some(user) => Some(user.clone()),
        None => {
            error(
                stream,
                "401 Unauthorized",
                "Invalid credentials in Authorization header",
            );
            None
        }
    };
    match parts.as_slice() {
        ["api", "repos", "create"] if post => {
            let Some(user) = authorised(stream) else {
                return true;
            };
            let body = json_body(request);
            let name = body["name"].as_str().unwrap_or("").to_string();
            let owner = body["organization"].as_str().unwrap_or(&user).to_string();
            let repo = format!("{owner}/{name}");
            if owner != user {
                error(
                    stream,
                    "403 Forbidden",
                    "You don't have the rights to create a model under this namespace",
                );
            } else if state.pushed.contains_key(&repo)
                || state.accounts.existing.contains_key(&repo)
            {
                error(
                    stream,
                    "409 Conflict",
                    "You already created this model repo",
                );
            } else {
                // A new repository has one commit, as the Hub's does.
                let files = HashMap::from([(
                    ".gitattributes".to_string(),
                    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n".to_vec(),
                )]);
                let commit = commit_id("", "initial commit", &files);
                state.pushed.insert(
                    repo.clone(),
                    Pushed {
                        owner,
                        private: body["private"].as_bool().unwrap_or(false),
                        branches: HashMap::from([("main".to_string(), commit.clone())]),
                        commits: HashMap::from([(commit, files)]),
                        messages: vec!["initial commit".into()],
                    },
                );
                respond_json(stream, &format!("{{\"url\":\"http://hub/{repo}\"}}"));
            }
            true
        }
        ["api", "models", owner, name, action @ ("preupload" | "commit" | "branch"), rev]
            if post =>
        {
            let repo = format!("{owner}/{name}");
            let Some(user) = authorised(stream) else {
                return true;
            };
            let Some(pushed) = state.pushed.get_mut(&repo) else {
                if state.accounts.existing.contains_key(&repo) {
                    error(
                        stream,
                        "403 Forbidden",
                        "You don't have the rights to write to this repository",
                    );
                } else {
                    not_found(stream, "RepoNotFound");
                }
                return true;
            };
            if pushed.owner != user {
                error(
                    stream,
                    "403 Forbidden",
                    "You don't have the rights to write to this repository",
                );
                return true;
            }
            match *action {
                "preupload" => {
                    let body = json_body(request);
                    let files: Vec<String> = body["files"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|f| {
                            let path = f["path"].as_str().unwrap_or("");
                            let mode = if path.ends_with(".safetensors") {
                                "lfs"
                            } else {
                                "regular"
                            };
                            format!(
                                "{{\"path\":{},\"uploadMode\":\"{mode}\"}}",
                                serde_json::Value::from(path)
                            )
                        })
                        .collect();
                    respond_json(stream, &format!("{{\"files\":[{}]}}", files.join(",")));
                }
                "branch" => {
                    if pushed.branches.contains_key(*rev) {
                        error(stream, "409 Conflict", "Reference already exists");
                    } else {
                        let head = pushed.branches["main"].clone();
                        pushed.branches.insert(rev.to_string(), head);
                        respond_json(stream, "{}");
                    }
                }
                _ => {
                    if let Some(status) = state.accounts.commit_status {
                        error(stream, &format!("{status} Failing"), "Internal Error");
                        return true;
                    }
                    let Some(head) = pushed.branches.get(*rev).cloned() else {
                        not_found(stream, "RevisionNotFound");
                        return true;
                    };
                    let mut files = pushed.commits[&head].clone();
                    let mut message = String::new();
                    for line in request
                        .body
                        .split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty())
                    {
                        let line: serde_json::Value = serde_json::from_slice(line).unwrap();
                        let value = &line["value"];
                        match line["key"].as_str() {
                            Some("header") => {
                                message = value["summary"].as_str().unwrap_or("").into()
                            }
                            Some("file") => {
                                use base64::Engine;
                                let bytes = base64::engine::general_purpose::STANDARD
                                    .decode(value["content"].as_str().unwrap_or(""))
                                    .unwrap();
                                files.insert(value["path"].as_str().unwrap().into(), bytes);
                            }
                            Some("deletedFile") => {
                                files.remove(value["path"].as_str().unwrap());
                            }
                            other => panic!("the fake Hub takes no {other:?} line"),
                        }
                    }
                    let commit = commit_id(&head, &message, &files);
                    pushed.commits.insert(commit.clone(), files);
                    pushed.messages.push(message);
                    let pr = query.contains("create_pr=1");
                    let (branch, extra) = if pr {
                        let n = pushed
                            .branches
                            .keys()
                            .filter(|b| b.starts_with("refs/pr/"))
                            .count()
                            + 1;
                        (
                            format!("refs/pr/{n}"),
                            format!(",\"pullRequestUrl\":\"http://hub/{repo}/discussions/{n}\""),
                        )
                    } else {
                        (rev.to_string(), String::new())
                    };
                    pushed.branches.insert(branch, commit.clone());
                    respond_json(
                        stream,
                        &format!("{{\"success\":true,\"commitOid\":\"{commit}\",\"commitUrl\":\"http://hub/{repo}/commit/{commit}\"{extra}}}"),
                    );
                }
            }
            true
        }
        [owner, name_git, "info", "lfs", "objects", "batch"] if post => {
            let repo = format!("{owner}/{}", name_git.trim_end_matches(".git"));
            if authorised(stream).is_none() {
                return true;
            }
            if !state.pushed.contains_key(&repo) {
                not_found(stream, "RepoNotFound");
                return true;
            }
            let body = json_body(request);
            let objects = body["objects"].clone();
            respond_json(
                stream,
                &format!("{{\"transfer\":\"basic\",\"objects\":{objects}}}"),
            );
            true
        }
        ["api", "models", owner, name, rest @ ..]
            if state.pushed.contains_key(&format!("{owner}/{name}")) =>
        {
            let pushed = &state.pushed[&format!("{owner}/{name}")];
            if pushed.private && user.as_ref() != Some(&pushed.owner) {
                error(stream, "401 Unauthorized", "Repository not found");
                return true;
            }
            let rev = match rest {
                ["revision", rev] => *rev,
                _ => "main",
            };
            match resolve_pushed(pushed, rev) {
                Some(commit) => respond_json(
                    stream,
                    &format!("{{\"id\":\"{owner}/{name}\",\"sha\":\"{commit}\"}}"),
                ),
                None => not_found(stream, "RevisionNotFound"),
            }
            true
        }
        [owner, name, "resolve", rev, file @ ..]
            if state.pushed.contains_key(&format!("{owner}/{name}")) =>
        {
            let pushed = &state.pushed[&format!("{owner}/{name}")];
            if pushed.private && user.as_ref() != Some(&pushed.owner) {
                error(stream, "401 Unauthorized", "Repository not found");
                return true;
            }
            let Some(commit) = resolve_pushed(pushed, rev) else {
                not_found(stream, "RevisionNotFound");
                return true;
            };
            let Some(bytes) = pushed.commits[&commit].get(&file.join("/")) else {
                not_found(stream, "EntryNotFound");
                return true;
            };
            let headers = [
                ("ETag", format!("\"{:x}\"", Sha256::digest(bytes))),
                ("X-Repo-Commit", commit.clone()),
                ("Content-Length", bytes.len().to_string()),
            ];
            let body: &[u8] = if request.method == "HEAD" { &[] } else { bytes };
            respond(stream, "200 OK", &headers, body);
            true
        }
        _ => false,
    }
}

/// A branch or a commit of a pushed repository, as the commit it names.
fn resolve_pushed(pushed: &Pushed, rev: &str) -> Option<String> {
    match pushed.branches.get(rev) {
        Some(commit) => Some(commit.clone()),
        None => pushed.commits.contains_key(rev).then(|| rev.to_string()),
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
    /// What it serves, and what was pushed to it.
    pub state: Arc<Mutex<State>>,
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
    state: Arc<Mutex<State>>,
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
        state,
        stop,
        thread: Some(thread),
    }
}

/// Serves `repos` on an ephemeral port until stopped (bounded: it also stops by itself after
/// 120 s).
pub fn start(repos: Repos) -> FakeHub {
    start_writable(repos, Accounts::default())
}

/// [`start`], taking pushes from the holders of `accounts`' tokens.
pub fn start_writable(repos: Repos, accounts: Accounts) -> FakeHub {
    let state = Arc::new(Mutex::new(State {
        repos,
        accounts,
        pushed: HashMap::new(),
    }));
    let shared = state.clone();
    listen(120, state, move |stream, seen| {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        serve(stream, &shared, seen);
    })
}

/// A server that accepts every connection and never answers (until `secs` have passed or it is
/// dropped): what a hung mirror looks like.
pub fn start_silent(secs: u64) -> FakeHub {
    let mut held = Vec::new();
    listen(secs, Arc::default(), move |stream, seen| {
        seen.lock().unwrap().push("(connection)".to_string());
        held.push(stream);
    })
}

/// `command` (a `neuropos` run) pointed at a fake Hub on `port`, its Hugging Face cache in
/// `home`, and none of the user's Hub environment (token, token file, cache, offline mode).
pub fn against<'a>(command: &'a mut Command, port: u16, home: &Path) -> &'a mut Command {
    command
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("HF_HOME", home)
        .env("HF_HUB_DISABLE_XET", "1")
        .env_remove("HF_TOKEN")
        .env_remove("HF_TOKEN_PATH")
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
}

//! Checkpoints on the Hugging Face Hub: `hf://owner/repo[@revision][/subdir]`.
//!
//! A reference names a model repository, optionally a revision (branch, tag or commit; it ends
//! at the first `/`) and a folder inside the repository that holds `config.json` and
//! `model.safetensors`. [`fetch`] downloads both with the hf-hub crate into the standard
//! Hugging Face cache and returns the snapshot folder, which then loads and validates exactly
//! like a local checkpoint directory.
//!
//! The environment is the Hub's usual one: `HF_ENDPOINT` (another Hub or a mirror), `HF_HOME` /
//! `HF_HUB_CACHE` (where the cache lives) and `HF_TOKEN` (private repositories) are read by
//! hf-hub itself; `HF_HUB_OFFLINE=1`, which hf-hub does not read, is read here and resolves
//! references from the cache only, without a network request.
//!
//! Nothing a server says can reach outside the cache or hold us: hf-hub is patched
//! (`vendor/hf-hub/NEUROPOS-PATCH.md`) to refuse an ETag or commit id that is not a plain hash
//! before it becomes a path, and every connection and read times out after
//! `HF_HUB_DOWNLOAD_TIMEOUT` seconds (huggingface_hub's name and default, 10); a file over
//! `NEUROPOS_HUB_MAX_BYTES` (default 1 GiB; checkpoints are kilobytes to megabytes), or one cut
//! short, fails and leaves no partial file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hf_hub::{HFClientSync, HFError, HFRepositorySync, RepoTypeModel};

use crate::checkpoint::{CONFIG_FILE, MODEL_FILE};
use crate::{Error, Result};

/// The prefix of a Hub reference.
pub const SCHEME: &str = "hf://";

/// `hf://owner/repo[@revision][/subdir]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRef {
    pub owner: String,
    pub repo: String,
    pub revision: Option<String>,
    /// The folder inside the repository that holds the checkpoint's files.
    pub subdir: Option<String>,
}

impl fmt::Display for HubRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.owner, self.repo)?;
        if let Some(revision) = &self.revision {
            write!(f, "@{revision}")?;
        }
        if let Some(subdir) = &self.subdir {
            write!(f, "/{subdir}")?;
        }
        Ok(())
    }
}

/// The longest owner or repository name the Hub accepts.
const MAX_NAME: usize = 96;

/// Owner and repository names as the Hub allows them: letters, digits, `-`, `_`, `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A revision as the Hub names them (a branch, a tag, `refs/pr/N`, a commit) and as it may become
/// a file under the cache's `refs/`: letters, digits, `-`, `_`, `.`, `/` between non-empty
/// parts, none of them `.` or `..`, at most 256 characters.
fn valid_revision(revision: &str) -> bool {
    revision.len() <= 256
        && revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && revision
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

impl FromStr for HubRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let fail = |problem: &str| {
            Err(Error::Hub {
                reference: crate::error::shortened(s),
                problem: format!("{problem}; expected hf://owner/repo[@revision][/subdir]"),
            })
        };
        let Some(rest) = s.strip_prefix(SCHEME) else {
            return fail("not a Hub reference");
        };
        let Some((owner, rest)) = rest.split_once('/') else {
            return fail("no repository name");
        };
        let (repo_and_revision, subdir) = match rest.split_once('/') {
            Some((head, tail)) => (head, Some(tail.trim_end_matches('/'))),
            None => (rest, None),
        };
        let (repo, revision) = match repo_and_revision.split_once('@') {
            Some((repo, revision)) => (repo, Some(revision)),
            None => (repo_and_revision, None),
        };
        if !valid_name(owner) || !valid_name(repo) {
            return fail(&format!(
                "owner and repository must be names of 1 to {MAX_NAME} letters, digits, -, _ or ."
            ));
        }
        if revision.is_some_and(str::is_empty) {
            return fail("empty revision after @");
        }
        if revision.is_some_and(|r| !valid_revision(r)) {
            return fail(
                "the revision must be a branch, tag or commit of letters, digits, -, _ and ., \
                 without . or .. parts",
            );
        }
        if let Some(subdir) = subdir {
            let bad = subdir.is_empty()
                || subdir
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == "..");
            if bad {
                return fail("the folder inside the repository must be a plain relative path");
            }
        }
        Ok(HubRef {
            owner: owner.to_string(),
            repo: repo.to_string(),
            revision: revision.map(str::to_string),
            subdir: subdir.map(str::to_string),
        })
    }
}

/// Where a checkpoint argument points: a local directory (or `.safetensors` file) or the Hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointSource {
    Local(PathBuf),
    Hub(HubRef),
}

impl CheckpointSource {
    /// `hf://…` is a Hub reference (and must parse as one); anything else is a local path.
    pub fn parse(arg: &str) -> Result<Self> {
        if arg.starts_with(SCHEME) {
            Ok(CheckpointSource::Hub(arg.parse()?))
        } else {
            Ok(CheckpointSource::Local(PathBuf::from(arg)))
        }
    }

    /// The local directory (or file) to load: the path itself, or the Hub snapshot folder after
    /// [`fetch`].
    pub fn resolve(&self) -> Result<PathBuf> {
        match self {
            CheckpointSource::Local(path) => Ok(path.clone()),
            CheckpointSource::Hub(reference) => fetch(reference),
        }
    }
}

impl fmt::Display for CheckpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointSource::Local(path) => write!(f, "{}", path.display()),
            CheckpointSource::Hub(reference) => write!(f, "{reference}"),
        }
    }
}

/// Loads a checkpoint from a directory, a `.safetensors` file or a Hub reference
/// (`hf://owner/repo[@revision][/subdir]`, downloaded into the Hugging Face cache first), validated
/// in every case as [`crate::checkpoint::load`] does. (Here rather than in `checkpoint`, which
/// the Hub client builds on: the two do not import each other.)
pub fn load_pretrained(
    reference: &str,
    dtype: candle_core::DType,
    device: &candle_core::Device,
) -> Result<crate::checkpoint::Loaded> {
    let path = CheckpointSource::parse(reference)?.resolve()?;
    crate::checkpoint::load(&path, dtype, device)
}

/// Whether `HF_HUB_OFFLINE` asks for the cache only (`1`, `true`, `yes` or `on`).
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Downloads a checkpoint's `config.json` and `model.safetensors` (or, offline, finds them in the
/// cache) and returns the folder that holds them. A pinned commit already in the cache is served
/// from it without a request.
pub fn fetch(reference: &HubRef) -> Result<PathBuf> {
    let fail = |problem: String| Error::Hub {
        reference: reference.to_string(),
        problem,
    };
    let client = client().map_err(&fail)?;
    let repo = client.model(reference.owner.clone(), reference.repo.clone());
    let offline = offline();
    let mut folder: Option<PathBuf> = None;
    for file in [CONFIG_FILE, MODEL_FILE] {
        let in_repo = match &reference.subdir {
            Some(subdir) => format!("{subdir}/{file}"),
            None => file.to_string(),
        };
        let path = repo
            .download_file()
            .filename(in_repo.clone())
            .maybe_revision(reference.revision.clone())
            .local_files_only(offline)
            .send()
            .map_err(|e| fail(explain(&repo, reference, &in_repo, e, offline)))?;
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        match &folder {
            Some(first) if *first != parent => {
                return Err(fail(format!(
                    "{CONFIG_FILE} and {MODEL_FILE} came from different commits ({} and {}): \
                     the revision moved during the download; pin a commit with @",
                    first.display(),
                    parent.display()
                )))
            }
            _ => folder = Some(parent),
        }
    }
    if let (Some(error), Some(folder)) = (client.take_cache_fallback(), &folder) {
        tracing::warn!(
            "{reference}: the Hub did not answer ({error}); using the cached copy in {}",
            folder.display()
        );
    }
    folder.ok_or_else(|| fail("nothing was downloaded".into()))
}

/// `HF_HUB_DOWNLOAD_TIMEOUT` when unset: huggingface_hub's default.
pub const DEFAULT_TIMEOUT_SECS: f64 = 10.0;
/// `NEUROPOS_HUB_MAX_BYTES` when unset: far above any checkpoint, far below a full disk.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// A positive number from the environment variable `name`, or `default` when it is unset.
fn env_number<T: FromStr + PartialOrd + Default + Copy>(
    name: &str,
    default: T,
) -> std::result::Result<T, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse::<T>() {
            Ok(v) if v > T::default() => Ok(v),
            _ => Err(format!("{name}={text:?} is not a positive number")),
        },
    }
}

/// The endpoint `HF_ENDPOINT` names (the Hub itself when unset), checked to be an http(s) URL
/// with a host, so a bad value is named rather than failing as "builder error".
pub fn endpoint() -> std::result::Result<String, String> {
    let Ok(value) = std::env::var("HF_ENDPOINT") else {
        return Ok("https://huggingface.co".into());
    };
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(value),
        _ => Err(format!(
            "HF_ENDPOINT={value:?} is not an http:// or https:// URL with a host (unset it for \
             https://huggingface.co)"
        )),
    }
}

/// The Hub client: the endpoint checked, timeouts and the download limit from the environment.
fn client() -> std::result::Result<HFClientSync, String> {
    let endpoint = endpoint()?;
    let timeout = env_number("HF_HUB_DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT_SECS)?;
    let max_bytes = env_number("NEUROPOS_HUB_MAX_BYTES", DEFAULT_MAX_BYTES)?;
    let timeout = std::time::Duration::try_from_secs_f64(timeout).map_err(|_| {
        format!("HF_HUB_DOWNLOAD_TIMEOUT={timeout} seconds is not a usable duration")
    })?;
    hf_hub::HFClientBuilder::new()
        .endpoint(endpoint.clone())
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .max_download_bytes(max_bytes)
        .build_sync()
        .map_err(|e| format!("cannot set up the Hub client for {endpoint}: {e}"))
}

/// A failed download in words: which of repository, revision or file is missing, or why the
/// transfer failed.
fn explain(
    repo: &HFRepositorySync<RepoTypeModel>,
    reference: &HubRef,
    file: &str,
    error: HFError,
    offline: bool,
) -> String {
    let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into());
    match error {
        HFError::LocalEntryNotFound { .. } if offline => format!(
            "{file} is not in the local Hugging Face cache, and HF_HUB_OFFLINE is set, so \
             nothing was downloaded (fetch it once online, or unset HF_HUB_OFFLINE)"
        ),
        HFError::EntryNotFound { .. } | HFError::RepoNotFound { .. } => {
            // A missing file and a missing repository both answer 404 to the file's URL: the
            // repository's own metadata tells them apart.
            if repo.info().send().is_err() {
                return format!(
                    "repository {}/{} not found on {endpoint} (a private one needs HF_TOKEN)",
                    reference.owner, reference.repo
                );
            }
            if let Some(revision) = &reference.revision {
                if repo.info().revision(revision.clone()).send().is_err() {
                    return format!("revision {revision} not found in the repository");
                }
            }
            format!("{file} not found in the repository (is it a neuropos checkpoint?)")
        }
        HFError::RevisionNotFound { revision, .. } => {
            format!("revision {revision} not found in the repository")
        }
        HFError::AuthRequired { .. } | HFError::Forbidden { .. } => format!(
            "access to {file} denied by {endpoint}: the repository is private or gated, or it \
             does not exist (set HF_TOKEN for a private one)"
        ),
        HFError::Request { source, .. } if source.is_timeout() => format!(
            "no answer from {endpoint} for {file} within {} s (HF_HUB_DOWNLOAD_TIMEOUT sets the \
             limit; the server accepted the connection but went silent, or is that slow)",
            env_number("HF_HUB_DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT_SECS)
                .unwrap_or(DEFAULT_TIMEOUT_SECS)
        ),
        HFError::Request { source, .. } => format!(
            "downloading {file} from {endpoint} failed, the connection was refused or the \
             transfer cut short: {source}"
        ),
        HFError::MalformedResponse { .. } => format!(
            "{endpoint} answered for {file} with headers neuropos refuses (a commit id that is \
             not 40 hex digits, or an ETag that is not a plain hash, could name files outside \
             the cache), or without them: {error}"
        ),
        other => format!("downloading {file} failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_back() {
        for (text, revision, subdir) in [
            ("hf://neuropos/zoo", None, None),
            ("hf://neuropos/zoo@v1", Some("v1"), None),
            ("hf://neuropos/zoo/mlp3d", None, Some("mlp3d")),
            (
                "hf://neuropos/zoo@0123abc/snn/snn3d",
                Some("0123abc"),
                Some("snn/snn3d"),
            ),
        ] {
            let r: HubRef = text.parse().unwrap();
            assert_eq!((r.owner.as_str(), r.repo.as_str()), ("neuropos", "zoo"));
            assert_eq!(r.revision.as_deref(), revision);
            assert_eq!(r.subdir.as_deref(), subdir);
            assert_eq!(r.to_string(), text);
        }
    }

    #[test]
    fn malformed_references_are_errors_naming_them() {
        for bad in [
            "hf://",
            "hf://owner",
            "hf://owner/",
            "hf:///repo",
            "hf://owner/repo@",
            "hf://owner/repo/../x",
            "hf://owner/repo//x",
            "hf://ow ner/repo",
        ] {
            let err = bad.parse::<HubRef>().unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        assert_eq!(
            CheckpointSource::parse("runs/x").unwrap(),
            CheckpointSource::Local("runs/x".into())
        );
        assert!(CheckpointSource::parse("hf://owner").is_err());
    }
}

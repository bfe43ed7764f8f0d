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
        self.resolve_with(&[])
    }

    /// The Hub commit a reference resolved to, read off the cache folder `resolved` it was
    /// downloaded into (`…/snapshots/{commit}/…`); `None` for a local checkpoint.
    pub fn revision(&self, resolved: &Path) -> Option<String> {
        match self {
            CheckpointSource::Local(_) => None,
            CheckpointSource::Hub(_) => snapshot_commit(resolved),
        }
    }

    /// [`CheckpointSource::resolve`], bringing the files of `optional` a Hub repository has
    /// beside the checkpoint ([`fetch_with`]).
    pub fn resolve_with(&self, optional: &[&str]) -> Result<PathBuf> {
        match self {
            CheckpointSource::Local(path) => Ok(path.clone()),
            CheckpointSource::Hub(reference) => fetch_with(reference, optional),
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

/// The Hub commit a snapshot path was downloaded at: the folder under `snapshots/`.
pub fn snapshot_commit(path: &Path) -> Option<String> {
    let mut parts = path.components().map(|c| c.as_os_str().to_string_lossy());
    parts
        .by_ref()
        .find(|p| p == "snapshots")
        .and_then(|_| parts.next().map(|c| c.into_owned()))
}

#[cfg(feature = "hub")]
mod client;
#[cfg(feature = "hub-datasets")]
pub mod datasets;
#[cfg(feature = "hub")]
pub mod push;
#[cfg(feature = "hub")]
pub use client::{endpoint, fetch, fetch_with, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_SECS};

/// Without the `hub` feature there is no client: a reference is an error saying so.
#[cfg(not(feature = "hub"))]
pub fn fetch_with(reference: &HubRef, _optional: &[&str]) -> Result<PathBuf> {
    fetch(reference)
}

/// Without the `hub` feature there is no client: a reference is an error saying so.
#[cfg(not(feature = "hub"))]
pub fn fetch(reference: &HubRef) -> Result<PathBuf> {
    Err(Error::Hub {
        reference: reference.to_string(),
        problem: "this build of neuropos-models has no Hub client: enable its `hub` feature \
                  (on by default), or download the checkpoint and give its directory"
            .into(),
    })
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

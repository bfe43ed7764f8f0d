//! The download itself, through the patched hf-hub (the `hub` feature).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hf_hub::{HFClientSync, HFError, HFRepositorySync, RepoTypeModel};

use super::{offline, HubRef};
use crate::checkpoint::{CONFIG_FILE, MODEL_FILE};
use crate::{Error, Result};

/// Downloads a checkpoint's `config.json` and `model.safetensors` (or, offline, finds them in the
/// cache) and returns the folder that holds them. A pinned commit already in the cache is served
/// from it without a request.
pub fn fetch(reference: &HubRef) -> Result<PathBuf> {
    fetch_with(reference, &[])
}

/// [`fetch`], and beside the checkpoint the files of `optional` the repository has (a model
/// card, the training log): one it does not have is left out; any other failure is an error.
pub fn fetch_with(reference: &HubRef, optional: &[&str]) -> Result<PathBuf> {
    let fail = |problem: String| Error::Hub {
        reference: reference.to_string(),
        problem,
    };
    let client = client().map_err(&fail)?;
    let repo = client.model(reference.owner.clone(), reference.repo.clone());
    let offline = offline();
    let mut folder: Option<PathBuf> = None;
    let required = [CONFIG_FILE, MODEL_FILE].map(|f| (f, true));
    for (file, needed) in required
        .into_iter()
        .chain(optional.iter().map(|f| (*f, false)))
    {
        let in_repo = match &reference.subdir {
            Some(subdir) => format!("{subdir}/{file}"),
            None => file.to_string(),
        };
        let downloaded = repo
            .download_file()
            .filename(in_repo.clone())
            .maybe_revision(reference.revision.clone())
            .local_files_only(offline)
            .send();
        let path = match downloaded {
            Ok(path) => path,
            Err(HFError::EntryNotFound { .. } | HFError::LocalEntryNotFound { .. }) if !needed => {
                continue
            }
            Err(e) => return Err(fail(explain(&repo, reference, &in_repo, e, offline))),
        };
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
pub(crate) fn client() -> std::result::Result<HFClientSync, String> {
    client_with_token(None)
}

/// [`client`], sending `token` (else the one hf-hub finds in the environment).
pub(crate) fn client_with_token(
    token: Option<String>,
) -> std::result::Result<HFClientSync, String> {
    let endpoint = endpoint()?;
    let timeout = env_number("HF_HUB_DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT_SECS)?;
    let max_bytes = env_number("NEUROPOS_HUB_MAX_BYTES", DEFAULT_MAX_BYTES)?;
    let timeout = std::time::Duration::try_from_secs_f64(timeout).map_err(|_| {
        format!("HF_HUB_DOWNLOAD_TIMEOUT={timeout} seconds is not a usable duration")
    })?;
    let mut builder = hf_hub::HFClientBuilder::new();
    if let Some(token) = token {
        builder = builder.token(token);
    }
    builder
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

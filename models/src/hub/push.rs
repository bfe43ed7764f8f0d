//! `neuropos push`: a checkpoint directory published to a Hub model repository in one commit,
//! through hf-hub's upload API (create the repository, preupload, LFS batch, commit).
//!
//! Everything that can be checked is checked before the first request: the checkpoint loads and
//! validates, its run finished, its card can be written and its `model-index` validates, a
//! token exists. The files then land in one commit or not at all (the Hub applies a commit
//! whole), so a failure never leaves a repository that `pull` would take for a model — at most
//! an empty repository, created before the commit failed.

use std::path::{Path, PathBuf};

use hf_hub::repository::CommitOperation;
use hf_hub::{HFError, RepoTypeModel};

use super::HubRef;
use crate::card::{model_card, Card, PRUNING_FILE};
use crate::checkpoint::{self, CONFIG_FILE, MODEL_FILE};
use crate::run::METRICS_FILE;
use crate::{Error, Result};

/// The card's file name on the Hub.
pub const CARD_FILE: &str = "README.md";

/// What a checkpoint directory may hold beside its two files, published (and pulled) where it
/// does: the training log, the pruning curve the card quotes, a spiking network's NIR graph.
pub const OPTIONAL: [&str; 3] = [METRICS_FILE, PRUNING_FILE, NIR_FILE];

/// `neuropos export DIR --format nir --out DIR/model.nir`: the zoo's NIR-ready checkpoints carry
/// their graph.
pub const NIR_FILE: &str = "model.nir";

/// How to publish.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Create the repository private (an existing one keeps its visibility).
    pub private: bool,
    /// Open a pull request instead of committing to the branch.
    pub create_pr: bool,
    /// The commit message (default: "Upload NAME with neuropos").
    pub message: Option<String>,
    /// Publish a run that did not finish (interrupted, or fewer epochs than planned).
    pub allow_unfinished: bool,
}

/// One file of the commit.
#[derive(Debug, Clone)]
pub struct Upload {
    pub path_in_repo: String,
    pub bytes: Vec<u8>,
}

/// Everything a push sends, prepared and checked without a request.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub target: HubRef,
    pub card: Card,
    pub files: Vec<Upload>,
}

/// What the Hub answered.
#[derive(Debug, Clone)]
pub struct Published {
    pub commit: Option<String>,
    pub commit_url: Option<String>,
    pub pr_url: Option<String>,
}

fn refuse(dir: &Path, problem: impl Into<String>) -> Error {
    Error::checkpoint(dir.to_path_buf(), problem)
}

/// Checks the checkpoint in `dir` and prepares the commit for `target`: `config.json`,
/// `model.safetensors`, the card regenerated from them and the [`OPTIONAL`] files the
/// directory has. Nothing is sent.
pub fn prepare(dir: &Path, target: &HubRef, options: &PushOptions) -> Result<Prepared> {
    if !dir.is_dir() {
        return Err(refuse(
            dir,
            "not a checkpoint directory (push publishes a directory with config.json and \
             model.safetensors)",
        ));
    }
    for file in [CONFIG_FILE, MODEL_FILE] {
        if !dir.join(file).is_file() {
            return Err(refuse(dir, format!("no {file}: not a complete checkpoint")));
        }
    }
    if let Some(revision) = &target.revision {
        if revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Hub {
                reference: target.to_string(),
                problem: "a commit cannot be pushed to: name a branch after @".into(),
            });
        }
    }
    // The bytes validated are the bytes uploaded: read once, parsed and built from these.
    let read = |file: &str| std::fs::read(dir.join(file)).map_err(|e| Error::io(dir.join(file), e));
    let (config, model) = (read(CONFIG_FILE)?, read(MODEL_FILE)?);
    let parsed = checkpoint::parse(&dir.join(MODEL_FILE), &model, Some(&config))?;
    let loaded =
        checkpoint::instantiate(parsed, candle_core::DType::F32, &candle_core::Device::Cpu)?;
    let training = loaded.info.training.as_ref();
    let finished = training.is_some_and(|t| t.finished());
    if !finished && !options.allow_unfinished {
        let state = match training {
            None => "has no training record".to_string(),
            Some(t) => format!(
                "is unfinished ({} of {} epochs{})",
                t.epochs_completed,
                t.epochs_planned,
                if t.interrupted { ", interrupted" } else { "" }
            ),
        };
        return Err(refuse(
            dir,
            format!("the run {state}; finish it with `neuropos train --resume`, or pass --allow-unfinished"),
        ));
    }
    let mut names = vec![CONFIG_FILE, MODEL_FILE, CARD_FILE];
    let mut optional = Vec::new();
    for file in OPTIONAL {
        match std::fs::read(dir.join(file)) {
            Ok(bytes) => {
                names.push(file);
                optional.push((file, bytes));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(dir.join(file), e)),
        }
    }
    let name = target
        .subdir
        .as_deref()
        .and_then(|s| s.rsplit('/').next())
        .unwrap_or(&target.repo);
    let published_as = HubRef {
        subdir: target.subdir.clone(),
        revision: target.revision.clone().filter(|r| r != "main"),
        ..target.clone()
    };
    let card = model_card(dir, name, &published_as.to_string(), &names)?;
    let mut files = vec![
        (CONFIG_FILE, config),
        (MODEL_FILE, model),
        (CARD_FILE, card.text.clone().into_bytes()),
    ];
    files.extend(optional);
    let files = files
        .into_iter()
        .map(|(file, bytes)| Upload {
            path_in_repo: match &target.subdir {
                Some(subdir) => format!("{subdir}/{file}"),
                None => file.to_string(),
            },
            bytes,
        })
        .collect();
    Ok(Prepared {
        target: target.clone(),
        card,
        files,
    })
}

/// The token a push sends: `HF_TOKEN`, else the file `HF_TOKEN_PATH` names, else
/// `$HF_HOME/token` — where hf-hub (and huggingface_hub) look. Read here so a missing token is
/// a clear error before any request rather than a 401 after one.
pub fn token() -> Option<(String, String)> {
    if let Ok(token) = std::env::var("HF_TOKEN") {
        if !token.trim().is_empty() {
            return Some((token.trim().to_string(), "HF_TOKEN".into()));
        }
    }
    let files: Vec<(PathBuf, String)> = std::env::var("HF_TOKEN_PATH")
        .ok()
        .map(|p| (PathBuf::from(&p), format!("HF_TOKEN_PATH ({p})")))
        .into_iter()
        .chain(std::iter::once({
            let p = hf_hub::hf_home().join("token");
            let shown = p.display().to_string();
            (p, shown)
        }))
        .collect();
    files.into_iter().find_map(|(path, shown)| {
        let token = std::fs::read_to_string(path).ok()?;
        let token = token.trim();
        (!token.is_empty()).then(|| (token.to_string(), shown))
    })
}

/// Publishes `prepared` in one commit: creates the repository if needed (`--private` applies
/// to a new one), the branch if it is new, then commits every file.
pub fn publish(prepared: &Prepared, options: &PushOptions) -> Result<Published> {
    let target = &prepared.target;
    let fail = |problem: String| Error::Hub {
        reference: target.to_string(),
        problem,
    };
    let Some((token, from)) = token() else {
        return Err(fail(
            "no Hugging Face token: set HF_TOKEN (or HF_TOKEN_PATH to a file holding one, or log \
             in with `hf auth login`, which writes $HF_HOME/token); pushing needs one with write \
             access"
                .into(),
        ));
    };
    let client = super::client::client_with_token(Some(token)).map_err(&fail)?;
    let repo_id = format!("{}/{}", target.owner, target.repo);
    let explain = |step: &str, e: HFError| fail(explain(step, &repo_id, &from, e));
    client
        .create_repository()
        .repo_id(&repo_id)
        .repo_type(RepoTypeModel)
        .private(options.private)
        .exist_ok(true)
        .send()
        .map_err(|e| explain("creating the repository", e))?;
    let repo = client.model(target.owner.clone(), target.repo.clone());
    let branch = target.revision.clone().filter(|r| r != "main");
    if let Some(branch) = &branch {
        match repo.create_branch().branch(branch).send() {
            Ok(()) | Err(HFError::Conflict { .. }) => {}
            Err(e) => return Err(explain("creating the branch", e)),
        }
    }
    let operations = prepared
        .files
        .iter()
        .map(|f| CommitOperation::add_bytes(f.path_in_repo.clone(), f.bytes.clone()))
        .collect();
    let message = options
        .message
        .clone()
        .unwrap_or_else(|| format!("Upload {} with neuropos", prepared.card.index.name));
    let info = repo
        .create_commit()
        .operations(operations)
        .commit_message(message)
        .maybe_revision(branch)
        .create_pr(options.create_pr)
        .send()
        .map_err(|e| explain("committing", e))?;
    Ok(Published {
        commit: info.commit_oid,
        commit_url: info.commit_url,
        pr_url: info.pr_url,
    })
}

/// [`prepare`] then [`publish`].
pub fn push(dir: &Path, target: &HubRef, options: &PushOptions) -> Result<(Prepared, Published)> {
    let prepared = prepare(dir, target, options)?;
    let published = publish(&prepared, options)?;
    Ok((prepared, published))
}

/// A failed step in words: whose fault and what to do. Nothing was committed in any case: the
/// commit is the last step and the Hub applies it whole.
fn explain(step: &str, repo: &str, token_from: &str, error: HFError) -> String {
    let endpoint = super::client::endpoint().unwrap_or_default();
    let nothing = "nothing was committed";
    match error {
        HFError::AuthRequired { .. } => format!(
            "{endpoint} refused the token from {token_from} while {step} (401): it is wrong, \
             expired or revoked; {nothing}"
        ),
        HFError::Forbidden { context } => format!(
            "{endpoint} forbids this token to write to {repo} while {step} (403{}): the \
             repository or its owner is someone else's, or the token is read-only; {nothing}",
            context
                .server_message
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        HFError::Conflict { .. } => format!(
            "{endpoint} answered 409 Conflict while {step}: the branch moved under the push or \
             the repository is in another state; {nothing}"
        ),
        HFError::RepoNotFound { .. } | HFError::RevisionNotFound { .. } => {
            format!("{endpoint} does not know {repo} or its branch while {step}; {nothing}")
        }
        HFError::Http { context } if context.status.is_server_error() => format!(
            "{endpoint} failed while {step} ({}, after retries); {nothing} — push again later",
            context.status
        ),
        HFError::Request { source, .. } => {
            format!("no usable answer from {endpoint} while {step} ({source}); {nothing}")
        }
        other => format!("{step} failed: {other}; {nothing}"),
    }
}

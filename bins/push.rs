//! `neuropos push`: publishes a checkpoint directory to a Hugging Face Hub model repository.

use clap::Args;
use neuropos_models::hub::push::{self, PushOptions};
use neuropos_models::hub::HubRef;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The checkpoint directory (config.json, model.safetensors; metrics.jsonl goes along).
    dir: PathBuf,
    /// hf://owner/repo[@branch][/subdir]: the repository (created if needed), the branch
    /// (created from main if new; default main) and the folder in it.
    #[arg(value_parser = parse_target)]
    target: HubRef,
    /// Create the repository private (an existing one keeps its visibility).
    #[arg(long)]
    private: bool,
    /// Open a pull request with the files instead of committing to the branch.
    #[arg(long)]
    create_pr: bool,
    /// The commit message [default: "Upload NAME with neuropos"].
    #[arg(long)]
    message: Option<String>,
    /// Publish a run that did not finish its planned epochs, or was interrupted.
    #[arg(long)]
    allow_unfinished: bool,
    /// Check everything and print the card, without a token or a request.
    #[arg(long)]
    dry_run: bool,
}

fn parse_target(s: &str) -> neuropos_models::Result<HubRef> {
    s.parse()
}

pub fn run(args: PushArgs) -> anyhow::Result<()> {
    let options = PushOptions {
        private: args.private,
        create_pr: args.create_pr,
        message: args.message,
        allow_unfinished: args.allow_unfinished,
    };
    let prepared = push::prepare(&args.dir, &args.target, &options)?;
    if args.dry_run {
        print!("{}", prepared.card.text);
        for file in &prepared.files {
            tracing::info!(
                "would upload {} ({} bytes)",
                file.path_in_repo,
                file.bytes.len()
            );
        }
        return Ok(());
    }
    let published = push::publish(&prepared, &options)?;
    let files: Vec<&str> = prepared
        .files
        .iter()
        .map(|f| f.path_in_repo.as_str())
        .collect();
    println!(
        "pushed {} → {} ({}) in commit {}",
        args.dir.display(),
        args.target,
        files.join(", "),
        published
            .commit
            .as_deref()
            .unwrap_or("(the Hub did not say)")
    );
    if let Some(url) = published.pr_url.or(published.commit_url) {
        println!("{url}");
    }
    if !args.create_pr {
        let at = match &published.commit {
            Some(commit) => HubRef {
                revision: Some(commit.clone()),
                ..args.target.clone()
            },
            None => args.target.clone(),
        };
        println!("load it with: neuropos pull {at} --out DIR");
    }
    Ok(())
}

//! Flags and set-up shared by the subcommands.

use anyhow::Context;
use candle_core::{Device, Tensor};
use clap::Args;
use neuropos_models::config::DEFAULT_DIM;
use neuropos_models::data::{self, Mnist};
use neuropos_models::device::{self, DeviceChoice};
use neuropos_models::prune::{PruneScope, Pruning};
use neuropos_models::{Config, ModelKind};
use std::path::{Path, PathBuf};

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal, and never with NO_COLOR set (no-color.org): a log redirected
    // to a file (the sweep's train.log) stays plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
}

/// `text` with every word over 200 characters cut to its start and its length: an error that
/// quotes a 100,000-character argument stays readable.
pub fn shortened_words(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let end = word.trim_end_matches(char::is_whitespace);
            neuropos_models::error::shortened(end) + &word[end.len()..]
        })
        .collect()
}

/// The architecture flags shared by `train` and `bench`.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// mlp3d, mlp3d-gaps, mlp3d-relaxed, snn3d, snn3d-gaps, snn3d-relaxed (embedded) or
    /// mlp, snn (baselines).
    #[arg(long)]
    pub model: ModelKind,
    /// Hidden layer sizes, comma-separated (784-…-10 around them).
    #[arg(long, default_value = "2048")]
    pub hidden: Sizes,
    /// Embedding dimension d (embedded models): d − 1 free coordinates plus the layer axis
    /// [default: 3].
    #[arg(long)]
    pub dim: Option<usize>,
}

impl ModelArgs {
    /// The MNIST-shaped configuration with neuropos' defaults.
    pub fn config(&self) -> Config {
        Config::mnist(self.model, &self.hidden.0, self.dim.unwrap_or(DEFAULT_DIM))
    }
}

#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// cpu, cuda, metal, or auto (CUDA, then Metal, then CPU).
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Run the plain Candle ops on the CPU instead of the fused CPU kernels: what CUDA and
    /// Metal compute, for comparing backends (slower).
    #[arg(long)]
    pub plain_ops: bool,
}

impl DeviceArgs {
    pub fn device(&self) -> anyhow::Result<Device> {
        let d = device::select(self.device)?;
        device::set_fused_kernels(!self.plain_ops);
        tracing::info!(
            "device: {}{}",
            describe_device(&d),
            if self.plain_ops && d.is_cpu() {
                " (plain ops, no fused kernels)"
            } else {
                ""
            }
        );
        Ok(d)
    }
}

pub fn describe_device(d: &Device) -> &'static str {
    match d {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Where MNIST comes from: `vendored` (data/mnist, SHA-256 checked) or `hub`
    /// (candle-datasets' Hugging Face loader; needs the internet).
    #[arg(long, default_value = "vendored", value_parser = ["vendored", "hub"])]
    pub data: String,
    /// Read the four IDX files (.gz or raw) from this directory instead; a SHA256SUMS there is
    /// enforced.
    #[arg(long, conflicts_with = "data")]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    pub fn load(&self) -> anyhow::Result<(Mnist, String)> {
        let (mnist, origin) = match (&self.data_dir, self.data.as_str()) {
            (Some(dir), _) => (data::load_dir(dir, false)?, dir.display().to_string()),
            (None, "hub") => (data::load_hub()?, "hub:ylecun/mnist".to_string()),
            (None, _) => {
                let dir = data::default_dir();
                let m = data::load_dir(&dir, true).with_context(|| {
                    format!("loading the vendored MNIST from {}", dir.display())
                })?;
                (m, "vendored:data/mnist".to_string())
            }
        };
        tracing::info!(
            "MNIST from {origin}: {} train, {} test images",
            mnist.train_images.dim(0)?,
            mnist.test_images.dim(0)?
        );
        Ok((mnist, origin))
    }
}

/// An image limit of 0 would leave nothing to train on or score (an accuracy of 0/0).
pub fn check_limit(flag: &str, limit: Option<usize>) -> anyhow::Result<()> {
    if limit == Some(0) {
        anyhow::bail!("{flag} must be at least 1 (0 images leave nothing to train on or score)");
    }
    Ok(())
}

/// MNIST's four tensors on the device a command runs on.
pub struct Splits {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
}

/// `mnist` cut to the first `train_limit` / `test_limit` images, on `device`.
fn limited_splits(
    mut mnist: Mnist,
    device: &Device,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
) -> anyhow::Result<Splits> {
    if let Some(n) = train_limit {
        mnist = mnist.limit_train(n)?;
    }
    if let Some(n) = test_limit {
        mnist = mnist.limit_test(n)?;
    }
    Ok(Splits {
        train_x: mnist.train_images.to_device(device)?,
        train_y: mnist.train_labels.to_device(device)?,
        test_x: mnist.test_images.to_device(device)?,
        test_y: mnist.test_labels.to_device(device)?,
    })
}

/// [`Splits`] and the images held out for validation, if any.
pub struct HeldOutSplits {
    pub splits: Splits,
    pub validation: Option<(Tensor, Tensor)>,
}

impl DataArgs {
    /// [`DataArgs::load_splits`] with the last `val_split` training images held out first (so
    /// `train_limit` takes the first of the rest).
    pub fn load_splits_held_out(
        &self,
        device: &Device,
        val_split: Option<usize>,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> anyhow::Result<(HeldOutSplits, String)> {
        let Some(n) = val_split else {
            let (splits, origin) = self.load_splits(device, train_limit, test_limit)?;
            let validation = None;
            return Ok((HeldOutSplits { splits, validation }, origin));
        };
        check_limit("--val-split", Some(n))?;
        check_limit("--train-limit", train_limit)?;
        check_limit("--test-limit", test_limit)?;
        let (mnist, origin) = self.load()?;
        let (mnist, (val_x, val_y)) = mnist
            .hold_out(n)
            .with_context(|| format!("--val-split {n}"))?;
        let splits = limited_splits(mnist, device, train_limit, test_limit)?;
        let validation = Some((val_x.to_device(device)?, val_y.to_device(device)?));
        Ok((HeldOutSplits { splits, validation }, origin))
    }

    /// [`DataArgs::load`], cut to the first `train_limit` / `test_limit` images, on `device`;
    /// with where the data came from.
    pub fn load_splits(
        &self,
        device: &Device,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> anyhow::Result<(Splits, String)> {
        check_limit("--train-limit", train_limit)?;
        check_limit("--test-limit", test_limit)?;
        let (mnist, origin) = self.load()?;
        let splits = limited_splits(mnist, device, train_limit, test_limit)?;
        Ok((splits, origin))
    }
}

/// Pruning in every forward pass, for `train` and `bench`.
#[derive(Args, Debug, Clone)]
pub struct PruneDuringArgs {
    /// Remove the smallest P % of the weights in every forward pass (the longest wires of an
    /// embedded model), ranked afresh each step; the checkpoint records it and `eval` keeps it.
    #[arg(long, value_name = "P")]
    pub prune_during: Option<f64>,
    /// With --prune-during: rank within each layer or over the whole network.
    #[arg(long, default_value = "layer", requires = "prune_during")]
    pub scope: PruneScope,
}

impl PruneDuringArgs {
    pub fn pruning(&self) -> Option<Pruning> {
        self.prune_during.map(|percent| Pruning {
            percent,
            scope: self.scope,
        })
    }
}

/// Comma-separated layer sizes, e.g. `512,512,256`.
#[derive(Debug, Clone)]
pub struct Sizes(pub Vec<usize>);

impl std::str::FromStr for Sizes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_sizes(s).map(Sizes)
    }
}

/// Comma-separated pruning percentages, e.g. `0,50,90`.
#[derive(Debug, Clone)]
pub struct Percentages(pub Vec<f64>);

impl std::str::FromStr for Percentages {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_percentages(s).map(Percentages)
    }
}

fn parse_sizes(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|p| {
            let p = p.trim();
            match p.parse::<usize>() {
                Ok(0) => Err("layer sizes must be positive".to_string()),
                Ok(n) => Ok(n),
                Err(_) => Err(format!("`{p}` is not a layer size")),
            }
        })
        .collect()
}

fn parse_percentages(s: &str) -> Result<Vec<f64>, String> {
    let mut levels: Vec<f64> = Vec::new();
    for p in s.split(',') {
        let p = p.trim();
        let v: f64 = p.parse().map_err(|_| format!("`{p}` is not a number"))?;
        check_percent(v)?;
        if levels.contains(&v) {
            return Err(format!("pruning level {v} is listed twice"));
        }
        levels.push(v);
    }
    Ok(levels)
}

/// A pruning percentage must remove at least none and not every weight: [0, 100).
pub fn check_percent(v: f64) -> Result<f64, String> {
    if (0.0..100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "pruning percentage {v} is outside [0, 100) (100 % would remove every weight)"
        ))
    }
}

/// A run's log: one JSON line per epoch.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// A run's settings, what `train --resume` continues with.
pub const RUN_FILE: &str = "run.json";

/// The files a run or a checkpoint puts in its directory; a directory holding any of them holds
/// one, and `--force` replaces all of them, never a mix of two.
pub const RUN_FILES: [&str; 5] = [
    neuropos_models::checkpoint::MODEL_FILE,
    neuropos_models::checkpoint::CONFIG_FILE,
    METRICS_FILE,
    RUN_FILE,
    neuropos_models::resume::STATE_FILE,
];

/// Which of [`RUN_FILES`] `dir` holds.
pub fn held_run_files(dir: &Path) -> Vec<&'static str> {
    RUN_FILES
        .iter()
        .copied()
        .filter(|f| std::fs::symlink_metadata(dir.join(f)).is_ok())
        .collect()
}

/// `--out` of a command that writes `what` (a run, a checkpoint): not a file, and holding nothing
/// unless `--force`. Checked before anything is computed; nothing is removed here.
pub fn check_out_dir(out: &Path, force: bool, what: &str) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        anyhow::bail!("--out {} exists and is not a directory", out.display());
    }
    let held = held_run_files(out);
    if held.is_empty() || force {
        return Ok(());
    }
    if held.contains(&RUN_FILE) {
        anyhow::bail!(
            "--out {} already holds a run ({}): pass --resume {} to continue it, --force to \
             replace it, or choose another directory",
            out.display(),
            held.join(", "),
            out.display()
        );
    }
    anyhow::bail!(
        "--out {} already holds {what} ({}); pass --force to replace it",
        out.display(),
        held.join(", ")
    )
}

/// Removes every one of [`RUN_FILES`] from `dir`: what `--force` replaces, once everything a
/// command needs has been checked and it is about to write.
pub fn clear_run_files(dir: &Path) -> anyhow::Result<()> {
    for f in held_run_files(dir) {
        let path = dir.join(f);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// Refuses an `--out` directory that is the checkpoint being read: `--force` would replace the
/// input with the output (the source must stay as it was).
pub fn check_out_is_not_source(out: &Path, source: &Path) -> anyhow::Result<()> {
    let dir = if source.is_dir() {
        source
    } else {
        source.parent().unwrap_or(Path::new("."))
    };
    let same = match (std::fs::canonicalize(out), std::fs::canonicalize(dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        anyhow::bail!(
            "--out {} is the checkpoint being read: choose another directory",
            out.display()
        );
    }
    Ok(())
}

//! Flags and set-up shared by the subcommands.

use candle_core::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use neuropos_models::checkpoint::CheckpointInfo;
use neuropos_models::config::DEFAULT_DIM;
pub use neuropos_models::data::check_limit;
use neuropos_models::data::{DataSource, Mnist, Origin};
use neuropos_models::device::{self, DeviceChoice};
use neuropos_models::run::Hooks;
use neuropos_models::{Config, ModelKind};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // hf-hub narrates every request of an upload at info and warns that a transfer other
        // than its xet one falls back to sending the bytes inline (what a Hub without xet, or a
        // small file, gets): what it says that matters reaches us as an error.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hf_hub=error"));
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

#[derive(Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// The data: `mnist` (the vendored copy, SHA-256 checked), `fashion-mnist` (Debian's
    /// dataset-fashion-mnist, checked against data/fashion-mnist.sha256), `hub` (MNIST through
    /// candle-datasets; needs the internet), a directory of IDX files, or a .safetensors file of
    /// arrays (train_x, train_y, test_x, test_y) [default: a checkpoint's own data, else mnist].
    #[arg(long, value_name = "DATA")]
    pub data: Option<String>,
    /// A directory of the four IDX files (.gz or raw; a SHA256SUMS there is enforced); with
    /// `--data fashion-mnist`, where to find it.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// The data the flags name (MNIST when none).
    pub fn source(&self) -> anyhow::Result<DataSource> {
        let data = self.data.as_deref().unwrap_or("vendored");
        Ok(DataSource::from_names(data, self.data_dir.as_deref())?)
    }

    /// Whether `--data` or `--data-dir` was given.
    pub fn given(&self) -> bool {
        self.data.is_some() || self.data_dir.is_some()
    }

    pub fn load(&self) -> anyhow::Result<(Mnist, Origin)> {
        Ok(self.source()?.load()?)
    }

    /// The data to score `info`'s checkpoint (`name` in messages) on: its own, as recorded,
    /// unless the flags name other data, which must have the same image shape and classes.
    /// Recorded data must be the very bytes it was trained on.
    pub fn load_for(&self, info: &CheckpointInfo, name: &str) -> anyhow::Result<(Mnist, Origin)> {
        let record = info.training.as_ref().and_then(|t| t.dataset.as_ref());
        let (data, origin) = match (self.given(), record) {
            (false, Some(record)) => {
                let (data, origin) = DataSource::parse(&record.source)?.load()?;
                record.check_same(&origin, name)?;
                (data, origin)
            }
            _ => self.load()?,
        };
        let (shape, classes) = match record {
            Some(r) => (r.shape.clone(), r.classes),
            None => (neuropos_models::data::MNIST_SHAPE.to_vec(), 10),
        };
        if self.given() && (data.shape != shape || data.classes != classes) {
            anyhow::bail!(
                "{name} was trained on {} ({shape:?} images, {classes} classes); {} has {:?} \
                 images and {} classes: score it on data of its shape",
                record.map_or("MNIST".to_string(), |r| r.source.clone()),
                origin.description,
                data.shape,
                data.classes
            );
        }
        data.check_fits(&info.model, name)?;
        // Data of the same shape is a legitimate override (another test set), but Fashion-MNIST
        // and MNIST share theirs: say which data the score is on when it is not the recorded one.
        let same = match record {
            Some(r) => r.check_same(&origin, name).is_ok(),
            None => origin.record.is_none(),
        };
        if self.given() && !same {
            tracing::warn!(
                "{name} was trained on {}; scoring it on {} instead, as --data asks",
                record.map_or("MNIST", |r| r.source.as_str()),
                origin.description
            );
        }
        Ok((data, origin))
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

pub use neuropos_models::run::{check_out_dir, clear_run_files, Sizes, METRICS_FILE};

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

/// A progress bar per epoch, with an ETA, on a terminal; nothing in logs and pipes.
#[derive(Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Hooks for Progress {
    fn epoch_starts(&mut self, epoch: usize, epochs: usize, batches: usize, done: usize) {
        let bar = progress_bar(batches as u64, &format!("epoch {epoch}/{epochs}"));
        bar.set_position(done as u64);
        self.bar = Some(bar);
    }

    fn batch_finished(&mut self, loss: f32) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {loss:.4}"));
            bar.inc(1);
        }
    }

    fn epoch_finished(&mut self, _metrics: &serde_json::Value) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// A bar with an ETA on a terminal; hidden in logs and pipes.
pub fn progress_bar(len: u64, prefix: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

//! A training run as a library type: [`Run::create`] (a fresh run in a directory) or
//! [`Run::resume`] (an interrupted one), then [`Run::execute`], which owns the run directory's
//! files, the lock, metrics, the resume state, the epoch loop and every save. Progress and
//! stopping (Ctrl-C) go through [`Hooks`], so `neuropos train`, the sweep's runs and the tests
//! share one loop.
//!
//! ```no_run
//! use neuropos_models::run::{Choices, NoHooks, Run, RunSettings};
//! use neuropos_models::ModelKind;
//!
//! let mut choices = Choices::default();
//! choices.architecture.model = Some(ModelKind::Mlp3d);
//! choices.training.epochs = Some(1);
//! choices.training.train_limit = Some(600);
//! let settings = RunSettings::resolve(&choices, (None, None), None)?;
//! let run = Run::create("runs/quick".as_ref(), settings, None, false)?;
//! let outcome = run.execute(&candle_core::Device::Cpu, &mut NoHooks)?;
//! println!("{outcome:?}");
//! # Ok::<(), neuropos_models::Error>(())
//! ```

mod choices;
mod directory;
mod early_stopping;
mod execute;
mod fine_tune;
mod settings;

pub use crate::hub::snapshot_commit;
pub use choices::{ArchitectureChoices, Choices, PruneDuringChoices, Sizes, TrainingChoices};
pub use directory::{
    check_out_dir, clear_run_files, held_run_files, is_complete, lock, truncate_metrics, LOCK_FILE,
    METRICS_FILE, RUN_FILE, RUN_FILES,
};
pub use early_stopping::{Keep, KeptEpoch, BEST_FILE};
pub use fine_tune::{fine_tune, FineTune};
pub use settings::{
    architecture_flags, check_agrees, check_applies, config_from_choices, RunSettings,
    DEFAULT_HIDDEN, RUN_FORMAT,
};

use candle_core::Tensor;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::checkpoint::{self, Checkpoint, Provenance};
use crate::hub::CheckpointSource;
use crate::optimizer::Fault;
use crate::resume::{self, TrainState};
use crate::{Error, Result};

/// The checkpoint a run starts from (`--init-from`).
pub struct Start {
    /// The reference as given.
    pub source: String,
    /// Where it was read (a Hub snapshot for `hf://`).
    pub path: PathBuf,
    pub checkpoint: Checkpoint,
    /// A stored pruning mask: it stays fixed while fine-tuning, and is saved again.
    pub masks: Option<Vec<Tensor>>,
}

impl Start {
    pub fn open(source: &CheckpointSource) -> Result<Self> {
        let path = source.resolve()?;
        let mut checkpoint = checkpoint::read(&path)
            .map_err(|e| Error::Run(format!("reading the --init-from checkpoint {source}: {e}")))?;
        let masks = checkpoint.take_masks()?;
        Ok(Start {
            source: source.to_string(),
            path,
            checkpoint,
            masks,
        })
    }
}

/// What a run reports as it goes, and how it is asked to stop. Every method has a default that
/// does nothing.
pub trait Hooks {
    /// Training is about to begin (everything is checked and the directory written): the
    /// moment to take over Ctrl-C.
    fn training_starts(&mut self) -> Result<()> {
        Ok(())
    }
    /// Epoch `epoch` of `epochs` begins with `done` of its `batches` batches already trained.
    fn epoch_starts(&mut self, _epoch: usize, _epochs: usize, _batches: usize, _done: usize) {}
    /// A step finished with this loss.
    fn batch_finished(&mut self, _loss: f32) {}
    /// Asked after every step and before every epoch: stop (and save) now?
    fn should_stop(&mut self) -> bool {
        false
    }
    /// The epoch's metrics line, as written to `metrics.jsonl`.
    fn epoch_finished(&mut self, _metrics: &serde_json::Value) {}
}

/// Hooks that report nothing and never stop.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// How [`Run::execute`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every epoch trained; the directory is an ordinary checkpoint.
    Completed { final_test_accuracy: Option<f64> },
    /// Stopped by [`Hooks::should_stop`] and saved: `Run::resume` continues it.
    Stopped {
        epochs_completed: usize,
        batch: usize,
    },
}

/// Whether a run starts afresh or continues a saved state.
enum Beginning {
    Fresh,
    /// `None`: killed before its first save, so it starts over from its settings.
    Resumed(Option<Box<TrainState>>),
}

/// A run ready to train, holding its directory's lock.
pub struct Run {
    dir: PathBuf,
    settings: RunSettings,
    start: Option<Start>,
    beginning: Beginning,
    fault: Option<Fault>,
    /// This run made its directory: a run that fails before writing anything removes it again
    /// (a failing command leaves what it was pointed at as it was).
    created_dir: bool,
    _lock: File,
}

/// What [`Run::resume`] found.
pub enum Resumed {
    Run(Box<Run>),
    /// The run had finished: its record.
    Complete(Box<Provenance>),
}

impl Run {
    /// A fresh run of `settings` in `dir`: refused if `dir` holds a run or a checkpoint unless
    /// `force` (nothing is removed until [`Run::execute`] has checked everything and writes).
    pub fn create(
        dir: &Path,
        settings: RunSettings,
        start: Option<Start>,
        force: bool,
    ) -> Result<Run> {
        settings.validate()?;
        if let (Some(start), Ok(to)) = (&start, dir.canonicalize()) {
            if let Ok(from) = start.path.canonicalize() {
                if from == to || from.parent() == Some(to.as_path()) {
                    return Err(Error::Run(format!(
                        "--out {} is the --init-from checkpoint itself; fine-tune into another \
                         directory so the source stays as it is",
                        dir.display()
                    )));
                }
            }
        }
        if dir.exists() && !dir.is_dir() {
            return Err(Error::Run(format!(
                "--out {} exists and is not a directory",
                dir.display()
            )));
        }
        let created_dir = !dir.exists();
        let lock = directory::lock(dir)?;
        if let Err(e) = check_out_dir(dir, force, "a run") {
            if created_dir {
                directory::remove_if_only_lock(dir);
            }
            return Err(e);
        }
        if force && !held_run_files(dir).is_empty() {
            // The old run stays resumable until every flag, file and the device are checked
            // and the new run writes its first file.
            tracing::warn!("--force: the run in {} will be replaced", dir.display());
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            settings,
            start,
            beginning: Beginning::Fresh,
            fault: None,
            created_dir,
            _lock: lock,
        })
    }

    /// The interrupted run in `dir`, with its settings from `run.json`; `arch` (choices given
    /// beside `--resume`) must agree with them.
    pub fn resume(dir: &Path, arch: &ArchitectureChoices) -> Result<Resumed> {
        let settings = RunSettings::read(dir)?;
        let lock = directory::lock(dir)?;
        if let Some(done) = checkpoint::completed_training(dir) {
            if !dir.join(resume::STATE_FILE).exists() {
                return Ok(Resumed::Complete(Box::new(done)));
            }
        }
        check_agrees(
            arch,
            &TrainingChoices::default(),
            &settings.config,
            &dir.display().to_string(),
        )
        .map_err(|e| Error::Run(format!("--resume {}: {e}", dir.display())))?;
        let state = resume::read(dir)?.map(Box::new);
        // Without a saved state the run restarts from its beginning, which needs the source's
        // parameters again.
        let start = match (&state, settings.init_from.as_deref()) {
            (None, Some(source)) => Some(Start::open(&CheckpointSource::parse(source)?)?),
            _ => None,
        };
        Ok(Resumed::Run(Box::new(Run {
            dir: dir.to_path_buf(),
            settings,
            start,
            beginning: Beginning::Resumed(state),
            fault: None,
            created_dir: false,
            _lock: lock,
        })))
    }

    pub fn settings(&self) -> &RunSettings {
        &self.settings
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Testing: a fault the optimizer injects (a NaN gradient, parameter or loss at a step).
    pub fn inject_fault(&mut self, fault: Fault) {
        self.fault = Some(fault);
    }
}

//! `model.safetensors` + `config.json`: written atomically, validated on load.
//!
//! The safetensors `__metadata__` carries the same JSON as `config.json` under the key
//! [`METADATA_KEY`], so a lone `.safetensors` file describes itself.

use candle_core::safetensors::Load;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{Config, Error, Network, Result};

pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const METADATA_KEY: &str = "neuropos";
pub const FORMAT: &str = "neuropos-checkpoint/1";

/// How a checkpoint was produced (absent for untrained exports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub kind: String,
    pub epochs_completed: usize,
    pub epochs_planned: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub seed: u64,
    pub optimizer: String,
    pub train_samples: usize,
    pub data: String,
    pub final_test_accuracy: Option<f64>,
    /// True when training was stopped early (Ctrl-C).
    pub interrupted: bool,
    /// The checkpoint this run started from (`train --init-from`); absent for a fresh start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<Lineage>,
    /// The recipe beyond the paper's (`train --lr-schedule`, `--warmup-epochs`,
    /// `--label-smoothing`); absent for the paper's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<crate::recipe::Recipe>,
    /// Training images held out for validation (the last N of the training set, `train
    /// --val-split N`), and the accuracy on them after the last epoch; `final_test_accuracy`
    /// is then scored once, after the last epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_split: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_val_accuracy: Option<f64>,
    /// `train --recipe best`: the settings came from [`crate::recipe::best`] (those above
    /// are what was used); absent for the paper's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<crate::recipe::Preset>,
    /// The data it was trained on (absent: MNIST, as every checkpoint before datasets were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<crate::data::DatasetRecord>,
    /// `train --distill-from`: the teacher and the loss's T and A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distillation: Option<Distillation>,
    /// `train --keep best`: the epoch these weights are from (the best on validation), and
    /// whether the run stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<KeptEpoch>,
    /// `train --train-limit` / `--test-limit`: trained on the first N training images only, and
    /// scored on the first N test images only (absent: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
}

impl Provenance {
    /// The run trained every planned epoch, or stopped early by `--patience`, and was not
    /// interrupted: nothing left to train.
    pub fn finished(&self) -> bool {
        !self.interrupted
            && (self.epochs_completed >= self.epochs_planned
                || self.kept.as_ref().is_some_and(|k| k.early_stopped))
    }
}

/// Where a fine-tuned checkpoint came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The reference as given: a local path or `hf://owner/repo[@revision][/subdir]`.
    pub source: String,
    /// The Hub commit the files were downloaded at (for `hf://` references).
    pub commit: Option<String>,
    /// The source's test accuracy as its own checkpoint recorded it.
    pub source_test_accuracy: Option<f64>,
    /// Epochs the source had been trained for.
    pub source_epochs: Option<usize>,
    /// The test accuracy of the loaded source scored before the first fine-tuning step.
    pub initial_test_accuracy: f64,
}

/// What a distilled run (`train --distill-from`, [`crate::distill`]) records (in `run.json` and the checkpoint's provenance): the teacher as
/// given, the Hub commit it resolved to, the SHA-256 of its weights file, `T` and `A`. A resumed
/// run reloads the teacher from `source` and refuses one whose weights changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distillation {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub sha256: String,
    pub temperature: f64,
    pub weight: f64,
}

/// What the checkpoint of a `--keep best` run records about the epoch it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptEpoch {
    /// The epoch whose weights these are.
    pub epoch: usize,
    /// Its validation accuracy, the best of the run.
    pub val_accuracy: f64,
    /// Epochs trained in all (past `epoch` by up to the patience).
    pub epochs_trained: usize,
    /// The run stopped before its planned epochs: `patience` epochs without a better score.
    pub early_stopped: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
}

/// The JSON in `config.json` and in the safetensors metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    pub format: String,
    pub model: Config,
    pub params: usize,
    pub training: Option<Provenance>,
}

impl CheckpointInfo {
    pub fn new(model: &Config, training: Option<Provenance>) -> Self {
        CheckpointInfo {
            format: FORMAT.to_string(),
            model: model.clone(),
            params: model.parameter_count(),
            training,
        }
    }
}

/// The training record of the run in `dir` if it finished: every planned epoch trained, not
/// interrupted (read from its `config.json`). What `train` and the sweep's planning both ask.
pub fn completed_training(dir: &Path) -> Option<Provenance> {
    let text = std::fs::read_to_string(dir.join(CONFIG_FILE)).ok()?;
    let info: CheckpointInfo = serde_json::from_str(&text).ok()?;
    let training = info.training?;
    training.finished().then_some(training)
}

/// Resolves a checkpoint argument: a directory holding `model.safetensors`, or the file.
pub fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MODEL_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Writes `dir/model.safetensors` and `dir/config.json`. Each goes to a temporary file in the
/// same directory, is synced, then renamed over the old one: a crash at any point leaves
/// either the previous or the new checkpoint, never a torn one.
pub fn save(dir: &Path, vars: &VarMap, info: &CheckpointInfo) -> Result<()> {
    save_with_masks(dir, vars, info, None)
}

/// The prefix of the bit-packed fixed pruning masks' tensor names (`prune.keep.{c}`).
pub const MASK_PREFIX: &str = "prune.keep.";

/// [`save`], with fixed pruning masks (`[n_out, n_in]` per layer) stored bit-packed as
/// `prune.keep.{c}` U8 tensors; the config must say so (`fixed_mask`).
pub fn save_with_masks(
    dir: &Path,
    vars: &VarMap,
    info: &CheckpointInfo,
    masks: Option<&[Tensor]>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let model_path = dir.join(MODEL_FILE);
    let (bytes, json) = serialize(&model_path, vars, info, masks)?;
    write_atomically(&model_path, &bytes)?;
    write_atomically(&dir.join(CONFIG_FILE), format!("{json}\n").as_bytes())
}

/// The checkpoint as one self-describing `.safetensors` file at `path` (its metadata carries
/// the configuration): what [`read`] takes without a `config.json`.
pub fn save_file(
    path: &Path,
    vars: &VarMap,
    info: &CheckpointInfo,
    masks: Option<&[Tensor]>,
) -> Result<()> {
    let (bytes, _) = serialize(path, vars, info, masks)?;
    write_atomically(path, &bytes)
}

/// The safetensors bytes of a checkpoint (destined for `path`, named in errors) and its JSON.
fn serialize(
    path: &Path,
    vars: &VarMap,
    info: &CheckpointInfo,
    masks: Option<&[Tensor]>,
) -> Result<(Vec<u8>, String)> {
    if masks.is_some() != info.model.fixed_mask.is_some() {
        return Err(Error::Config(
            "masks are saved exactly when the config has a fixed_mask".into(),
        ));
    }
    let json = serde_json::to_string_pretty(info).map_err(|e| Error::Config(e.to_string()))?;
    let mut tensors: BTreeMap<String, Tensor> = {
        let data = vars
            .data()
            .lock()
            .map_err(|_| Error::Config("variable map poisoned".into()))?;
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_device(&Device::Cpu)?)))
            .collect::<Result<_>>()?
    };
    for (c, mask) in masks.unwrap_or_default().iter().enumerate() {
        let bits = crate::prune::pack_mask(mask)?;
        let n = bits.len();
        tensors.insert(
            format!("{MASK_PREFIX}{c}"),
            Tensor::from_vec(bits, n, &Device::Cpu)?,
        );
    }
    let metadata = HashMap::from([(METADATA_KEY.to_string(), json.clone())]);
    let bytes = safetensors::serialize(&tensors, Some(metadata))
        .map_err(|e| Error::checkpoint(path, e.to_string()))?;
    Ok((bytes, json))
}

static DEBUG_WRITE_DELAY_MS: AtomicU64 = AtomicU64::new(0);

/// Testing only: makes every [`write_atomically`] sleep half-way through writing its bytes, so
/// a test can kill a process in the middle of a save.
#[doc(hidden)]
pub fn set_debug_write_delay(delay: Duration) {
    DEBUG_WRITE_DELAY_MS.store(delay.as_millis() as u64, Ordering::Relaxed);
}

/// `safetensors::serialize` with the header's keys in sorted order: the crate takes metadata
/// as a `HashMap`, whose order changes from run to run, so two keys gave different bytes for
/// the same content. The same input now gives the same bytes.
pub fn serialize_sorted(
    tensors: &BTreeMap<String, Tensor>,
    metadata: HashMap<String, String>,
) -> std::result::Result<Vec<u8>, String> {
    let mut bytes = safetensors::serialize(tensors, Some(metadata)).map_err(|e| e.to_string())?;
    let n = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| "no header")?) as usize;
    // serde_json's maps are BTreeMaps here (no `preserve_order`): parsing sorts the keys.
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + n]).map_err(|e| e.to_string())?;
    let sorted = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    if sorted.len() > n {
        return Err("the sorted header is longer than the original".into());
    }
    // Same keys and values, so the same length up to the alignment padding (spaces).
    bytes[8..8 + n].fill(b' ');
    bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
    Ok(bytes)
}

/// Refuses to replace `path` unless it is missing or a regular file: never a symlink (whose
/// target could be anything), a directory, a device or a pipe.
pub fn check_replaceable(path: &Path) -> Result<()> {
    let kind = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
        Ok(m) if m.file_type().is_file() => return Ok(()),
        Ok(m) if m.file_type().is_symlink() => "a symbolic link",
        Ok(m) if m.is_dir() => "a directory",
        Ok(_) => "a device, pipe or socket",
    };
    Err(Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("refusing to replace {kind}: only a regular file or a new path is written"),
        ),
    ))
}

/// Removes the `.tmp-<pid>-…` files in `dir` whose writer is no longer running (killed during a
/// save: a failing save removes its own). Where there is no `/proc` to ask, nothing is removed.
fn remove_orphaned_temporaries(dir: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(".tmp-")
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if let (Some(pid), true) = (pid, regular) {
            if !proc.join(pid.to_string()).exists() {
                tracing::info!("removing {}, left by a killed save", entry.path().display());
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Writes `bytes` to `path` through a synced temporary file in the same directory renamed over
/// it: the old file or the new one, never a torn one. Every file neuropos writes goes through
/// here, so [`check_replaceable`] holds for all of them.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    check_replaceable(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "cannot save: the directory {} does not exist",
                    dir.display()
                ),
            ),
        ));
    }
    remove_orphaned_temporaries(dir);
    // The writer's process id in the name: a process killed mid-write leaves a temporary that
    // the next write into this directory can recognise as orphaned and remove.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    // Name the file being saved (the temporary is deleted when this returns an error) and say
    // that the old one is intact: the point of writing through a temporary.
    let failed = |e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            e.kind(),
            format!("saving failed ({e}); the previous version of the file is untouched"),
        ),
    };
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    tmp.write_all(head).map_err(failed)?;
    let delay = DEBUG_WRITE_DELAY_MS.load(Ordering::Relaxed);
    if delay > 0 {
        tmp.flush().map_err(failed)?;
        std::thread::sleep(Duration::from_millis(delay));
    }
    tmp.write_all(tail).map_err(failed)?;
    // Temporary files are created private (0600); a checkpoint is meant to be shared.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(failed)?;
    }
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// A parsed checkpoint: its description and its tensors (on the CPU).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub file: PathBuf,
    pub info: CheckpointInfo,
    pub tensors: HashMap<String, Tensor>,
}

/// Reads and parses a checkpoint (directory or `.safetensors` file). Structural problems —
/// truncation, a bad header, missing metadata, an invalid config, a `config.json` that
/// disagrees with the metadata — are errors naming the file.
pub fn read(path: &Path) -> Result<Checkpoint> {
    let file = model_file(path);
    let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
    let config = if path.is_dir() {
        let config_path = path.join(CONFIG_FILE);
        match std::fs::read(&config_path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&config_path, e)),
        }
    } else {
        None
    };
    parse(&file, &bytes, config.as_deref())
}

/// [`read`] on bytes already in memory: `bytes` of `model.safetensors` (named `file` in errors)
/// and, if there is one, the `config.json` beside it. Nothing is allocated beyond what the
/// bytes hold: the tensors' sizes must add up to the parameters the configuration claims before
/// any network is built from it.
pub fn parse(file: &Path, bytes: &[u8], config_json: Option<&[u8]>) -> Result<Checkpoint> {
    let file = file.to_path_buf();
    let fail = |problem: String| Error::checkpoint(&file, problem);
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| fail(format!("not a valid safetensors file ({e})")))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| fail(format!("not a valid safetensors file ({e})")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or_else(|| {
            fail(format!(
                "no `{METADATA_KEY}` entry in the safetensors metadata: not a neuropos checkpoint"
            ))
        })?;
    let info: CheckpointInfo = serde_json::from_str(json)
        .map_err(|e| fail(format!("embedded configuration is not valid: {e}")))?;
    info.model
        .validate()
        .map_err(|e| fail(format!("embedded configuration is not valid: {e}")))?;
    if let Some(config_json) = config_json {
        let beside: CheckpointInfo = serde_json::from_slice(config_json).map_err(|e| {
            fail(format!(
                "the {CONFIG_FILE} beside it is not a valid checkpoint description: {e}"
            ))
        })?;
        if beside != info {
            return Err(fail(format!(
                "the {CONFIG_FILE} beside it disagrees with the description in its metadata \
                 (edited, or from another checkpoint?)"
            )));
        }
    }
    let expected_params = info.model.parameter_count();
    if info.params != expected_params {
        return Err(fail(format!(
            "configuration claims {} parameters but its architecture has {expected_params}",
            info.params
        )));
    }
    let stored: usize = st
        .tensors()
        .iter()
        .filter(|(name, _)| !name.starts_with(MASK_PREFIX))
        .map(|(_, view)| view.shape().iter().product::<usize>())
        .sum();
    if stored != expected_params {
        return Err(fail(format!(
            "its tensors hold {stored} values but {} has {expected_params} parameters",
            info.model.describe()
        )));
    }
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        let t = view
            .load(&Device::Cpu)
            .map_err(|e| fail(format!("tensor `{name}` cannot be read: {e}")))?;
        tensors.insert(name, t);
    }
    Ok(Checkpoint {
        file,
        info,
        tensors,
    })
}

impl Checkpoint {
    /// Removes the stored fixed masks from the tensors and unpacks them (`[n_out, n_in]` per
    /// layer): `None` without a `fixed_mask` in the config; an error if masks and config
    /// disagree.
    pub fn take_masks(&mut self) -> Result<Option<Vec<Tensor>>> {
        let fail = |problem: String| Error::checkpoint(&self.file, problem);
        let names: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| k.starts_with(MASK_PREFIX))
            .cloned()
            .collect();
        let model = &self.info.model;
        let layers = model.layers.len() - 1;
        match (model.fixed_mask.is_some(), names.is_empty()) {
            (false, true) => return Ok(None),
            (false, false) => {
                return Err(fail(format!(
                    "pruning masks {names:?} but no fixed_mask in the configuration"
                )))
            }
            (true, true) => {
                return Err(fail(
                    "the configuration has a fixed_mask but the masks are missing".into(),
                ))
            }
            (true, false) => {}
        }
        let mut masks = Vec::with_capacity(layers);
        for c in 0..layers {
            let name = format!("{MASK_PREFIX}{c}");
            let tensor = self
                .tensors
                .remove(&name)
                .ok_or_else(|| fail(format!("pruning mask `{name}` is missing")))?;
            if tensor.dtype() != DType::U8 || tensor.rank() != 1 {
                return Err(fail(format!(
                    "pruning mask `{name}` must be a U8 vector of bits"
                )));
            }
            let shape = (model.layers[c + 1], model.layers[c]);
            let bits = tensor.to_vec1::<u8>()?;
            let mask = crate::prune::unpack_mask(&bits, shape).ok_or_else(|| {
                fail(format!(
                    "pruning mask `{name}` has {} bytes, not the {} of a {}×{} mask",
                    bits.len(),
                    (shape.0 * shape.1).div_ceil(8),
                    shape.0,
                    shape.1
                ))
            })?;
            masks.push(mask);
        }
        if let Some(extra) = self.tensors.keys().find(|k| k.starts_with(MASK_PREFIX)) {
            return Err(fail(format!("unexpected pruning mask `{extra}`")));
        }
        Ok(Some(masks))
    }

    /// Copies the tensors into `vars` after checking that every variable is present with the
    /// right shape, a floating-point dtype and finite values, and that nothing is left over.
    pub fn restore(&self, vars: &VarMap) -> Result<()> {
        let fail = |problem: String| Error::checkpoint(&self.file, problem);
        let data = vars
            .data()
            .lock()
            .map_err(|_| Error::Config("variable map poisoned".into()))?;
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let var = &data[name];
            let t = self.tensors.get(name).ok_or_else(|| {
                fail(format!(
                    "tensor `{name}` is missing (expected shape {:?} for {})",
                    var.dims(),
                    self.info.model.describe()
                ))
            })?;
            if t.dims() != var.dims() {
                return Err(fail(format!(
                    "tensor `{name}` has shape {:?}, expected {:?} for {}",
                    t.dims(),
                    var.dims(),
                    self.info.model.describe()
                )));
            }
            if !t.dtype().is_float() {
                return Err(fail(format!(
                    "tensor `{name}` has dtype {:?}, expected a float",
                    t.dtype()
                )));
            }
            let values = crate::device::host_f64(t)?;
            if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
                return Err(fail(format!(
                    "tensor `{name}` holds a non-finite value ({}) at flat index {bad}",
                    values[bad]
                )));
            }
            var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
        }
        let mut extra: Vec<&String> = self
            .tensors
            .keys()
            .filter(|k| !data.contains_key(*k))
            .collect();
        if !extra.is_empty() {
            extra.sort();
            return Err(fail(format!(
                "unexpected tensors {extra:?} for {}",
                self.info.model.describe()
            )));
        }
        Ok(())
    }
}

/// A network restored from a checkpoint, with the variables it trains.
pub struct Loaded {
    pub network: Network,
    pub vars: VarMap,
    pub info: CheckpointInfo,
    pub file: PathBuf,
}

/// Reads, validates and instantiates a checkpoint on `device`; a stored fixed mask is installed
/// in the network.
pub fn load(path: &Path, dtype: DType, device: &Device) -> Result<Loaded> {
    instantiate(read(path)?, dtype, device)
}

/// Builds the network a parsed checkpoint describes on `device`, its tensors restored.
pub fn instantiate(mut ckpt: Checkpoint, dtype: DType, device: &Device) -> Result<Loaded> {
    let vars = VarMap::new();
    let mut network = Network::seeded(&ckpt.info.model, &vars, 0, dtype, device)?;
    let masks = ckpt.take_masks()?;
    ckpt.restore(&vars)?;
    if let Some(masks) = masks {
        let masks = masks
            .iter()
            .map(|m| m.to_dtype(dtype)?.to_device(device))
            .collect::<candle_core::Result<Vec<_>>>()?;
        network.set_keep_masks(Some(masks))?;
    }
    Ok(Loaded {
        network,
        vars,
        info: ckpt.info,
        file: ckpt.file,
    })
}

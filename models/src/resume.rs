//! Exact resume: everything a training run needs to continue as if it had never stopped.
//!
//! `optimizer.safetensors` beside the checkpoint holds the Adam moments and step count, the
//! parameters they belong to, any fixed pruning masks, and (in its metadata) the epoch and
//! batch reached, the batch-order RNG's state at the start of that epoch and the epoch's loss
//! so far. It is one file written atomically *before* `model.safetensors`, so a kill between
//! the two renames still leaves a consistent state: a resume takes everything from this file
//! (the parameters too) and rewrites the checkpoint at its next save.

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::checkpoint::{write_atomically, MASK_PREFIX};
use crate::optimizer::Adam;
use crate::{Error, Result};

pub const STATE_FILE: &str = "optimizer.safetensors";
pub const STATE_METADATA_KEY: &str = "neuropos-train-state";
pub const STATE_FORMAT: &str = "neuropos-train-state/1";
/// Prefix of the parameters' names in the state file.
pub const PARAM_PREFIX: &str = "param.";

/// The RNG that orders the batches. ChaCha12 is what `rand`'s `StdRng` is today; naming it
/// directly pins the stream and gives access to its position, which `StdRng` hides.
pub type BatchRng = ChaCha12Rng;

/// The batch RNG seeded from a run's seed (its own stream, so changing the architecture does
/// not reshuffle the data).
pub fn batch_rng(seed: u64) -> BatchRng {
    BatchRng::seed_from_u64(seed.wrapping_add(0x05EE_D0FB_A7C4))
}

/// A ChaCha stream's exact position: key, stream and word offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte key, hex.
    pub seed: String,
    pub stream: u64,
    /// The 68-bit word position, decimal (JSON numbers stop at 2^53).
    pub word_pos: String,
}

impl RngState {
    pub fn capture(rng: &BatchRng) -> Self {
        RngState {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    pub fn rng(&self) -> Result<BatchRng> {
        let bad = || Error::Config(format!("invalid RNG state {self:?}"));
        if self.seed.len() != 64 || !self.seed.is_ascii() {
            return Err(bad());
        }
        let mut seed = [0u8; 32];
        for (i, byte) in seed.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&self.seed[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        let mut rng = BatchRng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos.parse().map_err(|_| bad())?);
        Ok(rng)
    }
}

/// How far a run got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub format: String,
    /// Whole epochs finished.
    pub epochs_completed: usize,
    /// Batches of the next epoch already trained (0 at an epoch boundary).
    pub batch: usize,
    /// The next epoch's sample-weighted loss sum and sample count so far.
    pub loss_sum: f64,
    pub samples: usize,
    /// Optimizer steps taken in all.
    pub steps: usize,
    /// The batch RNG before the next epoch's shuffle.
    pub rng: RngState,
    /// The test accuracy after the last finished epoch (with a validation split: only after
    /// the run's last epoch).
    pub last_test_accuracy: Option<f64>,
    /// The validation accuracy after the last finished epoch (`train --val-split`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_val_accuracy: Option<f64>,
    /// `--keep best`: the epoch with the best validation accuracy so far, and that accuracy
    /// (its weights in the run's `best.safetensors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_val_accuracy: Option<f64>,
}

impl Position {
    /// The start of a run that has trained nothing: the batch RNG seeded, nothing scored.
    pub fn start(seed: u64) -> Self {
        Position {
            format: STATE_FORMAT.into(),
            epochs_completed: 0,
            batch: 0,
            loss_sum: 0.0,
            samples: 0,
            steps: 0,
            rng: RngState::capture(&batch_rng(seed)),
            last_test_accuracy: None,
            last_val_accuracy: None,
            best_epoch: None,
            best_val_accuracy: None,
        }
    }
}

/// A read training state: where the run was, and its tensors (on the CPU).
#[derive(Debug)]
pub struct TrainState {
    pub file: PathBuf,
    pub position: Position,
    tensors: HashMap<String, Tensor>,
}

/// Writes `dir/optimizer.safetensors` atomically: the parameters, the Adam state, the masks.
pub fn save(
    dir: &Path,
    vars: &VarMap,
    optimizer: &Adam,
    masks: Option<&[Tensor]>,
    position: &Position,
) -> Result<()> {
    let mut tensors: BTreeMap<String, Tensor> = BTreeMap::new();
    {
        let data = vars
            .data()
            .lock()
            .map_err(|_| Error::Config("variable map poisoned".into()))?;
        for (name, var) in data.iter() {
            tensors.insert(
                format!("{PARAM_PREFIX}{name}"),
                var.as_tensor().to_device(&Device::Cpu)?,
            );
        }
    }
    let (steps, moments) = optimizer.state();
    if steps != position.steps {
        return Err(Error::Config(format!(
            "the optimizer has taken {steps} steps, the position says {}",
            position.steps
        )));
    }
    for (name, t) in moments {
        tensors.insert(name, t.to_device(&Device::Cpu)?);
    }
    for (c, mask) in masks.unwrap_or_default().iter().enumerate() {
        let bits = crate::prune::pack_mask(mask)?;
        let n = bits.len();
        tensors.insert(
            format!("{MASK_PREFIX}{c}"),
            Tensor::from_vec(bits, n, &Device::Cpu)?,
        );
    }
    let json = serde_json::to_string(position).map_err(|e| Error::Config(e.to_string()))?;
    let metadata = HashMap::from([(STATE_METADATA_KEY.to_string(), json)]);
    let path = dir.join(STATE_FILE);
    let bytes = safetensors::serialize(&tensors, Some(metadata))
        .map_err(|e| Error::checkpoint(&path, e.to_string()))?;
    write_atomically(&path, &bytes)
}

/// Reads `dir/optimizer.safetensors`, or `None` when the run never saved one.
pub fn read(dir: &Path) -> Result<Option<TrainState>> {
    let file = dir.join(STATE_FILE);
    if !file.exists() {
        return Ok(None);
    }
    let fail = |problem: String| Error::checkpoint(&file, problem);
    let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| fail(format!("not a valid safetensors file ({e})")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(STATE_METADATA_KEY))
        .ok_or_else(|| fail(format!("no `{STATE_METADATA_KEY}` entry in its metadata")))?;
    let position: Position = serde_json::from_str(json)
        .map_err(|e| fail(format!("the training position is not valid: {e}")))?;
    if position.format != STATE_FORMAT {
        return Err(fail(format!(
            "format `{}`, this neuropos reads `{STATE_FORMAT}`",
            position.format
        )));
    }
    position.rng.rng().map_err(|e| fail(e.to_string()))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| fail(format!("its tensors cannot be read ({e})")))?;
    Ok(Some(TrainState {
        file,
        position,
        tensors,
    }))
}

impl TrainState {
    /// Puts the saved parameters into `vars` and the moments into `optimizer`; every variable
    /// must be there with its shape.
    pub fn restore(&self, vars: &VarMap, optimizer: &mut Adam) -> Result<()> {
        let what = self.file.display().to_string();
        {
            let data = vars
                .data()
                .lock()
                .map_err(|_| Error::Config("variable map poisoned".into()))?;
            if let Some(extra) = self.tensors.keys().find(|k| {
                k.strip_prefix(PARAM_PREFIX)
                    .is_some_and(|n| !data.contains_key(n))
            }) {
                return Err(Error::checkpoint(
                    &self.file,
                    format!("`{extra}` is not a parameter of this model: another run's state?"),
                ));
            }
            for (name, var) in data.iter() {
                let key = format!("{PARAM_PREFIX}{name}");
                let t = self.tensors.get(&key).ok_or_else(|| {
                    Error::checkpoint(&self.file, format!("no `{key}`: another run's state?"))
                })?;
                if t.dims() != var.dims() {
                    return Err(Error::checkpoint(
                        &self.file,
                        format!(
                            "`{key}` has shape {:?}, the model's {:?}",
                            t.dims(),
                            var.dims()
                        ),
                    ));
                }
                var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
            }
        }
        optimizer.restore(self.position.steps, &self.tensors, &what)
    }

    /// The fixed pruning masks saved with the state, unpacked to `shapes` (`[n_out, n_in]`).
    pub fn masks(&self, shapes: &[(usize, usize)]) -> Result<Option<Vec<Tensor>>> {
        if !self.tensors.keys().any(|k| k.starts_with(MASK_PREFIX)) {
            return Ok(None);
        }
        shapes
            .iter()
            .enumerate()
            .map(|(c, &(rows, cols))| {
                let key = format!("{MASK_PREFIX}{c}");
                let t = self
                    .tensors
                    .get(&key)
                    .ok_or_else(|| Error::checkpoint(&self.file, format!("no `{key}`")))?;
                crate::prune::unpack_mask(&t.to_vec1::<u8>()?, (rows, cols)).ok_or_else(|| {
                    Error::checkpoint(
                        &self.file,
                        format!("`{key}` does not hold a {rows}×{cols} mask"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

//! `train --val-split N --keep best [--patience P]`: the checkpoint a run leaves is the epoch
//! that scored best on the validation split, and the run stops once P epochs in a row have not
//! beaten it. The test set is scored once, on the kept epoch.
//!
//! Between epochs the best so far lives in `DIR/best.safetensors` (a self-describing
//! checkpoint file) and its epoch and score in the resume state, so a killed run resumes to
//! the same bytes; at the end it becomes the checkpoint and the file goes.

use serde::{Deserialize, Serialize};

use crate::resume::Position;

pub use crate::checkpoint::KeptEpoch;

/// The file holding the best epoch's weights while a `--keep best` run trains.
pub const BEST_FILE: &str = "best.safetensors";

/// Which epoch's weights a run leaves as its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// The last epoch's (the paper's).
    #[default]
    Last,
    /// The epoch with the best validation accuracy (the first of equals).
    Best,
}

crate::names::serde_named!(Keep, "kept epoch", [Keep::Last, Keep::Best]);

impl Keep {
    pub fn is_last(&self) -> bool {
        *self == Keep::Last
    }
}

/// Whether an epoch scoring `val_accuracy` beats the best so far in `position` (strictly: of
/// equal scores the earlier epoch is kept).
pub fn improves(position: &Position, val_accuracy: f64) -> bool {
    position
        .best_val_accuracy
        .is_none_or(|best| val_accuracy > best)
}

/// Whether a run at `position` has gone `patience` epochs without beating its best.
pub fn patience_exhausted(position: &Position, patience: Option<usize>) -> bool {
    match (patience, position.best_epoch) {
        (Some(p), Some(best)) => position.epochs_completed >= best + p,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(epochs_completed: usize, best: Option<(usize, f64)>) -> Position {
        Position {
            epochs_completed,
            best_epoch: best.map(|b| b.0),
            best_val_accuracy: best.map(|b| b.1),
            ..Position::start(0)
        }
    }

    #[test]
    fn the_first_of_equal_scores_is_kept_and_patience_counts_epochs_since_it() {
        assert!(improves(&at(0, None), 0.1));
        assert!(improves(&at(3, Some((2, 0.5))), 0.51));
        assert!(!improves(&at(3, Some((2, 0.5))), 0.5));
        assert!(!patience_exhausted(&at(4, Some((2, 0.5))), Some(3)));
        assert!(patience_exhausted(&at(5, Some((2, 0.5))), Some(3)));
        assert!(!patience_exhausted(&at(50, Some((2, 0.5))), None));
    }
}

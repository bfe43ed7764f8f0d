//! Scoring a checkpoint at pruning levels, with one meaning for every command (`eval --prune`,
//! `prune --percent`, `export --prune`, the viewer's slider): a checkpoint that prunes itself
//! (a stored mask from `neuropos prune`, or `train --prune-during`) is the model as stored; a
//! level P is the share of *all* weights removed, the stored ones plus the smallest of the kept
//! ones; a P below the stored share is refused; compensation covers the newly removed only.

use candle_core::Tensor;
use serde::Serialize;

use crate::checkpoint::Loaded;
use crate::prune::{self, MagnitudeRanking, PruneMasks, PruneScope, Rank};
use crate::{Error, Network, Result};

/// What a checkpoint removes by itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StoredPruning {
    /// The share (%) of all weights it removes.
    pub percent: f64,
    pub scope: PruneScope,
    pub rank: Rank,
    /// Training images its biases were compensated on (0: none).
    pub compensated_on: usize,
    /// Ranked afresh in every forward pass (`train --prune-during`), not a fixed mask.
    pub during_training: bool,
}

impl StoredPruning {
    /// The pruning `loaded` carries, `None` for an unpruned checkpoint.
    pub fn of(loaded: &Loaded) -> Option<Self> {
        match (loaded.info.model.pruning, loaded.info.model.fixed_mask) {
            (Some(p), _) => Some(StoredPruning {
                percent: p.percent,
                scope: p.scope,
                rank: Rank::Distance,
                compensated_on: 0,
                during_training: true,
            }),
            (None, Some(m)) => Some(StoredPruning {
                percent: m.percent,
                scope: m.scope,
                rank: m.rank,
                compensated_on: m.compensated_on,
                during_training: false,
            }),
            (None, None) => None,
        }
    }
}

/// The keep-masks `network` runs with as stored, `[n_out, n_in]` per layer: its pruning
/// during training ranked on its current weights, else its installed mask (all ones without).
pub fn stored_masks(network: &Network) -> candle_core::Result<Vec<Tensor>> {
    match network.pruning_masks()? {
        Some(masks) => Ok(masks),
        None => network.keep_masks(),
    }
}

/// One scored level.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// The share (%) of all weights the checkpoint removes by itself (0 without a pruning).
    pub stored_percent: f64,
    /// The share (%) of all weights removed in the model scored.
    pub percent: f64,
    /// How the weights beyond the stored ones were chosen (the stored pruning's own when none
    /// were: `percent == stored_percent` and no level was asked for).
    pub scope: PruneScope,
    pub rank: Rank,
    /// Training images the newly removed connections were compensated on (0: none); for the
    /// model as stored, its own compensation.
    pub compensated_on: usize,
    pub kept: usize,
    pub total: usize,
}

impl Level {
    /// The share removed here, beyond the stored pruning.
    pub fn further_percent(&self) -> f64 {
        self.percent - self.stored_percent
    }
}

/// How to prune `loaded` further: levels, ranking, scope and the compensation images.
pub struct Levels<'a> {
    /// `None`: score the model as stored (its own pruning, or unpruned).
    pub levels: Option<&'a [f64]>,
    pub rank: Rank,
    pub scope: PruneScope,
    pub compensation: Option<&'a Tensor>,
}

/// Scores `loaded` at each level: hands `visit` the level and the network pruned to it. Every
/// level is checked before the first is scored (a level below the stored share is refused,
/// naming it); the biases are restored from a host snapshot before every level, so each is
/// scored on its own; the network is left as loaded.
pub fn at_levels<E: From<Error>>(
    loaded: &mut Loaded,
    how: &Levels<'_>,
    mut visit: impl FnMut(&Level, &Network) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let ours = |e: Error| E::from(e);
    let candle = |e: candle_core::Error| E::from(Error::from(e));
    let stored = StoredPruning::of(loaded);
    // Only a checkpoint that prunes itself has masks to start from (an unpruned one keeps all).
    let before: Option<Vec<Tensor>> = match stored {
        Some(_) => Some(stored_masks(&loaded.network).map_err(candle)?),
        None => None,
    };
    let total = loaded.info.model.weight_count();
    let stored_kept = match &before {
        Some(masks) => masks
            .iter()
            .map(crate::device::count_nonzero)
            .sum::<candle_core::Result<usize>>()
            .map_err(candle)?,
        None => total,
    };
    let stored_percent = stored.map_or(0.0, |s| s.percent);
    let Some(levels) = how.levels else {
        let level = Level {
            stored_percent,
            percent: stored_percent,
            scope: stored.map_or(how.scope, |s| s.scope),
            rank: stored.map_or(how.rank, |s| s.rank),
            compensated_on: stored.map_or(0, |s| s.compensated_on),
            kept: stored_kept,
            total,
        };
        // As stored: a pruning during training ranks in its own forward pass, a stored mask is
        // installed already.
        return visit(&level, &loaded.network);
    };
    let ranking = ranking(loaded, how.rank, how.scope, before.as_deref()).map_err(ours)?;
    for &percent in levels {
        ranking
            .check_level(percent)
            .map_err(|e| ours(Error::Pruning(e)))?;
    }
    let biases = prune::save_biases(&loaded.network, &loaded.vars).map_err(candle)?;
    let installed = loaded.info.model.fixed_mask.and(before.clone());
    let mut scored = || -> std::result::Result<(), E> {
        for &percent in levels {
            let masks: PruneMasks = ranking.masks(percent).map_err(candle)?;
            prune::restore_biases(&loaded.vars, &biases).map_err(candle)?;
            loaded
                .network
                .set_keep_masks(Some(masks.masks.clone()))
                .map_err(candle)?;
            let newly_removed = masks.kept < stored_kept;
            let compensated_on = match (how.compensation, newly_removed) {
                (Some(images), true) => {
                    let base = before.as_deref();
                    prune::compensate(&loaded.network, &loaded.vars, &masks.masks, base, images)
                        .map_err(candle)?;
                    images.dim(0).map_err(candle)?
                }
                _ => 0,
            };
            let level = Level {
                stored_percent,
                percent,
                scope: how.scope,
                rank: how.rank,
                compensated_on,
                kept: masks.kept,
                total: masks.total,
            };
            visit(&level, &loaded.network)?;
        }
        Ok(())
    };
    let result = scored();
    prune::restore_biases(&loaded.vars, &biases).map_err(candle)?;
    loaded.network.set_keep_masks(installed).map_err(candle)?;
    result
}

/// The ranking of `loaded`'s weights by `rank` within `scope`, after its stored pruning
/// (`before`, its keep-masks) when it has one.
fn ranking(
    loaded: &Loaded,
    rank: Rank,
    scope: PruneScope,
    before: Option<&[Tensor]>,
) -> Result<MagnitudeRanking> {
    let weights = prune::ranked_weights(&loaded.network, rank)?;
    Ok(match before {
        Some(before) => MagnitudeRanking::after(&weights, scope, before)?,
        None => MagnitudeRanking::new(&weights, scope)?,
    })
}

/// The keep-masks of `loaded` pruned to `percent` % of all its weights (further, among the kept
/// ones, when it prunes itself), by `rank` within `scope`; the same selection [`at_levels`]
/// scores. For `prune` and `export`, which write the result.
pub fn masks_at(
    loaded: &Loaded,
    percent: f64,
    rank: Rank,
    scope: PruneScope,
) -> Result<(PruneMasks, Option<Vec<Tensor>>)> {
    let stored = StoredPruning::of(loaded)
        .map(|_| stored_masks(&loaded.network))
        .transpose()?;
    let ranking = ranking(loaded, rank, scope, stored.as_deref())?;
    ranking.check_level(percent).map_err(Error::Pruning)?;
    Ok((ranking.masks(percent)?, stored))
}

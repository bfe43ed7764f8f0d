//! Sweeps: a spec (TOML) of runs — models, seeds, pruning levels, the paper's values — planned
//! into one directory per run, and summarised as mean ± sample std over seeds beside the paper.
//! Running the plan (local processes, a Slurm job array, GNU parallel) is the CLI's
//! (`neuropos sweep`).
//!
//! Every run has its own directory, `RUNS/<setting>/seed<S>`, and the rule for it is the same
//! wherever it runs: a completed run (its `config.json` says so) is reused, an interrupted one
//! is continued exactly with `train --resume` (its `run.json` holds the settings), anything else
//! is trained from the start.

pub mod plan;
pub mod spec;
pub mod summary;

pub use plan::{units, Overrides, Unit};
pub use spec::{RowSpec, Spec};
pub use summary::{collect, write_summaries, Cost, SummaryRow};

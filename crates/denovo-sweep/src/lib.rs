//! # denovo-sweep
//!
//! Many fits at once. A sweep (`sweep.toml`: the data, the models each with its options,
//! folds over animals, seeds, replicates) is expanded into independent tasks with stable
//! ids ([`prepare`] writes `DIR/tasks.json`); a task is one model × seed × replicate ×
//! fold, fitted through [`denovo_study::fit_with`] to the other folds' animals and scored
//! on the held-out fold's ([`run_task`], into a staging folder renamed into place on
//! success). [`run_local`] runs the pending tasks on a pool of worker processes,
//! [`slurm::submit`] hands them to SLURM as one array job, [`status`] reports them, and
//! [`collect`] merges the held-out log-likelihoods (nats/trial) into one table and the
//! paper's comparison: per-animal means over seeds, every model against a reference
//! (default `reinforce-baseline`) by a one-sided paired t-test and Wilcoxon signed-rank
//! test across animals (Liu, Geadah & Pillow, arXiv 2509.04661). The directory layout is
//! in docs/run-dir.md.
//!
//! ```no_run
//! use denovo_sweep::{Worker, collect, prepare, run_local};
//! use std::path::Path;
//! let dir = Path::new("runs/sweep");
//! let plan = prepare(Path::new("sweep.toml"), dir)?;
//! let worker = Worker { program: "denovo".into(), args: vec!["sweep".into()] };
//! let report = run_local(dir, 2, &worker, &mut |_| {})?;
//! assert!(report.failed.is_empty());
//! println!("{}", collect(dir, None)?.table());
//! # Ok::<(), denovo_sweep::SweepError>(())
//! ```

mod collect;
mod demo;
mod error;
mod local;
mod plan;
pub mod slurm;
mod task;

pub use collect::{Collected, Comparison, Row, collect, collected_reference, results};
pub use demo::{DemoSweep, demo_sweep_toml, run_demo_sweep};
pub use error::SweepError;
pub use local::{
    LocalEvent, LocalReport, TaskState, TaskStatus, Worker, failed, run_local, status,
};
pub use plan::{DEFAULT_REFERENCE, PLAN_SCHEMA, Plan, SweepSpec, Task, TaskKey, prepare};
pub use slurm::SlurmOptions;
pub use task::{
    KERNEL_THREADS_ENV, TaskOutcome, TaskResult, is_done, log_path, run_task, task_dir, task_runs,
};

use std::path::Path;

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so a reader
/// never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(SweepError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(SweepError::io(path))
}

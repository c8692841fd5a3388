//! `--collect`: the per-animal held-out LL of every task in one table, and the paper's
//! comparison of every model with the reference across animals
//! ([`denovo_study::compare::CrossValidated`]).

use crate::task::{TaskResult, is_done, task_dir};
use crate::{Plan, SweepError};
use denovo_study::compare::{CrossValidated, HeldOutRow};
use std::path::Path;

/// What `--collect` produced: every held-out animal of every task (`rows`, in task
/// order), the per-animal means over seeds and replicates, and every other model against
/// the reference (`results.json`).
pub type Collected = CrossValidated;
/// One row of `results.csv`: one held-out animal of one task.
pub type Row = HeldOutRow;
/// One model against the reference across animals (a row of `comparison.csv`).
pub type Comparison = denovo_study::compare::ModelVsReference;

/// Reads the results of the sweep in `dir` (every task must be done) without writing
/// anything; `reference` overrides the sweep's reference model.
///
/// Errors: [`SweepError::Incomplete`], [`SweepError::UnknownReference`],
/// [`SweepError::Io`], [`SweepError::Format`].
pub fn results(dir: &Path, reference: Option<&str>) -> Result<Collected, SweepError> {
    let plan = Plan::read(dir)?;
    let reference = reference.unwrap_or(&plan.reference).to_string();
    if !plan.models.contains(&reference) {
        return Err(SweepError::UnknownReference {
            reference,
            models: plan.models.clone(),
        });
    }
    let done = plan.tasks.iter().filter(|t| is_done(dir, t)).count();
    if done < plan.tasks.len() {
        return Err(SweepError::Incomplete {
            done,
            tasks: plan.tasks.len(),
        });
    }
    let mut rows = Vec::new();
    for task in &plan.tasks {
        let path = task_dir(dir, task).join("heldout.json");
        let text = std::fs::read_to_string(&path).map_err(SweepError::io(&path))?;
        let r: TaskResult =
            serde_json::from_str(&text).map_err(|e| SweepError::format(&path, e))?;
        rows.extend(r.heldout.per_animal.iter().map(|a| Row {
            model: r.key.model.clone(),
            fold: r.key.fold,
            seed: r.key.seed,
            replicate: r.key.replicate,
            subject: a.subject.clone(),
            trials: a.trials,
            ll_per_trial: a.ll_per_trial,
        }));
    }
    Ok(CrossValidated::new(plan.models.clone(), reference, rows))
}

/// Collects the sweep in `dir` ([`results`]) and writes `DIR/results.csv`,
/// `DIR/results.json` (all of [`Collected`]) and `DIR/comparison.csv` (the reference's row
/// first, with its mean LL and no difference), floats in Rust's shortest round-trip form
/// so that equal runs give equal files.
///
/// Errors: those of [`results`]; [`SweepError::Io`] and [`SweepError::Format`] writing.
pub fn collect(dir: &Path, reference: Option<&str>) -> Result<Collected, SweepError> {
    let collected = results(dir, reference)?;
    crate::write_atomic(&dir.join("results.csv"), collected.rows_csv().as_bytes())?;
    let path = dir.join("results.json");
    let json =
        serde_json::to_string_pretty(&collected).map_err(|e| SweepError::format(&path, e))?;
    crate::write_atomic(&path, json.as_bytes())?;
    crate::write_atomic(
        &dir.join("comparison.csv"),
        collected.comparison_csv().as_bytes(),
    )?;
    Ok(collected)
}

/// The reference of the sweep's last `--collect` (`DIR/results.json`'s `reference`), so that
/// a report compares against the same model as `comparison.csv`; `None` before any
/// collection.
///
/// Errors: [`SweepError::Io`], [`SweepError::Format`] (an unreadable `results.json`).
pub fn collected_reference(dir: &Path) -> Result<Option<String>, SweepError> {
    #[derive(serde::Deserialize)]
    struct Reference {
        reference: String,
    }
    let path = dir.join("results.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(SweepError::io(&path))?;
    let r: Reference = serde_json::from_str(&text).map_err(|e| SweepError::format(&path, e))?;
    Ok(Some(r.reference))
}

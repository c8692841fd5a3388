//! [`evaluate_run`]: a run directory's rule scored on data — what `denovo evaluate` prints.

use crate::{Run, SplitScore, StudyError};
use denovo_data::LoadOptions;
use serde::Serialize;
use std::path::Path;

/// A fitted run's rule scored on behaviour: `denovo evaluate --json` (schema
/// `denovo.evaluate/1`; the fields in alphabetical order, the order of the JSON keys).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEvaluation {
    /// The data scored.
    pub data: String,
    /// The run's model.
    pub model: String,
    /// The run directory.
    pub run: String,
    /// `denovo.evaluate/1`.
    pub schema: String,
    /// LL per trial (nats/trial) and accuracy, overall and per animal.
    pub score: SplitScore,
}

/// Loads the data at `path` (with `options`: format, ALF revision and collection) and scores `run`'s rule on every trial of every
/// animal, each starting from the run's mean fitted w0 (else 0), with the run's regressors
/// (see [`evaluate`](crate::evaluate)).
///
/// Errors: [`StudyError::Data`], [`StudyError::Regressors`].
pub fn evaluate_run(
    run: &Run,
    path: &Path,
    options: &LoadOptions,
) -> Result<RunEvaluation, StudyError> {
    let data = denovo_data::load_with(path, options)?;
    Ok(RunEvaluation {
        data: path.display().to_string(),
        model: run.model().to_string(),
        run: run.dir.display().to_string(),
        schema: "denovo.evaluate/1".into(),
        score: crate::evaluate_fitted(run, &data)?,
    })
}

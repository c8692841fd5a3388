//! Scoring a fitted rule on (new) behaviour.

use crate::fit::ReadBackend;
use crate::score::SplitScore;
use crate::{Model, StudyError};
use denovo_data::{Dataset, DesignMatrix, DesignOptions, SubjectDesign};
use denovo_glm::float_tensor;
use denovo_train::{SequenceBatch, SubjectWindow};

/// Scores `model` on the `windows` of every animal of `design` (one window per animal),
/// every animal starting from `w0` (`[features]`).
pub(crate) fn score_windows(
    model: &Model<ReadBackend>,
    design: &DesignMatrix,
    windows: &[SubjectWindow],
    w0: &[f64],
) -> SplitScore {
    let subjects: Vec<&SubjectDesign> = design.subjects.iter().collect();
    let (n, k) = (subjects.len(), w0.len());
    let device = Default::default();
    let w0 = float_tensor::<ReadBackend, 2>(w0.repeat(n), [n, k], &device);
    let batch = SequenceBatch::<ReadBackend>::new(&subjects, windows, &device);
    let eval = crate::with_model!(model, r => denovo_train::evaluate(r, &batch, w0.clone()));
    let animals: Vec<(&str, Vec<String>)> = (subjects.iter().zip(windows))
        .map(|(s, w)| (s.subject.as_str(), s.session_keys_in(w.score.clone())))
        .collect();
    SplitScore::from_evaluation(&eval, &animals)
}

/// Scores `model` on every trial of every animal of `data`, with the regressors
/// `regressors` (the fit's, in order), every animal starting from `w0` (`[features]`, e.g.
/// [`FitSummary::mean_w0`](crate::FitSummary::mean_w0)): LL per trial (nats) and accuracy,
/// overall and per animal.
///
/// Errors: [`StudyError::Regressors`] when `data` lacks an input a regressor needs.
pub fn evaluate(
    model: &Model<ReadBackend>,
    regressors: &[String],
    w0: &[f64],
    data: &Dataset,
) -> Result<SplitScore, StudyError> {
    let design = design_of(data, regressors)?;
    if let Model::Walk(rule) = model {
        return crate::walk::evaluate_walk(rule, &design);
    }
    let windows: Vec<SubjectWindow> = design
        .subjects
        .iter()
        .map(|s| SubjectWindow::all(s.n_trials()))
        .collect();
    Ok(score_windows(model, &design, &windows, w0))
}

/// The design matrix of `data` with a fitted rule's `regressors` (in order).
///
/// Errors: [`StudyError::Regressors`] when `data` lacks an input a regressor needs.
pub(crate) fn design_of(
    data: &Dataset,
    regressors: &[String],
) -> Result<denovo_data::DesignMatrix, StudyError> {
    let names: Vec<&str> = regressors.iter().map(String::as_str).collect();
    DesignOptions::from_names(&names)
        .and_then(|options| data.design(&options))
        .map_err(|e| StudyError::Regressors {
            regressors: regressors.to_vec(),
            source: Box::new(e),
        })
}

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
/// A `dnn-noise` or `rnn-noise` run's rule is its network (scored here without noise);
/// score such runs with [`evaluate_fitted`], which uses their σ.
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

/// Scores the fitted rule of the run `run` on every trial of every animal of `data`, as
/// [`evaluate`] does, except for the neural rules with noise (`dnn-noise`, `rnn-noise`),
/// whose σ lives in the run's summary: those are predicted one step ahead by the filter
/// from the prior (new animals), as the walks are.
///
/// Errors: [`StudyError::Regressors`]; [`StudyError::Walk`] from the filter.
pub fn evaluate_fitted(run: &crate::Run, data: &Dataset) -> Result<SplitScore, StudyError> {
    let noisy_net = run
        .model()
        .parse::<crate::ModelKind>()
        .is_ok_and(|k| k.network().is_some());
    if noisy_net {
        let design = design_of(data, run.regressors())?;
        return crate::noisy_net::evaluate_noisy_net(&run.rule, &run.summary.parameters, &design);
    }
    evaluate(&run.rule, run.regressors(), &run.mean_w0(), data)
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

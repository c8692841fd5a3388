//! `--model psytrack`: PsyTrack's random walk (Roy et al. 2021; [`denovo_walk`]) in the
//! study pipeline — σ fitted by the Laplace evidence summed over the training animals
//! (one σ per weight shared by the animals; for one animal exactly psytrack's `hyperOpt`),
//! MAP weights and posterior SDs on the training trials, and predictions of later trials
//! one step ahead ([`Scoring::OneStep`], the default) or with the last fitted weights
//! ([`Scoring::LastWeights`]).
//!
//! Scores: training trials are scored one step ahead from the prior (each trial predicted
//! from the trials before it, with the fitted σ); held-out sessions from the posterior at
//! the last training trial (mean and covariance) — one step ahead, or its mean carried
//! forward; held-out animals (folds) one step ahead from the prior with the fold's σ.

use crate::fit::{AnimalWeights, FitResult, FitSummary, ReadBackend, SUMMARY_SCHEMA, SessionLabel};
use crate::score::{AnimalSplitScore, SplitScore};
use crate::{FitSpec, Model, ModelSpec, Progress, StudyError};
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use denovo_data::{Dataset, DesignMatrix, SubjectDesign};
use denovo_rules::{LearningRule, TrialBatch};
use denovo_walk::{Free, Gaussian, Hyper, OptimiseOptions, Series, Start};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How a random-walk model predicts the trials after its training data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    /// Each trial predicted from the trials before it by the Gaussian (moment-matching) filter
    /// ([`denovo_walk::filter`]), started from the training posterior.
    #[default]
    OneStep,
    /// The last training trial's MAP weights carried forward (psytrack's usual practice).
    LastWeights,
}

impl std::fmt::Display for Scoring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scoring::OneStep => "one-step",
            Scoring::LastWeights => "last-weights",
        })
    }
}

impl std::str::FromStr for Scoring {
    type Err = String;
    /// `one-step` or `last-weights`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "one-step" => Ok(Scoring::OneStep),
            "last-weights" => Ok(Scoring::LastWeights),
            other => Err(format!("`{other}`: expected one-step or last-weights")),
        }
    }
}

/// A fitted random walk as `summary.json`'s `parameters` record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkParameters {
    /// σ_k per weight (weight units per trial), `[features]`.
    pub sigma: Vec<f64>,
    /// σ_init, the prior SD of the first trial's weights.
    pub sigma_init: f64,
    /// σ_day,k per weight when fitted, `[features]`.
    pub sigma_day: Option<Vec<f64>>,
    /// How later trials are predicted.
    pub scoring: Scoring,
    /// The Laplace log evidence summed over the fitted animals (nats; null before a fit).
    pub log_evidence: Option<f64>,
}

impl WalkParameters {
    /// psytrack's start: every σ (and σ_day) = 2⁻⁴, σ_init and scoring from `spec`.
    pub fn start(k: usize, spec: &ModelSpec) -> Self {
        let s = vec![denovo_walk::SIGMA_START; k];
        WalkParameters {
            sigma: s.clone(),
            sigma_init: spec.sigma_init,
            sigma_day: spec.sigma_day.then_some(s),
            scoring: spec.scoring,
            log_evidence: None,
        }
    }

    /// The walk's hyperparameters.
    pub fn hyper(&self) -> Hyper {
        Hyper {
            sigma: self.sigma.clone(),
            sigma_init: self.sigma_init,
            sigma_day: self.sigma_day.clone(),
        }
    }
}

/// The random walk as a [`LearningRule`]: its expected step is zero, so the rule carries
/// the weights forward (Δw = 0). Read-outs of it show no learning and twins keep their
/// initial weights; its predictions in [`fit`](crate::fit) and
/// [`evaluate`](crate::evaluate) come from the filter, not from this rule.
#[derive(Module, Debug)]
pub struct WalkRule<B: Backend> {
    /// ln σ per weight (kept as a tensor so the rule is a burn module).
    pub log_sigma: Param<Tensor<B, 1>>,
    /// The fitted hyperparameters.
    #[module(skip)]
    pub fitted: WalkParameters,
}

impl<B: Backend> WalkRule<B> {
    /// The rule of fitted `parameters`.
    pub fn new(parameters: WalkParameters, device: &B::Device) -> Self {
        let ln: Vec<f64> = parameters.sigma.iter().map(|s| s.ln()).collect();
        let n = ln.len();
        WalkRule {
            log_sigma: Param::from_tensor(denovo_glm::float_tensor(ln, [n], device)),
            fitted: parameters,
        }
    }
}

impl<B: Backend> LearningRule<B> for WalkRule<B> {
    type State = Tensor<B, 2>;
    fn name(&self) -> &'static str {
        "psytrack"
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        w0
    }
    fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
        state.clone()
    }
    fn step(&self, w: Tensor<B, 2>, _: &TrialBatch<B>) -> Tensor<B, 2> {
        w
    }
    fn perturb_weights(&self, state: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
        state + delta
    }
}

impl<B: Backend> crate::Describe for WalkRule<B> {
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.fitted).unwrap_or_default()
    }
}

/// Scores of predictions: `(subject, p(right) per trial, choices)` per animal.
/// One animal's scored trials: (subject, keys of its scored sessions, p(right) per trial,
/// choices).
type ScoredAnimal<'a> = (&'a str, Vec<String>, Vec<f64>, &'a [f64]);

fn score(parts: &[ScoredAnimal<'_>]) -> SplitScore {
    let per_animal: Vec<AnimalSplitScore> = parts
        .iter()
        .map(|(name, sessions, p, y)| {
            let n = y.len();
            let ll: f64 = p
                .iter()
                .zip(y.iter())
                .map(|(&p, &y)| if y > 0.5 { p.ln() } else { (1.0 - p).ln() })
                .sum();
            let right = p
                .iter()
                .zip(y.iter())
                .filter(|&(&p, &y)| (p > 0.5) == (y > 0.5))
                .count();
            AnimalSplitScore {
                subject: name.to_string(),
                ll_per_trial: ll / n.max(1) as f64,
                accuracy: right as f64 / n.max(1) as f64,
                trials: n,
                sessions: sessions.clone(),
            }
        })
        .collect();
    SplitScore::merge(
        per_animal
            .into_iter()
            .map(|a| SplitScore {
                ll_per_trial: a.ll_per_trial,
                accuracy: a.accuracy,
                trials: a.trials,
                per_animal: vec![a],
            })
            .collect(),
    )
}

/// p(right) of trials `x` (`[trials, K]`) under constant weights `w`.
fn constant_p(x: &[f64], w: &[f64]) -> Vec<f64> {
    x.chunks(w.len())
        .map(|row| {
            let z: f64 = row.iter().zip(w).map(|(a, b)| a * b).sum();
            (1.0 / (1.0 + (-z).exp())).clamp(1e-15, 1.0 - 1e-15)
        })
        .collect()
}

/// One-step-ahead predictions of every trial of `d` in `range` from the prior.
fn from_prior(
    d: &SubjectDesign,
    range: std::ops::Range<usize>,
    hyper: &Hyper,
) -> Result<denovo_walk::Prediction, StudyError> {
    Ok(denovo_walk::filter(
        &denovo_walk::series(d, range),
        hyper,
        &Start::Prior,
    )?)
}

/// σ by the evidence over the training trials `0..train_end[i]` of the animals `idx`.
fn optimise(
    spec: &FitSpec,
    subjects: &[&SubjectDesign],
    train_end: &[usize],
    idx: &[usize],
) -> Result<denovo_walk::WalkFit, StudyError> {
    let k = subjects.first().map_or(0, |s| s.n_features);
    let series: Vec<Series<'_>> = idx
        .iter()
        .map(|&i| denovo_walk::series(subjects[i], 0..train_end[i]))
        .collect();
    let start = WalkParameters::start(k, &spec.model).hyper();
    let options = OptimiseOptions {
        free: Free {
            day: spec.model.sigma_day,
        },
        ..Default::default()
    };
    Ok(denovo_walk::optimise(&series, &start, options)?)
}

/// The random-walk fit of `spec` on loaded data: what [`fit_with`](crate::fit_with) runs
/// for `--model psytrack`.
pub(crate) fn fit_walk(
    spec: &FitSpec,
    data: &Dataset,
    design: &DesignMatrix,
    progress: &mut dyn Progress,
) -> Result<FitResult<Model<ReadBackend>>, StudyError> {
    let started = Instant::now();
    let k = design.names.len();
    for warning in spec.warnings() {
        progress.warning(&warning);
    }
    if spec.fit_w0 || spec.w0.is_some() {
        progress.warning("--fit-w0 and --w0 are not used by psytrack (w_0 ~ N(0, σ_init² I))");
    }
    let subjects: Vec<&SubjectDesign> = design.subjects.iter().collect();
    let names: Vec<&str> = subjects.iter().map(|s| s.subject.as_str()).collect();
    let train_end: Vec<usize> = subjects
        .iter()
        .map(|s| s.first_holdout_trial(spec.split.holdout_sessions))
        .collect();

    // Held-out animals: σ from the fold's training animals, the others predicted from the
    // prior.
    let mut fold_parameters = Vec::new();
    let heldout_animals = if spec.split.folds >= 2 {
        let folds = denovo_data::kfold_by_subject(subjects.len(), spec.split.folds, spec.seed)?;
        let mut parts = Vec::new();
        for (f, fold) in folds.iter().enumerate() {
            let label = format!("fold {}/{}", f + 1, folds.len());
            progress.start(&label, 1);
            let fit = optimise(spec, &subjects, &train_end, &fold.train)?;
            progress.finish(&label);
            let mut scored = Vec::new();
            for &i in &fold.test {
                let p = from_prior(subjects[i], 0..train_end[i], &fit.hyper)?.p_right;
                scored.push((
                    names[i],
                    subjects[i].session_keys_in(0..train_end[i]),
                    p,
                    &subjects[i].choice[..train_end[i]],
                ));
            }
            parts.push(score(&scored));
            let mut params = WalkParameters::start(k, &spec.model);
            params.sigma = fit.hyper.sigma.clone();
            params.sigma_day = fit.hyper.sigma_day.clone();
            params.log_evidence = Some(fit.log_evidence);
            fold_parameters.push(serde_json::to_value(&params).unwrap_or_default());
        }
        Some(SplitScore::merge(parts))
    } else {
        None
    };

    // The final fit on every animal's training trials.
    let all: Vec<usize> = (0..subjects.len()).collect();
    progress.start("fit", 1);
    let fit = optimise(spec, &subjects, &train_end, &all)?;
    progress.finish("fit");
    let hyper = fit.hyper.clone();
    let scoring = spec.model.scoring;
    let mut train_parts = Vec::new();
    let mut held_parts = Vec::new();
    let mut weights = Vec::new();
    for (i, (d, map)) in subjects.iter().zip(&fit.maps).enumerate() {
        let (end, n) = (train_end[i], d.n_trials());
        train_parts.push((
            names[i],
            d.session_keys_in(0..end),
            from_prior(d, 0..end, &hyper)?.p_right,
            &d.choice[..end],
        ));
        let (cov, _) = map.covariance_blocks();
        let sd_train = map.posterior_sd();
        let last = Gaussian {
            mean: map.w[(end - 1) * k..end * k].to_vec(),
            cov: cov[(end - 1) * k * k..end * k * k].to_vec(),
        };
        let mut w: Vec<Vec<f64>> = map.w.chunks(k).map(<[f64]>::to_vec).collect();
        let mut sd: Vec<Vec<f64>> = sd_train.chunks(k).map(<[f64]>::to_vec).collect();
        if end < n {
            let test = denovo_walk::series(d, end..n);
            let pred = denovo_walk::filter(&test, &hyper, &Start::After(last.clone()))?;
            let p = match scoring {
                Scoring::OneStep => {
                    w.extend(pred.mean.chunks(k).map(<[f64]>::to_vec));
                    pred.p_right
                }
                Scoring::LastWeights => {
                    w.extend((end..n).map(|_| last.mean.clone()));
                    constant_p(test.x, &last.mean)
                }
            };
            // The SDs of the walk's prediction (growing from the last training trial).
            sd.extend(pred.sd.chunks(k).map(<[f64]>::to_vec));
            held_parts.push((names[i], d.session_keys_in(end..n), p, &d.choice[end..n]));
        }
        weights.push(AnimalWeights {
            subject: d.subject.clone(),
            sessions: data.subjects[i]
                .sessions
                .iter()
                .map(SessionLabel::of)
                .collect(),
            train_end: end,
            w,
            sd: Some(sd),
        });
    }
    let train = score(&train_parts);
    let heldout_sessions =
        (spec.split.holdout_sessions > 0.0 && !held_parts.is_empty()).then(|| score(&held_parts));
    let n: Vec<usize> = subjects.iter().map(|s| s.n_trials()).collect();
    let single = crate::score::single_session_warning(&names, &train_end, &n);
    if let Some(w) = single.filter(|_| spec.split.holdout_sessions > 0.0) {
        progress.warning(&w);
    }
    let parameters = WalkParameters {
        sigma: hyper.sigma.clone(),
        sigma_init: hyper.sigma_init,
        sigma_day: hyper.sigma_day.clone(),
        scoring,
        log_evidence: Some(fit.log_evidence),
    };
    let train_trials = train.trials.max(1) as f64;
    let summary = FitSummary {
        schema: SUMMARY_SCHEMA.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: "psytrack".into(),
        parameters: serde_json::to_value(&parameters).unwrap_or_default(),
        architecture: None,
        data: spec.data.display().to_string(),
        format: data.format,
        revision: spec.revision.clone(),
        collection: spec.collection.clone(),
        regressors: design.names.clone(),
        subjects: names.iter().map(|s| s.to_string()).collect(),
        initial_weights: "prior".into(),
        w0: None,
        backend: spec.backend,
        precision: "f64".into(),
        fit: spec.config(),
        epochs: fit.iterations,
        seconds: started.elapsed().as_secs_f64(),
        final_loss: -fit.log_evidence / train_trials,
        loss_history: Vec::new(),
        holdout_sessions: spec.split.holdout_sessions,
        train,
        heldout_sessions,
        folds: spec.split.folds,
        seed: spec.seed,
        heldout_animals,
        fold_parameters,
        early_stopping: None,
    };
    Ok(FitResult {
        spec: spec.clone(),
        summary,
        rule: Model::Walk(WalkRule::new(parameters, &Default::default())),
        weights,
        record: Vec::new(),
    })
}

/// Scores a fitted walk on every trial of `design`'s animals, each predicted one step
/// ahead from the prior (new animals): what [`evaluate`](crate::evaluate) does for
/// psytrack runs.
pub(crate) fn evaluate_walk(
    rule: &WalkRule<ReadBackend>,
    design: &DesignMatrix,
) -> Result<SplitScore, StudyError> {
    let hyper = rule.fitted.hyper();
    let mut parts = Vec::new();
    for d in &design.subjects {
        let p = from_prior(d, 0..d.n_trials(), &hyper)?.p_right;
        parts.push((
            d.subject.as_str(),
            d.session_keys_in(0..d.n_trials()),
            p,
            &d.choice[..],
        ));
    }
    Ok(score(&parts))
}

/// The fitted walk of a run's `parameters`.
pub(crate) fn read_walk(
    parameters: &serde_json::Value,
    k: usize,
) -> Result<WalkRule<ReadBackend>, String> {
    let p: WalkParameters =
        serde_json::from_value(parameters.clone()).map_err(|e| format!("`parameters`: {e}"))?;
    p.hyper().check(k).map_err(|e| e.to_string())?;
    Ok(WalkRule::new(p, &Default::default()))
}

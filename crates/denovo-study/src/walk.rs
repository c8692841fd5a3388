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
//!
//! `--model <rule>-noise` (`reinforce-noise`, `reinforce-baseline-noise`, `rewardmax-noise`,
//! `predictmax-noise`, `qlearning-noise`): a learning rule with noise (Ashwood et al. 2020;
//! [`denovo_walk::optimise_rule`]) — the rule's step as the drift of the same walk, the
//! rule's parameters and σ by the Laplace evidence; scored like psytrack (one step ahead by
//! the filter with the drift, or "last weights": the last training trial's MAP weights
//! moved on by the rule's own steps, without noise).

use crate::fit::{AnimalWeights, FitResult, FitSummary, ReadBackend, SUMMARY_SCHEMA, SessionLabel};
use crate::score::{AnimalSplitScore, SplitScore};
use crate::{FitSpec, Model, ModelSpec, Progress, StudyError};
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use denovo_data::{Dataset, DesignMatrix, SubjectDesign};
use denovo_rules::{LearningRule, TrialBatch};
use denovo_rules::{ParametricRule, RuleSpec, with_parametric};
use denovo_walk::{Free, Gaussian, Hyper, MapFit, OptimiseOptions, RuleDrift, Series, Start};
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
    /// The learning rule of a rule with noise (`<rule>-noise`): its kind and fitted α (β,
    /// τ); absent for psytrack. For Q-learning σ is in units of θ_R, θ_L per trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleSpec>,
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
            rule: match spec.model {
                crate::ModelKind::Noisy(kind) => Some(RuleSpec::initial(kind, k, spec.init_alpha)),
                _ => None,
            },
        }
    }

    /// Which model: psytrack, or the rule with noise.
    pub fn kind(&self) -> crate::ModelKind {
        self.rule.as_ref().map_or(crate::ModelKind::Psytrack, |r| {
            crate::ModelKind::Noisy(r.kind)
        })
    }

    /// The rule as the walk's drift (`None` for psytrack). Errors: [`StudyError::Walk`].
    pub fn drift(&self) -> Result<Option<RuleDrift>, StudyError> {
        Ok(self.rule.as_ref().map(RuleDrift::new).transpose()?)
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

/// The random walk as a [`LearningRule`]: its expected step — zero for psytrack (the rule
/// carries the weights forward; read-outs show no learning, twins keep their initial
/// weights), the rule's own step for a rule with noise. Its predictions in
/// [`fit`](crate::fit) and [`evaluate`](crate::evaluate) come from the filter, not from
/// this rule.
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

impl<B: Backend> WalkRule<B> {
    fn parametric(&self, device: &B::Device) -> Option<ParametricRule<B>> {
        self.fitted
            .rule
            .as_ref()
            .map(|spec| ParametricRule::from_spec(spec, device))
    }
}

impl<B: Backend> LearningRule<B> for WalkRule<B> {
    type State = Tensor<B, 2>;
    fn name(&self) -> &'static str {
        self.fitted.kind().name()
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        match self.parametric(&w0.device()) {
            Some(rule) => with_parametric!(&rule, r => r.initial_state(w0)),
            None => w0,
        }
    }
    fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
        match self.parametric(&state.device()) {
            Some(rule) => with_parametric!(&rule, r => r.policy_weights(state)),
            None => state.clone(),
        }
    }
    fn step(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        match self.parametric(&w.device()) {
            Some(rule) => with_parametric!(&rule, r => r.step(w, trial)),
            None => w,
        }
    }
    fn perturb_weights(&self, state: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
        match self.parametric(&state.device()) {
            Some(rule) => with_parametric!(&rule, r => r.perturb_weights(state, delta)),
            None => state + delta,
        }
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
pub(crate) type ScoredAnimal<'a> = (&'a str, Vec<String>, Vec<f64>, &'a [f64]);

/// An animal's held-out trials `end..` as a walk-type fit predicted them: p(right)
/// `[trials]`, the weights behind each prediction and their SDs (`[trials, K]`
/// row-major).
pub(crate) struct HeldOut {
    /// p(right) per trial.
    pub p: Vec<f64>,
    /// The weights used, `[trials, K]`.
    pub w: Vec<f64>,
    /// Their SDs, `[trials, K]`.
    pub sd: Vec<f64>,
}

impl HeldOut {
    /// What `scoring` scores: the filter's one-step predictions `pred`, or the mean path
    /// from the last training belief (`path()`: p `[trials]` and weights `[trials, K]`);
    /// the SDs are the filter's either way (growing from the last training trial).
    pub(crate) fn scored(
        scoring: Scoring,
        pred: denovo_walk::Prediction,
        path: impl FnOnce() -> Result<(Vec<f64>, Vec<f64>), StudyError>,
    ) -> Result<HeldOut, StudyError> {
        let (p, w) = match scoring {
            Scoring::OneStep => (pred.p_right, pred.mean),
            Scoring::LastWeights => path()?,
        };
        Ok(HeldOut { p, w, sd: pred.sd })
    }
}

/// The per-animal scores and weights that a walk-type fit (psytrack, the rules with noise,
/// the neural rules with noise) collects, animal by animal.
#[derive(Default)]
pub(crate) struct AnimalScores<'a> {
    train: Vec<ScoredAnimal<'a>>,
    held: Vec<ScoredAnimal<'a>>,
    held_sessions: Vec<(&'a [usize], &'a [String])>,
    weights: Vec<AnimalWeights>,
}

impl<'a> AnimalScores<'a> {
    /// Adds animal `d` (`name`; its `sessions`' labels), trained on trials `..end`: the
    /// training trials' p(right) from the prior, the weights and SDs on them (`fitted`,
    /// rows of K), and its held-out trials if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        name: &'a str,
        d: &'a SubjectDesign,
        sessions: Vec<SessionLabel>,
        end: usize,
        train_p: Vec<f64>,
        fitted: (Vec<Vec<f64>>, Vec<Vec<f64>>),
        held: Option<HeldOut>,
    ) {
        let (k, n) = (d.n_features, d.n_trials());
        let (mut w, mut sd) = fitted;
        self.train
            .push((name, d.session_keys_in(0..end), train_p, &d.choice[..end]));
        if let Some(h) = held {
            w.extend(h.w.chunks(k).map(<[f64]>::to_vec));
            sd.extend(h.sd.chunks(k).map(<[f64]>::to_vec));
            self.held
                .push((name, d.session_keys_in(end..n), h.p, &d.choice[end..n]));
            self.held_sessions
                .push((&d.session[end..n], &d.session_keys[..]));
        }
        self.weights.push(AnimalWeights {
            subject: d.subject.clone(),
            sessions,
            train_end: end,
            w,
            sd: Some(sd),
        });
    }

    /// The training trials' score, the held-out sessions' (when `holdout_sessions` > 0
    /// and an animal has any) and every animal's weights.
    pub(crate) fn finish(
        self,
        holdout_sessions: f64,
    ) -> (SplitScore, Option<SplitScore>, Vec<AnimalWeights>) {
        let held = (holdout_sessions > 0.0 && !self.held.is_empty())
            .then(|| score_by_session(&self.held, &self.held_sessions));
        (score(&self.train), held, self.weights)
    }
}

pub(crate) fn score(parts: &[ScoredAnimal<'_>]) -> SplitScore {
    let per_animal: Vec<AnimalSplitScore> = parts
        .iter()
        .map(|(name, sessions, p, y)| {
            let n = y.len();
            let ll: f64 = trial_ll(p, y).sum();
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
                per_session: Vec::new(),
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

/// The log-likelihood (nats) of each choice `y` (1 right, 0 left) under p(right) `p`.
fn trial_ll<'a>(p: &'a [f64], y: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
    (p.iter().zip(y)).map(|(&p, &y)| if y > 0.5 { p.ln() } else { (1.0 - p).ln() })
}

/// [`score`] with each animal's per-session scores ([`AnimalSplitScore::per_session`]):
/// `sessions[i]` holds the session index of each of `parts[i]`'s trials and the animal's
/// session keys (those of [`SubjectDesign`]).
pub(crate) fn score_by_session(
    parts: &[ScoredAnimal<'_>],
    sessions: &[(&[usize], &[String])],
) -> SplitScore {
    let mut scored = score(parts);
    for ((entry, (_, _, p, y)), (of, keys)) in
        (scored.per_animal.iter_mut().zip(parts)).zip(sessions)
    {
        let ll: Vec<f64> = trial_ll(p, y).collect();
        entry.per_session = crate::score::session_scores(&ll, of, keys);
    }
    scored
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

/// One-step-ahead predictions of every trial of `d` in `range` from the prior, by the walk
/// or (with `drift`) the rule with noise.
fn from_prior(
    d: &SubjectDesign,
    range: std::ops::Range<usize>,
    hyper: &Hyper,
    drift: Option<&RuleDrift>,
) -> Result<denovo_walk::Prediction, StudyError> {
    Ok(match drift {
        None => denovo_walk::filter(&denovo_walk::series(d, range), hyper, &Start::Prior)?,
        Some(drift) => {
            denovo_walk::filter_rule(&denovo_walk::trials(d, range), drift, hyper, &Start::Prior)?
        }
    })
}

/// A fitted walk or rule with noise.
struct Fitted {
    hyper: Hyper,
    drift: Option<RuleDrift>,
    maps: Vec<MapFit>,
    log_evidence: f64,
    iterations: usize,
    /// The evidence's gradient when BFGS ran out of iterations (see
    /// [`unconverged_warning`]).
    unconverged: Option<Vec<f64>>,
}

/// The names of the parameters the evidence is maximised over, in the optimiser's order:
/// `σ_<regressor>` per weight, `σ_day_<regressor>` when `day`, then a rule's
/// `α_<regressor>`, and `β_<regressor>` (REINFORCE with baseline) or `τ` (Q-learning).
pub(crate) fn parameter_names(
    regressors: &[String],
    day: bool,
    rule: Option<denovo_rules::RuleKind>,
) -> Vec<String> {
    let each = |prefix: &'static str| regressors.iter().map(move |r| format!("{prefix}_{r}"));
    let mut names: Vec<String> = each("σ").collect();
    if day {
        names.extend(each("σ_day"));
    }
    if let Some(kind) = rule {
        names.extend(each("α"));
        match kind {
            denovo_rules::RuleKind::ReinforceBaseline => names.extend(each("β")),
            denovo_rules::RuleKind::Qlearning => names.push("τ".into()),
            _ => {}
        }
    }
    names
}

/// The warning of a fit whose evidence maximisation ran out of iterations: `gradient` (the
/// evidence's gradient at the kept point, in the order of `names`) names every parameter
/// whose |∂L/∂θ| is still ≥ `tolerance`. `None` when there is no such parameter.
pub(crate) fn unconverged_warning(
    what: &str,
    names: &[String],
    gradient: &[f64],
    tolerance: f64,
) -> Option<String> {
    let open: Vec<String> = names
        .iter()
        .zip(gradient)
        .filter(|&(_, g)| g.abs() >= tolerance)
        .map(|(n, g)| format!("{n} ({g:.2e})"))
        .collect();
    (!open.is_empty()).then(|| {
        format!(
            "{what}: the Laplace evidence's BFGS ran out of iterations with |∂ log evidence / ∂θ| ≥ {tolerance:.0e} in {} (σ in ln σ, α in log α); the last accepted point is kept and written — check these parameters",
            open.join(", ")
        )
    })
}

/// The Laplace evidence's gradient tolerance of the rules with noise (finite differences:
/// 10⁻³ nats per unit of the parameters).
pub(crate) const RULE_GRADIENT_TOLERANCE: f64 = 1e-3;

/// σ (and a rule's parameters) by the evidence over the training trials `0..train_end[i]`
/// of the animals `idx`.
fn optimise(
    spec: &FitSpec,
    subjects: &[&SubjectDesign],
    train_end: &[usize],
    idx: &[usize],
) -> Result<Fitted, StudyError> {
    let k = subjects.first().map_or(0, |s| s.n_features);
    let params = WalkParameters::start(k, &spec.model);
    let start = params.hyper();
    let free = Free {
        day: spec.model.sigma_day,
    };
    if let Some(drift) = params.drift()? {
        let trials: Vec<denovo_walk::Trials<'_>> = idx
            .iter()
            .map(|&i| denovo_walk::trials(subjects[i], 0..train_end[i]))
            .collect();
        // The evidence's gradient is by finite differences: stop at 10⁻³ nats.
        let options = OptimiseOptions {
            free,
            gradient_tolerance: RULE_GRADIENT_TOLERANCE,
            ..Default::default()
        };
        let fit = denovo_walk::optimise_rule(&trials, &drift, &start, options)?;
        return Ok(Fitted {
            hyper: fit.hyper,
            drift: Some(fit.drift),
            maps: fit.maps,
            log_evidence: fit.log_evidence,
            iterations: fit.iterations,
            unconverged: fit.unconverged,
        });
    }
    let series: Vec<Series<'_>> = idx
        .iter()
        .map(|&i| denovo_walk::series(subjects[i], 0..train_end[i]))
        .collect();
    let options = OptimiseOptions {
        free,
        ..Default::default()
    };
    let fit = denovo_walk::optimise(&series, &start, options)?;
    Ok(Fitted {
        hyper: fit.hyper,
        drift: None,
        maps: fit.maps,
        log_evidence: fit.log_evidence,
        iterations: fit.iterations,
        unconverged: fit.unconverged,
    })
}

impl Fitted {
    /// Reports through `progress` when the evidence did not converge (`label`: which fit).
    fn warn(
        &self,
        spec: &FitSpec,
        regressors: &[String],
        label: &str,
        progress: &mut dyn Progress,
    ) {
        let Some(g) = &self.unconverged else {
            return;
        };
        let rule = self.drift.as_ref().map(|d| d.spec().kind);
        let names = parameter_names(regressors, spec.model.sigma_day, rule);
        let tolerance = if rule.is_some() {
            RULE_GRADIENT_TOLERANCE
        } else {
            OptimiseOptions::default().gradient_tolerance
        };
        let what = format!("{} ({label})", spec.model.model);
        if let Some(w) = unconverged_warning(&what, &names, g, tolerance) {
            progress.warning(&w);
        }
    }

    /// The fitted parameters as `summary.json` records them.
    fn parameters(&self, spec: &FitSpec) -> WalkParameters {
        WalkParameters {
            sigma: self.hyper.sigma.clone(),
            sigma_init: self.hyper.sigma_init,
            sigma_day: self.hyper.sigma_day.clone(),
            scoring: spec.model.scoring,
            log_evidence: Some(self.log_evidence),
            rule: self.drift.as_ref().map(RuleDrift::spec),
        }
    }
}

/// The random-walk fit of `spec` on loaded data: what [`fit_with`](crate::fit_with) runs
/// for `--model psytrack` and the rules with noise (`--model <rule>-noise`).
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
        progress.warning(&format!(
            "--fit-w0 and --w0 are not used by {} (w_0 ~ N(0, σ_init² I))",
            spec.model.model
        ));
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
            fit.warn(spec, &design.names, &label, progress);
            let mut scored = Vec::new();
            for &i in &fold.test {
                let p = from_prior(subjects[i], 0..train_end[i], &fit.hyper, fit.drift.as_ref())?
                    .p_right;
                scored.push((
                    names[i],
                    subjects[i].session_keys_in(0..train_end[i]),
                    p,
                    &subjects[i].choice[..train_end[i]],
                ));
            }
            parts.push(score(&scored));
            fold_parameters.push(serde_json::to_value(fit.parameters(spec)).unwrap_or_default());
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
    fit.warn(spec, &design.names, "fit", progress);
    let hyper = fit.hyper.clone();
    let drift = fit.drift.as_ref();
    let scoring = spec.model.scoring;
    let mut scores = AnimalScores::default();
    for (i, (d, map)) in subjects.iter().zip(&fit.maps).enumerate() {
        let (end, n) = (train_end[i], d.n_trials());
        let train_p = from_prior(d, 0..end, &hyper, drift)?.p_right;
        // The state (the weights, or Q-learning's θ_R, θ_L) and its covariance blocks.
        let dim = map.w.len() / end;
        let (cov, _) = map.covariance_blocks();
        let last = Gaussian {
            mean: map.w[(end - 1) * dim..end * dim].to_vec(),
            cov: cov[(end - 1) * dim * dim..end * dim * dim].to_vec(),
        };
        let fitted: (Vec<Vec<f64>>, Vec<Vec<f64>>) = match drift {
            None => (
                map.w.chunks(k).map(<[f64]>::to_vec).collect(),
                map.posterior_sd().chunks(k).map(<[f64]>::to_vec).collect(),
            ),
            Some(r) => (
                map.w.chunks(dim).map(|s| r.weights(s)).collect(),
                cov.chunks(dim * dim).map(|c| r.weights_sd(c)).collect(),
            ),
        };
        // The walk predicts from the belief at the last training trial; the rule's filter
        // and mean path start on that trial (they need its outcome).
        let held = if end < n {
            Some(match drift {
                None => {
                    let test = denovo_walk::series(d, end..n);
                    let pred = denovo_walk::filter(&test, &hyper, &Start::After(last.clone()))?;
                    HeldOut::scored(scoring, pred, || {
                        let path = (end..n).flat_map(|_| last.mean.clone()).collect();
                        Ok((constant_p(test.x, &last.mean), path))
                    })?
                }
                Some(r) => {
                    let test = denovo_walk::trials(d, end - 1..n);
                    let pred =
                        denovo_walk::filter_rule(&test, r, &hyper, &Start::After(last.clone()))?;
                    HeldOut::scored(scoring, pred, || {
                        Ok(denovo_walk::mean_path(&test, r, &last.mean)?)
                    })?
                }
            })
        } else {
            None
        };
        let sessions = data.subjects[i].sessions.iter().map(SessionLabel::of);
        scores.push(names[i], d, sessions.collect(), end, train_p, fitted, held);
    }
    let (train, heldout_sessions, weights) = scores.finish(spec.split.holdout_sessions);
    let n: Vec<usize> = subjects.iter().map(|s| s.n_trials()).collect();
    let single = crate::score::single_session_warning(&names, &train_end, &n);
    if let Some(w) = single.filter(|_| spec.split.holdout_sessions > 0.0) {
        progress.warning(&w);
    }
    let parameters = fit.parameters(spec);
    let train_trials = train.trials.max(1) as f64;
    let summary = FitSummary {
        schema: SUMMARY_SCHEMA.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: spec.model.model.name().into(),
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
/// psytrack runs and rules with noise.
pub(crate) fn evaluate_walk(
    rule: &WalkRule<ReadBackend>,
    design: &DesignMatrix,
) -> Result<SplitScore, StudyError> {
    let hyper = rule.fitted.hyper();
    let drift = rule.fitted.drift()?;
    let mut parts = Vec::new();
    for d in &design.subjects {
        let p = from_prior(d, 0..d.n_trials(), &hyper, drift.as_ref())?.p_right;
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
    if let Some(rule) = &p.rule {
        let rule = rule.clone().validated(k).map_err(|e| e.to_string())?;
        RuleDrift::new(&rule).map_err(|e| e.to_string())?;
    }
    Ok(WalkRule::new(p, &Default::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The warning of a fit that ran out of iterations names the parameters whose gradient
    /// is still above the tolerance, in the optimiser's order (issue 16, finding (e)).
    #[test]
    fn unconverged_fits_name_their_parameters() {
        let regressors = vec!["stim".to_string(), "bias".to_string()];
        let names = parameter_names(
            &regressors,
            false,
            Some(denovo_rules::RuleKind::ReinforceBaseline),
        );
        assert_eq!(
            names,
            ["σ_stim", "σ_bias", "α_stim", "α_bias", "β_stim", "β_bias"]
        );
        let g = [1e-5, 0.02, -0.5, 1e-4, 0.0, 3e-3];
        let w = unconverged_warning("reinforce-baseline-noise (fit)", &names, &g, 1e-3).unwrap();
        assert!(
            w.contains("σ_bias (2.00e-2), α_stim (-5.00e-1), β_bias (3.00e-3)"),
            "{w}"
        );
        assert!(!w.contains("σ_stim") && !w.contains("α_bias"));
        assert!(unconverged_warning("x", &names, &[0.0; 6], 1e-3).is_none());
        assert_eq!(
            parameter_names(&regressors, true, Some(denovo_rules::RuleKind::Qlearning)),
            [
                "σ_stim",
                "σ_bias",
                "σ_day_stim",
                "σ_day_bias",
                "α_stim",
                "α_bias",
                "τ"
            ]
        );
    }
}

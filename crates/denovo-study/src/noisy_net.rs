//! `--model dnn-noise` and `--model rnn-noise`: a neural learning rule with noise. The
//! network is fitted as for `dnn`/`rnn`; then its step is the drift of the random walk
//!
//! w_t = w_{t−1} + Δw_net(t−1) + ε_t, ε_t ~ N(0, diag σ²) (σ_day² into a session's first
//! trial, when asked), w_0 ~ N(0, σ_init² I),
//!
//! and σ is fitted by the Laplace evidence on the training trials with the network fixed
//! (issue 16: "σ fitted on the training trials with the rule's parameters fixed";
//! [`denovo_walk::optimise_drift`]). The Jacobian ∂Δw/∂w that the Gauss–Newton MAP needs
//! is exact ([`denovo_nn::HostStep`]: forward-mode tangents through the network).
//!
//! The RNN's GRU state carries the trial history, so its step is not a function of
//! (t, w_t) alone. While σ is fitted the hidden trajectory h_t is **held fixed** — first
//! the one the network produces along its own (noise-free) weight trajectory — and Δw_t
//! depends on w_t through the GRU's input at that h_t; the hidden trajectory is then
//! recomputed along the new MAP weights and σ refitted, until the hidden states move by
//! less than [`HIDDEN_TOLERANCE`] (at most [`HIDDEN_ROUNDS`] rounds). The one-step filter
//! runs the GRU along the filter's mean (each trial's hidden state from the previous
//! trial's updated mean), as the rule itself runs along its weights.
//!
//! Scores: training trials one step ahead from the prior; held-out sessions one step
//! ahead from the training posterior at the last training trial (mean and covariance; the
//! RNN's hidden state there from the MAP path), or with `--scoring last-weights` the MAP
//! weights of the last training trial moved on by the network's own steps. Held-out animals
//! (`--folds`) are refused (each fold would need its own network and σ; not built).

use crate::fit::{FitResult, ReadBackend, SessionLabel};
use crate::score::SplitScore;
use crate::walk::{AnimalScores, HeldOut, Scoring, score};
use crate::{FitSpec, Model, Progress, StudyError};
use denovo_data::{Dataset, DesignMatrix, SubjectDesign};
use denovo_nn::{HostStep, HostTrial, ScanRule};
use denovo_walk::{Free, Gaussian, Hyper, OptimiseOptions, Start, WeightDrift};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// At most this many rounds of (σ by the evidence, hidden trajectory along the MAP) for
/// the RNN.
pub const HIDDEN_ROUNDS: usize = 4;
/// The RNN's rounds stop when no hidden state moved by more than this (max abs).
pub const HIDDEN_TOLERANCE: f64 = 1e-3;

/// A neural rule with noise as `summary.json`'s `parameters` record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoisyNetParameters {
    /// The network's per-weight scale γ, `[features]`.
    pub gamma: Vec<f64>,
    /// σ_k per weight (weight units per trial), `[features]`.
    pub sigma: Vec<f64>,
    /// σ_init, the prior SD of the first trial's weights.
    pub sigma_init: f64,
    /// σ_day,k per weight when fitted, `[features]`.
    pub sigma_day: Option<Vec<f64>>,
    /// How later trials are predicted.
    pub scoring: Scoring,
    /// The Laplace log evidence summed over the fitted animals (nats).
    pub log_evidence: f64,
    /// Rounds of (σ, hidden trajectory) used (1 for the DNN).
    pub rounds: usize,
    /// The network's own scores without noise (what `dnn`/`rnn` would report): LL per
    /// trial on the training trials and on the held-out sessions (null without them).
    pub without_noise: WithoutNoise,
}

/// The scores of the network without noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithoutNoise {
    /// LL per trial on the training trials (nats).
    pub train_ll_per_trial: f64,
    /// LL per trial on the held-out sessions (nats), when there are any.
    pub heldout_sessions_ll_per_trial: Option<f64>,
}

impl NoisyNetParameters {
    /// The walk's hyperparameters.
    pub fn hyper(&self) -> Hyper {
        Hyper {
            sigma: self.sigma.clone(),
            sigma_init: self.sigma_init,
            sigma_day: self.sigma_day.clone(),
        }
    }
}

/// The network of a DNN or RNN model as a host step. Errors: [`StudyError::Setting`] for
/// any other model.
pub(crate) fn host_step(model: &Model<ReadBackend>) -> Result<(ScanRule, Vec<f64>), StudyError> {
    match model {
        Model::Dnn(r) => Ok((r.scan_rule(), denovo_glm::to_f64_vec(r.flat_parameters()))),
        Model::Rnn(r) => Ok((r.scan_rule(), denovo_glm::to_f64_vec(r.flat_parameters()))),
        other => Err(StudyError::Setting {
            setting: "model",
            expected: "a dnn or rnn network for a neural rule with noise",
            got: other.kind().to_string(),
        }),
    }
}

/// Where a [`NetDrift`] takes the RNN's hidden state from (empty vectors for the DNN).
enum Hidden {
    /// A fixed trajectory `[trials, H]`: h_t before trial t's step (MAP and evidence).
    Path(Vec<f64>),
    /// A running state advanced by every step (the filter, called once per trial in order).
    Running(Vec<f64>),
}

/// The network's step on the trials `offset..` of one animal as the walk's drift.
struct NetDrift<'a> {
    step: HostStep,
    d: &'a SubjectDesign,
    offset: usize,
    hidden: Hidden,
    h_next: Vec<f64>,
}

fn trial_of(d: &SubjectDesign, g: usize) -> HostTrial<'_> {
    let k = d.n_features;
    HostTrial {
        x: &d.x[g * k..(g + 1) * k],
        choice: d.choice[g],
        reward: d.reward[g],
        answer: d.answer[g],
        session_start: if d.session_start[g] { 1.0 } else { 0.0 },
    }
}

impl<'a> NetDrift<'a> {
    fn new(
        rule: &(ScanRule, Vec<f64>),
        d: &'a SubjectDesign,
        offset: usize,
        hidden: Hidden,
    ) -> Self {
        let step = HostStep::new(&rule.0, &rule.1);
        let h = step.hidden_size();
        NetDrift {
            step,
            d,
            offset,
            hidden,
            h_next: vec![0.0; h],
        }
    }
}

impl WeightDrift for NetDrift<'_> {
    fn k(&self) -> usize {
        self.step.n_features()
    }

    fn step(&mut self, t: usize, w: &[f64], next: &mut [f64], jac: &mut [f64]) {
        let trial = trial_of(self.d, self.offset + t);
        let hs = self.step.hidden_size();
        let NetDrift {
            step,
            hidden,
            h_next,
            ..
        } = self;
        match hidden {
            Hidden::Path(p) => step.step(w, &p[t * hs..(t + 1) * hs], &trial, next, h_next, jac),
            Hidden::Running(h) => {
                step.step(w, h, &trial, next, h_next, jac);
                h.copy_from_slice(h_next);
            }
        }
    }
}

/// The RNN's hidden states along the weights `w` (`[trials, K]`) of the trials `offset..`
/// of `d`, from `h0` (`[H]`): `[trials, H]`, h_t before trial t's step (empty for the DNN).
fn hidden_path(
    rule: &(ScanRule, Vec<f64>),
    d: &SubjectDesign,
    offset: usize,
    w: &[f64],
    h0: &[f64],
) -> Vec<f64> {
    let mut step = HostStep::new(&rule.0, &rule.1);
    let (k, hs) = (step.n_features(), step.hidden_size());
    let n = w.len() / k;
    let mut out = vec![0.0; n * hs];
    if hs == 0 || n == 0 {
        return out;
    }
    out[..hs].copy_from_slice(h0);
    let (mut next, mut hn, mut jac) = (vec![0.0; k], vec![0.0; hs], vec![0.0; k * k]);
    for t in 0..n - 1 {
        let (now, later) = out.split_at_mut((t + 1) * hs);
        step.step(
            &w[t * k..(t + 1) * k],
            &now[t * hs..],
            &trial_of(d, offset + t),
            &mut next,
            &mut hn,
            &mut jac,
        );
        later[..hs].copy_from_slice(&hn);
    }
    out
}

/// The σ fit of a neural rule with noise on the training trials `0..train_end[i]`.
struct NoiseFit {
    hyper: Hyper,
    maps: Vec<denovo_walk::MapFit>,
    /// The hidden trajectories of the final round, `[train trials, H]` per animal.
    hidden: Vec<Vec<f64>>,
    log_evidence: f64,
    rounds: usize,
    unconverged: Option<Vec<f64>>,
}

/// σ by the evidence with the network `rule` fixed, from the network's own trajectories
/// `paths` (`[train trials, K]` per animal); the RNN in rounds (module docs).
fn fit_sigma(
    spec: &FitSpec,
    rule: &(ScanRule, Vec<f64>),
    subjects: &[&SubjectDesign],
    train_end: &[usize],
    paths: Vec<Vec<f64>>,
) -> Result<NoiseFit, StudyError> {
    let k = subjects.first().map_or(0, |s| s.n_features);
    let h0 = vec![0.0; HostStep::new(&rule.0, &rule.1).hidden_size()];
    let recurrent = !h0.is_empty();
    let series: Vec<denovo_walk::Series<'_>> = subjects
        .iter()
        .zip(train_end)
        .map(|(d, &end)| denovo_walk::series(d, 0..end))
        .collect();
    let mut hyper = Hyper {
        sigma: vec![denovo_walk::SIGMA_START; k],
        sigma_init: spec.model.sigma_init,
        sigma_day: spec
            .model
            .sigma_day
            .then(|| vec![denovo_walk::SIGMA_START; k]),
    };
    let options = OptimiseOptions {
        free: Free {
            day: spec.model.sigma_day,
        },
        // The evidence's gradient is by finite differences: stop at 10⁻³ nats.
        gradient_tolerance: crate::walk::RULE_GRADIENT_TOLERANCE,
        ..Default::default()
    };
    let mut hidden: Vec<Vec<f64>> = subjects
        .iter()
        .zip(&paths)
        .map(|(d, w)| hidden_path(rule, d, 0, w, &h0))
        .collect();
    let mut warm = paths;
    let rounds = if recurrent { HIDDEN_ROUNDS } else { 1 };
    for round in 1..=rounds {
        let mut drifts: Vec<NetDrift<'_>> = subjects
            .iter()
            .zip(&hidden)
            .map(|(d, h)| NetDrift::new(rule, d, 0, Hidden::Path(h.clone())))
            .collect();
        let fit = denovo_walk::optimise_drift(
            &series,
            &mut drifts,
            &hyper,
            Some(warm.as_slice()),
            options,
        )?;
        hyper = fit.hyper;
        warm = fit.maps.iter().map(|m| m.w.clone()).collect();
        let mut moved = 0.0f64;
        if recurrent {
            let next: Vec<Vec<f64>> = subjects
                .iter()
                .zip(&warm)
                .map(|(d, w)| hidden_path(rule, d, 0, w, &h0))
                .collect();
            for (a, b) in hidden.iter().zip(&next) {
                for (x, y) in a.iter().zip(b) {
                    moved = moved.max((x - y).abs());
                }
            }
            if moved >= HIDDEN_TOLERANCE && round < rounds {
                hidden = next;
                continue;
            }
        }
        return Ok(NoiseFit {
            hyper,
            maps: fit.maps,
            hidden,
            log_evidence: fit.log_evidence,
            rounds: round,
            unconverged: fit.unconverged,
        });
    }
    unreachable!("the last round returns")
}

/// One-step-ahead p(right) of the trials `range` of `d` from the prior (a new animal; the
/// RNN's hidden state from 0).
fn from_prior(
    rule: &(ScanRule, Vec<f64>),
    d: &SubjectDesign,
    range: std::ops::Range<usize>,
    hyper: &Hyper,
) -> Result<Vec<f64>, StudyError> {
    let h0 = vec![0.0; HostStep::new(&rule.0, &rule.1).hidden_size()];
    let mut drift = NetDrift::new(rule, d, range.start, Hidden::Running(h0));
    let series = denovo_walk::series(d, range);
    Ok(denovo_walk::filter_drift(&series, &mut drift, hyper, &Start::Prior)?.p_right)
}

/// Adds the noise to a fitted `dnn`/`rnn` `result` (module docs): what
/// [`fit_with`](crate::fit_with) runs for `--model dnn-noise` and `rnn-noise` after the
/// network's own fit.
pub(crate) fn add_noise(
    spec: &FitSpec,
    data: &Dataset,
    design: &DesignMatrix,
    mut result: FitResult<Model<ReadBackend>>,
    progress: &mut dyn Progress,
) -> Result<FitResult<Model<ReadBackend>>, StudyError> {
    let started = Instant::now();
    let rule = host_step(&result.rule)?;
    let k = design.names.len();
    let subjects: Vec<&SubjectDesign> = design.subjects.iter().collect();
    let names: Vec<&str> = subjects.iter().map(|s| s.subject.as_str()).collect();
    let train_end: Vec<usize> = subjects
        .iter()
        .map(|s| s.first_holdout_trial(spec.split.holdout_sessions))
        .collect();
    // The network's own trajectories on the training trials start the MAP.
    let paths: Vec<Vec<f64>> = result
        .weights
        .iter()
        .zip(&train_end)
        .map(|(a, &end)| a.w[..end].concat())
        .collect();
    progress.start("σ by the evidence", 1);
    let fit = fit_sigma(spec, &rule, &subjects, &train_end, paths)?;
    progress.finish("σ by the evidence");
    if let Some(g) = &fit.unconverged {
        let names = crate::walk::parameter_names(&design.names, spec.model.sigma_day, None);
        let what = spec.model.model.to_string();
        let tolerance = crate::walk::RULE_GRADIENT_TOLERANCE;
        if let Some(w) = crate::walk::unconverged_warning(&what, &names, g, tolerance) {
            progress.warning(&w);
        }
    }
    let hyper = &fit.hyper;
    let mut scores = AnimalScores::default();
    for (i, (d, map)) in subjects.iter().zip(&fit.maps).enumerate() {
        let (end, n) = (train_end[i], d.n_trials());
        let train_p = from_prior(&rule, d, 0..end, hyper)?;
        let (cov, _) = map.covariance_blocks();
        let fitted = (
            map.w.chunks(k).map(<[f64]>::to_vec).collect(),
            map.posterior_sd().chunks(k).map(<[f64]>::to_vec).collect(),
        );
        let held = if end < n {
            let last = Gaussian {
                mean: map.w[(end - 1) * k..end * k].to_vec(),
                cov: cov[(end - 1) * k * k..end * k * k].to_vec(),
            };
            let hs = fit.hidden[i].len() / end;
            let h_last = fit.hidden[i][(end - 1) * hs..end * hs].to_vec();
            let series = denovo_walk::series(d, end - 1..n);
            let mut drift = NetDrift::new(&rule, d, end - 1, Hidden::Running(h_last.clone()));
            let pred =
                denovo_walk::filter_drift(&series, &mut drift, hyper, &Start::After(last.clone()))?;
            Some(HeldOut::scored(spec.model.scoring, pred, || {
                // The network's own steps from the last training trial's MAP weights.
                let mut drift = NetDrift::new(&rule, d, end - 1, Hidden::Running(h_last));
                let (mut m, mut next, mut jac) = (last.mean, vec![0.0; k], vec![0.0; k * k]);
                let (mut p, mut w) = (Vec::with_capacity(n - end), Vec::new());
                for t in 1..n - end + 1 {
                    drift.step(t - 1, &m, &mut next, &mut jac);
                    m.copy_from_slice(&next);
                    let g = end - 1 + t;
                    let z: f64 = m
                        .iter()
                        .zip(&d.x[g * k..(g + 1) * k])
                        .map(|(a, b)| a * b)
                        .sum();
                    p.push((1.0 / (1.0 + (-z).exp())).clamp(1e-15, 1.0 - 1e-15));
                    w.extend_from_slice(&m);
                }
                Ok((p, w))
            })?)
        } else {
            None
        };
        let sessions = data.subjects[i].sessions.iter().map(SessionLabel::of);
        scores.push(names[i], d, sessions.collect(), end, train_p, fitted, held);
    }
    let (train, heldout_sessions, weights) = scores.finish(spec.split.holdout_sessions);
    let summary = &mut result.summary;
    let gamma = summary.parameters["gamma"]
        .as_array()
        .map(|g| g.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    let parameters = NoisyNetParameters {
        gamma,
        sigma: fit.hyper.sigma.clone(),
        sigma_init: fit.hyper.sigma_init,
        sigma_day: fit.hyper.sigma_day.clone(),
        scoring: spec.model.scoring,
        log_evidence: fit.log_evidence,
        rounds: fit.rounds,
        without_noise: WithoutNoise {
            train_ll_per_trial: summary.train.ll_per_trial,
            heldout_sessions_ll_per_trial: summary
                .heldout_sessions
                .as_ref()
                .map(|s| s.ll_per_trial),
        },
    };
    summary.model = spec.model.model.name().into();
    summary.parameters = serde_json::to_value(&parameters).unwrap_or_default();
    summary.train = train;
    summary.heldout_sessions = heldout_sessions;
    summary.seconds += started.elapsed().as_secs_f64();
    result.spec = spec.clone();
    result.weights = weights;
    Ok(result)
}

/// Scores a fitted neural rule with noise (`model`, its `parameters` from `summary.json`)
/// on every trial of `design`'s animals, each predicted one step ahead from the prior (new
/// animals). Errors: [`StudyError::Setting`] for a model that is not a network,
/// [`StudyError::Walk`].
pub(crate) fn evaluate_noisy_net(
    model: &Model<ReadBackend>,
    parameters: &serde_json::Value,
    design: &DesignMatrix,
) -> Result<SplitScore, StudyError> {
    let rule = host_step(model)?;
    let p: NoisyNetParameters =
        serde_json::from_value(parameters.clone()).map_err(|e| StudyError::Setting {
            setting: "parameters",
            expected: "σ of a neural rule with noise",
            got: e.to_string(),
        })?;
    let hyper = p.hyper();
    let mut parts = Vec::new();
    for d in &design.subjects {
        parts.push((
            d.subject.as_str(),
            d.session_keys_in(0..d.n_trials()),
            from_prior(&rule, d, 0..d.n_trials(), &hyper)?,
            &d.choice[..],
        ));
    }
    Ok(score(&parts))
}

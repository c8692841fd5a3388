//! Scoring a rule: per-trial log-likelihood and accuracy, per animal.

use crate::SequenceBatch;
use burn::tensor::{Tensor, backend::Backend};
use denovo_rules::{HostSequence, LearningRule};
use serde::Serialize;

/// The score of one animal on its scored trials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnimalScore {
    /// Number of scored trials.
    pub trials: usize,
    /// Summed log-likelihood (nats).
    pub log_likelihood: f64,
    /// Log-likelihood per trial (nats/trial).
    pub ll_per_trial: f64,
    /// Fraction of trials where the more likely side (p ≥ 0.5 → right) was the choice.
    pub accuracy: f64,
    /// The log-likelihood of every scored trial (nats), in trial order (`[trials]`; they
    /// sum to `log_likelihood`): what per-session scores are built from. Not serialized.
    #[serde(skip)]
    pub trial_ll: Vec<f64>,
}

/// Scores of a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// One score per animal, in batch order.
    pub animals: Vec<AnimalScore>,
    /// Log-likelihood per trial over all scored trials.
    pub ll_per_trial: f64,
    /// Accuracy over all scored trials.
    pub accuracy: f64,
    /// Number of scored trials.
    pub trials: usize,
}

use denovo_glm::to_f64_vec as to_vec;
use denovo_rules::closed_form::softplus;

/// Scores `rule` on the scored trials of `batch` starting from `w0`. Accumulates in f64.
pub fn evaluate<B: Backend, R: LearningRule<B>>(
    rule: &R,
    batch: &SequenceBatch<B>,
    w0: Tensor<B, 2>,
) -> Evaluation {
    let a = batch.n_animals();
    let mut ll: Vec<Vec<f64>> = (0..a)
        .map(|i| Vec::with_capacity(batch.scored[i]))
        .collect();
    let mut hits = vec![0usize; a];
    if let Some(form) = rule.closed_form() {
        let k = batch.n_features;
        let w0 = to_vec(w0);
        for (i, host) in batch.host.iter().enumerate() {
            crate::closed_form_walk(
                &form,
                host,
                &w0[i * k..(i + 1) * k],
                host.score.end,
                |t, w| {
                    if host.score.contains(&t) {
                        score_trial(host, t, w, &mut ll[i], &mut hits[i]);
                    }
                },
            );
        }
        return summarize(batch, ll, hits);
    }
    let until: Vec<usize> = batch.host.iter().map(|h| h.score.end).collect();
    if let Some(paths) = rule.host_trajectories(&batch.host, w0.clone(), &until) {
        let k = batch.n_features;
        for (i, (host, w)) in batch.host.iter().zip(&paths).enumerate() {
            for t in host.score.clone() {
                score_trial(host, t, &w[t * k..(t + 1) * k], &mut ll[i], &mut hits[i]);
            }
        }
        return summarize(batch, ll, hits);
    }
    let mut state = rule.initial_state(w0);
    let last = batch.n_steps().saturating_sub(1);
    for (t, (trial, ignore)) in batch.steps().iter().zip(batch.ignore()).enumerate() {
        let z = denovo_glm::logits(rule.policy_weights(&state), trial.x.clone());
        let ll_t = to_vec(denovo_glm::log_likelihood(z.clone(), trial.choice.clone()));
        let z = to_vec(z);
        let y = to_vec(trial.choice.clone());
        let skip: Vec<bool> = ignore
            .to_data()
            .convert::<bool>()
            .into_vec()
            .expect("bool mask");
        for i in 0..a {
            if !skip[i] {
                ll[i].push(ll_t[i]);
                hits[i] += usize::from((z[i] >= 0.0) == (y[i] >= 0.5));
            }
        }
        if t < last {
            state = rule.step(state, trial);
        }
    }
    summarize(batch, ll, hits)
}

/// Appends trial `t`'s log-likelihood under weights `w` to `ll` and adds a hit when the
/// more likely side was the choice.
fn score_trial(host: &HostSequence, t: usize, w: &[f64], ll: &mut Vec<f64>, hits: &mut usize) {
    let k = w.len();
    let x = &host.x[t * k..(t + 1) * k];
    let z: f64 = w.iter().zip(x).map(|(u, v)| u * v).sum();
    let y = host.choice[t];
    ll.push(y * z - softplus(z));
    *hits += usize::from((z >= 0.0) == (y >= 0.5));
}

fn summarize<B: Backend>(
    batch: &SequenceBatch<B>,
    trial_ll: Vec<Vec<f64>>,
    hits: Vec<usize>,
) -> Evaluation {
    let ll: Vec<f64> = trial_ll.iter().map(|t| t.iter().sum()).collect();
    let animals: Vec<AnimalScore> = trial_ll
        .into_iter()
        .enumerate()
        .map(|(i, trial_ll)| {
            let n = batch.scored[i];
            AnimalScore {
                trials: n,
                log_likelihood: ll[i],
                ll_per_trial: if n == 0 { f64::NAN } else { ll[i] / n as f64 },
                accuracy: if n == 0 {
                    f64::NAN
                } else {
                    hits[i] as f64 / n as f64
                },
                trial_ll,
            }
        })
        .collect();
    let trials = batch.n_scored();
    let total_ll: f64 = ll.iter().sum();
    let total_hits: usize = hits.iter().sum();
    Evaluation {
        animals,
        ll_per_trial: if trials == 0 {
            f64::NAN
        } else {
            total_ll / trials as f64
        },
        accuracy: if trials == 0 {
            f64::NAN
        } else {
            total_hits as f64 / trials as f64
        },
        trials,
    }
}

/// The policy weights w_t of every animal on every trial it runs through:
/// `result[animal][t]` is the weight vector used to predict trial t.
pub fn weight_trajectories<B: Backend, R: LearningRule<B>>(
    rule: &R,
    batch: &SequenceBatch<B>,
    w0: Tensor<B, 2>,
    runs: &[usize],
) -> Vec<Vec<Vec<f64>>> {
    let a = batch.n_animals();
    let k = batch.n_features;
    let mut out: Vec<Vec<Vec<f64>>> = runs.iter().map(|&n| Vec::with_capacity(n)).collect();
    if let Some(form) = rule.closed_form() {
        let w0 = to_vec(w0);
        for (i, host) in batch.host.iter().enumerate() {
            crate::closed_form_walk(&form, host, &w0[i * k..(i + 1) * k], runs[i], |_, w| {
                out[i].push(w.to_vec())
            });
        }
        return out;
    }
    if let Some(paths) = rule.host_trajectories(&batch.host, w0.clone(), runs) {
        return paths
            .iter()
            .map(|w| w.chunks(k).map(<[f64]>::to_vec).collect())
            .collect();
    }
    let mut state = rule.initial_state(w0);
    let last = batch.n_steps().saturating_sub(1);
    for (t, trial) in batch.steps().iter().enumerate() {
        let w = to_vec(rule.policy_weights(&state));
        for i in 0..a {
            if t < runs[i] {
                out[i].push(w[i * k..(i + 1) * k].to_vec());
            }
        }
        if t < last {
            state = rule.step(state, trial);
        }
    }
    out
}

//! Training protocols (contrast stages and advancement rules), simulation of virtual
//! animals under a protocol, and the IBL "trained 1a" criterion.

use crate::cohort::{SimError, ibl_trial, trial_batch};
use burn::tensor::{Tensor, backend::Backend};
use denovo_data::{Dataset, Session, Subject, Trial, stimulus_transform};
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::LearningRule;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A training protocol: stages of contrast sets, each left when the animal's accuracy on
/// easy trials passes a threshold, one session a day of a fixed length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// A short name.
    pub name: String,
    /// What it is (free text).
    #[serde(default)]
    pub description: String,
    /// Trials per session.
    pub session_trials: usize,
    /// Sessions per day (trials per day = `session_trials × sessions_per_day`).
    #[serde(default = "one")]
    pub sessions_per_day: usize,
    /// Training stops after this many sessions.
    pub max_sessions: usize,
    /// Contrasts at or above this count as "easy" for advancement and the criterion.
    #[serde(default = "half")]
    pub easy_contrast: f64,
    /// The stages, in order; the last one is never left.
    #[serde(rename = "stage")]
    pub stages: Vec<Stage>,
    /// The training criterion whose attainment is reported.
    #[serde(default)]
    pub criterion: TrainedCriterion,
}

fn one() -> usize {
    1
}

fn half() -> f64 {
    0.5
}

/// One stage of a protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// A short name.
    pub name: String,
    /// Absolute contrasts shown, each equally often, on a random side.
    pub contrasts: Vec<f64>,
    /// Advance after `advance_sessions` consecutive sessions with at least this fraction
    /// correct on easy trials (ignored on the last stage).
    #[serde(default = "eighty")]
    pub advance_accuracy: f64,
    /// Consecutive qualifying sessions needed to advance.
    #[serde(default = "one")]
    pub advance_sessions: usize,
}

fn eighty() -> f64 {
    0.8
}

/// The IBL "trained 1a" criterion, as implemented here: over `sessions` consecutive
/// sessions pooled, at least `accuracy` correct on easy trials (|contrast| ≥ the
/// protocol's `easy_contrast`), at least `min_levels` distinct absolute contrasts shown,
/// and a psychometric fit p(right) = λ + (1 − 2λ) Φ((c − μ)/σ) (c in % contrast, signed;
/// maximum likelihood on a grid) with |μ| (bias) < `max_bias`, σ (threshold) <
/// `max_threshold` and λ (lapse, one rate for both sides) < `max_lapse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainedCriterion {
    /// Consecutive sessions pooled.
    pub sessions: usize,
    /// Fraction correct on easy trials.
    pub accuracy: f64,
    /// Distinct absolute contrasts needed in the pooled sessions.
    pub min_levels: usize,
    /// Largest |bias| (% contrast).
    pub max_bias: f64,
    /// Largest threshold (% contrast).
    pub max_threshold: f64,
    /// Largest lapse rate.
    pub max_lapse: f64,
}

impl Default for TrainedCriterion {
    /// IBL's 1a values: 3 sessions, 80%, |bias| < 16, threshold < 19, lapse < 0.2; at
    /// least 4 contrast levels.
    fn default() -> Self {
        TrainedCriterion {
            sessions: 3,
            accuracy: 0.8,
            min_levels: 4,
            max_bias: 16.0,
            max_threshold: 19.0,
            max_lapse: 0.2,
        }
    }
}

impl Protocol {
    /// Reads a protocol TOML file.
    pub fn from_file(path: &Path) -> Result<Protocol, SimError> {
        let text = std::fs::read_to_string(path).map_err(|e| SimError::Sidecar {
            path: path.to_path_buf(),
            message: format!("cannot read the protocol: {e}"),
        })?;
        let p: Protocol = toml::from_str(&text).map_err(|e| SimError::Sidecar {
            path: path.to_path_buf(),
            message: format!("not a valid protocol: {e}"),
        })?;
        p.check().map_err(|message| SimError::Sidecar {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(p)
    }

    /// Checks the protocol's numbers.
    pub fn check(&self) -> Result<(), String> {
        if self.stages.is_empty() {
            return Err("a protocol needs at least one [[stage]]".into());
        }
        if self.session_trials == 0 || self.max_sessions == 0 || self.sessions_per_day == 0 {
            return Err("session_trials, max_sessions and sessions_per_day must be > 0".into());
        }
        for s in &self.stages {
            if s.contrasts.is_empty() || s.contrasts.iter().any(|c| !(0.0..=1.0).contains(c)) {
                return Err(format!(
                    "stage `{}`: contrasts must be a non-empty list in [0, 1]",
                    s.name
                ));
            }
            if s.advance_sessions == 0 {
                return Err(format!("stage `{}`: advance_sessions must be ≥ 1", s.name));
            }
        }
        Ok(())
    }
}

/// Psychometric parameters: bias μ and threshold σ in % contrast, lapse λ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Psychometric {
    /// μ, % contrast.
    pub bias: f64,
    /// σ, % contrast.
    pub threshold: f64,
    /// λ.
    pub lapse: f64,
}

/// Φ, the standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Fits [`Psychometric`] by maximum likelihood to `(signed contrast %, trials, right
/// choices)`: a coarse grid (μ every 2% in ±60%, σ on 21 log steps from 1 to 100%, λ every
/// 0.02 up to 0.3), then a fine grid around its best point (μ every 0.25%, σ within ±12%
/// in 1.2% steps, λ every 0.0025).
pub fn fit_psychometric(points: &[(f64, usize, usize)]) -> Psychometric {
    let ll = |mu: f64, sigma: f64, lapse: f64| -> f64 {
        points
            .iter()
            .map(|&(c, n, r)| {
                let p = (lapse + (1.0 - 2.0 * lapse) * normal_cdf((c - mu) / sigma))
                    .clamp(1e-9, 1.0 - 1e-9);
                r as f64 * p.ln() + (n - r) as f64 * (1.0 - p).ln()
            })
            .sum()
    };
    let search = |mus: &[f64], sigmas: &[f64], lapses: &[f64]| {
        let mut best = (f64::NEG_INFINITY, (0.0, 1.0, 0.0));
        for &mu in mus {
            for &sigma in sigmas {
                for &lapse in lapses {
                    let v = ll(mu, sigma, lapse);
                    if v > best.0 {
                        best = (v, (mu, sigma, lapse));
                    }
                }
            }
        }
        best.1
    };
    let range = |from: f64, to: f64, step: f64| -> Vec<f64> {
        let n = ((to - from) / step).round() as i32;
        (0..=n).map(|i| from + step * f64::from(i)).collect()
    };
    let (mu, sigma, lapse) = search(
        &range(-60.0, 60.0, 2.0),
        &(0..=20)
            .map(|i| 10f64.powf(f64::from(i) / 10.0))
            .collect::<Vec<_>>(),
        &range(0.0, 0.3, 0.02),
    );
    let (mu, sigma, lapse) = search(
        &range(mu - 2.0, mu + 2.0, 0.25),
        &range(0.88, 1.12, 0.012)
            .iter()
            .map(|f| f * sigma)
            .collect::<Vec<_>>(),
        &range((lapse - 0.02).max(0.0), (lapse + 0.02).min(0.49), 0.0025),
    );
    Psychometric {
        bias: mu,
        threshold: sigma,
        lapse,
    }
}

/// The signed contrast (right positive) of a trial with inputs `contrastLeft`,
/// `contrastRight`.
fn signed_contrast(t: &Trial, left: usize, right: usize) -> f64 {
    t.inputs[right] - t.inputs[left]
}

/// When `subject` first meets `criterion`: the 0-based index of the last of the qualifying
/// sessions and the number of trials up to and including it. `None` when never. Needs the
/// dataset's `contrastLeft`/`contrastRight` inputs.
pub fn trained_at(
    data: &Dataset,
    subject: &Subject,
    criterion: &TrainedCriterion,
    easy_contrast: f64,
) -> Option<(usize, usize)> {
    let left = data.input_index("contrastLeft")?;
    let right = data.input_index("contrastRight")?;
    let n = criterion.sessions.max(1);
    let mut trials_before = 0;
    let mut ends = Vec::with_capacity(subject.sessions.len());
    for s in &subject.sessions {
        trials_before += s.trials.len();
        ends.push(trials_before);
    }
    for (last, &end) in ends.iter().enumerate().skip(n - 1) {
        let pooled = subject.sessions[last + 1 - n..=last]
            .iter()
            .flat_map(|s| &s.trials);
        let (mut easy, mut easy_correct) = (0usize, 0usize);
        let mut levels: Vec<(f64, usize, usize)> = Vec::new();
        for t in pooled {
            let c = signed_contrast(t, left, right);
            if c.abs() >= easy_contrast - 1e-12 {
                easy += 1;
                easy_correct += usize::from(t.correct());
            }
            let pct = (100.0 * c * 1e6).round() / 1e6;
            match levels.iter_mut().find(|l| l.0 == pct) {
                Some(l) => {
                    l.1 += 1;
                    l.2 += usize::from(t.choice == 1);
                }
                None => levels.push((pct, 1, usize::from(t.choice == 1))),
            }
        }
        if easy == 0 || (easy_correct as f64) < criterion.accuracy * easy as f64 {
            continue;
        }
        let mut abs: Vec<f64> = levels.iter().map(|l| l.0.abs()).collect();
        abs.sort_by(f64::total_cmp);
        abs.dedup();
        if abs.len() < criterion.min_levels {
            continue;
        }
        let psy = fit_psychometric(&levels);
        if psy.bias.abs() < criterion.max_bias
            && psy.threshold < criterion.max_threshold
            && psy.lapse < criterion.max_lapse
        {
            return Some((last, end));
        }
    }
    None
}

/// What happened to one virtual animal under a protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolOutcome {
    /// Subject name.
    pub subject: String,
    /// Sessions until trained (1-based count), when reached within `max_sessions`.
    pub sessions_to_trained: Option<usize>,
    /// Trials until trained.
    pub trials_to_trained: Option<usize>,
    /// The stage (0-based) of every session.
    pub stages: Vec<usize>,
}

/// Simulates `animals` virtual animals that learn by `rule` (regressors `regressors`,
/// initial weights `w0` per regressor) under `protocol`, seeded. Returns their behaviour
/// (inputs `contrastLeft`, `contrastRight`, `probabilityLeft`) and each one's outcome.
/// Supported regressors: `stim`, `bias`, `prev_choice`, `prev_reward`, `prev_answer`.
/// Training stops when every animal is trained (its last session counted) or after
/// `max_sessions`.
pub fn simulate_protocol<B: Backend, R: LearningRule<B>>(
    rule: &R,
    regressors: &[String],
    w0: &[f64],
    protocol: &Protocol,
    animals: usize,
    seed: u64,
    device: &B::Device,
) -> Result<(Dataset, Vec<ProtocolOutcome>), SimError> {
    protocol.check().map_err(SimError::Config)?;
    let k = regressors.len();
    if w0.len() != k {
        return Err(SimError::Config(format!(
            "{} initial weights for {k} regressors",
            w0.len()
        )));
    }
    if let Some(bad) = regressors.iter().find(|r| {
        !["stim", "bias", "prev_choice", "prev_reward", "prev_answer"].contains(&r.as_str())
    }) {
        return Err(SimError::Config(format!(
            "regressor `{bad}` cannot be simulated (supported: stim, bias, prev_choice, \
             prev_reward, prev_answer)"
        )));
    }
    let n = animals;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = rule.initial_state(float_tensor(w0.repeat(n), [n, k], device));
    let mut stage = vec![0usize; n];
    let mut streak = vec![0usize; n];
    let mut sessions: Vec<Vec<Session>> = vec![Vec::new(); n];
    let mut stages: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut outcomes: Vec<Option<(usize, usize)>> = vec![None; n];
    let mut x = vec![0.0; n * k];
    let (mut choice, mut reward, mut answer, mut start) =
        (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    // The previous trial within the session (choice, reward, answer), per animal.
    let mut prev: Vec<Option<(f64, f64, f64)>> = vec![None; n];
    let probe = Dataset {
        source: Default::default(),
        format: denovo_data::Format::TrialsCsv,
        input_names: vec![
            "contrastLeft".into(),
            "contrastRight".into(),
            "probabilityLeft".into(),
        ],
        ignored_columns: Vec::new(),
        subjects: Vec::new(),
        skipped: Vec::new(),
    };
    let criterion = &protocol.criterion;
    for session in 0..protocol.max_sessions {
        for a in 0..n {
            sessions[a].push(Session {
                id: (session + 1).to_string(),
                date: None,
                trials: Vec::with_capacity(protocol.session_trials),
                source: None,
            });
            stages[a].push(stage[a]);
            prev[a] = None;
        }
        for t in 0..protocol.session_trials {
            let mut shown = Vec::with_capacity(n);
            for a in 0..n {
                let set = &protocol.stages[stage[a]].contrasts;
                let magnitude = set[rng.random_range(0..set.len())];
                let right = rng.random_bool(0.5);
                let signed = if right { magnitude } else { -magnitude };
                for (j, r) in regressors.iter().enumerate() {
                    let signed_prev = |f: fn(&(f64, f64, f64)) -> f64| {
                        prev[a].as_ref().map_or(0.0, |p| 2.0 * f(p) - 1.0)
                    };
                    x[a * k + j] = match r.as_str() {
                        "stim" => stimulus_transform(signed, denovo_data::DEFAULT_CONTRAST_GAIN),
                        "bias" => 1.0,
                        "prev_choice" => signed_prev(|p| p.0),
                        "prev_reward" => signed_prev(|p| p.1),
                        _ => signed_prev(|p| p.2),
                    };
                }
                answer[a] = f64::from(u8::from(right));
                start[a] = f64::from(u8::from(t == 0));
                shown.push((magnitude, right));
            }
            let w = rule.policy_weights(&state);
            let x_t: Tensor<B, 2> = float_tensor(x.clone(), [n, k], device);
            let p = to_f64_vec(denovo_glm::prob_right(w, x_t.clone()));
            for a in 0..n {
                let y = rng.random_bool(p[a].clamp(0.0, 1.0));
                choice[a] = f64::from(u8::from(y));
                reward[a] = f64::from(u8::from(choice[a] == answer[a]));
                prev[a] = Some((choice[a], reward[a], answer[a]));
                let (magnitude, right) = shown[a];
                sessions[a][session]
                    .trials
                    .push(ibl_trial(magnitude, right, y, reward[a]));
            }
            let batch = trial_batch(x_t, &choice, &reward, &answer, &start, device);
            state = rule.step(state, &batch);
        }
        // End of the session: advancement and the criterion.
        for a in 0..n {
            let s = &sessions[a][session];
            let easy: Vec<&Trial> = s
                .trials
                .iter()
                .filter(|t| (t.inputs[1] - t.inputs[0]).abs() >= protocol.easy_contrast - 1e-12)
                .collect();
            let acc = easy.iter().filter(|t| t.correct()).count() as f64 / easy.len().max(1) as f64;
            let st = &protocol.stages[stage[a]];
            if stage[a] + 1 < protocol.stages.len() {
                streak[a] = if acc >= st.advance_accuracy {
                    streak[a] + 1
                } else {
                    0
                };
                if streak[a] >= st.advance_sessions {
                    stage[a] += 1;
                    streak[a] = 0;
                }
            }
            if outcomes[a].is_none() {
                let subject = Subject {
                    name: String::new(),
                    lab: None,
                    dropped_trials: 0,
                    sessions: sessions[a][session + 1 - criterion.sessions.min(session + 1)..]
                        .to_vec(),
                };
                if let Some((last, _)) =
                    trained_at(&probe, &subject, criterion, protocol.easy_contrast)
                {
                    let offset = session + 1 - subject.sessions.len();
                    let idx = offset + last;
                    outcomes[a] = Some((idx + 1, (idx + 1) * protocol.session_trials));
                }
            }
        }
        if outcomes.iter().all(Option::is_some) {
            break;
        }
    }
    let width = n.to_string().len().max(3);
    let mut subjects = Vec::with_capacity(n);
    let mut result = Vec::with_capacity(n);
    for (a, (s, st)) in sessions.into_iter().zip(stages).enumerate() {
        let name = format!("twin{:0width$}", a + 1);
        result.push(ProtocolOutcome {
            subject: name.clone(),
            sessions_to_trained: outcomes[a].map(|o| o.0),
            trials_to_trained: outcomes[a].map(|o| o.1),
            stages: st,
        });
        subjects.push(Subject {
            name,
            lab: None,
            sessions: s,
            dropped_trials: 0,
        });
    }
    Ok((Dataset { subjects, ..probe }, result))
}

/// Writes a cohort trained under a protocol: its behaviour to `out` in `format`, and to
/// [`sidecar_path`](crate::sidecar_path) the true `rule`, the protocol's path and every
/// animal's outcome (trials and sessions to criterion). Returns the sidecar's path.
///
/// Errors: [`SimError::Sidecar`] naming the file, or the data writer's error.
pub fn write_protocol_cohort(
    data: &Dataset,
    outcomes: &[ProtocolOutcome],
    rule: &denovo_rules::RuleSpec,
    protocol: &Path,
    out: &Path,
    format: denovo_data::Format,
) -> Result<std::path::PathBuf, SimError> {
    denovo_data::save(data, out, format)?;
    let sidecar = crate::sidecar_path(out, format);
    let doc = serde_json::json!({
        "rule": rule,
        "protocol": protocol.display().to_string(),
        "outcomes": outcomes,
    });
    let err = |e: &dyn std::fmt::Display| SimError::Sidecar {
        path: sidecar.clone(),
        message: e.to_string(),
    };
    let text = serde_json::to_string_pretty(&doc).map_err(|e| err(&e))?;
    std::fs::write(&sidecar, text).map_err(|e| err(&e))?;
    Ok(sidecar)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The psychometric fit recovers known parameters from noise-free proportions.
    #[test]
    fn psychometric_fit_recovers_parameters() {
        let (mu, sigma, lapse) = (5.0, 12.0, 0.1);
        let points: Vec<(f64, usize, usize)> = [
            -100.0, -50.0, -25.0, -12.5, -6.25, 0.0, 6.25, 12.5, 25.0, 50.0, 100.0,
        ]
        .iter()
        .map(|&c| {
            let p = lapse + (1.0 - 2.0 * lapse) * normal_cdf((c - mu) / sigma);
            (c, 10_000, (p * 10_000.0).round() as usize)
        })
        .collect();
        let fit = fit_psychometric(&points);
        assert!((fit.bias - mu).abs() <= 0.5, "{fit:?}");
        assert!((fit.threshold / sigma - 1.0).abs() < 0.05, "{fit:?}");
        assert!((fit.lapse - lapse).abs() <= 0.005, "{fit:?}");
    }

    #[test]
    fn normal_cdf_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }
}

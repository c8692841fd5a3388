//! Design matrices: the named regressors x_t the policy sees on each trial.

use crate::{Dataset, LoadError, Subject, Trial};
use serde::Serialize;

/// The default gain p of the IBL stimulus transform tanh(p·c)/tanh(p).
pub const DEFAULT_CONTRAST_GAIN: f64 = 5.0;

/// The IBL stimulus regressor: tanh(p·c)/tanh(p) of the signed contrast c = right − left
/// (p ≤ 0 leaves c unchanged). Maps [−1, 1] onto [−1, 1], compressing high contrasts.
pub fn stimulus_transform(signed_contrast: f64, gain: f64) -> f64 {
    if gain <= 0.0 {
        signed_contrast
    } else {
        (gain * signed_contrast).tanh() / gain.tanh()
    }
}

/// One column of the design matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Regressor {
    /// The stimulus: a raw input named `stim` when the data has one, else the IBL transform
    /// of `contrastRight − contrastLeft`.
    Stim,
    /// The constant 1.
    Bias,
    /// The previous trial's choice, +1 right / −1 left, 0 on a session's first trial.
    PrevChoice,
    /// The previous trial's reward, +1 rewarded / −1 not, 0 on a session's first trial.
    PrevReward,
    /// The previous trial's correct side, +1 right / −1 left, 0 on a session's first trial.
    PrevAnswer,
    /// A raw input column of the dataset, by name.
    Input(String),
}

impl Regressor {
    /// The regressor's name as written on the command line and in outputs.
    pub fn name(&self) -> &str {
        match self {
            Regressor::Stim => "stim",
            Regressor::Bias => "bias",
            Regressor::PrevChoice => "prev_choice",
            Regressor::PrevReward => "prev_reward",
            Regressor::PrevAnswer => "prev_answer",
            Regressor::Input(name) => name,
        }
    }

    /// Parses a name: the built-in names above, anything else is an input column.
    pub fn parse(name: &str) -> Regressor {
        match name {
            "stim" => Regressor::Stim,
            "bias" => Regressor::Bias,
            "prev_choice" => Regressor::PrevChoice,
            "prev_reward" => Regressor::PrevReward,
            "prev_answer" => Regressor::PrevAnswer,
            other => Regressor::Input(other.to_string()),
        }
    }
}

/// How to build a design matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignOptions {
    /// The regressors, in column order.
    pub regressors: Vec<Regressor>,
    /// The gain p of the IBL stimulus transform.
    pub contrast_gain: f64,
}

impl Default for DesignOptions {
    /// `stim, bias` with the default gain.
    fn default() -> Self {
        DesignOptions {
            regressors: vec![Regressor::Stim, Regressor::Bias],
            contrast_gain: DEFAULT_CONTRAST_GAIN,
        }
    }
}

impl DesignOptions {
    /// Options with the named regressors (see [`Regressor::parse`]) and the default gain.
    /// Fails on an empty or repeated name.
    pub fn from_names(names: &[&str]) -> Result<Self, LoadError> {
        let mut regressors: Vec<Regressor> = Vec::new();
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                return Err(LoadError::UnknownRegressor {
                    name: String::new(),
                    detail: "empty regressor name".into(),
                });
            }
            let r = Regressor::parse(name);
            if regressors.contains(&r) {
                return Err(LoadError::UnknownRegressor {
                    name: name.to_string(),
                    detail: "named twice".into(),
                });
            }
            regressors.push(r);
        }
        Ok(DesignOptions {
            regressors,
            contrast_gain: DEFAULT_CONTRAST_GAIN,
        })
    }

    /// The regressors' names.
    pub fn names(&self) -> Vec<String> {
        self.regressors
            .iter()
            .map(|r| r.name().to_string())
            .collect()
    }
}

/// The design of one subject: trials × regressors, row-major, with the outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectDesign {
    /// Subject name.
    pub subject: String,
    /// Number of regressors (columns of `x`).
    pub n_features: usize,
    /// Regressors, row-major: trial t is `x[t * n_features .. (t + 1) * n_features]`.
    pub x: Vec<f64>,
    /// Choice per trial (0 left, 1 right).
    pub choice: Vec<f64>,
    /// Reward per trial.
    pub reward: Vec<f64>,
    /// Correct side per trial (0 left, 1 right).
    pub answer: Vec<f64>,
    /// Whether the trial is the first of its session.
    pub session_start: Vec<bool>,
    /// 0-based session index of each trial.
    pub session: Vec<usize>,
    /// Every session's key ([`Session::key`](crate::Session::key): `<date>/<number>` or
    /// the file's session value), by session index.
    pub session_keys: Vec<String>,
}

impl SubjectDesign {
    /// Number of trials.
    pub fn n_trials(&self) -> usize {
        self.choice.len()
    }
    /// Number of sessions.
    pub fn n_sessions(&self) -> usize {
        self.session.last().map_or(0, |s| s + 1)
    }
    /// The keys of the sessions that trials `range` fall in, in order.
    pub fn session_keys_in(&self, range: std::ops::Range<usize>) -> Vec<String> {
        let end = range.end.min(self.n_trials());
        if range.start >= end {
            return Vec::new();
        }
        (self.session[range.start]..=self.session[end - 1])
            .filter_map(|s| self.session_keys.get(s).cloned())
            .collect()
    }
    /// The regressors of trial `t`.
    pub fn row(&self, t: usize) -> &[f64] {
        &self.x[t * self.n_features..(t + 1) * self.n_features]
    }
    /// Index of the first trial of the held-out last `fraction` of sessions: `round(fraction
    /// × sessions)` sessions are held out, at least one when `fraction > 0`, and at least one
    /// session is kept for training. Returns `n_trials()` when nothing is held out.
    pub fn first_holdout_trial(&self, fraction: f64) -> usize {
        let n = self.n_sessions();
        if fraction <= 0.0 || n < 2 {
            return self.n_trials();
        }
        let held = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
        let first_session = n - held;
        self.session
            .iter()
            .position(|&s| s == first_session)
            .unwrap_or(self.n_trials())
    }

    /// Index of the first trial of the last `fraction` of the sessions that start before
    /// trial `end` (e.g. validation sessions at the end of the training sessions): as
    /// [`SubjectDesign::first_holdout_trial`] on the trials `0..end`. Returns `end` when
    /// nothing is set aside (`fraction` ≤ 0, or fewer than two sessions before `end`).
    pub fn first_holdout_trial_before(&self, fraction: f64, end: usize) -> usize {
        let end = end.min(self.n_trials());
        let n = if end == 0 {
            0
        } else {
            self.session[end - 1] + 1
        };
        if fraction <= 0.0 || n < 2 {
            return end;
        }
        let held = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
        let first_session = n - held;
        self.session[..end]
            .iter()
            .position(|&s| s == first_session)
            .unwrap_or(end)
    }
}

/// A design matrix for every subject of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignMatrix {
    /// Regressor names, in column order.
    pub names: Vec<String>,
    /// One design per subject.
    pub subjects: Vec<SubjectDesign>,
}

impl Dataset {
    /// Builds the design matrix. Fails with [`LoadError::UnknownRegressor`] when a regressor
    /// needs an input the dataset lacks.
    pub fn design(&self, options: &DesignOptions) -> Result<DesignMatrix, LoadError> {
        let available = || {
            let mut names = vec!["stim", "bias", "prev_choice", "prev_reward", "prev_answer"];
            names.extend(self.input_names.iter().map(String::as_str));
            format!("available: {}", names.join(", "))
        };
        // Resolve each regressor to a function of (trial, previous trial in session).
        let mut columns: Vec<Column<'_>> = Vec::new();
        for r in &options.regressors {
            let gain = options.contrast_gain;
            let signed = |t: Option<&Trial>, f: fn(&Trial) -> f64| t.map_or(0.0, f);
            columns.push(match r {
                Regressor::Stim => {
                    if let Some(i) = self.input_index("stim") {
                        Box::new(move |t, _| t.inputs[i])
                    } else if let (Some(l), Some(rt)) =
                        (self.input_index("contrastLeft"), self.input_index("contrastRight"))
                    {
                        Box::new(move |t, _| stimulus_transform(t.inputs[rt] - t.inputs[l], gain))
                    } else {
                        return Err(LoadError::UnknownRegressor {
                            name: "stim".into(),
                            detail: format!(
                                "needs an input `stim` or the inputs `contrastLeft` and `contrastRight`; this data's inputs are {}",
                                if self.input_names.is_empty() {
                                    "none".to_string()
                                } else {
                                    self.input_names.join(", ")
                                }
                            ),
                        });
                    }
                }
                Regressor::Bias => Box::new(|_, _| 1.0),
                Regressor::PrevChoice => {
                    Box::new(move |_, p| signed(p, |t| if t.choice == 1 { 1.0 } else { -1.0 }))
                }
                Regressor::PrevReward => {
                    Box::new(move |_, p| signed(p, |t| if t.reward > 0.0 { 1.0 } else { -1.0 }))
                }
                Regressor::PrevAnswer => {
                    Box::new(move |_, p| signed(p, |t| if t.answer == 1 { 1.0 } else { -1.0 }))
                }
                Regressor::Input(name) => match self.input_index(name) {
                    Some(i) => Box::new(move |t, _| t.inputs[i]),
                    None => {
                        return Err(LoadError::UnknownRegressor {
                            name: name.clone(),
                            detail: available(),
                        });
                    }
                },
            });
        }
        let subjects = self
            .subjects
            .iter()
            .map(|s| subject_design(s, &columns))
            .collect();
        Ok(DesignMatrix {
            names: options.names(),
            subjects,
        })
    }
}

type Column<'a> = Box<dyn Fn(&Trial, Option<&Trial>) -> f64 + 'a>;

fn subject_design(subject: &Subject, columns: &[Column<'_>]) -> SubjectDesign {
    let n = subject.n_trials();
    let k = columns.len();
    let mut d = SubjectDesign {
        subject: subject.name.clone(),
        n_features: k,
        x: Vec::with_capacity(n * k),
        choice: Vec::with_capacity(n),
        reward: Vec::with_capacity(n),
        answer: Vec::with_capacity(n),
        session_start: Vec::with_capacity(n),
        session: Vec::with_capacity(n),
        session_keys: subject.sessions.iter().map(crate::Session::key).collect(),
    };
    for (si, session) in subject.sessions.iter().enumerate() {
        let mut prev: Option<&Trial> = None;
        for trial in &session.trials {
            d.x.extend(columns.iter().map(|c| c(trial, prev)));
            d.choice.push(f64::from(trial.choice));
            d.reward.push(trial.reward);
            d.answer.push(f64::from(trial.answer));
            d.session_start.push(prev.is_none());
            d.session.push(si);
            prev = Some(trial);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::SubjectDesign;

    /// One animal with sessions of 3, 2, 4, 1 trials (10 trials, 4 sessions).
    fn design() -> SubjectDesign {
        let session = vec![0, 0, 0, 1, 1, 2, 2, 2, 2, 3];
        let n = session.len();
        SubjectDesign {
            subject: "a".into(),
            n_features: 1,
            x: vec![1.0; n],
            choice: vec![0.0; n],
            reward: vec![0.0; n],
            answer: vec![0.0; n],
            session_start: (0..n)
                .map(|t| t == 0 || session[t] != session[t - 1])
                .collect(),
            session,
            session_keys: ["s1", "s2", "s3", "s4"].map(String::from).to_vec(),
        }
    }

    #[test]
    fn session_keys_of_a_range() {
        let d = design();
        assert_eq!(d.session_keys_in(0..10), ["s1", "s2", "s3", "s4"]);
        assert_eq!(d.session_keys_in(4..6), ["s2", "s3"]);
        assert_eq!(d.session_keys_in(9..12), ["s4"]);
        assert!(d.session_keys_in(5..5).is_empty());
    }

    #[test]
    fn validation_sessions_are_the_last_sessions_before_the_end() {
        let d = design();
        // The last 25% of 4 sessions: session 3 (trial 9); before trial 9 (3 sessions),
        // round(0.25 × 3) = 1 session: session 2, from trial 5.
        assert_eq!(d.first_holdout_trial(0.25), 9);
        assert_eq!(d.first_holdout_trial_before(0.25, 9), 5);
        // Two of the three sessions before trial 9: from trial 3.
        assert_eq!(d.first_holdout_trial_before(0.5, 9), 3);
        // At least one session stays: 0.99 of two sessions before trial 5 is one.
        assert_eq!(d.first_holdout_trial_before(0.99, 5), 3);
        // Nothing to set aside: one session before the end, or fraction 0.
        assert_eq!(d.first_holdout_trial_before(0.5, 3), 3);
        assert_eq!(d.first_holdout_trial_before(0.0, 9), 9);
        // An end inside a session counts that session.
        assert_eq!(d.first_holdout_trial_before(0.34, 7), 5);
    }
}

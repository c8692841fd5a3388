//! A serialisable description of a parametric rule and its parameters: what the simulator
//! writes in its ground-truth sidecar and what the command line parses.

use serde::{Deserialize, Serialize};

/// The parametric rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// [`crate::Reinforce`].
    Reinforce,
    /// [`crate::ReinforceBaseline`].
    ReinforceBaseline,
    /// [`crate::RewardMax`].
    Rewardmax,
    /// [`crate::PredictMax`].
    Predictmax,
    /// [`crate::QLearning`].
    Qlearning,
    /// [`crate::ReinforceStreak`]: REINFORCE whose step grows with the run of rewarded
    /// trials just before the trial (denovo's own history-dependent test rule).
    ReinforceStreak,
}

/// The default cap K of [`RuleKind::ReinforceStreak`]'s streak count (the step is at most
/// (1 + K) times REINFORCE's).
pub const DEFAULT_STREAK_CAP: usize = 3;

impl RuleKind {
    /// Every kind, in a stable order.
    pub const ALL: [RuleKind; 6] = [
        RuleKind::Reinforce,
        RuleKind::ReinforceBaseline,
        RuleKind::Rewardmax,
        RuleKind::Predictmax,
        RuleKind::Qlearning,
        RuleKind::ReinforceStreak,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            RuleKind::Reinforce => "reinforce",
            RuleKind::ReinforceBaseline => "reinforce-baseline",
            RuleKind::Rewardmax => "rewardmax",
            RuleKind::Predictmax => "predictmax",
            RuleKind::Qlearning => "qlearning",
            RuleKind::ReinforceStreak => "reinforce-streak",
        }
    }
}

impl std::str::FromStr for RuleKind {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        RuleKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| SpecError::UnknownRule(s.to_string()))
    }
}

/// Errors in a rule description.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The rule name is not one of [`RuleKind::ALL`].
    #[error(
        "unknown rule `{0}` (expected reinforce, reinforce-baseline, rewardmax, predictmax, qlearning or reinforce-streak)"
    )]
    UnknownRule(String),
    /// A parameter vector has the wrong length.
    #[error("{name} needs {expected} values (one per regressor), got {got}")]
    WrongLength {
        /// Parameter name.
        name: &'static str,
        /// Number of regressors.
        expected: usize,
        /// Number given.
        got: usize,
    },
    /// A learning rate is negative or not finite.
    #[error("learning rates must be finite and ≥ 0, got {0}")]
    BadRate(f64),
    /// The inverse temperature of Q-learning is missing, not finite or not positive.
    #[error("qlearning needs an inverse temperature > 0, got {0:?}")]
    BadTemperature(Option<f64>),
}

/// A parametric rule with its parameter values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Which rule.
    pub kind: RuleKind,
    /// Learning rates α, one per regressor.
    pub alpha: Vec<f64>,
    /// Baselines β, one per regressor (REINFORCE with baseline only; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub beta: Vec<f64>,
    /// Inverse temperature of Q-learning (`None` for the other rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverse_temperature: Option<f64>,
    /// Cap K of the streak count of `reinforce-streak` (`None` for the other rules;
    /// [`RuleSpec::validated`] fills in [`DEFAULT_STREAK_CAP`] when absent, so sidecars
    /// written before the field existed still read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streak_cap: Option<usize>,
}

impl RuleSpec {
    /// A rule of `kind` with every learning rate `alpha`, baselines 0, inverse
    /// temperature 1 and streak cap [`DEFAULT_STREAK_CAP`] (each only where `kind` has
    /// it): the starting point of a fit.
    pub fn initial(kind: RuleKind, n_features: usize, alpha: f64) -> Self {
        RuleSpec {
            kind,
            alpha: vec![alpha; n_features],
            beta: if kind == RuleKind::ReinforceBaseline {
                vec![0.0; n_features]
            } else {
                vec![]
            },
            inverse_temperature: (kind == RuleKind::Qlearning).then_some(1.0),
            streak_cap: (kind == RuleKind::ReinforceStreak).then_some(DEFAULT_STREAK_CAP),
        }
    }

    /// Checks the parameters against `n_features` regressors. A baseline rule given no β
    /// gets β = 0; Q-learning given no inverse temperature gets 1; `reinforce-streak` given
    /// no cap gets [`DEFAULT_STREAK_CAP`]. Parameters of other rules are dropped.
    ///
    /// Errors: [`SpecError::WrongLength`], [`SpecError::BadRate`],
    /// [`SpecError::BadTemperature`].
    pub fn validated(mut self, n_features: usize) -> Result<Self, SpecError> {
        if self.alpha.len() != n_features {
            return Err(SpecError::WrongLength {
                name: "alpha",
                expected: n_features,
                got: self.alpha.len(),
            });
        }
        if let Some(&a) = self.alpha.iter().find(|a| !a.is_finite() || **a < 0.0) {
            return Err(SpecError::BadRate(a));
        }
        if self.kind == RuleKind::ReinforceBaseline {
            if self.beta.is_empty() {
                self.beta = vec![0.0; n_features];
            }
            if self.beta.len() != n_features {
                return Err(SpecError::WrongLength {
                    name: "beta",
                    expected: n_features,
                    got: self.beta.len(),
                });
            }
        } else {
            self.beta.clear();
        }
        if self.kind == RuleKind::Qlearning {
            let t = *self.inverse_temperature.get_or_insert(1.0);
            if !t.is_finite() || t <= 0.0 {
                return Err(SpecError::BadTemperature(Some(t)));
            }
        } else {
            self.inverse_temperature = None;
        }
        if self.kind == RuleKind::ReinforceStreak {
            self.streak_cap.get_or_insert(DEFAULT_STREAK_CAP);
        } else {
            self.streak_cap = None;
        }
        Ok(self)
    }
}

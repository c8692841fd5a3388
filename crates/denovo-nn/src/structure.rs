//! Structural hypotheses for the neural rules: nested variants that gate the update by the
//! outcome or hide one input from the network (issue 15, item 5).
//!
//! - A **gate** multiplies the update by an indicator of the trial's outcome: with
//!   [`Gate::CorrectOnly`], Δw_t = g_t γ ⊙ MLP(u_t) with g_t = 1 after a rewarded trial
//!   (r_t > 0) and 0 after an error, so the rule cannot learn from errors; with
//!   [`Gate::ErrorOnly`] the reverse. The RNN's hidden state still sees every trial; only
//!   the weight update is gated.
//! - A **dropped input** is held at 0 in u_t = [w_t, x_t, y_t, r_t, a_t, s_t], so the
//!   network's output cannot depend on it (its first-layer weights get no gradient).
//!   Dropping `weights` also cuts the path ∂Δw/∂w_t from the adjoint.
//!
//! Both are exact in every kernel (f64 reference, f32 lanes, and the burn modules' own
//! `step`): the gate is a per-trial constant multiplying γ, the mask a constant multiplying
//! the input. The free rule ([`Structure::default`]) is the rule of Liu, Geadah & Pillow
//! (arXiv 2509.04661); a gated or input-dropped rule is nested in it, so held-out
//! log-likelihoods compare them directly.

use serde::{Deserialize, Serialize};

/// A gate or input name that is not one of the known ones (the command line's
/// `--gate`/`--drop-input`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What was given.
    pub got: String,
    /// The names accepted.
    pub expected: String,
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown name `{}` (expected one of: {})",
            self.got, self.expected
        )
    }
}

impl std::error::Error for UnknownName {}

/// Parses `s` as the one of `all` whose `name` it is.
fn parse_name<T: Copy>(s: &str, all: &[T], name: fn(T) -> &'static str) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| UnknownName {
            got: s.to_string(),
            expected: all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", "),
        })
}

/// Which trials' outcomes may move the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// Every trial (the free rule).
    #[default]
    None,
    /// Only rewarded trials (r_t > 0): Δw = 0 after errors.
    CorrectOnly,
    /// Only unrewarded trials (r_t ≤ 0): Δw = 0 after rewards.
    ErrorOnly,
}

impl Gate {
    /// Every gate, in the order of the command line.
    pub const ALL: [Gate; 3] = [Gate::None, Gate::CorrectOnly, Gate::ErrorOnly];

    /// The name used on the command line and in fit.toml (`none`, `correct-only`,
    /// `error-only`).
    pub fn name(self) -> &'static str {
        match self {
            Gate::None => "none",
            Gate::CorrectOnly => "correct-only",
            Gate::ErrorOnly => "error-only",
        }
    }

    /// g_t for a trial with reward `reward`: 1 where the update is allowed, else 0.
    #[inline(always)]
    pub fn value(self, reward: f64) -> f64 {
        match self {
            Gate::None => 1.0,
            Gate::CorrectOnly => f64::from(u8::from(reward > 0.0)),
            Gate::ErrorOnly => f64::from(u8::from(reward <= 0.0)),
        }
    }
}

impl std::str::FromStr for Gate {
    type Err = UnknownName;
    /// Parses `none`, `correct-only` or `error-only`; errors: [`UnknownName`].
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        parse_name(s, &Gate::ALL, Gate::name)
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One part of the rule's input u_t = [w_t, x_t, y_t, r_t, a_t, s_t] that a structural
/// variant can hide from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleInput {
    /// The reward r_t.
    Reward,
    /// The choice y_t.
    Choice,
    /// The correct side a_t.
    Answer,
    /// The session-start flag s_t.
    SessionStart,
    /// The current weights w_t (all K of them).
    Weights,
}

impl RuleInput {
    /// Every droppable input, in the order of the command line.
    pub const ALL: [RuleInput; 5] = [
        RuleInput::Reward,
        RuleInput::Choice,
        RuleInput::Answer,
        RuleInput::SessionStart,
        RuleInput::Weights,
    ];

    /// The name used on the command line and in fit.toml (`reward`, `choice`, `answer`,
    /// `session-start`, `weights`).
    pub fn name(self) -> &'static str {
        match self {
            RuleInput::Reward => "reward",
            RuleInput::Choice => "choice",
            RuleInput::Answer => "answer",
            RuleInput::SessionStart => "session-start",
            RuleInput::Weights => "weights",
        }
    }

    /// The columns of u_t this input occupies, for `k` policy weights.
    pub fn columns(self, k: usize) -> std::ops::Range<usize> {
        match self {
            RuleInput::Weights => 0..k,
            RuleInput::Choice => 2 * k..2 * k + 1,
            RuleInput::Reward => 2 * k + 1..2 * k + 2,
            RuleInput::Answer => 2 * k + 2..2 * k + 3,
            RuleInput::SessionStart => 2 * k + 3..2 * k + 4,
        }
    }
}

impl std::str::FromStr for RuleInput {
    type Err = UnknownName;
    /// Parses `reward`, `choice`, `answer`, `session-start` or `weights`; errors:
    /// [`UnknownName`].
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        parse_name(s, &RuleInput::ALL, RuleInput::name)
    }
}

impl std::fmt::Display for RuleInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The structural hypothesis a neural rule encodes: its gate and the inputs it does not
/// see. The default is the free rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct Structure {
    /// Which outcomes may move the weights.
    #[serde(default)]
    pub gate: Gate,
    /// Inputs held at 0 in u_t (sorted, no repeats once [`Structure::new`] made it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<RuleInput>,
}

impl Structure {
    /// A structure with `gate` and the inputs `drop` (sorted, duplicates removed).
    pub fn new(gate: Gate, mut drop: Vec<RuleInput>) -> Structure {
        drop.sort();
        drop.dedup();
        Structure { gate, drop }
    }

    /// True for the free rule (no gate, every input seen).
    pub fn is_free(&self) -> bool {
        self.gate == Gate::None && self.drop.is_empty()
    }

    /// True when the network sees w_t (so ∂Δw/∂w_t flows into the adjoint).
    pub fn sees_weights(&self) -> bool {
        !self.drop.contains(&RuleInput::Weights)
    }

    /// The columns of u_t held at 0, for `k` policy weights, ascending.
    pub fn dropped_columns(&self, k: usize) -> Vec<usize> {
        let mut cols: Vec<usize> = self.drop.iter().flat_map(|d| d.columns(k)).collect();
        cols.sort_unstable();
        cols
    }

    /// A short label, `""` for the free rule, else e.g. `gate=correct-only,drop=reward`
    /// (for model names in tables and figures).
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if self.gate != Gate::None {
            parts.push(format!("gate={}", self.gate.name()));
        }
        if !self.drop.is_empty() {
            let names: Vec<&str> = self.drop.iter().map(|d| d.name()).collect();
            parts.push(format!("drop={}", names.join("+")));
        }
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_cover_the_input_once() {
        let k = 3;
        let mut all: Vec<usize> = RuleInput::ALL.iter().flat_map(|d| d.columns(k)).collect();
        all.sort_unstable();
        // Everything but x_t (columns k..2k).
        let expect: Vec<usize> = (0..k).chain(2 * k..2 * k + 4).collect();
        assert_eq!(all, expect);
    }

    #[test]
    fn gate_values_and_labels() {
        assert_eq!(Gate::CorrectOnly.value(1.0), 1.0);
        assert_eq!(Gate::CorrectOnly.value(0.0), 0.0);
        assert_eq!(Gate::ErrorOnly.value(0.0), 1.0);
        assert_eq!(Gate::ErrorOnly.value(1.0), 0.0);
        let s = Structure::new(
            Gate::CorrectOnly,
            vec![RuleInput::Weights, RuleInput::Reward, RuleInput::Reward],
        );
        assert_eq!(s.label(), "gate=correct-only,drop=reward+weights");
        assert!(!s.sees_weights() && !s.is_free());
        assert!(Structure::default().is_free());
        assert_eq!(Structure::default().label(), "");
        assert_eq!("error-only".parse::<Gate>(), Ok(Gate::ErrorOnly));
        assert_eq!(
            "session-start".parse::<RuleInput>(),
            Ok(RuleInput::SessionStart)
        );
        assert!(
            "stim"
                .parse::<RuleInput>()
                .unwrap_err()
                .to_string()
                .contains("weights")
        );
    }
}

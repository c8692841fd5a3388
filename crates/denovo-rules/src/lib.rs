//! # denovo-rules
//!
//! The one abstraction of denovo, [`LearningRule`]: a learning rule is a state machine over
//! trials. Its state holds the GLM weights (and whatever else the rule needs); it exposes
//! the policy weights of a state; it steps from the state before a completed trial to the
//! state after it. Rule parameters are shared across animals; the initial weights are per
//! animal. Animals are batched: every tensor has the animals in its first dimension.
//!
//! The parametric rules here — [`Reinforce`], [`ReinforceBaseline`], [`RewardMax`],
//! [`PredictMax`] (Ashwood et al., NeurIPS 2020), [`QLearning`] and denovo's
//! history-dependent test rule [`ReinforceStreak`] — are burn modules whose parameters are
//! stored in an unconstrained form (log learning rates) so that fitting may move them
//! freely. The simulator steps the same modules with sampled choices, the fitter with
//! observed ones: one formula, one place.
//!
//! One REINFORCE step, Δw = α ⊙ r (y − p) x, for one animal after a rewarded right choice:
//!
//! ```
//! use denovo_glm::{float_tensor, to_f64_vec};
//! use denovo_rules::{LearningRule, Reinforce, TrialBatch};
//! type B = burn::backend::NdArray<f64>;
//! let device = Default::default();
//! let t = |v: Vec<f64>| float_tensor::<B, 1>(v, [1], &device);
//! let rule = Reinforce::<B>::new(&[0.1, 0.05], &device); // α for [stim, bias]
//! let w0 = float_tensor::<B, 2>(vec![0.0, 0.0], [1, 2], &device); // p(right) = 0.5
//! let trial = TrialBatch {
//!     x: float_tensor(vec![1.0, 1.0], [1, 2], &device),
//!     choice: t(vec![1.0]),
//!     reward: t(vec![1.0]),
//!     answer: t(vec![1.0]),
//!     session_start: t(vec![1.0]),
//! };
//! let state = rule.step(rule.initial_state(w0), &trial);
//! let w1 = to_f64_vec(rule.policy_weights(&state));
//! assert!((w1[0] - 0.05).abs() < 1e-12 && (w1[1] - 0.025).abs() < 1e-12);
//! ```

mod any;
pub mod closed_form;
mod parametric;
mod spec;
pub mod threads;

pub use any::ParametricRule;
pub use closed_form::{ClosedForm, ClosedFormParam};
pub use parametric::{
    Parametric, PredictMax, QLearning, Reinforce, ReinforceBaseline, ReinforceStreak, RewardMax,
};
pub use spec::{DEFAULT_STREAK_CAP, RuleKind, RuleSpec, SpecError};

use burn::tensor::{Tensor, backend::Backend};

/// One animal's trials as plain numbers (what hand-written fast paths read).
#[derive(Debug, Clone, PartialEq)]
pub struct HostSequence {
    /// Regressors of trials `0..run`, row-major.
    pub x: Vec<f64>,
    /// Choices.
    pub choice: Vec<f64>,
    /// Rewards.
    pub reward: Vec<f64>,
    /// Correct sides.
    pub answer: Vec<f64>,
    /// Session-start flags (1 for a session's first trial).
    pub session_start: Vec<f64>,
    /// The scored trials.
    pub score: std::ops::Range<usize>,
}

/// Animals' trials as plain numbers, shared without copying (the data of fused ops).
pub type SharedSequences = std::sync::Arc<[HostSequence]>;

/// A log-likelihood and its gradient computed by hand (the closed-form pass).
#[derive(Debug, Clone, PartialEq)]
pub struct FusedGradient {
    /// Summed log-likelihood of the scored trials.
    pub log_likelihood: f64,
    /// ∂LL/∂parameter for every parameter tensor: (id, shape, row-major values).
    pub params: Vec<(burn::module::ParamId, Vec<usize>, Vec<f64>)>,
    /// ∂LL/∂w0, `animals × features` row-major.
    pub d_w0: Vec<f64>,
}

/// One completed trial for a batch of animals.
#[derive(Debug, Clone)]
pub struct TrialBatch<B: Backend> {
    /// Regressors x_t, `[animals, features]`.
    pub x: Tensor<B, 2>,
    /// Choice y_t (0 = left, 1 = right), `[animals]`.
    pub choice: Tensor<B, 1>,
    /// Reward r_t, `[animals]`.
    pub reward: Tensor<B, 1>,
    /// Correct side a_t (0 = left, 1 = right), `[animals]`.
    pub answer: Tensor<B, 1>,
    /// 1 where trial t was the first of its session, else 0, `[animals]`.
    pub session_start: Tensor<B, 1>,
}

/// A learning rule: how an animal's policy changes after each trial.
///
/// The prediction of trial t uses [`policy_weights`](LearningRule::policy_weights) of the
/// state *before* trial t; [`step`](LearningRule::step) then sees trial t's outcome and
/// returns the state for trial t + 1.
pub trait LearningRule<B: Backend> {
    /// The per-animal state carried from trial to trial (at least the GLM weights).
    type State: Clone;

    /// The rule's name, as used on the command line.
    fn name(&self) -> &'static str;

    /// The state before the first trial, from initial weights w0 `[animals, features]`.
    fn initial_state(&self, w0: Tensor<B, 2>) -> Self::State;

    /// The GLM weights w_t of a state, `[animals, features]`.
    fn policy_weights(&self, state: &Self::State) -> Tensor<B, 2>;

    /// The state after trial t, given the state before it and the completed trial.
    fn step(&self, state: Self::State, trial: &TrialBatch<B>) -> Self::State;

    /// Adds `delta` (`[animals, features]`) to the policy weights of a state; the simulator
    /// uses it for Gaussian weight noise.
    fn perturb_weights(&self, state: Self::State, delta: Tensor<B, 2>) -> Self::State;

    /// The same state cut from the autodiff graph (truncated backpropagation through time:
    /// gradients stop flowing to earlier trials). The default keeps the graph (full BPTT);
    /// rules whose state is tensors override it with `detach`.
    fn detach(&self, state: Self::State) -> Self::State {
        state
    }

    /// The rule in plain-`f64` closed form, when it has one (the built-in parametric
    /// rules): the trainer then computes the likelihood and its gradient by a
    /// hand-written forward-mode pass instead of the per-trial tensor graph. `None` (the
    /// default) keeps the generic autodiff path.
    fn closed_form(&self) -> Option<ClosedForm> {
        None
    }

    /// The log-likelihood of each animal's scored trials, `[animals]`, from initial
    /// weights `w0` `[animals, features]`, by one fused op over whole sequences whose
    /// backward is hand-written and registered with the autodiff backend (the built-in
    /// neural rules; see `denovo_nn::ScanBackend`). `None` (the default) keeps the
    /// generic per-trial autodiff path.
    fn fused_log_likelihood(
        &self,
        animals: &SharedSequences,
        w0: Tensor<B, 2>,
    ) -> Option<Tensor<B, 1>> {
        let _ = (animals, w0);
        None
    }

    /// The policy weights w_t of each animal for trials `0..until[i]`, computed on the
    /// host in one pass (the built-in neural rules' fused kernels): `result[i]` holds
    /// `until[i] × features` values, row-major. Evaluation, weight trajectories and
    /// reports use it instead of a per-trial tensor loop (which on a GPU backend pays a
    /// device round trip per trial). `None` (the default) keeps the per-trial path.
    fn host_trajectories(
        &self,
        animals: &SharedSequences,
        w0: Tensor<B, 2>,
        until: &[usize],
    ) -> Option<Vec<Vec<f64>>> {
        let _ = (animals, w0, until);
        None
    }
}

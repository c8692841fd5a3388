//! The parametric rules of Ashwood et al. (2020). With p = σ(w·x), choice y, reward r and
//! correct side a (all per animal) and learning rates α per weight:
//!
//! | rule | Δw |
//! |---|---|
//! | REINFORCE | α ⊙ r (y − p) x — reward times ∇_w log π(y) |
//! | REINFORCE with baseline | α ⊙ (r − β) ⊙ (y − p) x, one baseline β per weight |
//! | RewardMax | α ⊙ (2a − 1) p (1 − p) x — ∇_w of the expected reward |
//! | PredictMax | α ⊙ (a − p) x — ∇_w log p(a), predicting the correct side |
//! | REINFORCE-streak (denovo's test rule) | α ⊙ (1 + min(k, K)) r (y − p) x, k = rewarded trials in a row just before |
//!
//! | Q-learning | Q_side = θ_side · x; δ = r − Q_chosen; θ_chosen += α ⊙ δ x; w = τ (θ_R − θ_L) |
//!
//! (Q-learning's state is the pair θ_R, θ_L; its policy σ(τ (Q_R − Q_L)) is the GLM with
//! w = τ (θ_R − θ_L), τ the inverse temperature.)
//!
//! α is stored as log α (so α > 0 while fitting; α = 0 is log α = −∞, usable in
//! simulation). β is unconstrained.

use crate::{ClosedForm, ClosedFormParam, LearningRule, RuleKind, RuleSpec, TrialBatch};
use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};

fn vector<B: Backend>(values: &[f64], device: &B::Device) -> Tensor<B, 1> {
    denovo_glm::float_tensor(values.to_vec(), [values.len()], device)
}

fn log_param<B: Backend>(alpha: &[f64], device: &B::Device) -> Param<Tensor<B, 1>> {
    let logs: Vec<f64> = alpha.iter().map(|a| a.ln()).collect();
    Param::from_tensor(vector(&logs, device))
}

/// p = σ(w·x) as `[animals, 1]`, ready to broadcast over features.
fn policy<B: Backend>(w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
    denovo_glm::prob_right(w, trial.x.clone()).unsqueeze_dim(1)
}

fn col<B: Backend>(v: Tensor<B, 1>) -> Tensor<B, 2> {
    v.unsqueeze_dim(1)
}

fn row<B: Backend>(v: Tensor<B, 1>) -> Tensor<B, 2> {
    v.unsqueeze_dim(0)
}

/// The closed form of a weights-only rule from its parameters.
fn closed_form_of<B: Backend>(
    kind: RuleKind,
    log_alpha: &Param<Tensor<B, 1>>,
    beta: Option<&Param<Tensor<B, 1>>>,
) -> Option<ClosedForm> {
    let log_alpha_values = denovo_glm::to_f64_vec(log_alpha.val());
    let mut params = vec![ClosedFormParam {
        id: log_alpha.id,
        values: log_alpha_values.clone(),
    }];
    let beta_values = beta
        .map(|b| denovo_glm::to_f64_vec(b.val()))
        .unwrap_or_default();
    if let Some(b) = beta {
        params.push(ClosedFormParam {
            id: b.id,
            values: beta_values.clone(),
        });
    }
    Some(ClosedForm {
        kind,
        alpha: log_alpha_values.iter().map(|v| v.exp()).collect(),
        beta: beta_values,
        tau: 1.0,
        streak_cap: 0,
        params,
    })
}

macro_rules! weights_only_state {
    () => {
        type State = Tensor<B, 2>;
        fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
            w0
        }
        fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
            state.clone()
        }
        fn detach(&self, state: Tensor<B, 2>) -> Tensor<B, 2> {
            state.detach()
        }
        fn perturb_weights(&self, state: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
            state + delta
        }
    };
}

/// REINFORCE: Δw = α ⊙ r (y − p) x.
#[derive(Module, Debug)]
pub struct Reinforce<B: Backend> {
    /// log α, one per weight.
    pub log_alpha: Param<Tensor<B, 1>>,
}

impl<B: Backend> Reinforce<B> {
    /// A rule with learning rates `alpha` (one per regressor, ≥ 0).
    pub fn new(alpha: &[f64], device: &B::Device) -> Self {
        Reinforce {
            log_alpha: log_param(alpha, device),
        }
    }
    /// The learning rates α.
    pub fn alpha(&self) -> Tensor<B, 1> {
        self.log_alpha.val().exp()
    }
}

impl<B: Backend> LearningRule<B> for Reinforce<B> {
    weights_only_state!();
    fn closed_form(&self) -> Option<ClosedForm> {
        closed_form_of(RuleKind::Reinforce, &self.log_alpha, None)
    }
    fn name(&self) -> &'static str {
        "reinforce"
    }
    fn step(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let p = policy(w.clone(), trial);
        let g = (col(trial.choice.clone()) - p) * col(trial.reward.clone()) * trial.x.clone();
        w + g * row(self.alpha())
    }
}

/// REINFORCE with a baseline per weight: Δw = α ⊙ (r − β) ⊙ (y − p) x.
#[derive(Module, Debug)]
pub struct ReinforceBaseline<B: Backend> {
    /// log α, one per weight.
    pub log_alpha: Param<Tensor<B, 1>>,
    /// β, one per weight.
    pub beta: Param<Tensor<B, 1>>,
}

impl<B: Backend> ReinforceBaseline<B> {
    /// A rule with learning rates `alpha` and baselines `beta` (one each per regressor).
    pub fn new(alpha: &[f64], beta: &[f64], device: &B::Device) -> Self {
        ReinforceBaseline {
            log_alpha: log_param(alpha, device),
            beta: Param::from_tensor(vector(beta, device)),
        }
    }
    /// The learning rates α.
    pub fn alpha(&self) -> Tensor<B, 1> {
        self.log_alpha.val().exp()
    }
}

impl<B: Backend> LearningRule<B> for ReinforceBaseline<B> {
    weights_only_state!();
    fn closed_form(&self) -> Option<ClosedForm> {
        closed_form_of(
            RuleKind::ReinforceBaseline,
            &self.log_alpha,
            Some(&self.beta),
        )
    }
    fn name(&self) -> &'static str {
        "reinforce-baseline"
    }
    fn step(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let p = policy(w.clone(), trial);
        let grad_log_pi = (col(trial.choice.clone()) - p) * trial.x.clone();
        let advantage = col(trial.reward.clone()) - row(self.beta.val());
        w + grad_log_pi * advantage * row(self.alpha())
    }
}

/// RewardMax: gradient ascent on the expected reward, Δw = α ⊙ (2a − 1) p (1 − p) x.
#[derive(Module, Debug)]
pub struct RewardMax<B: Backend> {
    /// log α, one per weight.
    pub log_alpha: Param<Tensor<B, 1>>,
}

impl<B: Backend> RewardMax<B> {
    /// A rule with learning rates `alpha`.
    pub fn new(alpha: &[f64], device: &B::Device) -> Self {
        RewardMax {
            log_alpha: log_param(alpha, device),
        }
    }
    /// The learning rates α.
    pub fn alpha(&self) -> Tensor<B, 1> {
        self.log_alpha.val().exp()
    }
}

impl<B: Backend> LearningRule<B> for RewardMax<B> {
    weights_only_state!();
    fn closed_form(&self) -> Option<ClosedForm> {
        closed_form_of(RuleKind::Rewardmax, &self.log_alpha, None)
    }
    fn name(&self) -> &'static str {
        "rewardmax"
    }
    fn step(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let p = policy(w.clone(), trial);
        let sign = col(trial.answer.clone()) * 2.0 - 1.0;
        let g = sign * p.clone() * (p.neg() + 1.0) * trial.x.clone();
        w + g * row(self.alpha())
    }
}

/// PredictMax: gradient ascent on log p(correct side), Δw = α ⊙ (a − p) x.
#[derive(Module, Debug)]
pub struct PredictMax<B: Backend> {
    /// log α, one per weight.
    pub log_alpha: Param<Tensor<B, 1>>,
}

impl<B: Backend> PredictMax<B> {
    /// A rule with learning rates `alpha`.
    pub fn new(alpha: &[f64], device: &B::Device) -> Self {
        PredictMax {
            log_alpha: log_param(alpha, device),
        }
    }
    /// The learning rates α.
    pub fn alpha(&self) -> Tensor<B, 1> {
        self.log_alpha.val().exp()
    }
}

impl<B: Backend> LearningRule<B> for PredictMax<B> {
    weights_only_state!();
    fn closed_form(&self) -> Option<ClosedForm> {
        closed_form_of(RuleKind::Predictmax, &self.log_alpha, None)
    }
    fn name(&self) -> &'static str {
        "predictmax"
    }
    fn step(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let p = policy(w.clone(), trial);
        let g = (col(trial.answer.clone()) - p) * trial.x.clone();
        w + g * row(self.alpha())
    }
}

/// Q-learning with linear Q-values per side: Q_R = θ_R · x, Q_L = θ_L · x; after a choice,
/// δ = r − Q_chosen and θ_chosen += α ⊙ δ x; the policy is σ(τ (Q_R − Q_L)), i.e. the GLM
/// with w = τ (θ_R − θ_L). The state is `[θ_R | θ_L]`, `[animals, 2 × features]`.
#[derive(Module, Debug)]
pub struct QLearning<B: Backend> {
    /// log α, one per weight.
    pub log_alpha: Param<Tensor<B, 1>>,
    /// log τ (inverse temperature), `[1]`.
    pub log_inverse_temperature: Param<Tensor<B, 1>>,
}

impl<B: Backend> QLearning<B> {
    /// A rule with learning rates `alpha` and inverse temperature `tau` (> 0).
    pub fn new(alpha: &[f64], tau: f64, device: &B::Device) -> Self {
        QLearning {
            log_alpha: log_param(alpha, device),
            log_inverse_temperature: log_param(&[tau], device),
        }
    }
    /// The learning rates α.
    pub fn alpha(&self) -> Tensor<B, 1> {
        self.log_alpha.val().exp()
    }
    /// The inverse temperature τ, `[1]`.
    pub fn inverse_temperature(&self) -> Tensor<B, 1> {
        self.log_inverse_temperature.val().exp()
    }
    fn halves(state: &Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let [a, k2] = state.dims();
        let k = k2 / 2;
        (
            state.clone().slice([0..a, 0..k]),
            state.clone().slice([0..a, k..k2]),
        )
    }
}

impl<B: Backend> LearningRule<B> for QLearning<B> {
    type State = Tensor<B, 2>;
    fn closed_form(&self) -> Option<ClosedForm> {
        let log_alpha = denovo_glm::to_f64_vec(self.log_alpha.val());
        let log_tau = denovo_glm::to_f64_vec(self.log_inverse_temperature.val());
        Some(ClosedForm {
            kind: RuleKind::Qlearning,
            alpha: log_alpha.iter().map(|v| v.exp()).collect(),
            beta: vec![],
            tau: log_tau[0].exp(),
            streak_cap: 0,
            params: vec![
                ClosedFormParam {
                    id: self.log_alpha.id,
                    values: log_alpha,
                },
                ClosedFormParam {
                    id: self.log_inverse_temperature.id,
                    values: log_tau,
                },
            ],
        })
    }
    fn name(&self) -> &'static str {
        "qlearning"
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        // θ_R = w0 / 2τ, θ_L = −w0 / 2τ, so that τ (θ_R − θ_L) = w0.
        let half = w0 / row(self.inverse_temperature()) / 2.0;
        denovo_glm::cat(vec![half.clone(), half.neg()], 1)
    }
    fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
        let (right, left) = Self::halves(state);
        (right - left) * row(self.inverse_temperature())
    }
    fn step(&self, state: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let (right, left) = Self::halves(&state);
        let x = trial.x.clone();
        let y = col(trial.choice.clone());
        let q_right = (right.clone() * x.clone()).sum_dim(1);
        let q_left = (left.clone() * x.clone()).sum_dim(1);
        let q_chosen = y.clone() * q_right + (y.clone().neg() + 1.0) * q_left;
        let delta = col(trial.reward.clone()) - q_chosen;
        let update = delta * x * row(self.alpha());
        let right = right + update.clone() * y.clone();
        let left = left + update * (y.neg() + 1.0);
        denovo_glm::cat(vec![right, left], 1)
    }
    fn detach(&self, state: Tensor<B, 2>) -> Tensor<B, 2> {
        state.detach()
    }
    fn perturb_weights(&self, state: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
        let half = delta / row(self.inverse_temperature()) / 2.0;
        state + denovo_glm::cat(vec![half.clone(), half.neg()], 1)
    }
}

/// REINFORCE whose step grows with the run of rewards just before the trial:
///
/// Δw_t = α ⊙ (1 + min(k_t, K)) · r_t (y_t − p_t) x_t,
///
/// where k_t is the number of consecutive rewarded trials (r > 0) immediately before trial
/// t — 0 when trial t − 1 was unrewarded or t is the animal's first trial; the count runs
/// on across session boundaries — and K is the cap ([`RuleSpec::streak_cap`], default
/// [`crate::DEFAULT_STREAK_CAP`] = 3). With K = 0 it is [`Reinforce`] exactly.
///
/// Source: denovo's own test rule for the history claim of Liu, Geadah & Pillow (2025,
/// §5): a true rule whose update depends on the trial history, which the RNN rule should
/// recover and the history-free DNN rule cannot (issue 12, item 5). It is not a rule from
/// the literature.
///
/// The state is `[animals, features + 1]`: the weights w in the first `features` columns,
/// the current (uncapped) streak count k in the last. The count depends only on the
/// observed rewards, so no gradient flows through it.
#[derive(Module, Debug)]
pub struct ReinforceStreak<B: Backend> {
    /// log α, one per weight.
    pub log_alpha: Param<Tensor<B, 1>>,
    /// The cap K of the streak count (fixed, not fitted).
    pub cap: usize,
}

impl<B: Backend> ReinforceStreak<B> {
    /// A rule with learning rates `alpha` (one per regressor, ≥ 0) and streak cap `cap`.
    pub fn new(alpha: &[f64], cap: usize, device: &B::Device) -> Self {
        ReinforceStreak {
            log_alpha: log_param(alpha, device),
            cap,
        }
    }
    /// The learning rates α.
    pub fn alpha(&self) -> Tensor<B, 1> {
        self.log_alpha.val().exp()
    }
    /// The streak counts k of a state, `[animals, 1]`.
    pub fn streak(state: &Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, d] = state.dims();
        state.clone().slice([0..n, d - 1..d])
    }
}

impl<B: Backend> LearningRule<B> for ReinforceStreak<B> {
    type State = Tensor<B, 2>;
    fn closed_form(&self) -> Option<ClosedForm> {
        let mut form = closed_form_of(RuleKind::ReinforceStreak, &self.log_alpha, None)?;
        form.streak_cap = self.cap;
        Some(form)
    }
    fn name(&self) -> &'static str {
        "reinforce-streak"
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, _] = w0.dims();
        let zeros = Tensor::zeros([n, 1], (&w0.device(), w0.dtype()));
        denovo_glm::cat(vec![w0, zeros], 1)
    }
    fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, d] = state.dims();
        state.clone().slice([0..n, 0..d - 1])
    }
    fn step(&self, state: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let w = self.policy_weights(&state);
        let streak = Self::streak(&state).detach();
        let p = policy(w.clone(), trial);
        let factor = streak.clone().clamp_max(self.cap as f64) + 1.0;
        let g = (col(trial.choice.clone()) - p) * col(trial.reward.clone()) * trial.x.clone();
        let w = w + g * factor * row(self.alpha());
        let rewarded = col(trial.reward.clone()).greater_elem(0.0).float();
        denovo_glm::cat(vec![w, (streak + 1.0) * rewarded], 1)
    }
    fn detach(&self, state: Tensor<B, 2>) -> Tensor<B, 2> {
        state.detach()
    }
    fn perturb_weights(&self, state: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, _] = delta.dims();
        let zeros = Tensor::zeros([n, 1], (&delta.device(), delta.dtype()));
        state + denovo_glm::cat(vec![delta, zeros], 1)
    }
}

/// A parametric rule that converts to and from its [`RuleSpec`] (the parameters as plain
/// numbers, for simulation settings, fit reports and starting points).
pub trait Parametric<B: Backend>: LearningRule<B> + Sized {
    /// The rule with the parameters of `spec` (already validated for its kind).
    fn from_spec(spec: &RuleSpec, device: &B::Device) -> Self;
    /// The current parameters.
    fn spec(&self) -> RuleSpec;
}

fn values<B: Backend>(t: Tensor<B, 1>) -> Vec<f64> {
    denovo_glm::to_f64_vec(t)
}

impl<B: Backend> Parametric<B> for Reinforce<B> {
    fn from_spec(spec: &RuleSpec, device: &B::Device) -> Self {
        Reinforce::new(&spec.alpha, device)
    }
    fn spec(&self) -> RuleSpec {
        RuleSpec {
            kind: RuleKind::Reinforce,
            alpha: values(self.alpha()),
            beta: vec![],
            inverse_temperature: None,
            streak_cap: None,
        }
    }
}

impl<B: Backend> Parametric<B> for ReinforceBaseline<B> {
    fn from_spec(spec: &RuleSpec, device: &B::Device) -> Self {
        ReinforceBaseline::new(&spec.alpha, &spec.beta, device)
    }
    fn spec(&self) -> RuleSpec {
        RuleSpec {
            kind: RuleKind::ReinforceBaseline,
            alpha: values(self.alpha()),
            beta: values(self.beta.val()),
            inverse_temperature: None,
            streak_cap: None,
        }
    }
}

impl<B: Backend> Parametric<B> for RewardMax<B> {
    fn from_spec(spec: &RuleSpec, device: &B::Device) -> Self {
        RewardMax::new(&spec.alpha, device)
    }
    fn spec(&self) -> RuleSpec {
        RuleSpec {
            kind: RuleKind::Rewardmax,
            alpha: values(self.alpha()),
            beta: vec![],
            inverse_temperature: None,
            streak_cap: None,
        }
    }
}

impl<B: Backend> Parametric<B> for PredictMax<B> {
    fn from_spec(spec: &RuleSpec, device: &B::Device) -> Self {
        PredictMax::new(&spec.alpha, device)
    }
    fn spec(&self) -> RuleSpec {
        RuleSpec {
            kind: RuleKind::Predictmax,
            alpha: values(self.alpha()),
            beta: vec![],
            inverse_temperature: None,
            streak_cap: None,
        }
    }
}

impl<B: Backend> Parametric<B> for QLearning<B> {
    fn from_spec(spec: &RuleSpec, device: &B::Device) -> Self {
        QLearning::new(&spec.alpha, spec.inverse_temperature.unwrap_or(1.0), device)
    }
    fn spec(&self) -> RuleSpec {
        RuleSpec {
            kind: RuleKind::Qlearning,
            alpha: values(self.alpha()),
            beta: vec![],
            inverse_temperature: values(self.inverse_temperature()).first().copied(),
            streak_cap: None,
        }
    }
}

impl<B: Backend> Parametric<B> for ReinforceStreak<B> {
    fn from_spec(spec: &RuleSpec, device: &B::Device) -> Self {
        let cap = spec.streak_cap.unwrap_or(crate::DEFAULT_STREAK_CAP);
        ReinforceStreak::new(&spec.alpha, cap, device)
    }
    fn spec(&self) -> RuleSpec {
        RuleSpec {
            kind: RuleKind::ReinforceStreak,
            alpha: values(self.alpha()),
            beta: vec![],
            inverse_temperature: None,
            streak_cap: Some(self.cap),
        }
    }
}

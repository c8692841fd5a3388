//! The parametric rules of Ashwood et al. (2020). With p = σ(w·x), choice y, reward r and
//! correct side a (all per animal) and learning rates α per weight:
//!
//! | rule | Δw |
//! |---|---|
//! | REINFORCE | α ⊙ r (y − p) x — reward times ∇_w log π(y) |
//! | REINFORCE with baseline | α ⊙ (r − β) ⊙ (y − p) x, one baseline β per weight |
//! | RewardMax | α ⊙ (2a − 1) p (1 − p) x — ∇_w of the expected reward |
//! | PredictMax | α ⊙ (a − p) x — ∇_w log p(a), predicting the correct side |
//!
//! α is stored as log α (so α > 0 while fitting; α = 0 is log α = −∞, usable in
//! simulation). β is unconstrained.

use crate::{LearningRule, TrialBatch};
use burn::module::{Module, Param};
use burn::tensor::{Tensor, TensorData, backend::Backend};

fn vector<B: Backend>(values: &[f64], device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
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

macro_rules! weights_only_state {
    () => {
        type State = Tensor<B, 2>;
        fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
            w0
        }
        fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
            state.clone()
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
    fn name(&self) -> &'static str {
        "predictmax"
    }
    fn step(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let p = policy(w.clone(), trial);
        let g = (col(trial.answer.clone()) - p) * trial.x.clone();
        w + g * row(self.alpha())
    }
}

//! Write a learning rule of your own as a burn module and fit it through the study API.
//!
//! REINFORCE with forgetting: Δw = α ⊙ r (y − p) x − λ ⊙ w. Implementing `LearningRule`
//! (and `Describe`, for the summary) is all it takes; burn's autodiff gives the gradients.
//! `cargo run --release -p denovo-study --example custom_rule`

use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::{LearningRule, RuleKind, RuleSpec, TrialBatch};
use denovo_study::{CpuBackend, Describe, FitOptions, FitSpec, ModelSpec, fit_rule};

/// REINFORCE with forgetting; log α and log λ, one per weight, keep both positive.
#[derive(Module, Debug)]
pub struct Forgetful<B: Backend> {
    log_alpha: Param<Tensor<B, 1>>,
    log_lambda: Param<Tensor<B, 1>>,
}

impl<B: Backend> LearningRule<B> for Forgetful<B> {
    type State = Tensor<B, 2>; // the weights, [animals, features]
    fn name(&self) -> &'static str {
        "forgetful"
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        w0
    }
    fn policy_weights(&self, w: &Tensor<B, 2>) -> Tensor<B, 2> {
        w.clone()
    }
    fn perturb_weights(&self, w: Tensor<B, 2>, d: Tensor<B, 2>) -> Tensor<B, 2> {
        w + d
    }
    fn detach(&self, w: Tensor<B, 2>) -> Tensor<B, 2> {
        w.detach()
    }
    fn step(&self, w: Tensor<B, 2>, t: &TrialBatch<B>) -> Tensor<B, 2> {
        let p = denovo_glm::prob_right(w.clone(), t.x.clone()).unsqueeze_dim(1);
        let (y, r) = (
            t.choice.clone().unsqueeze_dim(1),
            t.reward.clone().unsqueeze_dim(1),
        );
        let alpha = self.log_alpha.val().exp().unsqueeze_dim(0);
        let lambda = self.log_lambda.val().exp().unsqueeze_dim(0);
        w.clone() + (y - p) * r * t.x.clone() * alpha - w * lambda
    }
}

impl<B: Backend> Describe for Forgetful<B> {
    fn parameters(&self) -> serde_json::Value {
        let (a, l) = (self.log_alpha.val().exp(), self.log_lambda.val().exp());
        serde_json::json!({ "alpha": to_f64_vec(a), "lambda": to_f64_vec(l) })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 20 animals that learn by plain REINFORCE: the fitted forgetting rate should be small.
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.05);
    let config = denovo_sim::CohortConfig {
        animals: 20,
        trials: 1000,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth, &config)?;

    let mut spec = FitSpec::new("simulated", ModelSpec::parametric(RuleKind::Reinforce));
    (spec.split.holdout_sessions, spec.training.epochs) = (0.2, Some(200));
    let device = Default::default();
    let logs = |v: f64| Param::from_tensor(float_tensor(vec![v.ln(); 2], [2], &device));
    let start = || Forgetful::<CpuBackend> {
        log_alpha: logs(0.02),
        log_lambda: logs(0.01),
    };
    let options = FitOptions {
        dataset: Some(&cohort.dataset),
        ..Default::default()
    };
    let result = fit_rule(&spec, &device, &start, options)?;
    println!(
        "fitted {} (true α = 0.05, λ = 0)",
        result.summary.parameters
    );
    println!(
        "held-out LL {:.4}",
        result.summary.heldout_sessions.unwrap().ll_per_trial
    );
    Ok(())
}

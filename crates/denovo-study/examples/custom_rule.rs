//! A learning rule of your own, written as a burn module and fitted through the study API:
//! REINFORCE with forgetting, Δw = α ⊙ r (y − p) x − λ ⊙ w (burn's autodiff gives the
//! gradients). `cargo run --release -p denovo-study --example custom_rule`

use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};
use denovo_glm::{float_tensor, prob_right, to_f64_vec};
use denovo_study::{CpuBackend, Describe, FitOptions, FitSpec, LearningRule, ModelSpec};
use denovo_study::{RuleKind, RuleSpec, TrialBatch, fit_rule};

#[derive(Module, Debug)]
pub struct Forgetful<B: Backend> {
    log_alpha: Param<Tensor<B, 1>>, // log α, one per weight (logs keep α, λ > 0)
    log_lambda: Param<Tensor<B, 1>>, // log λ, one per weight
}

#[rustfmt::skip]
impl<B: Backend> LearningRule<B> for Forgetful<B> {
    type State = Tensor<B, 2>; // the weights w, [animals, features]; step gives w + Δw
    fn name(&self) -> &'static str { "forgetful" }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> { w0 }
    fn policy_weights(&self, w: &Tensor<B, 2>) -> Tensor<B, 2> { w.clone() }
    fn perturb_weights(&self, w: Tensor<B, 2>, d: Tensor<B, 2>) -> Tensor<B, 2> { w + d }
    fn step(&self, w: Tensor<B, 2>, t: &TrialBatch<B>) -> Tensor<B, 2> {
        let p = prob_right(w.clone(), t.x.clone()).unsqueeze_dim(1);
        let (y, r) = (t.choice.clone().unsqueeze_dim(1), t.reward.clone().unsqueeze_dim(1));
        let alpha = self.log_alpha.val().exp().unsqueeze_dim(0);
        let lambda = self.log_lambda.val().exp().unsqueeze_dim(0);
        w.clone() + (y - p) * r * t.x.clone() * alpha - w * lambda
    }
}

impl<B: Backend> Describe for Forgetful<B> {
    fn parameters(&self) -> serde_json::Value {
        let (a, l) = (self.log_alpha.val().exp(), self.log_lambda.val().exp());
        serde_json::json!({ "alpha": to_f64_vec(a), "lambda": to_f64_vec(l) }) // summary.json
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("10 animals that learn by REINFORCE (α = 0.05, λ = 0); fitting takes ~30 s");
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.05);
    let cohort = denovo_sim::simulate(&truth, &Default::default())?;
    // Data in memory; a parametric model kind gives its training defaults (lr 0.1, L-BFGS).
    let mut spec = FitSpec::new("cohort", ModelSpec::parametric(RuleKind::Reinforce));
    spec.first_trials = Some(600); // of each animal's 2,000
    (spec.split.holdout_sessions, spec.training.epochs) = (0.2, Some(100));
    let device = Default::default();
    let logs = |v: f64| Param::from_tensor(float_tensor(vec![v.ln(); 2], [2], &device));
    #[rustfmt::skip]
    let start = || Forgetful::<CpuBackend> { log_alpha: logs(0.02), log_lambda: logs(0.01) };
    let options = FitOptions::with_dataset(&cohort.dataset);
    let s = fit_rule(&spec, &device, &start, options)?.summary;
    let held = s.heldout_sessions.expect("20% held out").ll_per_trial;
    println!(
        "fitted {} (truth α 0.05, λ 0); held-out LL {held:.4}",
        s.parameters
    );
    Ok(())
}

//! Use denovo as a library with a learning rule of your own, written as a burn module.
//!
//! The rule here is REINFORCE with forgetting: Δw = α ⊙ r (y − p) x − λ ⊙ w, each weight
//! decaying toward 0 at rate λ. Implementing `LearningRule` is all it takes: the simulator
//! steps it to generate a cohort, and the trainer fits it by backpropagation through the
//! whole trajectory (the generic autodiff path — custom rules need no hand-written
//! gradients).
//!
//! ```sh
//! cargo run --release -p denovo-nn --example custom_rule
//! ```

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, Module, Param};
use burn::tensor::{Tensor, backend::Backend};
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::{LearningRule, TrialBatch};
use denovo_train::{FitConfig, FitHooks, RuleFit, SequenceBatch};

/// REINFORCE with forgetting. Parameters are stored as logs so they stay positive.
#[derive(Module, Debug)]
pub struct ForgetfulReinforce<B: Backend> {
    /// log α, one per weight.
    pub log_alpha: Param<Tensor<B, 1>>,
    /// log λ, one per weight.
    pub log_lambda: Param<Tensor<B, 1>>,
}

impl<B: Backend> ForgetfulReinforce<B> {
    fn new(alpha: &[f64], lambda: &[f64], device: &B::Device) -> Self {
        let logs = |v: &[f64]| float_tensor(v.iter().map(|a| a.ln()).collect(), [v.len()], device);
        ForgetfulReinforce {
            log_alpha: Param::from_tensor(logs(alpha)),
            log_lambda: Param::from_tensor(logs(lambda)),
        }
    }
}

impl<B: Backend> LearningRule<B> for ForgetfulReinforce<B> {
    /// The state is just the weights, `[animals, features]`.
    type State = Tensor<B, 2>;

    fn name(&self) -> &'static str {
        "forgetful-reinforce"
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        w0
    }
    fn policy_weights(&self, w: &Tensor<B, 2>) -> Tensor<B, 2> {
        w.clone()
    }
    fn step(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let p = denovo_glm::prob_right(w.clone(), trial.x.clone()).unsqueeze_dim(1);
        let y = trial.choice.clone().unsqueeze_dim(1);
        let r = trial.reward.clone().unsqueeze_dim(1);
        let alpha = self.log_alpha.val().exp().unsqueeze_dim(0);
        let lambda = self.log_lambda.val().exp().unsqueeze_dim(0);
        w.clone() + (y - p) * r * trial.x.clone() * alpha - w * lambda
    }
    fn perturb_weights(&self, w: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
        w + delta
    }
    fn detach(&self, w: Tensor<B, 2>) -> Tensor<B, 2> {
        w.detach()
    }
}

type B = Autodiff<NdArray<f32>>;

fn main() {
    let device = Default::default();
    // 1. Simulate 200 animals × 1,000 trials with the true rule (f64 for the simulation).
    let truth = ForgetfulReinforce::<NdArray<f64>>::new(&[0.08, 0.03], &[0.002, 0.01], &device);
    let config = denovo_sim::CohortConfig {
        animals: 200,
        trials: 1000,
        seed: 7,
        ..Default::default()
    };
    let (data, _) = denovo_sim::simulate_rule(&truth, &config, &device).expect("valid settings");
    println!(
        "simulated {} trials, accuracy {:.3}",
        data.n_trials(),
        data.accuracy()
    );

    // 2. Fit the same rule, starting from a wrong guess, with burn autodiff + Adam.
    let design = data.design(&Default::default()).expect("stim and bias");
    let batch = SequenceBatch::<B>::whole(&design.subjects, &device);
    let w0 = float_tensor::<B, 2>(vec![0.0; 400], [200, 2], &device);
    let start = ForgetfulReinforce::<B>::new(&[0.02, 0.02], &[0.02, 0.02], &device);
    let fit_config = FitConfig {
        epochs: 300,
        learning_rate: 0.1,
        lr_step: 100,
        lbfgs_iterations: 20,
        ..FitConfig::default()
    };
    let fitted = denovo_train::fit(
        RuleFit::fixed_w0(start),
        &batch,
        &w0,
        &fit_config,
        FitHooks::default(),
        &mut |r, _| {
            if r.epoch % 50 == 0 {
                println!("epoch {:3}  loss {:.5} nats/trial", r.epoch, r.loss);
            }
            true
        },
    )
    .expect("finite loss");
    let rule = fitted.model.valid().rule;
    println!(
        "α: fitted {:?}, true [0.08, 0.03]",
        to_f64_vec(rule.log_alpha.val().exp())
    );
    println!(
        "λ: fitted {:?}, true [0.002, 0.01]",
        to_f64_vec(rule.log_lambda.val().exp())
    );
}

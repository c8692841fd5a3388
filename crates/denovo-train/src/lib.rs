//! # denovo-train
//!
//! Fits any differentiable [`LearningRule`](denovo_rules::LearningRule) by maximum
//! likelihood of the observed choices: a batch of animals is unrolled trial by trial
//! ([`SequenceBatch`]), the policy's log-likelihood is summed over the scored trials
//! ([`sequence_log_likelihood`]), and burn's autodiff backpropagates through the whole
//! trajectory to the rule's parameters (and, optionally, each animal's initial weights).
//! [`fit`] runs Adam with a step learning-rate schedule and gradient clipping, and stops
//! with the last good parameters on a non-finite loss. [`evaluate`] scores a rule on any
//! batch: per-trial log-likelihood and accuracy, per animal.
//!
//! Fit REINFORCE to a simulated cohort and score it:
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use burn::module::AutodiffModule;
//! use denovo_glm::float_tensor;
//! use denovo_rules::{Reinforce, RuleKind, RuleSpec};
//! use denovo_train::{FitConfig, FitHooks, RuleFit, SequenceBatch, evaluate, fit};
//! type B = Autodiff<NdArray<f32>>;
//! let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
//! let config = denovo_sim::CohortConfig { animals: 4, trials: 500, ..Default::default() };
//! let cohort = denovo_sim::simulate(&truth, &config).unwrap();
//! let design = cohort.dataset.design(&Default::default()).unwrap(); // stim, bias
//! let device = Default::default();
//! let batch = SequenceBatch::<B>::whole(&design.subjects, &device);
//! let w0 = float_tensor::<B, 2>(vec![0.0; 8], [4, 2], &device);
//! let start = RuleFit::fixed_w0(Reinforce::<B>::new(&[0.01, 0.01], &device));
//! let settings = FitConfig { epochs: 100, learning_rate: 0.1, ..FitConfig::default() };
//! let fitted = fit(start, &batch, &w0, &settings, FitHooks::default(), &mut |_, _| true)
//!     .unwrap();
//! assert!(fitted.history.last().unwrap() < &fitted.history[0]); // the loss went down
//! let rule = fitted.model.valid().rule;
//! let inner = SequenceBatch::whole(&design.subjects, &device);
//! let score = evaluate(&rule, &inner, w0.inner());
//! assert!(score.ll_per_trial > -0.69); // better than chance, nats/trial
//! ```

mod average;
mod batch;
mod evaluate;
mod fast;
mod fit;
pub mod readout;

pub use batch::{SequenceBatch, SubjectWindow, shuffled_chunks};
pub use denovo_rules::HostSequence;
pub use evaluate::{AnimalScore, Evaluation, evaluate, weight_trajectories};
pub use fast::{ClosedFormValue, closed_form_value, closed_form_walk};
pub use fit::{
    AdamState, Checkpoint, EpochReport, FitConfig, FitFailure, FitHooks, FitResult, Fitted,
    GradientPath, Resume, RuleFit, Validation, fit, loss_and_gradients, sequence_log_likelihood,
    truncated_log_likelihood,
};

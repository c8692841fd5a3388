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

mod batch;
mod evaluate;
mod fast;
mod fit;
pub mod readout;

pub use batch::{SequenceBatch, SubjectWindow};
pub use denovo_rules::HostSequence;
pub use evaluate::{AnimalScore, Evaluation, evaluate, weight_trajectories};
pub use fast::{ClosedFormValue, closed_form_value, closed_form_walk};
pub use fit::{
    AdamState, Checkpoint, EpochReport, FitConfig, FitFailure, FitHooks, FitResult, Fitted,
    GradientPath, Resume, RuleFit, Validation, fit, loss_and_gradients, sequence_log_likelihood,
    truncated_log_likelihood,
};

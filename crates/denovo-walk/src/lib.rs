//! # denovo-walk
//!
//! Random-walk models of trial-by-trial behaviour — PsyTrack (Roy et al. 2021, *Neuron*;
//! the Python package psytrack 2.0.2) inside denovo: p(right) = σ(x_t · w_t) with
//! w_0 ~ N(0, σ_init² I) and w_t = w_{t−1} + ε_t, ε_t ~ N(0, diag σ²) (σ_day² into a
//! session's first trial, when given).
//!
//! - [`map_estimate`]: the MAP weights by Newton's method on the block-tridiagonal posterior
//!   ([`blocks`], O(T K³)), the Laplace evidence, posterior SDs ([`MapFit::posterior_sd`]).
//! - [`optimise`]: σ (and σ_day) by maximising the Laplace evidence with its exact gradient
//!   ([`evidence_gradient`]).
//! - [`filter`]: one-step-ahead prediction of every trial from the trials before it (a
//!   Gaussian filter, moment-matched after every trial).
//!
//! - [`optimise_rule`], [`map_rule`], [`filter_rule`]: learning rules with noise (Ashwood
//!   et al. 2020): a parametric rule's step as the drift of the walk, its parameters and σ
//!   by the Laplace evidence ([`RuleDrift`]).
//! - [`optimise_drift`], [`map_drift`], [`filter_drift`]: a drift the caller supplies
//!   ([`WeightDrift`], e.g. a fitted neural rule: the DNN and RNN rules with noise), held
//!   fixed while σ is fitted by the Laplace evidence.
//!
//! Everything is plain f64 on slices; [`Series`] borrows one animal's regressors
//! (`[trials, K]`), choices and session starts, e.g. from a
//! [`SubjectDesign`](denovo_data::SubjectDesign) with [`series`].

pub mod blocks;
mod drift;
mod filter;
mod given;
mod hyper;
mod model;

pub use drift::{
    RuleDrift, RuleWalkFit, Trials, filter_rule, map_rule, mean_path, optimise_rule, trials,
};
pub use filter::{Gaussian, Prediction, Start, filter, predictive_p};
pub use given::{WeightDrift, filter_drift, map_drift, optimise_drift};
pub use hyper::{OptimiseOptions, WalkFit, evidence, optimise};
pub use model::{Free, Hyper, MapFit, Series, evidence_gradient, map_estimate};

/// psytrack's default σ_init, 2⁴.
pub const SIGMA_INIT: f64 = 16.0;
/// psytrack's tutorial start for every σ, 2⁻⁴.
pub const SIGMA_START: f64 = 0.0625;

/// Errors of the random-walk model.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// Bad input: shapes, non-finite regressors, choices other than 0/1.
    #[error("random-walk data: {0}")]
    Data(String),
    /// Hyperparameters out of range.
    #[error("random-walk hyperparameters: {0}")]
    Hyper(String),
    /// A matrix that should be positive definite is not (non-finite input or σ).
    #[error("random-walk posterior: the Hessian is not positive definite (block {block})")]
    NotPositiveDefinite {
        /// The block row where the factorisation failed.
        block: usize,
    },
    /// An iteration did not converge.
    #[error("random-walk fit did not converge: {0}")]
    NotConverged(String),
    /// A value stopped being finite.
    #[error("random-walk fit: {0} is not finite")]
    NonFinite(String),
}

/// The trials `range` of one animal's design as a [`Series`] (choices and session starts
/// of the same trials; the first trial of the range need not start a session).
pub fn series(d: &denovo_data::SubjectDesign, range: std::ops::Range<usize>) -> Series<'_> {
    let k = d.n_features;
    Series {
        k,
        x: &d.x[range.start * k..range.end * k],
        y: &d.choice[range.clone()],
        session_start: &d.session_start[range],
    }
}

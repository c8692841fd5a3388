//! # denovo-nn
//!
//! The nonparametric learning rules of Liu, Geadah & Pillow (2025), as burn modules that
//! implement [`LearningRule`](denovo_rules::LearningRule), generic over the backend:
//!
//! - [`DnnRule`]: Δw_t = γ ⊙ MLP([w_t, x_t, y_t, r_t, a_t, s_t]) — a memoryless rule;
//! - [`RnnRule`]: h_t = GRU(h_{t−1}, [w_t, x_t, y_t, r_t, a_t, s_t]), Δw_t = γ ⊙ MLP(h_t) —
//!   a rule that may depend on the trial history.
//!
//! Here y is the choice, r the reward, a the correct side and s the session-start flag of
//! the trial just completed, so the prediction of trial t never sees trial t's outcome.
//! γ is a learnable per-weight scale (initialised at 1e-3, so a fresh rule barely moves
//! the weights). Defaults follow the reference code: MLP 2 hidden layers × 32 ReLU, GRU
//! hidden size 32.
//!
//! A fresh DNN rule (γ = 1e-3) moves the weights only a little after a trial:
//!
//! ```
//! use denovo_glm::{float_tensor, to_f64_vec};
//! use denovo_nn::DnnConfig;
//! use denovo_rules::{LearningRule, TrialBatch};
//! type B = burn::backend::NdArray<f64>;
//! let device = Default::default();
//! let rule = DnnConfig::default().init::<B>(2, &device); // regressors [stim, bias]
//! let t = |v: f64| float_tensor::<B, 1>(vec![v], [1], &device);
//! let trial = TrialBatch {
//!     x: float_tensor(vec![0.5, 1.0], [1, 2], &device),
//!     choice: t(1.0), reward: t(1.0), answer: t(1.0), session_start: t(0.0),
//! };
//! let w0 = float_tensor::<B, 2>(vec![0.2, -0.1], [1, 2], &device);
//! let w1 = to_f64_vec(rule.policy_weights(&rule.step(rule.initial_state(w0), &trial)));
//! assert!((w1[0] - 0.2).abs() < 0.01 && (w1[1] + 0.1).abs() < 0.01);
//! ```

mod backend;
mod dnn;
mod fused;
#[cfg(feature = "wgpu")]
mod gpu;
mod gru;
mod lanes;
mod peak;
mod precision;
mod rnn;
mod structure;

pub use backend::{ScanBackend, rule_scan};
pub use dnn::{DnnConfig, DnnRule};
pub use fused::{HostStep, HostTrial, ScanOutput, ScanRule, TAPE_BUDGET_BYTES, scan, trajectories};
pub use gru::GruCell;
pub use lanes::{
    FLUSH_STEPS, SimdLevel, TAPE_BUDGET_BYTES_F32, scan_f32, scan_f32_shared, scan_f32_with,
};
pub use peak::peak_gflops;
pub use precision::cast_to_backend_precision;
pub use rnn::{RnnConfig, RnnRule};
pub use structure::{Gate, RuleInput, Structure, UnknownName};

use burn::tensor::{Tensor, backend::Backend};
use denovo_rules::TrialBatch;

/// The per-trial input of both rules, `[animals, 2 × features + 4]`:
/// [w_t, x_t, choice, reward, answer, session_start].
pub fn rule_input<B: Backend>(w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
    cat(
        vec![
            w,
            trial.x.clone(),
            trial.choice.clone().unsqueeze_dim(1),
            trial.reward.clone().unsqueeze_dim(1),
            trial.answer.clone().unsqueeze_dim(1),
            trial.session_start.clone().unsqueeze_dim(1),
        ],
        1,
    )
}

/// [`rule_input`] with `structure`'s dropped inputs held at 0, `[animals, 2 × features + 4]`.
pub fn structured_input<B: Backend>(
    w: Tensor<B, 2>,
    trial: &TrialBatch<B>,
    structure: &Structure,
) -> Tensor<B, 2> {
    let u = rule_input(w, trial);
    if structure.drop.is_empty() {
        return u;
    }
    let [_, width] = u.dims();
    let mut mask = vec![1.0; width];
    for j in structure.dropped_columns((width - 4) / 2) {
        mask[j] = 0.0;
    }
    let mask = denovo_glm::float_tensor::<B, 2>(mask, [1, width], &u.device()).cast(u.dtype());
    u * mask
}

/// The gate g_t of `structure` for each animal's completed trial, `[animals, 1]` (1 where
/// the update is allowed, else 0), or `None` for an ungated rule.
pub fn gate_column<B: Backend>(
    structure: &Structure,
    trial: &TrialBatch<B>,
) -> Option<Tensor<B, 2>> {
    let reward = trial.reward.clone();
    let zeros = reward.zeros_like();
    let gate = match structure.gate {
        Gate::None => return None,
        Gate::CorrectOnly => zeros.mask_fill(reward.greater_elem(0.0), 1.0),
        Gate::ErrorOnly => zeros.mask_fill(reward.lower_equal_elem(0.0), 1.0),
    };
    Some(gate.unsqueeze_dim(1))
}

/// The width of [`rule_input`] for `n_features` regressors.
pub fn rule_input_size(n_features: usize) -> usize {
    2 * n_features + 4
}

/// The flat parameter vector of dense layers then γ, in [`ScanRule`]'s order (a layer
/// without a bias contributes zeros).
fn flat_parameters<B: Backend>(
    layers: &[&burn::nn::Linear<B>],
    gamma: &burn::module::Param<Tensor<B, 1>>,
) -> Tensor<B, 1> {
    let mut parts = Vec::with_capacity(2 * layers.len() + 1);
    for l in layers {
        let weight = l.weight.val();
        let [_, n_out] = weight.dims();
        let bias = l.bias.as_ref().map_or_else(
            || Tensor::zeros([n_out], (&weight.device(), weight.dtype())),
            |b| b.val(),
        );
        parts.push(weight.reshape([-1]));
        parts.push(bias);
    }
    parts.push(gamma.val());
    cat(parts, 0)
}

/// `Tensor::cat` that keeps its inputs alive until the result's autodiff node exists
/// (burn's autodiff race, tracel-ai/burn#5573): [`denovo_glm::cat`].
pub(crate) use denovo_glm::cat;

/// [`trajectories`] for a rule whose flat parameters are a tensor: reads them and `w0` to
/// the host and walks there (both rules' `LearningRule::host_trajectories`).
fn host_trajectories<B: Backend>(
    rule: &ScanRule,
    params: Tensor<B, 1>,
    w0: Tensor<B, 2>,
    animals: &[denovo_rules::HostSequence],
    until: &[usize],
) -> Vec<Vec<f64>> {
    let (params, w0) = (denovo_glm::to_f64_vec(params), denovo_glm::to_f64_vec(w0));
    trajectories(rule, &params, &w0, animals, until)
}

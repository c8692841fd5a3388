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

mod dnn;
mod fused;
mod gru;
mod precision;
mod rnn;

pub use dnn::{DnnConfig, DnnRule};
pub use fused::{dnn_fused_gradient, rnn_fused_gradient};
pub use gru::GruCell;
pub use precision::cast_to_backend_precision;
pub use rnn::{RnnConfig, RnnRule};

use burn::tensor::{Tensor, backend::Backend};
use denovo_rules::TrialBatch;

/// The per-trial input of both rules, `[animals, 2 × features + 4]`:
/// [w_t, x_t, choice, reward, answer, session_start].
pub fn rule_input<B: Backend>(w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
    Tensor::cat(
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

/// The width of [`rule_input`] for `n_features` regressors.
pub fn rule_input_size(n_features: usize) -> usize {
    2 * n_features + 4
}

//! The DNN rule: Δw = γ ⊙ MLP([w, x, y, r, a, s]).

use crate::{ScanBackend, ScanRule};
use crate::{Structure, cast_to_backend_precision, rule_input_size, structured_input};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, activation::relu, backend::Backend};
use denovo_rules::{LearningRule, SharedSequences, TrialBatch};
use serde::{Deserialize, Serialize};

/// Sizes of a [`DnnRule`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnnConfig {
    /// Hidden layer widths (ReLU); the reference uses two layers of 32.
    pub hidden: Vec<usize>,
    /// Initial value of every γ.
    pub gamma_init: f64,
    /// The structural hypothesis (gate, dropped inputs); the default is the free rule
    /// (not written then, so a free rule's record reads as before).
    #[serde(default, skip_serializing_if = "Structure::is_free")]
    pub structure: Structure,
}

impl Default for DnnConfig {
    fn default() -> Self {
        DnnConfig {
            hidden: vec![32, 32],
            gamma_init: 1e-3,
            structure: Structure::default(),
        }
    }
}

impl DnnConfig {
    /// A fresh rule for `n_features` regressors (burn's default initialisation).
    pub fn init<B: Backend>(&self, n_features: usize, device: &B::Device) -> DnnRule<B> {
        let mut sizes = vec![rule_input_size(n_features)];
        sizes.extend(&self.hidden);
        sizes.push(n_features);
        let layers = sizes
            .windows(2)
            .map(|p| LinearConfig::new(p[0], p[1]).init(device))
            .collect();
        let gamma =
            denovo_glm::float_tensor(vec![self.gamma_init; n_features], [n_features], device);
        cast_to_backend_precision(DnnRule {
            layers,
            gamma: Param::from_tensor(gamma),
            structure: self.structure.clone(),
        })
    }
}

/// Δw_t = γ ⊙ MLP([w_t, x_t, y_t, r_t, a_t, s_t]); the state is w.
#[derive(Module, Debug)]
pub struct DnnRule<B: Backend> {
    /// The MLP, input → hidden… → features; ReLU between layers.
    pub layers: Vec<Linear<B>>,
    /// The per-weight scale γ.
    pub gamma: Param<Tensor<B, 1>>,
    /// The structural hypothesis: Δw_t = g_t γ ⊙ MLP(u_t with dropped inputs at 0).
    #[module(skip)]
    pub structure: Structure,
}

/// Runs `layers` with ReLU between them (none after the last).
pub(crate) fn mlp<B: Backend>(layers: &[Linear<B>], mut h: Tensor<B, 2>) -> Tensor<B, 2> {
    let last = layers.len().saturating_sub(1);
    for (i, layer) in layers.iter().enumerate() {
        h = layer.forward(h);
        if i < last {
            h = relu(h);
        }
    }
    h
}

impl<B: Backend> DnnRule<B> {
    /// Δw for the completed trial from weights `w`, `[animals, features]` (gated and with
    /// dropped inputs as [`DnnRule::structure`] says).
    pub fn delta(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let out = mlp(&self.layers, structured_input(w, trial, &self.structure));
        let delta = out * self.gamma.val().unsqueeze_dim(0);
        match crate::gate_column(&self.structure, trial) {
            Some(g) => delta * g,
            None => delta,
        }
    }
}

impl<B: Backend> DnnRule<B> {
    /// The rule's shape for the fused scan.
    pub fn scan_rule(&self) -> ScanRule {
        let mut sizes: Vec<usize> = self.layers.iter().map(|l| l.weight.dims()[0]).collect();
        sizes.extend(self.layers.last().map(|l| l.weight.dims()[1]));
        ScanRule::Dnn {
            sizes,
            structure: self.structure.clone(),
        }
    }

    /// All parameters as one flat vector in [`ScanRule`]'s order.
    pub fn flat_parameters(&self) -> Tensor<B, 1> {
        crate::flat_parameters(&self.layers.iter().collect::<Vec<_>>(), &self.gamma)
    }
}

impl<B: ScanBackend> LearningRule<B> for DnnRule<B> {
    type State = Tensor<B, 2>;
    fn fused_log_likelihood(
        &self,
        animals: &SharedSequences,
        w0: Tensor<B, 2>,
    ) -> Option<Tensor<B, 1>> {
        Some(crate::rule_scan(
            &self.scan_rule(),
            self.flat_parameters(),
            w0,
            animals,
        ))
    }
    fn host_trajectories(
        &self,
        animals: &SharedSequences,
        w0: Tensor<B, 2>,
        until: &[usize],
    ) -> Option<Vec<Vec<f64>>> {
        Some(crate::host_trajectories(
            &self.scan_rule(),
            self.flat_parameters(),
            w0,
            animals,
            until,
        ))
    }
    fn name(&self) -> &'static str {
        "dnn"
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        w0
    }
    fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
        state.clone()
    }
    fn step(&self, w: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        w.clone() + self.delta(w, trial)
    }
    fn detach(&self, state: Tensor<B, 2>) -> Tensor<B, 2> {
        state.detach()
    }
    fn perturb_weights(&self, state: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
        state + delta
    }
}

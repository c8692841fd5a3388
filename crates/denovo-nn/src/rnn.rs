//! The RNN rule: h_t = GRU(h_{t−1}, [w, x, y, r, a, s]), Δw = γ ⊙ MLP(h_t).

use crate::dnn::mlp;
use crate::{GruCell, Structure, cast_to_backend_precision, rule_input_size, structured_input};
use crate::{ScanBackend, ScanRule};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, backend::Backend};
use denovo_rules::{LearningRule, SharedSequences, TrialBatch};
use serde::{Deserialize, Serialize};

/// Sizes of an [`RnnRule`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    /// GRU hidden size (reference: 32).
    pub hidden: usize,
    /// Hidden widths of the read-out MLP h → Δw (reference: 32, 32).
    pub head: Vec<usize>,
    /// Initial value of every γ.
    pub gamma_init: f64,
    /// The structural hypothesis (gate, dropped inputs); the default is the free rule
    /// (not written then, so a free rule's record reads as before).
    #[serde(default, skip_serializing_if = "Structure::is_free")]
    pub structure: Structure,
}

impl Default for RnnConfig {
    fn default() -> Self {
        RnnConfig {
            hidden: 32,
            head: vec![32, 32],
            gamma_init: 1e-3,
            structure: Structure::default(),
        }
    }
}

impl RnnConfig {
    /// A fresh rule for `n_features` regressors.
    pub fn init<B: Backend>(&self, n_features: usize, device: &B::Device) -> RnnRule<B> {
        let mut sizes = vec![self.hidden];
        sizes.extend(&self.head);
        sizes.push(n_features);
        let head = sizes
            .windows(2)
            .map(|p| LinearConfig::new(p[0], p[1]).init(device))
            .collect();
        let gamma =
            denovo_glm::float_tensor(vec![self.gamma_init; n_features], [n_features], device);
        cast_to_backend_precision(RnnRule {
            gru: GruCell::new(rule_input_size(n_features), self.hidden, device),
            head,
            gamma: Param::from_tensor(gamma),
            n_features,
            structure: self.structure.clone(),
        })
    }
}

/// A GRU over the trial history and an MLP read-out: the state is `[w | h]`,
/// `[animals, features + hidden]`.
#[derive(Module, Debug)]
pub struct RnnRule<B: Backend> {
    /// The recurrent cell.
    pub gru: GruCell<B>,
    /// The read-out MLP h → Δw (ReLU between layers).
    pub head: Vec<Linear<B>>,
    /// The per-weight scale γ.
    pub gamma: Param<Tensor<B, 1>>,
    /// Number of policy weights.
    pub n_features: usize,
    /// The structural hypothesis: the GRU sees u_t with dropped inputs at 0, and
    /// Δw_t = g_t γ ⊙ MLP(h_{t+1}).
    #[module(skip)]
    pub structure: Structure,
}

impl<B: Backend> RnnRule<B> {
    fn split(&self, state: &Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let [a, width] = state.dims();
        let k = self.n_features;
        (
            state.clone().slice([0..a, 0..k]),
            state.clone().slice([0..a, k..width]),
        )
    }

    /// The hidden state h of a state, `[animals, hidden]`.
    pub fn hidden_state(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
        self.split(state).1
    }
}

impl<B: Backend> RnnRule<B> {
    /// The rule's shape for the fused scan.
    pub fn scan_rule(&self) -> ScanRule {
        let mut head: Vec<usize> = self.head.iter().map(|l| l.weight.dims()[0]).collect();
        head.extend(self.head.last().map(|l| l.weight.dims()[1]));
        ScanRule::Rnn {
            input: self.gru.input.weight.dims()[0],
            hidden: self.gru.size,
            head,
            structure: self.structure.clone(),
        }
    }

    /// All parameters as one flat vector in [`ScanRule`]'s order.
    pub fn flat_parameters(&self) -> Tensor<B, 1> {
        let mut layers = vec![&self.gru.input, &self.gru.hidden];
        layers.extend(self.head.iter());
        crate::flat_parameters(&layers, &self.gamma)
    }
}

impl<B: ScanBackend> LearningRule<B> for RnnRule<B> {
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
        "rnn"
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        let [a, _] = w0.dims();
        let h0 = Tensor::zeros([a, self.gru.size], (&w0.device(), w0.dtype()));
        crate::cat(vec![w0, h0], 1)
    }
    fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
        self.split(state).0
    }
    fn step(&self, state: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let (w, h) = self.split(&state);
        let h = self
            .gru
            .forward(structured_input(w.clone(), trial, &self.structure), h);
        let mut delta = mlp(&self.head, h.clone()) * self.gamma.val().unsqueeze_dim(0);
        if let Some(g) = crate::gate_column(&self.structure, trial) {
            delta = delta * g;
        }
        crate::cat(vec![w + delta, h], 1)
    }
    fn detach(&self, state: Tensor<B, 2>) -> Tensor<B, 2> {
        state.detach()
    }
    fn perturb_weights(&self, state: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
        let (w, h) = self.split(&state);
        crate::cat(vec![w + delta, h], 1)
    }
}

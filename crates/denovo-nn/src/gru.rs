//! A single-step GRU cell (PyTorch's equations).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, activation::tanh, backend::Backend};

/// h' = (1 − z) ⊙ n + z ⊙ h with r = σ(W_ir x + W_hr h), z = σ(W_iz x + W_hz h),
/// n = tanh(W_in x + r ⊙ (W_hn h)) (biases included in each W).
#[derive(Module, Debug)]
pub struct GruCell<B: Backend> {
    /// Input → [r | z | n] gates.
    pub input: Linear<B>,
    /// Hidden → [r | z | n] gates.
    pub hidden: Linear<B>,
    /// Hidden size.
    pub size: usize,
}

impl<B: Backend> GruCell<B> {
    /// A cell from `input_size` to `hidden_size`.
    pub fn new(input_size: usize, hidden_size: usize, device: &B::Device) -> Self {
        GruCell {
            input: LinearConfig::new(input_size, 3 * hidden_size).init(device),
            hidden: LinearConfig::new(hidden_size, 3 * hidden_size).init(device),
            size: hidden_size,
        }
    }

    /// One step: `x` `[batch, input]`, `h` `[batch, hidden]` → h' `[batch, hidden]`.
    pub fn forward(&self, x: Tensor<B, 2>, h: Tensor<B, 2>) -> Tensor<B, 2> {
        let gi = self.input.forward(x).chunk(3, 1);
        let gh = self.hidden.forward(h.clone()).chunk(3, 1);
        let r = denovo_glm::sigmoid(gi[0].clone() + gh[0].clone());
        let z = denovo_glm::sigmoid(gi[1].clone() + gh[1].clone());
        let n = tanh(gi[2].clone() + r * gh[2].clone());
        n.clone() + z * (h - n)
    }
}

//! # denovo-glm
//!
//! The decision policy of every denovo model: a logistic GLM,
//! p(right_t) = σ(w_t · x_t), written with burn tensor ops so that it runs on any
//! [`Backend`] and differentiates under `Autodiff<B>`.
//!
//! Tensors are batched over animals: weights and regressors are `[animals, features]`,
//! choices and log-likelihoods `[animals]`.
//!
//! ```
//! use denovo_glm::{float_tensor, log_likelihood, logits, prob_right, to_f64_vec};
//! type B = burn::backend::NdArray<f64>;
//! let device = Default::default();
//! // Two animals, regressors [stim, bias]: w = [2, 0] and [0, 1]; x = [0.5, 1].
//! let w = float_tensor::<B, 2>(vec![2.0, 0.0, 0.0, 1.0], [2, 2], &device);
//! let x = float_tensor::<B, 2>(vec![0.5, 1.0, 0.5, 1.0], [2, 2], &device);
//! let p = to_f64_vec(prob_right(w.clone(), x.clone()));
//! assert!((p[0] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
//! // Both chose right: LL = ln p(right), in nats.
//! let y = float_tensor::<B, 1>(vec![1.0, 1.0], [2], &device);
//! let ll = to_f64_vec(log_likelihood(logits(w, x), y));
//! assert!((ll[1] - p[1].ln()).abs() < 1e-12);
//! ```

use burn::tensor::{Tensor, TensorData, backend::Backend};

/// A float tensor of shape `shape` from row-major `f64` values, stored in the backend's
/// float element type (f32 for `NdArray`, f64 for `NdArray<f64>`). The dtype is passed
/// explicitly: burn 0.21 otherwise takes a per-device default that the first backend to
/// touch the device fixes for the whole process (so `NdArray<f32>` and `NdArray<f64>` in
/// one process would share one precision). Every denovo tensor is made through this.
pub fn float_tensor<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    let dtype = <B::FloatElem as burn::tensor::Element>::dtype();
    Tensor::from_data(
        TensorData::new(values, shape).convert::<B::FloatElem>(),
        (device, dtype),
    )
}

/// Reads any float tensor back as row-major `f64` values.
pub fn to_f64_vec<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f64>()
        .into_vec()
        .expect("a float tensor converts to f64")
}

/// `Tensor::cat(parts, dim)` that keeps its inputs alive until the result's autodiff node
/// exists (same shapes and result as `Tensor::cat`). Use it for every `cat` in a model
/// that may train while another thread runs a backward pass.
///
/// burn 0.21's autodiff `float_cat` drops its inputs' reference counts before it
/// registers its own node, and every `backward()` — on any thread — sweeps every graph of
/// the process and frees the steps of one that holds no live tensor
/// (`GraphCleaner::cleanup_orphaned_entries`, tracel-ai/burn#5573). A parameter used in an
/// earlier backward pass has lost its graph entry, so an op on it (a weight's `reshape`, a
/// rate's `exp`) starts a graph of its own whose only live tensor is that op's output; once
/// it is handed to `cat`, another thread's backward can free the step, and the parameter
/// then gets no gradient (or, where another path still reaches it, part of one). Holding
/// the inputs until `cat` returns keeps such a graph live. The clones are handles, not
/// copies.
pub fn cat<B: Backend, const D: usize>(parts: Vec<Tensor<B, D>>, dim: usize) -> Tensor<B, D> {
    let out = Tensor::cat(parts.clone(), dim);
    drop(parts);
    out
}

/// The logits z = w · x of each animal: `w`, `x` are `[animals, features]`, the result
/// `[animals]`.
pub fn logits<B: Backend>(w: Tensor<B, 2>, x: Tensor<B, 2>) -> Tensor<B, 1> {
    (w * x).sum_dim(1).squeeze_dim(1)
}

/// p(right) = σ(w · x) of each animal, `[animals]`.
pub fn prob_right<B: Backend>(w: Tensor<B, 2>, x: Tensor<B, 2>) -> Tensor<B, 1> {
    sigmoid(logits(w, x))
}

/// σ(z) = exp(z − softplus(z)), in the tensor's own precision. (burn 0.21's built-in
/// sigmoid computes in f32 whatever the element type, which breaks f64 gradient checks.)
/// Finite with finite gradients for every finite z.
pub fn sigmoid<B: Backend, const D: usize>(z: Tensor<B, D>) -> Tensor<B, D> {
    (z.clone() - softplus(z)).exp()
}

/// softplus(z) = log(1 + eᶻ), computed as max(z, 0) + log1p(e^{−|z|}) so that it never
/// overflows.
pub fn softplus<B: Backend, const D: usize>(z: Tensor<B, D>) -> Tensor<B, D> {
    z.clone().clamp_min(0.0) + z.abs().neg().exp().log1p()
}

/// Log-likelihood of choices `y` (0 = left, 1 = right) under logits `z`, per animal:
/// log p(y | z) = y·z − softplus(z), stable for any z.
pub fn log_likelihood<B: Backend>(z: Tensor<B, 1>, y: Tensor<B, 1>) -> Tensor<B, 1> {
    y * z.clone() - softplus(z)
}

/// Sums `values` where `mask` is 1 and ignores the rest (padding of animals with fewer
/// trials). Both are `[animals]`; the mask is 0/1. Non-finite values under a 0 mask are
/// ignored too.
pub fn masked_sum<B: Backend>(values: Tensor<B, 1>, mask: Tensor<B, 1>) -> Tensor<B, 1> {
    let keep = mask.clone().equal_elem(1.0);
    values.mask_fill(keep.bool_not(), 0.0).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type B = NdArray<f64>;

    fn vec1(t: Tensor<B, 1>) -> Vec<f64> {
        to_f64_vec(t)
    }

    #[test]
    fn float_tensor_uses_the_backend_precision() {
        let dev = Default::default();
        let t = float_tensor::<NdArray<f32>, 1>(vec![0.1, 0.2], [2], &dev);
        assert_eq!(t.dtype(), burn::tensor::DType::F32);
        let t = float_tensor::<NdArray<f64>, 1>(vec![0.1, 0.2], [2], &dev);
        assert_eq!(t.dtype(), burn::tensor::DType::F64);
    }

    #[test]
    fn log_likelihood_matches_log_sigmoid_and_stays_finite() {
        let dev = Default::default();
        let z = float_tensor::<B, 1>(vec![-800.0, -2.0, 0.0, 3.0, 800.0], [5], &dev);
        let y1 = float_tensor::<B, 1>(vec![1.0; 5], [5], &dev);
        let ll = vec1(log_likelihood(z.clone(), y1));
        let expected = [
            -800.0,
            -(1.0 + 2f64.exp()).ln(),
            -(2f64.ln()),
            -(1.0 + (-3f64).exp()).ln(),
            0.0,
        ];
        for (a, b) in ll.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let ll0 = vec1(log_likelihood(z, float_tensor(vec![0.0; 5], [5], &dev)));
        assert!(ll0.iter().all(|v| v.is_finite()));
        assert!((ll0[4] + 800.0).abs() < 1e-9);
    }

    #[test]
    fn prob_right_is_sigmoid_of_dot_product() {
        let dev = Default::default();
        let w = float_tensor::<B, 2>(vec![1.0, -0.5, 0.0, 2.0], [2, 2], &dev);
        let x = float_tensor::<B, 2>(vec![0.5, 1.0, 0.3, 1.0], [2, 2], &dev);
        let p = vec1(prob_right(w, x));
        assert!((p[0] - 0.5).abs() < 1e-12);
        assert!((p[1] - 1.0 / (1.0 + (-2f64).exp())).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn masked_sum_ignores_padding_even_when_not_finite() {
        let dev = Default::default();
        let v = float_tensor::<B, 1>(vec![1.0, f64::NAN, 2.5], [3], &dev);
        let m = float_tensor::<B, 1>(vec![1.0, 0.0, 1.0], [3], &dev);
        assert_eq!(vec1(masked_sum(v, m)), vec![3.5]);
    }
}

/// The policy's link on plain `f64` numbers, for host kernels (the parametric rules' closed
/// forms, the random-walk models): p(right) = σ(w · x), log p(y) = y z − softplus(z).
pub mod scalar {
    /// σ(z) = 1 / (1 + e⁻ᶻ), stable for any z.
    pub fn sigmoid(z: f64) -> f64 {
        if z >= 0.0 {
            1.0 / (1.0 + (-z).exp())
        } else {
            let e = z.exp();
            e / (1.0 + e)
        }
    }

    /// softplus(z) = log(1 + eᶻ), stable for any z.
    pub fn softplus(z: f64) -> f64 {
        z.max(0.0) + (-z.abs()).exp().ln_1p()
    }
}

//! The backend extension: one op, [`ScanBackend::rule_scan`], that runs a built-in neural
//! rule over whole sequences, and its hand-written backward registered with burn's
//! autodiff backend — so `Autodiff<B>` training uses the fused kernel transparently
//! (the pattern of the burn book's "Backend Extension" chapter).
//!
//! The op maps (flat parameters `[P]`, initial weights `[animals, K]`) to one
//! log-likelihood per animal `[animals]`; the trials themselves are plain host data
//! ([`SharedSequences`]), not differentiated. Its default implementation, used by
//! ndarray, reads the parameters to the host and runs [`crate::scan`] (or the f32 lanes);
//! wgpu runs the DNN and RNN scans as CubeCL kernels on the device (`gpu.rs`). Under
//! `Autodiff<B>`, a tracked call runs the forward and adjoint passes at once
//! ([`ScanBackend::rule_scan_with_gradient`]) and keeps each animal's gradient; the
//! backward step then only weights them by the incoming ∂loss/∂LL_a.

use crate::fused::{ScanOutput, ScanRule, scan};
use crate::lanes::scan_f32_shared;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::SharedSequences;

fn wrap<B: Backend, const D: usize>(p: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

fn unwrap<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// A backend that can run the fused scan of the built-in neural rules.
///
/// Both methods have host implementations (read the parameters back, run the plain-Rust
/// kernel on the CPU, upload the result), so `impl ScanBackend for MyBackend {}` is all a
/// new backend needs; a backend with its own kernel (a CubeCL scan for wgpu, say) overrides
/// them.
pub trait ScanBackend: Backend {
    /// The log-likelihood of each animal's scored trials under `rule` with flat parameters
    /// `params` `[P]` from initial weights `w0` `[animals, K]`: `[animals]`.
    fn rule_scan(
        rule: &ScanRule,
        params: FloatTensor<Self>,
        w0: FloatTensor<Self>,
        animals: &SharedSequences,
    ) -> FloatTensor<Self> {
        host_rule_scan::<Self>(rule, params, w0, animals)
    }

    /// [`ScanBackend::rule_scan`] and, per animal, the gradient of its log-likelihood:
    /// (LL `[animals]`, ∂LL_a/∂θ `[animals, P]`, ∂LL_a/∂w0_a `[animals, K]`).
    fn rule_scan_with_gradient(
        rule: &ScanRule,
        params: FloatTensor<Self>,
        w0: FloatTensor<Self>,
        animals: &SharedSequences,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        host_rule_scan_with_gradient::<Self>(rule, params, w0, animals)
    }
}

/// [`ScanBackend::rule_scan`] on the host: parameters read back, the plain-Rust kernel,
/// the log-likelihoods `[animals]` uploaded.
fn host_rule_scan<B: Backend>(
    rule: &ScanRule,
    params: FloatTensor<B>,
    w0: FloatTensor<B>,
    animals: &SharedSequences,
) -> FloatTensor<B> {
    let (out, device) = host_scan::<B>(rule, params, w0, animals, false);
    unwrap(float_tensor::<B, 1>(
        out.log_likelihood,
        [animals.len()],
        &device,
    ))
}

/// [`ScanBackend::rule_scan_with_gradient`] on the host: (LL `[animals]`, ∂LL_a/∂θ
/// `[animals, P]`, ∂LL_a/∂w0_a `[animals, K]`).
fn host_rule_scan_with_gradient<B: Backend>(
    rule: &ScanRule,
    params: FloatTensor<B>,
    w0: FloatTensor<B>,
    animals: &SharedSequences,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (out, device) = host_scan::<B>(rule, params, w0, animals, true);
    let (a, p, k) = (animals.len(), rule.n_params(), rule.n_features());
    (
        unwrap(float_tensor::<B, 1>(out.log_likelihood, [a], &device)),
        unwrap(float_tensor::<B, 2>(out.d_params, [a, p], &device)),
        unwrap(float_tensor::<B, 2>(out.d_w0, [a, k], &device)),
    )
}

/// Runs the plain-Rust scan on the host.
fn host_scan<B: Backend>(
    rule: &ScanRule,
    params: FloatTensor<B>,
    w0: FloatTensor<B>,
    animals: &SharedSequences,
    gradient: bool,
) -> (ScanOutput, B::Device) {
    let params: Tensor<B, 1> = wrap(params);
    let device = params.device();
    let w0: Tensor<B, 2> = wrap(w0);
    // The kernel's precision follows the backend's: f32 lanes for an f32 backend (the
    // cohort's packed trials kept between epochs), the f64 reference kernel for an f64 one.
    let is_f64 = params.dtype() == burn::tensor::DType::F64;
    let (params, w0) = (to_f64_vec(params), to_f64_vec(w0));
    let out = if is_f64 {
        scan(rule, &params, &w0, animals, gradient)
    } else {
        scan_f32_shared(rule, &params, &w0, animals, gradient)
    };
    (out, device)
}

impl ScanBackend for burn::backend::NdArray<f32> {}
impl ScanBackend for burn::backend::NdArray<f64> {}

/// wgpu runs the DNN and RNN rules' scans as CubeCL kernels on the device (`crate::gpu`:
/// one cube per animal, the tape in device memory, nothing read back); a rule with more
/// than 32 policy weights or non-f32 parameters falls back to the host kernel (parameters
/// read back, the scan on the CPU, the result uploaded).
#[cfg(feature = "wgpu")]
impl ScanBackend for burn::backend::Wgpu {
    fn rule_scan(
        rule: &ScanRule,
        params: FloatTensor<Self>,
        w0: FloatTensor<Self>,
        animals: &SharedSequences,
    ) -> FloatTensor<Self> {
        if on_device(rule, &params) {
            crate::gpu::device_scan(rule, params, w0, animals, false).0
        } else {
            host_rule_scan::<Self>(rule, params, w0, animals)
        }
    }

    fn rule_scan_with_gradient(
        rule: &ScanRule,
        params: FloatTensor<Self>,
        w0: FloatTensor<Self>,
        animals: &SharedSequences,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        if on_device(rule, &params) {
            let (ll, grads) = crate::gpu::device_scan(rule, params, w0, animals, true);
            let (d_params, d_w0) = grads.expect("a gradient scan returns gradients");
            (ll, d_params, d_w0)
        } else {
            host_rule_scan_with_gradient::<Self>(rule, params, w0, animals)
        }
    }
}

/// Whether the wgpu scan of `rule` runs on the device (see [`crate::gpu::supported`]).
#[cfg(feature = "wgpu")]
fn on_device(rule: &ScanRule, params: &FloatTensor<burn::backend::Wgpu>) -> bool {
    crate::gpu::supported(rule) && params.dtype == burn::tensor::DType::F32
}

/// The backward of [`ScanBackend::rule_scan`]: weights the kept per-animal gradients.
#[derive(Debug)]
struct ScanBackward;

impl<B: Backend> Backward<B, 2> for ScanBackward {
    /// (∂LL_a/∂θ `[animals, P]`, ∂LL_a/∂w0_a `[animals, K]`).
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_params, node_w0] = ops.parents;
        let upstream: Tensor<B, 1> = wrap(grads.consume::<B>(&ops.node));
        let (d_params, d_w0) = ops.state;
        let weights: Tensor<B, 2> = upstream.unsqueeze_dim(1);
        if let Some(node) = node_params {
            let d: Tensor<B, 2> = wrap(d_params);
            let total = (d * weights.clone()).sum_dim(0).squeeze_dim::<1>(0);
            grads.register::<B>(node.id, unwrap(total));
        }
        if let Some(node) = node_w0 {
            let d: Tensor<B, 2> = wrap(d_w0);
            grads.register::<B>(node.id, unwrap(d * weights));
        }
    }
}

impl<B: ScanBackend, C: CheckpointStrategy> ScanBackend for Autodiff<B, C> {
    fn rule_scan(
        rule: &ScanRule,
        params: FloatTensor<Self>,
        w0: FloatTensor<Self>,
        animals: &SharedSequences,
    ) -> FloatTensor<Self> {
        match ScanBackward
            .prepare::<C>([params.node.clone(), w0.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (ll, d_params, d_w0) =
                    B::rule_scan_with_gradient(rule, params.primitive, w0.primitive, animals);
                prep.finish((d_params, d_w0), ll)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::rule_scan(rule, params.primitive, w0.primitive, animals))
            }
        }
    }
}

/// Runs `rule` through [`ScanBackend::rule_scan`] with tensors: `params` `[P]`, `w0`
/// `[animals, K]` → `[animals]`.
pub fn rule_scan<B: ScanBackend>(
    rule: &ScanRule,
    params: Tensor<B, 1>,
    w0: Tensor<B, 2>,
    animals: &SharedSequences,
) -> Tensor<B, 1> {
    wrap(B::rule_scan(rule, unwrap(params), unwrap(w0), animals))
}

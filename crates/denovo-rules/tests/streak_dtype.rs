//! The streak rule's state keeps the precision of the weights it is given, even when the
//! process's first tensor was f32 (burn's default float type is then f32): an f64 rule's
//! state must not mix in an f32 column (which made `cat` panic when a fit ran before a
//! read-out in one process). Its own test binary, so the f32 tensor comes first.

use burn::backend::NdArray;
use burn::tensor::Tensor;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::{LearningRule, Parametric, ReinforceStreak, RuleKind, RuleSpec};

#[test]
fn an_f64_streak_state_after_an_f32_tensor() {
    let first = Tensor::<NdArray<f32>, 1>::zeros([3], &Default::default());
    assert_eq!(first.dims(), [3]);
    type B = NdArray<f64>;
    let dev = Default::default();
    let spec = RuleSpec {
        alpha: vec![0.1, 0.0],
        ..RuleSpec::initial(RuleKind::ReinforceStreak, 2, 0.0)
    };
    let rule = ReinforceStreak::<B>::from_spec(&spec, &dev);
    let w0 = float_tensor::<B, 2>(vec![0.5, -0.25, 1.0, 0.0], [2, 2], &dev);
    let state = rule.initial_state(w0.clone());
    let moved = rule.perturb_weights(state, float_tensor::<B, 2>(vec![0.1; 4], [2, 2], &dev));
    let w = to_f64_vec(rule.policy_weights(&moved));
    assert_eq!(w, vec![0.6, -0.15, 1.1, 0.1]);
}

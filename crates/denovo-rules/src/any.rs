//! [`ParametricRule`]: any of the parametric rules as one value, built from a [`RuleSpec`]
//! — the one place where a parametric rule's name becomes its type.

use crate::{
    Parametric, PredictMax, QLearning, Reinforce, ReinforceBaseline, ReinforceStreak, RewardMax,
    RuleKind, RuleSpec,
};
use burn::tensor::backend::Backend;

/// One of the six parametric rules, chosen at run time by [`RuleSpec::kind`]. Generic code
/// reaches the concrete rule through [`with_parametric!`](crate::with_parametric), which
/// expands to one `match` arm per rule (so each arm is type-checked with its own type).
#[derive(Debug, Clone)]
pub enum ParametricRule<B: Backend> {
    /// [`Reinforce`].
    Reinforce(Reinforce<B>),
    /// [`ReinforceBaseline`].
    ReinforceBaseline(ReinforceBaseline<B>),
    /// [`RewardMax`].
    RewardMax(RewardMax<B>),
    /// [`PredictMax`].
    PredictMax(PredictMax<B>),
    /// [`QLearning`].
    QLearning(QLearning<B>),
    /// [`ReinforceStreak`].
    ReinforceStreak(ReinforceStreak<B>),
}

impl<B: Backend> ParametricRule<B> {
    /// The rule of `spec.kind` with `spec`'s parameters (validate `spec` first with
    /// [`RuleSpec::validated`]).
    pub fn from_spec(spec: &RuleSpec, device: &B::Device) -> Self {
        match spec.kind {
            RuleKind::Reinforce => Self::Reinforce(Reinforce::from_spec(spec, device)),
            RuleKind::ReinforceBaseline => {
                Self::ReinforceBaseline(ReinforceBaseline::from_spec(spec, device))
            }
            RuleKind::Rewardmax => Self::RewardMax(RewardMax::from_spec(spec, device)),
            RuleKind::Predictmax => Self::PredictMax(PredictMax::from_spec(spec, device)),
            RuleKind::Qlearning => Self::QLearning(QLearning::from_spec(spec, device)),
            RuleKind::ReinforceStreak => {
                Self::ReinforceStreak(ReinforceStreak::from_spec(spec, device))
            }
        }
    }

    /// The current parameters.
    pub fn spec(&self) -> RuleSpec {
        crate::with_parametric!(self, r => r.spec())
    }
}

/// Runs `$body` with `$r` bound to the concrete rule inside a
/// [`ParametricRule`](crate::ParametricRule) (by reference when given a reference).
///
/// ```
/// use denovo_rules::{ParametricRule, RuleKind, RuleSpec, LearningRule, with_parametric};
/// type B = burn::backend::NdArray<f64>;
/// let spec = RuleSpec::initial(RuleKind::Rewardmax, 2, 0.05);
/// let rule = ParametricRule::<B>::from_spec(&spec, &Default::default());
/// let name = with_parametric!(&rule, r => r.name());
/// assert_eq!(name, "rewardmax");
/// ```
#[macro_export]
macro_rules! with_parametric {
    ($rule:expr, $r:ident => $body:expr) => {
        match $rule {
            $crate::ParametricRule::Reinforce($r) => $body,
            $crate::ParametricRule::ReinforceBaseline($r) => $body,
            $crate::ParametricRule::RewardMax($r) => $body,
            $crate::ParametricRule::PredictMax($r) => $body,
            $crate::ParametricRule::QLearning($r) => $body,
            $crate::ParametricRule::ReinforceStreak($r) => $body,
        }
    };
}

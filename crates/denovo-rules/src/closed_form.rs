//! Plain-`f64` closed forms of the built-in parametric rules, with the partial derivatives
//! a hand-written forward-mode gradient needs (the fast path of the trainer).
//!
//! These repeat, in scalar form, the formulas the burn modules of `parametric.rs` compute
//! with tensors; tests keep the two equal (values and gradients). The modules remain the
//! reference and the only path for custom rules.

use crate::{RuleKind, RuleSpec};
use burn::module::ParamId;

/// One parameter tensor of a rule, flattened: its id (to register a gradient), its shape's
/// length and its current values in the stored (unconstrained) form.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedFormParam {
    /// The burn parameter id.
    pub id: ParamId,
    /// The stored values (log α, or β).
    pub values: Vec<f64>,
}

/// A built-in parametric rule in closed form: a state s (the weights, or Q-learning's
/// θ_R, θ_L), the policy weights w(s) and the step s → s', each with the partial
/// derivatives a forward-mode gradient needs. Matrices are row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedForm {
    /// Which rule.
    pub kind: RuleKind,
    /// Learning rates α (one per weight).
    pub alpha: Vec<f64>,
    /// Baselines β (REINFORCE with baseline), else empty.
    pub beta: Vec<f64>,
    /// Inverse temperature τ (Q-learning), else 1.
    pub tau: f64,
    /// Cap K of the streak count (`reinforce-streak`), else 0 (unused).
    pub streak_cap: usize,
    /// The stored parameters, in order: log α, then β or log τ when present. The parameter
    /// columns of every Jacobian follow this order.
    pub params: Vec<ClosedFormParam>,
}

impl ClosedForm {
    /// The closed form of a parametric rule given as plain numbers (fresh parameter ids;
    /// `spec` should be [`RuleSpec::validated`]): log α, then β (REINFORCE with baseline)
    /// or log τ (Q-learning).
    pub fn from_spec(spec: &RuleSpec) -> ClosedForm {
        let mut params = vec![ClosedFormParam {
            id: ParamId::new(),
            values: spec.alpha.iter().map(|a| a.ln()).collect(),
        }];
        if spec.kind == RuleKind::ReinforceBaseline {
            params.push(ClosedFormParam {
                id: ParamId::new(),
                values: spec.beta.clone(),
            });
        }
        let tau = spec.inverse_temperature.unwrap_or(1.0);
        if spec.kind == RuleKind::Qlearning {
            params.push(ClosedFormParam {
                id: ParamId::new(),
                values: vec![tau.ln()],
            });
        }
        ClosedForm {
            kind: spec.kind,
            alpha: spec.alpha.clone(),
            beta: spec.beta.clone(),
            tau,
            streak_cap: spec.streak_cap.unwrap_or(0),
            params,
        }
    }

    /// The stored parameters flattened, `[P]`, in the order of [`ClosedForm::params`].
    pub fn values(&self) -> Vec<f64> {
        self.params.iter().flat_map(|p| p.values.clone()).collect()
    }

    /// The same rule with the stored parameters `values` (`[P]`, as [`ClosedForm::values`]
    /// orders them); α, β and τ follow. Panics if `values` has not P entries.
    pub fn with_values(&self, values: &[f64]) -> ClosedForm {
        assert_eq!(
            values.len(),
            self.n_params(),
            "closed form: parameter count"
        );
        let mut out = self.clone();
        let mut at = 0;
        for p in &mut out.params {
            let n = p.values.len();
            p.values.copy_from_slice(&values[at..at + n]);
            at += n;
        }
        let k = out.alpha.len();
        out.alpha = values[..k].iter().map(|v| v.exp()).collect();
        match out.kind {
            RuleKind::ReinforceBaseline => out.beta = values[k..2 * k].to_vec(),
            RuleKind::Qlearning => out.tau = values[k].exp(),
            _ => {}
        }
        out
    }

    /// The parameters as a [`RuleSpec`].
    pub fn spec(&self) -> RuleSpec {
        RuleSpec {
            kind: self.kind,
            alpha: self.alpha.clone(),
            beta: self.beta.clone(),
            inverse_temperature: (self.kind == RuleKind::Qlearning).then_some(self.tau),
            streak_cap: (self.kind == RuleKind::ReinforceStreak).then_some(self.streak_cap),
        }
    }

    /// Number of scalar parameters P (columns of the parameter Jacobians).
    pub fn n_params(&self) -> usize {
        self.params.iter().map(|p| p.values.len()).sum()
    }

    /// Dimension S of the state for K = `k` weights: 2K for Q-learning (θ_R, θ_L), K + 1
    /// for `reinforce-streak` (w, then the streak count), else K.
    pub fn state_dim(&self, k: usize) -> usize {
        match self.kind {
            RuleKind::Qlearning => 2 * k,
            RuleKind::ReinforceStreak => k + 1,
            _ => k,
        }
    }

    /// The state before the first trial from w0 (K), with ∂s/∂w0 (S×K) and ∂s/∂θ (S×P).
    pub fn initial_state(
        &self,
        w0: &[f64],
        s: &mut [f64],
        ds_dw0: &mut [f64],
        ds_dtheta: &mut [f64],
    ) {
        let k = w0.len();
        let n_p = self.n_params();
        ds_dw0.iter_mut().for_each(|v| *v = 0.0);
        ds_dtheta.iter_mut().for_each(|v| *v = 0.0);
        if self.kind == RuleKind::Qlearning {
            // θ_R = w0 / 2τ, θ_L = −w0 / 2τ; ∂/∂ log τ = −θ.
            for j in 0..k {
                s[j] = w0[j] / (2.0 * self.tau);
                s[k + j] = -s[j];
                ds_dw0[j * k + j] = 1.0 / (2.0 * self.tau);
                ds_dw0[(k + j) * k + j] = -1.0 / (2.0 * self.tau);
                ds_dtheta[j * n_p + k] = -s[j];
                ds_dtheta[(k + j) * n_p + k] = -s[k + j];
            }
        } else {
            // w0, then (reinforce-streak) a streak count of 0 that no parameter moves.
            s[..k].copy_from_slice(w0);
            s[k..].iter_mut().for_each(|v| *v = 0.0);
            for j in 0..k {
                ds_dw0[j * k + j] = 1.0;
            }
        }
    }

    /// The policy weights w(s) (K), with ∂w/∂s (K×S) and ∂w/∂θ (K×P).
    pub fn weights(&self, s: &[f64], w: &mut [f64], dw_ds: &mut [f64], dw_dtheta: &mut [f64]) {
        let k = w.len();
        let dim = s.len();
        let n_p = self.n_params();
        dw_ds.iter_mut().for_each(|v| *v = 0.0);
        dw_dtheta.iter_mut().for_each(|v| *v = 0.0);
        if self.kind == RuleKind::Qlearning {
            for j in 0..k {
                w[j] = self.tau * (s[j] - s[k + j]);
                dw_ds[j * dim + j] = self.tau;
                dw_ds[j * dim + k + j] = -self.tau;
                dw_dtheta[j * n_p + k] = w[j];
            }
        } else {
            w.copy_from_slice(&s[..k]);
            for j in 0..k {
                dw_ds[j * dim + j] = 1.0;
            }
        }
    }

    /// The state after a trial (s'), with ∂s'/∂s (S×S) and ∂s'/∂θ (S×P).
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &self,
        s: &[f64],
        x: &[f64],
        choice: f64,
        reward: f64,
        answer: f64,
        next: &mut [f64],
        dnext_ds: &mut [f64],
        dnext_dtheta: &mut [f64],
    ) {
        let k = x.len();
        let dim = s.len();
        let n_p = self.n_params();
        dnext_ds.iter_mut().for_each(|v| *v = 0.0);
        dnext_dtheta.iter_mut().for_each(|v| *v = 0.0);
        for j in 0..dim {
            dnext_ds[j * dim + j] = 1.0;
        }
        next.copy_from_slice(s);
        if self.kind == RuleKind::Qlearning {
            // The chosen side's θ_c moves by α ⊙ x δ, δ = r − θ_c · x.
            let off = if choice >= 0.5 { 0 } else { k };
            let q: f64 = (0..k).map(|j| s[off + j] * x[j]).sum();
            let delta = reward - q;
            for j in 0..k {
                let a = self.alpha[j];
                next[off + j] += a * x[j] * delta;
                for m in 0..k {
                    dnext_ds[(off + j) * dim + off + m] -= a * x[j] * x[m];
                }
                dnext_dtheta[(off + j) * n_p + j] = a * x[j] * delta;
            }
            return;
        }
        let z: f64 = s.iter().zip(x).map(|(a, b)| a * b).sum();
        let p = sigmoid(z);
        let v = p * (1.0 - p);
        // reinforce-streak: the step's factor 1 + min(k, K) from the streak count s[K]
        // (piecewise constant in the state, so it adds no derivative), and the next count.
        let factor = if self.kind == RuleKind::ReinforceStreak {
            let streak = s[k];
            let rewarded = reward > 0.0;
            next[k] = if rewarded { streak + 1.0 } else { 0.0 };
            dnext_ds[k * dim + k] = if rewarded { 1.0 } else { 0.0 };
            1.0 + streak.min(self.streak_cap as f64)
        } else {
            1.0
        };
        // Δ_j = α_j · c_j · x_j, with a per-rule factor c_j(p) whose derivative in z is dc_j.
        for j in 0..k {
            let (c, dc) = match self.kind {
                RuleKind::Reinforce => (reward * (choice - p), -reward * v),
                RuleKind::ReinforceBaseline => {
                    let adv = reward - self.beta[j];
                    (adv * (choice - p), -adv * v)
                }
                RuleKind::Rewardmax => {
                    let sign = 2.0 * answer - 1.0;
                    (sign * v, sign * v * (1.0 - 2.0 * p))
                }
                RuleKind::Predictmax => (answer - p, -v),
                RuleKind::ReinforceStreak => (factor * reward * (choice - p), -factor * reward * v),
                RuleKind::Qlearning => unreachable!("handled above"),
            };
            let a = self.alpha[j];
            let delta = a * c * x[j];
            next[j] += delta;
            for m in 0..k {
                dnext_ds[j * dim + m] += a * dc * x[j] * x[m];
            }
            // ∂Δ_j/∂ log α_j = Δ_j.
            dnext_dtheta[j * n_p + j] = delta;
            if self.kind == RuleKind::ReinforceBaseline {
                // ∂Δ_j/∂β_j = −α_j (y − p) x_j.
                dnext_dtheta[j * n_p + k + j] = -a * (choice - p) * x[j];
            }
        }
    }
}

/// The policy's scalar σ(z) and softplus(z), re-exported from the GLM crate (their one
/// home, shared with the random-walk models).
pub use denovo_glm::scalar::{sigmoid, softplus};

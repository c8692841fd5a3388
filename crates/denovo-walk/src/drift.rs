//! Learning rules with noise (Ashwood, Roy, Bak & Pillow 2020, NeurIPS, "Inferring learning
//! rules from animal decision-making", §3): a parametric learning rule as the drift of the
//! random walk,
//!
//! s_t = f_θ(s_{t−1}; trial t−1) + ε_t, ε_t ~ N(0, diag v_t), s_0 ~ N(0, σ_init² I),
//! p(y_t = 1) = σ(x_t · M s_t),
//!
//! where f_θ is the rule's step (its closed form, [`denovo_rules::ClosedForm`]) on the
//! observed choice, reward and correct side of trial t − 1, s the rule's state (the weights
//! w for every rule but Q-learning, whose state is θ_R, θ_L with w = τ (θ_R − θ_L); M maps
//! the state to the weights) and v_t = σ² (σ_day² into a session's first trial, when
//! given). With α = 0 the drift vanishes and the model is PsyTrack's walk.
//!
//! - [`map_rule`]: the MAP states by Newton's method. The negative log posterior's Hessian
//!   stays block-tridiagonal because the drift couples only s_{t−1} and s_t; it is taken
//!   in its **Gauss–Newton** form — the likelihood's curvature Σ p(1−p) x̃ x̃ᵀ plus
//!   Dᵀ V⁻¹ D, D the block bidiagonal operator with I on the diagonal and −J_t (the drift's
//!   Jacobian ∂f/∂s_{t−1}) below it — which drops the drift's own curvature term
//!   −Σ_t Σ_i (V_t⁻¹ r_t)_i ∇² f_i. It is positive definite, Newton's steps with it still
//!   converge to the exact MAP (the gradient is exact), and the Laplace evidence below uses
//!   it (exact for Q-learning, whose step is linear in the state).
//! - [`optimise_rule`]: σ (and σ_day) and the rule's parameters (log α; β; log τ) by
//!   maximising the Laplace evidence log p(y | s*) + log p(s*) − ½ ln det H summed over
//!   animals, by the BFGS of [`optimise`](crate::optimise) with a **central
//!   finite-difference** gradient (step 10⁻⁴ in each parameter; every evaluation
//!   warm-started from the centre's MAP, which Newton refines to a decrement below 10⁻¹⁴).
//! - [`filter_rule`]: one-step-ahead prediction, the walk's moment-matching filter with the
//!   drift in its predict step, linearised at the mean (an extended Kalman predict:
//!   m ← f(m), P ← J P Jᵀ + V).
//! - [`mean_path`]: the rule's own deterministic steps from a state (no noise, no
//!   filtering): "last weights" scoring of a rule with noise.

use crate::WalkError;
use crate::filter::{Gaussian, Prediction, Start, predictive_p, tilted_moments};
use crate::hyper::{Bfgs, OptimiseOptions, maximise};
use crate::model::{Hyper, MapFit, Objective, Series, drift_objective, newton, sigmoid};
use denovo_rules::{ClosedForm, RuleKind, RuleSpec};

/// One animal's trials with what a rule's step needs: the [`Series`] (regressors, choices,
/// session starts) and the rewards and correct sides, each `[trials]`.
#[derive(Debug, Clone, Copy)]
pub struct Trials<'a> {
    /// Regressors `[trials, K]`, choices and session starts.
    pub series: Series<'a>,
    /// Reward of every trial, `[trials]`.
    pub reward: &'a [f64],
    /// Correct side of every trial (0 left, 1 right), `[trials]`.
    pub answer: &'a [f64],
}

impl Trials<'_> {
    /// Checks shapes and values. Errors: [`WalkError::Data`].
    pub fn check(&self) -> Result<(), WalkError> {
        self.series.check()?;
        let n = self.series.n();
        if self.reward.len() != n || self.answer.len() != n {
            return Err(WalkError::Data(format!(
                "{} rewards and {} correct sides for {n} trials",
                self.reward.len(),
                self.answer.len()
            )));
        }
        if let Some(t) = self
            .reward
            .iter()
            .chain(self.answer)
            .position(|v| !v.is_finite())
        {
            return Err(WalkError::Data(format!(
                "reward or correct side {t} is not finite"
            )));
        }
        Ok(())
    }
}

/// The trials `range` of one animal's design as [`Trials`].
pub fn trials(d: &denovo_data::SubjectDesign, range: std::ops::Range<usize>) -> Trials<'_> {
    Trials {
        series: crate::series(d, range.clone()),
        reward: &d.reward[range.clone()],
        answer: &d.answer[range],
    }
}

/// A parametric learning rule as the walk's drift: its closed form, the state dimension S
/// and the read-out M (`[K, S]`, w = M s).
#[derive(Debug, Clone)]
pub struct RuleDrift {
    form: ClosedForm,
    k: usize,
    dim: usize,
    readout: Vec<f64>,
}

impl RuleDrift {
    /// The drift of the rule `spec` (its parameters, one α per weight).
    ///
    /// Errors: [`WalkError::Hyper`] for `reinforce-streak` (its state holds a streak count
    /// that no noise moves; it has no noisy form) or a rule with no learning rates.
    pub fn new(spec: &RuleSpec) -> Result<Self, WalkError> {
        if spec.kind == RuleKind::ReinforceStreak {
            return Err(WalkError::Hyper(
                "reinforce-streak has no form with noise (its streak count is not a weight)".into(),
            ));
        }
        if spec.alpha.is_empty() {
            return Err(WalkError::Hyper("a rule with no learning rates".into()));
        }
        Ok(Self::of(ClosedForm::from_spec(spec)))
    }

    fn of(form: ClosedForm) -> Self {
        let k = form.alpha.len();
        let dim = form.state_dim(k);
        let mut w = vec![0.0; k];
        let mut readout = vec![0.0; k * dim];
        let mut dth = vec![0.0; k * form.n_params()];
        form.weights(&vec![0.0; dim], &mut w, &mut readout, &mut dth);
        RuleDrift {
            form,
            k,
            dim,
            readout,
        }
    }

    /// The rule's parameters.
    pub fn spec(&self) -> RuleSpec {
        self.form.spec()
    }

    /// The state dimension S (2K for Q-learning, else K).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of weights K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The rule's stored parameters, `[P]` (log α, then β or log τ).
    pub fn values(&self) -> Vec<f64> {
        self.form.values()
    }

    /// The same rule with stored parameters `values` (`[P]`).
    pub fn with_values(&self, values: &[f64]) -> Self {
        Self::of(self.form.with_values(values))
    }

    /// The weights w = M s of a state `s` (`[S]`), `[K]`.
    pub fn weights(&self, s: &[f64]) -> Vec<f64> {
        (0..self.k)
            .map(|i| {
                (0..self.dim)
                    .map(|j| self.readout[i * self.dim + j] * s[j])
                    .sum()
            })
            .collect()
    }

    /// The SDs of the weights under a state covariance `cov` (`[S, S]`): √diag(M Σ Mᵀ),
    /// `[K]`.
    pub fn weights_sd(&self, cov: &[f64]) -> Vec<f64> {
        let d = self.dim;
        (0..self.k)
            .map(|i| {
                let m = &self.readout[i * d..(i + 1) * d];
                let mut v = 0.0;
                for a in 0..d {
                    for b in 0..d {
                        v += m[a] * cov[a * d + b] * m[b];
                    }
                }
                v.max(0.0).sqrt()
            })
            .collect()
    }

    /// x̃ = Mᵀ x, the regressors in state space (z = x · M s = x̃ · s).
    fn xt(&self, x: &[f64], out: &mut [f64]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = (0..self.k)
                .map(|i| self.readout[i * self.dim + j] * x[i])
                .sum();
        }
    }

    /// The step over trial `t` of `tr` from state `s`: f(s) into `next` (`[S]`) and its
    /// Jacobian ∂f/∂s into `jac` (`[S, S]`); `dth` is scratch (`[S, P]`).
    fn step(
        &self,
        tr: &Trials<'_>,
        t: usize,
        s: &[f64],
        next: &mut [f64],
        jac: &mut [f64],
        dth: &mut [f64],
    ) {
        let k = self.k;
        self.form.step(
            s,
            &tr.series.x[t * k..(t + 1) * k],
            tr.series.y[t],
            tr.reward[t],
            tr.answer[t],
            next,
            jac,
            dth,
        );
    }

    /// [`RuleDrift::step`] with its own scratch (for tests of the generic drift).
    #[cfg(test)]
    pub(crate) fn step_public(
        &self,
        tr: &Trials<'_>,
        t: usize,
        s: &[f64],
        next: &mut [f64],
        jac: &mut [f64],
    ) {
        let mut dth = vec![0.0; self.dim * self.form.n_params()];
        self.step(tr, t, s, next, jac, &mut dth);
    }

    /// The step variances of `tr` in state space, `[trials, S]`: σ_init² on the first
    /// trial, then [`Hyper::step_var`] (Q-learning's θ_R,j and θ_L,j share σ_j).
    fn variances(&self, tr: &Trials<'_>, h: &Hyper) -> Vec<f64> {
        let (d, n) = (self.dim, tr.series.n());
        let mut v = vec![0.0; n * d];
        for t in 0..n {
            for j in 0..d {
                v[t * d + j] = if t == 0 {
                    h.sigma_init * h.sigma_init
                } else {
                    h.step_var(tr.series.session_start[t], j % self.k)
                };
            }
        }
        v
    }
}

/// The negative log posterior of the states `s` (`[trials, S]`) with its gradient and
/// Gauss–Newton Hessian ([`drift_objective`] with x̃ = Mᵀ x and the rule's step).
fn objective(
    tr: &Trials<'_>,
    drift: &RuleDrift,
    v: &[f64],
    s: &[f64],
    with_hess: bool,
) -> Objective {
    let k = drift.k;
    let mut dth = vec![0.0; drift.dim * drift.form.n_params()];
    drift_objective(
        drift.dim,
        tr.series.y,
        v,
        s,
        with_hess,
        |t, x| drift.xt(&tr.series.x[t * k..(t + 1) * k], x),
        |t, s, next, jac| drift.step(tr, t, s, next, jac, &mut dth),
    )
}

/// The Newton decrement below which [`map_rule`] stops (tight, for the finite-difference
/// gradient of the evidence).
const MAP_TOLERANCE: f64 = 1e-14;

/// The MAP states of one animal under the rule `drift` with noise `hyper`, from `start`
/// (`[trials, S]`, e.g. a previous fit's) or 0: [`MapFit::w`] holds the states
/// `[trials, S]` (the weights for every rule but Q-learning; [`RuleDrift::weights`] maps
/// them), [`MapFit::log_evidence`] the Laplace evidence with the Gauss–Newton Hessian.
///
/// Errors: [`WalkError::Data`], [`WalkError::Hyper`], [`WalkError::NotPositiveDefinite`],
/// [`WalkError::NotConverged`], [`WalkError::NonFinite`].
pub fn map_rule(
    tr: &Trials<'_>,
    drift: &RuleDrift,
    hyper: &Hyper,
    start: Option<&[f64]>,
) -> Result<MapFit, WalkError> {
    tr.check()?;
    hyper.check(drift.k)?;
    if tr.series.k != drift.k {
        return Err(WalkError::Data(format!(
            "{} regressors for a rule of {} weights",
            tr.series.k, drift.k
        )));
    }
    let n = tr.series.n() * drift.dim;
    let s = match start {
        Some(s) if s.len() == n && s.iter().all(|x| x.is_finite()) => s.to_vec(),
        _ => vec![0.0; n],
    };
    let v = drift.variances(tr, hyper);
    newton(s, v, MAP_TOLERANCE, |v, s, h| objective(tr, drift, v, s, h))
}

/// A fitted rule with noise: the rule, the noise, the MAP fit of every animal and the
/// summed evidence.
#[derive(Debug, Clone)]
pub struct RuleWalkFit {
    /// The rule at the optimum.
    pub drift: RuleDrift,
    /// σ (and σ_day) at the optimum; σ_init as given.
    pub hyper: Hyper,
    /// One MAP fit per animal, in order (states `[trials, S]`).
    pub maps: Vec<MapFit>,
    /// Σ over animals of the Laplace log evidence (nats).
    pub log_evidence: f64,
    /// BFGS iterations used.
    pub iterations: usize,
    /// Evidence evaluations used (each a MAP fit of every animal).
    pub evaluations: usize,
    /// `Some(gradient)` when BFGS ran out of iterations before every |∂L/∂θ| fell below
    /// the tolerance (the fit is the last accepted point): `[ln σ…, ln σ_day… when free,
    /// the rule's stored parameters]` (log α, then β or log τ).
    pub unconverged: Option<Vec<f64>>,
}

fn total(
    trials: &[Trials<'_>],
    drift: &RuleDrift,
    hyper: &Hyper,
    warm: Option<&[MapFit]>,
) -> Result<(Vec<MapFit>, f64), WalkError> {
    let mut maps = Vec::with_capacity(trials.len());
    let mut sum = 0.0;
    for (i, tr) in trials.iter().enumerate() {
        let start = warm.and_then(|w| w.get(i)).map(|m| m.w.as_slice());
        let fit = map_rule(tr, drift, hyper, start)?;
        sum += fit.log_evidence;
        maps.push(fit);
    }
    Ok((maps, sum))
}

/// The finite-difference step of the evidence gradient (in ln σ, log α, β, log τ).
const FD_STEP: f64 = 1e-4;

/// Maximises the Laplace evidence summed over `trials` (one entry per animal; the rule's
/// parameters and σ shared) over ln σ (and ln σ_day when `options.free.day`) and the
/// rule's stored parameters, from `drift` and `start` (σ_init stays fixed). The gradient is
/// by central finite differences (module docs); the optimiser is the BFGS of
/// [`optimise`](crate::optimise). `options.gradient_tolerance` is in nats per unit of the
/// parameters.
///
/// Errors: as [`map_rule`]; [`WalkError::Data`] for no animals or animals with different K.
/// Running out of iterations is not an error: see [`RuleWalkFit::unconverged`].
pub fn optimise_rule(
    trials: &[Trials<'_>],
    drift: &RuleDrift,
    start: &Hyper,
    options: OptimiseOptions,
) -> Result<RuleWalkFit, WalkError> {
    let k = drift.k;
    if trials.is_empty() || trials.iter().any(|t| t.series.k != k || t.series.n() == 0) {
        return Err(WalkError::Data(format!(
            "every animal needs {k} regressors and at least one trial"
        )));
    }
    let free = options.free;
    let n_sigma = free.len(k);
    let unpack = |th: &[f64]| {
        let mut h = start.clone();
        h.sigma = th[..k].iter().map(|t| t.exp()).collect();
        if free.day {
            h.sigma_day = Some(th[k..2 * k].iter().map(|t| t.exp()).collect());
        }
        (h, drift.with_values(&th[n_sigma..]))
    };
    let mut th: Vec<f64> = start.sigma.iter().map(|s| s.ln()).collect();
    if free.day {
        let day = start
            .sigma_day
            .clone()
            .unwrap_or_else(|| start.sigma.clone());
        th.extend(day.iter().map(|s| s.ln()));
    }
    th.extend(drift.values());
    let settings = Bfgs {
        gradient_tolerance: options.gradient_tolerance,
        max_iterations: options.max_iterations,
    };
    let mut evaluations = 0;
    let out = maximise(th, settings, |th, warm: Option<&Vec<MapFit>>| {
        let (h, d) = unpack(th);
        let (maps, f) = total(trials, &d, &h, warm.map(Vec::as_slice))?;
        evaluations += 1;
        let mut grad = vec![0.0; th.len()];
        for (i, g) in grad.iter_mut().enumerate() {
            let side = |sign: f64| {
                let mut t = th.to_vec();
                t[i] += sign * FD_STEP;
                let (h, d) = unpack(&t);
                total(trials, &d, &h, Some(&maps)).map(|(_, f)| f)
            };
            *g = (side(1.0)? - side(-1.0)?) / (2.0 * FD_STEP);
        }
        if !(f.is_finite() && grad.iter().all(|g| g.is_finite())) {
            return Err(WalkError::NonFinite("the evidence or its gradient".into()));
        }
        Ok((maps, f, grad))
    })?;
    let (hyper, drift) = unpack(&out.theta);
    Ok(RuleWalkFit {
        drift,
        hyper,
        maps: out.state,
        log_evidence: out.value,
        iterations: out.iterations,
        evaluations,
        unconverged: out.unconverged,
    })
}

/// One-step-ahead predictions under the rule with noise (module docs). From
/// [`Start::Prior`] every trial of `tr` is predicted, the first from N(0, σ_init² I). From
/// [`Start::After`]`(g)`, `g` is the belief about the state on `tr`'s **first** trial after
/// its choice (e.g. the training posterior at the last training trial, which `tr` then
/// starts with): that trial is not predicted, the others are. [`Prediction::mean`] and
/// [`Prediction::sd`] are of the weights (`[predicted trials, K]`), [`Prediction::last`] is
/// the belief about the state (`[S]`, `[S, S]`).
///
/// Errors: [`WalkError::Data`], [`WalkError::Hyper`], [`WalkError::NonFinite`].
#[allow(clippy::needless_range_loop)] // a, b, j index m, P and J together.
pub fn filter_rule(
    tr: &Trials<'_>,
    drift: &RuleDrift,
    hyper: &Hyper,
    start: &Start,
) -> Result<Prediction, WalkError> {
    tr.check()?;
    hyper.check(drift.k)?;
    let (d, k, n) = (drift.dim, drift.k, tr.series.n());
    let (mut m, mut cov, first) = match start {
        Start::Prior => {
            let g = Gaussian::prior(d, hyper.sigma_init);
            (g.mean, g.cov, 0)
        }
        Start::After(g) => {
            if g.mean.len() != d || g.cov.len() != d * d || n == 0 {
                return Err(WalkError::Data(format!(
                    "the filter's start has {} means and {} covariances for a state of {d}, on {n} trials",
                    g.mean.len(),
                    g.cov.len()
                )));
            }
            (g.mean.clone(), g.cov.clone(), 1)
        }
    };
    let mut out = Prediction {
        p_right: Vec::with_capacity(n),
        mean: Vec::with_capacity(n * k),
        sd: Vec::with_capacity(n * k),
        last: Gaussian::prior(d, hyper.sigma_init),
    };
    let (mut next, mut jac, mut dth) = (
        vec![0.0; d],
        vec![0.0; d * d],
        vec![0.0; d * drift.form.n_params()],
    );
    let (mut xt, mut px, mut jp) = (vec![0.0; d], vec![0.0; d], vec![0.0; d * d]);
    for t in first..n {
        if t > 0 {
            // Predict: m ← f(m), P ← J P Jᵀ + V_t.
            drift.step(tr, t - 1, &m, &mut next, &mut jac, &mut dth);
            m.copy_from_slice(&next);
            for a in 0..d {
                for b in 0..d {
                    jp[a * d + b] = (0..d).map(|j| jac[a * d + j] * cov[j * d + b]).sum();
                }
            }
            for a in 0..d {
                for b in 0..d {
                    cov[a * d + b] = (0..d).map(|j| jp[a * d + j] * jac[b * d + j]).sum();
                }
                cov[a * d + a] += hyper.step_var(tr.series.session_start[t], a % k);
            }
        }
        drift.xt(&tr.series.x[t * k..(t + 1) * k], &mut xt);
        let mu: f64 = xt.iter().zip(&m).map(|(a, b)| a * b).sum();
        for (a, pa) in px.iter_mut().enumerate() {
            *pa = (0..d).map(|b| cov[a * d + b] * xt[b]).sum();
        }
        let s2: f64 = xt.iter().zip(&px).map(|(a, b)| a * b).sum();
        out.p_right.push(predictive_p(mu, s2));
        out.mean.extend(drift.weights(&m));
        out.sd.extend(drift.weights_sd(&cov));
        // Update by moment matching, as the walk's filter.
        let (mz, vz) = tilted_moments(mu, s2, tr.series.y[t] > 0.5);
        let (gain, shrink) = if s2 > 0.0 {
            ((mz - mu) / s2, ((s2 - vz) / (s2 * s2)).max(0.0))
        } else {
            (0.0, 0.0)
        };
        for a in 0..d {
            m[a] += px[a] * gain;
            for b in 0..d {
                cov[a * d + b] -= shrink * px[a] * px[b];
            }
        }
        if !m.iter().chain(&cov).all(|v| v.is_finite()) {
            return Err(WalkError::NonFinite(format!(
                "the filter's belief at trial {t}"
            )));
        }
    }
    out.last = Gaussian { mean: m, cov };
    Ok(out)
}

/// The rule's own steps from the state `s` (`[S]`) on `tr`'s first trial after its choice
/// (no noise, no filtering: the drift's mean path): p(right) of trials 1.. of `tr`
/// (`[trials − 1]`) and their weights (`[trials − 1, K]`).
///
/// Errors: [`WalkError::Data`], [`WalkError::NonFinite`].
pub fn mean_path(
    tr: &Trials<'_>,
    drift: &RuleDrift,
    s: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), WalkError> {
    tr.check()?;
    let (d, k, n) = (drift.dim, drift.k, tr.series.n());
    if s.len() != d {
        return Err(WalkError::Data(format!("a state of {} for {d}", s.len())));
    }
    let mut st = s.to_vec();
    let (mut next, mut jac, mut dth) = (
        vec![0.0; d],
        vec![0.0; d * d],
        vec![0.0; d * drift.form.n_params()],
    );
    let mut p = Vec::with_capacity(n);
    let mut w = Vec::with_capacity(n * k);
    for t in 1..n {
        drift.step(tr, t - 1, &st, &mut next, &mut jac, &mut dth);
        st.copy_from_slice(&next);
        let wt = drift.weights(&st);
        let z: f64 = wt
            .iter()
            .zip(&tr.series.x[t * k..(t + 1) * k])
            .map(|(a, b)| a * b)
            .sum();
        if !z.is_finite() {
            return Err(WalkError::NonFinite(format!(
                "the rule's weights at trial {t}"
            )));
        }
        p.push(sigmoid(z).clamp(1e-15, 1.0 - 1e-15));
        w.extend(wt);
    }
    Ok((p, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded toy animal: K = 2 regressors (a stimulus in [−1, 1] and a bias), random
    /// choices, rewards for the correct side, sessions of 40 trials.
    struct Toy {
        x: Vec<f64>,
        y: Vec<f64>,
        r: Vec<f64>,
        a: Vec<f64>,
        start: Vec<bool>,
    }

    fn toy(n: usize) -> Toy {
        // A small LCG: the test needs no statistics, only varied inputs.
        let mut state = 12345u64;
        let mut u = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut t = Toy {
            x: vec![],
            y: vec![],
            r: vec![],
            a: vec![],
            start: vec![],
        };
        for i in 0..n {
            let stim = 2.0 * u() - 1.0;
            t.x.extend([stim, 1.0]);
            let y = f64::from(u() < sigmoid(1.5 * stim));
            let a = f64::from(stim > 0.0);
            t.y.push(y);
            t.a.push(a);
            t.r.push(f64::from(y == a));
            t.start.push(i % 40 == 0);
        }
        t
    }

    fn trials_of(t: &Toy) -> Trials<'_> {
        Trials {
            series: Series {
                k: 2,
                x: &t.x,
                y: &t.y,
                session_start: &t.start,
            },
            reward: &t.r,
            answer: &t.a,
        }
    }

    fn hyper() -> Hyper {
        Hyper {
            sigma: vec![0.05, 0.1],
            sigma_init: 2.0,
            sigma_day: None,
        }
    }

    fn rule(kind: RuleKind) -> RuleDrift {
        let mut spec = RuleSpec::initial(kind, 2, 0.3);
        spec.alpha = vec![0.3, 0.2];
        if kind == RuleKind::ReinforceBaseline {
            spec.beta = vec![0.4, -0.2];
        }
        if kind == RuleKind::Qlearning {
            spec.inverse_temperature = Some(1.7);
        }
        RuleDrift::new(&spec).unwrap()
    }

    /// The objective's gradient matches central differences of its value (f64, every
    /// parametric rule with a noisy form), at a point away from the MAP.
    #[test]
    fn gradient_matches_finite_differences() {
        let t = toy(30);
        let tr = trials_of(&t);
        for kind in [
            RuleKind::Reinforce,
            RuleKind::ReinforceBaseline,
            RuleKind::Rewardmax,
            RuleKind::Predictmax,
            RuleKind::Qlearning,
        ] {
            let drift = rule(kind);
            let v = drift.variances(&tr, &hyper());
            let n = 30 * drift.dim;
            let s: Vec<f64> = (0..n).map(|i| 0.3 * ((i as f64) * 0.7).sin()).collect();
            let obj = objective(&tr, &drift, &v, &s, false);
            for i in (0..n).step_by(7) {
                let h = 1e-6;
                let mut sp = s.clone();
                sp[i] += h;
                let mut sm = s.clone();
                sm[i] -= h;
                let fd = (objective(&tr, &drift, &v, &sp, false).value
                    - objective(&tr, &drift, &v, &sm, false).value)
                    / (2.0 * h);
                assert!(
                    (fd - obj.grad[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                    "{kind:?} {i}: {fd} vs {}",
                    obj.grad[i]
                );
            }
        }
    }

    /// For Q-learning (a drift linear in the state) the Gauss–Newton Hessian is the exact
    /// Hessian: it matches central differences of the gradient, diagonal and off-diagonal
    /// blocks.
    #[test]
    fn gauss_newton_is_exact_for_a_linear_drift() {
        let t = toy(12);
        let tr = trials_of(&t);
        let drift = rule(RuleKind::Qlearning);
        let v = drift.variances(&tr, &hyper());
        let d = drift.dim;
        let n = 12 * d;
        let s: Vec<f64> = (0..n).map(|i| 0.2 * ((i as f64) * 1.3).cos()).collect();
        let dense = objective(&tr, &drift, &v, &s, true).hess.to_dense();
        for i in 0..n {
            let h = 1e-6;
            let mut sp = s.clone();
            sp[i] += h;
            let mut sm = s.clone();
            sm[i] -= h;
            let gp = objective(&tr, &drift, &v, &sp, false).grad;
            let gm = objective(&tr, &drift, &v, &sm, false).grad;
            for j in 0..n {
                let fd = (gp[j] - gm[j]) / (2.0 * h);
                assert!(
                    (fd - dense[(j, i)]).abs() < 1e-5 * (1.0 + fd.abs()),
                    "H[{j},{i}]: {fd} vs {}",
                    dense[(j, i)]
                );
            }
        }
    }

    /// With α = 0 the drift vanishes: MAP, evidence and one-step predictions are those of
    /// PsyTrack's walk.
    #[test]
    fn zero_learning_rates_give_the_walk() {
        let t = toy(200);
        let tr = trials_of(&t);
        let drift = RuleDrift::new(&RuleSpec::initial(RuleKind::Reinforce, 2, 0.0)).unwrap();
        let h = hyper();
        let rule = map_rule(&tr, &drift, &h, None).unwrap();
        // The walk's own MAP (stopped at a decrement of 1e-10) is within 1e-4 of it; at the
        // rule's MAP (decrement < 1e-14) the walk's Laplace evidence is the rule's.
        let walk = crate::map_estimate(&tr.series, &h, None).unwrap();
        for (a, b) in rule.w.iter().zip(&walk.w) {
            assert!((a - b).abs() < 1e-4);
        }
        let walk = crate::map_estimate(&tr.series, &h, Some(&rule.w)).unwrap();
        assert!(
            (rule.log_evidence - walk.log_evidence).abs() < 1e-8,
            "{} vs {}",
            rule.log_evidence,
            walk.log_evidence
        );
        let p_rule = filter_rule(&tr, &drift, &h, &Start::Prior).unwrap().p_right;
        let p_walk = crate::filter(&tr.series, &h, &Start::Prior)
            .unwrap()
            .p_right;
        for (a, b) in p_rule.iter().zip(&p_walk) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    /// Running out of BFGS iterations is no error: the last accepted point comes back with
    /// the gradient that is still above the tolerance (issue 16, finding (e)).
    #[test]
    fn out_of_iterations_keeps_the_last_state() {
        let t = toy(200);
        let tr = trials_of(&t);
        let drift = rule(RuleKind::ReinforceBaseline);
        let options = OptimiseOptions {
            gradient_tolerance: 1e-12,
            max_iterations: 1,
            ..Default::default()
        };
        let fit = optimise_rule(&[tr], &drift, &hyper(), options).unwrap();
        let g = fit.unconverged.expect("one iteration cannot reach 1e-12");
        // ln σ (2), log α (2), β (2).
        assert_eq!(g.len(), 6);
        assert!(g.iter().any(|g| g.abs() >= 1e-12));
        assert!(fit.log_evidence.is_finite() && fit.maps.len() == 1);
        let converged = optimise_rule(
            &[tr],
            &drift,
            &hyper(),
            OptimiseOptions {
                gradient_tolerance: 1e-2,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(converged.unconverged.is_none());
        assert!(converged.log_evidence >= fit.log_evidence - 1e-9);
    }
}

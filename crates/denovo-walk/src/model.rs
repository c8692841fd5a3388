//! The random-walk model of Roy et al. (2021, *Neuron*, "Extracting the dynamics of
//! behavior in sensory decision-making experiments"; psytrack 2.0.2): its MAP weights, its
//! Laplace evidence and the evidence's exact gradient in the hyperparameters.
//!
//! p(y_t = 1 | w_t) = σ(x_t · w_t); w_0 ~ N(0, σ_init² I); w_t = w_{t−1} + ε_t with
//! ε_t ~ N(0, diag σ²), or N(0, diag σ_day²) on the first trial of a session when σ_day is
//! given. The prior precision of weight k is Q_k = Dᵀ diag(1/v_{t,k}) D (D the difference
//! matrix, v the step variances), so the negative log posterior has the block-tridiagonal
//! Hessian H = Q + W, W = blockdiag(c_t x_t x_tᵀ), c_t = p_t (1 − p_t).

use crate::WalkError;
use crate::blocks::{BlockTridiag, Factor};
pub(crate) use denovo_glm::scalar::{sigmoid, softplus};

/// One animal's trials: regressors, choices and session starts.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Number of weights K.
    pub k: usize,
    /// Regressors, row-major `[trials, K]`.
    pub x: &'a [f64],
    /// Choices, 0 (left) or 1 (right), `[trials]`.
    pub y: &'a [f64],
    /// Whether each trial is the first of its session, `[trials]`.
    pub session_start: &'a [bool],
}

impl Series<'_> {
    /// Number of trials T.
    pub fn n(&self) -> usize {
        self.y.len()
    }

    /// Checks shapes and values. Errors: [`WalkError::Data`].
    pub fn check(&self) -> Result<(), WalkError> {
        let n = self.n();
        if self.x.len() != n * self.k || self.session_start.len() != n {
            return Err(WalkError::Data(format!(
                "shapes: {} regressor values for {} trials × {} weights, {} session flags",
                self.x.len(),
                n,
                self.k,
                self.session_start.len()
            )));
        }
        if let Some(t) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(WalkError::Data(format!(
                "regressor {} of trial {} is {}",
                t % self.k,
                t / self.k,
                self.x[t]
            )));
        }
        if let Some(t) = self.y.iter().position(|&v| v != 0.0 && v != 1.0) {
            return Err(WalkError::Data(format!(
                "choice of trial {t} is {} (expected 0 or 1)",
                self.y[t]
            )));
        }
        Ok(())
    }

    fn row(&self, t: usize) -> &[f64] {
        &self.x[t * self.k..(t + 1) * self.k]
    }
}

/// The hyperparameters of the walk (standard deviations, in weight units per trial).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hyper {
    /// σ_k, the trial-to-trial SD of every weight, `[K]`.
    pub sigma: Vec<f64>,
    /// σ_init, the prior SD of the first trial's weights (psytrack's default 2⁴ = 16).
    pub sigma_init: f64,
    /// σ_day,k, the SD of the step into a session's first trial, `[K]` (`None`: σ).
    pub sigma_day: Option<Vec<f64>>,
}

impl Hyper {
    /// Step variance v_{t,k} into trial `t` (t ≥ 1) of weight `k`.
    pub fn step_var(&self, session_start: bool, k: usize) -> f64 {
        match (&self.sigma_day, session_start) {
            (Some(day), true) => day[k] * day[k],
            _ => self.sigma[k] * self.sigma[k],
        }
    }

    /// Checks that every SD is finite and > 0 and that there are K of them.
    pub fn check(&self, k: usize) -> Result<(), WalkError> {
        let bad = |v: &f64| !(v.is_finite() && *v > 0.0);
        let day = self.sigma_day.as_deref().unwrap_or(&[]);
        if self.sigma.len() != k
            || self.sigma_day.as_ref().is_some_and(|d| d.len() != k)
            || self.sigma.iter().chain(day).any(bad)
            || bad(&self.sigma_init)
        {
            return Err(WalkError::Hyper(format!(
                "σ = {:?}, σ_day = {:?}, σ_init = {} for {k} weights (every SD must be finite and > 0)",
                self.sigma, self.sigma_day, self.sigma_init
            )));
        }
        Ok(())
    }
}

/// The prior step variances of a series, `[trials, K]`: v_{0,k} = σ_init², then
/// [`Hyper::step_var`].
pub(crate) fn variances(s: &Series<'_>, h: &Hyper) -> Vec<f64> {
    let k = s.k;
    let mut v = vec![0.0; s.n() * k];
    for t in 0..s.n() {
        for j in 0..k {
            v[t * k + j] = if t == 0 {
                h.sigma_init * h.sigma_init
            } else {
                h.step_var(s.session_start[t], j)
            };
        }
    }
    v
}

/// The negative log posterior (up to its constant), its gradient and Hessian at `w`
/// (`[trials, K]`) under the step variances `v`.
pub(crate) struct Objective {
    /// −log p(y | w) − log p(w) + const (nats).
    pub value: f64,
    /// log p(y | w) (nats).
    pub log_lik: f64,
    /// ½ Σ Δw² / v, the prior's quadratic term.
    pub quad: f64,
    /// Gradient, `[trials, K]`.
    pub grad: Vec<f64>,
    /// Hessian.
    pub hess: BlockTridiag,
}

/// Evaluates [`Objective`] at `w`.
#[allow(clippy::needless_range_loop)] // t, j index w, v, x and the blocks together.
pub(crate) fn objective(s: &Series<'_>, v: &[f64], w: &[f64], with_hess: bool) -> Objective {
    let (k, n) = (s.k, s.n());
    let mut grad = vec![0.0; n * k];
    let mut hess = if with_hess {
        BlockTridiag::zeros(k, n)
    } else {
        BlockTridiag::zeros(k, 0)
    };
    let (mut log_lik, mut quad) = (0.0, 0.0);
    for t in 0..n {
        let x = s.row(t);
        let wt = &w[t * k..(t + 1) * k];
        let z: f64 = x.iter().zip(wt).map(|(a, b)| a * b).sum();
        let p = sigmoid(z);
        log_lik += s.y[t] * z - softplus(z);
        let c = p * (1.0 - p);
        for j in 0..k {
            let idx = t * k + j;
            let prev = if t > 0 { w[idx - k] } else { 0.0 };
            let d = w[idx] - prev;
            quad += 0.5 * d * d / v[idx];
            // Prior gradient (Q w)_t = d_t / v_t − d_{t+1} / v_{t+1}.
            grad[idx] += d / v[idx] - (s.y[t] - p) * x[j];
            if t + 1 < n {
                let dn = w[idx + k] - w[idx];
                grad[idx] -= dn / v[idx + k];
            }
        }
        if with_hess {
            let kk = k * k;
            let a = &mut hess.diag[t * kk..(t + 1) * kk];
            for i in 0..k {
                for j in 0..k {
                    a[i * k + j] = c * x[i] * x[j];
                }
                a[i * k + i] += 1.0 / v[t * k + i];
                if t + 1 < n {
                    a[i * k + i] += 1.0 / v[(t + 1) * k + i];
                    hess.upper[t * kk + i * k + i] = -1.0 / v[(t + 1) * k + i];
                }
            }
        }
    }
    Objective {
        value: quad - log_lik,
        log_lik,
        quad,
        grad,
        hess,
    }
}

/// [`Objective`] of a walk with a drift, at the states `s` (`[trials, D]`): s_t =
/// f_{t−1}(s_{t−1}) + ε_t, ε_t ~ N(0, diag v_t), s_0 ~ N(0, diag v_0), p(y_t = 1) =
/// σ(x̃_t · s_t), with the **Gauss–Newton** Hessian (the likelihood's curvature
/// Σ p(1−p) x̃ x̃ᵀ plus Dᵀ V⁻¹ D, D the block bidiagonal operator with I on the diagonal
/// and −J_t below it; the drift's own curvature dropped). `regressors(t, x̃)` writes trial
/// t's x̃_t (`[D]`); `step(t, s, next, jac)` the drift over trial t from s: f_t(s) into
/// `next` (`[D]`) and ∂f_t/∂s into `jac` (`[D, D]`, row-major). The one objective of the
/// rules with noise ([`map_rule`](crate::map_rule)) and of a given drift
/// ([`map_drift`](crate::map_drift)).
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)] // a, b, j index the blocks, J and v together.
pub(crate) fn drift_objective(
    d: usize,
    y: &[f64],
    v: &[f64],
    s: &[f64],
    with_hess: bool,
    mut regressors: impl FnMut(usize, &mut [f64]),
    mut step: impl FnMut(usize, &[f64], &mut [f64], &mut [f64]),
) -> Objective {
    let n = y.len();
    let dd = d * d;
    let mut grad = vec![0.0; n * d];
    let mut hess = BlockTridiag::zeros(d, if with_hess { n } else { 0 });
    let (mut log_lik, mut quad) = (0.0, 0.0);
    let mut xt = vec![0.0; d];
    let mut next = vec![0.0; d];
    let mut jac = vec![0.0; dd];
    let mut r = vec![0.0; d];
    for t in 0..n {
        regressors(t, &mut xt);
        let st = &s[t * d..(t + 1) * d];
        let z: f64 = xt.iter().zip(st).map(|(a, b)| a * b).sum();
        let p = sigmoid(z);
        log_lik += y[t] * z - softplus(z);
        let c = p * (1.0 - p);
        let vt = &v[t * d..(t + 1) * d];
        if t == 0 {
            r.copy_from_slice(st);
        } else {
            step(t - 1, &s[(t - 1) * d..t * d], &mut next, &mut jac);
            for j in 0..d {
                r[j] = st[j] - next[j];
            }
        }
        for j in 0..d {
            quad += 0.5 * r[j] * r[j] / vt[j];
            grad[t * d + j] += r[j] / vt[j] - (y[t] - p) * xt[j];
        }
        if t > 0 {
            for a in 0..d {
                grad[(t - 1) * d + a] -= (0..d).map(|j| jac[j * d + a] * r[j] / vt[j]).sum::<f64>();
            }
        }
        if with_hess {
            let blk = &mut hess.diag[t * dd..(t + 1) * dd];
            for a in 0..d {
                for b in 0..d {
                    blk[a * d + b] += c * xt[a] * xt[b];
                }
                blk[a * d + a] += 1.0 / vt[a];
            }
            if t > 0 {
                let prev = &mut hess.diag[(t - 1) * dd..t * dd];
                for a in 0..d {
                    for b in 0..d {
                        prev[a * d + b] += (0..d)
                            .map(|j| jac[j * d + a] * jac[j * d + b] / vt[j])
                            .sum::<f64>();
                    }
                }
                let up = &mut hess.upper[(t - 1) * dd..t * dd];
                for a in 0..d {
                    for b in 0..d {
                        up[a * d + b] = -jac[b * d + a] / vt[b];
                    }
                }
            }
        }
    }
    Objective {
        value: quad - log_lik,
        log_lik,
        quad,
        grad,
        hess,
    }
}

/// The MAP weights of one series and what the evidence needs.
#[derive(Debug, Clone)]
pub struct MapFit {
    /// MAP weights w*, `[trials, K]`.
    pub w: Vec<f64>,
    /// log p(y | w*) (nats).
    pub log_lik: f64,
    /// The Laplace approximation of log p(y | σ) (nats): log p(y | w*) + log p(w*)
    /// + (TK/2) log 2π − ½ log det H (Roy et al. 2021, eq. 9; psytrack's `logEvd`).
    pub log_evidence: f64,
    /// Newton iterations used.
    pub iterations: usize,
    pub(crate) hess: BlockTridiag,
    pub(crate) factor: Factor,
    pub(crate) v: Vec<f64>,
}

impl MapFit {
    /// Posterior covariance blocks: Σ_tt `[trials, K, K]` and Σ_{t,t+1} `[trials − 1, K, K]`
    /// of the Laplace approximation N(w*, H⁻¹).
    pub fn covariance_blocks(&self) -> (Vec<f64>, Vec<f64>) {
        self.factor.selected_inverse(&self.hess)
    }

    /// Posterior SD of every weight on every trial, `[trials, K]` (√ diag H⁻¹; psytrack's
    /// `W_std`).
    pub fn posterior_sd(&self) -> Vec<f64> {
        let (diag, _) = self.covariance_blocks();
        let k = self.hess.k;
        (0..self.hess.n)
            .flat_map(|t| (0..k).map(move |j| (t, j)))
            .map(|(t, j)| diag[t * k * k + j * k + j].sqrt())
            .collect()
    }
}

/// MAP weights of one series by Newton's method with step halving on the block-tridiagonal
/// Hessian (O(T K³) per step), from `start` (`[trials, K]`, e.g. the previous fit's) or 0.
///
/// Errors: [`WalkError::Data`], [`WalkError::Hyper`], [`WalkError::NotPositiveDefinite`],
/// [`WalkError::NotConverged`], [`WalkError::NonFinite`].
pub fn map_estimate(
    s: &Series<'_>,
    hyper: &Hyper,
    start: Option<&[f64]>,
) -> Result<MapFit, WalkError> {
    s.check()?;
    hyper.check(s.k)?;
    let (k, n) = (s.k, s.n());
    let v = variances(s, hyper);
    let w = match start {
        Some(w) if w.len() == n * k && w.iter().all(|x| x.is_finite()) => w.to_vec(),
        _ => vec![0.0; n * k],
    };
    newton(w, v, 1e-10, |v, w, with_hess| objective(s, v, w, with_hess))
}

/// Newton's method with step halving on a convex negative log posterior `obj` (evaluated
/// at the prior step variances `v` and weights `w`), from `w`, until the Newton decrement
/// gᵀH⁻¹g falls below `tol`; then the Laplace evidence
/// log p(y | w*) − ½ Σ Δw*²/v − ½ Σ ln v − ½ ln det H (the 2π terms cancel).
pub(crate) fn newton(
    w: Vec<f64>,
    v: Vec<f64>,
    tol: f64,
    obj_at: impl Fn(&[f64], &[f64], bool) -> Objective,
) -> Result<MapFit, WalkError> {
    newton_with(w, v, tol, None, obj_at)
}

/// [`newton`] that, with `stall = Some(n)`, also stops at the best point seen when the
/// Newton decrement has not halved in `n` steps (or the step halving finds no decrease):
/// for an objective whose gradient jumps — a ReLU network's drift, whose MAP may sit on a
/// kink where the decrement cycles and never falls below `tol`. On a smooth objective the
/// decrement keeps shrinking and `tol` decides, as in [`newton`].
pub(crate) fn newton_with(
    mut w: Vec<f64>,
    v: Vec<f64>,
    tol: f64,
    stall: Option<usize>,
    obj_at: impl Fn(&[f64], &[f64], bool) -> Objective,
) -> Result<MapFit, WalkError> {
    let mut obj = obj_at(&v, &w, true);
    let (mut best, mut best_w) = (obj.value, w.clone());
    let (mut min_decrement, mut since, mut stalled) = (f64::INFINITY, 0, false);
    for it in 0..100 {
        if stalled && best < obj.value {
            w.clone_from(&best_w);
            obj = obj_at(&v, &w, true);
        }
        let factor = obj.hess.factor()?;
        let d = factor.solve(&obj.hess, &obj.grad);
        let decrement: f64 = d.iter().zip(&obj.grad).map(|(a, b)| a * b).sum();
        if !decrement.is_finite() {
            return Err(WalkError::NonFinite(
                "the Newton step of the MAP weights".into(),
            ));
        }
        if decrement < tol || stalled {
            let log_prior_det = -0.5 * v.iter().map(|x| x.ln()).sum::<f64>();
            let log_evidence = obj.log_lik - obj.quad + log_prior_det - 0.5 * factor.logdet;
            if !log_evidence.is_finite() {
                return Err(WalkError::NonFinite("the log evidence".into()));
            }
            return Ok(MapFit {
                w,
                log_lik: obj.log_lik,
                log_evidence,
                iterations: it,
                hess: obj.hess,
                factor,
                v,
            });
        }
        if decrement < 0.5 * min_decrement {
            (min_decrement, since) = (decrement, 0);
        } else {
            since += 1;
        }
        if stall.is_some_and(|n| since >= n) {
            stalled = true;
            continue;
        }
        // Damped Newton: halve the step until the objective decreases (it is convex).
        let mut step = 1.0;
        loop {
            let trial: Vec<f64> = w.iter().zip(&d).map(|(a, b)| a - step * b).collect();
            let next = obj_at(&v, &trial, false);
            if next.value.is_finite() && next.value <= obj.value + 1e-12 * obj.value.abs() {
                w = trial;
                break;
            }
            step *= 0.5;
            if step < 1e-10 {
                if stall.is_some() {
                    stalled = true;
                    break;
                }
                return Err(WalkError::NotConverged(format!(
                    "MAP weights: no decrease along the Newton step (decrement {decrement:.3e})"
                )));
            }
        }
        if stalled {
            continue;
        }
        obj = obj_at(&v, &w, true);
        if obj.value < best {
            best = obj.value;
            best_w.clone_from(&w);
        }
    }
    Err(WalkError::NotConverged(
        "MAP weights: 100 Newton steps".into(),
    ))
}

/// Which hyperparameters are optimised: σ_k for every weight, and σ_day,k when `day`.
/// Parameter j is θ_j = ln σ (the σ's first, then the σ_day's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Free {
    /// Optimise σ_day too.
    pub day: bool,
}

impl Free {
    /// Number of free parameters for `k` weights.
    pub fn len(&self, k: usize) -> usize {
        if self.day { 2 * k } else { k }
    }

    /// Free parameter (0-based) on which v_{t,j} depends, if any.
    fn owner(&self, s: &Series<'_>, t: usize, j: usize) -> Option<usize> {
        match (t, self.day && s.session_start[t]) {
            (0, _) => None,
            (_, true) => Some(s.k + j),
            _ => Some(j),
        }
    }
}

/// The gradient of [`MapFit::log_evidence`] in θ = ln σ (the free parameters of `free`),
/// exact for the Laplace approximation, w* moving with θ:
/// ∂L/∂θ = −½ w*ᵀ Q̇ w* + ½ tr(Q⁻¹ Q̇) − ½ tr(H⁻¹ (Q̇ + Ẇ)), with ẇ* = −H⁻¹ Q̇ w* and
/// Ẇ = Σ_t c′_t (x_t · ẇ*_t) x_t x_tᵀ, c′ = p(1 − p)(1 − 2p).
pub fn evidence_gradient(s: &Series<'_>, fit: &MapFit, free: Free) -> Vec<f64> {
    let (k, n) = (s.k, s.n());
    let m = free.len(k);
    let (sig, sig_up) = fit.covariance_blocks();
    let kk = k * k;
    let mut grad = vec![0.0; m];
    // Q̇_j w* per parameter, and the terms without ẇ.
    let mut qdot_w = vec![vec![0.0; n * k]; m];
    for t in 0..n {
        for j in 0..k {
            let Some(p) = free.owner(s, t, j) else {
                continue;
            };
            let idx = t * k + j;
            let qdot = -2.0 / fit.v[idx];
            let d = fit.w[idx] - if t > 0 { fit.w[idx - k] } else { 0.0 };
            // Variance of the increment under H⁻¹.
            let mut var = sig[t * kk + j * k + j];
            if t > 0 {
                var += sig[(t - 1) * kk + j * k + j] - 2.0 * sig_up[(t - 1) * kk + j * k + j];
            }
            grad[p] += -0.5 * qdot * d * d - 1.0 - 0.5 * qdot * var;
            // Q̇ w = Dᵀ (q̇ ⊙ D w): +q̇ d at t, −q̇ d at t − 1.
            qdot_w[p][idx] += qdot * d;
            if t > 0 {
                qdot_w[p][idx - k] -= qdot * d;
            }
        }
    }
    // c′_t s_t² with s_t² = x_tᵀ Σ_tt x_t.
    let mut cs = vec![0.0; n];
    for (t, c) in cs.iter_mut().enumerate() {
        let x = s.row(t);
        let wt = &fit.w[t * k..(t + 1) * k];
        let z: f64 = x.iter().zip(wt).map(|(a, b)| a * b).sum();
        let p = sigmoid(z);
        let mut s2 = 0.0;
        for a in 0..k {
            for b in 0..k {
                s2 += x[a] * sig[t * kk + a * k + b] * x[b];
            }
        }
        *c = p * (1.0 - p) * (1.0 - 2.0 * p) * s2;
    }
    for (p, qw) in qdot_w.iter().enumerate() {
        let wdot = fit.factor.solve(&fit.hess, qw);
        let mut term = 0.0;
        for (t, c) in cs.iter().enumerate() {
            let zdot: f64 = -s
                .row(t)
                .iter()
                .zip(&wdot[t * k..(t + 1) * k])
                .map(|(a, b)| a * b)
                .sum::<f64>();
            term += c * zdot;
        }
        grad[p] -= 0.5 * term;
    }
    grad
}

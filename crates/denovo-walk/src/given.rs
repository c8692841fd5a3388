//! A drift given by the caller: w_t = f_{t−1}(w_{t−1}) + ε_t, ε_t ~ N(0, diag v_t),
//! w_0 ~ N(0, σ_init² I), p(y_t = 1) = σ(x_t · w_t), where f_t is any step on the weights
//! that the caller implements ([`WeightDrift`]) — e.g. a fitted neural learning rule, whose
//! crate this one does not depend on. The rule is held fixed; only σ (and σ_day) is fitted
//! (the DNN and RNN rules with noise: "σ fitted on the training trials with the rule's
//! parameters fixed").
//!
//! The machinery is that of the parametric rules with noise ([`map_rule`](crate::map_rule),
//! whose module documents it), with the state the weights themselves (no read-out):
//!
//! - [`map_drift`]: the MAP weights by Newton's method with the **Gauss–Newton** Hessian
//!   (the likelihood's curvature plus Dᵀ V⁻¹ D, D the bidiagonal operator with −J_t =
//!   −∂f_t/∂w below the diagonal; the drift's own curvature is dropped — for a ReLU
//!   network it vanishes almost everywhere, f being piecewise linear in w). The gradient
//!   is exact, so the fixed point is the exact MAP. A ReLU network's drift has kinks where
//!   the gradient jumps; a MAP on a kink never meets the decrement tolerance, so Newton
//!   also stops, at the best point seen, once the decrement has not halved in 8 steps.
//! - [`optimise_drift`]: σ by maximising the Laplace evidence summed over animals, BFGS on
//!   a central finite-difference gradient in ln σ (step 10⁻⁴; every evaluation warm-started
//!   from the centre's MAP).
//! - [`filter_drift`]: one-step-ahead prediction, the moment-matching filter with the
//!   drift in its predict step, linearised at the mean (m ← f(m), P ← J P Jᵀ + V).

use crate::WalkError;
use crate::filter::{Gaussian, Prediction, Start, predictive_p, tilted_moments};
use crate::hyper::{Bfgs, OptimiseOptions, WalkFit, maximise};
use crate::model::{Hyper, MapFit, Objective, Series, drift_objective, newton_with, variances};
use std::cell::RefCell;

/// A step on the weights after a trial, with its Jacobian: what the caller supplies as the
/// drift of the walk.
///
/// [`map_drift`] and [`optimise_drift`] call [`WeightDrift::step`] many times for every
/// trial, in any order: there the step must be a function of `(t, w)` only.
/// [`filter_drift`] calls it once per trial, in order (t = 0, 1, … of its series, or from
/// 1 when it starts after the first trial), with w the filter's mean: a drift with a
/// state of its own (an RNN's hidden state) may advance it there.
pub trait WeightDrift {
    /// The number of weights K.
    fn k(&self) -> usize;
    /// The step over trial `t` (after its outcome) from the weights `w` (`[K]`): f_t(w)
    /// into `next` (`[K]`) and ∂f_t/∂w into `jac` (`[K, K]`, row-major, `jac[i·K + j]` =
    /// ∂f_i/∂w_j; the identity for a drift that does not move the weights).
    fn step(&mut self, t: usize, w: &[f64], next: &mut [f64], jac: &mut [f64]);
}

/// The negative log posterior of the weights `w` (`[trials, K]`) with its gradient and
/// Gauss–Newton Hessian ([`drift_objective`] with the state the weights themselves).
fn objective<D: WeightDrift + ?Sized>(
    s: &Series<'_>,
    drift: &mut D,
    v: &[f64],
    w: &[f64],
    with_hess: bool,
) -> Objective {
    let k = s.k;
    drift_objective(
        k,
        s.y,
        v,
        w,
        with_hess,
        |t, x| x.copy_from_slice(&s.x[t * k..(t + 1) * k]),
        |t, w, next, jac| drift.step(t, w, next, jac),
    )
}

/// The Newton decrement below which [`map_drift`] stops (tight, for the finite-difference
/// gradient of the evidence).
const MAP_TOLERANCE: f64 = 1e-14;

/// [`map_drift`] also stops, at the best point seen, after this many Newton steps in which
/// the decrement did not halve: a ReLU network's drift has kinks, and a MAP on a kink never
/// meets [`MAP_TOLERANCE`] (the decrement cycles between the sides).
const STALL_STEPS: usize = 8;

/// The MAP weights of one animal's series `s` under `drift` with noise `hyper`, from
/// `start` (`[trials, K]`, e.g. the rule's own trajectory or a previous fit) or 0:
/// [`MapFit::w`] `[trials, K]`, [`MapFit::log_evidence`] the Laplace evidence with the
/// Gauss–Newton Hessian.
///
/// Errors: [`WalkError::Data`] (shapes, or a drift of another K), [`WalkError::Hyper`],
/// [`WalkError::NotPositiveDefinite`], [`WalkError::NotConverged`],
/// [`WalkError::NonFinite`].
pub fn map_drift<D: WeightDrift + ?Sized>(
    s: &Series<'_>,
    drift: &mut D,
    hyper: &Hyper,
    start: Option<&[f64]>,
) -> Result<MapFit, WalkError> {
    s.check()?;
    hyper.check(s.k)?;
    if drift.k() != s.k {
        return Err(WalkError::Data(format!(
            "{} regressors for a drift of {} weights",
            s.k,
            drift.k()
        )));
    }
    let n = s.n() * s.k;
    let w = match start {
        Some(w) if w.len() == n && w.iter().all(|x| x.is_finite()) => w.to_vec(),
        _ => vec![0.0; n],
    };
    let v = variances(s, hyper);
    let cell = RefCell::new(drift);
    newton_with(w, v, MAP_TOLERANCE, Some(STALL_STEPS), |v, w, h| {
        objective(s, &mut **cell.borrow_mut(), v, w, h)
    })
}

/// The finite-difference step of the evidence gradient (in ln σ).
const FD_STEP: f64 = 1e-4;

/// Maximises the Laplace evidence summed over the animals `series` (each with its own
/// `drifts[i]`; σ shared) over ln σ (and ln σ_day when `options.free.day`), from `start`
/// (σ_init stays fixed) and the MAP starts `warm` (`warm[i]` `[trials, K]`, or 0 when
/// absent). The gradient is by central finite differences (module docs);
/// `options.gradient_tolerance` is in nats per unit of ln σ.
///
/// Errors: as [`map_drift`]; [`WalkError::Data`] for no animals, a different number of
/// drifts, or animals with different K.
pub fn optimise_drift<D: WeightDrift>(
    series: &[Series<'_>],
    drifts: &mut [D],
    start: &Hyper,
    warm: Option<&[Vec<f64>]>,
    options: OptimiseOptions,
) -> Result<WalkFit, WalkError> {
    let k = start.sigma.len();
    if series.is_empty()
        || drifts.len() != series.len()
        || series.iter().any(|s| s.k != k || s.n() == 0)
    {
        return Err(WalkError::Data(format!(
            "{} animals with {} drifts: every animal needs a drift, {k} regressors and a trial",
            series.len(),
            drifts.len()
        )));
    }
    let free = options.free;
    let unpack = |th: &[f64]| {
        let mut h = start.clone();
        h.sigma = th[..k].iter().map(|t| t.exp()).collect();
        if free.day {
            h.sigma_day = Some(th[k..2 * k].iter().map(|t| t.exp()).collect());
        }
        h
    };
    let total = |drifts: &mut [D],
                 h: &Hyper,
                 warm: &[Option<&[f64]>]|
     -> Result<(Vec<MapFit>, f64), WalkError> {
        let mut maps = Vec::with_capacity(series.len());
        let mut sum = 0.0;
        for ((s, d), w) in series.iter().zip(drifts.iter_mut()).zip(warm) {
            let fit = map_drift(s, d, h, *w)?;
            sum += fit.log_evidence;
            maps.push(fit);
        }
        Ok((maps, sum))
    };
    let mut th: Vec<f64> = start.sigma.iter().map(|s| s.ln()).collect();
    if free.day {
        let day = start
            .sigma_day
            .clone()
            .unwrap_or_else(|| start.sigma.clone());
        th.extend(day.iter().map(|s| s.ln()));
    }
    let settings = Bfgs {
        gradient_tolerance: options.gradient_tolerance,
        max_iterations: options.max_iterations,
    };
    let first: Vec<Option<&[f64]>> = (0..series.len())
        .map(|i| warm.and_then(|w| w.get(i)).map(Vec::as_slice))
        .collect();
    let mut evaluations = 0;
    let drifts = RefCell::new(drifts);
    let out = maximise(th, settings, |th, prev: Option<&Vec<MapFit>>| {
        let starts: Vec<Option<&[f64]>> = match prev {
            Some(maps) => maps.iter().map(|m| Some(m.w.as_slice())).collect(),
            None => first.clone(),
        };
        let mut drifts = drifts.borrow_mut();
        let (maps, f) = total(&mut drifts, &unpack(th), &starts)?;
        evaluations += 1;
        let centre: Vec<Option<&[f64]>> = maps.iter().map(|m| Some(m.w.as_slice())).collect();
        let mut grad = vec![0.0; th.len()];
        for (i, g) in grad.iter_mut().enumerate() {
            let mut side = |sign: f64| {
                let mut t = th.to_vec();
                t[i] += sign * FD_STEP;
                total(&mut drifts, &unpack(&t), &centre).map(|(_, f)| f)
            };
            *g = (side(1.0)? - side(-1.0)?) / (2.0 * FD_STEP);
        }
        if !(f.is_finite() && grad.iter().all(|g| g.is_finite())) {
            return Err(WalkError::NonFinite("the evidence or its gradient".into()));
        }
        Ok((maps, f, grad))
    })?;
    Ok(WalkFit {
        hyper: unpack(&out.theta),
        maps: out.state,
        log_evidence: out.value,
        iterations: out.iterations,
        evaluations,
        unconverged: out.unconverged,
    })
}

/// One-step-ahead predictions of `s` under `drift` with noise `hyper`. From
/// [`Start::Prior`] every trial is predicted, the first from N(0, σ_init² I). From
/// [`Start::After`]`(g)`, `g` is the belief about the weights on `s`'s **first** trial after
/// its choice (e.g. the training posterior at the last training trial, which `s` then
/// starts with): that trial is not predicted, the others are. [`Prediction::mean`] and
/// [`Prediction::sd`] are of the predicted trials (`[predicted trials, K]`).
///
/// Errors: [`WalkError::Data`], [`WalkError::Hyper`], [`WalkError::NonFinite`].
#[allow(clippy::needless_range_loop)] // a, b, j index m, P and J together.
pub fn filter_drift<D: WeightDrift + ?Sized>(
    s: &Series<'_>,
    drift: &mut D,
    hyper: &Hyper,
    start: &Start,
) -> Result<Prediction, WalkError> {
    s.check()?;
    hyper.check(s.k)?;
    let (k, n) = (s.k, s.n());
    if drift.k() != k {
        return Err(WalkError::Data(format!(
            "{k} regressors for a drift of {} weights",
            drift.k()
        )));
    }
    let (mut m, mut cov, first) = match start {
        Start::Prior => {
            let g = Gaussian::prior(k, hyper.sigma_init);
            (g.mean, g.cov, 0)
        }
        Start::After(g) => {
            if g.mean.len() != k || g.cov.len() != k * k || n == 0 {
                return Err(WalkError::Data(format!(
                    "the filter's start has {} means and {} covariances for {k} weights, on {n} trials",
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
        last: Gaussian::prior(k, hyper.sigma_init),
    };
    let (mut next, mut jac, mut jp, mut px) = (
        vec![0.0; k],
        vec![0.0; k * k],
        vec![0.0; k * k],
        vec![0.0; k],
    );
    for t in first..n {
        if t > 0 {
            drift.step(t - 1, &m, &mut next, &mut jac);
            m.copy_from_slice(&next);
            for a in 0..k {
                for b in 0..k {
                    jp[a * k + b] = (0..k).map(|j| jac[a * k + j] * cov[j * k + b]).sum();
                }
            }
            for a in 0..k {
                for b in 0..k {
                    cov[a * k + b] = (0..k).map(|j| jp[a * k + j] * jac[b * k + j]).sum();
                }
                cov[a * k + a] += hyper.step_var(s.session_start[t], a);
            }
        }
        let xt = &s.x[t * k..(t + 1) * k];
        let mu: f64 = xt.iter().zip(&m).map(|(a, b)| a * b).sum();
        for (a, pa) in px.iter_mut().enumerate() {
            *pa = (0..k).map(|b| cov[a * k + b] * xt[b]).sum();
        }
        let s2: f64 = xt.iter().zip(&px).map(|(a, b)| a * b).sum();
        out.p_right.push(predictive_p(mu, s2));
        out.mean.extend_from_slice(&m);
        out.sd
            .extend((0..k).map(|a| cov[a * k + a].max(0.0).sqrt()));
        let (mz, vz) = tilted_moments(mu, s2, s.y[t] > 0.5);
        let (gain, shrink) = if s2 > 0.0 {
            ((mz - mu) / s2, ((s2 - vz) / (s2 * s2)).max(0.0))
        } else {
            (0.0, 0.0)
        };
        for a in 0..k {
            m[a] += px[a] * gain;
            for b in 0..k {
                cov[a * k + b] -= shrink * px[a] * px[b];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sigmoid;
    use crate::{RuleDrift, Trials};
    use denovo_rules::{RuleKind, RuleSpec};

    /// A toy animal's regressors, choices, rewards, correct sides and session starts.
    type Toy = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<bool>);

    /// A seeded toy animal (K = 2: a stimulus and a bias; sessions of 40 trials).
    fn toy(n: usize) -> Toy {
        let mut state = 777u64;
        let mut u = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut x, mut y, mut r, mut a, mut st) = (vec![], vec![], vec![], vec![], vec![]);
        for i in 0..n {
            let stim = 2.0 * u() - 1.0;
            x.extend([stim, 1.0]);
            let c = f64::from(u() < sigmoid(1.5 * stim));
            let side = f64::from(stim > 0.0);
            y.push(c);
            a.push(side);
            r.push(f64::from(c == side));
            st.push(i % 40 == 0);
        }
        (x, y, r, a, st)
    }

    /// A parametric rule's step (state = weights) handed over as a [`WeightDrift`].
    struct Wrapped<'a> {
        rule: RuleDrift,
        trials: Trials<'a>,
    }

    impl WeightDrift for Wrapped<'_> {
        fn k(&self) -> usize {
            self.rule.k()
        }
        fn step(&mut self, t: usize, w: &[f64], next: &mut [f64], jac: &mut [f64]) {
            self.rule.step_public(&self.trials, t, w, next, jac);
        }
    }

    fn hyper() -> Hyper {
        Hyper {
            sigma: vec![0.05, 0.1],
            sigma_init: 2.0,
            sigma_day: None,
        }
    }

    /// A parametric rule given as a [`WeightDrift`] has the parametric rule's MAP,
    /// evidence and one-step predictions (the generic path is the same model).
    #[test]
    fn a_parametric_rule_as_a_given_drift_is_the_rule_with_noise() {
        let (x, y, r, a, st) = toy(300);
        let series = Series {
            k: 2,
            x: &x,
            y: &y,
            session_start: &st,
        };
        let trials = Trials {
            series,
            reward: &r,
            answer: &a,
        };
        let mut spec = RuleSpec::initial(RuleKind::Reinforce, 2, 0.3);
        spec.alpha = vec![0.4, 0.2];
        let rule = RuleDrift::new(&spec).unwrap();
        let h = hyper();
        let want = crate::map_rule(&trials, &rule, &h, None).unwrap();
        let mut given = Wrapped {
            rule: rule.clone(),
            trials,
        };
        let got = map_drift(&series, &mut given, &h, None).unwrap();
        for (p, q) in want.w.iter().zip(&got.w) {
            assert!((p - q).abs() < 1e-9, "{p} vs {q}");
        }
        assert!((want.log_evidence - got.log_evidence).abs() < 1e-8);
        let pw = crate::filter_rule(&trials, &rule, &h, &Start::Prior).unwrap();
        let pg = filter_drift(&series, &mut given, &h, &Start::Prior).unwrap();
        for (p, q) in pw.p_right.iter().zip(&pg.p_right) {
            assert!((p - q).abs() < 1e-12);
        }
        // σ by the evidence: the same optimum as the rule's with its α held.
        let opts = OptimiseOptions {
            gradient_tolerance: 1e-3,
            ..Default::default()
        };
        let fit = optimise_drift(&[series], &mut [given], &h, None, opts).unwrap();
        assert!(fit.log_evidence >= got.log_evidence - 1e-9);
        assert!(fit.hyper.sigma.iter().all(|s| s.is_finite() && *s > 0.0));
    }
}

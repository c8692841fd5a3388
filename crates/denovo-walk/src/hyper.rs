//! The hyperparameters by maximising the Laplace evidence summed over animals (Roy et al.
//! 2021; psytrack's `hyperOpt` with `optList=['sigma']` or `['sigma', 'sigDay']`).
//!
//! psytrack maximises a "decoupled Laplace" surrogate with scipy's BFGS in log₂ σ and
//! re-centres it until σ moves by less than 10%; here the exact Laplace evidence is
//! maximised with its exact gradient ([`evidence_gradient`]) by a small BFGS in ln σ
//! (Nocedal & Wright 2006, algorithm 6.1, with a backtracking Armijo line search): the
//! same optimum, reached in a few dozen MAP fits that each start from the previous MAP.

use crate::WalkError;
use crate::model::{Free, Hyper, MapFit, Series, evidence_gradient, map_estimate};

/// Settings of [`optimise`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimiseOptions {
    /// Which hyperparameters are free.
    pub free: Free,
    /// Stop when every |∂L/∂ ln σ| is below this (nats).
    pub gradient_tolerance: f64,
    /// At most this many BFGS iterations.
    pub max_iterations: usize,
}

impl Default for OptimiseOptions {
    /// σ only; |∂L/∂ ln σ| < 1e-4 nats; 100 iterations.
    fn default() -> Self {
        OptimiseOptions {
            free: Free { day: false },
            gradient_tolerance: 1e-4,
            max_iterations: 100,
        }
    }
}

/// The fitted walk: hyperparameters, the MAP fit of every series, the summed evidence.
#[derive(Debug, Clone)]
pub struct WalkFit {
    /// The hyperparameters at the optimum.
    pub hyper: Hyper,
    /// One MAP fit per series, in order.
    pub maps: Vec<MapFit>,
    /// Σ over series of the Laplace log evidence (nats).
    pub log_evidence: f64,
    /// BFGS iterations used.
    pub iterations: usize,
    /// MAP fits (evidence evaluations) used.
    pub evaluations: usize,
    /// `Some(gradient)` (`[free parameters]`, in the order of the optimiser: ln σ, then
    /// ln σ_day when free) when BFGS ran out of iterations before every |∂L/∂θ| fell below
    /// the tolerance: the fit is then the last accepted point, not a converged optimum.
    pub unconverged: Option<Vec<f64>>,
}

fn pack(h: &Hyper, free: Free) -> Vec<f64> {
    let mut th: Vec<f64> = h.sigma.iter().map(|s| s.ln()).collect();
    if free.day {
        let day = h.sigma_day.clone().unwrap_or_else(|| h.sigma.clone());
        th.extend(day.iter().map(|s| s.ln()));
    }
    th
}

fn unpack(th: &[f64], base: &Hyper, k: usize, free: Free) -> Hyper {
    let mut h = base.clone();
    h.sigma = th[..k].iter().map(|t| t.exp()).collect();
    if free.day {
        h.sigma_day = Some(th[k..2 * k].iter().map(|t| t.exp()).collect());
    }
    h
}

/// The MAP fits of every series at `hyper` (warm-started from `warm`), their summed log
/// evidence and its gradient in the free ln σ.
#[allow(clippy::type_complexity)]
pub fn evidence(
    series: &[Series<'_>],
    hyper: &Hyper,
    free: Free,
    warm: Option<&[MapFit]>,
) -> Result<(Vec<MapFit>, f64, Vec<f64>), WalkError> {
    let k = series.first().map_or(0, |s| s.k);
    let mut maps = Vec::with_capacity(series.len());
    let mut total = 0.0;
    let mut grad = vec![0.0; free.len(k)];
    for (i, s) in series.iter().enumerate() {
        let start = warm.and_then(|w| w.get(i)).map(|m| m.w.as_slice());
        let fit = map_estimate(s, hyper, start)?;
        total += fit.log_evidence;
        for (g, d) in grad.iter_mut().zip(evidence_gradient(s, &fit, free)) {
            *g += d;
        }
        maps.push(fit);
    }
    if !grad.iter().all(|g| g.is_finite()) {
        return Err(WalkError::NonFinite("the evidence gradient".into()));
    }
    Ok((maps, total, grad))
}

/// Maximises the summed Laplace evidence of `series` over the free hyperparameters of
/// `options`, starting from `start` (psytrack's default start: every σ = 2⁻⁴, σ_init = 2⁴).
///
/// Errors: as [`map_estimate`]; [`WalkError::Data`] for an empty list or series with
/// different K.
pub fn optimise(
    series: &[Series<'_>],
    start: &Hyper,
    options: OptimiseOptions,
) -> Result<WalkFit, WalkError> {
    let Some(k) = series.first().map(|s| s.k) else {
        return Err(WalkError::Data("no series to fit".into()));
    };
    if series.iter().any(|s| s.k != k || s.n() == 0) {
        return Err(WalkError::Data(
            "every series needs the same number of weights and at least one trial".into(),
        ));
    }
    let free = options.free;
    let settings = Bfgs {
        gradient_tolerance: options.gradient_tolerance,
        max_iterations: options.max_iterations,
    };
    let out = maximise(
        pack(start, free),
        settings,
        |th, warm: Option<&Vec<MapFit>>| {
            evidence(
                series,
                &unpack(th, start, k, free),
                free,
                warm.map(Vec::as_slice),
            )
        },
    )?;
    Ok(WalkFit {
        hyper: unpack(&out.theta, start, k, free),
        maps: out.state,
        log_evidence: out.value,
        iterations: out.iterations,
        evaluations: out.evaluations,
        unconverged: out.unconverged,
    })
}

/// Settings of [`maximise`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bfgs {
    /// Stop when every |∂L/∂θ| is below this.
    pub gradient_tolerance: f64,
    /// At most this many iterations.
    pub max_iterations: usize,
}

/// The optimum [`maximise`] reached: θ, what the last accepted evaluation carried (the
/// MAP fits), the objective, iterations and evaluations used.
pub(crate) struct Maximum<S> {
    pub theta: Vec<f64>,
    pub state: S,
    pub value: f64,
    pub iterations: usize,
    pub evaluations: usize,
    /// The gradient at θ when the iterations ran out before it fell below the tolerance;
    /// `None` when converged.
    pub unconverged: Option<Vec<f64>>,
}

/// Maximises `eval` (θ ↦ (state, L, ∂L/∂θ), warm-started from the last accepted state) by
/// BFGS (Nocedal & Wright 2006, algorithm 6.1) with a backtracking Armijo line search, a
/// first step of length 0.5 and steps of at most 2 per coordinate. An evaluation that fails
/// counts as no increase; when the line search can no longer increase L the current point
/// is returned (converged as far as the objective allows).
///
/// Errors: the first evaluation's. After `max_iterations` the last accepted point is
/// returned with [`Maximum::unconverged`] set (the gradient there).
pub(crate) fn maximise<S>(
    mut th: Vec<f64>,
    settings: Bfgs,
    mut eval: impl FnMut(&[f64], Option<&S>) -> Result<(S, f64, Vec<f64>), WalkError>,
) -> Result<Maximum<S>, WalkError> {
    let m = th.len();
    let (mut state, mut f, mut g) = eval(&th, None)?;
    let mut evaluations = 1;
    // Minimise −L: inverse-Hessian approximation, started at a scaled identity.
    let mut hinv = vec![0.0; m * m];
    for i in 0..m {
        hinv[i * m + i] = 1.0;
    }
    let mut first = true;
    for it in 0..settings.max_iterations {
        if g.iter().all(|x| x.abs() < settings.gradient_tolerance) {
            return Ok(Maximum {
                theta: th,
                state,
                value: f,
                iterations: it,
                evaluations,
                unconverged: None,
            });
        }
        // Ascent direction p = H⁻¹ g (maximising L); at most 2 per coordinate per step.
        let mut p: Vec<f64> = (0..m)
            .map(|i| (0..m).map(|j| hinv[i * m + j] * g[j]).sum())
            .collect();
        if first {
            let norm = p.iter().map(|x| x * x).sum::<f64>().sqrt();
            let scale = 0.5 / norm.max(1e-12);
            p.iter_mut().for_each(|x| *x *= scale);
        }
        let longest = p.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        if longest > 2.0 {
            p.iter_mut().for_each(|x| *x *= 2.0 / longest);
        }
        let slope: f64 = p.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope <= 0.0 {
            // Not an ascent direction: restart from the gradient.
            hinv.iter_mut().for_each(|x| *x = 0.0);
            for i in 0..m {
                hinv[i * m + i] = 1.0;
            }
            first = true;
            continue;
        }
        let mut step = 1.0;
        let (new_th, new_state, new_f, new_g) = loop {
            let cand: Vec<f64> = th.iter().zip(&p).map(|(a, b)| a + step * b).collect();
            let res = eval(&cand, Some(&state));
            evaluations += 1;
            match res {
                Ok((st, fv, gv)) if fv >= f + 1e-4 * step * slope => break (cand, st, fv, gv),
                _ => {}
            }
            step *= 0.5;
            if step < 1e-6 {
                // No further increase along the direction: converged as far as it goes.
                return Ok(Maximum {
                    theta: th,
                    state,
                    value: f,
                    iterations: it,
                    evaluations,
                    unconverged: None,
                });
            }
        };
        // BFGS update of the inverse Hessian of −L: s = Δθ, y = −Δg.
        let sv: Vec<f64> = new_th.iter().zip(&th).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = g.iter().zip(&new_g).map(|(a, b)| a - b).collect();
        let sy: f64 = sv.iter().zip(&yv).map(|(a, b)| a * b).sum();
        if sy > 1e-12 {
            if first {
                let yy: f64 = yv.iter().map(|x| x * x).sum();
                let gamma = sy / yy;
                hinv.iter_mut().for_each(|x| *x = 0.0);
                for i in 0..m {
                    hinv[i * m + i] = gamma;
                }
            }
            let rho = 1.0 / sy;
            let hy: Vec<f64> = (0..m)
                .map(|i| (0..m).map(|j| hinv[i * m + j] * yv[j]).sum())
                .collect();
            let yhy: f64 = yv.iter().zip(&hy).map(|(a, b)| a * b).sum();
            for i in 0..m {
                for j in 0..m {
                    hinv[i * m + j] += -rho * (hy[i] * sv[j] + sv[i] * hy[j])
                        + (rho * rho * yhy + rho) * sv[i] * sv[j];
                }
            }
            first = false;
        }
        th = new_th;
        state = new_state;
        f = new_f;
        g = new_g;
    }
    // Out of iterations: the last accepted point, with the gradient that is still above
    // the tolerance (the caller names the parameters and warns).
    Ok(Maximum {
        theta: th,
        state,
        value: f,
        iterations: settings.max_iterations,
        evaluations,
        unconverged: Some(g),
    })
}

//! Properties of the random-walk model: the block solver against dense linear algebra, the
//! MAP gradient and the evidence gradient against finite differences, recovery of a known
//! σ, and the filter's predictive probability.

use denovo_walk::blocks::BlockTridiag;
use denovo_walk::{
    Free, Hyper, OptimiseOptions, Series, Start, evidence, evidence_gradient, filter, map_estimate,
    optimise, predictive_p,
};
use nalgebra::DMatrix;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

/// A random symmetric positive-definite block-tridiagonal matrix with dense blocks.
fn random_spd(k: usize, n: usize, seed: u64) -> BlockTridiag {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut h = BlockTridiag::zeros(k, n);
    for v in h.upper.iter_mut() {
        *v = rng.random_range(-0.5..0.5);
    }
    for t in 0..n {
        let m = DMatrix::from_fn(k, k, |_, _| rng.random_range(-1.0..1.0));
        // Diagonally dominant: m mᵀ + (2 + 2k) I.
        let a = &m * m.transpose() + DMatrix::identity(k, k) * (2.0 + 2.0 * k as f64);
        h.diag[t * k * k..(t + 1) * k * k].copy_from_slice(a.transpose().as_slice());
    }
    h
}

#[test]
fn block_solve_logdet_and_selected_inverse_match_dense() {
    let (k, n) = (3, 7);
    let h = random_spd(k, n, 1);
    let dense = h.to_dense();
    let f = h.factor().unwrap();
    let g: Vec<f64> = (0..n * k).map(|i| (i as f64 * 0.37).sin()).collect();
    let d = f.solve(&h, &g);
    let back = h.mul_vec(&d);
    for (a, b) in back.iter().zip(&g) {
        assert!((a - b).abs() < 1e-12, "H H⁻¹ g ≠ g: {a} vs {b}");
    }
    let exact = dense.clone().cholesky().unwrap();
    let logdet = 2.0 * exact.l().diagonal().iter().map(|x| x.ln()).sum::<f64>();
    assert!(
        (f.logdet - logdet).abs() < 1e-10,
        "{} vs {logdet}",
        f.logdet
    );
    let inv = exact.inverse();
    let (diag, upper) = f.selected_inverse(&h);
    for t in 0..n {
        for i in 0..k {
            for j in 0..k {
                let a = diag[t * k * k + i * k + j];
                assert!((a - inv[(t * k + i, t * k + j)]).abs() < 1e-12);
                if t + 1 < n {
                    let b = upper[t * k * k + i * k + j];
                    assert!((b - inv[(t * k + i, (t + 1) * k + j)]).abs() < 1e-12);
                }
            }
        }
    }
}

/// A simulated walk: K = 2 (a stimulus in {±1, ±0.5} and a bias), `n` trials in sessions of
/// 100, σ given; returns (x, y, session starts, true w).
fn simulate(n: usize, sigma: &[f64], seed: u64) -> (Vec<f64>, Vec<f64>, Vec<bool>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = [1.0, -0.5];
    let (mut x, mut y, mut starts, mut ws) = (vec![], vec![], vec![], vec![]);
    for t in 0..n {
        if t > 0 {
            for (j, s) in sigma.iter().enumerate() {
                w[j] += Normal::new(0.0, *s).unwrap().sample(&mut rng);
            }
        }
        let stim = [-1.0, -0.5, 0.5, 1.0][rng.random_range(0..4)];
        let z = w[0] * stim + w[1];
        let p = 1.0 / (1.0 + (-z).exp());
        x.extend([stim, 1.0]);
        y.push(if rng.random::<f64>() < p { 1.0 } else { 0.0 });
        starts.push(t % 100 == 0);
        ws.extend(w);
    }
    (x, y, starts, ws)
}

fn hyper(sigma: &[f64]) -> Hyper {
    Hyper {
        sigma: sigma.to_vec(),
        sigma_init: 16.0,
        sigma_day: None,
    }
}

#[test]
fn map_is_a_stationary_point_and_its_evidence_gradient_matches_finite_differences() {
    let (x, y, starts, _) = simulate(400, &[0.05, 0.02], 3);
    let s = Series {
        k: 2,
        x: &x,
        y: &y,
        session_start: &starts,
    };
    let h = Hyper {
        sigma_day: Some(vec![0.2, 0.1]),
        ..hyper(&[0.04, 0.03])
    };
    let fit = map_estimate(&s, &h, None).unwrap();
    // The MAP gradient vanishes: perturbing any coordinate raises −log posterior
    // quadratically (checked through the evidence's likelihood + prior terms by finite
    // differences of the log posterior).
    let logpost = |w: &[f64]| -> f64 {
        let mut lp = 0.0;
        for t in 0..y.len() {
            let z = x[2 * t] * w[2 * t] + x[2 * t + 1] * w[2 * t + 1];
            lp += y[t] * z - (1.0 + z.exp()).ln();
            for j in 0..2 {
                let prev = if t > 0 { w[2 * (t - 1) + j] } else { 0.0 };
                let v = if t == 0 {
                    256.0
                } else {
                    h.step_var(starts[t], j)
                };
                lp -= 0.5 * (w[2 * t + j] - prev).powi(2) / v;
            }
        }
        lp
    };
    for i in [0, 1, 77, 400, 799] {
        let eps = 1e-5;
        let mut a = fit.w.clone();
        a[i] += eps;
        let mut b = fit.w.clone();
        b[i] -= eps;
        let g = (logpost(&a) - logpost(&b)) / (2.0 * eps);
        assert!(g.abs() < 1e-6, "∂ log posterior / ∂w[{i}] = {g} at the MAP");
    }
    // The evidence gradient in ln σ and ln σ_day against central differences.
    let free = Free { day: true };
    let grad = evidence_gradient(&s, &fit, free);
    for (p, &exact) in grad.iter().enumerate() {
        let eps = 1e-4;
        let shift = |d: f64| {
            let mut h2 = h.clone();
            if p < 2 {
                h2.sigma[p] *= d.exp();
            } else {
                h2.sigma_day.as_mut().unwrap()[p - 2] *= d.exp();
            }
            map_estimate(&s, &h2, Some(&fit.w)).unwrap().log_evidence
        };
        let fd = (shift(eps) - shift(-eps)) / (2.0 * eps);
        assert!(
            (fd - exact).abs() < 1e-5 * (1.0 + fd.abs()),
            "∂L/∂θ_{p}: exact {exact} vs finite differences {fd}"
        );
    }
}

#[test]
fn evidence_recovers_a_known_sigma() {
    let truth = [0.04, 0.01];
    let (x, y, starts, _) = simulate(6000, &truth, 11);
    let s = Series {
        k: 2,
        x: &x,
        y: &y,
        session_start: &starts,
    };
    let fit = optimise(&[s], &hyper(&[0.0625, 0.0625]), OptimiseOptions::default()).unwrap();
    for (got, want) in fit.hyper.sigma.iter().zip(truth) {
        assert!(
            (got / want).ln().abs() < 0.5_f64.ln_1p(),
            "σ {got} vs true {want}"
        );
    }
    // At the optimum the gradient vanishes and no neighbour has a higher evidence.
    let (_, best, g) = evidence(&[s], &fit.hyper, Free { day: false }, None).unwrap();
    assert!(g.iter().all(|v| v.abs() < 1e-3), "{g:?}");
    for d in [0.9, 1.1] {
        let mut h = fit.hyper.clone();
        h.sigma[0] *= d;
        assert!(map_estimate(&s, &h, None).unwrap().log_evidence < best);
    }
}

#[test]
fn predictive_probability_is_the_gaussian_average_of_the_sigmoid() {
    assert!((predictive_p(0.7, 0.0) - 1.0 / (1.0 + (-0.7f64).exp())).abs() < 1e-12);
    // Against a fine Riemann sum of σ(z) N(z; μ, s²).
    for (mu, s2) in [(0.5, 1.0), (-2.0, 4.0), (0.0, 9.0)] {
        let sd: f64 = f64::sqrt(s2);
        let mut sum = 0.0;
        let dz = 1e-3;
        let mut z = mu - 12.0 * sd;
        while z < mu + 12.0 * sd {
            let dens =
                (-(z - mu).powi(2) / (2.0 * s2)).exp() / (sd * (2.0 * std::f64::consts::PI).sqrt());
            sum += dens / (1.0 + (-z).exp()) * dz;
            z += dz;
        }
        assert!((predictive_p(mu, s2) - sum).abs() < 1e-6, "μ {mu}, s² {s2}");
    }
}

#[test]
fn filter_predicts_from_the_past_only_and_tracks_the_walk() {
    let (x, y, starts, w) = simulate(3000, &[0.04, 0.01], 5);
    let s = Series {
        k: 2,
        x: &x,
        y: &y,
        session_start: &starts,
    };
    let h = hyper(&[0.04, 0.01]);
    let pred = filter(&s, &h, &Start::Prior).unwrap();
    // Changing a choice changes no earlier prediction, and the prediction of its own trial.
    let mut y2 = y.clone();
    y2[1000] = 1.0 - y2[1000];
    let s2 = Series { y: &y2, ..s };
    let pred2 = filter(&s2, &h, &Start::Prior).unwrap();
    assert_eq!(pred.p_right[..=1000], pred2.p_right[..=1000]);
    assert_ne!(pred.p_right[1001], pred2.p_right[1001]);
    // The filtered means follow the true weights in the second half.
    let err: f64 = (1500..3000)
        .map(|t| (pred.mean[2 * t] - w[2 * t]).powi(2))
        .sum::<f64>()
        / 1500.0;
    assert!(
        err.sqrt() < 0.5,
        "RMS error of the stimulus weight {}",
        err.sqrt()
    );
    // It beats chance on the choices.
    let ll: f64 = pred.log_likelihoods(&y).iter().sum::<f64>() / 3000.0;
    assert!(ll > 0.5f64.ln() + 0.005, "{ll}");
}

#[test]
fn non_finite_input_is_an_error() {
    let x = vec![1.0, f64::NAN];
    let y = vec![1.0];
    let s = Series {
        k: 2,
        x: &x,
        y: &y,
        session_start: &[true],
    };
    assert!(map_estimate(&s, &hyper(&[0.1, 0.1]), None).is_err());
    let x = vec![1.0, 0.0];
    let s = Series {
        k: 2,
        x: &x,
        y: &y,
        session_start: &[true],
    };
    assert!(map_estimate(&s, &hyper(&[0.1, f64::NAN]), None).is_err());
    assert!(filter(&s, &hyper(&[0.1, -1.0]), &Start::Prior).is_err());
}

//! Simulate a REINFORCE cohort and recover its rule with the DNN (or RNN) rule — the
//! paper's Fig. 2 setting (1000 animals × 500 trials, α_stim = 2⁻⁴, α_bias = 0, known
//! initial weights drawn from N(0, 1)).
//! Prints the fit's progress, the held-out log-likelihood of the fitted and the true rule,
//! and the RMSE between fitted and true Δw_stim on a grid.
//!
//! ```sh
//! cargo run --release -p denovo-nn --example dnn_recovery -- [dnn|rnn] [ANIMALS] [TRIALS] [EPOCHS]
//! ```
//! The DNN uses its fused kernel; set `DENOVO_GENERIC=1` for the autodiff reference path
//! `DENOVO_LR` for another Adam learning rate (default 0.003) and `DENOVO_LBFGS=N` for N
//! L-BFGS iterations after the Adam epochs.

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_nn::{DnnConfig, RnnConfig};
use denovo_rules::{LearningRule, Parametric, Reinforce, RuleKind, RuleSpec, TrialBatch};
use denovo_train::{FitConfig, RuleFit, SequenceBatch, SubjectWindow};

type B = Autodiff<NdArray<f32>>;
type I = NdArray<f32>;

/// A simulated cohort with initial weights drawn from N(0, 1) per weight (so that the
/// trajectories cover the read-out grid), and those true initial weights (known to the fit).
fn cohort<Bk: burn::tensor::backend::Backend>(
    truth: &RuleSpec,
    animals: usize,
    trials: usize,
    seed: u64,
) -> (SequenceBatch<Bk>, Vec<f64>) {
    let config = denovo_sim::CohortConfig {
        animals,
        trials,
        seed,
        session_min: 250,
        session_max: 250,
        w0_sd: vec![1.0, 1.0],
        ..Default::default()
    };
    let c = denovo_sim::simulate(truth, &config).unwrap();
    let w0: Vec<f64> = c
        .truth
        .trajectories
        .iter()
        .flat_map(|t| t.weights[0].clone())
        .collect();
    let d = c.dataset.design(&Default::default()).unwrap();
    let subs: Vec<_> = d.subjects.iter().collect();
    let windows: Vec<_> = subs
        .iter()
        .map(|s| SubjectWindow::all(s.n_trials()))
        .collect();
    (SequenceBatch::new(&subs, &windows, &Default::default()), w0)
}

/// Δw_stim of `rule` on the grid stimulus × w_stim ∈ [−2, 2] × w_bias ∈ {−1, 0, 1} ×
/// correct/error (choice toward / away from the stimulus side).
fn grid_delta<R: LearningRule<I, State = burn::tensor::Tensor<I, 2>>>(rule: &R) -> Vec<f64> {
    let dev = Default::default();
    let mut w = Vec::new();
    let mut x = Vec::new();
    let (mut y, mut r, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for &c in &[
        -1.0, -0.5, -0.25, -0.125, -0.0625, 0.0625, 0.125, 0.25, 0.5, 1.0,
    ] {
        for i in 0..9 {
            let ws = -2.0 + 0.5 * i as f64;
            for wb in [-1.0, 0.0, 1.0] {
                for correct in [true, false] {
                    let answer = if c > 0.0 { 1.0 } else { 0.0 };
                    let choice = if correct { answer } else { 1.0 - answer };
                    w.extend([ws, wb]);
                    x.extend([denovo_data::stimulus_transform(c, 5.0), 1.0]);
                    y.push(choice);
                    r.push(if correct { 1.0 } else { 0.0 });
                    a.push(answer);
                }
            }
        }
    }
    let n = y.len();
    let trial = TrialBatch {
        x: float_tensor(x, [n, 2], &dev),
        choice: float_tensor(y, [n], &dev),
        reward: float_tensor(r, [n], &dev),
        answer: float_tensor(a, [n], &dev),
        session_start: float_tensor(vec![0.0; n], [n], &dev),
    };
    let w0 = float_tensor(w, [n, 2], &dev);
    let next = rule.step(rule.initial_state(w0.clone()), &trial);
    let d = to_f64_vec(rule.policy_weights(&next) - w0);
    d.chunks(2).map(|c| c[0]).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).cloned().unwrap_or_else(|| "dnn".into());
    let animals = args.get(2).map_or(1000, |s| s.parse().expect("animals"));
    let trials = args.get(3).map_or(500, |s| s.parse().expect("trials"));
    let epochs = args.get(4).map_or(300, |s| s.parse().expect("epochs"));
    let truth = RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![1.0 / 16.0, 0.0],
        beta: vec![],
        inverse_temperature: None,
    };
    let dev = Default::default();
    let (train, w0_train) = cohort::<B>(&truth, animals, trials, 1);
    let (test, w0_test) = cohort::<I>(&truth, 200, trials, 2);
    let w0 = float_tensor::<B, 2>(w0_train, [animals, 2], &dev);
    let w0t = float_tensor::<I, 2>(w0_test, [200, 2], &dev);
    let config = FitConfig {
        epochs,
        learning_rate: std::env::var("DENOVO_LR")
            .map_or(3e-3, |v| v.parse().expect("a learning rate")),
        lr_step: epochs / 2,
        clip_norm: Some(1.0),
        lbfgs_iterations: std::env::var("DENOVO_LBFGS")
            .map_or(0, |v| v.parse().expect("a number of L-BFGS iterations")),
        path: if std::env::var_os("DENOVO_GENERIC").is_some() {
            denovo_train::GradientPath::Generic
        } else {
            denovo_train::GradientPath::Fast
        },
        ..FitConfig::default()
    };
    let true_rule = Reinforce::<I>::from_spec(&truth, &dev);
    let true_grid = grid_delta(&true_rule);
    let ll_true = denovo_train::evaluate(&true_rule, &test, w0t.clone()).ll_per_trial;
    let start = std::time::Instant::now();
    let report = |epoch: usize, loss: f64| {
        println!(
            "epoch {epoch:4} loss {loss:.5} ({:.2} s/epoch)",
            start.elapsed().as_secs_f64() / epoch as f64
        );
    };
    let (ll_fit, fit_grid) = if which == "rnn" {
        let rule = RnnConfig::default().init::<B>(2, &dev);
        let f = denovo_train::fit(
            RuleFit::fixed_w0(rule),
            &train,
            &w0,
            &config,
            denovo_train::FitHooks::default(),
            &mut |r, _| {
                if r.epoch % 10 == 0 {
                    report(r.epoch, r.loss)
                }
                true
            },
        )
        .unwrap();
        let rule = f.model.valid().rule;
        // The RNN read-out from a fresh hidden state (history-free rules need no history).
        (
            denovo_train::evaluate(&rule, &test, w0t.clone()).ll_per_trial,
            Vec::new(),
        )
    } else {
        let rule = DnnConfig::default().init::<B>(2, &dev);
        let f = denovo_train::fit(
            RuleFit::fixed_w0(rule),
            &train,
            &w0,
            &config,
            denovo_train::FitHooks::default(),
            &mut |r, _| {
                if r.epoch % 10 == 0 {
                    report(r.epoch, r.loss)
                }
                true
            },
        )
        .unwrap();
        let rule = f.model.valid().rule;
        (
            denovo_train::evaluate(&rule, &test, w0t.clone()).ll_per_trial,
            grid_delta(&rule),
        )
    };
    println!(
        "held-out LL/trial: fitted {ll_fit:.5}, true rule {ll_true:.5} (difference {:.5})",
        ll_fit - ll_true
    );
    if !fit_grid.is_empty() {
        let rmse = (fit_grid
            .iter()
            .zip(&true_grid)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / true_grid.len() as f64)
            .sqrt();
        let rms = (true_grid.iter().map(|b| b * b).sum::<f64>() / true_grid.len() as f64).sqrt();
        println!(
            "grid Δw_stim: RMSE {rmse:.5} vs RMS of the truth {rms:.5} ({:.1}%)",
            100.0 * rmse / rms
        );
        // Where the error sits: by w_stim, correct and error trials apart (grid order:
        // stimulus, w_stim, w_bias, correct/error).
        println!("RMSE by w_stim (correct | error):");
        for i in 0..9 {
            let part = |correct: bool| {
                let e: Vec<f64> = (0..fit_grid.len())
                    .filter(|&g| (g / 6) % 9 == i && (g % 2 == 0) == correct)
                    .map(|g| fit_grid[g] - true_grid[g])
                    .collect();
                (e.iter().map(|v| v * v).sum::<f64>() / e.len() as f64).sqrt()
            };
            println!(
                "  w_stim {:5.1}: {:.5} | {:.5}",
                -2.0 + 0.5 * i as f64,
                part(true),
                part(false)
            );
        }
    }
    println!("{epochs} epochs in {:.1} s", start.elapsed().as_secs_f64());
}

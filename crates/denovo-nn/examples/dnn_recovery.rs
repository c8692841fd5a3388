//! Simulate a REINFORCE cohort and recover its rule with the DNN (or RNN) rule — the
//! paper's Fig. 2 setting (1000 animals × 500 trials, α_stim = 2⁻⁴, α_bias = 0, known
//! initial weights drawn from N(0, 1)).
//! Prints the fit's progress, the held-out log-likelihood of the fitted and the true rule,
//! and the RMSE between fitted and true Δw_stim on a grid.
//!
//! ```sh
//! cargo run --release -p denovo-nn --example dnn_recovery -- [dnn|rnn] [ANIMALS] [TRIALS] [EPOCHS]
//! ```
//! Both rules train through their fused scan op. Settings by environment variable:
//! - `DENOVO_GENERIC=1`: the autodiff reference path instead;
//! - `DENOVO_LR`: Adam's learning rate (default 0.003);
//! - `DENOVO_LR_STEP=N`: halve it every N epochs (default: half-way);
//! - `DENOVO_LBFGS=N`: N L-BFGS iterations after the Adam epochs;
//! - `DENOVO_PATIENCE=N`: early stopping on 200 validation animals (scored every 10 epochs);
//! - `DENOVO_W0_SD`: the spread of the initial weights (`S` for both or `S_STIM,S_BIAS`;
//!   default 1).

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_nn::{DnnConfig, RnnConfig};
use denovo_rules::{LearningRule, Parametric, Reinforce, RuleKind, RuleSpec, TrialBatch};
use denovo_train::readout::relative_rmse;
use denovo_train::{FitConfig, RuleFit, SequenceBatch};

type B = Autodiff<NdArray<f32>>;
type I = NdArray<f32>;

/// A simulated cohort with initial weights drawn from N(0, 1) per weight (so that the
/// trajectories cover the read-out grid), and those true initial weights (known to the fit).
fn cohort<Bk: burn::tensor::backend::Backend>(
    truth: &RuleSpec,
    animals: usize,
    trials: usize,
    seed: u64,
    w0_sd: &[f64],
) -> (SequenceBatch<Bk>, Vec<f64>) {
    let config = denovo_sim::CohortConfig {
        animals,
        trials,
        seed,
        session_min: 250,
        session_max: 250,
        w0_sd: w0_sd.to_vec(),
        ..Default::default()
    };
    let c = denovo_sim::simulate(truth, &config).unwrap();
    let w0 = c.truth.initial_weights();
    let d = c.dataset.design(&Default::default()).unwrap();
    (SequenceBatch::whole(&d.subjects, &Default::default()), w0)
}

/// Δw_stim of `rule` on the grid stimulus × w_stim ∈ [−2, 2] × w_bias ∈ {−1, 0, 1} ×
/// correct/error (choice toward / away from the stimulus side).
/// With `warmup`, the rule first runs through those trials (each grid point sees the same
/// ones, its weights reset to the grid point after every trial), so that a recurrent rule
/// is read out from a hidden state it actually meets rather than from h = 0.
fn grid_delta<R: LearningRule<I, State = burn::tensor::Tensor<I, 2>>>(
    rule: &R,
    warmup: Option<&denovo_train::HostSequence>,
) -> Vec<f64> {
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
    let mut state = rule.initial_state(w0.clone());
    if let Some(h) = warmup {
        for t in 0..h.choice.len() {
            let rep = |v: f64| float_tensor::<I, 1>(vec![v; n], [n], &dev);
            let past = TrialBatch {
                x: float_tensor(h.x[2 * t..2 * t + 2].repeat(n), [n, 2], &dev),
                choice: rep(h.choice[t]),
                reward: rep(h.reward[t]),
                answer: rep(h.answer[t]),
                session_start: rep(h.session_start[t]),
            };
            state = rule.step(state, &past);
            let drift = w0.clone() - rule.policy_weights(&state);
            state = rule.perturb_weights(state, drift);
        }
    }
    let next = rule.step(state, &trial);
    let d = to_f64_vec(rule.policy_weights(&next) - w0);
    d.chunks(2).map(|c| c[0]).collect()
}

/// Fits `rule` to `train` (early stopping on `valid` when `patience` is set) and returns
/// the fitted rule on the inner backend.
fn fit_rule<R>(
    rule: R,
    train: (&SequenceBatch<B>, &burn::tensor::Tensor<B, 2>),
    valid: (&SequenceBatch<I>, &burn::tensor::Tensor<I, 2>),
    config: &FitConfig,
) -> R::InnerModule
where
    R: LearningRule<B> + AutodiffModule<B> + burn::module::ModuleDisplay,
    R::InnerModule: LearningRule<I> + burn::module::ModuleDisplay,
{
    let start = std::time::Instant::now();
    let hooks = denovo_train::FitHooks {
        validation: config.patience.map(|_| denovo_train::Validation {
            batch: valid.0,
            w0: valid.1.clone(),
        }),
        ..Default::default()
    };
    let f = denovo_train::fit(
        RuleFit::fixed_w0(rule),
        train.0,
        train.1,
        config,
        hooks,
        &mut |r, _| {
            if r.epoch % 10 == 0 {
                let v = r
                    .validation_ll
                    .map_or(String::new(), |v| format!(" validation LL {v:.5}"));
                println!(
                    "epoch {:4} loss {:.5}{v} ({:.2} s/epoch)",
                    r.epoch,
                    r.loss,
                    start.elapsed().as_secs_f64() / r.epoch as f64
                );
            }
            true
        },
    )
    .unwrap();
    f.model.valid().rule
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse `{v}`"))
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).cloned().unwrap_or_else(|| "dnn".into());
    let animals = args.get(2).map_or(1000, |s| s.parse().expect("animals"));
    let trials = args.get(3).map_or(500, |s| s.parse().expect("trials"));
    let epochs = args.get(4).map_or(300, |s| s.parse().expect("epochs"));
    // "S" for both weights or "S_STIM,S_BIAS".
    let w0_sd: Vec<f64> = std::env::var("DENOVO_W0_SD")
        .map(|v| {
            let sd: Vec<f64> = v
                .split(',')
                .map(|s| s.trim().parse().expect("DENOVO_W0_SD: numbers"))
                .collect();
            if sd.len() == 1 { vec![sd[0]; 2] } else { sd }
        })
        .unwrap_or_else(|_| vec![1.0, 1.0]);
    let truth = RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![1.0 / 16.0, 0.0],
        beta: vec![],
        inverse_temperature: None,
    };
    let dev = Default::default();
    let (train, w0_train) = cohort::<B>(&truth, animals, trials, 1, &w0_sd);
    let (test, w0_test) = cohort::<I>(&truth, 200, trials, 2, &w0_sd);
    let (valid, w0_valid) = cohort::<I>(&truth, 200, trials, 3, &w0_sd);
    let w0 = float_tensor::<B, 2>(w0_train, [animals, 2], &dev);
    let w0t = float_tensor::<I, 2>(w0_test, [200, 2], &dev);
    let w0v = float_tensor::<I, 2>(w0_valid, [200, 2], &dev);
    let config = FitConfig {
        epochs,
        learning_rate: env("DENOVO_LR").unwrap_or(3e-3),
        lr_step: env("DENOVO_LR_STEP").unwrap_or(epochs / 2),
        clip_norm: Some(1.0),
        lbfgs_iterations: env("DENOVO_LBFGS").unwrap_or(0),
        patience: env("DENOVO_PATIENCE"),
        validate_every: 10,
        path: if std::env::var_os("DENOVO_GENERIC").is_some() {
            denovo_train::GradientPath::Generic
        } else {
            denovo_train::GradientPath::Fast
        },
        ..FitConfig::default()
    };
    let true_rule = Reinforce::<I>::from_spec(&truth, &dev);
    let true_grid = grid_delta(&true_rule, None);
    // The first 50 trials of a test animal, for reading a recurrent rule out mid-history.
    let warm = denovo_train::HostSequence {
        score: 0..50,
        x: test.host[0].x[..100].to_vec(),
        choice: test.host[0].choice[..50].to_vec(),
        reward: test.host[0].reward[..50].to_vec(),
        answer: test.host[0].answer[..50].to_vec(),
        session_start: test.host[0].session_start[..50].to_vec(),
    };
    let ll_true = denovo_train::evaluate(&true_rule, &test, w0t.clone()).ll_per_trial;
    let start = std::time::Instant::now();
    let (ll_fit, fit_grid) = if which == "rnn" {
        let rule = fit_rule(
            RnnConfig::default().init::<B>(2, &dev),
            (&train, &w0),
            (&valid, &w0v),
            &config,
        );
        // Read out from a fresh hidden state and after 50 real trials (reported below).
        let fresh = grid_delta(&rule, None);
        println!(
            "RNN read from h = 0: grid RMSE {:.1}% of the truth's RMS",
            100.0 * relative_rmse(&fresh, &true_grid)
        );
        (
            denovo_train::evaluate(&rule, &test, w0t.clone()).ll_per_trial,
            grid_delta(&rule, Some(&warm)),
        )
    } else {
        let rule = fit_rule(
            DnnConfig::default().init::<B>(2, &dev),
            (&train, &w0),
            (&valid, &w0v),
            &config,
        );
        (
            denovo_train::evaluate(&rule, &test, w0t.clone()).ll_per_trial,
            grid_delta(&rule, None),
        )
    };
    println!(
        "held-out LL/trial: fitted {ll_fit:.5}, true rule {ll_true:.5} (difference {:.5})",
        ll_fit - ll_true
    );
    {
        let rms = (true_grid.iter().map(|b| b * b).sum::<f64>() / true_grid.len() as f64).sqrt();
        let relative = relative_rmse(&fit_grid, &true_grid);
        println!(
            "grid Δw_stim: RMSE {:.5} vs RMS of the truth {rms:.5} ({:.1}%)",
            relative * rms,
            100.0 * relative
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

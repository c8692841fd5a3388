//! Simulate a REINFORCE cohort and recover its rule with the DNN (or RNN) rule — the
//! paper's Fig. 2 setting (1000 animals × 500 trials, α_stim = 2⁻⁴, α_bias = 0, known
//! initial weights drawn from N(0, 1)).
//! Prints the fit's progress (with the grid error every 100 epochs), the held-out
//! log-likelihood of the fitted and the true rule, and three distances from the truth,
//! each relative to the truth's RMS: Δw_stim on a grid (the issue's metric); Δw_stim on
//! every trial of the test animals, stepped from the true weights (the rule where learners
//! are); and the test animals' weight paths w_stim,t driven by their own choices (what the
//! likelihood constrains). An RNN is read out on the grid after histories sampled at each
//! grid point's weights (and, printed too, from h = 0 and after one real history).
//!
//! ```sh
//! cargo run --release -p denovo-experiments --bin dnn_recovery -- [dnn|rnn] [ANIMALS] [TRIALS] [EPOCHS]
//! ```
//! For a run of `denovo fit` (any model, any settings on the command line), `denovo recover
//! TRUTH RUN_DIR --test TEST_DATA` measures the same things without these knobs: the grid
//! error, the held-out LL against the true rule's and the weight-path error (docs/cli.md).
//! This driver stays for the experiments of docs/recovery.md that cite it.
//!
//! Both rules train through their fused scan op. Settings by environment variable:
//! - `DENOVO_GENERIC=1`: the autodiff reference path instead;
//! - `DENOVO_LR`: Adam's learning rate (default 0.003);
//! - `DENOVO_LR_STEP=N`: halve it every N epochs (default: half-way);
//! - `DENOVO_LBFGS=N`: N L-BFGS iterations after the Adam epochs;
//! - `DENOVO_PATIENCE=N`: early stopping on 200 validation animals (scored every 10 epochs);
//! - `DENOVO_SEEDS=1,2,…`: one fit per seed of the network's initialisation (default 0);
//!   with several, the grids are compared and averaged;
//! - `DENOVO_HIDDEN=16,16`: the DNN's hidden widths (default 32,32);
//! - `DENOVO_GRID_OUT=FILE`: write the read-out grids (truth and each fit) as CSV;
//! - `DENOVO_W0_SD`: the spread of the initial weights (`S` for both or `S_STIM,S_BIAS`;
//!   default 1).

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_nn::{DnnConfig, RnnConfig};
use denovo_rules::closed_form::sigmoid;
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

/// How a recurrent rule's hidden state is prepared before the grid trial is read out.
enum Warmup<'a> {
    /// A fresh state (h = 0), which the fitted RNN only ever sees before trial 1.
    Fresh,
    /// One animal's real trials, replayed for every grid point.
    Replay(&'a denovo_train::HostSequence),
    /// For each of these task sequences (their stimuli and correct sides only), choices
    /// sampled from the policy σ(w · x) at the grid point itself — the history a learner
    /// holding those weights would have — then averaged over the sequences.
    Sampled(&'a [denovo_train::HostSequence], u64),
}

/// Δw_stim of `rule` on the grid stimulus × w_stim ∈ [−2, 2] × w_bias ∈ {−1, 0, 1} ×
/// correct/error (choice toward / away from the stimulus side), after `warmup` (during
/// which each grid point's weights are reset to the grid point after every trial).
fn grid_delta<R: LearningRule<I, State = burn::tensor::Tensor<I, 2>>>(
    rule: &R,
    warmup: Warmup<'_>,
) -> Vec<f64> {
    match warmup {
        Warmup::Fresh => grid_delta_sampled(rule, &[], &[]),
        Warmup::Replay(h) => grid_delta_sampled(rule, &past_trials(h, true), &[]),
        Warmup::Sampled(tasks, seed) => {
            use rand::{RngExt, SeedableRng};
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut mean = vec![0.0; GRID_POINTS];
            for h in tasks {
                let past = past_trials(h, false);
                let uniform: Vec<f64> = (0..past.len() * GRID_POINTS)
                    .map(|_| rng.random())
                    .collect();
                let d = grid_delta_sampled(rule, &past, &uniform);
                for (m, v) in mean.iter_mut().zip(d) {
                    *m += v / tasks.len() as f64;
                }
            }
            mean
        }
    }
}

/// `h`'s trials as warm-up trials, with its choices (`replay`) or choices to be sampled.
fn past_trials(h: &denovo_train::HostSequence, replay: bool) -> Vec<PastTrial> {
    let k = h.x.len() / h.choice.len();
    (0..h.choice.len())
        .map(|t| PastTrial {
            x: h.x[k * t],
            answer: h.answer[t],
            session_start: h.session_start[t],
            choice: replay.then(|| h.choice[t]),
        })
        .collect()
}

/// A warm-up trial: the stimulus regressor, the correct side, the session-start flag and
/// the choice (`None`: sampled from the policy at each grid point).
struct PastTrial {
    x: f64,
    answer: f64,
    session_start: f64,
    choice: Option<f64>,
}

/// Grid points: 10 stimuli × 9 w_stim × 3 w_bias × correct/error.
const GRID_POINTS: usize = 540;

/// The grid read-out after `past`; a sampled choice is "right" where the grid point's
/// uniform draw in `uniform` (`[trial, grid point]`; unused when every choice is given)
/// falls below p(right).
fn grid_delta_sampled<R: LearningRule<I, State = burn::tensor::Tensor<I, 2>>>(
    rule: &R,
    past: &[PastTrial],
    uniform: &[f64],
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
    assert_eq!(n, GRID_POINTS);
    let trial = TrialBatch {
        x: float_tensor(x, [n, 2], &dev),
        choice: float_tensor(y, [n], &dev),
        reward: float_tensor(r, [n], &dev),
        answer: float_tensor(a, [n], &dev),
        session_start: float_tensor(vec![0.0; n], [n], &dev),
    };
    let w0 = float_tensor(w.clone(), [n, 2], &dev);
    let mut state = rule.initial_state(w0.clone());
    for (t, p) in past.iter().enumerate() {
        let rep = |v: f64| float_tensor::<I, 1>(vec![v; n], [n], &dev);
        let choice: Vec<f64> = (0..n)
            .map(|g| {
                p.choice.unwrap_or_else(|| {
                    let right = sigmoid(w[2 * g] * p.x + w[2 * g + 1]);
                    f64::from(u8::from(uniform[t * n + g] < right))
                })
            })
            .collect();
        let reward: Vec<f64> = choice
            .iter()
            .map(|&c| f64::from(u8::from(c == p.answer)))
            .collect();
        let past = TrialBatch {
            x: float_tensor([p.x, 1.0].repeat(n), [n, 2], &dev),
            choice: float_tensor(choice, [n], &dev),
            reward: float_tensor(reward, [n], &dev),
            answer: rep(p.answer),
            session_start: rep(p.session_start),
        };
        state = rule.step(state, &past);
        let drift = w0.clone() - rule.policy_weights(&state);
        state = rule.perturb_weights(state, drift);
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
    track: &dyn Fn(&R::InnerModule) -> f64,
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
            same_animals: false,
        }),
        ..Default::default()
    };
    let f = denovo_train::fit(
        RuleFit::fixed_w0(rule),
        train.0,
        train.1,
        config,
        hooks,
        &mut |r, m| {
            if r.epoch % 100 == 0 {
                println!(
                    "epoch {:4}: grid RMSE {:.1}%",
                    r.epoch,
                    100.0 * track(&m.rule.valid())
                );
            }
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

/// RMS of `a − b` relative to the RMS of `truth`.
fn rms_diff(a: &[f64], b: &[f64], truth: &[f64]) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (d2 / truth.iter().map(|v| v * v).sum::<f64>()).sqrt()
}

/// Δw_stim of `rule` on every trial of the `test` animals, each step taken from the true
/// weights `truth[animal][t]` (the rule's own state, e.g. a GRU's, runs along): the rule
/// where the learners actually are, rather than on the whole grid.
fn on_data_delta<R: LearningRule<I>>(
    rule: &R,
    test: &SequenceBatch<I>,
    truth: &[Vec<Vec<f64>>],
) -> Vec<f64> {
    let dev = Default::default();
    let weights_at = |t: usize| -> burn::tensor::Tensor<I, 2> {
        float_tensor(
            truth.iter().flat_map(|w| w[t].clone()).collect(),
            [truth.len(), 2],
            &dev,
        )
    };
    let mut state = rule.initial_state(weights_at(0));
    let mut out = vec![Vec::new(); truth.len()];
    let steps = test.steps();
    for (t, trial) in steps.iter().enumerate().take(steps.len() - 1) {
        let w = weights_at(t);
        let drift = w.clone() - rule.policy_weights(&state);
        state = rule.step(rule.perturb_weights(state, drift), trial);
        let d = to_f64_vec(rule.policy_weights(&state) - w);
        for (i, o) in out.iter_mut().enumerate() {
            o.push(d[2 * i]);
        }
    }
    out.concat()
}

/// How far `rule`'s weight paths on the `test` animals' own trials (their choices and
/// outcomes) are from the true paths: RMSE of w_stim relative to the RMS of the true
/// change w_stim,t − w_stim,0 (what the likelihood constrains, summed over trials).
fn path_error<R: LearningRule<I>>(
    rule: &R,
    test: &SequenceBatch<I>,
    w0: burn::tensor::Tensor<I, 2>,
    truth: &[Vec<Vec<f64>>],
) -> f64 {
    let runs: Vec<usize> = truth.iter().map(Vec::len).collect();
    let fitted = denovo_train::weight_trajectories(rule, test, w0, &runs);
    let (mut d2, mut change2) = (0.0, 0.0);
    for (f, t) in fitted.iter().zip(truth) {
        for (wf, wt) in f.iter().zip(t) {
            d2 += (wf[0] - wt[0]).powi(2);
            change2 += (wt[0] - t[0][0]).powi(2);
        }
    }
    (d2 / change2).sqrt()
}

/// The first `n` trials of `h`.
fn first_trials(h: &denovo_train::HostSequence, n: usize) -> denovo_train::HostSequence {
    let k = h.x.len() / h.choice.len();
    denovo_train::HostSequence {
        score: 0..n,
        x: h.x[..k * n].to_vec(),
        choice: h.choice[..n].to_vec(),
        reward: h.reward[..n].to_vec(),
        answer: h.answer[..n].to_vec(),
        session_start: h.session_start[..n].to_vec(),
    }
}

/// A comma-separated list from the environment variable `name`.
fn env_list<T: std::str::FromStr>(name: &str) -> Option<Vec<T>> {
    std::env::var(name).ok().map(|v| {
        v.split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: cannot parse `{s}`"))
            })
            .collect()
    })
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
    let w0_sd = match env_list::<f64>("DENOVO_W0_SD") {
        Some(sd) if sd.len() == 1 => vec![sd[0]; 2],
        Some(sd) => sd,
        None => vec![1.0, 1.0],
    };
    let truth = RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![1.0 / 16.0, 0.0],
        beta: vec![],
        inverse_temperature: None,
        streak_cap: None,
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
    let true_grid = grid_delta(&true_rule, Warmup::Fresh);
    // For reading a recurrent rule out mid-history: the first 50 trials of a test animal,
    // and the tasks (stimuli, correct sides) of the first 30 trials of 20 test animals.
    let warm = first_trials(&test.host[0], 50);
    let tasks: Vec<_> = test.host[..20]
        .iter()
        .map(|h| first_trials(h, 30))
        .collect();
    let ll_true = denovo_train::evaluate(&true_rule, &test, w0t.clone()).ll_per_trial;
    let ll_true_train =
        denovo_train::evaluate(&Reinforce::<B>::from_spec(&truth, &dev), &train, w0.clone())
            .ll_per_trial;
    println!(
        "true rule: training loss {:.5}, held-out LL {ll_true:.5}",
        -ll_true_train
    );
    let runs: Vec<usize> = test.host.iter().map(|h| h.choice.len()).collect();
    let test_paths = denovo_train::weight_trajectories(&true_rule, &test, w0t.clone(), &runs);
    let true_on_data = on_data_delta(&true_rule, &test, &test_paths);
    let start = std::time::Instant::now();
    // One fit per seed of the network's initialisation; with several, the grids are also
    // averaged (an ensemble) and compared with one another.
    let seeds: Vec<u64> = env_list("DENOVO_SEEDS").unwrap_or_else(|| vec![0]);
    // DNN hidden widths, e.g. "16,16" (default: the reference's 32,32).
    let hidden = env_list("DENOVO_HIDDEN").unwrap_or_else(|| DnnConfig::default().hidden);
    let mut grids = Vec::new();
    let mut ll_fit = 0.0;
    for &seed in &seeds {
        <I as burn::tensor::backend::Backend>::seed(&dev, seed);
        let (ll, grid, on_data, paths) = if which == "rnn" {
            let rule = fit_rule(
                RnnConfig::default().init::<B>(2, &dev),
                (&train, &w0),
                (&valid, &w0v),
                &config,
                &|r| relative_rmse(&grid_delta(r, Warmup::Fresh), &true_grid),
            );
            // Read out from a fresh hidden state, after 50 real trials, and (reported
            // below) averaged over 20 histories sampled at each grid point's own weights.
            for (name, warmup) in [
                ("h = 0", Warmup::Fresh),
                ("50 trials of a test animal", Warmup::Replay(&warm)),
            ] {
                println!(
                    "RNN read out after {name}: grid RMSE {:.1}% of the truth's RMS",
                    100.0 * relative_rmse(&grid_delta(&rule, warmup), &true_grid)
                );
            }
            (
                denovo_train::evaluate(&rule, &test, w0t.clone()).ll_per_trial,
                grid_delta(&rule, Warmup::Sampled(&tasks, 7)),
                on_data_delta(&rule, &test, &test_paths),
                path_error(&rule, &test, w0t.clone(), &test_paths),
            )
        } else {
            let dnn = DnnConfig {
                hidden: hidden.clone(),
                ..DnnConfig::default()
            };
            let rule = fit_rule(
                dnn.init::<B>(2, &dev),
                (&train, &w0),
                (&valid, &w0v),
                &config,
                &|r| relative_rmse(&grid_delta(r, Warmup::Fresh), &true_grid),
            );
            (
                denovo_train::evaluate(&rule, &test, w0t.clone()).ll_per_trial,
                grid_delta(&rule, Warmup::Fresh),
                on_data_delta(&rule, &test, &test_paths),
                path_error(&rule, &test, w0t.clone(), &test_paths),
            )
        };
        println!(
            "seed {seed}: held-out LL {ll:.5} (truth {:+.5}), grid RMSE {:.1}%, \
             on the test animals' trials {:.1}%, their weight paths {:.1}%",
            ll - ll_true,
            100.0 * relative_rmse(&grid, &true_grid),
            100.0 * relative_rmse(&on_data, &true_on_data),
            100.0 * paths
        );
        ll_fit += ll / seeds.len() as f64;
        grids.push(grid);
    }
    if grids.len() > 1 {
        for i in 0..grids.len() {
            for j in i + 1..grids.len() {
                println!(
                    "seeds {} vs {}: grids differ by {:.1}% of the truth's RMS",
                    seeds[i],
                    seeds[j],
                    100.0 * rms_diff(&grids[i], &grids[j], &true_grid)
                );
            }
        }
    }
    if let Ok(path) = std::env::var("DENOVO_GRID_OUT") {
        // stimulus, w_stim, w_bias, correct, truth, one column per seed (grid order).
        let mut out = String::from("stimulus,w_stim,w_bias,correct,truth");
        for s in &seeds {
            out += &format!(",seed{s}");
        }
        out.push('\n');
        let cs = [
            -1.0, -0.5, -0.25, -0.125, -0.0625, 0.0625, 0.125, 0.25, 0.5, 1.0,
        ];
        for (g, t) in true_grid.iter().enumerate() {
            let (c, ws, wb) = (cs[g / 54], -2.0 + 0.5 * ((g / 6) % 9) as f64, (g / 2) % 3);
            out += &format!("{c},{ws},{},{},{t}", wb as f64 - 1.0, u8::from(g % 2 == 0));
            for grid in &grids {
                out += &format!(",{}", grid[g]);
            }
            out.push('\n');
        }
        std::fs::write(&path, out).expect("DENOVO_GRID_OUT: cannot write");
    }
    let fit_grid: Vec<f64> = (0..true_grid.len())
        .map(|g| grids.iter().map(|v| v[g]).sum::<f64>() / grids.len() as f64)
        .collect();
    println!(
        "held-out LL/trial: fitted {ll_fit:.5} (mean over seeds), true rule {ll_true:.5} (difference {:.5})",
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

//! Does the RNN rule see history? Simulate a learner whose step size depends on its recent
//! rewards, fit the DNN (memoryless) and RNN rules, and compare:
//! - held-out log-likelihood per trial of the true rule, the DNN and the RNN;
//! - the read-out Δw_stim after k rewarded vs after k unrewarded trials (the paper's
//!   analysis): the ratio of their mean size for the true rule and for the fitted RNN.
//!
//! The true rule is REINFORCE whose step is scaled by a running reward average m:
//! Δw = α ⊙ (1 + κ (2m − 1)) r (y − p) x, m ← λ m + (1 − λ) r (m₀ = ½) — larger steps after
//! a run of rewards, smaller after a run of errors.
//!
//! ```sh
//! [DENOVO_LR_STEP=N] [DENOVO_PATIENCE=N] \
//!   cargo run --release -p denovo-experiments --bin rnn_history -- [ANIMALS] [TRIALS] [EPOCHS] [K_MAX]
//! ```

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, ModuleDisplay};
use burn::tensor::{Tensor, backend::Backend};
use denovo_glm::float_tensor;
use denovo_nn::{DnnConfig, RnnConfig};
use denovo_rules::{LearningRule, TrialBatch};
use denovo_train::readout::{Point, read_out};
use denovo_train::{FitConfig, FitHooks, RuleFit, SequenceBatch, Validation};

type B = Autodiff<NdArray<f32>>;
type I = NdArray<f32>;
type Sim = NdArray<f64>;

/// REINFORCE with a reward-history-modulated step; the state is `[w | m]`.
#[derive(Debug)]
pub struct ModulatedReinforce<B: Backend> {
    /// α per weight.
    pub alpha: Vec<f64>,
    /// Modulation depth κ (0 = plain REINFORCE).
    pub kappa: f64,
    /// Memory λ of the reward average.
    pub lambda: f64,
    marker: std::marker::PhantomData<B>,
}

impl<B: Backend> LearningRule<B> for ModulatedReinforce<B> {
    type State = Tensor<B, 2>;
    fn name(&self) -> &'static str {
        "modulated-reinforce"
    }
    fn initial_state(&self, w0: Tensor<B, 2>) -> Tensor<B, 2> {
        let [a, _] = w0.dims();
        let m0 = Tensor::full([a, 1], 0.5, (&w0.device(), w0.dtype()));
        Tensor::cat(vec![w0, m0], 1)
    }
    fn policy_weights(&self, state: &Tensor<B, 2>) -> Tensor<B, 2> {
        let [a, width] = state.dims();
        state.clone().slice([0..a, 0..width - 1])
    }
    fn step(&self, state: Tensor<B, 2>, trial: &TrialBatch<B>) -> Tensor<B, 2> {
        let [a, width] = state.dims();
        let w = state.clone().slice([0..a, 0..width - 1]);
        let m = state.slice([0..a, width - 1..width]);
        let p = denovo_glm::prob_right(w.clone(), trial.x.clone()).unsqueeze_dim(1);
        let y = trial.choice.clone().unsqueeze_dim(1);
        let r = trial.reward.clone().unsqueeze_dim(1);
        let alpha = float_tensor::<B, 1>(self.alpha.clone(), [self.alpha.len()], &w.device())
            .unsqueeze_dim(0);
        let scale = (m.clone() * 2.0 - 1.0) * self.kappa + 1.0;
        let w = w + (y - p) * r.clone() * trial.x.clone() * alpha * scale;
        let m = m * self.lambda + r * (1.0 - self.lambda);
        Tensor::cat(vec![w, m], 1)
    }
    fn perturb_weights(&self, state: Tensor<B, 2>, delta: Tensor<B, 2>) -> Tensor<B, 2> {
        let [a, width] = state.dims();
        let w = state.clone().slice([0..a, 0..width - 1]);
        let m = state.slice([0..a, width - 1..width]);
        Tensor::cat(vec![w + delta, m], 1)
    }
}

fn cohort<Bk: Backend>(
    truth: &ModulatedReinforce<Sim>,
    animals: usize,
    trials: usize,
    seed: u64,
) -> SequenceBatch<Bk> {
    let config = denovo_sim::CohortConfig {
        animals,
        trials,
        seed,
        // Every animal starts from w0 = 0, which the fits know.
        w0_sd: vec![0.0, 0.0],
        ..Default::default()
    };
    let (data, _) =
        denovo_sim::simulate_rule(truth, &config, &Default::default()).expect("valid settings");
    let design = data.design(&Default::default()).expect("stim, bias");
    SequenceBatch::whole(&design.subjects, &Default::default())
}

/// The correct-trial grid points (REINFORCE does not move on errors): stimulus ×
/// w_stim ∈ {−1, 0, 1} × w_bias = 0.
fn correct_points() -> Vec<Point> {
    let mut points = Vec::new();
    for c in [-1.0, -0.5, -0.25, 0.25, 0.5, 1.0] {
        for ws in [-1.0, 0.0, 1.0] {
            let right = f64::from(u8::from(c > 0.0));
            points.push(Point {
                w: vec![ws, 0.0],
                x: vec![denovo_data::stimulus_transform(c, 5.0), 1.0],
                choice: right,
                correct: true,
            });
        }
    }
    points
}

/// Mean |Δw_stim| over the points after `k` rewarded and after `k` unrewarded trials.
fn history_effect<Bk: Backend, R: LearningRule<Bk, State = Tensor<Bk, 2>>>(
    rule: &R,
    k: usize,
) -> (f64, f64) {
    let points = correct_points();
    let mean = |rewarded: bool| {
        let d = read_out::<Bk, R>(rule, &points, 2, Some((k, rewarded)));
        d.iter().map(|v| v[0].abs()).sum::<f64>() / d.len() as f64
    };
    (mean(true), mean(false))
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse `{v}`"))
    })
}

fn fit<R>(
    rule: R,
    train: &SequenceBatch<B>,
    valid: &SequenceBatch<I>,
    epochs: usize,
) -> R::InnerModule
where
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: LearningRule<I> + ModuleDisplay,
{
    let dev = Default::default();
    let w0 = float_tensor::<B, 2>(
        vec![0.0; 2 * train.n_animals()],
        [train.n_animals(), 2],
        &dev,
    );
    let w0v = float_tensor::<I, 2>(
        vec![0.0; 2 * valid.n_animals()],
        [valid.n_animals(), 2],
        &dev,
    );
    let config = FitConfig {
        epochs,
        learning_rate: 0.01,
        // Halve the step every DENOVO_LR_STEP epochs (default: half-way); stop after
        // DENOVO_PATIENCE epochs without a better validation score (default 200).
        lr_step: env_or("DENOVO_LR_STEP", epochs / 2),
        patience: Some(env_or("DENOVO_PATIENCE", 200)),
        validate_every: 10,
        ..FitConfig::default()
    };
    let hooks = FitHooks {
        validation: Some(Validation {
            batch: valid,
            w0: w0v,
            same_animals: false,
        }),
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let f = denovo_train::fit(
        RuleFit::fixed_w0(rule),
        train,
        &w0,
        &config,
        hooks,
        &mut |r, _| {
            if r.epoch % 50 == 0 {
                println!(
                    "  epoch {:4} loss {:.5} validation {:.5} ({:.2} s/epoch)",
                    r.epoch,
                    r.loss,
                    r.validation_ll.unwrap_or(f64::NAN),
                    start.elapsed().as_secs_f64() / r.epoch as f64
                );
            }
            true
        },
    )
    .expect("finite loss");
    f.model.valid().rule
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let animals = args.get(1).map_or(200, |s| s.parse().expect("animals"));
    let trials = args.get(2).map_or(1000, |s| s.parse().expect("trials"));
    let epochs = args.get(3).map_or(600, |s| s.parse().expect("epochs"));
    let k_max = args.get(4).map_or(5, |s| s.parse().expect("k"));
    let truth = |kappa: f64| ModulatedReinforce::<Sim> {
        alpha: vec![0.08, 0.02],
        kappa,
        lambda: 0.7,
        marker: std::marker::PhantomData,
    };
    let true_rule = truth(0.8);
    let train = cohort::<B>(&true_rule, animals, trials, 11);
    let valid = cohort::<I>(&true_rule, animals / 5, trials, 12);
    let test = cohort::<I>(&true_rule, animals / 5, trials, 13);
    let dev = Default::default();
    let w0t = float_tensor::<I, 2>(vec![0.0; 2 * test.n_animals()], [test.n_animals(), 2], &dev);
    let truth_i = ModulatedReinforce::<I> {
        alpha: true_rule.alpha.clone(),
        kappa: true_rule.kappa,
        lambda: true_rule.lambda,
        marker: std::marker::PhantomData,
    };
    let ll_true = denovo_train::evaluate(&truth_i, &test, w0t.clone()).ll_per_trial;
    println!("fitting the DNN rule ({animals} animals × {trials} trials)");
    let dnn = fit(
        DnnConfig::default().init::<B>(2, &dev),
        &train,
        &valid,
        epochs,
    );
    println!("fitting the RNN rule");
    let rnn = fit(
        RnnConfig::default().init::<B>(2, &dev),
        &train,
        &valid,
        epochs,
    );
    let ll_dnn = denovo_train::evaluate(&dnn, &test, w0t.clone()).ll_per_trial;
    let ll_rnn = denovo_train::evaluate(&rnn, &test, w0t).ll_per_trial;
    println!(
        "held-out LL/trial: true {ll_true:.5}, DNN {ll_dnn:.5}, RNN {ll_rnn:.5} (RNN − DNN {:+.5})",
        ll_rnn - ll_dnn
    );
    println!(
        "mean |Δw_stim| on correct trials after k rewarded | k unrewarded trials (ratio); \
         the DNN has no memory (ratio 1 by construction):"
    );
    for k in 1..=k_max {
        let (tr, tu) = history_effect::<I, _>(&truth_i, k);
        let (rr, ru) = history_effect::<I, _>(&rnn, k);
        println!(
            "  k = {k}: true {tr:.5} | {tu:.5} ({:.3}); RNN {rr:.5} | {ru:.5} ({:.3}); \
             RNN ratio off by {:+.1}%",
            tr / tu,
            rr / ru,
            100.0 * ((rr / ru) / (tr / tu) - 1.0)
        );
    }
}

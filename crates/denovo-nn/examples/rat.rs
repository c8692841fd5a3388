//! Fit every learning rule to the real rat (`../shared/data/rat_W053.csv`, or
//! `$DENOVO_DATA/rat_W053.csv`): regressors s1, s2, bias; the last 20% of sessions held
//! out. Prints the held-out log-likelihood of each rule side by side.
//!
//! ```sh
//! cargo run --release -p denovo-nn --example rat -- [NEURAL_EPOCHS]
//! ```
//! The parametric rules take seconds (closed-form gradients). The DNN and RNN rules go
//! through burn autodiff trial by trial (~0.5–1 s per epoch here until the fused kernels
//! land), so they get NEURAL_EPOCHS epochs (default 20; 0 skips them).

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, ModuleDisplay};
use denovo_data::{DesignOptions, Format, SubjectDesign};
use denovo_glm::float_tensor;
use denovo_nn::{DnnConfig, RnnConfig};
use denovo_rules::{
    LearningRule, Parametric, PredictMax, QLearning, Reinforce, ReinforceBaseline, RewardMax,
    RuleKind, RuleSpec,
};
use denovo_train::{FitConfig, FitHooks, RuleFit, SequenceBatch, SubjectWindow};

type B = Autodiff<NdArray<f32>>;
type I = NdArray<f32>;

fn fit_and_score<R>(
    name: &str,
    rule: R,
    train: &SequenceBatch<B>,
    full: &SequenceBatch<I>,
    config: &FitConfig,
) where
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: LearningRule<I> + ModuleDisplay,
{
    let dev = Default::default();
    let start = std::time::Instant::now();
    let w0 = float_tensor::<B, 2>(vec![0.0; 3], [1, 3], &dev);
    let fitted = denovo_train::fit(
        RuleFit::fixed_w0(rule),
        train,
        &w0,
        config,
        FitHooks::default(),
        &mut |_, _| true,
    )
    .expect("finite loss")
    .model
    .valid()
    .rule;
    let w0 = float_tensor::<I, 2>(vec![0.0; 3], [1, 3], &dev);
    let held = denovo_train::evaluate(&fitted, full, w0);
    println!(
        "{name:<20} held-out LL {:.4} nats/trial  accuracy {:.4}  ({:.1} s)",
        held.ll_per_trial,
        held.accuracy,
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let neural_epochs: usize = std::env::args()
        .nth(1)
        .map_or(20, |s| s.parse().expect("a number of epochs"));
    let path = std::env::var_os("DENOVO_DATA")
        .map(|d| std::path::PathBuf::from(d).join("rat_W053.csv"))
        .unwrap_or_else(|| "../shared/data/rat_W053.csv".into());
    let data = denovo_data::load(&path, Format::Auto).expect("the rat's CSV");
    let design = data
        .design(&DesignOptions::from_names(&["s1", "s2", "bias"]).expect("names"))
        .expect("s1, s2 inputs");
    let rat: &SubjectDesign = &design.subjects[0];
    let split = rat.first_holdout_trial(0.2);
    let dev = Default::default();
    let train = SequenceBatch::<B>::new(&[rat], &[SubjectWindow::until(split)], &dev);
    let full = SequenceBatch::<I>::new(&[rat], &[SubjectWindow::from(split, rat.n_trials())], &dev);
    println!(
        "rat W053: {} training trials, {} held out",
        split,
        rat.n_trials() - split
    );
    let parametric = FitConfig {
        epochs: 1000,
        learning_rate: 0.1,
        lr_step: 250,
        lbfgs_iterations: 20,
        ..FitConfig::default()
    };
    let init = |k| RuleSpec::initial(k, 3, 0.01);
    fit_and_score(
        "reinforce",
        Reinforce::<B>::from_spec(&init(RuleKind::Reinforce), &dev),
        &train,
        &full,
        &parametric,
    );
    fit_and_score(
        "reinforce-baseline",
        ReinforceBaseline::<B>::from_spec(&init(RuleKind::ReinforceBaseline), &dev),
        &train,
        &full,
        &parametric,
    );
    fit_and_score(
        "rewardmax",
        RewardMax::<B>::from_spec(&init(RuleKind::Rewardmax), &dev),
        &train,
        &full,
        &parametric,
    );
    fit_and_score(
        "predictmax",
        PredictMax::<B>::from_spec(&init(RuleKind::Predictmax), &dev),
        &train,
        &full,
        &parametric,
    );
    fit_and_score(
        "qlearning",
        QLearning::<B>::from_spec(&init(RuleKind::Qlearning), &dev),
        &train,
        &full,
        &parametric,
    );
    if neural_epochs > 0 {
        let neural = FitConfig {
            epochs: neural_epochs,
            learning_rate: 3e-3,
            lr_step: neural_epochs.div_ceil(2),
            ..FitConfig::default()
        };
        fit_and_score(
            "dnn",
            DnnConfig::default().init::<B>(3, &dev),
            &train,
            &full,
            &neural,
        );
        fit_and_score(
            "rnn",
            RnnConfig::default().init::<B>(3, &dev),
            &train,
            &full,
            &neural,
        );
    }
}

//! Recovery of known parametric rules at full size (the issue's 100 animals × 2,000
//! trials): simulate, fit, and compare the fitted parameters and held-out log-likelihood
//! with the truth.
//!
//! ```sh
//! cargo run --release -p denovo-train --example recovery -- [reinforce|reinforce-baseline] [ANIMALS] [TRIALS] [EPOCHS]
//! ```

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, ModuleDisplay};
use denovo_glm::float_tensor;
use denovo_rules::{Parametric, Reinforce, ReinforceBaseline, RuleKind, RuleSpec};
use denovo_train::{FitConfig, RuleFit, SequenceBatch};

type B = Autodiff<NdArray<f32>>;
type Inner = NdArray<f32>;

fn cohort<Bk: burn::tensor::backend::Backend>(
    truth: &RuleSpec,
    animals: usize,
    trials: usize,
    seed: u64,
) -> SequenceBatch<Bk> {
    let config = denovo_sim::CohortConfig {
        animals,
        trials,
        seed,
        ..Default::default()
    };
    let d = denovo_sim::simulate(truth, &config)
        .unwrap()
        .dataset
        .design(&Default::default())
        .unwrap();
    SequenceBatch::whole(&d.subjects, &Default::default())
}

fn run<R>(truth: RuleSpec, animals: usize, trials: usize, epochs: usize)
where
    R: Parametric<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: Parametric<Inner> + ModuleDisplay,
{
    let dev = Default::default();
    let train = cohort::<B>(&truth, animals, trials, 1);
    let w0 = float_tensor::<B, 2>(vec![0.0; animals * 2], [animals, 2], &dev);
    let lbfgs: usize = std::env::var("LBFGS").map_or(0, |v| v.parse().unwrap());
    let config = FitConfig {
        epochs,
        learning_rate: 0.05,
        lr_step: epochs / 3,
        lbfgs_iterations: lbfgs,
        ..FitConfig::default()
    };
    let start = std::time::Instant::now();
    let fitted = denovo_train::fit(
        RuleFit::fixed_w0(R::from_spec(&RuleSpec::initial(truth.kind, 2, 0.03), &dev)),
        &train,
        &w0,
        &config,
        denovo_train::FitHooks::default(),
        &mut |r, _| {
            if r.epoch % 25 == 0 || r.epoch > epochs {
                println!("epoch {:4} loss {:.6}", r.epoch, r.loss);
            }
            true
        },
    )
    .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let rule = fitted.model.valid().rule;
    let train_inner = cohort::<Inner>(&truth, animals, trials, 1);
    let w0i = float_tensor::<Inner, 2>(vec![0.0; animals * 2], [animals, 2], &dev);
    let true_rule = R::InnerModule::from_spec(&truth, &dev);
    let test = cohort::<Inner>(&truth, 50, trials, 2);
    let w0t = float_tensor::<Inner, 2>(vec![0.0; 100], [50, 2], &dev);
    println!("truth  {:?}", truth);
    println!("fitted {:?}", rule.spec());
    println!(
        "train LL/trial: fitted {:.6}, true {:.6}",
        denovo_train::evaluate(&rule, &train_inner, w0i.clone()).ll_per_trial,
        denovo_train::evaluate(&true_rule, &train_inner, w0i).ll_per_trial
    );
    println!(
        "held-out animals LL/trial: fitted {:.6}, true {:.6}",
        denovo_train::evaluate(&rule, &test, w0t.clone()).ll_per_trial,
        denovo_train::evaluate(&true_rule, &test, w0t).ll_per_trial
    );
    println!(
        "{epochs} epochs in {seconds:.1} s ({:.3} s/epoch)",
        seconds / epochs as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind: RuleKind = args
        .get(1)
        .map_or(Ok(RuleKind::Reinforce), |s| s.parse())
        .expect("a rule name");
    let animals = args.get(2).map_or(100, |s| s.parse().expect("animals"));
    let trials = args.get(3).map_or(2000, |s| s.parse().expect("trials"));
    let epochs = args.get(4).map_or(150, |s| s.parse().expect("epochs"));
    match kind {
        RuleKind::ReinforceBaseline => run::<ReinforceBaseline<B>>(
            RuleSpec {
                kind,
                alpha: vec![1.0 / 16.0, 1.0 / 32.0],
                beta: vec![0.5, 0.2],
                inverse_temperature: None,
            },
            animals,
            trials,
            epochs,
        ),
        _ => run::<Reinforce<B>>(
            RuleSpec {
                kind: RuleKind::Reinforce,
                alpha: vec![1.0 / 16.0, 1.0 / 64.0],
                beta: vec![],
                inverse_temperature: None,
            },
            animals,
            trials,
            epochs,
        ),
    }
}

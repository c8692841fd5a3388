//! Averaging the parameters of the last epochs (Polyak / SWA): the fitted model's
//! parameters are the mean of the models after each of those epochs.

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use denovo_glm::float_tensor;
use denovo_rules::{Parametric, Reinforce, RuleKind, RuleSpec};
use denovo_train::{FitConfig, FitHooks, RuleFit, SequenceBatch, fit};

type B = Autodiff<NdArray<f64>>;

/// log α of a fitted REINFORCE rule.
fn log_alpha(model: &RuleFit<B, Reinforce<B>>) -> Vec<f64> {
    let spec = model.valid().rule.spec();
    spec.alpha.iter().map(|a| a.ln()).collect()
}

#[test]
fn the_fitted_parameters_are_the_mean_of_the_last_epochs() {
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
    let config = denovo_sim::CohortConfig {
        animals: 3,
        trials: 300,
        seed: 2,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth, &config).unwrap();
    let design = cohort.dataset.design(&Default::default()).unwrap();
    let device = Default::default();
    let batch = SequenceBatch::<B>::whole(&design.subjects, &device);
    let w0 = float_tensor::<B, 2>(vec![0.0; 6], [3, 2], &device);
    let start = || RuleFit::fixed_w0(Reinforce::<B>::new(&[0.01, 0.01], &device));
    let settings = FitConfig {
        epochs: 20,
        learning_rate: 0.1,
        average_epochs: 3,
        ..FitConfig::default()
    };
    // log α after every epoch.
    let mut logs: Vec<Vec<f64>> = Vec::new();
    let fitted = fit(
        start(),
        &batch,
        &w0,
        &settings,
        FitHooks::default(),
        &mut |_, m| {
            logs.push(log_alpha(m));
            true
        },
    )
    .unwrap();
    let got = log_alpha(&fitted.model);
    for j in 0..2 {
        let mean = logs[17..20].iter().map(|l| l[j]).sum::<f64>() / 3.0;
        assert!(
            (got[j] - mean).abs() < 1e-12,
            "log α_{j}: {} vs mean {mean}",
            got[j]
        );
        assert!(
            (got[j] - logs[19][j]).abs() > 1e-9,
            "the average differs from the last epoch"
        );
    }
    // Without averaging the last epoch's model is kept.
    let last = fit(
        start(),
        &batch,
        &w0,
        &FitConfig {
            average_epochs: 0,
            ..settings
        },
        FitHooks::default(),
        &mut |_, _| true,
    )
    .unwrap();
    assert!((log_alpha(&last.model)[0] - logs[19][0]).abs() < 1e-12);
}

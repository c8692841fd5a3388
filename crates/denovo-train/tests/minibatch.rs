//! Minibatches of animals: every epoch visits each animal exactly once, the fit recovers a
//! known rule as the full-batch fit does, and fitted w0 is refused.

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use denovo_rules::{Parametric, Reinforce, RuleKind, RuleSpec};
use denovo_train::{FitConfig, RuleFit, SequenceBatch, shuffled_chunks};

type B = Autodiff<NdArray<f32>>;

fn truth() -> RuleSpec {
    RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![0.0625, 0.015625],
        ..RuleSpec::initial(RuleKind::Reinforce, 2, 0.0)
    }
}

fn cohort(animals: usize, trials: usize) -> SequenceBatch<B> {
    let config = denovo_sim::CohortConfig {
        animals,
        trials,
        seed: 3,
        ..Default::default()
    };
    let c = denovo_sim::simulate(&truth(), &config).unwrap();
    let d = c.dataset.design(&Default::default()).unwrap();
    SequenceBatch::whole(&d.subjects, &Default::default())
}

#[test]
fn every_epoch_visits_each_animal_once_in_a_seeded_order() {
    for epoch in 0..5 {
        let chunks = shuffled_chunks(23, 5, 7, epoch);
        assert_eq!(chunks.len(), 5, "23 animals in chunks of 5");
        assert!(chunks[..4].iter().all(|c| c.len() == 5) && chunks[4].len() == 3);
        let mut seen: Vec<usize> = chunks.concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
        assert_eq!(
            chunks,
            shuffled_chunks(23, 5, 7, epoch),
            "same seed, same order"
        );
    }
    assert_ne!(shuffled_chunks(23, 5, 7, 0), shuffled_chunks(23, 5, 7, 1));
    assert_ne!(shuffled_chunks(23, 5, 7, 0), shuffled_chunks(23, 5, 8, 0));
}

#[test]
fn minibatch_fit_recovers_reinforce_and_takes_one_step_per_minibatch() {
    let (animals, trials) = (40, 1000);
    let batch = cohort(animals, trials);
    let dev = Default::default();
    let w0 = denovo_glm::float_tensor::<B, 2>(vec![0.0; animals * 2], [animals, 2], &dev);
    let start = RuleSpec::initial(RuleKind::Reinforce, 2, 0.03);
    let fit = |minibatch, epochs| {
        let config = FitConfig {
            epochs,
            learning_rate: 0.02,
            lr_step: 20,
            minibatch,
            shuffle_seed: 1,
            ..FitConfig::default()
        };
        let model = RuleFit::fixed_w0(Reinforce::<B>::from_spec(&start, &dev));
        let fitted = denovo_train::fit(
            model,
            &batch,
            &w0,
            &config,
            Default::default(),
            &mut |_, _| true,
        )
        .unwrap();
        (fitted.model.valid().rule.spec(), fitted.history)
    };
    // One epoch of minibatches of 10 animals takes 4 Adam steps, so it moves α about
    // four times as far as one full-batch epoch (Adam's first steps have size ≈ lr).
    let (one_full, _) = fit(None, 1);
    let (one_mini, _) = fit(Some(10), 1);
    let moved = |s: &RuleSpec| (s.alpha[0] - 0.03).abs();
    assert!(
        moved(&one_mini) > 3.0 * moved(&one_full),
        "minibatch epoch moved α_stim {} vs full batch {}",
        moved(&one_mini),
        moved(&one_full)
    );
    // Both reach the truth (α_stim within 10%).
    let (mini, history) = fit(Some(10), 60);
    assert_eq!(history.len(), 60);
    assert!(history.iter().all(|l| l.is_finite() && *l > 0.0));
    assert!(
        (mini.alpha[0] / 0.0625 - 1.0).abs() < 0.1,
        "minibatch fit: α = {:?}",
        mini.alpha
    );
}

#[test]
fn minibatches_with_fitted_w0_are_refused() {
    let batch = cohort(6, 50);
    let dev = Default::default();
    let w0 = denovo_glm::float_tensor::<B, 2>(vec![0.0; 12], [6, 2], &dev);
    let start = RuleSpec::initial(RuleKind::Reinforce, 2, 0.03);
    let model = RuleFit::fitted_w0(Reinforce::<B>::from_spec(&start, &dev), w0.clone());
    let config = FitConfig {
        epochs: 3,
        minibatch: Some(2),
        ..FitConfig::default()
    };
    let err = denovo_train::fit(
        model,
        &batch,
        &w0,
        &config,
        Default::default(),
        &mut |_, _| true,
    )
    .unwrap_err();
    assert!(
        err.reason.contains("fixed initial weights"),
        "{}",
        err.reason
    );
    assert_eq!(err.last_good_epoch, 0);
}

#[test]
fn a_non_finite_minibatch_loss_stops_and_keeps_finite_parameters() {
    let batch = cohort(20, 200);
    let dev = Default::default();
    let w0 = denovo_glm::float_tensor::<B, 2>(vec![0.0; 40], [20, 2], &dev);
    let start = RuleSpec::initial(RuleKind::Reinforce, 2, 0.03);
    let config = FitConfig {
        epochs: 50,
        learning_rate: 1000.0,
        clip_norm: None,
        minibatch: Some(4),
        ..FitConfig::default()
    };
    let model = RuleFit::fixed_w0(Reinforce::<B>::from_spec(&start, &dev));
    let err = denovo_train::fit(
        model,
        &batch,
        &w0,
        &config,
        Default::default(),
        &mut |_, _| true,
    )
    .expect_err("a learning rate of 1000 overflows");
    assert!(!err.loss.is_finite(), "{}", err.reason);
    let kept = err.last_good.valid().rule.spec();
    assert!(
        kept.alpha.iter().all(|a| a.is_finite()),
        "kept α {:?}",
        kept.alpha
    );
}

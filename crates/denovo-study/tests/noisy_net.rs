//! The neural rules with noise (`--model dnn-noise`, `rnn-noise`; issue 16): the network
//! fitted as usual, then σ of the walk w_t = w_{t−1} + Δw_net(t−1) + ε_t by the Laplace
//! evidence with the network fixed, scored one step ahead.

use denovo_rules::{RuleKind, RuleSpec};
use denovo_study::{FitSpec, ModelKind, ModelSpec, NoisyNetParameters, RunDir, fit};

mod common;

/// A REINFORCE cohort (α = 0.02 on both weights) with weight noise `sigma` per trial.
fn cohort(dir: &std::path::Path, animals: usize, trials: usize, sigma: f64) -> std::path::PathBuf {
    let data = dir.join("cohort.csv");
    let mut rule = RuleSpec::initial(RuleKind::Reinforce, 2, 0.0);
    rule.alpha = vec![0.02, 0.02];
    let cohort = denovo_sim::simulate(
        &rule,
        &denovo_sim::CohortConfig {
            animals,
            trials,
            session_min: 200,
            session_max: 300,
            w0_choices: vec![vec![0.0], vec![-1.0, 1.0]],
            noise_sd: vec![sigma, sigma],
            seed: 5,
            ..Default::default()
        },
    )
    .unwrap();
    denovo_sim::write_cohort(&cohort, &data, denovo_data::Format::TrialsCsv).unwrap();
    data
}

fn spec(data: &std::path::Path, model: ModelKind) -> FitSpec {
    let mut spec = FitSpec::new(data, ModelSpec::new(model));
    spec.split.holdout_sessions = 0.2;
    spec.model.hidden = vec![16, 16];
    spec.training.epochs = Some(150);
    spec
}

/// Where the simulator put noise σ = 0.03 per trial, `dnn-noise` finds a σ of that order
/// (within a factor 2.5 on both weights) and predicts the held-out sessions at least as
/// well as the same network without noise; the run reads back and `evaluate_fitted` scores
/// new animals with the filter.
#[test]
fn dnn_with_noise_finds_the_noise_and_predicts_no_worse() {
    const SIGMA: f64 = 0.03;
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path(), 6, 1000, SIGMA);
    let result = fit(&spec(&data, ModelKind::DnnNoise)).unwrap();
    let s = &result.summary;
    assert_eq!(s.model, "dnn-noise");
    let p: NoisyNetParameters = serde_json::from_value(s.parameters.clone()).unwrap();
    let held = s.heldout_sessions.as_ref().unwrap().ll_per_trial;
    let plain = p.without_noise.heldout_sessions_ll_per_trial.unwrap();
    eprintln!(
        "dnn-noise: σ {:?}, held-out LL {held} (dnn alone {plain}), evidence {}",
        p.sigma, p.log_evidence
    );
    for got in &p.sigma {
        assert!(
            *got > SIGMA / 2.5 && *got < SIGMA * 2.5,
            "σ {got} vs {SIGMA}"
        );
    }
    assert!(held >= plain, "{held} < {plain}");
    assert_eq!(p.gamma.len(), 2);
    assert!(
        result
            .weights
            .iter()
            .all(|a| a.sd.as_ref().unwrap().len() == a.w.len())
    );

    RunDir::save(dir.path().join("run"), &result, false).unwrap();
    let run = RunDir::load(dir.path().join("run")).unwrap();
    assert_eq!(run.summary, result.summary);
    let loaded = denovo_data::load(&data, denovo_data::Format::Auto).unwrap();
    let with = denovo_study::evaluate_fitted(&run, &loaded).unwrap();
    let without =
        denovo_study::evaluate(&run.rule, run.regressors(), &run.mean_w0(), &loaded).unwrap();
    eprintln!(
        "new animals: with noise {}, without {}",
        with.ll_per_trial, without.ll_per_trial
    );
    assert_eq!(with.trials, 6000);
    assert!(with.ll_per_trial > without.ll_per_trial);
}

/// `rnn-noise` fits (σ in rounds with the GRU's hidden trajectory), scores every split,
/// and `--folds` is refused for the neural rules with noise; the names parse.
#[test]
fn rnn_with_noise_fits_and_folds_are_refused() {
    for kind in ModelKind::NOISY_NETS {
        assert_eq!(kind.name().parse::<ModelKind>().unwrap(), kind);
        assert!(kind.is_neural() && kind.has_noise() && !kind.is_walk());
    }
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path(), 2, 400, 0.03);
    let mut rnn = spec(&data, ModelKind::RnnNoise);
    rnn.model.gru_hidden = 8;
    rnn.model.hidden = vec![8];
    rnn.training.epochs = Some(30);
    let s = fit(&rnn).unwrap().summary;
    let p: NoisyNetParameters = serde_json::from_value(s.parameters.clone()).unwrap();
    eprintln!("rnn-noise: σ {:?}, rounds {}", p.sigma, p.rounds);
    assert!(p.rounds >= 1 && p.rounds <= denovo_study::HIDDEN_ROUNDS);
    assert!(p.sigma.iter().all(|s| s.is_finite() && *s > 0.0));
    for score in [&s.train, s.heldout_sessions.as_ref().unwrap()] {
        assert!(score.ll_per_trial.is_finite() && score.ll_per_trial < 0.0);
    }
    // Per held-out session: the keys of `sessions`, adding up to each animal's score.
    common::assert_sessions_add_up(s.heldout_sessions.as_ref().unwrap());
    let mut folds = spec(&data, ModelKind::DnnNoise);
    folds.split.folds = 2;
    let err = fit(&folds).unwrap_err().to_string();
    assert!(err.contains("folds"), "{err}");
}

//! `--model psytrack` through the study pipeline: the real rat's numbers (issue 16; the
//! references are explained in crates/denovo-walk/tests/rat.rs), the run directory's σ,
//! weights and posterior SDs, `evaluate`, and held-out animals on a simulated cohort.

use denovo_study::{FitSpec, ModelKind, ModelSpec, RunDir, Scoring, fit};

mod common;

fn rat_spec(scoring: Scoring) -> Option<FitSpec> {
    let Some(rat) = denovo_data::shared_data("rat_W053.csv") else {
        eprintln!("skipped: ../shared/data/rat_W053.csv not found (set DENOVO_SHARED_DATA)");
        return None;
    };
    let mut spec = FitSpec::new(rat, ModelSpec::new(ModelKind::Psytrack));
    spec.model.scoring = scoring;
    spec.regressors = vec!["bias".into(), "s1".into(), "s2".into()];
    spec.split.holdout_sessions = 0.2;
    Some(spec)
}

#[test]
fn rat_psytrack_one_step_and_last_weights() {
    let Some(spec) = rat_spec(Scoring::OneStep) else {
        return;
    };
    let result = fit(&spec).unwrap();
    let s = &result.summary;
    let held = s.heldout_sessions.as_ref().unwrap();
    assert_eq!((s.train.trials, held.trials), (17_080, 2_920));
    // Issue 16: one step ahead −0.6246 ± 0.0005.
    assert!(
        (held.ll_per_trial - -0.6246).abs() < 5e-4,
        "{}",
        held.ll_per_trial
    );
    let sigma: Vec<f64> = serde_json::from_value(s.parameters["sigma"].clone()).unwrap();
    for (got, want) in sigma.iter().zip([0.03302553, 0.00563557, 0.00801698]) {
        assert!((got / want - 1.0).abs() < 0.01, "σ {got} vs {want}");
    }
    assert_eq!(s.model, "psytrack");

    // The run directory holds σ, the weights and their posterior SDs, and reads back.
    let dir = tempfile::tempdir().unwrap();
    RunDir::save(dir.path().join("run"), &result, false).unwrap();
    let run = RunDir::load(dir.path().join("run")).unwrap();
    assert_eq!(run.summary, result.summary);
    let csv = std::fs::read_to_string(dir.path().join("run/weights.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "subject,session,date,number,index,trial,split,w_bias,w_s1,w_s2,sd_bias,sd_s1,sd_s2"
    );
    assert_eq!(csv.lines().count(), 20_001);
    let last_train: Vec<f64> = csv
        .lines()
        .nth(17_080)
        .unwrap()
        .split(',')
        .skip(10)
        .map(|v| v.parse().unwrap())
        .collect();
    // psytrack's W_std at the last training trial (at its σ): 0.268, 0.131, 0.165.
    for (got, want) in last_train.iter().zip([0.268, 0.131, 0.165]) {
        assert!((got / want - 1.0).abs() < 0.05, "SD {got} vs {want}");
    }

    // `evaluate` on the rat as a new animal: one step ahead from the prior.
    let data = denovo_data::load(&spec.data, denovo_data::Format::Auto).unwrap();
    let score = denovo_study::evaluate(&run.rule, run.regressors(), &run.mean_w0(), &data).unwrap();
    assert_eq!(score.trials, 20_000);
    assert!(
        score.ll_per_trial > -0.66 && score.ll_per_trial < -0.6,
        "{}",
        score.ll_per_trial
    );

    // Issue 16: the last weights carried forward, −0.6319 ± 0.0005.
    let spec = rat_spec(Scoring::LastWeights).unwrap();
    let held = fit(&spec).unwrap().summary.heldout_sessions.unwrap();
    assert!(
        (held.ll_per_trial - -0.6319).abs() < 5e-4,
        "{}",
        held.ll_per_trial
    );
}

#[test]
fn psytrack_on_held_out_animals_of_a_cohort() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cohort.csv");
    let cohort = denovo_sim::simulate(
        &denovo_rules::RuleSpec::initial(denovo_rules::RuleKind::Reinforce, 2, 0.05),
        &denovo_sim::CohortConfig {
            animals: 4,
            trials: 600,
            session_min: 100,
            session_max: 200,
            seed: 2,
            ..Default::default()
        },
    )
    .unwrap();
    denovo_sim::write_cohort(&cohort, &data, denovo_data::Format::TrialsCsv).unwrap();
    let mut spec = FitSpec::new(&data, ModelSpec::new(ModelKind::Psytrack));
    spec.split.folds = 2;
    spec.split.holdout_sessions = 0.25;
    spec.model.sigma_day = true;
    // Nothing to warn about: the run's resolved settings hold no optimiser settings that a
    // walk would ignore (they used to be filled in and then warned about on every fit).
    assert_eq!(spec.resolved().warnings(), Vec::<String>::new());
    // fit.toml records the precision the walk ran in (f64, as summary.json says), not the
    // f32 default of the learning rules.
    assert_eq!(
        spec.resolved().precision,
        denovo_study::Precision::F64,
        "{}",
        spec.resolved().to_toml().unwrap()
    );
    spec.training.epochs = Some(5);
    assert_eq!(
        spec.warnings(),
        [
            "--epochs, --lr and --lbfgs are only used by the learning rules without noise (a \
          walk's σ and rule come from the evidence, by BFGS); ignored for --model psytrack"
        ]
    );
    spec.training.epochs = None;
    // Every other optimiser setting is named too, not silently recorded as if used.
    spec.training.minibatch = Some(2);
    spec.split.validation_sessions = Some(0.1);
    let warnings = spec.warnings();
    assert!(
        warnings.iter().any(|w| w.starts_with("--minibatch,"))
            && warnings
                .iter()
                .any(|w| w.starts_with("--early-stop, --validation-sessions")),
        "{warnings:?}"
    );
    (spec.training.minibatch, spec.split.validation_sessions) = (None, None);
    let result = fit(&spec).unwrap();
    let s = &result.summary;
    let animals = s.heldout_animals.as_ref().unwrap();
    assert_eq!(animals.per_animal.len(), 4);
    assert_eq!(s.fold_parameters.len(), 2);
    assert!(s.parameters["sigma_day"].is_array());
    for score in [&s.train, animals, s.heldout_sessions.as_ref().unwrap()] {
        assert!(score.ll_per_trial.is_finite() && score.ll_per_trial < 0.0);
        // REINFORCE learners become predictable: the walk beats chance.
        assert!(score.ll_per_trial > 0.5f64.ln(), "{}", score.ll_per_trial);
    }
    assert!(
        result
            .weights
            .iter()
            .all(|a| a.sd.as_ref().unwrap().len() == a.w.len())
    );
    // Per held-out session: the keys of `sessions`, adding up to each animal's score.
    common::assert_sessions_add_up(s.heldout_sessions.as_ref().unwrap());

    // A random walk has no rule: reading it out, twins and recovery refuse, and say why.
    let run_dir = dir.path().join("psy");
    RunDir::save(&run_dir, &result, false).unwrap();
    let run = RunDir::load(&run_dir).unwrap();
    let err = run.require_learning_rule("denovo rule").unwrap_err();
    assert!(
        err.to_string()
            .contains("denovo rule needs a learning rule"),
        "{err}"
    );
    let protocol = denovo_sim::Protocol::from_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/protocols/ibl_training.toml"),
    )
    .unwrap();
    let err = denovo_study::twin_study(&run, vec![protocol], 2, 0, None, None).unwrap_err();
    assert!(err.to_string().contains("random walk"), "{err}");
    let truth = data.with_extension("truth.json");
    let input = denovo_study::recovery::RecoverInput::new(&truth, &run_dir);
    let err = denovo_study::recovery::recover(&input).unwrap_err();
    assert!(
        err.to_string()
            .contains("denovo recover needs a learning rule"),
        "{err}"
    );
}

//! `Truth`: the simulator's sidecar read into plain data for the report.

use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::CohortConfig;
use denovo_study::{StudyError, Truth};
use denovo_train::readout::Point;

#[test]
fn the_sidecar_beside_simulated_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sim.csv");
    let rule = RuleSpec {
        alpha: vec![0.0625, 0.0],
        ..RuleSpec::initial(RuleKind::Reinforce, 2, 0.0)
    };
    let config = CohortConfig {
        animals: 3,
        trials: 50,
        session_min: 50,
        session_max: 50,
        seed: 2,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&rule, &config).unwrap();

    // No sidecar yet: no truth, no error.
    denovo_data::save(&cohort.dataset, &data, Format::TrialsCsv).unwrap();
    assert_eq!(Truth::beside(&data, Format::TrialsCsv).unwrap(), None);

    let sidecar = denovo_sim::write_cohort(&cohort, &data, Format::TrialsCsv).unwrap();
    assert_eq!(Truth::sidecar(&data, Format::TrialsCsv), sidecar);
    let truth = Truth::beside(&data, Format::TrialsCsv).unwrap().unwrap();
    assert_eq!(truth.path, sidecar);
    assert_eq!(truth.rule, rule);
    assert_eq!(truth.regressors, ["stim", "bias"]);
    assert_eq!(truth.noise_sd, [0.0, 0.0]);
    assert_eq!(truth.trajectories.len(), 3);
    for t in &cohort.truth.trajectories {
        assert_eq!(truth.trajectory(&t.subject), Some(t.weights.as_slice()));
    }
    assert_eq!(truth.trajectory("nobody"), None);
    assert_eq!(truth.describe(), "reinforce with α = (stim 0.0625, bias 0)");
    // IBL contrasts: no explicit stimulus values.
    assert_eq!(truth.stimuli, denovo_sim::StimulusSet::Ibl);
    assert_eq!(truth.stimulus_values(), None);

    // The read-out: REINFORCE's Δw = α r (y − p) x.
    let point = |correct: bool| Point {
        w: vec![0.5, 0.0],
        x: vec![1.0, 1.0],
        choice: f64::from(u8::from(correct)),
        correct,
    };
    let dw = truth.read_out(&[point(true), point(false)]);
    let p = 1.0 / (1.0 + (-0.5f64).exp());
    assert!((dw[0][0] - 0.0625 * (1.0 - p)).abs() < 1e-12, "{dw:?}");
    assert_eq!(dw[0][1], 0.0);
    assert_eq!(dw[1], [0.0, 0.0]);
}

#[test]
fn a_damaged_sidecar_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sim.csv");
    let sidecar = Truth::sidecar(&data, Format::TrialsCsv);
    std::fs::write(&sidecar, "{\"rule\": 3").unwrap();
    let e = Truth::beside(&data, Format::TrialsCsv).unwrap_err();
    assert!(
        matches!(&e, StudyError::Format { path, .. } if *path == sidecar),
        "{e:?}"
    );
    assert!(e.to_string().contains("not a truth sidecar"), "{e}");
}

#[test]
fn explicit_stimuli_and_the_history_read_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sim.csv");
    let rule = RuleSpec {
        alpha: vec![0.0625, 0.0],
        ..RuleSpec::initial(RuleKind::ReinforceStreak, 2, 0.0)
    };
    let config = CohortConfig {
        animals: 2,
        trials: 20,
        session_min: 20,
        session_max: 20,
        stimuli: denovo_sim::StimulusSet::Values(vec![1.0, -1.0, 0.0, 0.5, -1.0]),
        seed: 2,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&rule, &config).unwrap();
    denovo_sim::write_cohort(&cohort, &data, Format::TrialsCsv).unwrap();
    let truth = Truth::beside(&data, Format::TrialsCsv).unwrap().unwrap();
    // Sorted, each once.
    assert_eq!(truth.stimulus_values(), Some(vec![-1.0, 0.0, 0.5, 1.0]));

    // REINFORCE-streak after 3 rewarded trials steps (1 + 3)× as far as after none.
    let point = Point {
        w: vec![0.5, 0.0],
        x: vec![1.0, 1.0],
        choice: 1.0,
        correct: true,
    };
    let fresh = truth.read_out(std::slice::from_ref(&point));
    assert_eq!(
        truth.read_out_history(std::slice::from_ref(&point), None),
        fresh
    );
    let rewarded = truth.read_out_history(std::slice::from_ref(&point), Some((3, true)));
    let unrewarded = truth.read_out_history(std::slice::from_ref(&point), Some((3, false)));
    assert!(
        (rewarded[0][0] - 4.0 * fresh[0][0]).abs() < 1e-12,
        "{rewarded:?}"
    );
    assert!(
        (unrewarded[0][0] - fresh[0][0]).abs() < 1e-12,
        "{unrewarded:?}"
    );
    assert!(fresh[0][0] > 0.0);
}

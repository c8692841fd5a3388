//! `--w0-from`: every animal's initial weights read from a truth sidecar or a CSV, and the
//! `reinforce-streak` rule in simulation.

use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::{CohortConfig, SimError, W0FileProblem, read_w0_file, simulate, write_cohort};
use std::path::Path;

fn spec(kind: RuleKind, cap: Option<usize>) -> RuleSpec {
    RuleSpec {
        kind,
        alpha: vec![0.0625, 0.0],
        beta: vec![],
        inverse_temperature: None,
        streak_cap: cap,
    }
}

/// The paper's setting, small: stimuli −2…2, w_stim = −2, w_bias ∈ {−1, 0, 1}.
fn paper(animals: usize, seed: u64) -> CohortConfig {
    CohortConfig {
        animals,
        trials: 120,
        session_min: 120,
        session_max: 120,
        stimuli: "-2:0.25:2".parse().unwrap(),
        w0_choices: denovo_sim::parse_w0_choices("-2;-1,0,1").unwrap(),
        seed,
        ..CohortConfig::default()
    }
}

fn problem(e: SimError, file: &Path) -> W0FileProblem {
    let msg = e.to_string();
    assert!(
        msg.contains(&file.display().to_string()),
        "the error names the file: {msg}"
    );
    match e {
        SimError::W0File { problem, .. } => problem,
        other => panic!("expected a W0File error, got {other}"),
    }
}

#[test]
fn reads_w0_from_a_truth_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let config = CohortConfig {
        w0_sd: vec![0.5, 0.5],
        ..CohortConfig {
            w0_choices: vec![],
            ..paper(7, 3)
        }
    };
    let cohort = simulate(&spec(RuleKind::Reinforce, None), &config).unwrap();
    let sidecar = write_cohort(&cohort, &dir.path().join("train.csv"), Format::TrialsCsv).unwrap();
    let w0 = read_w0_file(&sidecar).unwrap();
    let expected: Vec<Vec<f64>> = cohort
        .truth
        .trajectories
        .iter()
        .map(|t| t.weights[0].clone())
        .collect();
    assert_eq!(w0, expected);
    assert_eq!(w0.len(), 7);
    // The sidecar keeps every animal's whole trajectory, so every w0.
    let flat: Vec<f64> = expected.concat();
    assert_eq!(cohort.truth.initial_weights(), flat);
}

#[test]
fn reads_w0_from_a_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w0.csv");
    std::fs::write(
        &path,
        "subject,stim,bias\nsim001,-2,1\n\n\"sim002\", -2.5 , 0\nsim003,1e-1,-1\n",
    )
    .unwrap();
    assert_eq!(
        read_w0_file(&path).unwrap(),
        vec![vec![-2.0, 1.0], vec![-2.5, 0.0], vec![0.1, -1.0]]
    );
    std::fs::write(&path, "subject,w_stim,w_bias\na,0.5,0.25\n").unwrap();
    assert_eq!(read_w0_file(&path).unwrap(), vec![vec![0.5, 0.25]]);
}

/// The test cohort of the paper: each animal starts from its training counterpart's w0,
/// exactly; the count comes from the file; the sidecar records the per-animal w0.
#[test]
fn simulated_cohort_starts_from_the_file_s_w0() {
    let dir = tempfile::tempdir().unwrap();
    let train = simulate(&spec(RuleKind::Reinforce, None), &paper(9, 1)).unwrap();
    let sidecar = write_cohort(&train, &dir.path().join("train.csv"), Format::TrialsCsv).unwrap();
    let config = CohortConfig {
        w0_choices: vec![],
        ..paper(1, 2)
    }
    .with_w0_from(&sidecar, None)
    .unwrap();
    assert_eq!(config.animals, 9);
    let test = simulate(&spec(RuleKind::Reinforce, None), &config).unwrap();
    for (a, b) in train
        .truth
        .trajectories
        .iter()
        .zip(&test.truth.trajectories)
    {
        assert_eq!(a.weights[0], b.weights[0], "{}", a.subject);
    }
    // A different seed: different behaviour from the same start.
    assert_ne!(train.dataset, test.dataset);
    assert_eq!(
        test.truth.config.w0_per_animal,
        read_w0_file(&sidecar).unwrap()
    );
    // An explicit, equal count is fine.
    assert!(paper(9, 2).with_w0_from(&sidecar, Some(9)).is_ok());
    // Sidecars written before `w0_per_animal` and `streak_cap` existed still read.
    let json = std::fs::read_to_string(&sidecar).unwrap();
    assert!(!json.contains("w0_per_animal") && !json.contains("streak_cap"));
    // Per-animal weights and sets together are refused by the library too.
    assert!(
        simulate(
            &spec(RuleKind::Reinforce, None),
            &paper(9, 2).with_w0_from(&sidecar, None).unwrap()
        )
        .is_err()
    );
}

#[test]
fn wrong_animal_count_names_the_file_and_both_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w0.csv");
    std::fs::write(&path, "subject,stim,bias\na,1,2\nb,3,4\n").unwrap();
    let e = CohortConfig::default()
        .with_w0_from(&path, Some(5))
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains('2') && msg.contains('5'), "{msg}");
    assert_eq!(
        problem(e, &path),
        W0FileProblem::AnimalCount {
            file: 2,
            requested: 5
        }
    );
}

#[test]
fn wrong_columns_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w0.csv");
    for header in [
        "subject,stim",
        "subject,stim,bias,extra",
        "animal,stim,bias",
        "subject,bias,stim",
    ] {
        std::fs::write(&path, format!("{header}\na,1,2\n")).unwrap();
        let e = read_w0_file(&path).unwrap_err();
        assert!(
            matches!(problem(e, &path), W0FileProblem::Columns { .. }),
            "{header}"
        );
    }
    // A row of another length than the header.
    std::fs::write(&path, "subject,stim,bias\na,1,2\nb,3\n").unwrap();
    assert_eq!(
        problem(read_w0_file(&path).unwrap_err(), &path),
        W0FileProblem::RowLength {
            line: 3,
            expected: 3,
            got: 2
        }
    );
}

#[test]
fn non_numeric_cell_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w0.csv");
    std::fs::write(&path, "subject,stim,bias\na,1,2\nb,oops,4\n").unwrap();
    let e = read_w0_file(&path).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("line 3") && msg.contains("`stim`") && msg.contains("oops"),
        "{msg}"
    );
    assert_eq!(
        problem(e, &path),
        W0FileProblem::Cell {
            line: 3,
            column: "stim".into(),
            value: "oops".into()
        }
    );
    std::fs::write(&path, "subject,stim,bias\na,1,inf\n").unwrap();
    assert!(matches!(
        problem(read_w0_file(&path).unwrap_err(), &path),
        W0FileProblem::Cell { line: 2, .. }
    ));
}

#[test]
fn unreadable_or_empty_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.csv");
    assert!(matches!(
        problem(read_w0_file(&missing).unwrap_err(), &missing),
        W0FileProblem::Read(_)
    ));
    let path = dir.path().join("w0.csv");
    std::fs::write(&path, "subject,stim,bias\n").unwrap();
    assert_eq!(
        problem(read_w0_file(&path).unwrap_err(), &path),
        W0FileProblem::Empty
    );
    let json = dir.path().join("bad.truth.json");
    std::fs::write(&json, "{\"rule\": 1}").unwrap();
    assert!(matches!(
        problem(read_w0_file(&json).unwrap_err(), &json),
        W0FileProblem::Truth(_)
    ));
}

/// `reinforce-streak` simulates in the paper's setting; its sidecar records the rule and K.
#[test]
fn streak_rule_simulates_and_its_sidecar_records_k() {
    let dir = tempfile::tempdir().unwrap();
    let cohort = simulate(&spec(RuleKind::ReinforceStreak, None), &paper(6, 4)).unwrap();
    assert_eq!(cohort.truth.rule.kind, RuleKind::ReinforceStreak);
    assert_eq!(cohort.truth.rule.streak_cap, Some(3));
    let sidecar = write_cohort(&cohort, &dir.path().join("s.csv"), Format::TrialsCsv).unwrap();
    let json = std::fs::read_to_string(&sidecar).unwrap();
    assert!(json.contains("\"reinforce-streak\"") && json.contains("\"streak_cap\":3"));
    let back: denovo_sim::GroundTruth = serde_json::from_str(&json).unwrap();
    assert_eq!(back.rule, cohort.truth.rule);
    // A cap of 2 is kept, and the trajectories differ from REINFORCE's.
    let two = simulate(&spec(RuleKind::ReinforceStreak, Some(2)), &paper(6, 4)).unwrap();
    assert_eq!(two.truth.rule.streak_cap, Some(2));
    let plain = simulate(&spec(RuleKind::Reinforce, None), &paper(6, 4)).unwrap();
    assert_ne!(plain.truth.trajectories, cohort.truth.trajectories);
}

/// With K = 0 the streak rule is REINFORCE: the same seed gives the same cohort bit for bit.
#[test]
fn streak_with_cap_zero_equals_reinforce_bit_for_bit() {
    let config = paper(12, 8);
    let streak = simulate(&spec(RuleKind::ReinforceStreak, Some(0)), &config).unwrap();
    let plain = simulate(&spec(RuleKind::Reinforce, None), &config).unwrap();
    assert_eq!(streak.dataset, plain.dataset);
    assert_eq!(streak.truth.trajectories, plain.truth.trajectories);
}

//! The simulator: seeded, learns, follows each rule's closed form, round-trips on disk.

use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::{CohortConfig, SimulatedCohort, simulate, write_cohort};

fn spec(kind: RuleKind, alpha: &[f64], beta: &[f64]) -> RuleSpec {
    RuleSpec {
        kind,
        alpha: alpha.to_vec(),
        beta: beta.to_vec(),
        inverse_temperature: None,
        streak_cap: None,
    }
}

fn small(seed: u64) -> CohortConfig {
    CohortConfig {
        animals: 6,
        trials: 600,
        session_min: 100,
        session_max: 150,
        seed,
        w0_sd: vec![0.2, 0.5],
        ..CohortConfig::default()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Replays every animal's trials with an independent f64 implementation of the rule's
/// closed form and compares with the recorded true weights.
fn check_closed_form(
    cohort: &SimulatedCohort,
    delta: impl Fn(&[f64], &[f64], f64, f64, f64) -> Vec<f64>,
) {
    let design = cohort
        .dataset
        .design(&denovo_data::DesignOptions::default())
        .unwrap();
    for (s, traj) in design.subjects.iter().zip(&cohort.truth.trajectories) {
        assert_eq!(traj.weights.len(), s.n_trials());
        for t in 0..s.n_trials() - 1 {
            let w = &traj.weights[t];
            let d = delta(w, s.row(t), s.choice[t], s.reward[t], s.answer[t]);
            for j in 0..2 {
                let expected = w[j] + d[j];
                assert!(
                    (traj.weights[t + 1][j] - expected).abs() < 1e-10,
                    "{} trial {t} weight {j}: {} vs {expected}",
                    s.subject,
                    traj.weights[t + 1][j]
                );
            }
        }
    }
}

#[test]
fn reinforce_follows_its_closed_form() {
    let alpha = [0.0625, 0.015625];
    let c = simulate(&spec(RuleKind::Reinforce, &alpha, &[]), &small(1)).unwrap();
    check_closed_form(&c, |w, x, y, r, _a| {
        let p = sigmoid(w[0] * x[0] + w[1] * x[1]);
        (0..2).map(|j| alpha[j] * r * (y - p) * x[j]).collect()
    });
}

#[test]
fn reinforce_baseline_follows_its_closed_form() {
    let (alpha, beta) = ([0.05, 0.02], [0.3, -0.2]);
    let c = simulate(&spec(RuleKind::ReinforceBaseline, &alpha, &beta), &small(2)).unwrap();
    check_closed_form(&c, |w, x, y, r, _a| {
        let p = sigmoid(w[0] * x[0] + w[1] * x[1]);
        (0..2)
            .map(|j| alpha[j] * (r - beta[j]) * (y - p) * x[j])
            .collect()
    });
}

#[test]
fn rewardmax_follows_its_closed_form() {
    let alpha = [0.3, 0.1];
    let c = simulate(&spec(RuleKind::Rewardmax, &alpha, &[]), &small(3)).unwrap();
    check_closed_form(&c, |w, x, _y, _r, a| {
        let p = sigmoid(w[0] * x[0] + w[1] * x[1]);
        (0..2)
            .map(|j| alpha[j] * (2.0 * a - 1.0) * p * (1.0 - p) * x[j])
            .collect()
    });
}

#[test]
fn predictmax_follows_its_closed_form() {
    let alpha = [0.02, 0.01];
    let c = simulate(&spec(RuleKind::Predictmax, &alpha, &[]), &small(4)).unwrap();
    check_closed_form(&c, |w, x, _y, _r, a| {
        let p = sigmoid(w[0] * x[0] + w[1] * x[1]);
        (0..2).map(|j| alpha[j] * (a - p) * x[j]).collect()
    });
}

#[test]
fn seeded_and_learning() {
    let s = spec(RuleKind::Reinforce, &[0.0625, 0.015625], &[]);
    let a = simulate(&s, &small(7)).unwrap();
    let b = simulate(&s, &small(7)).unwrap();
    let c = simulate(&s, &small(8)).unwrap();
    assert_eq!(a.dataset, b.dataset);
    assert_eq!(a.truth, b.truth);
    assert_ne!(a.dataset, c.dataset);
    // Animals start at chance (w0_stim ≈ 0) and learn: the stimulus weight grows and
    // late accuracy beats early accuracy.
    let early: f64 = a
        .dataset
        .subjects
        .iter()
        .map(|s| s.sessions[0].accuracy())
        .sum::<f64>()
        / 6.0;
    let late: f64 = a
        .dataset
        .subjects
        .iter()
        .map(|s| s.sessions.last().unwrap().accuracy())
        .sum::<f64>()
        / 6.0;
    assert!(late > early + 0.05, "early {early} late {late}");
    for t in &a.truth.trajectories {
        assert!(t.weights.last().unwrap()[0] > t.weights[0][0] + 0.5);
    }
    // Sessions respect the length bounds (the last may be cut short).
    for s in &a.dataset.subjects {
        let n = s.sessions.len();
        for (k, x) in s.sessions.iter().enumerate() {
            assert!(x.trials.len() <= 150);
            assert!(k == n - 1 || x.trials.len() >= 100);
        }
    }
}

#[test]
fn weight_noise_has_the_configured_spread() {
    let config = CohortConfig {
        animals: 20,
        trials: 500,
        noise_sd: vec![0.1, 0.03],
        ..CohortConfig::default()
    };
    let c = simulate(&spec(RuleKind::Reinforce, &[0.0, 0.0], &[]), &config).unwrap();
    for (j, sd) in [0.1, 0.03].into_iter().enumerate() {
        let steps: Vec<f64> = c
            .truth
            .trajectories
            .iter()
            .flat_map(|t| t.weights.windows(2).map(move |w| w[1][j] - w[0][j]))
            .collect();
        let n = steps.len() as f64;
        let mean = steps.iter().sum::<f64>() / n;
        let var = steps.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
        assert!(
            (var.sqrt() / sd - 1.0).abs() < 0.05,
            "weight {j}: sd {}",
            var.sqrt()
        );
    }
}

#[test]
fn bad_settings_are_errors() {
    let s = spec(RuleKind::Reinforce, &[0.1], &[]);
    assert!(simulate(&s, &small(0)).is_err());
    let s = spec(RuleKind::Reinforce, &[0.1, -0.1], &[]);
    assert!(simulate(&s, &small(0)).is_err());
    let mut c = small(0);
    c.session_max = 10;
    assert!(simulate(&spec(RuleKind::Reinforce, &[0.1, 0.1], &[]), &c).is_err());
}

#[test]
fn written_cohorts_read_back_in_every_format_with_the_truth() {
    let cohort = simulate(
        &spec(RuleKind::Reinforce, &[0.0625, 0.015625], &[]),
        &small(5),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (format, name) in [
        (Format::TrialsCsv, "c.csv"),
        (Format::IblCsv, "ibl.csv"),
        (Format::IblAlf, "alf"),
    ] {
        let out = dir.path().join(name);
        let sidecar = write_cohort(&cohort, &out, format).unwrap();
        let back = denovo_data::load(&out, Format::Auto).unwrap();
        assert_eq!(back.format, format);
        assert_eq!(back.n_trials(), cohort.dataset.n_trials());
        assert_eq!(back.n_sessions(), cohort.dataset.n_sessions());
        assert_eq!(back.subjects.len(), cohort.dataset.subjects.len());
        assert_eq!(back.accuracy(), cohort.dataset.accuracy());
        // The design matrix (stimulus regressor included) is the one the animals saw.
        let d0 = cohort.dataset.design(&Default::default()).unwrap();
        let d1 = back.design(&Default::default()).unwrap();
        for (a, b) in d0.subjects.iter().zip(&d1.subjects) {
            assert_eq!(a.x, b.x);
            assert_eq!(a.choice, b.choice);
            assert_eq!(a.session_start, b.session_start);
        }
        let truth: denovo_sim::GroundTruth =
            serde_json::from_str(&std::fs::read_to_string(sidecar).unwrap()).unwrap();
        assert_eq!(truth, cohort.truth);
        assert_eq!(truth.trajectories.len(), 6);
        assert!(truth.trajectories.iter().all(|t| t.weights.len() == 600));
    }
}

/// The paper's stimulus set: values used as the regressor itself, drawn uniformly, the
/// correct side right iff the stimulus is positive.
#[test]
fn discrete_stimulus_values_are_the_regressor_and_set_the_correct_side() {
    let set: denovo_sim::StimulusSet = "-2:0.25:2".parse().unwrap();
    let denovo_sim::StimulusSet::Values(values) = &set else {
        panic!("a range parses as values");
    };
    assert_eq!(values.len(), 17);
    assert_eq!((values[0], values[8], values[16]), (-2.0, 0.0, 2.0));
    assert_eq!(
        "-1,0,1".parse::<denovo_sim::StimulusSet>().unwrap(),
        denovo_sim::StimulusSet::Values(vec![-1.0, 0.0, 1.0])
    );
    for bad in ["2:0.25:-2", "-2:0:2", "a:b:c", "1,x", "0:1"] {
        assert!(bad.parse::<denovo_sim::StimulusSet>().is_err(), "{bad}");
    }
    let rule = denovo_rules::RuleSpec::initial(denovo_rules::RuleKind::Reinforce, 2, 0.0625);
    let config = denovo_sim::CohortConfig {
        animals: 4,
        trials: 500,
        stimuli: set.clone(),
        seed: 3,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&rule, &config).unwrap();
    assert_eq!(cohort.dataset.input_names, vec!["stim".to_string()]);
    let mut seen = std::collections::BTreeSet::new();
    for trial in cohort
        .dataset
        .subjects
        .iter()
        .flat_map(|s| &s.sessions)
        .flat_map(|s| &s.trials)
    {
        let stim = trial.inputs[0];
        assert!(values.contains(&stim));
        assert_eq!(trial.answer, u8::from(stim > 0.0), "stim {stim}");
        seen.insert((stim * 4.0) as i64);
    }
    assert_eq!(seen.len(), 17, "every value is drawn");
    // The design's stimulus regressor is the value itself.
    let design = cohort.dataset.design(&Default::default()).unwrap();
    let first = &cohort.dataset.subjects[0].sessions[0].trials[0];
    assert_eq!(design.subjects[0].x[0], first.inputs[0]);
    // An empty set is refused.
    let empty = denovo_sim::CohortConfig {
        stimuli: denovo_sim::StimulusSet::Values(vec![]),
        ..config
    };
    assert!(denovo_sim::simulate(&rule, &empty).is_err());
}

/// Session lengths and initial-weight sets parse, and each animal's w0 is drawn from its
/// set (the paper's simulation: w_stim = −2, w_bias ∈ {−1, 0, 1}).
#[test]
fn initial_weights_are_drawn_from_their_sets() {
    assert_eq!(denovo_sim::parse_session_length("400"), Ok((400, 400)));
    assert_eq!(denovo_sim::parse_session_length("300-500"), Ok((300, 500)));
    assert!(denovo_sim::parse_session_length("abc").is_err());
    let choices = denovo_sim::parse_w0_choices("-2;-1,0,1").unwrap();
    assert_eq!(choices, vec![vec![-2.0], vec![-1.0, 0.0, 1.0]]);
    assert!(denovo_sim::parse_w0_choices("-2;x").is_err());
    let config = CohortConfig {
        animals: 60,
        trials: 10,
        w0_choices: choices,
        ..small(5)
    };
    let cohort = simulate(&spec(RuleKind::Reinforce, &[0.1, 0.0], &[]), &config).unwrap();
    let w0: Vec<Vec<f64>> = cohort
        .truth
        .trajectories
        .iter()
        .map(|t| t.weights[0].clone())
        .collect();
    assert!(w0.iter().all(|w| w[0] == -2.0));
    for b in [-1.0, 0.0, 1.0] {
        let n = w0.iter().filter(|w| w[1] == b).count();
        assert!(n >= 10, "w_bias = {b} drawn {n} times of 60");
    }
    assert_eq!(
        w0.iter()
            .filter(|w| ![-1.0, 0.0, 1.0].contains(&w[1]))
            .count(),
        0
    );
    // The sidecar keeps the sets; one set per weight is required.
    assert_eq!(cohort.truth.config.w0_choices.len(), 2);
    let bad = CohortConfig {
        w0_choices: vec![vec![1.0]],
        ..config
    };
    assert!(simulate(&spec(RuleKind::Reinforce, &[0.1, 0.0], &[]), &bad).is_err());
}

/// A START:STEP:END range is START + i·STEP rounded to 12 significant digits (no float
/// noise), and an END off the step grid is refused with the nearest valid END.
#[test]
fn stimulus_ranges_are_exact_and_refuse_an_end_off_the_grid() {
    let values = |s: &str| match s.parse::<denovo_sim::StimulusSet>().unwrap() {
        denovo_sim::StimulusSet::Values(v) => v,
        other => panic!("{other:?}"),
    };
    let tenths = values("-1:0.1:1");
    assert_eq!(tenths.len(), 21);
    for (i, v) in tenths.iter().enumerate() {
        let exact: f64 = format!("{:.1}", -1.0 + 0.1 * i as f64).parse().unwrap();
        assert_eq!(*v, exact, "value {i}");
    }
    assert_eq!(tenths[10].to_string(), "0");
    let thirds = values("-2:0.3:1.9");
    assert_eq!(thirds.len(), 14);
    assert_eq!((thirds[6], thirds[7], thirds[13]), (-0.2, 0.1, 1.9));
    // Within 1e-9 of the grid is on it.
    assert_eq!(values("-2:0.25:2.0000000001").last(), Some(&2.0));
    let err = "-2:0.3:2".parse::<denovo_sim::StimulusSet>().unwrap_err();
    assert!(err.contains("--stimuli=-2:0.3:1.9"), "{err}");
    assert!(err.contains("--stimuli=-2:0.3:2.2"), "{err}");
    let err = "0:0.25:0.9".parse::<denovo_sim::StimulusSet>().unwrap_err();
    assert!(err.contains("use --stimuli=0:0.25:1 "), "{err}");
}

/// A parameter that the rule does not use (`--streak-cap` on reinforce, `--beta` off
/// reinforce-baseline, …) is refused, not dropped silently.
#[test]
fn parameters_of_another_rule_are_refused() {
    let config = CohortConfig {
        animals: 1,
        trials: 10,
        ..small(1)
    };
    let mut capped = spec(RuleKind::Reinforce, &[0.1, 0.0], &[]);
    capped.streak_cap = Some(2);
    let err = simulate(&capped, &config).unwrap_err().to_string();
    assert!(
        err.contains("--streak-cap is only used by --rule reinforce-streak"),
        "{err}"
    );
    capped.kind = RuleKind::ReinforceStreak;
    assert!(simulate(&capped, &config).is_ok());
    let err = simulate(
        &spec(RuleKind::Rewardmax, &[0.1, 0.0], &[0.2, 0.1]),
        &config,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--beta is only used by --rule reinforce-baseline"),
        "{err}"
    );
    let mut hot = spec(RuleKind::Reinforce, &[0.1, 0.0], &[]);
    hot.inverse_temperature = Some(2.0);
    assert!(simulate(&hot, &config).is_err());
}

//! `denovo_study::recovery::recover`: a fitted run against the truth of its simulation, on
//! a tiny version of the paper's setting (30 animals × 200 trials, stimuli −2:0.25:2,
//! w_stim(0) = −2, w_bias(0) ∈ {−1, 0, 1}, REINFORCE α = (2⁻⁴, 0)).

use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::{CohortConfig, StimulusSet};
use denovo_study::recovery::{RecoverError, RecoverInput, recover};
use denovo_study::{FitSpec, ModelSpec, RunDir};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const ALPHA: [f64; 2] = [0.0625, 0.0];

fn truth_rule(alpha: [f64; 2]) -> RuleSpec {
    RuleSpec {
        alpha: alpha.to_vec(),
        ..RuleSpec::initial(RuleKind::Reinforce, 2, 0.0)
    }
}

/// Simulates the paper-like cohort with `seed` to `dir/<name>.csv` (+ `<name>.truth.json`).
fn simulate(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let config = CohortConfig {
        animals: 30,
        trials: 200,
        session_min: 200,
        session_max: 200,
        stimuli: StimulusSet::Values((0..17).map(|i| -2.0 + 0.25 * f64::from(i)).collect()),
        w0_choices: vec![vec![-2.0], vec![-1.0, 0.0, 1.0]],
        seed,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth_rule(ALPHA), &config).unwrap();
    let path = dir.join(format!("{name}.csv"));
    denovo_sim::write_cohort(&cohort, &path, denovo_data::Format::TrialsCsv).unwrap();
    path
}

/// The shared fixture: training and test cohorts and a REINFORCE fit with the true w0
/// (`--model reinforce --w0 truth`), built once.
struct Fixture {
    dir: PathBuf,
    train: PathBuf,
    test: PathBuf,
    run: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recover_fixture");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let train = simulate(&dir, "train", 1);
        let test = simulate(&dir, "test", 2);
        let mut spec = FitSpec::new(&train, ModelSpec::parametric(RuleKind::Reinforce));
        spec.w0 = Some("truth".into());
        let result = denovo_study::fit(&spec).unwrap();
        let run = dir.join("run");
        RunDir::save(&run, &result, false).unwrap();
        Fixture {
            dir,
            train,
            test,
            run,
        }
    })
}

fn sidecar(data: &Path) -> PathBuf {
    data.with_extension("truth.json")
}

/// A run directory holding REINFORCE with the parameters `alpha` (the fixture's run with
/// its fitted parameters replaced).
fn run_with(name: &str, alpha: [f64; 2]) -> PathBuf {
    let f = fixture();
    let dir = f.dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(f.run.join("summary.json")).unwrap();
    let mut summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    summary["parameters"] = serde_json::to_value(truth_rule(alpha)).unwrap();
    std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    dir
}

fn input(run: &Path, test: Option<&Path>) -> RecoverInput {
    RecoverInput {
        test: test.map(Path::to_path_buf),
        grid_w: 41,
        ..RecoverInput::new(sidecar(&fixture().train), run)
    }
}

/// The parametric fit with the true w0 recovers α: a small grid error, the same held-out
/// LL as the truth, small weight-path error; REINFORCE has no memory, so both history
/// ratios are 1.
#[test]
fn a_fitted_reinforce_recovers_the_truth() {
    let f = fixture();
    let r = recover(&input(&f.run, Some(&f.test))).unwrap();
    assert_eq!(r.model, "reinforce");
    assert_eq!(r.grid_points, 17 * 2 * 41 * 3);
    // 6,000 trials pin α_stim to a few per cent (seed-dependent; 0.15 leaves room).
    assert!(
        r.grid.overall < 0.15 && r.grid.correct < 0.15,
        "{:?}",
        r.grid
    );
    assert!(r.grid.error < 1e-9, "REINFORCE learns nothing from errors");
    let t = r.test.as_ref().unwrap();
    assert_eq!((t.animals, t.trials), (30, 6000));
    assert!(t.delta_ll.abs() < 0.003, "ΔLL {}", t.delta_ll);
    assert!(t.fitted_ll < 0.0 && t.true_ll < 0.0);
    let stim = &t.weight_path[0];
    assert!(stim.relative.unwrap() < 0.2, "{stim:?}");
    assert_eq!(
        t.weight_path[1].relative, None,
        "α_bias = 0: the bias never moves"
    );
    assert_eq!(r.history.len(), 3);
    for h in &r.history {
        assert!((h.truth.ratio - 1.0).abs() < 1e-12 && (h.fitted.ratio - 1.0).abs() < 1e-12);
        assert!(h.truth.after_rewards > 0.0);
    }
    let text = r.text();
    assert!(text.contains("ΔLL") && text.contains("nats/trial") && text.contains("< 10%"));
}

/// REINFORCE with half the true learning rates has exactly half the true Δw_stim at every
/// grid point, so its relative error is exactly 0.5 overall, on correct trials and per
/// w_bias, and 0 on error trials (both rules are 0 there).
#[test]
fn half_the_learning_rate_is_off_by_half() {
    let run = run_with("half", [ALPHA[0] / 2.0, 0.0]);
    let r = recover(&input(&run, None)).unwrap();
    for e in [r.grid.overall, r.grid.correct] {
        assert!((e - 0.5).abs() < 1e-9, "{e}");
    }
    assert!(r.grid.by_bias.iter().all(|(_, e)| (e - 0.5).abs() < 1e-9));
    assert!(r.grid.error < 1e-12);
    assert!((r.grid_rmse - 0.5 * r.grid.true_rms).abs() < 1e-12);
    assert!(r.test.is_none());
    assert!(r.text().contains("--test TEST_DATA"));
}

/// The truth itself, written as a run: no grid error, the same LL, and its weight paths
/// through the test animals' trials are the sidecar's.
#[test]
fn the_truth_as_a_run_has_no_error() {
    let f = fixture();
    let run = run_with("truth", ALPHA);
    let r = recover(&input(&run, Some(&f.test))).unwrap();
    assert!(r.grid.overall < 1e-12, "{:?}", r.grid);
    let t = r.test.unwrap();
    assert!(t.delta_ll.abs() < 1e-12, "{}", t.delta_ll);
    for w in &t.weight_path {
        assert!(w.rmse < 1e-9, "{w:?}");
    }
    assert!(t.weight_path[0].true_change_rms > 0.1);
    let json = serde_json::to_value(&r.grid).unwrap();
    assert!(json["overall"].is_number());
}

#[test]
fn an_unreadable_truth_is_an_error() {
    let f = fixture();
    let missing = RecoverInput::new(f.dir.join("nothing.truth.json"), &f.run);
    assert!(matches!(recover(&missing), Err(RecoverError::Truth { .. })));
    let garbage = f.dir.join("garbage.truth.json");
    std::fs::write(&garbage, "{\"rule\": 3}").unwrap();
    let e = recover(&RecoverInput::new(&garbage, &f.run)).unwrap_err();
    assert!(matches!(e, RecoverError::Truth { .. }), "{e}");
    assert!(e.to_string().contains("not a truth sidecar"), "{e}");
}

/// Rewrites the sidecar of `data` with its regressors reversed, to `out`.
fn swapped_regressors(data: &Path, out: &Path) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sidecar(data)).unwrap()).unwrap();
    v["regressors"] = serde_json::json!(["bias", "stim"]);
    std::fs::write(out, v.to_string()).unwrap();
}

#[test]
fn truth_and_run_with_other_regressors_is_an_error() {
    let f = fixture();
    let truth = f.dir.join("swapped.truth.json");
    swapped_regressors(&f.train, &truth);
    let e = recover(&RecoverInput::new(&truth, &f.run)).unwrap_err();
    // The paper's grid needs [stim, bias]: a truth with other regressors is refused first.
    assert!(matches!(e, RecoverError::Truth { .. }), "{e}");
    // A run fitted on other regressors than the truth's.
    let run = run_with("prev_choice", ALPHA);
    let path = run.join("summary.json");
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    s["regressors"] = serde_json::json!(["stim", "prev_choice"]);
    std::fs::write(&path, s.to_string()).unwrap();
    let e = recover(&input(&run, None)).unwrap_err();
    assert!(matches!(e, RecoverError::Regressors { .. }), "{e}");
    assert!(e.to_string().contains("prev_choice"), "{e}");
}

#[test]
fn test_data_without_a_sidecar_is_an_error() {
    let f = fixture();
    let bare = f.dir.join("bare.csv");
    std::fs::copy(&f.test, &bare).unwrap();
    let e = recover(&input(&f.run, Some(&bare))).unwrap_err();
    assert!(matches!(e, RecoverError::TestSidecar { .. }), "{e}");
    assert!(e.to_string().contains("bare.truth.json"), "{e}");
}

#[test]
fn test_data_with_other_regressors_is_an_error() {
    let f = fixture();
    let other = f.dir.join("other.csv");
    std::fs::copy(&f.test, &other).unwrap();
    swapped_regressors(&f.test, &sidecar(&other));
    let e = recover(&input(&f.run, Some(&other))).unwrap_err();
    assert!(matches!(e, RecoverError::TestRegressors { .. }), "{e}");
}

#[test]
fn the_truth_predicts_better_than_a_halved_rule_by_a_paired_test() {
    let f = fixture();
    let (truth, half) = (
        run_with("truth_a", ALPHA),
        run_with("half_a", [ALPHA[0] / 2.0, 0.0]),
    );
    let mut i = input(&truth, Some(&f.test));
    i.against = Some(half.clone());
    let r = recover(&i).unwrap();
    let t = r.test.as_ref().unwrap();
    let a = t.against.as_ref().expect("the comparison is reported");
    assert_eq!(a.paired.n, t.animals);
    assert!((a.paired.mean - (t.fitted_ll - a.ll)).abs() < 0.01, "{a:?}");
    assert!(
        a.paired.mean > 0.0 && a.one_sided_p.unwrap() < 0.01,
        "{a:?}"
    );
    // The other way round, the one-sided test says "not better".
    let mut back = input(&half, Some(&f.test));
    back.against = Some(truth);
    let b = recover(&back).unwrap().test.unwrap().against.unwrap();
    assert!(
        b.paired.mean < 0.0 && b.one_sided_p.unwrap() > 0.99,
        "{b:?}"
    );
}

#[test]
fn a_comparison_without_test_data_is_an_error() {
    let f = fixture();
    let mut i = input(&f.run, None);
    i.against = Some(f.run.clone());
    let err = recover(&i).unwrap_err();
    assert!(err.to_string().contains("against"), "{err}");
}

#[test]
fn the_history_on_data_counts_runs_of_exactly_k() {
    use denovo_study::recovery::data_history;
    // One animal: outcomes 1 1 0 1 0 0 1 1 (the last trial has no step). Steps: fitted =
    // 10 × trial index, truth = trial index.
    let rewards = [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0];
    let fitted: Vec<Vec<f64>> = (0..7).map(|t| vec![10.0 * t as f64, 0.0]).collect();
    let truth: Vec<Vec<f64>> = (0..7).map(|t| vec![t as f64, 0.0]).collect();
    let rows = data_history(&[fitted], &[truth], &[&rewards], &[1, 2]);
    // Correct trials with a step: 0 (no history), 1 (after 1 reward), 3 (after 1 error),
    // 6 (after 2 errors).
    assert_eq!(
        (rows[0].trials_after_rewards, rows[0].trials_after_errors),
        (1, 1)
    );
    assert_eq!(
        (rows[1].trials_after_rewards, rows[1].trials_after_errors),
        (0, 1)
    );
    assert_eq!(rows[0].truth.after_rewards, 1.0);
    assert_eq!(rows[0].truth.after_errors, 3.0);
    assert_eq!(rows[0].fitted.ratio, 10.0 / 30.0);
    assert_eq!(rows[1].truth.after_errors, 6.0);
    assert_eq!(rows[1].fitted.after_errors, 60.0);
}

fn mismatch(r: Result<denovo_study::recovery::RecoveryReport, RecoverError>) -> String {
    match r {
        Err(e @ RecoverError::Mismatch { .. }) => e.to_string(),
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn the_truth_of_another_cohort_is_refused() {
    let f = fixture();
    let other = simulate(&f.dir, "another", 3);
    let e = mismatch(recover(&RecoverInput::new(sidecar(&other), &f.run)));
    assert!(
        e.contains("train.truth.json") && e.contains("another.truth.json"),
        "{e}"
    );
}

#[test]
fn a_test_cohort_of_another_rule_is_refused() {
    let f = fixture();
    let data = f.dir.join("faster.csv");
    std::fs::copy(&f.test, &data).unwrap();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sidecar(&f.test)).unwrap()).unwrap();
    v["rule"]["alpha"] = serde_json::json!([0.2, 0.0]);
    std::fs::write(sidecar(&data), v.to_string()).unwrap();
    let e = mismatch(recover(&input(&f.run, Some(&data))));
    assert!(
        e.contains("faster.csv") && e.contains("same simulation"),
        "{e}"
    );
}

#[test]
fn the_training_data_as_test_data_is_refused() {
    let f = fixture();
    let e = mismatch(recover(&input(&f.run, Some(&f.train))));
    assert!(e.contains("is the data"), "{e}");
}

#[test]
fn a_comparison_with_a_run_on_other_data_is_refused() {
    let f = fixture();
    let other = run_with("elsewhere", ALPHA);
    let path = other.join("summary.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["data"] = serde_json::json!(f.test.display().to_string());
    std::fs::write(&path, v.to_string()).unwrap();
    let mut i = input(&f.run, Some(&f.test));
    i.against = Some(other);
    let e = mismatch(recover(&i));
    assert!(e.contains("same data"), "{e}");
}

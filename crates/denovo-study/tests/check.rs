//! Issue 15, item 3: `denovo check` — cohorts simulated from a fitted rule on the run's own
//! trials, refitted, and compared with the generator per grid point and per figure slice.

use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_study::check::{
    CHECK_CSV, CheckSummary, compare_refits, refit_spec, resimulate, simulation_seed,
};
use denovo_study::{FitSpec, ModelSpec, RuleGrid, RunDir, StudyError, check_run, fit};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `animals` simulated REINFORCE animals (α = 0.06 for stim and bias) × `trials` in
/// sessions of 100–200, seeded.
fn cohort(dir: &Path, animals: usize, trials: usize) -> PathBuf {
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
    let config = denovo_sim::CohortConfig {
        animals,
        trials,
        session_min: 100,
        session_max: 200,
        seed: 11,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth, &config).unwrap();
    let path = dir.join("cohort.csv");
    denovo_sim::write_cohort(&cohort, &path, Format::TrialsCsv).unwrap();
    path
}

fn fitted(dir: &Path, spec: &FitSpec) -> denovo_study::Run {
    let out = dir.join("run");
    RunDir::save(&out, &fit(spec).unwrap(), false).unwrap();
    RunDir::load(&out).unwrap()
}

/// A REINFORCE fit of a REINFORCE cohort: the simulated cohorts keep the data's trials
/// (inputs, sides, sessions) with new choices and rewards = correct; the check recovers
/// Δw_stim after correct trials (identified), and REINFORCE's structural 0 after errors
/// exactly; check.json and check.csv are written and read back.
#[test]
fn a_parametric_rule_is_identified_on_its_own_design() {
    let tmp = tempfile::tempdir().unwrap();
    let data = cohort(tmp.path(), 12, 800);
    let mut spec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.split.holdout_sessions = 0.2;
    spec.seed = 3;
    let run = fitted(tmp.path(), &spec);

    // The simulation keeps everything but the choices.
    let (original, design) = spec.load().unwrap();
    let sim = resimulate(&run, &original, &design, simulation_seed(3, 1)).unwrap();
    let (mut same, mut n) = (0, 0);
    for (a, b) in original.subjects.iter().zip(&sim.subjects) {
        assert_eq!(a.sessions.len(), b.sessions.len());
        for (s, t) in a.sessions.iter().zip(&b.sessions) {
            assert_eq!(s.trials.len(), t.trials.len());
            for (x, y) in s.trials.iter().zip(&t.trials) {
                assert_eq!((&x.inputs, x.answer), (&y.inputs, y.answer));
                assert_eq!(y.reward, f64::from(u8::from(y.choice == y.answer)));
                same += usize::from(x.choice == y.choice);
                n += 1;
            }
        }
    }
    assert!(
        same > n / 2 && same < n,
        "{same} of {n} choices as in the data"
    );
    assert_eq!(
        sim,
        resimulate(&run, &original, &design, simulation_seed(3, 1)).unwrap(),
        "seeded"
    );
    assert_eq!(refit_spec(&spec, 2).seed, 10_005);

    let calls = AtomicUsize::new(0);
    let check = check_run(&run, 3, 0, &|_| {
        calls.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    let s = &check.summary;
    assert_eq!(
        (s.replicates, s.seeds.len(), s.refit_train_ll.len()),
        (3, 3, 3)
    );
    let correct = s.slice("stim", true).unwrap();
    assert!(correct.visited_cells > 0);
    assert!(correct.identified(), "{}", s.table());
    assert!(
        correct.ratio.unwrap() > 0.0,
        "the refits differ from the generator"
    );
    let error = s.slice("stim", false).unwrap();
    assert_eq!(error.generator_rms, 0.0);
    assert_eq!(error.recovery_rms, 0.0);
    assert!(
        error.identified(),
        "REINFORCE's 0 after errors is recovered exactly"
    );

    check.write(&run.dir).unwrap();
    assert_eq!(CheckSummary::read(&run.dir).unwrap().as_ref(), Some(s));
    let text = std::fs::read_to_string(run.dir.join(CHECK_CSV)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("w_stim,w_bias,x_stim,x_bias,choice,reward,answer,visits,dw_stim,"));
    assert!(header.ends_with("dw_bias_rmse"));
    assert_eq!(lines.count(), check.cells.points.len());
}

/// A DNN fit of a small cohort: the machinery runs end to end with finite numbers
/// (error-trial slices included), the refits run one at a time with `jobs` = 1 as with
/// two, and the generator compared with itself is recovered exactly.
#[test]
fn a_dnn_check_runs_and_the_generator_recovers_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let data = cohort(tmp.path(), 3, 300);
    let mut spec = FitSpec::new(&data, ModelSpec::dnn());
    spec.split.holdout_sessions = 0.34;
    spec.training.epochs = Some(5);
    spec.seed = 2;
    let run = fitted(tmp.path(), &spec);
    let check = check_run(&run, 2, 1, &|_| {}).unwrap();
    let s = &check.summary;
    assert_eq!(s.slices.len(), 4);
    for v in &s.slices {
        assert!(v.visited_cells > 0, "{}", v.name());
        assert!(v.generator_rms.is_finite() && v.generator_rms > 0.0);
        assert!(v.recovery_rms.is_finite() && v.recovery_rms > 0.0);
        assert!(
            v.bias_rms <= v.recovery_rms + 1e-15,
            "bias² + spread² = error²"
        );
        assert!(["identified", "not identified"].contains(&v.verdict.as_str()));
    }
    assert!(s.slice("stim", false).is_some());
    assert!(check.cells.rmse.iter().flatten().all(|v| v.is_finite()));
    assert!(s.refit_train_ll.iter().all(|l| l.is_finite() && *l < 0.0));

    // The generator as its own refits: every slice identified, no error anywhere.
    let c = &check.cells;
    let (cells, slices) = compare_refits(
        &c.regressors,
        &c.points,
        &c.visits,
        &c.generator,
        &vec![c.generator.clone(); 2],
    );
    assert!(
        slices
            .iter()
            .all(|v| v.identified() && v.recovery_rms == 0.0)
    );
    assert!(cells.rmse.iter().flatten().all(|v| *v == 0.0));
    // Its visits are those of `denovo rule`.
    let (grid, _) = RuleGrid::of_run_dir(&run, 0).unwrap();
    assert_eq!(grid.visits.as_ref(), Some(&c.visits));
}

/// Zero replicates and random walks are refused.
#[test]
fn a_check_needs_replicates_and_a_learning_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let data = cohort(tmp.path(), 2, 200);
    let spec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Reinforce));
    let run = fitted(tmp.path(), &spec);
    let e = check_run(&run, 0, 0, &|_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            StudyError::Setting {
                setting: "--replicates",
                ..
            }
        ),
        "{e}"
    );

    let walk = FitSpec::new(&data, ModelSpec::new(denovo_study::ModelKind::Psytrack));
    let out = tmp.path().join("walk");
    RunDir::save(&out, &fit(&walk).unwrap(), false).unwrap();
    let walk = RunDir::load(&out).unwrap();
    let e = check_run(&walk, 1, 0, &|_| {}).unwrap_err();
    assert!(matches!(e, StudyError::Setting { .. }), "{e}");
}

//! Issue 15, item 3: `denovo check` — cohorts simulated from a fitted rule on the run's own
//! trials, refitted, and compared with the generator per grid point and per figure slice.

use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_study::check::{
    CHECK_CSV, CheckSummary, compare_refits, refit_spec, resimulate, simulation_seed,
};
use denovo_study::{FitSpec, ModelSpec, RuleGrid, RunDir, StudyError, check_run, fit, load_checks};
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
    fitted_as(dir, "run", spec)
}

fn fitted_as(dir: &Path, name: &str, spec: &FitSpec) -> denovo_study::Run {
    let out = dir.join(name);
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
    let check = check_run(&run, None, 3, 0, &|_| {
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

    assert_eq!((s.name.as_str(), s.generator_dir.as_ref()), ("self", None));
    let dir = check.write(&run.dir).unwrap();
    assert_eq!(dir, run.dir.join("checks").join("self"));
    assert_eq!(CheckSummary::read(&dir).unwrap().as_ref(), Some(s));
    let loaded = load_checks(&run.dir).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].refits.len(), 3);
    assert!(loaded[0].generator.is_none());
    let text = std::fs::read_to_string(dir.join(CHECK_CSV)).unwrap();
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
    let check = check_run(&run, None, 2, 1, &|_| {}).unwrap();
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
    let e = check_run(&run, None, 0, 0, &|_| {}).unwrap_err();
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
    let e = check_run(&walk, None, 1, 0, &|_| {}).unwrap_err();
    assert!(matches!(e, StudyError::Setting { .. }), "{e}");
}

/// A check against another run's rule: a DNN run checked with cohorts simulated from a
/// REINFORCE run of the same data. The refits are compared with the REINFORCE rule (its
/// Δw after errors is exactly 0), stored in `checks/<generator folder>/`, read back with
/// their generator, and the rule's band at every grid point is the bias-corrected interval
/// f − ē ± t·sd(e) of the refits' errors e around the generator (the ensemble absent),
/// widened to contain the fit. A generator fitted on other data is refused.
#[test]
fn a_check_against_another_rule_measures_the_fitters_pull() {
    use denovo_study::band::rule_band;
    use denovo_train::readout::{grid, read_out};
    let tmp = tempfile::tempdir().unwrap();
    let data = cohort(tmp.path(), 4, 300);
    let mut spec = FitSpec::new(&data, ModelSpec::dnn());
    spec.split.holdout_sessions = 0.34;
    spec.training.epochs = Some(5);
    spec.seed = 2;
    let dnn = fitted_as(tmp.path(), "dnn", &spec);
    let mut rspec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Reinforce));
    rspec.split.holdout_sessions = 0.34;
    let reinforce = fitted_as(tmp.path(), "reinforce", &rspec);

    let check = check_run(&dnn, Some(&reinforce), 3, 0, &|_| {}).unwrap();
    let s = &check.summary;
    assert_eq!(s.name, "reinforce");
    assert!(s.generator.starts_with("reinforce ("), "{}", s.generator);
    let error = s.slice("stim", false).unwrap();
    assert_eq!(
        error.generator_rms, 0.0,
        "REINFORCE does not learn from errors"
    );
    assert!(
        error.recovery_rms > 0.0 && !error.identified(),
        "the DNN's refits move w after errors"
    );
    check.write(&dnn.dir).unwrap();
    let checks = load_checks(&dnn.dir).unwrap();
    assert_eq!(checks.len(), 1);
    let g = checks[0]
        .generator
        .as_ref()
        .expect("its generator is read back");
    assert_eq!(g.model(), "reinforce");

    let points = grid(dnn.regressors());
    let band = rule_band(&dnn, &[], &checks, &points, None)
        .unwrap()
        .unwrap();
    let dw = |r: &denovo_study::Run| denovo_study::with_model!(&r.rule, m => read_out::<denovo_study::ReadBackend, _>(m, &points, 2, None));
    let (f, gen_dw) = (dw(&dnn), dw(g));
    let refits: Vec<_> = checks[0].refits.iter().map(dw).collect();
    let t = 4.302_652_729_911_275; // Student's t, 2 degrees of freedom, 97.5%
    for p in (0..points.len()).step_by(37) {
        for j in 0..2 {
            let e: Vec<f64> = refits.iter().map(|r| r[p][j] - gen_dw[p][j]).collect();
            let mean = e.iter().sum::<f64>() / 3.0;
            let sd = (e.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
            let (lo, hi) = band[p][j];
            let want_lo = (f[p][j] - mean - t * sd).min(f[p][j]);
            let want_hi = (f[p][j] - mean + t * sd).max(f[p][j]);
            assert!(
                (lo - want_lo).abs() < 1e-9 && (hi - want_hi).abs() < 1e-9,
                "point {p}"
            );
        }
    }
    // `denovo rule`'s grid carries the same band.
    let (rule_grid, _) = RuleGrid::of_run_dir(&dnn, 0).unwrap();
    assert_eq!(rule_grid.checks, vec!["reinforce".to_string()]);
    let b = &rule_grid.band.as_ref().unwrap()[0];
    assert!((b[0][0][1] - band[0][0].0).abs() < 1e-9 && (b[0][0][3] - band[0][0].1).abs() < 1e-9);

    // A check against another generator folder of the same name is kept beside it.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mut bspec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::ReinforceBaseline));
    bspec.split.holdout_sessions = 0.34;
    let namesake = fitted_as(&elsewhere, "reinforce", &bspec);
    let second = check_run(&dnn, Some(&namesake), 1, 0, &|_| {}).unwrap();
    assert_eq!(second.summary.name, "reinforce-2");
    second.write(&dnn.dir).unwrap();
    assert_eq!(
        load_checks(&dnn.dir).unwrap().len(),
        2,
        "the first check is kept"
    );
    // The run itself is refused as its own generator.
    let e = check_run(&dnn, Some(&dnn), 1, 0, &|_| {}).unwrap_err();
    assert_generator_refused(&e);

    // Another data set's run is refused as a generator.
    let other_dir = tmp.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = cohort(&other_dir, 4, 300);
    let ospec = FitSpec::new(&other, ModelSpec::parametric(RuleKind::Reinforce));
    let foreign = fitted_as(tmp.path(), "foreign", &ospec);
    let e = check_run(&dnn, Some(&foreign), 1, 0, &|_| {}).unwrap_err();
    assert_generator_refused(&e);
}

/// Data simulated on explicit stimulus values (the paper's −2, −1.5, …, 2) are read out,
/// visited and checked on those values, not on the IBL contrasts: trials at x = 2 are
/// visits of the x = 2 cells.
#[test]
fn a_simulation_on_explicit_stimuli_is_checked_on_its_own_values() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
    let config = denovo_sim::CohortConfig {
        animals: 4,
        trials: 300,
        session_min: 100,
        session_max: 100,
        stimuli: "-2:0.5:2".parse().unwrap(),
        seed: 3,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth, &config).unwrap();
    let data = tmp.path().join("cohort.csv");
    denovo_sim::write_cohort(&cohort, &data, Format::TrialsCsv).unwrap();
    let mut spec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.split.holdout_sessions = 0.34;
    let run = fitted(tmp.path(), &spec);
    let points = denovo_study::grid_points(&run);
    let mut xs: Vec<f64> = points.iter().map(|p| p.x[0]).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    assert_eq!(xs, vec![-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]);
    let (grid, _) = RuleGrid::of_run_dir(&run, 0).unwrap();
    let visits = grid.visits.unwrap();
    let at_two: usize = (grid.points.iter().zip(&visits))
        .filter(|(p, _)| p.x[0] == 2.0)
        .map(|(_, v)| v)
        .sum();
    assert!(at_two > 0, "trials at x = 2 fall in the x = 2 cells");
    let check = check_run(&run, None, 1, 0, &|_| {}).unwrap();
    assert_eq!(check.cells.points, grid.points);
}

/// `e` refuses the `--generator` setting.
fn assert_generator_refused(e: &StudyError) {
    assert!(
        matches!(
            e,
            StudyError::Setting {
                setting: "--generator",
                ..
            }
        ),
        "{e}"
    );
}

//! The study pipeline as a library: specs round-trip through fit.toml, run directories
//! round-trip and refuse to mix runs, a custom rule goes through the same pipeline as the
//! built-in one, and each error kind a user can trigger is reported as such.

use denovo_data::Format;
use denovo_rules::{Reinforce, RuleKind, RuleSpec};
use denovo_study::{
    CpuBackend, FitOptions, FitSpec, ModelKind, ModelSpec, RuleGrid, RunDir, RunWriter, StudyError,
    fit, fit_rule, fit_with,
};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// burn's seeded initialisation is process-wide: fits that compare results run one at a
/// time.
static FITS: Mutex<()> = Mutex::new(());

/// A small simulated REINFORCE cohort written as a trials CSV: 4 animals × 300 trials in
/// sessions of 100.
fn cohort(dir: &Path) -> PathBuf {
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
    let config = denovo_sim::CohortConfig {
        animals: 4,
        trials: 300,
        session_min: 100,
        session_max: 100,
        seed: 5,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth, &config).unwrap();
    let path = dir.join("cohort.csv");
    denovo_sim::write_cohort(&cohort, &path, Format::TrialsCsv).unwrap();
    path
}

fn small_spec(data: &Path, model: ModelSpec) -> FitSpec {
    let mut spec = FitSpec::new(data, model);
    spec.split.holdout_sessions = 0.34;
    spec.training.epochs = Some(40);
    spec.seed = 3;
    spec
}

#[test]
fn a_fit_toml_of_the_command_line_reads_as_a_spec() {
    // What `denovo fit` wrote before the pipeline moved (with the CLI-only keys).
    let text = r#"data = "cohort.csv"
model = "dnn"
out = "runs/dnn"
checkpoint_every = 10
folds = 2
holdout_sessions = 0.25
seed = 3
epochs = 30
validation_animals = 0.1
hidden = [8]
gru_hidden = 32
gamma_init = 0.001
generic = false
init_alpha = 0.01
fit_w0 = true
regressors = []
format = "auto"
backend = "ndarray"
quiet = true
"#;
    let spec = FitSpec::from_toml(text).unwrap();
    assert_eq!(spec.model.model, ModelKind::Dnn);
    assert_eq!(spec.model.hidden, vec![8]);
    assert_eq!((spec.split.folds, spec.split.holdout_sessions), (2, 0.25));
    assert_eq!(
        (spec.training.epochs, spec.training.checkpoint_every),
        (Some(30), 10)
    );
    assert!(spec.fit_w0);
    assert_eq!(FitSpec::from_toml(&spec.to_toml().unwrap()).unwrap(), spec);
    // A typo or a value of the wrong type names the key.
    let err = FitSpec::from_toml("data = \"x.csv\"\nmodel = \"dnn\"\nepoch = 5\n").unwrap_err();
    assert!(err.to_string().contains("unknown field `epoch`"), "{err}");
    let err =
        FitSpec::from_toml("data = \"x.csv\"\nmodel = \"dnn\"\nepochs = \"five\"\n").unwrap_err();
    assert!(err.to_string().contains("epochs"), "{err}");
    // Defaults fill what a short spec leaves out.
    let short = FitSpec::from_toml("data = \"x.csv\"\nmodel = \"rewardmax\"\n").unwrap();
    assert_eq!(
        short,
        FitSpec::new("x.csv", ModelSpec::parametric(RuleKind::Rewardmax))
    );
}

#[test]
fn a_run_directory_reads_back_what_was_fitted() {
    let _one = FITS.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    let mut model = ModelSpec::dnn();
    model.hidden = vec![6];
    let result = fit(&small_spec(&data, model)).unwrap();
    let run_dir = dir.path().join("runs/dnn");
    RunDir::save(&run_dir, &result, false).unwrap();
    let run = RunDir::load(&run_dir).unwrap();
    assert_eq!(run.summary, result.summary);
    assert_eq!(run.spec.as_ref(), Some(&result.spec));
    // The rule read back predicts exactly as the fitted one.
    let data = denovo_data::load(&data, Format::Auto).unwrap();
    let w0 = run.mean_w0();
    let a = denovo_study::evaluate(&result.rule, run.regressors(), &w0, &data).unwrap();
    let b = denovo_study::evaluate(&run.rule, run.regressors(), &w0, &data).unwrap();
    assert_eq!(a, b);
    assert!(!RuleGrid::of_run(&run, 0).points.is_empty());
    // weights.csv: a row per trial.
    let weights = std::fs::read_to_string(run_dir.join("weights.csv")).unwrap();
    assert_eq!(weights.lines().count(), 1 + 4 * 300);
    // Nothing is left beside it.
    let beside: Vec<String> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(beside, vec!["dnn".to_string()]);

    // A run written before sessions were keyed (`denovo.fit/1`: no `sessions` in the
    // scores) still reads; an unknown schema does not.
    let path = run_dir.join("summary.json");
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    old["schema"] = "denovo.fit/1".into();
    for animal in old["train"]["per_animal"].as_array_mut().unwrap() {
        animal.as_object_mut().unwrap().remove("sessions");
    }
    std::fs::write(&path, old.to_string()).unwrap();
    let back = RunDir::load(&run_dir).unwrap();
    assert!(back.summary.train.per_animal[0].sessions.is_empty());
    old["schema"] = "denovo.fit/9".into();
    std::fs::write(&path, old.to_string()).unwrap();
    let err = RunDir::load(&run_dir).err().unwrap().to_string();
    assert!(
        err.contains("unknown schema") && err.contains("denovo.fit/2"),
        "{err}"
    );
}

#[test]
fn a_custom_rule_goes_through_the_same_pipeline() {
    let _one = FITS.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    let spec = small_spec(&data, ModelSpec::parametric(RuleKind::Reinforce));
    let built_in = fit(&spec).unwrap();
    // The same rule, handed over as a user-made burn module.
    let device = Default::default();
    let start = || Reinforce::<CpuBackend>::new(&[0.01, 0.01], &device);
    let custom = fit_rule(&spec, &device, &start, FitOptions::default()).unwrap();
    let (a, b) = (&built_in.summary, &custom.summary);
    assert_eq!(a.parameters, b.parameters);
    assert_eq!(a.loss_history, b.loss_history);
    assert_eq!(a.heldout_sessions, b.heldout_sessions);
    assert_eq!(built_in.weights, custom.weights);
    // A custom rule's run directory stores its record for the user to load.
    let run = dir.path().join("custom");
    RunDir::save(&run, &custom, false).unwrap();
    assert_eq!(RunDir::load_record(&run).unwrap(), custom.record);
}

#[test]
fn in_memory_data_fits_like_the_file() {
    let _one = FITS.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    let spec = small_spec(&data, ModelSpec::parametric(RuleKind::Rewardmax));
    let from_file = fit(&spec).unwrap();
    let dataset = denovo_data::load(&data, Format::Auto).unwrap();
    let options = FitOptions {
        dataset: Some(&dataset),
        ..Default::default()
    };
    let in_memory = fit_with(&spec, options).unwrap();
    assert_eq!(from_file.summary.parameters, in_memory.summary.parameters);
    assert_eq!(from_file.summary.train, in_memory.summary.train);
}

#[test]
fn a_run_directory_holding_files_is_refused_unless_forced() {
    let _one = FITS.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    let spec = small_spec(&data, ModelSpec::parametric(RuleKind::Reinforce));
    let result = fit(&spec).unwrap();
    let run = dir.path().join("run");
    RunDir::save(&run, &result, false).unwrap();
    let before = std::fs::read(run.join("summary.json")).unwrap();
    let mut other = result.clone();
    other.summary.model = "other".into();
    let err = RunDir::save(&run, &other, false).unwrap_err();
    assert!(matches!(err, StudyError::RunDir { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read(run.join("summary.json")).unwrap(), before);
    RunDir::save(&run, &other, true).unwrap();
    let err = RunDir::load(&run).err().unwrap();
    assert!(
        err.to_string().contains("`other` is not a built-in model"),
        "{err}"
    );
}

#[test]
fn two_writers_of_one_run_directory_do_not_mix() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let spec = FitSpec::new("x.csv", ModelSpec::dnn());
    let first = RunWriter::begin(&run, &spec, false).unwrap();
    let err = RunWriter::begin(&run, &spec, true).err().unwrap();
    assert!(
        err.to_string().contains("another denovo fit is writing"),
        "{err}"
    );
    // The first writer dies (dropped, as if killed): the lock goes with it, and its staging
    // folder is found by the next writer.
    drop(first);
    let err = RunWriter::begin(&run, &spec, false).err().unwrap();
    assert!(err.to_string().contains("--resume"), "{err}");
    let (_, resumed) = RunWriter::resume(&run).unwrap();
    assert_eq!(resumed, spec);
}

#[test]
fn nothing_to_resume_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = RunWriter::resume(&dir.path().join("never")).err().unwrap();
    assert!(err.to_string().contains("nothing to resume"), "{err}");
}

#[test]
fn each_error_kind_is_reported_as_such() {
    let _one = FITS.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    // A setting out of range names the setting.
    let mut spec = small_spec(&data, ModelSpec::dnn());
    spec.split.holdout_sessions = 1.5;
    let err = fit(&spec).unwrap_err();
    assert!(
        matches!(
            err,
            StudyError::Setting {
                setting: "holdout_sessions",
                ..
            }
        ),
        "{err}"
    );
    // A learning rate that cannot train.
    for lr in [0.0, -1.0, f64::NAN] {
        let mut spec = small_spec(&data, ModelSpec::dnn());
        spec.training.lr = Some(lr);
        let err = fit(&spec).unwrap_err();
        assert!(
            matches!(err, StudyError::Setting { setting: "lr", .. }),
            "{err}"
        );
    }
    // Validation sessions where no animal has two training sessions.
    let mut spec = small_spec(&data, ModelSpec::dnn());
    (spec.split.holdout_sessions, spec.split.validation_sessions) = (0.67, Some(0.5));
    let err = fit(&spec).unwrap_err();
    assert!(
        matches!(
            err,
            StudyError::Setting {
                setting: "validation_sessions",
                ..
            }
        ),
        "{err}"
    );
    // An unknown model name.
    let err = "dnm".parse::<ModelKind>().unwrap_err();
    assert!(matches!(err, StudyError::UnknownModel(_)) && err.to_string().contains("dnn"));
    // Missing data names the file.
    let err = fit(&FitSpec::new(dir.path().join("nope.csv"), ModelSpec::dnn())).unwrap_err();
    assert!(matches!(err, StudyError::Data(_)) && err.to_string().contains("nope.csv"));
    // A regressor the data lacks.
    let mut spec = small_spec(&data, ModelSpec::dnn());
    spec.regressors = vec!["pupil".into()];
    assert!(matches!(fit(&spec).unwrap_err(), StudyError::Data(_)));
    // A non-finite loss keeps the last good parameters.
    let mut spec = small_spec(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.training.lr = Some(1000.0);
    match fit(&spec).unwrap_err() {
        StudyError::Fit {
            reason, last_good, ..
        } => {
            assert!(reason.contains("non-finite"), "{reason}");
            let alpha = last_good["alpha"].as_array().unwrap();
            assert!(alpha.iter().all(|a| a.as_f64().is_some_and(f64::is_finite)));
        }
        other => panic!("expected a fit error, got {other}"),
    }
    // Not a run directory.
    let err = RunDir::load(dir.path()).err().unwrap();
    assert!(
        err.to_string().contains("not a denovo run directory"),
        "{err}"
    );
}

#[test]
fn validation_sessions_stop_early_and_keep_the_best_epoch() {
    let _one = FITS.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    let mut model = ModelSpec::dnn();
    model.hidden = vec![6];
    let mut spec = small_spec(&data, model);
    spec.training.epochs = Some(300);
    spec.training.lr = Some(0.05); // fast enough to overfit four animals' two sessions
    spec.training.early_stop = Some(10);
    spec.split.validation_sessions = Some(0.5);
    let s = fit(&spec).unwrap().summary;
    let e = s.early_stopping.clone().expect("the fit validated");
    assert_eq!(
        (e.on.as_str(), e.fraction, e.patience),
        ("sessions", 0.5, 10)
    );
    assert!(e.validation_ll.is_finite() && e.validation_ll < 0.0);
    // It stopped 10 epochs (one validation interval at most more) after its best epoch,
    // or ran to the end.
    let every = spec.config().validate_every;
    assert!(e.best_epoch <= s.epochs);
    assert!(
        s.epochs == 300 || s.epochs < e.best_epoch + 10 + every,
        "{e:?}, {} epochs",
        s.epochs
    );
    // The resolved spec says what was chosen, and reads back as the same fit.
    let resolved = spec.resolved();
    assert_eq!(resolved.split.validation_sessions, Some(0.5));
    assert_eq!(resolved.training.early_stop, Some(10));
    assert_eq!(
        FitSpec::from_toml(&resolved.to_toml().unwrap())
            .unwrap()
            .config(),
        spec.config()
    );
    // Without validation the same settings run every epoch.
    spec.split.validation_sessions = None;
    spec.training.early_stop = None;
    let s = fit(&spec).unwrap().summary;
    assert!(s.early_stopping.is_none() && s.epochs == 300);
}

#[test]
fn known_initial_weights_come_from_the_truth_or_a_file() {
    let _one = FITS.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The paper's setting, small: w_stim = −2, w_bias drawn from {−1, 0, 1}.
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.0625);
    let config = denovo_sim::CohortConfig {
        animals: 4,
        trials: 200,
        stimuli: "-2:0.25:2".parse().unwrap(),
        w0_choices: vec![vec![-2.0], vec![-1.0, 0.0, 1.0]],
        seed: 8,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth, &config).unwrap();
    let data = dir.path().join("paper.csv");
    denovo_sim::write_cohort(&cohort, &data, Format::TrialsCsv).unwrap();
    let true_w0: Vec<Vec<f64>> = cohort
        .truth
        .initial_weights()
        .chunks(2)
        .map(<[f64]>::to_vec)
        .collect();
    let mut spec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.training.epochs = Some(20);
    spec.w0 = Some("truth".into());
    let s = fit(&spec).unwrap().summary;
    assert_eq!(s.initial_weights, "known");
    assert_eq!(s.w0.as_ref(), Some(&true_w0));
    // The same weights from a CSV file give the same fit.
    let csv = dir.path().join("w0.csv");
    let mut text = "subject,w_stim,w_bias\n".to_string();
    for (t, w) in cohort.truth.trajectories.iter().zip(&true_w0) {
        text.push_str(&format!("{},{},{}\n", t.subject, w[0], w[1]));
    }
    std::fs::write(&csv, &text).unwrap();
    spec.w0 = Some(csv.display().to_string());
    let from_file = fit(&spec).unwrap().summary;
    assert_eq!(from_file.parameters, s.parameters);
    assert_eq!(from_file.train, s.train);
    // A missing animal or a bad cell is named.
    std::fs::write(&csv, text.lines().take(4).collect::<Vec<_>>().join("\n")).unwrap();
    let err = fit(&spec).unwrap_err().to_string();
    assert!(err.contains("sim004"), "{err}");
    std::fs::write(&csv, "subject,w_stim,w_bias\nsim001,x,0\n").unwrap();
    let err = fit(&spec).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("`x`"), "{err}");
}

/// Known initial weights that cannot be used say why and what to do instead: real data has
/// no sidecar, a sidecar from another simulation (other animals or other trial counts), a
/// `denovo simulate --w0-from` file with `stim,bias` columns; `--minibatch` with
/// `--fit-w0` names both flags.
#[test]
fn unusable_initial_weights_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    let simulate_to = |animals: usize, trials: usize, name: &str| {
        let config = denovo_sim::CohortConfig {
            animals,
            trials,
            session_min: 100,
            session_max: 100,
            seed: 9,
            ..Default::default()
        };
        let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
        let cohort = denovo_sim::simulate(&truth, &config).unwrap();
        let path = dir.path().join(name);
        denovo_sim::write_cohort(&cohort, &path, Format::TrialsCsv).unwrap();
        denovo_sim::sidecar_path(&path, Format::TrialsCsv)
    };
    let sidecar = denovo_sim::sidecar_path(&data, Format::TrialsCsv);
    let mut spec = small_spec(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.w0 = Some("truth".into());
    // Real data: no sidecar.
    let real = dir.path().join("real.csv");
    std::fs::copy(&data, &real).unwrap();
    spec.data = real;
    let err = fit(&spec).unwrap_err().to_string();
    assert!(
        err.contains("--w0 truth is for simulated data") && err.contains("--fit-w0"),
        "{err}"
    );
    // A sidecar of fewer animals.
    spec.data = data.clone();
    std::fs::copy(simulate_to(3, 300, "three.csv"), &sidecar).unwrap();
    let err = fit(&spec).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StudyError::Format { .. }), "{err:?}");
    assert!(
        msg.contains("cohort.truth.json")
            && msg.contains("does not belong to the data (it has 3 animals, the data 4)")
            && msg.contains("no animal `sim004`"),
        "{msg}"
    );
    // The same animals with other trial counts: another simulation.
    std::fs::copy(simulate_to(4, 200, "short.csv"), &sidecar).unwrap();
    let msg = fit(&spec).unwrap_err().to_string();
    assert!(
        msg.contains("`sim001` has 200 trials there and 300 in the data"),
        "{msg}"
    );
    // ... unless the fit keeps only the first trials.
    spec.first_trials = Some(150);
    spec.training.epochs = Some(1);
    assert!(fit(&spec).is_ok());
    // A w0 file with the regressors' bare names.
    let csv = dir.path().join("w0.csv");
    std::fs::write(&csv, "subject,stim,bias\nsim001,0,0\n").unwrap();
    spec.w0 = Some(csv.display().to_string());
    let msg = fit(&spec).unwrap_err().to_string();
    assert!(
        msg.contains("no `w_stim` column") && msg.contains("subject,w_stim,w_bias"),
        "{msg}"
    );
    // Minibatches need fixed or known initial weights.
    spec.w0 = None;
    spec.fit_w0 = true;
    spec.training.minibatch = Some(2);
    let err = fit(&spec).unwrap_err();
    assert!(matches!(err, StudyError::Conflict { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "--minibatch needs fixed or known initial weights (--w0 truth|FILE, or the default 0); \
         it cannot be used with --fit-w0 (in fit.toml: minibatch, fit_w0)"
    );
}

/// Collects the warnings of a fit.
#[derive(Default)]
struct Warnings(Vec<String>);

impl denovo_study::Progress for Warnings {
    fn warning(&mut self, message: &str) {
        self.0.push(message.to_string());
    }
}

/// Settings the fit cannot use are warned about, not ignored silently: network sizes on
/// another model, a minibatch of every training animal, held-out sessions of animals with
/// a single session.
#[test]
fn settings_without_effect_are_warned_about() {
    let mut spec = FitSpec::new("data.csv", ModelSpec::parametric(RuleKind::Reinforce));
    assert!(spec.warnings().is_empty());
    spec.model.hidden = vec![64, 64];
    spec.model.gru_hidden = 16;
    assert_eq!(
        spec.warnings(),
        [
            "--hidden is only used by dnn and rnn; ignored for --model reinforce",
            "--gru-hidden is only used by rnn; ignored for --model reinforce"
        ]
    );
    spec.model.model = ModelKind::Dnn;
    assert_eq!(
        spec.warnings(),
        ["--gru-hidden is only used by rnn; ignored for --model dnn"]
    );
    spec.model.model = ModelKind::Rnn;
    assert!(spec.warnings().is_empty());

    let _one = FITS.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    let run = |spec: &FitSpec| {
        let mut warnings = Warnings::default();
        let options = FitOptions {
            progress: Some(&mut warnings),
            ..Default::default()
        };
        fit_with(spec, options).unwrap();
        warnings.0
    };
    let mut spec = small_spec(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.training.epochs = Some(1);
    assert!(run(&spec).is_empty());
    spec.model.hidden = vec![8];
    spec.training.minibatch = Some(4);
    assert_eq!(
        run(&spec),
        [
            "--hidden is only used by dnn and rnn; ignored for --model reinforce",
            "--minibatch 4 is not smaller than the 4 training animals of `fit`: every step is \
             a full batch"
        ]
    );
    spec.training.minibatch = Some(3);
    spec.model.hidden = vec![32, 32];
    assert!(run(&spec).is_empty());
    // One session per animal: nothing to hold out.
    let one_session = dir.path().join("one.csv");
    let config = denovo_sim::CohortConfig {
        animals: 2,
        trials: 100,
        session_min: 100,
        session_max: 100,
        ..Default::default()
    };
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
    let cohort = denovo_sim::simulate(&truth, &config).unwrap();
    denovo_sim::write_cohort(&cohort, &one_session, Format::TrialsCsv).unwrap();
    spec.data = one_session;
    spec.training.minibatch = None;
    assert_eq!(
        run(&spec),
        ["no session was held out (every animal has a single session)"]
    );

    // One animal of four with a single session: it is named, has no held-out score (its
    // LL per trial would be 0/0), and the run reads back.
    let mut mixed = denovo_data::load(&data, Format::Auto).unwrap();
    let first = &mut mixed.subjects[0];
    let trials: Vec<_> = first.sessions.drain(1..).flat_map(|s| s.trials).collect();
    first.sessions[0].trials.extend(trials);
    let single = first.name.clone();
    spec.data = dir.path().join("mixed.csv");
    denovo_data::save(&mixed, &spec.data, Format::TrialsCsv).unwrap();
    assert_eq!(
        run(&spec),
        [format!(
            "no session was held out for 1 of 4 animals, which have a single session (left \
             out of the held-out-session scores): {single}"
        )]
    );
    let result = fit(&spec).unwrap();
    let held = result.summary.heldout_sessions.as_ref().unwrap();
    assert_eq!(held.per_animal.len(), 3);
    assert!(
        held.per_animal
            .iter()
            .all(|a| a.subject != single && a.trials > 0)
    );
    let run_dir = dir.path().join("runs/mixed");
    RunDir::save(&run_dir, &result, false).unwrap();
    assert_eq!(RunDir::load(&run_dir).unwrap().summary, result.summary);
}

/// The paper's grid metric: a rule against itself is 0; REINFORCE against REINFORCE with
/// another α_stim is off by exactly |α − α_true| / α_true (Δw_stim is proportional to α),
/// and its error-trial update is 0 like the truth's.
#[test]
fn the_paper_grid_error_is_exact_for_reinforce() {
    use denovo_study::recovery::{grid_error, paper_grid};
    let points = paper_grid(21);
    assert_eq!(points.len(), 17 * 2 * 21 * 3);
    let device = Default::default();
    let rule = |alpha: f64| {
        denovo_study::Model::<denovo_study::ReadBackend>::from_rule_spec(
            &RuleSpec {
                kind: RuleKind::Reinforce,
                alpha: vec![alpha, 0.0],
                beta: vec![],
                inverse_temperature: None,
                streak_cap: None,
            },
            &device,
        )
    };
    let truth = rule(0.0625);
    let same = grid_error(&truth, &truth, &points);
    assert!(same.overall < 1e-12 && same.true_rms > 0.0);
    let off = grid_error(&rule(0.05), &truth, &points);
    for e in [off.overall, off.correct] {
        assert!((e - 0.2).abs() < 1e-9, "{e}");
    }
    assert!(off.error < 1e-12, "REINFORCE does not learn from errors");
    assert!(
        off.by_bias.iter().all(|(_, e)| (e - 0.2).abs() < 1e-9),
        "{off:?}"
    );
}

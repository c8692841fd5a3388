//! The sweep library end to end on a small simulated cohort: expansion, the user-facing
//! errors (one test each), tasks run in-process, status, resume and collection.

use denovo_sweep::{SweepError, TaskOutcome, TaskState};
use std::path::{Path, PathBuf};

/// A 6-animal cohort of 240 trials each learning by REINFORCE, as a trials CSV in `dir`.
fn cohort(dir: &Path) -> PathBuf {
    let path = dir.join("cohort.csv");
    let cohort = denovo_sim::simulate(
        &denovo_rules::RuleSpec::initial(denovo_rules::RuleKind::Reinforce, 2, 0.05),
        &denovo_sim::CohortConfig {
            animals: 6,
            trials: 240,
            session_min: 80,
            session_max: 80,
            seed: 3,
            ..Default::default()
        },
    )
    .unwrap();
    denovo_sim::write_cohort(&cohort, &path, denovo_data::Format::TrialsCsv).unwrap();
    path
}

/// Writes `sweep.toml` with `body` after `data = "cohort.csv"` and returns its path.
fn sweep_toml(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("sweep.toml");
    std::fs::write(&path, format!("data = \"cohort.csv\"\n{body}")).unwrap();
    path
}

const GRID: &str = r#"folds = 3
seeds = [0, 1]
[defaults]
epochs = 15
lbfgs = 0
[[models]]
model = "reinforce-baseline"
[[models]]
model = "reinforce"
"#;

#[test]
fn bad_toml_names_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "folds = \"five\"\n[[models]]\nmodel = \"dnn\"\n",
    );
    let err = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap_err();
    assert!(matches!(err, SweepError::Toml { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("line 2") && msg.contains("folds"), "{msg}");

    let path = sweep_toml(dir.path(), "fold = 5\n[[models]]\nmodel = \"dnn\"\n");
    let msg = denovo_sweep::prepare(&path, &dir.path().join("out"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 2") && msg.contains("fold"), "{msg}");
}

#[test]
fn unknown_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "[[models]]\nmodel = \"dnn\"\n[[models]]\nmodel = \"lstm\"\n",
    );
    let err = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap_err();
    assert!(
        matches!(err, SweepError::UnknownModel { index: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("models[1]") && err.to_string().contains("lstm"));
}

#[test]
fn bad_model_option_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "folds = 3\n[[models]]\nmodel = \"dnn\"\nepoch = 5\n",
    );
    let err = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap_err();
    assert!(
        matches!(err, SweepError::ModelToml { index: 0, .. }),
        "{err:?}"
    );
    // The user's file, line and column: `epoch = 5` is line 5 of sweep.toml (after
    // `data = …`), column 1; no stray ": :" of an internally rebuilt TOML.
    let msg = err.to_string();
    assert!(msg.contains("sweep.toml") && msg.contains("epoch"), "{msg}");
    assert!(
        msg.contains("line 5, column 1") && msg.contains("epoch = 5"),
        "{msg}"
    );
    assert!(!msg.contains(": :"), "{msg}");

    // A key of [defaults] with the wrong type: its own line (4), for the entry using it.
    let path = sweep_toml(
        dir.path(),
        "folds = 3
[defaults]
epochs = \"many\"
[[models]]
model = \"dnn\"
",
    );
    let msg = denovo_sweep::prepare(&path, &dir.path().join("out"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 4") && msg.contains("epochs"), "{msg}");
}

#[test]
fn out_of_range_model_option_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "folds = 3
[[models]]
model = \"reinforce\"
[[models]]
model = \"dnn\"
  holdout_sessions = 1.5
",
    );
    let err = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap_err();
    assert!(
        matches!(err, SweepError::ModelOptions { index: 1, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("sweep.toml:7:3: models[1] (dnn): holdout_sessions"),
        "{msg}"
    );
    assert!(!msg.contains(": :"), "{msg}");
}

#[test]
fn missing_data_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = sweep_toml(dir.path(), "[[models]]\nmodel = \"dnn\"\n");
    let err = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap_err();
    assert!(
        matches!(&err, SweepError::MissingData(p) if p.ends_with("cohort.csv")),
        "{err:?}"
    );
}

#[test]
fn too_many_folds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "folds = 7\n[[models]]\nmodel = \"reinforce-baseline\"\n",
    );
    let err = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap_err();
    assert!(
        matches!(
            err,
            SweepError::Setting {
                setting: "folds",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn tasks_run_resume_and_collect_into_the_paired_table() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(dir.path(), GRID);
    let out = dir.path().join("sweep");
    let plan = denovo_sweep::prepare(&path, &out).unwrap();
    // 2 models × 2 seeds × 1 replicate × 3 folds, ids in order.
    assert_eq!(plan.tasks.len(), 12);
    assert!(plan.tasks.iter().enumerate().all(|(i, t)| t.key.id == i));
    assert_eq!(plan.tasks[4].key.name, "reinforce-baseline.s1.r0.f1");
    // tasks.json keeps the identity fields flat beside fit_toml.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tasks.json")).unwrap()).unwrap();
    let t4 = &json["tasks"][4];
    assert_eq!(t4["name"], "reinforce-baseline.s1.r0.f1");
    assert_eq!(
        (t4["id"].as_u64(), t4["fold"].as_u64(), t4["seed"].as_u64()),
        (Some(4), Some(1), Some(1))
    );
    assert!(t4.get("key").is_none() && t4["fit_toml"].is_string());
    let mut held: Vec<String> = plan.fold_subjects.concat();
    held.sort();
    assert_eq!(held.len(), 6, "every animal in exactly one fold");
    held.dedup();
    assert_eq!(held.len(), 6);
    // The same sweep.toml reopens the directory; stable ids.
    assert_eq!(denovo_sweep::prepare(&path, &out).unwrap(), plan);

    let err = denovo_sweep::run_task(&out, 12).unwrap_err();
    assert!(
        matches!(
            err,
            SweepError::TaskOutOfRange {
                id: 12,
                tasks: 12,
                ..
            }
        ),
        "{err:?}"
    );

    for id in 0..11 {
        assert!(matches!(
            denovo_sweep::run_task(&out, id).unwrap(),
            TaskOutcome::Ran(_)
        ));
    }
    assert!(matches!(
        denovo_sweep::collect(&out, None).unwrap_err(),
        SweepError::Incomplete {
            done: 11,
            tasks: 12
        }
    ));
    // A killed task: a partial folder and a log, no result.
    std::fs::create_dir_all(out.join("tasks/.reinforce.s1.r0.f2.partial/run")).unwrap();
    std::fs::create_dir_all(out.join("logs")).unwrap();
    std::fs::write(denovo_sweep::log_path(&out, 11), "fold 1/1: epoch 3/15\n").unwrap();
    let status = denovo_sweep::status(&out, 5).unwrap();
    assert_eq!(
        status.iter().filter(|s| s.state == TaskState::Done).count(),
        11
    );
    assert_eq!(status[11].state, TaskState::Failed);
    assert_eq!(status[11].log_tail, ["fold 1/1: epoch 3/15"]);

    assert!(matches!(
        denovo_sweep::run_task(&out, 11).unwrap(),
        TaskOutcome::Ran(_)
    ));
    assert_eq!(
        denovo_sweep::run_task(&out, 3).unwrap(),
        TaskOutcome::AlreadyDone
    );
    assert!(!out.join("tasks/.reinforce.s1.r0.f2.partial").exists());

    let c = denovo_sweep::collect(&out, None).unwrap();
    assert_eq!(c.rows.len(), 2 * 2 * 6, "models × seeds × animals");
    assert!(
        c.rows
            .iter()
            .all(|r| r.ll_per_trial < 0.0 && r.trials == 240)
    );
    // Per-animal means over seeds, and the comparison built on them.
    let mean_of = |model: &str, subject: &str| {
        let v: Vec<f64> = c
            .rows
            .iter()
            .filter(|r| r.model == model && r.subject == subject)
            .map(|r| r.ll_per_trial)
            .collect();
        assert_eq!(v.len(), 2);
        v.iter().sum::<f64>() / 2.0
    };
    let cmp = &c.comparisons[0];
    assert_eq!(
        (cmp.model.as_str(), cmp.reference.as_str()),
        ("reinforce", "reinforce-baseline")
    );
    let diffs: Vec<f64> = c.per_animal["reinforce"]
        .keys()
        .map(|s| mean_of("reinforce", s) - mean_of("reinforce-baseline", s))
        .collect();
    assert_eq!(cmp.paired.n, 6);
    assert!((cmp.paired.mean - diffs.iter().sum::<f64>() / 6.0).abs() < 1e-12);
    let (t, w) = (
        cmp.t_test_p_greater.unwrap(),
        cmp.wilcoxon_p_greater.unwrap(),
    );
    assert!((0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&w));
    assert_eq!(
        t < 0.5,
        cmp.paired.mean > 0.0,
        "one-sided p follows the sign"
    );
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 24);
    assert!(out.join("comparison.csv").is_file() && out.join("results.json").is_file());

    // Another reference; an unknown one is refused.
    let other = denovo_sweep::collect(&out, Some("reinforce")).unwrap();
    assert!((other.comparisons[0].paired.mean + cmp.paired.mean).abs() < 1e-12);
    assert!(matches!(
        denovo_sweep::collect(&out, Some("dnn")).unwrap_err(),
        SweepError::UnknownReference { .. }
    ));

    // A changed sweep.toml does not reuse the directory.
    let changed = sweep_toml(
        dir.path(),
        &GRID.replace("seeds = [0, 1]", "seeds = [0, 2]"),
    );
    assert!(matches!(
        denovo_sweep::prepare(&changed, &out).unwrap_err(),
        SweepError::SweepDir { .. }
    ));
}

/// A one-model sweep collects its per-animal table and says there is nothing to compare;
/// comparison.csv holds the reference's own row (its mean LL, no difference).
#[test]
fn one_model_sweep_collects_a_table_with_nothing_to_compare() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "folds = 2\n[[models]]\nmodel = \"reinforce\"\nepochs = 10\nlbfgs = 0\n",
    );
    let out = dir.path().join("sweep");
    // No `reference` and no reinforce-baseline: the first model is the reference.
    let plan = denovo_sweep::prepare(&path, &out).unwrap();
    assert_eq!(plan.reference, "reinforce");
    for t in &plan.tasks {
        denovo_sweep::run_task(&out, t.key.id).unwrap();
    }
    let c = denovo_sweep::collect(&out, None).unwrap();
    assert!(c.comparisons.is_empty());
    assert_eq!(c.per_animal["reinforce"].len(), 6);
    let table = c.table();
    assert!(table.contains("nothing to compare"), "{table}");
    let mean = c.per_animal["reinforce"].values().sum::<f64>() / 6.0;
    assert!(table.contains(&format!("{mean:.5}")), "{table}");
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert_eq!(lines[1], format!("reinforce,reinforce,6,{mean},,,,,"));
    // One run per model for the report's figures: fold 0's.
    let runs = denovo_sweep::task_runs(&out).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, "reinforce.s0.r0.f0");
    assert!(runs[0].1.join("summary.json").is_file());
}

/// A reference named explicitly must be one of the models.
#[test]
fn missing_named_reference_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "folds = 2\nreference = \"dnn\"\n[[models]]\nmodel = \"reinforce\"\n",
    );
    let msg = denovo_sweep::prepare(&path, &dir.path().join("out"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("reference") && msg.contains("`dnn`"), "{msg}");
}

/// `w0 = "FILE"` in a model entry is relative to sweep.toml (not to the working
/// directory), made absolute in tasks.json; a missing file fails at expansion naming the
/// sweep file, the entry and the key's line.
#[test]
fn w0_file_is_relative_to_the_sweep_file_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    std::fs::write(dir.path().join("w0.csv"), "subject,w_stim,w_bias\n").unwrap();
    let path = sweep_toml(
        dir.path(),
        "folds = 2\n[[models]]\nmodel = \"reinforce\"\nw0 = \"w0.csv\"\n",
    );
    let plan = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap();
    let spec = denovo_study::FitSpec::from_toml(&plan.tasks[0].fit_toml).unwrap();
    let w0 = PathBuf::from(spec.w0.unwrap());
    assert!(w0.is_absolute(), "{}", w0.display());
    assert_eq!(
        std::fs::canonicalize(&w0).unwrap(),
        std::fs::canonicalize(dir.path().join("w0.csv")).unwrap()
    );
    // `truth` is not a path.
    let path = sweep_toml(
        dir.path(),
        "folds = 2\n[[models]]\nmodel = \"reinforce\"\nw0 = \"truth\"\n",
    );
    let plan = denovo_sweep::prepare(&path, &dir.path().join("out2")).unwrap();
    assert!(plan.tasks[0].fit_toml.contains("w0 = \"truth\""));

    let path = sweep_toml(
        dir.path(),
        "folds = 2\n[[models]]\nmodel = \"reinforce\"\n[[models]]\nmodel = \"dnn\"\nw0 = \"nofile.csv\"\n",
    );
    let err = denovo_sweep::prepare(&path, &dir.path().join("out3")).unwrap_err();
    assert!(
        matches!(err, SweepError::ModelOptions { index: 1, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("sweep.toml:7:1")
            && msg.contains("models[1] (dnn)")
            && msg.contains("nofile.csv"),
        "{msg}"
    );
    assert!(!dir.path().join("out3").exists());
}

/// An unknown regressor fails at expansion, naming the entry, not in every task.
#[test]
fn unknown_regressor_fails_at_expansion() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "folds = 2\n[[models]]\nmodel = \"reinforce\"\n[[models]]\nmodel = \"dnn\"\nregressors = [\"stim\", \"bogus\", \"bias\"]\n",
    );
    let err = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap_err();
    assert!(
        matches!(err, SweepError::ModelOptions { index: 1, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("sweep.toml:7:1") && msg.contains("models[1] (dnn)") && msg.contains("bogus"),
        "{msg}"
    );
}

/// `seeds = [1, 1]` would give two tasks of one name and count every animal twice.
#[test]
fn duplicate_seeds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(
        dir.path(),
        "folds = 2\nseeds = [1, 2, 1]\n[[models]]\nmodel = \"reinforce\"\n",
    );
    let err = denovo_sweep::prepare(&path, &dir.path().join("out")).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            SweepError::Setting {
                setting: "seeds",
                ..
            }
        ) && msg.contains("seed 1 is listed twice"),
        "{msg}"
    );
}

/// `--status` while `--local` workers start: a task whose worker lives is running (the
/// pool locks its log, shared with the worker), never failed; once the worker exits
/// without a result it is failed.
#[test]
fn status_shows_a_starting_worker_as_running() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let path = sweep_toml(dir.path(), "folds = 2\n[[models]]\nmodel = \"reinforce\"\n");
    let out = dir.path().join("sweep");
    denovo_sweep::prepare(&path, &out).unwrap();
    // A worker that never takes the task's lock: it sleeps, then exits without a result.
    let worker = denovo_sweep::Worker {
        program: "sh".into(),
        args: vec!["-c".into(), "sleep 2".into(), "sh".into()],
    };
    let pool = {
        let out = out.clone();
        std::thread::spawn(move || denovo_sweep::run_local(&out, 2, &worker, &mut |_| {}))
    };
    let start = std::time::Instant::now();
    let mut seen_running = false;
    while start.elapsed() < std::time::Duration::from_millis(1500) {
        let states: Vec<TaskState> = denovo_sweep::status(&out, 3)
            .unwrap()
            .iter()
            .map(|t| t.state)
            .collect();
        assert!(!states.contains(&TaskState::Failed), "{states:?}");
        seen_running |= states.iter().all(|s| *s == TaskState::Running);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(seen_running);
    let report = pool.join().unwrap().unwrap();
    assert_eq!(report.failed, vec![0, 1]);
    let status = denovo_sweep::status(&out, 3).unwrap();
    assert!(
        status.iter().all(|t| t.state == TaskState::Failed),
        "{status:?}"
    );
}

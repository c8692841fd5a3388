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
        matches!(err, SweepError::ModelOptions { index: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("epoch"), "{err}");
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
    assert!(plan.tasks.iter().enumerate().all(|(i, t)| t.id == i));
    assert_eq!(plan.tasks[4].name, "reinforce-baseline.s1.r0.f1");
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

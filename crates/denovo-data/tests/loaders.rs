//! Loaders against hand-written fixtures (tests/fixtures) and an ALF tree written here.

use denovo_data::{DesignOptions, Format, load};
use std::path::{Path, PathBuf};

/// The package's folder: cargo's `CARGO_MANIFEST_DIR` at run time (right even when the
/// build was reused from a checkout at another path), else the compile-time value.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn fixture(name: &str) -> PathBuf {
    manifest_dir().join("../../tests/fixtures").join(name)
}

#[test]
fn trials_csv_basic_fixture() {
    let d = load(&fixture("trials_basic.csv"), Format::Auto).unwrap();
    assert_eq!(d.format, Format::TrialsCsv);
    assert_eq!(d.input_names, vec!["stim"]);
    assert_eq!(d.ignored_columns, vec!["note"]);
    assert_eq!(d.subjects.len(), 2);
    let m1 = &d.subjects[0];
    assert_eq!(m1.name, "m1");
    assert_eq!(m1.sessions.len(), 2);
    assert_eq!(m1.sessions[0].trials.len(), 3);
    assert_eq!(m1.sessions[1].trials.len(), 2);
    assert_eq!(m1.sessions[1].id, "2");
    let t = &m1.sessions[0].trials[1];
    assert_eq!((t.choice, t.answer, t.reward), (1, 0, 0.0));
    assert_eq!(t.inputs, vec![-0.25]);
    // The explicit reward column wins over choice == answer.
    assert_eq!(m1.sessions[1].trials[0].reward, 1.0);
    assert_eq!(d.subjects[1].sessions[0].trials[1].reward, 0.5);
    assert_eq!(d.n_trials(), 7);
    assert_eq!(d.n_sessions(), 3);
    assert!((d.accuracy() - 4.0 / 7.0).abs() < 1e-12);
    assert!((m1.accuracy() - 0.6).abs() < 1e-12);
}

#[test]
fn trials_csv_minimal_defaults_reward_to_correct() {
    let d = load(&fixture("trials_minimal.csv"), Format::TrialsCsv).unwrap();
    assert!(d.input_names.is_empty());
    let s = &d.subjects[0];
    assert_eq!(s.sessions.len(), 2);
    let rewards: Vec<f64> = s.trials().map(|t| t.reward).collect();
    assert_eq!(rewards, vec![1.0, 0.0, 1.0]);
}

#[test]
fn ibl_processed_fixture() {
    let d = load(&fixture("ibl_processed.csv"), Format::Auto).unwrap();
    assert_eq!(d.format, Format::IblCsv);
    assert_eq!(
        d.input_names,
        vec!["contrastLeft", "contrastRight", "probabilityLeft"]
    );
    let a = &d.subjects[0];
    assert_eq!(a.name, "CSHL_001");
    assert_eq!(a.lab.as_deref(), Some("labA"));
    let sizes: Vec<usize> = a.sessions.iter().map(|s| s.trials.len()).collect();
    assert_eq!(sizes, vec![3, 1, 1]);
    assert_eq!(a.sessions[1].date.as_deref(), Some("2019-03-01"));
    // The session number keeps three digits, whether written `2` or `002`.
    assert_eq!(a.sessions[1].id, "002");
    assert_eq!(a.sessions[1].key(), "2019-03-01/002");
    // NaN contrast (empty or "nan") reads as 0.
    assert_eq!(a.sessions[0].trials[0].inputs, vec![0.0, 0.25, 0.5]);
    assert_eq!(a.sessions[0].trials[1].inputs, vec![0.0625, 0.0, 0.5]);
    // feedbackType 0 = error → reward 0.
    assert_eq!(a.sessions[0].trials[1].reward, 0.0);
    assert_eq!(d.subjects[1].name, "KS_002");
    assert_eq!(d.n_trials(), 6);
}

#[test]
fn ibl_stimulus_regressor_is_tanh_transform_of_signed_contrast() {
    let d = load(&fixture("ibl_processed.csv"), Format::IblCsv).unwrap();
    let design = d.design(&DesignOptions::default()).unwrap();
    assert_eq!(design.names, vec!["stim", "bias"]);
    let s = &design.subjects[0];
    let expect = |c: f64| (5.0 * c).tanh() / 5f64.tanh();
    assert!((s.row(0)[0] - expect(0.25)).abs() < 1e-12);
    assert!((s.row(1)[0] - expect(-0.0625)).abs() < 1e-12);
    assert_eq!(s.row(3), &[expect(-1.0), 1.0]);
    assert_eq!(s.session_start, vec![true, false, false, true, true]);
    assert_eq!(s.session, vec![0, 0, 0, 1, 2]);
}

/// The raw arrays of one ALF session.
struct RawSession<'a> {
    choice: &'a [i64],
    left: &'a [f64],
    right: &'a [f64],
    feedback: &'a [i64],
}

/// Writes one ALF session `<root>/<subject>/<date>/<number>/alf/`.
fn write_alf_session(root: &Path, subject: &str, date: &str, number: &str, raw: RawSession<'_>) {
    let alf = root.join(subject).join(date).join(number).join("alf");
    std::fs::create_dir_all(&alf).unwrap();
    let n = raw.choice.len();
    npyz::to_file_1d(alf.join("_ibl_trials.choice.npy"), raw.choice.to_vec()).unwrap();
    npyz::to_file_1d(alf.join("_ibl_trials.contrastLeft.npy"), raw.left.to_vec()).unwrap();
    npyz::to_file_1d(
        alf.join("_ibl_trials.contrastRight.npy"),
        raw.right.to_vec(),
    )
    .unwrap();
    npyz::to_file_1d(
        alf.join("_ibl_trials.feedbackType.npy"),
        raw.feedback.to_vec(),
    )
    .unwrap();
    npyz::to_file_1d(alf.join("_ibl_trials.probabilityLeft.npy"), vec![0.5f64; n]).unwrap();
}

#[test]
fn alf_tree_written_by_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lab").join("Subjects");
    let nan = f64::NAN;
    // Session 1: right (choice −1) correct on a right stimulus, a no-go, left correct,
    // right wrong on a left 0% stimulus.
    fn session<'a>(
        choice: &'a [i64],
        left: &'a [f64],
        right: &'a [f64],
        feedback: &'a [i64],
    ) -> RawSession<'a> {
        RawSession {
            choice,
            left,
            right,
            feedback,
        }
    }
    write_alf_session(
        &root,
        "mouseA",
        "2020-01-02",
        "001",
        session(
            &[-1, 0, 1, -1],
            &[nan, 0.5, 0.25, 0.0],
            &[1.0, nan, nan, nan],
            &[1, -1, 1, -1],
        ),
    );
    // The next day: a wrong left choice on a right stimulus.
    write_alf_session(
        &root,
        "mouseA",
        "2020-01-03",
        "001",
        session(&[1], &[nan], &[0.125], &[-1]),
    );
    write_alf_session(
        &root,
        "mouseB",
        "2020-02-01",
        "002",
        session(&[-1, -1], &[nan, 1.0], &[0.0, nan], &[1, -1]),
    );
    let d = load(dir.path(), Format::Auto).unwrap();
    assert_eq!(d.format, Format::IblAlf);
    assert_eq!(d.subjects.len(), 2);
    let a = &d.subjects[0];
    assert_eq!(a.name, "mouseA");
    assert_eq!(a.dropped_trials, 1);
    assert_eq!(a.sessions.len(), 2);
    assert_eq!(a.sessions[0].date.as_deref(), Some("2020-01-02"));
    let t: Vec<(u8, u8, f64)> = a.sessions[0]
        .trials
        .iter()
        .map(|t| (t.choice, t.answer, t.reward))
        .collect();
    assert_eq!(t, vec![(1, 1, 1.0), (0, 0, 1.0), (1, 0, 0.0)]);
    assert_eq!(a.sessions[0].trials[0].inputs, vec![0.0, 1.0, 0.5]);
    assert_eq!(a.sessions[1].trials[0].choice, 0);
    assert_eq!(a.sessions[1].trials[0].answer, 1);
    assert_eq!(d.subjects[1].sessions[0].id, "002");
    assert_eq!(d.subjects[1].sessions[0].key(), "2020-02-01/002");
    assert!(d.skipped.is_empty());
    assert_eq!(d.n_dropped(), 1);
    assert_eq!(d.n_trials(), 6);
}

#[test]
fn alf_reads_integer_and_float_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    let alf = dir
        .path()
        .join("s")
        .join("2020-01-01")
        .join("001")
        .join("alf");
    std::fs::create_dir_all(&alf).unwrap();
    npyz::to_file_1d(alf.join("_ibl_trials.choice.npy"), vec![-1.0f32, 1.0]).unwrap();
    npyz::to_file_1d(
        alf.join("_ibl_trials.contrastLeft.npy"),
        vec![f64::NAN, 0.5],
    )
    .unwrap();
    npyz::to_file_1d(
        alf.join("_ibl_trials.contrastRight.npy"),
        vec![1.0f64, f64::NAN],
    )
    .unwrap();
    npyz::to_file_1d(alf.join("_ibl_trials.feedbackType.npy"), vec![1i32, 1]).unwrap();
    let d = load(dir.path(), Format::IblAlf).unwrap();
    assert_eq!(d.n_trials(), 2);
    assert!((d.accuracy() - 1.0).abs() < 1e-12);
}

#[test]
fn rat_w053_loads_with_known_counts() {
    let path = std::env::var_os("DENOVO_DATA")
        .map(|d| PathBuf::from(d).join("rat_W053.csv"))
        .unwrap_or_else(|| manifest_dir().join("../../../shared/data/rat_W053.csv"));
    if !path.is_file() {
        eprintln!("skipped: {} not present", path.display());
        return;
    }
    let d = load(&path, Format::Auto).unwrap();
    assert_eq!(d.subjects.len(), 1);
    assert_eq!(d.n_sessions(), 80);
    assert_eq!(d.n_trials(), 20_000);
    assert_eq!(format!("{:.4}", d.accuracy()), "0.6445");
    assert_eq!(d.input_names, vec!["s1", "s2"]);
    let design = d
        .design(&DesignOptions::from_names(&["s1", "s2", "bias"]).unwrap())
        .unwrap();
    let s = &design.subjects[0];
    // Last 20% of sessions held out: 16 of 80.
    let first = s.first_holdout_trial(0.2);
    assert_eq!(s.session[first], 64);
    assert_eq!(s.session[first - 1], 63);
    // The first 10,000 trials option.
    assert_eq!(d.first_trials(10_000).n_trials(), 10_000);
}

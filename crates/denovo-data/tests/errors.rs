//! One test per error kind: every malformed input gives a typed error whose message names
//! the file, the line and the column and shows the offending value.

use denovo_data::{DesignOptions, Format, LoadError, OrderedField, kfold_by_subject, load};
use std::path::PathBuf;

/// Writes `content` to `<tmp>/bad.csv` and loads it in `format`.
fn load_text(content: &str, format: Format) -> (LoadError, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, content).unwrap();
    let err = load(&path, format).expect_err("malformed input must fail");
    let msg = err.to_string();
    (err, msg, dir)
}

const HEADER: &str = "subject,session,trial,stim,choice,answer\n";

#[test]
fn missing_file() {
    let err = load(&PathBuf::from("/no/such/file.csv"), Format::Auto).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert!(err.to_string().contains("/no/such/file.csv"));
}

#[test]
fn empty_file() {
    let (err, msg, _d) = load_text("  \n", Format::Auto);
    assert!(matches!(err, LoadError::EmptyFile { .. }), "{msg}");
    assert!(msg.contains("bad.csv") && msg.contains("empty"), "{msg}");
}

#[test]
fn header_without_rows() {
    let (err, msg, _d) = load_text(HEADER, Format::TrialsCsv);
    assert!(matches!(err, LoadError::NoTrials { .. }), "{msg}");
}

#[test]
fn unknown_format() {
    let (err, msg, _d) = load_text("a,b\n1,2\n", Format::Auto);
    assert!(matches!(err, LoadError::UnknownFormat { .. }), "{msg}");
    assert!(msg.contains("a,b"), "{msg}");
}

#[test]
fn missing_column() {
    let (err, msg, _d) = load_text("subject,session,choice\nm,1,0\n", Format::TrialsCsv);
    assert!(matches!(err, LoadError::MissingColumn { .. }), "{msg}");
    assert!(
        msg.contains("bad.csv:1") && msg.contains("`answer`"),
        "{msg}"
    );
}

#[test]
fn duplicate_column() {
    let (err, msg, _d) = load_text(
        "subject,session,choice,answer,choice\nm,1,0,0,1\n",
        Format::TrialsCsv,
    );
    assert!(matches!(err, LoadError::DuplicateColumn { .. }), "{msg}");
    assert!(msg.contains("bad.csv:1:5"), "{msg}");
}

#[test]
fn ragged_row() {
    let (err, msg, _d) = load_text(
        &format!("{HEADER}m,1,1,0.5,1,1\nm,1,2,0.5,1\n"),
        Format::TrialsCsv,
    );
    assert!(matches!(err, LoadError::Csv { line: 3, .. }), "{msg}");
    assert!(msg.contains("bad.csv:3"), "{msg}");
}

#[test]
fn non_numeric_value() {
    let (err, msg, _d) = load_text(
        &format!("{HEADER}m,1,1,0.5,1,1\nm,1,2,high,1,1\n"),
        Format::TrialsCsv,
    );
    assert!(
        matches!(
            err,
            LoadError::NotNumeric {
                line: 3,
                column_index: 4,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("bad.csv:3:4") && msg.contains("`stim`") && msg.contains("`high`"),
        "{msg}"
    );
}

#[test]
fn choice_outside_coding() {
    let (err, msg, _d) = load_text(&format!("{HEADER}m,1,1,0.5,2,1\n"), Format::TrialsCsv);
    assert!(
        matches!(
            err,
            LoadError::BadCoding {
                line: 2,
                column_index: 5,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("bad.csv:2:5") && msg.contains("`2`") && msg.contains("choice"),
        "{msg}"
    );
}

#[test]
fn answer_outside_coding() {
    let (err, msg, _d) = load_text(&format!("{HEADER}m,1,1,0.5,1,-1\n"), Format::TrialsCsv);
    assert!(
        matches!(
            err,
            LoadError::BadCoding {
                column_index: 6,
                ..
            }
        ),
        "{msg}"
    );
}

#[test]
fn empty_subject() {
    let (err, msg, _d) = load_text(
        &format!("{HEADER}m,1,1,0.5,1,1\n,1,2,0.5,1,1\n"),
        Format::TrialsCsv,
    );
    assert!(
        matches!(
            err,
            LoadError::EmptySubject {
                line: 3,
                column_index: 1,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("bad.csv:3:1"), "{msg}");
}

#[test]
fn duplicated_session() {
    let text = format!("{HEADER}m,1,1,0.5,1,1\nm,2,1,0.5,1,1\nm,1,2,0.5,1,1\n");
    let (err, msg, _d) = load_text(&text, Format::TrialsCsv);
    assert!(
        matches!(
            err,
            LoadError::DuplicatedSession {
                line: 4,
                column_index: 2,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("bad.csv:4:2") && msg.contains("session `1`"),
        "{msg}"
    );
}

#[test]
fn unordered_sessions() {
    let text = format!("{HEADER}m,3,1,0.5,1,1\nm,2,1,0.5,1,1\n");
    let (err, msg, _d) = load_text(&text, Format::TrialsCsv);
    assert!(
        matches!(
            err,
            LoadError::Unordered {
                what: OrderedField::Session,
                line: 3,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("bad.csv:3:2") && msg.contains("`2`") && msg.contains("`3`"),
        "{msg}"
    );
}

#[test]
fn unordered_trials() {
    let text = format!("{HEADER}m,1,2,0.5,1,1\nm,1,1,0.5,1,1\n");
    let (err, msg, _d) = load_text(&text, Format::TrialsCsv);
    assert!(
        matches!(
            err,
            LoadError::Unordered {
                what: OrderedField::Trial,
                line: 3,
                column_index: 3,
                ..
            }
        ),
        "{msg}"
    );
}

#[test]
fn ibl_csv_bad_feedback_and_contrast() {
    let header = "contrastLeft,contrastRight,choice,feedbackType,probabilityLeft,lab,subject,date,session,answer\n";
    let (err, msg, _d) = load_text(
        &format!("{header},0.5,1,2,0.5,l,s,2020-01-01,1,1\n"),
        Format::Auto,
    );
    assert!(
        matches!(
            err,
            LoadError::BadCoding {
                line: 2,
                column_index: 4,
                ..
            }
        ),
        "{msg}"
    );
    let (err, msg, _d) = load_text(
        &format!("{header},1.5,1,1,0.5,l,s,2020-01-01,1,1\n"),
        Format::Auto,
    );
    assert!(
        matches!(
            err,
            LoadError::BadCoding {
                column_index: 2,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("`1.5`"), "{msg}");
    // Sessions out of date order.
    let rows = format!("{header},1,1,1,0.5,l,s,2020-01-02,1,1\n,1,1,1,0.5,l,s,2020-01-01,1,1\n");
    let (err, msg, _d) = load_text(&rows, Format::Auto);
    assert!(
        matches!(
            err,
            LoadError::Unordered {
                what: OrderedField::Session,
                line: 3,
                ..
            }
        ),
        "{msg}"
    );
}

fn alf_dir(choice: &[f64], left: &[f64], right: &[f64], feedback: &[f64]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let alf = dir
        .path()
        .join("mouse")
        .join("2020-01-01")
        .join("001")
        .join("alf");
    std::fs::create_dir_all(&alf).unwrap();
    for (field, v) in [
        ("choice", choice),
        ("contrastLeft", left),
        ("contrastRight", right),
        ("feedbackType", feedback),
    ] {
        npyz::to_file_1d(alf.join(format!("_ibl_trials.{field}.npy")), v.to_vec()).unwrap();
    }
    dir
}

#[test]
fn alf_subject_with_only_no_go_trials() {
    let nan = f64::NAN;
    let dir = alf_dir(&[0.0, 0.0], &[nan, 1.0], &[1.0, nan], &[-1.0, -1.0]);
    let err = load(dir.path(), Format::Auto).unwrap_err();
    // The only session is skipped, so nothing is left: the error gives path and reason.
    assert!(matches!(err, LoadError::NoTrials { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("mouse/2020-01-01/001") && msg.contains("all 2 trials are no-go"),
        "{msg}"
    );
}

#[test]
fn alf_choice_outside_coding() {
    let nan = f64::NAN;
    let dir = alf_dir(&[-1.0, 5.0], &[nan, 1.0], &[1.0, nan], &[1.0, 1.0]);
    let err = load(dir.path(), Format::Auto).unwrap_err();
    assert!(
        matches!(err, LoadError::BadNpyValue { index: 1, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("_ibl_trials.choice.npy") && msg.contains("element 1") && msg.contains("`5`"),
        "{msg}"
    );
}

#[test]
fn alf_arrays_of_different_lengths() {
    let nan = f64::NAN;
    let dir = alf_dir(&[-1.0, 1.0], &[nan], &[1.0, nan], &[1.0, 1.0]);
    let err = load(dir.path(), Format::Auto).unwrap_err();
    assert!(matches!(err, LoadError::NoTrials { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("different lengths")
            && msg.contains("1 trials in ")
            && msg.contains("_ibl_trials.contrastLeft.npy")
            && msg.contains("2 trials in "),
        "{msg}"
    );
}

#[test]
fn alf_corrupt_npy() {
    let nan = f64::NAN;
    let dir = alf_dir(&[-1.0], &[nan], &[1.0], &[1.0]);
    let f = dir
        .path()
        .join("mouse/2020-01-01/001/alf/_ibl_trials.feedbackType.npy");
    std::fs::write(&f, b"not an npy file").unwrap();
    let err = load(dir.path(), Format::Auto).unwrap_err();
    assert!(matches!(err, LoadError::Npy { .. }), "{err}");
    assert!(err.to_string().contains("feedbackType.npy"), "{err}");
}

#[test]
fn alf_both_contrasts_missing() {
    let nan = f64::NAN;
    let dir = alf_dir(&[-1.0], &[nan], &[nan], &[1.0]);
    let err = load(dir.path(), Format::Auto).unwrap_err();
    assert!(
        matches!(err, LoadError::BadNpyValue { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn alf_folder_without_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), Format::Auto).unwrap_err();
    assert!(matches!(err, LoadError::NoTrials { .. }), "{err}");
}

#[test]
fn csv_format_on_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), Format::TrialsCsv).unwrap_err();
    assert!(matches!(err, LoadError::Unsupported { .. }), "{err}");
}

#[test]
fn unknown_regressor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.csv");
    std::fs::write(&path, format!("{HEADER}m,1,1,0.5,1,1\n")).unwrap();
    let d = load(&path, Format::Auto).unwrap();
    let err = d
        .design(&DesignOptions::from_names(&["s1", "bias"]).unwrap())
        .unwrap_err();
    assert!(matches!(err, LoadError::UnknownRegressor { .. }), "{err}");
    assert!(
        err.to_string().contains("`s1`") && err.to_string().contains("stim"),
        "{err}"
    );
    assert!(DesignOptions::from_names(&["bias", "bias"]).is_err());
}

#[test]
fn impossible_split() {
    assert!(matches!(
        kfold_by_subject(3, 5, 0),
        Err(LoadError::Split(_))
    ));
    assert!(matches!(
        kfold_by_subject(3, 1, 0),
        Err(LoadError::Split(_))
    ));
}

#[test]
fn writing_ibl_needs_contrasts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.csv");
    std::fs::write(&path, format!("{HEADER}m,1,1,0.5,1,1\n")).unwrap();
    let d = load(&path, Format::Auto).unwrap();
    let err = denovo_data::save(&d, &dir.path().join("out.csv"), Format::IblCsv).unwrap_err();
    assert!(matches!(err, LoadError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("contrastLeft"), "{err}");
}

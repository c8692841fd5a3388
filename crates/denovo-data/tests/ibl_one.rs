//! IBL data as ONE caches it, one test per kind of situation of issue 14, each on a tree
//! written here: revisions, dataset UUIDs in file names, the parquet trials table and
//! task collections, sessions that give no trials (listed, never dropped silently),
//! session identity across formats, and where the user points.

use denovo_data::{Dataset, Format, LoadError, LoadOptions, load, load_with};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const NAN: f64 = f64::NAN;

/// `n` trials alternating a correct right choice on a right stimulus and a correct left
/// choice on a left one; `no_go` trials of them (from the start) are no-go.
struct Raw {
    choice: Vec<f64>,
    left: Vec<f64>,
    right: Vec<f64>,
    feedback: Vec<f64>,
}

fn raw(n: usize, no_go: usize) -> Raw {
    let mut r = Raw {
        choice: vec![],
        left: vec![],
        right: vec![],
        feedback: vec![],
    };
    for i in 0..n {
        let right_side = i % 2 == 0;
        r.choice.push(if i < no_go {
            0.0
        } else if right_side {
            -1.0
        } else {
            1.0
        });
        r.left.push(if right_side { NAN } else { 0.5 });
        r.right.push(if right_side { 0.25 } else { NAN });
        r.feedback.push(if i < no_go { -1.0 } else { 1.0 });
    }
    r
}

/// Writes the four trials datasets of `raw` as .npy into `dir`, each named
/// `_ibl_trials.<field>[.<extra>].npy`.
fn write_npy(dir: &Path, raw: &Raw, extra: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    for (field, v) in [
        ("choice", &raw.choice),
        ("contrastLeft", &raw.left),
        ("contrastRight", &raw.right),
        ("feedbackType", &raw.feedback),
    ] {
        let name = match extra {
            Some(x) => format!("_ibl_trials.{field}.{x}.npy"),
            None => format!("_ibl_trials.{field}.npy"),
        };
        npyz::to_file_1d(dir.join(name), v.clone()).unwrap();
    }
}

/// Writes `raw` as the trials table `dir/<name>` through the parquet crate, the way
/// pandas does: `choice` and `feedbackType` as int64, contrasts as nullable doubles with
/// the side without a stimulus null (first half) or NaN (second half), an index column,
/// with the given compression.
fn write_table(dir: &Path, name: &str, raw: &Raw, compression: parquet::basic::Compression) {
    use parquet::data_type::{DoubleType, Int64Type};
    std::fs::create_dir_all(dir).unwrap();
    let schema = parquet::schema::parser::parse_message_type(
        "message schema { REQUIRED INT64 choice; OPTIONAL DOUBLE contrastLeft; \
         OPTIONAL DOUBLE contrastRight; REQUIRED INT64 feedbackType; \
         REQUIRED DOUBLE probabilityLeft; REQUIRED INT64 __index_level_0__; }",
    )
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(compression)
        .build();
    let file = std::fs::File::create(dir.join(name)).unwrap();
    let mut w =
        parquet::file::writer::SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props))
            .unwrap();
    let mut g = w.next_row_group().unwrap();
    let n = raw.choice.len();
    let ints = |v: &[f64]| v.iter().map(|&x| x as i64).collect::<Vec<i64>>();
    // Nullable columns: values of the present rows and definition levels.
    let nullable = |v: &[f64]| {
        let mut values = Vec::new();
        let mut levels = Vec::new();
        for (i, &x) in v.iter().enumerate() {
            if x.is_nan() && i < n / 2 {
                levels.push(0i16);
            } else {
                levels.push(1);
                values.push(x);
            }
        }
        (values, levels)
    };
    let mut k = 0;
    while let Some(mut col) = g.next_column().unwrap() {
        match k {
            0 => {
                col.typed::<Int64Type>()
                    .write_batch(&ints(&raw.choice), None, None)
                    .unwrap();
            }
            1 | 2 => {
                let (v, l) = nullable(if k == 1 { &raw.left } else { &raw.right });
                col.typed::<DoubleType>()
                    .write_batch(&v, Some(&l), None)
                    .unwrap();
            }
            3 => {
                col.typed::<Int64Type>()
                    .write_batch(&ints(&raw.feedback), None, None)
                    .unwrap();
            }
            4 => {
                col.typed::<DoubleType>()
                    .write_batch(&vec![0.5; n], None, None)
                    .unwrap();
            }
            _ => {
                col.typed::<Int64Type>()
                    .write_batch(&(0..n as i64).collect::<Vec<_>>(), None, None)
                    .unwrap();
            }
        }
        col.close().unwrap();
        k += 1;
    }
    g.close().unwrap();
    w.close().unwrap();
}

/// `<root>/lab/Subjects/<subject>/<date>/<number>`.
fn session(root: &Path, subject: &str, date: &str, number: &str) -> PathBuf {
    root.join("lab/Subjects")
        .join(subject)
        .join(date)
        .join(number)
}

fn counts(d: &Dataset) -> (usize, usize) {
    (d.n_sessions(), d.n_trials())
}

fn keys(d: &Dataset) -> Vec<String> {
    d.subjects
        .iter()
        .flat_map(|s| {
            s.sessions
                .iter()
                .map(move |x| format!("{}:{}", s.name, x.key()))
        })
        .collect()
}

fn reasons(d: &Dataset) -> Vec<String> {
    d.skipped.iter().map(ToString::to_string).collect()
}

/// Item 1: days 1–3, day 2 re-extracted in a revision, day 3 only in a revision.
#[test]
fn the_latest_revision_of_every_dataset_wins() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let s = |date| session(root, "m1", date, "001").join("alf");
    write_npy(&s("2024-05-01"), &raw(4, 0), None);
    write_npy(&s("2024-05-02"), &raw(4, 0), None);
    write_npy(&s("2024-05-02").join("#2024-05-06#"), &raw(5, 0), None);
    write_npy(&s("2024-05-03").join("#2024-05-06#"), &raw(5, 0), None);
    // The tree: 3 sessions and 4 + 5 + 5 trials (not 2 and 8).
    let d = load(root, Format::Auto).unwrap();
    assert_eq!(counts(&d), (3, 14));
    // A revision of day 1 older than day 2's is still newer than unrevised: it wins.
    write_npy(&s("2024-05-01").join("#2023-01-01#"), &raw(6, 0), None);
    let d = load(root, Format::Auto).unwrap();
    assert_eq!(counts(&d), (3, 6 + 5 + 5));
    let revisions: Vec<Option<String>> = d.subjects[0]
        .sessions
        .iter()
        .map(|x| x.source.as_ref().unwrap().revision.clone())
        .collect();
    assert_eq!(
        revisions,
        [Some("2023-01-01"), Some("2024-05-06"), Some("2024-05-06")].map(|r| r.map(String::from))
    );
    assert!(d.skipped.is_empty(), "{:?}", reasons(&d));

    // Pinned before the re-extraction: day 1 at 2023-01-01, day 2 unrevised, day 3 has
    // nothing that old and is listed.
    let pinned = |r: &str| {
        let mut o = LoadOptions::new(Format::Auto);
        o.revision = Some(r.into());
        load_with(root, &o).unwrap()
    };
    let d = pinned("2024-01-01");
    assert_eq!(counts(&d), (2, 6 + 4));
    assert_eq!(d.skipped.len(), 1, "{:?}", reasons(&d));
    // Day 3's datasets exist, but only in a later revision: the reason says so.
    assert!(
        d.skipped[0].reason.contains("dataset `choice`")
            && d.skipped[0]
                .reason
                .contains("only in revisions after the pinned 2024-01-01: #2024-05-06#"),
        "{}",
        d.skipped[0]
    );
    assert_eq!(d.skipped[0].session.as_deref(), Some("2024-05-03/001"));
    // Pinned before every revision: only the unrevised days.
    assert_eq!(counts(&pinned("2000")), (2, 4 + 4));
    assert_eq!(counts(&pinned("2024-05-06")), (3, 16));
    // The revision as its folder is named, `#…#`, is the same pin.
    assert_eq!(counts(&pinned("#2024-05-06#")), (3, 16));
    assert_eq!(counts(&pinned("#2024-01-01#")), (2, 6 + 4));

    // Per dataset: a revision that re-extracted only `feedbackType` (all errors) mixes
    // with the unrevised rest.
    let day = s("2024-05-01");
    std::fs::remove_dir_all(day.join("#2023-01-01#")).unwrap();
    std::fs::create_dir_all(day.join("#2025-01-01#")).unwrap();
    npyz::to_file_1d(
        day.join("#2025-01-01#/_ibl_trials.feedbackType.npy"),
        vec![-1.0f64; 4],
    )
    .unwrap();
    let d = load(root, Format::Auto).unwrap();
    let first = &d.subjects[0].sessions[0];
    assert_eq!(first.trials.len(), 4);
    assert!(first.trials.iter().all(|t| t.reward == 0.0));
    assert_eq!(
        first.source.as_ref().unwrap().revision.as_deref(),
        Some("2025-01-01")
    );
}

/// Item 2: dataset UUIDs (ALF's extra part) in file names are ignored.
#[test]
fn dataset_uuids_in_file_names_are_read() {
    let uuid = "8f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_npy(
        &session(root, "m1", "2024-01-01", "001").join("alf"),
        &raw(3, 0),
        None,
    );
    write_npy(
        &session(root, "m1", "2024-01-02", "001").join("alf"),
        &raw(5, 0),
        Some(uuid),
    );
    let d = load(root, Format::Auto).unwrap();
    assert_eq!(counts(&d), (2, 8));

    // A tree of only UUID-named sessions, one with two extra parts.
    let dir = tempfile::tempdir().unwrap();
    let only = dir.path();
    write_npy(
        &session(only, "m1", "2024-01-01", "001").join("alf"),
        &raw(3, 0),
        Some(uuid),
    );
    write_npy(
        &session(only, "m1", "2024-01-02", "002").join("alf"),
        &raw(2, 0),
        Some(&format!("{uuid}.x")),
    );
    let d = load(only, Format::Auto).unwrap();
    assert_eq!(counts(&d), (2, 5));
    assert_eq!(keys(&d), ["m1:2024-01-01/001", "m1:2024-01-02/002"]);

    // The same dataset twice (with and without a UUID) is ambiguous: listed, not guessed.
    write_npy(
        &session(only, "m1", "2024-01-01", "001").join("alf"),
        &raw(3, 0),
        None,
    );
    let d = load(only, Format::Auto).unwrap();
    assert_eq!(counts(&d), (1, 2));
    assert!(
        d.skipped[0].reason.contains("two files for one dataset"),
        "{}",
        d.skipped[0]
    );
}

/// Item 3: the parquet trials table, also under a task collection, chosen by
/// `--collection` when a session has several.
#[test]
fn the_trials_table_and_task_collections_are_read() {
    use parquet::basic::{Compression, ZstdLevel};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let day1 = session(root, "m1", "2024-02-01", "001").join("alf");
    write_table(
        &day1,
        "_ibl_trials.table.pqt",
        &raw(6, 1),
        Compression::SNAPPY,
    );
    let day2 = session(root, "m1", "2024-02-02", "001").join("alf/task_00");
    write_table(
        &day2,
        "_ibl_trials.table.0a1b2c3d-0000-4000-8000-000000000000.pqt",
        &raw(4, 0),
        Compression::ZSTD(ZstdLevel::default()),
    );
    let d = load(root, Format::Auto).unwrap();
    assert_eq!(counts(&d), (2, 5 + 4), "{:?}", reasons(&d));
    assert_eq!(d.n_dropped(), 1);
    let s = &d.subjects[0].sessions;
    let src = |k: usize| s[k].source.clone().unwrap();
    assert_eq!(
        (src(0).collection, src(0).layout),
        ("alf".into(), "table".into())
    );
    assert_eq!(src(1).collection, "alf/task_00");
    // The table's trials equal the same trials written as .npy.
    let dir2 = tempfile::tempdir().unwrap();
    write_npy(
        &session(dir2.path(), "m1", "2024-02-01", "001").join("alf"),
        &raw(6, 1),
        None,
    );
    let npy = load(dir2.path(), Format::Auto).unwrap();
    assert_eq!(npy.subjects[0].sessions[0].trials, s[0].trials);

    // A session with two tasks is skipped until --collection chooses.
    let day3 = session(root, "m1", "2024-02-03", "001").join("alf");
    write_table(
        &day3.join("task_00"),
        "_ibl_trials.table.pqt",
        &raw(3, 0),
        Compression::SNAPPY,
    );
    write_npy(&day3.join("task_01"), &raw(7, 0), None);
    let d = load(root, Format::Auto).unwrap();
    assert_eq!(counts(&d), (2, 9));
    assert!(
        d.skipped[0]
            .reason
            .contains("several collections (alf/task_00, alf/task_01)"),
        "{}",
        d.skipped[0]
    );
    let with = |c: &str| {
        let mut o = LoadOptions::new(Format::IblAlf);
        o.collection = Some(c.into());
        load_with(root, &o).unwrap()
    };
    let d = with("task_01");
    assert_eq!(counts(&d), (1, 7));
    // Sessions without that collection are listed, naming what they have.
    assert!(
        reasons(&d)
            .iter()
            .any(|r| r.contains("no trials datasets in collection `task_01` (found in: alf)"))
    );
    assert_eq!(counts(&with("alf/task_00")), (2, 4 + 3));
    assert_eq!(counts(&with("alf")), (1, 5));
}

/// Item 4: every session folder that gives no trials is listed with path and reason; a
/// subject with no trials is left out without refusing the cohort.
#[test]
fn sessions_without_trials_are_listed_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_npy(
        &session(root, "good", "2024-03-01", "001").join("alf"),
        &raw(4, 1),
        None,
    );
    // No trials datasets: only raw data.
    let raw_only = session(root, "good", "2024-03-02", "001");
    std::fs::create_dir_all(raw_only.join("raw_behavior_data")).unwrap();
    std::fs::write(
        raw_only.join("raw_behavior_data/_iblrig_taskData.raw.jsonable"),
        "{}",
    )
    .unwrap();
    // Zero trials.
    write_npy(
        &session(root, "good", "2024-03-03", "001").join("alf"),
        &raw(0, 0),
        None,
    );
    // Only no-go trials.
    write_npy(
        &session(root, "good", "2024-03-04", "001").join("alf"),
        &raw(3, 3),
        None,
    );
    // A dataset of the wrong length.
    let short = session(root, "good", "2024-03-05", "001").join("alf");
    write_npy(&short, &raw(4, 0), None);
    npyz::to_file_1d(short.join("_ibl_trials.contrastLeft.npy"), vec![0.5f64; 3]).unwrap();
    // A missing dataset.
    let missing = session(root, "good", "2024-03-06", "001").join("alf");
    write_npy(&missing, &raw(4, 0), None);
    std::fs::remove_file(missing.join("_ibl_trials.feedbackType.npy")).unwrap();
    // An unknown layout: the day is not a date.
    write_npy(
        &root.join("lab/Subjects/good/day7/001/alf"),
        &raw(4, 0),
        None,
    );
    // Trials only in an unknown collection.
    write_npy(
        &session(root, "good", "2024-03-08", "001").join("alf/probe00"),
        &raw(4, 0),
        None,
    );
    // A subject whose only session has no trials.
    write_npy(
        &session(root, "empty", "2024-03-01", "001").join("alf"),
        &raw(2, 2),
        None,
    );

    let d = load(root, Format::Auto).unwrap();
    assert_eq!(d.subjects.len(), 1);
    assert_eq!(counts(&d), (1, 3));
    assert_eq!(d.n_dropped(), 1);
    let listed = reasons(&d);
    let expect = [
        ("good/2024-03-02/001", "no trials datasets"),
        ("good/2024-03-03/001", ": 0 trials"),
        ("good/2024-03-04/001", "all 3 trials are no-go (choice 0)"),
        ("good/2024-03-05/001", "datasets of different lengths"),
        ("good/2024-03-06/001", "missing dataset `feedbackType`"),
        ("good/day7/001/alf", "unknown layout"),
        ("good/2024-03-08/001", "only in alf/probe00"),
        ("empty/2024-03-01/001", "all 2 trials are no-go"),
        ("empty", "subject `empty` left out"),
    ];
    assert_eq!(listed.len(), expect.len(), "{listed:#?}");
    for (path, reason) in expect {
        assert!(
            listed
                .iter()
                .any(|l| l.contains(path) && l.contains(reason)),
            "{path}: {reason} not in {listed:#?}"
        );
    }
    assert!(
        !listed.iter().any(|l| l.contains("all 0 trials")),
        "{listed:#?}"
    );
    // The summary (inspect --json) carries the same list.
    assert_eq!(d.summary().skipped.len(), expect.len());

    // A tree where nothing gives trials fails, giving every reason.
    let dir = tempfile::tempdir().unwrap();
    write_npy(
        &session(dir.path(), "m", "2024-03-01", "001").join("alf"),
        &raw(0, 0),
        None,
    );
    let err = load(dir.path(), Format::Auto).unwrap_err();
    assert!(matches!(err, LoadError::NoTrials { .. }));
    assert!(
        err.to_string().contains("m/2024-03-01/001: 0 trials"),
        "{err}"
    );
}

/// Item 5: sessions are keyed `<date>/<number>` the same way from ALF, the IBL CSV and a
/// trials CSV with dates; two days both numbered 001 stay apart.
#[test]
fn sessions_are_keyed_the_same_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("alf");
    write_npy(
        &session(&root, "m1", "2019-08-05", "001").join("alf"),
        &raw(3, 0),
        None,
    );
    write_npy(
        &session(&root, "m1", "2019-08-06", "001").join("alf"),
        &raw(2, 0),
        None,
    );
    write_npy(
        &session(&root, "m1", "2019-08-06", "002").join("alf"),
        &raw(2, 0),
        None,
    );
    let alf = load(&root, Format::Auto).unwrap();
    let want = [
        "m1:2019-08-05/001",
        "m1:2019-08-06/001",
        "m1:2019-08-06/002",
    ];
    assert_eq!(keys(&alf), want);
    // The ALF tree's lab comes from `<lab>/Subjects/`.
    assert_eq!(alf.subjects[0].lab.as_deref(), Some("lab"));
    for (format, name) in [
        (Format::IblCsv, "ibl.csv"),
        (Format::TrialsCsv, "trials.csv"),
    ] {
        let path = dir.path().join(name);
        denovo_data::save(&alf, &path, format).unwrap();
        let back = load(&path, Format::Auto).unwrap();
        assert_eq!(keys(&back), want, "{format:?}");
        assert_eq!(
            back.subjects[0].sessions,
            alf.subjects[0]
                .sessions
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    s.source = None;
                    s
                })
                .collect::<Vec<_>>()
        );
    }
    // `session` written `1` or `001` in the IBL CSV is the same session.
    let csv = dir.path().join("mixed.csv");
    std::fs::write(
        &csv,
        "contrastLeft,contrastRight,choice,feedbackType,probabilityLeft,lab,subject,date,session,answer\n\
         ,0.5,1,1,0.5,l,m1,2019-08-05,001,1\n,0.5,1,1,0.5,l,m1,2019-08-05,1,1\n\
         ,0.5,1,1,0.5,l,m1,2019-08-06,1,1\n",
    )
    .unwrap();
    let d = load(&csv, Format::Auto).unwrap();
    assert_eq!(keys(&d), ["m1:2019-08-05/001", "m1:2019-08-06/001"]);
    assert_eq!(d.subjects[0].sessions[0].trials.len(), 2);
    // So is a trials CSV with dates whose sessions are written `1`.
    let dated = dir.path().join("dated.csv");
    std::fs::write(
        &dated,
        "subject,date,session,choice,answer
m1,2019-08-05,1,1,1
m1,2019-08-05,001,0,1
         m1,2019-08-06,1,1,1
",
    )
    .unwrap();
    let d = load(&dated, Format::Auto).unwrap();
    assert_eq!(keys(&d), ["m1:2019-08-05/001", "m1:2019-08-06/001"]);
    assert_eq!(d.subjects[0].sessions[0].trials.len(), 2);
    // A session number that is not a whole number names line and column.
    std::fs::write(
        &csv,
        "contrastLeft,contrastRight,choice,feedbackType,probabilityLeft,lab,subject,date,session,answer\n\
         ,0.5,1,1,0.5,l,m1,2019-08-05,1.5,1\n",
    )
    .unwrap();
    let err = load(&csv, Format::Auto).unwrap_err().to_string();
    assert!(
        err.contains("mixed.csv:2:9") && err.contains("`1.5`"),
        "{err}"
    );
}

/// Item 6: the lab root, `Subjects/`, a subject, a date, a session and its `alf/` (and a
/// collection or revision folder inside it) all read.
#[test]
fn every_folder_the_user_may_point_at_reads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let s1 = session(root, "m1", "2024-04-01", "001");
    write_npy(&s1.join("alf"), &raw(3, 0), None);
    write_npy(
        &session(root, "m1", "2024-04-01", "002").join("alf"),
        &raw(2, 0),
        None,
    );
    write_npy(
        &session(root, "m1", "2024-04-02", "001").join("alf/#2024-05-01#"),
        &raw(4, 0),
        None,
    );
    write_npy(
        &session(root, "m2", "2024-04-01", "001").join("alf/task_00"),
        &raw(5, 0),
        None,
    );
    let cases: [(PathBuf, (usize, usize), usize); 7] = [
        (root.to_path_buf(), (4, 14), 2),
        (root.join("lab"), (4, 14), 2),
        (root.join("lab/Subjects"), (4, 14), 2),
        (root.join("lab/Subjects/m1"), (3, 9), 1),
        (root.join("lab/Subjects/m1/2024-04-01"), (2, 5), 1),
        (s1.clone(), (1, 3), 1),
        (s1.join("alf"), (1, 3), 1),
    ];
    for (path, want, subjects) in cases {
        let d = load(&path, Format::Auto).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(counts(&d), want, "{}", path.display());
        assert_eq!(d.subjects.len(), subjects, "{}", path.display());
        assert_eq!(d.subjects[0].name, "m1");
        assert!(
            d.skipped.is_empty(),
            "{}: {:?}",
            path.display(),
            reasons(&d)
        );
    }
    // Inside a session: a collection folder and a revision folder.
    let task = session(root, "m2", "2024-04-01", "001").join("alf/task_00");
    let d = load(&task, Format::Auto).unwrap();
    assert_eq!((counts(&d), d.subjects[0].name.as_str()), ((1, 5), "m2"));
    let rev = session(root, "m1", "2024-04-02", "001").join("alf/#2024-05-01#");
    assert_eq!(counts(&load(&rev, Format::Auto).unwrap()), (1, 4));
    // `--revision` and `--collection` are for ALF trees only.
    let csv = root.join("t.csv");
    std::fs::write(&csv, "subject,session,choice,answer\nm,1,0,0\n").unwrap();
    let mut o = LoadOptions::new(Format::Auto);
    o.revision = Some("2024".into());
    let err = load_with(&csv, &o).unwrap_err().to_string();
    assert!(err.contains("t.csv") && err.contains("--revision"), "{err}");
    // One dataset file is not the session: the error says what to pass.
    let file = s1.join("alf/_ibl_trials.choice.npy");
    let err = load(&file, Format::Auto).unwrap_err().to_string();
    assert!(
        err.contains("_ibl_trials.choice.npy") && err.contains("pass the session folder"),
        "{err}"
    );
}

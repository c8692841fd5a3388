//! IBL data as ONE caches it, end to end through the binary (issue 14): one tree mixing
//! revisions, dataset UUIDs, trials tables, task collections and session folders that
//! give no trials; `inspect` (text and JSON) and `fit` on it; and the same cohort as an
//! ALF tree and as an `ibl_processed.csv` giving identical `weights.csv`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn denovo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(args)
        .output()
        .expect("the denovo binary runs")
}

fn ok(args: &[&str]) -> Output {
    let o = denovo(args);
    assert!(
        o.status.success(),
        "denovo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One trial in the raw ALF coding: (choice −1 right / +1 left / 0 no-go, stimulus on the
/// right?, contrast, feedbackType ±1).
type Raw = (f64, bool, f64, f64);

/// `n` trials of a learner that gets better: trial i on side i % 2 (right when even),
/// contrast from the IBL set, correct unless i % 3 == 0 early on; trial `no_go` (if any)
/// is a no-go.
fn trials(n: usize, seed: usize, no_go: Option<usize>) -> Vec<Raw> {
    let contrasts = [1.0, 0.5, 0.25, 0.125, 0.0625, 0.0];
    (0..n)
        .map(|i| {
            let right = (i + seed).is_multiple_of(2);
            let correct = !(i % 3 == 0 && i < n / 2) || (i + seed).is_multiple_of(5);
            let choice = if Some(i) == no_go {
                0.0
            } else if right == correct {
                -1.0
            } else {
                1.0
            };
            let fb = if choice != 0.0 && correct { 1.0 } else { -1.0 };
            (choice, right, contrasts[(i + seed) % 6], fb)
        })
        .collect()
}

/// Writes `raw` as .npy datasets into `dir` (file names with `.{extra}` when given).
fn write_npy(dir: &Path, raw: &[Raw], extra: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    let nan = f64::NAN;
    let cols: [(&str, Vec<f64>); 5] = [
        ("choice", raw.iter().map(|t| t.0).collect()),
        (
            "contrastLeft",
            raw.iter().map(|t| if t.1 { nan } else { t.2 }).collect(),
        ),
        (
            "contrastRight",
            raw.iter().map(|t| if t.1 { t.2 } else { nan }).collect(),
        ),
        ("feedbackType", raw.iter().map(|t| t.3).collect()),
        ("probabilityLeft", vec![0.5; raw.len()]),
    ];
    for (field, v) in cols {
        let name = match extra {
            Some(x) => format!("_ibl_trials.{field}.{x}.npy"),
            None => format!("_ibl_trials.{field}.npy"),
        };
        npyz::to_file_1d(dir.join(name), v).unwrap();
    }
}

/// Writes `raw` as the parquet trials table `dir/_ibl_trials.table.pqt`.
fn write_table(dir: &Path, raw: &[Raw]) {
    std::fs::create_dir_all(dir).unwrap();
    let nan = f64::NAN;
    denovo_data::write_trials_table(
        &dir.join("_ibl_trials.table.pqt"),
        &[
            ("choice", raw.iter().map(|t| t.0).collect()),
            (
                "contrastLeft",
                raw.iter().map(|t| if t.1 { nan } else { t.2 }).collect(),
            ),
            (
                "contrastRight",
                raw.iter().map(|t| if t.1 { t.2 } else { nan }).collect(),
            ),
            ("feedbackType", raw.iter().map(|t| t.3).collect()),
            ("probabilityLeft", vec![0.5; raw.len()]),
        ],
    )
    .unwrap();
}

fn session(root: &Path, subject: &str, date: &str, number: &str) -> PathBuf {
    root.join("lab/Subjects")
        .join(subject)
        .join(date)
        .join(number)
}

/// The tree of the six situations; returns the lab root.
fn mixed_tree(root: &Path) -> PathBuf {
    // m1: plain; day 2 re-extracted in a revision; day 3 only in a revision, and a second
    // session that day named with dataset UUIDs.
    write_npy(
        &session(root, "m1", "2024-05-01", "001").join("alf"),
        &trials(30, 0, None),
        None,
    );
    let day2 = session(root, "m1", "2024-05-02", "001").join("alf");
    write_npy(&day2, &trials(20, 1, None), None);
    write_npy(&day2.join("#2024-06-01#"), &trials(25, 1, Some(3)), None);
    write_npy(
        &session(root, "m1", "2024-05-03", "001").join("alf/#2024-06-01#"),
        &trials(25, 2, None),
        None,
    );
    write_npy(
        &session(root, "m1", "2024-05-03", "002").join("alf"),
        &trials(20, 3, None),
        Some("6e1f2a3b-0000-4000-8000-00000000abcd"),
    );
    // m2: the trials table, then under a task collection.
    write_table(
        &session(root, "m2", "2024-05-01", "001").join("alf"),
        &trials(30, 4, None),
    );
    write_table(
        &session(root, "m2", "2024-05-02", "001").join("alf/task_00"),
        &trials(24, 5, None),
    );
    // Sessions that give no trials.
    let raw_only = session(root, "m2", "2024-05-03", "001").join("raw_behavior_data");
    std::fs::create_dir_all(&raw_only).unwrap();
    std::fs::write(raw_only.join("_iblrig_taskData.raw.jsonable"), "{}").unwrap();
    write_npy(
        &session(root, "m2", "2024-05-04", "001").join("alf"),
        &[],
        None,
    );
    let short = session(root, "m2", "2024-05-05", "001").join("alf");
    write_npy(&short, &trials(10, 0, None), None);
    npyz::to_file_1d(short.join("_ibl_trials.feedbackType.npy"), vec![1.0f64; 9]).unwrap();
    // m3: every session empty (only no-go trials).
    write_npy(
        &session(root, "m3", "2024-05-01", "001").join("alf"),
        &[(0.0, true, 1.0, -1.0), (0.0, false, 1.0, -1.0)],
        None,
    );
    root.join("lab")
}

#[test]
fn inspect_and_fit_a_tree_that_mixes_every_situation() {
    let dir = tempfile::tempdir().unwrap();
    let lab = mixed_tree(dir.path());
    let o = ok(&["inspect", s(&lab), "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["subjects"], 2);
    assert_eq!(doc["sessions"], 6);
    assert_eq!(doc["trials"], 30 + 24 + 25 + 20 + 30 + 24);
    assert_eq!(doc["dropped_trials"], 1);
    let m1 = &doc["per_subject"][0]["session_list"];
    let listed: Vec<(String, u64, Option<String>)> = m1
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["session"].as_str().unwrap().to_string(),
                x["trials"].as_u64().unwrap(),
                x["source"]["revision"].as_str().map(String::from),
            )
        })
        .collect();
    let rev = Some("2024-06-01".to_string());
    assert_eq!(
        listed,
        [
            ("2024-05-01/001".to_string(), 30, None),
            ("2024-05-02/001".to_string(), 24, rev.clone()),
            ("2024-05-03/001".to_string(), 25, rev),
            ("2024-05-03/002".to_string(), 20, None),
        ]
    );
    let m2 = &doc["per_subject"][1]["session_list"];
    assert_eq!(m2[0]["source"]["layout"], "table");
    assert_eq!(m2[1]["source"]["collection"], "alf/task_00");
    let skipped: Vec<(String, String)> = (doc["skipped"].as_array().unwrap().iter())
        .map(|k| {
            (
                k["path"].as_str().unwrap().into(),
                k["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = [
        ("m2/2024-05-03/001", "no trials datasets"),
        ("m2/2024-05-04/001", "0 trials"),
        ("m2/2024-05-05/001", "datasets of different lengths"),
        ("m3/2024-05-01/001", "all 2 trials are no-go"),
        ("m3", "subject `m3` left out"),
    ];
    assert_eq!(skipped.len(), expect.len(), "{skipped:#?}");
    for (path, reason) in expect {
        assert!(
            skipped
                .iter()
                .any(|(p, r)| p.ends_with(path) && r.contains(reason)),
            "{path}: {reason} not in {skipped:#?}"
        );
    }
    // Warnings on stderr, the same list in the text report, with the revisions.
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("warning: skipped ").count(), 5, "{err}");
    let text = String::from_utf8_lossy(&ok(&["inspect", s(&lab)]).stdout).to_string();
    assert!(text.contains("skipped 5 (no trials read)"), "{text}");
    assert!(text.contains("m2/2024-05-04/001: 0 trials"), "{text}");
    assert!(
        text.contains("m1 2024-05-02/001 (24 trials): #2024-06-01#"),
        "{text}"
    );
    assert!(
        text.contains("4 session(s) unrevised, 2 from a revision"),
        "{text}"
    );

    // Where the user points: the session's alf/ folder.
    let alf = session(dir.path(), "m1", "2024-05-03", "002").join("alf");
    let one: serde_json::Value =
        serde_json::from_slice(&ok(&["inspect", s(&alf), "--json"]).stdout).unwrap();
    assert_eq!(
        (one["sessions"].as_u64(), one["trials"].as_u64()),
        (Some(1), Some(20))
    );
    // A pinned revision, and a collection, from the command line.
    let pinned: serde_json::Value = serde_json::from_slice(
        &ok(&["inspect", s(&lab), "--revision", "2024-01-01", "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(pinned["sessions"], 5);
    assert_eq!(pinned["trials"], 30 + 20 + 20 + 30 + 24);
    // The pin as its folder is named; a pin that no session has is said on stderr.
    let hashed = ok(&["inspect", s(&lab), "--revision", "#2024-01-01#", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&hashed.stdout).unwrap(),
        pinned
    );
    let none = ok(&["inspect", s(&lab), "--revision", "2099-01-01"]);
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no session has revision 2099-01-01"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    let task: serde_json::Value = serde_json::from_slice(
        &ok(&["inspect", s(&lab), "--collection", "task_00", "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(
        (task["sessions"].as_u64(), task["trials"].as_u64()),
        (Some(1), Some(24))
    );

    // A fit keys every session uniquely in weights.csv and summary.json.
    let run = dir.path().join("run");
    let o = ok(&[
        "fit",
        s(&lab),
        "--model",
        "reinforce",
        "--epochs",
        "3",
        "--lbfgs",
        "0",
        "--holdout-sessions",
        "0.5",
        "--quiet",
        "--out",
        s(&run),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning: skipped "));
    let weights = std::fs::read_to_string(run.join("weights.csv")).unwrap();
    let mut lines = weights.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("subject,session,date,number,index,trial,split,w_"),
        "{weights}"
    );
    let mut sessions: Vec<(String, String, String, String, String)> = Vec::new();
    for line in lines {
        let c: Vec<&str> = line.split(',').collect();
        let row = (
            c[0].into(),
            c[1].into(),
            c[2].into(),
            c[3].into(),
            c[4].into(),
        );
        if sessions.last() != Some(&row) {
            sessions.push(row);
        }
    }
    let keys: HashSet<(String, String)> = sessions
        .iter()
        .map(|r| (r.0.clone(), r.1.clone()))
        .collect();
    assert_eq!(
        keys.len(),
        6,
        "every session once, uniquely keyed: {sessions:?}"
    );
    assert!(sessions.contains(&(
        "m1".into(),
        "2024-05-03/002".into(),
        "2024-05-03".into(),
        "002".into(),
        "4".into()
    )));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["schema"], "denovo.fit/2");
    assert_eq!(
        summary["heldout_sessions"]["per_animal"][0]["sessions"],
        serde_json::json!(["2024-05-03/001", "2024-05-03/002"])
    );
    // The report reads the run back (it checks weights.csv's sessions against the data).
    ok(&["report", s(&run), "--out", s(&dir.path().join("report"))]);
}

/// The same cohort written as an ALF tree and as an `ibl_processed.csv` (session written
/// `001`, no-go trials dropped) gives byte-identical weights.csv.
#[test]
fn the_same_cohort_as_alf_and_as_ibl_csv_gives_identical_weights() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("alf");
    let csv = dir.path().join("ibl_processed.csv");
    let mut rows = vec![
        ",contrastLeft,contrastRight,choice,feedbackType,probabilityLeft,lab,subject,date,session,answer"
            .to_string(),
    ];
    let days = [
        ("mA", "2019-08-05", "001", 40, Some(7)),
        ("mA", "2019-08-06", "001", 35, None),
        ("mA", "2019-08-06", "002", 12, None),
        ("mB", "2019-08-05", "001", 50, Some(0)),
        ("mB", "2019-08-07", "001", 45, None),
    ];
    for (k, (subject, date, number, n, no_go)) in days.into_iter().enumerate() {
        let raw = trials(n, k, no_go);
        write_npy(
            &session(&root, subject, date, number).join("alf"),
            &raw,
            None,
        );
        for t in raw.iter().filter(|t| t.0 != 0.0) {
            let (l, r) = if t.1 {
                (String::new(), t.2.to_string())
            } else {
                (t.2.to_string(), "nan".into())
            };
            let choice = u8::from(t.0 == -1.0);
            let fb = u8::from(t.3 == 1.0);
            let answer = u8::from(t.1);
            rows.push(format!(
                "{},{l},{r},{choice},{fb},0.5,lab,{subject},{date},{number},{answer}",
                rows.len() - 1
            ));
        }
    }
    std::fs::write(&csv, rows.join("\n") + "\n").unwrap();
    let fit = |data: &Path, out: &str| {
        let run = dir.path().join(out);
        ok(&[
            "fit",
            s(data),
            "--model",
            "reinforce",
            "--epochs",
            "20",
            "--holdout-sessions",
            "0.25",
            "--fit-w0",
            "--quiet",
            "--out",
            s(&run),
        ]);
        std::fs::read_to_string(run.join("weights.csv")).unwrap()
    };
    let (from_alf, from_csv) = (fit(&root, "run_alf"), fit(&csv, "run_csv"));
    assert!(
        from_alf.contains("mA,2019-08-06/002,2019-08-06,002,3,1,"),
        "{from_alf}"
    );
    assert_eq!(from_alf.lines().count(), 1 + 39 + 35 + 12 + 49 + 45);
    assert_eq!(from_alf, from_csv);
}

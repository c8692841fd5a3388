//! The `denovo` binary end to end: JSON output, simulate → inspect round trips, and
//! malformed inputs that must fail cleanly (non-zero exit, file:line:column, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn denovo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(args)
        .output()
        .expect("the denovo binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn inspect_json(path: &Path, format: &str) -> serde_json::Value {
    let o = denovo(&[
        "inspect",
        path.to_str().unwrap(),
        "--format",
        format,
        "--json",
    ]);
    assert!(o.status.success(), "inspect failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("inspect --json prints JSON")
}

fn rat() -> Option<PathBuf> {
    let p = std::env::var_os("DENOVO_DATA")
        .map(|d| PathBuf::from(d).join("rat_W053.csv"))
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/rat_W053.csv")
        });
    p.is_file().then_some(p)
}

#[test]
fn inspect_rat_json() {
    let Some(path) = rat() else {
        eprintln!("skipped: rat_W053.csv not present");
        return;
    };
    let v = inspect_json(&path, "auto");
    assert_eq!(v["schema"], "denovo.inspect/1");
    assert_eq!(v["format"], "trials-csv");
    assert_eq!(v["subjects"], 1);
    assert_eq!(v["sessions"], 80);
    assert_eq!(v["trials"], 20000);
    assert_eq!(v["dropped_trials"], 0);
    assert_eq!(format!("{:.4}", v["accuracy"].as_f64().unwrap()), "0.6445");
    assert_eq!(
        v["per_subject"][0]["session_accuracy"]
            .as_array()
            .unwrap()
            .len(),
        80
    );
}

#[test]
fn simulate_then_inspect_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut counts = Vec::new();
    for (format, name) in [
        ("trials-csv", "c.csv"),
        ("ibl-csv", "ibl.csv"),
        ("ibl-alf", "alf"),
    ] {
        let out = dir.path().join(name);
        let o = denovo(&[
            "simulate",
            "--rule",
            "reinforce-baseline",
            "--alpha",
            "0.05,0.02",
            "--beta",
            "0.2,0.1",
            "--animals",
            "4",
            "--trials",
            "300",
            "--session-length",
            "50-90",
            "--seed",
            "3",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "simulate failed: {}", stderr(&o));
        let v = inspect_json(&out, "auto");
        assert_eq!(v["format"], format);
        counts.push((
            v["subjects"].clone(),
            v["sessions"].clone(),
            v["trials"].clone(),
            v["accuracy"].clone(),
        ));
        let sidecar = if format == "ibl-alf" {
            out.join("truth.json")
        } else {
            out.with_extension("truth.json")
        };
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
        assert_eq!(truth["rule"]["kind"], "reinforce-baseline");
        assert_eq!(truth["rule"]["beta"], serde_json::json!([0.2, 0.1]));
        let traj = truth["trajectories"].as_array().unwrap();
        assert_eq!(traj.len(), 4);
        assert!(
            traj.iter()
                .all(|t| t["weights"].as_array().unwrap().len() == 300)
        );
    }
    assert_eq!(counts[0].2, 1200);
    assert!(counts.iter().all(|c| *c == counts[0]), "{counts:?}");
}

#[test]
fn inspect_plot_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/trials_basic.csv");
    for name in ["curve.png", "curve.svg"] {
        let plot = dir.path().join(name);
        let o = denovo(&[
            "inspect",
            fixture.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(std::fs::metadata(&plot).unwrap().len() > 1000);
    }
    let svg = std::fs::read_to_string(dir.path().join("curve.svg")).unwrap();
    assert!(svg.contains("fraction correct") && svg.contains("session"));
    let o = denovo(&[
        "inspect",
        fixture.to_str().unwrap(),
        "--plot",
        dir.path().join("x.gif").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(".png or .svg"));
}

/// Every malformed file exits non-zero, names file:line[:column] and never panics.
#[test]
fn malformed_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let h = "subject,session,trial,stim,choice,answer\n";
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "empty"),
        (
            "missing_column",
            "subject,session,choice\nm,1,1\n".into(),
            ":1: missing required column `answer`",
        ),
        (
            "non_numeric",
            format!("{h}m,1,1,0.5,1,1\nm,1,2,abc,1,1\n"),
            ":3:4: column `stim`: `abc` is not a number",
        ),
        (
            "bad_choice",
            format!("{h}m,1,1,0.5,7,1\n"),
            ":2:5: column `choice`: `7` is outside its coding",
        ),
        (
            "empty_subject",
            format!("{h},1,1,0.5,1,1\n"),
            ":2:1: column `subject` is empty",
        ),
        (
            "duplicated_session",
            format!("{h}m,1,1,0,1,1\nm,2,1,0,1,1\nm,1,2,0,1,1\n"),
            ":4:2: subject `m`: session `1` appears again",
        ),
        (
            "unordered_session",
            format!("{h}m,2,1,0,1,1\nm,1,1,0,1,1\n"),
            ":3:2: subject `m`: session `1` comes after `2`",
        ),
        ("ragged", format!("{h}m,1,1,0,1\n"), ":2: malformed CSV"),
        ("header_only", h.to_string(), "no trials found"),
    ];
    for (name, content, expected) in cases {
        let path = dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, content).unwrap();
        let o = denovo(&["inspect", path.to_str().unwrap()]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{name}: should fail");
        assert!(err.contains(&format!("{name}.csv")), "{name}: {err}");
        assert!(
            err.contains(expected),
            "{name}: expected `{expected}` in: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let o = denovo(&["inspect", "/no/such/file.csv"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/no/such/file.csv"));
}

#[test]
fn bad_simulation_settings_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.csv");
    for args in [
        vec!["simulate", "--rule", "reinforce", "--alpha", "0.1", "--out"],
        vec!["simulate", "--rule", "nosuchrule", "--out"],
        vec![
            "simulate",
            "--rule",
            "reinforce",
            "--session-length",
            "9-3",
            "--out",
        ],
        vec!["simulate", "--rule", "reinforce", "--animals", "0", "--out"],
    ] {
        let mut a = args.clone();
        a.push(out.to_str().unwrap());
        let o = denovo(&a);
        assert!(!o.status.success(), "{args:?}");
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(!stderr(&o).is_empty());
    }
}

#[test]
fn help_teaches_with_examples() {
    let o = denovo(&["--help"]);
    assert!(stdout(&o).contains("Examples:"));
    for sub in ["inspect", "simulate"] {
        let o = denovo(&[sub, "--help"]);
        assert!(o.status.success());
        assert!(stdout(&o).contains("Examples:"), "{sub}");
    }
}

#[test]
fn demo_runs_on_a_small_cohort() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let mut args = vec![
        "demo",
        "--out",
        out.to_str().unwrap(),
        "--animals",
        "3",
        "--trials",
        "200",
    ];
    let rat = rat();
    if let Some(r) = &rat {
        args.extend(["--rat", r.to_str().unwrap()]);
    }
    let o = denovo(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("sim_reinforce.csv").is_file());
    assert!(out.join("sim_reinforce.truth.json").is_file());
    assert!(out.join("sim_learning_curve.png").is_file());
    if rat.is_some() {
        assert!(stdout(&o).contains("20,000 trials"));
        assert!(out.join("rat_learning_curve.png").is_file());
    }
}

//! The CLI's outputs are pinned: a small fit (a parametric rule with folds and held-out
//! sessions, and a small DNN), the rules read out on the grid, and a twin, each compared
//! with values recorded by the binary before the pipeline moved into library crates
//! (`tests/golden/`). Run with `DENOVO_RECORD_GOLDEN=1` to record them anew — only when an
//! output changes on purpose, and say so in the commit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn golden_dir() -> PathBuf {
    manifest_dir().join("tests/golden")
}

fn recording() -> bool {
    std::env::var_os("DENOVO_RECORD_GOLDEN").is_some()
}

fn denovo(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(args)
        .output()
        .expect("the denovo binary runs");
    assert!(
        o.status.success(),
        "denovo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Whether two numbers agree to 1e-6, relative to their size (or absolutely near 0).
fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

/// Compares two JSON values: numbers to 1e-6, everything else exactly; `skip` names keys
/// (anywhere) that differ between runs by nature (wall time, paths of temporary folders).
fn compare_json(path: &str, got: &serde_json::Value, want: &serde_json::Value, skip: &[&str]) {
    use serde_json::Value;
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(close(a, b), "{path}: {a} != recorded {b}");
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys = |m: &serde_json::Map<String, Value>| {
                m.keys()
                    .filter(|k| !skip.contains(&k.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(a), keys(b), "{path}: keys");
            for k in keys(a) {
                compare_json(&format!("{path}.{k}"), &a[&k], &b[&k], skip);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare_json(&format!("{path}[{i}]"), x, y, skip);
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

/// Compares two CSV texts cell by cell: numbers to 1e-6, other cells exactly.
fn compare_csv(name: &str, got: &str, want: &str) {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    assert_eq!(g.len(), w.len(), "{name}: rows");
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let (a, b): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
        assert_eq!(a.len(), b.len(), "{name} line {}", i + 1);
        for (x, y) in a.iter().zip(&b) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => assert!(close(x, y), "{name} line {}: {x} != {y}", i + 1),
                _ => assert_eq!(x, y, "{name} line {}", i + 1),
            }
        }
    }
}

/// Records `text` as `name`, or compares it with the recorded file.
fn check(name: &str, text: &str) {
    let path = golden_dir().join(name);
    if recording() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (record with DENOVO_RECORD_GOLDEN=1)",
            path.display()
        )
    });
    if name.ends_with(".json") {
        let got: serde_json::Value = serde_json::from_str(text).unwrap();
        let want: serde_json::Value = serde_json::from_str(&want).unwrap();
        compare_json(name, &got, &want, &["seconds", "data", "run", "version"]);
    } else {
        compare_csv(name, text, &want);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn fit_rule_and_twin_outputs_match_the_recorded_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let cohort = d.join("cohort.csv");
    denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--animals",
        "4",
        "--trials",
        "300",
        "--session-length",
        "60-90",
        "--seed",
        "11",
        "--out",
        &s(&cohort),
    ]);
    let protocol = manifest_dir().join("../../datasets/protocols/ibl_training.toml");
    for (model, extra) in [
        (
            "reinforce-baseline",
            vec!["--folds", "2", "--fit-w0", "--epochs", "150"],
        ),
        ("dnn", vec!["--hidden", "8", "--epochs", "25"]),
        (
            "rnn",
            vec!["--hidden", "6", "--gru-hidden", "5", "--epochs", "10"],
        ),
    ] {
        let run = d.join(model);
        let mut args = vec![
            "fit".to_string(),
            s(&cohort),
            "--model".into(),
            model.into(),
            "--holdout-sessions".into(),
            "0.25".into(),
            "--seed".into(),
            "2".into(),
            "--quiet".into(),
            "--out".into(),
            s(&run),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        denovo(&args.iter().map(String::as_str).collect::<Vec<_>>());
        check(
            &format!("{model}_summary.json"),
            &read(&run.join("summary.json")),
        );
        check(
            &format!("{model}_weights.csv"),
            &read(&run.join("weights.csv")),
        );
        let grid = d.join(format!("{model}_grid.csv"));
        denovo(&["rule", &s(&run), "--history", "2", "--out", &s(&grid)]);
        check(&format!("{model}_grid.csv"), &read(&grid));
        let twin = denovo(&[
            "twin",
            &s(&run),
            "--protocol",
            &s(&protocol),
            "--animals",
            "12",
            "--seed",
            "5",
            "--json",
        ]);
        check(&format!("{model}_twin.json"), &twin);
        let eval = denovo(&["evaluate", &s(&run), &s(&cohort), "--json"]);
        check(&format!("{model}_evaluate.json"), &eval);
    }
}

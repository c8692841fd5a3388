//! `denovo recover` end to end: simulate a tiny paper-like cohort and a test cohort, fit
//! REINFORCE with the true w0, and compare the run with the truth (text and JSON).

use std::path::Path;
use std::process::{Command, Output};

fn denovo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(args)
        .output()
        .expect("the denovo binary runs")
}

fn ok(args: &[&str]) -> String {
    let o = denovo(args);
    assert!(
        o.status.success(),
        "denovo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn simulate(out: &Path, seed: &str) {
    ok(&[
        "simulate",
        "--rule",
        "reinforce",
        "--alpha",
        "0.0625,0",
        "--stimuli=-2:0.25:2",
        "--w0-choices=-2;-1,0,1",
        "--animals",
        "30",
        "--trials",
        "200",
        "--session-length",
        "200",
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
    ]);
}

#[test]
fn recover_compares_a_fit_with_its_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test, run) = (
        dir.path().join("train.csv"),
        dir.path().join("test.csv"),
        dir.path().join("run"),
    );
    simulate(&train, "1");
    simulate(&test, "2");
    let (train_s, run_s) = (train.to_str().unwrap(), run.to_str().unwrap());
    ok(&[
        "fit",
        train_s,
        "--model",
        "reinforce",
        "--w0",
        "truth",
        "--out",
        run_s,
    ]);
    let truth = dir.path().join("train.truth.json");
    let truth_s = truth.to_str().unwrap();
    let test_s = test.to_str().unwrap();
    let json = ok(&[
        "recover", truth_s, run_s, "--test", test_s, "--grid-w", "21", "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], "denovo.recover/1");
    assert_eq!(v["grid_points"], 17 * 2 * 21 * 3);
    assert!(v["grid"]["overall"].as_f64().unwrap() < 0.15, "{json}");
    assert!(
        v["test"]["delta_ll"].as_f64().unwrap().abs() < 0.003,
        "{json}"
    );
    assert_eq!(v["history"].as_array().unwrap().len(), 3);
    let text = ok(&["recover", truth_s, run_s, "--grid-w", "21"]);
    assert!(
        text.contains("relative RMSE") && text.contains("--test TEST_DATA"),
        "{text}"
    );
    // The test data's sidecar is required.
    std::fs::remove_file(dir.path().join("test.truth.json")).unwrap();
    let o = denovo(&["recover", truth_s, run_s, "--test", test_s]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("test.truth.json") && !e.contains("panicked"),
        "{e}"
    );
}

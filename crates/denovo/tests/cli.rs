//! The `denovo` binary end to end: JSON output, simulate → inspect round trips, and
//! malformed inputs that must fail cleanly (non-zero exit, file:line:column, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The package's folder: cargo's `CARGO_MANIFEST_DIR` at run time (right even when the
/// build was reused from a checkout at another path), else the compile-time value.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn denovo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(args)
        .output()
        .expect("the denovo binary runs")
}

/// Parses a JSON file the binary wrote.
fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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
        .unwrap_or_else(|| manifest_dir().join("../../../shared/data/rat_W053.csv"));
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
        let truth: serde_json::Value = read_json(&sidecar);
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
    let fixture = manifest_dir().join("../../tests/fixtures/trials_basic.csv");
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

/// A flag the rule does not use and a stimulus range whose END is off its grid are errors
/// that say what to do.
#[test]
fn simulate_refuses_unused_flags_and_ranges_off_their_grid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.csv");
    let out = out.to_str().unwrap();
    let o = denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--streak-cap",
        "2",
        "--out",
        out,
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--streak-cap is only used by --rule reinforce-streak"),
        "{}",
        stderr(&o)
    );
    let o = denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--stimuli=-2:0.3:2",
        "--out",
        out,
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("use --stimuli=-2:0.3:1.9"),
        "{}",
        stderr(&o)
    );
}

/// Settings the fit does not use are printed as warnings; `--model`'s help lists every
/// rule that fits.
#[test]
fn fit_warns_about_settings_it_does_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let run = dir.path().join("run");
    let o = denovo(&[
        "fit",
        data.to_str().unwrap(),
        "--model",
        "reinforce",
        "--hidden",
        "64,64",
        "--minibatch",
        "10",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "warning: --hidden is only used by dnn and rnn; ignored for --model reinforce"
        ) && err.contains("warning: --minibatch 10 is not smaller than the 6 training animals"),
        "{err}"
    );
    let help = stdout(&denovo(&["fit", "--help"]));
    assert!(help.contains("reinforce-streak"), "{help}");
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
        "--neural-epochs",
        "20",
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
    let text = stdout(&o);
    assert!(text.contains("reinforce (true rule)"), "{text}");
    for rule in [
        "reinforce",
        "reinforce-baseline",
        "rewardmax",
        "predictmax",
        "qlearning",
        "dnn",
        "rnn",
    ] {
        assert!(
            out.join(format!("fit_{rule}"))
                .join("summary.json")
                .is_file(),
            "{rule}"
        );
        assert!(
            text.lines().any(|l| l.starts_with(rule)),
            "{rule} row missing: {text}"
        );
    }
    assert!(out.join("report_sim/report.html").is_file());
    assert!(out.join("report_sim/rule_history.png").is_file());
    // The held-out animals through the sweep (3 animals: 3 folds × 7 models, collected),
    // in the table's column and the paired comparison.
    let results = std::fs::read_to_string(out.join("sweep_sim/results.csv")).unwrap();
    assert_eq!(results.lines().count(), 1 + 7 * 3, "{results}");
    assert!(out.join("sweep_sim.toml").is_file());
    assert!(out.join("sweep_sim/comparison.csv").is_file());
    assert!(text.contains("(reference)"), "{text}");
    let dnn = text.lines().find(|l| l.starts_with("dnn")).unwrap();
    let animals = dnn.split_whitespace().nth(3).unwrap();
    assert!(animals.parse::<f64>().is_ok_and(|v| v < 0.0), "{dnn}");
    if rat.is_some() {
        assert!(stdout(&o).contains("20,000 trials"));
        assert!(out.join("rat_learning_curve.png").is_file());
        for m in ["reinforce", "reinforce-baseline", "dnn", "rnn", "psytrack"] {
            assert!(
                out.join(format!("rat_{m}/summary.json")).is_file(),
                "rat {m}"
            );
        }
        assert!(out.join("report_rat/report.html").is_file());
    }
}

fn simulate_small(dir: &Path, rule: &str) -> PathBuf {
    let out = dir.join("cohort.csv");
    let o = denovo(&[
        "simulate",
        "--rule",
        rule,
        "--animals",
        "6",
        "--trials",
        "400",
        "--session-length",
        "80-120",
        "--seed",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

#[test]
fn fit_writes_summary_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let run = dir.path().join("run");
    let o = denovo(&[
        "fit",
        data.to_str().unwrap(),
        "--model",
        "reinforce",
        "--folds",
        "3",
        "--holdout-sessions",
        "0.25",
        "--epochs",
        "200",
        "--lr-step",
        "50",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = read_json(&run.join("summary.json"));
    assert_eq!(s["schema"], "denovo.fit/2");
    assert_eq!(s["model"], "reinforce");
    assert_eq!(s["backend"], "ndarray");
    assert_eq!(s["regressors"], serde_json::json!(["stim", "bias"]));
    assert_eq!(s["parameters"]["alpha"].as_array().unwrap().len(), 2);
    assert_eq!(s["fold_parameters"].as_array().unwrap().len(), 3);
    for split in ["train", "heldout_sessions", "heldout_animals"] {
        let ll = s[split]["ll_per_trial"].as_f64().unwrap();
        assert!(ll < 0.0 && ll > -0.7, "{split}: {ll}");
        assert_eq!(
            s[split]["per_animal"].as_array().unwrap().len(),
            6,
            "{split}"
        );
    }
    // Training and held-out sessions partition the trials.
    let train = s["train"]["trials"].as_u64().unwrap();
    let held = s["heldout_sessions"]["trials"].as_u64().unwrap();
    assert_eq!(train + held, 2400);
    assert_eq!(s["heldout_animals"]["trials"].as_u64().unwrap(), train);
    // The loss went down.
    let history: Vec<f64> = s["loss_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(history.last().unwrap() < &history[0]);
    // weights.csv: one row per trial, the split marked, finite weights.
    let weights = std::fs::read_to_string(run.join("weights.csv")).unwrap();
    let mut lines = weights.lines();
    assert_eq!(
        lines.next().unwrap(),
        "subject,session,date,number,index,trial,split,w_stim,w_bias"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2400);
    assert_eq!(
        rows.iter().filter(|r| r[6] == "heldout").count() as u64,
        held
    );
    assert!(
        rows.iter()
            .all(|r| r[7].parse::<f64>().unwrap().is_finite())
    );
    // A simulated cohort has no dates: a session is its number, and its index.
    assert_eq!(&rows[0][..7], &["sim001", "1", "", "1", "1", "1", "train"]);
    assert_eq!(&rows[0][7..], &["0", "0"]);
}

#[test]
fn fit_fast_and_generic_paths_agree() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "rewardmax");
    let mut ll = Vec::new();
    for generic in [false, true] {
        let run = dir.path().join(format!("run{generic}"));
        let mut args = vec![
            "fit",
            data.to_str().unwrap(),
            "--model",
            "rewardmax",
            "--holdout-sessions",
            "0.2",
            "--epochs",
            "30",
            "--lbfgs",
            "0",
            "--quiet",
            "--out",
            run.to_str().unwrap(),
        ];
        if generic {
            args.push("--generic");
        }
        let o = denovo(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let s: serde_json::Value = read_json(&run.join("summary.json"));
        ll.push(s["heldout_sessions"]["ll_per_trial"].as_f64().unwrap());
    }
    assert!(
        (ll[0] - ll[1]).abs() < 1e-4,
        "fast {} vs generic {}",
        ll[0],
        ll[1]
    );
}

/// `--precision f64` fits in f64 (the reference kernel) from the same initial network as
/// the default f32 fit with the same seed, though each runs in its own process: their
/// held-out LL agree within 1e-4 nats/trial. f64 on wgpu is refused.
#[test]
fn fit_in_f32_and_f64_agree_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let mut ll = Vec::new();
    for precision in ["f32", "f64"] {
        let run = dir.path().join(precision);
        let o = denovo(&[
            "fit",
            data.to_str().unwrap(),
            "--model",
            "rnn",
            "--holdout-sessions",
            "0.2",
            "--epochs",
            "10",
            "--seed",
            "2",
            "--precision",
            precision,
            "--quiet",
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let s = read_json(&run.join("summary.json"));
        assert_eq!(s["precision"], precision);
        assert!(
            std::fs::read_to_string(run.join("fit.toml"))
                .unwrap()
                .contains(precision)
        );
        ll.push(s["heldout_sessions"]["ll_per_trial"].as_f64().unwrap());
    }
    assert!(
        (ll[0] - ll[1]).abs() < 1e-4,
        "f32 {} vs f64 {}",
        ll[0],
        ll[1]
    );
    let o = denovo(&[
        "fit",
        data.to_str().unwrap(),
        "--model",
        "dnn",
        "--precision",
        "f64",
        "--backend",
        "wgpu",
        "--out",
        dir.path().join("gpu").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("wgpu runs in f32 only"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fit_stops_on_a_non_finite_loss_and_keeps_the_last_good_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let run = dir.path().join("run");
    let o = denovo(&[
        "fit",
        data.to_str().unwrap(),
        "--model",
        "reinforce",
        "--lr",
        "1000",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("non-finite") && err.contains("at epoch"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let kept: serde_json::Value = read_json(&run.join("last_good_parameters.json"));
    assert!(
        kept["alpha"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a.as_f64().is_some_and(f64::is_finite))
    );
}

/// `denovo fit RAT --model MODEL --holdout-sessions 0.2 --seed 1 --out OUT`; its summary.
fn fit_rat(rat: &Path, model: &str, out: &Path) -> serde_json::Value {
    let o = denovo(&[
        "fit",
        rat.to_str().unwrap(),
        "--model",
        model,
        "--holdout-sessions",
        "0.2",
        "--seed",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    read_json(&out.join("summary.json"))
}

#[test]
fn fit_on_the_rat_reports_held_out_sessions() {
    let Some(rat) = rat() else {
        eprintln!("skipped: rat_W053.csv not present");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = fit_rat(&rat, "reinforce", &dir.path().join("rat"));
    assert_eq!(s["regressors"], serde_json::json!(["s1", "s2", "bias"]));
    assert_eq!(
        s["heldout_sessions"]["trials"].as_u64().unwrap() + s["train"]["trials"].as_u64().unwrap(),
        20000
    );
    let held = s["heldout_sessions"]["ll_per_trial"].as_f64().unwrap();
    // Better than chance (ln 0.5 = −0.693) on sessions the fit never saw.
    assert!(held > -0.69 && held < -0.5, "{held}");
}

#[test]
fn fit_neural_rules_write_a_model_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    for model in ["dnn", "rnn"] {
        let run = dir.path().join(model);
        let o = denovo(&[
            "fit",
            data.to_str().unwrap(),
            "--model",
            model,
            "--holdout-sessions",
            "0.25",
            "--epochs",
            "3",
            "--hidden",
            "8",
            "--gru-hidden",
            "6",
            "--quiet",
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{model}: {}", stderr(&o));
        assert!(
            std::fs::metadata(run.join("model.mpk")).unwrap().len() > 100,
            "{model}"
        );
        let s: serde_json::Value = read_json(&run.join("summary.json"));
        assert_eq!(s["model"], model);
        assert_eq!(s["parameters"]["gamma"].as_array().unwrap().len(), 2);
        assert!(s["architecture"].is_object());
        assert_eq!(s["epochs"], 3);
        assert!(
            s["heldout_sessions"]["ll_per_trial"]
                .as_f64()
                .unwrap()
                .is_finite()
        );
    }
}

#[test]
fn rule_read_out_matches_the_closed_form_and_evaluate_matches_the_fit() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let run = dir.path().join("run");
    let o = denovo(&[
        "fit",
        data.to_str().unwrap(),
        "--model",
        "reinforce",
        "--epochs",
        "100",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = read_json(&run.join("summary.json"));
    let alpha: Vec<f64> = s["parameters"]["alpha"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();

    let grid = dir.path().join("grid.csv");
    let o = denovo(&[
        "rule",
        run.to_str().unwrap(),
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut reader = csv::Reader::from_path(&grid).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut rows = 0;
    for rec in reader.records() {
        let rec = rec.unwrap();
        let f = |name: &str| rec[col(name)].parse::<f64>().unwrap();
        let z = f("w_stim") * f("x_stim") + f("w_bias") * f("x_bias");
        let p = 1.0 / (1.0 + (-z).exp());
        for (j, name) in ["stim", "bias"].iter().enumerate() {
            let expected = alpha[j] * f("reward") * (f("choice") - p) * f(&format!("x_{name}"));
            assert!((f(&format!("dw_{name}")) - expected).abs() < 1e-9);
        }
        rows += 1;
    }
    // 9 w_stim × 3 w_bias × 11 stimuli × 2 choices × 2 outcomes.
    assert_eq!(rows, 9 * 3 * 11 * 2 * 2);

    let o = denovo(&[
        "evaluate",
        run.to_str().unwrap(),
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["schema"], "denovo.evaluate/1");
    let (a, b) = (
        e["score"]["ll_per_trial"].as_f64().unwrap(),
        s["train"]["ll_per_trial"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-6, "evaluate {a} vs fit {b}");

    let o = denovo(&[
        "rule",
        dir.path().to_str().unwrap(),
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not a denovo run directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn rnn_read_out_is_conditioned_on_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let run = dir.path().join("rnn");
    let o = denovo(&[
        "fit",
        data.to_str().unwrap(),
        "--model",
        "rnn",
        "--epochs",
        "2",
        "--gamma-init",
        "0.3",
        "--hidden",
        "8",
        "--gru-hidden",
        "6",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let grid = dir.path().join("grid.csv");
    let o = denovo(&[
        "rule",
        run.to_str().unwrap(),
        "--history",
        "3",
        "--out",
        grid.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut by: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let mut reader = csv::Reader::from_path(&grid).unwrap();
    for rec in reader.records() {
        let rec = rec.unwrap();
        by.entry(rec[1].to_string())
            .or_default()
            .push(rec[rec.len() - 2].parse().unwrap());
    }
    assert_eq!(
        by.keys().cloned().collect::<Vec<_>>(),
        vec!["3 rewarded", "3 unrewarded", "none"]
    );
    // The hidden state carries the history: the read-outs differ.
    assert_ne!(by["3 rewarded"], by["none"]);
    assert_ne!(by["3 rewarded"], by["3 unrewarded"]);
}

/// A fit killed after a checkpoint and resumed ends with exactly the parameters of an
/// uninterrupted fit; finished folds are not refitted.
#[test]
fn resume_after_an_interruption_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    for (model, extra) in [
        ("dnn", vec!["--hidden", "8"]),
        ("reinforce", vec!["--folds", "2"]),
    ] {
        let whole = dir.path().join(format!("{model}_whole"));
        let cut = dir.path().join(format!("{model}_cut"));
        let mut common = vec![
            data.to_str().unwrap(),
            "--model",
            model,
            "--epochs",
            "30",
            "--checkpoint-every",
            "10",
            "--seed",
            "3",
            "--quiet",
        ];
        common.extend(extra.iter().copied());
        let mut a = common.clone();
        a.extend(["--out", whole.to_str().unwrap()]);
        let o = denovo(&[&["fit"][..], &a].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        let mut b = common.clone();
        b.extend(["--out", cut.to_str().unwrap(), "--interrupt-after", "20"]);
        let o = denovo(&[&["fit"][..], &b].concat());
        assert_eq!(
            o.status.code(),
            Some(130),
            "{model}: the run is interrupted"
        );
        assert!(!cut.join("summary.json").exists());
        let o = denovo(&["fit", "--resume", cut.to_str().unwrap(), "--quiet"]);
        assert!(o.status.success(), "{model}: {}", stderr(&o));
        let read = |d: &Path| -> serde_json::Value { read_json(&d.join("summary.json")) };
        let (x, y) = (read(&whole), read(&cut));
        assert_eq!(x["parameters"], y["parameters"], "{model}");
        assert_eq!(x["loss_history"], y["loss_history"], "{model}");
        assert_eq!(x["fold_parameters"], y["fold_parameters"], "{model}");
    }
}

#[test]
fn config_file_reproduces_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "rewardmax");
    let first = dir.path().join("first");
    let o = denovo(&[
        "fit",
        data.to_str().unwrap(),
        "--model",
        "rewardmax",
        "--epochs",
        "50",
        "--quiet",
        "--out",
        first.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Re-run from the written fit.toml into another folder.
    let text = std::fs::read_to_string(first.join("fit.toml")).unwrap();
    let second = dir.path().join("second");
    let config = dir.path().join("fit.toml");
    std::fs::write(
        &config,
        text.replace(first.to_str().unwrap(), second.to_str().unwrap()),
    )
    .unwrap();
    let o = denovo(&["fit", "--config", config.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |d: &Path| -> serde_json::Value { read_json(&d.join("summary.json")) };
    assert_eq!(read(&first)["parameters"], read(&second)["parameters"]);
    // A broken config is reported with its path.
    std::fs::write(&config, "model = 3\n").unwrap();
    let o = denovo(&["fit", "--config", config.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("fit.toml"), "{}", stderr(&o));
}

/// The headless browser: `$DENOVO_CHROMIUM`, else `chromium` or `chromium-browser` on the
/// PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DENOVO_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
}

/// `denovo report` on a parametric, a DNN and an RNN run writes every figure, and the
/// HTML renders in headless Chromium with every embedded image decoded. Without a browser
/// the test is skipped, unless `DENOVO_REQUIRE_BROWSER` is set (CI sets it and installs
/// Debian's chromium).
#[test]
fn report_renders_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cohort = d.join("cohort.csv");
    let o = denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--alpha",
        "0.0625,0.015625",
        "--animals",
        "4",
        "--trials",
        "600",
        "--seed",
        "3",
        "--out",
        cohort.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "simulate: {}", stderr(&o));
    let mut runs = Vec::new();
    for model in ["reinforce", "dnn", "rnn"] {
        let out = d.join(format!("run_{model}"));
        let o = denovo(&[
            "fit",
            cohort.to_str().unwrap(),
            "--model",
            model,
            "--holdout-sessions",
            "0.2",
            "--epochs",
            "20",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "fit {model}: {}", stderr(&o));
        runs.push(out);
    }
    let report = d.join("report");
    let mut args = vec!["report"];
    args.extend(runs.iter().map(|r| r.to_str().unwrap()));
    args.extend(["--out", report.to_str().unwrap(), "--history", "2"]);
    let o = denovo(&args);
    assert!(o.status.success(), "report: {}", stderr(&o));
    let mut expected = vec![
        "rule".to_string(),
        "rule_history".into(),
        "comparison".into(),
    ];
    for model in ["reinforce", "dnn", "rnn"] {
        expected.push(format!("learning_curves_run_{model}"));
        expected.push(format!("weights_run_{model}"));
    }
    for name in &expected {
        for ext in ["png", "svg"] {
            let f = report.join(format!("{name}.{ext}"));
            let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            assert!(len > 1000, "{} missing or empty", f.display());
        }
    }
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    let images = html.matches("<img ").count();
    assert_eq!(images, expected.len(), "one embedded image per figure");
    assert!(html.contains("Wilcoxon") && html.contains("paired t-test"));

    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("DENOVO_REQUIRE_BROWSER").is_none(),
            "DENOVO_REQUIRE_BROWSER is set but no chromium was found"
        );
        eprintln!("skipped the browser half: no chromium (set DENOVO_CHROMIUM)");
        return;
    };
    let url = format!("file://{}", report.join("report.html").display());
    let o = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", d.join("profile").display()),
            "--virtual-time-budget=10000",
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("chromium runs");
    let dom = stdout(&o);
    let want = format!("data-images-loaded=\"{images}/{images}\"");
    assert!(
        dom.contains(&want),
        "the browser did not decode every image (want {want}); stderr: {}",
        stderr(&o).chars().take(2000).collect::<String>()
    );
}

fn protocol(name: &str) -> String {
    manifest_dir()
        .join("../../datasets/protocols")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// A cohort trained by REINFORCE under the IBL protocol, refitted, and twinned under the
/// same protocol: the twins' trials to criterion match the cohort's own within sampling
/// error; the easy-first protocol gives a clearly different number.
#[test]
fn twin_reproduces_the_cohort_it_was_fitted_to() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cohort = d.join("cohort.csv");
    let ibl = protocol("ibl_training.toml");
    let o = denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--alpha",
        "0.004,0.001",
        "--animals",
        "40",
        "--seed",
        "4",
        "--protocol",
        &ibl,
        "--out",
        cohort.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "simulate: {}", stderr(&o));
    let run = d.join("run");
    let o = denovo(&[
        "fit",
        cohort.to_str().unwrap(),
        "--model",
        "reinforce",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "fit: {}", stderr(&o));
    let o = denovo(&[
        "twin",
        run.to_str().unwrap(),
        "--protocol",
        &ibl,
        "--compare",
        &protocol("easy_first.toml"),
        "--animals",
        "200",
        "--observed",
        cohort.to_str().unwrap(),
        "--json",
        "--out",
        d.join("twin").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "twin: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "denovo.twin/1");
    let g = |i: usize, k: &str| v["groups"][i][k].as_f64().unwrap();
    assert_eq!(g(0, "trained"), 40.0, "every simulated animal is trained");
    assert!(g(1, "trained") >= 190.0);
    let se = (g(0, "se_trials").powi(2) + g(1, "se_trials").powi(2)).sqrt();
    let diff = (g(0, "mean_trials") - g(1, "mean_trials")).abs();
    assert!(
        diff < 3.0 * se,
        "observed {} vs twin {} trials (3 SE = {})",
        g(0, "mean_trials"),
        g(1, "mean_trials"),
        3.0 * se
    );
    let se2 = (g(1, "se_trials").powi(2) + g(2, "se_trials").powi(2)).sqrt();
    assert!(
        (g(2, "mean_trials") - g(1, "mean_trials")).abs() > 5.0 * se2,
        "the easy-first protocol should differ"
    );
    assert!(d.join("twin/twin.png").is_file() && d.join("twin/twin.svg").is_file());
}

/// A malformed protocol fails with its file name and what is wrong.
#[test]
fn twin_rejects_a_bad_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\nsession_trials = 0\nmax_sessions = 5\n[[stage]]\nname = \"a\"\ncontrasts = [1.0]\n").unwrap();
    let o = denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--animals",
        "2",
        "--protocol",
        bad.to_str().unwrap(),
        "--out",
        dir.path().join("c.csv").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("bad.toml") && e.contains("session_trials"),
        "{e}"
    );
    std::fs::write(
        &bad,
        "name = \"x\"\nsession_trials = 10\nmax_sessions = 5\nstages = 3\n",
    )
    .unwrap();
    let o = denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--animals",
        "2",
        "--protocol",
        bad.to_str().unwrap(),
        "--out",
        dir.path().join("c.csv").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not a valid protocol"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
}

/// `denovo bench --json` measures both paths, the fused one in both precisions, and reports
/// positive times, FLOPs, memory and fractions of the measured peak (what it measures is
/// not asserted: speed lives in benchmarks, not tests).
#[test]
fn bench_reports_both_paths() {
    let o = denovo(&[
        "bench",
        "--models",
        "dnn",
        "--epochs",
        "1",
        "--generic-trials",
        "20",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "denovo.bench/1");
    let rows = v["rows"].as_array().unwrap();
    let rows_of = |key: &str| -> Vec<String> {
        (rows.iter().map(|r| r[key].as_str().unwrap().to_string())).collect()
    };
    let paths = rows_of("path");
    assert_eq!(paths, ["fused", "fused", "fused", "fused", "generic"]);
    assert_eq!(rows_of("precision"), ["f32", "f64", "f32", "f64", "f32"]);
    assert_eq!(rows[0]["animals"], 12);
    assert_eq!(rows[0]["trials"], 10_000);
    let peak = v["peak_gflop_per_second"].as_f64().unwrap();
    assert!(peak > 0.0 && v["peak_lanes"].as_u64().unwrap() >= 1);
    for r in rows {
        // The median, mean and fastest of the timed epochs, in order.
        let median = r["seconds_per_epoch"].as_f64().unwrap();
        let fastest = r["min_seconds_per_epoch"].as_f64().unwrap();
        assert!(fastest > 0.0 && fastest <= median);
        assert!(r["mean_seconds_per_epoch"].as_f64().unwrap() >= fastest);
        assert!(r["epochs"].as_u64().unwrap() >= 1);
        assert!(r["gflop_per_epoch"].as_f64().unwrap() > 0.0);
        assert!(r["peak_heap_mb"].as_f64().unwrap() > 0.0);
        let fraction = r["fraction_of_peak"].as_f64().unwrap();
        let rate = r["gflop_per_second"].as_f64().unwrap();
        assert!(fraction > 0.0 && (fraction - rate / peak).abs() < 1e-9 * fraction);
    }
    // One precision on request; an unknown one is refused.
    let o = denovo(&[
        "bench",
        "--models",
        "dnn",
        "--epochs",
        "1",
        "--generic-trials",
        "0",
        "--precision",
        "f64",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    assert_eq!(v["rows"][0]["precision"], "f64");
    let o = denovo(&["bench", "--precision", "f16"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown precision `f16`"),
        "{}",
        stderr(&o)
    );
}

/// Every file of a folder, by relative path, with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Names in `dir` other than the run directories themselves (staging folders, locks).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// A refit into a folder holding a run is refused without --force and changes nothing; with
/// --force the new run replaces it whole.
#[test]
fn refit_into_an_existing_run_needs_force_and_changes_nothing_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let run = dir.path().join("run");
    let fit = |model: &str, extra: &[&str]| {
        let mut a = vec![
            "fit",
            data.to_str().unwrap(),
            "--model",
            model,
            "--epochs",
            "20",
        ];
        a.extend(["--quiet", "--out", run.to_str().unwrap()]);
        a.extend(extra);
        denovo(&a)
    };
    let o = fit("reinforce", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = snapshot(&run);
    let o = fit("rewardmax", &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already holds an earlier reinforce run")
            && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&run), before, "a refused refit changed the run");
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    let o = fit("rewardmax", &["--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_json(&run.join("summary.json"))["model"], "rewardmax");
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

/// Two fits started together into one folder: one is refused with a clear message (or both
/// finish), and the folder holds exactly one complete run, all of its files from one fit.
#[test]
fn two_concurrent_fits_into_one_directory_leave_one_complete_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let run = dir.path().join("run");
    let spawn = |model: &str| {
        Command::new(env!("CARGO_BIN_EXE_denovo"))
            .args([
                "fit",
                data.to_str().unwrap(),
                "--model",
                model,
                "--epochs",
                "150",
            ])
            .args(["--hidden", "8", "--quiet", "--out", run.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("dnn"), spawn("reinforce"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ok: Vec<&Output> = [&a, &b]
        .into_iter()
        .filter(|o| o.status.success())
        .collect();
    assert!(!ok.is_empty(), "{} / {}", stderr(&a), stderr(&b));
    for o in [&a, &b].into_iter().filter(|o| !o.status.success()) {
        let e = stderr(o);
        assert!(
            e.contains("another denovo fit is writing") || e.contains("already holds"),
            "{e}"
        );
    }
    // One complete run: summary, settings, weights and record agree on the model.
    let summary = read_json(&run.join("summary.json"));
    let model = summary["model"].as_str().unwrap().to_string();
    let toml = std::fs::read_to_string(run.join("fit.toml")).unwrap();
    assert!(
        toml.contains(&format!("model = \"{model}\"")),
        "{model} vs {toml}"
    );
    let o = denovo(&[
        "evaluate",
        run.to_str().unwrap(),
        data.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["model"], model.as_str());
    assert_eq!(
        std::fs::read_to_string(run.join("weights.csv"))
            .unwrap()
            .lines()
            .count(),
        2401
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

/// A fit killed with SIGKILL mid-way resumes from its last checkpoint to the result of an
/// uninterrupted fit.
#[cfg(unix)]
#[test]
fn resume_after_kill_9_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "reinforce");
    let args = |out: &Path| -> Vec<String> {
        [
            // The RNN at its default size: ~2 s for 300 epochs in a debug build here, the
            // first checkpoint after a few hundredths of a second.
            "fit",
            data.to_str().unwrap(),
            "--model",
            "rnn",
            "--epochs",
            "600",
            "--checkpoint-every",
            "5",
            "--seed",
            "9",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let whole = dir.path().join("whole");
    let o = Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(args(&whole))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let cut = dir.path().join("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(args(&cut))
        .spawn()
        .unwrap();
    // Wait for a checkpoint, then kill -9.
    let state = dir.path().join(".cut.partial/checkpoints/fit/state.json");
    let start = std::time::Instant::now();
    while !state.is_file() {
        assert!(start.elapsed().as_secs() < 120, "no checkpoint appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the fit ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!cut.exists(), "a killed fit left a run directory");
    let o = denovo(&["fit", "--resume", cut.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (x, y) = (
        read_json(&whole.join("summary.json")),
        read_json(&cut.join("summary.json")),
    );
    assert_eq!(x["parameters"], y["parameters"]);
    assert_eq!(x["loss_history"], y["loss_history"]);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

/// The library's ten-line fit of the rat (the doc example of denovo-study) gives the same
/// summary as `denovo fit` with the same settings.
#[test]
fn the_library_fit_of_the_rat_matches_the_command_line() {
    let Some(rat) = rat() else {
        eprintln!("skipped: rat_W053.csv not present");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cli = fit_rat(&rat, "dnn", &dir.path().join("rat_dnn"));
    let mut spec = denovo_study::FitSpec::new(&rat, denovo_study::ModelSpec::dnn());
    spec.split.holdout_sessions = 0.2;
    spec.seed = 1;
    let library = denovo_study::fit(&spec).unwrap();
    let mut lib = serde_json::to_value(&library.summary).unwrap();
    for s in [&mut cli, &mut lib] {
        s["seconds"] = serde_json::Value::Null;
    }
    assert_eq!(cli, lib);
}

/// Two models fitted to ONE simulated animal with `--holdout-sessions`: `denovo report`
/// pairs them across the animal's held-out sessions — the printed table, comparison.csv and
/// report.html say "held-out sessions of sim001 (n = N sessions)" with N the number of
/// sessions summary.json lists as held out, and the caveat that sessions are not
/// independent.
#[test]
fn report_of_one_animal_pairs_runs_across_its_held_out_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("one.csv");
    let o = denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--animals",
        "1",
        "--trials",
        "2000",
        "--session-length",
        "60-90",
        "--seed",
        "5",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "simulate: {}", stderr(&o));
    let mut runs = Vec::new();
    for model in ["reinforce", "reinforce-baseline"] {
        let run = d.join(model);
        let o = denovo(&[
            "fit",
            data.to_str().unwrap(),
            "--model",
            model,
            "--holdout-sessions",
            "0.25",
            "--epochs",
            "100",
            "--quiet",
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "fit {model}: {}", stderr(&o));
        runs.push(run);
    }
    let summary = read_json(&runs[0].join("summary.json"));
    let animal = &summary["heldout_sessions"]["per_animal"][0];
    let n = animal["sessions"].as_array().unwrap().len();
    assert!(n >= 5, "{n} held-out sessions");
    assert_eq!(animal["per_session"].as_array().unwrap().len(), n);
    // The training split stores no per-session scores.
    assert!(
        summary["train"]["per_animal"][0]
            .get("per_session")
            .is_none()
    );

    let report = d.join("report");
    let o = denovo(&[
        "report",
        runs[0].to_str().unwrap(),
        runs[1].to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "report: {}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let printed = stdout(&o);
    let across = format!("held-out sessions of sim001 (n = {n} sessions)");
    assert!(printed.contains(&across), "{printed}");
    assert!(printed.contains("not independent samples"), "{printed}");
    // One row per held-out session in the printed per-session table, keyed as summary.json.
    for s in animal["sessions"].as_array().unwrap() {
        let row = format!("| {} |", s.as_str().unwrap());
        assert!(printed.contains(&row), "{row} not in {printed}");
    }
    let csv = std::fs::read_to_string(report.join("comparison.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    let row: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(row[0], "reinforce-baseline");
    assert_eq!((row[3], row[4]), ("sessions", "sim001"));
    assert_eq!(row[5].parse::<usize>().unwrap(), n);
    assert!(row[7..14].iter().all(|v| v.parse::<f64>().is_ok()), "{csv}");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains(&across) && html.contains("serial correlation"));
}

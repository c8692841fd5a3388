//! The truth of simulated data in the report, checked on the data handed to the plotting:
//! the rule figure's truth curves are the true rule's Δw at the grid points, the weights
//! figures' truth curves are the sidecar's trajectories; without a sidecar nothing of it
//! appears, and an unreadable sidecar is a warning.

use crate::report::{Loaded, load, rule_panels, weights_panels};
use crate::{ReportOptions, write_report};
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::{CohortConfig, StimulusSet};
use denovo_study::{FitSpec, ModelSpec, RunDir, fit};
use std::path::{Path, PathBuf};

/// REINFORCE's α of the simulation: the paper's (stim 2⁻⁴, bias 0).
const ALPHA: [f64; 2] = [0.0625, 0.0];

/// The paper's simulation, small: 20 animals × 300 trials in sessions of 100, stimuli
/// −2, −1.75, …, 2, w_stim = −2 and w_bias from {−1, 0, 1}, REINFORCE; written to
/// `dir/sim.csv` with its sidecar, and a REINFORCE fit of it (20 epochs, the last 20% of
/// sessions held out) stored as `dir/fit`. Returns (data, sidecar, run).
fn simulated_run(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let rule = RuleSpec {
        alpha: ALPHA.to_vec(),
        ..RuleSpec::initial(RuleKind::Reinforce, 2, 0.0)
    };
    let config = CohortConfig {
        animals: 20,
        trials: 300,
        session_min: 100,
        session_max: 100,
        stimuli: "-2:0.25:2".parse::<StimulusSet>().unwrap(),
        w0_choices: vec![vec![-2.0], vec![-1.0, 0.0, 1.0]],
        seed: 5,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&rule, &config).unwrap();
    let data = dir.join("sim.csv");
    let sidecar = denovo_sim::write_cohort(&cohort, &data, denovo_data::Format::TrialsCsv).unwrap();
    let mut spec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.split.holdout_sessions = 0.2;
    spec.training.epochs = Some(20);
    let run = dir.join("fit");
    RunDir::save(&run, &fit(&spec).unwrap(), false).unwrap();
    (data, sidecar, run)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// No curve of the run's figures is a truth, and no panel draws bands.
fn assert_no_truth(l: &Loaded) {
    let (_, rule) = rule_panels(std::slice::from_ref(l), None);
    let weights = weights_panels(l, 6);
    for p in rule.iter().chain(&weights) {
        assert!(p.bands_for.is_none(), "{}: bands without a truth", p.title);
        assert!(
            p.curves.iter().all(|c| !c.0.starts_with("truth")),
            "{}: a truth curve without a truth",
            p.title
        );
    }
}

#[test]
fn the_truth_is_drawn_beside_the_fits() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sidecar, run) = simulated_run(dir.path());
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(l.truth.as_ref().unwrap().path, sidecar);

    // Rule figure: per panel (w_stim = 0, 1, 2), the truth on correct and error trials at
    // the fitted rules' points, equal to REINFORCE's Δw_stim = α r (y − p) x computed here.
    let (primary, panels) = rule_panels(std::slice::from_ref(&l), None);
    assert_eq!(primary, "stim");
    assert_eq!(panels.len(), 3);
    for (panel, w) in panels.iter().zip([0.0, 1.0, 2.0]) {
        assert_eq!(panel.bands_for.as_deref(), Some("truth"));
        let fitted = panel
            .curves
            .iter()
            .find(|c| c.0 == "fit — correct")
            .unwrap();
        for (label, correct, dashed) in [
            ("truth — correct", true, false),
            ("truth — error", false, true),
        ] {
            let truth = panel.curves.iter().find(|c| c.0 == label).unwrap();
            assert_eq!(
                (truth.1, truth.2),
                (0, dashed),
                "{label}: black, dashed on errors"
            );
            // The same x as the fitted rule's curve.
            let xs: Vec<f64> = fitted.3.iter().map(|p| p.0).collect();
            assert_eq!(truth.3.iter().map(|p| p.0).collect::<Vec<_>>(), xs);
            for &(x, dw) in &truth.3 {
                let y = f64::from(u8::from((x > 0.0) == correct));
                let r = f64::from(u8::from(correct));
                let want = ALPHA[0] * r * (y - sigmoid(w * x)) * x;
                assert!(
                    (dw - want).abs() < 1e-12,
                    "{label} at w {w}, x {x}: {dw} vs {want}"
                );
            }
        }
        // Correct trials do change w_stim: the curve is not trivially 0.
        let truth = panel
            .curves
            .iter()
            .find(|c| c.0 == "truth — correct")
            .unwrap();
        assert!(truth.3.iter().any(|p| p.1.abs() > 1e-3));
    }
    // The history figure (RNN runs) has no truth.
    let (_, history) = rule_panels(std::slice::from_ref(&l), Some(3));
    assert!(
        history
            .iter()
            .all(|p| p.curves.iter().all(|c| !c.0.starts_with("truth")))
    );

    // Weights figures: each animal's truth curves are the sidecar's trajectories at the
    // trials the fitted curves are drawn at.
    let text = std::fs::read_to_string(&sidecar).unwrap();
    let truth: denovo_sim::GroundTruth = serde_json::from_str(&text).unwrap();
    let panels = weights_panels(&l, 6);
    assert_eq!(panels.len(), 6);
    for panel in &panels {
        let animal = (truth.trajectories.iter())
            .find(|t| t.subject == panel.title)
            .unwrap();
        for (j, name) in ["stim", "bias"].iter().enumerate() {
            let fitted = panel
                .curves
                .iter()
                .find(|c| c.0 == format!("w_{name}"))
                .unwrap();
            let true_w = (panel.curves.iter())
                .find(|c| c.0 == format!("truth w_{name}"))
                .unwrap();
            assert_eq!(true_w.1, fitted.1, "the truth in its weight's colour");
            assert_eq!(true_w.3.len(), fitted.3.len());
            for (&(t, w), &(tf, _)) in true_w.3.iter().zip(&fitted.3) {
                assert_eq!(t, tf);
                assert_eq!(
                    w,
                    animal.weights[t as usize - 1][j],
                    "{} trial {t}",
                    panel.title
                );
            }
        }
    }

    // The report: the truth named in the summary, the text and the figures.
    let out = dir.path().join("report");
    let report = write_report(&[run], &out, &ReportOptions::default()).unwrap();
    assert_eq!(report.truth, vec![sidecar.clone()]);
    assert!(report.warnings.is_empty());
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(html.contains("<h2>Ground truth</h2>") && html.contains("<b>simulated</b>"));
    assert!(html.contains(&sidecar.display().to_string()));
    assert!(
        html.contains("reinforce with α = (stim 0.0625, bias 0)"),
        "the rule and parameters"
    );
    let svg = std::fs::read_to_string(out.join("rule.svg")).unwrap();
    assert!(svg.contains("truth — correct") && svg.contains("truth — error"));
    let svg = std::fs::read_to_string(out.join("weights_fit.svg")).unwrap();
    assert!(svg.contains("truth w_stim") && svg.contains("truth w_bias"));
}

#[test]
fn a_run_without_a_sidecar_has_no_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sidecar, run) = simulated_run(dir.path());
    std::fs::remove_file(&sidecar).unwrap();
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(l.truth.is_none() && warnings.is_empty());
    assert_no_truth(&l);
    let out = dir.path().join("report");
    let report = write_report(&[run], &out, &ReportOptions::default()).unwrap();
    assert!(report.truth.is_empty() && report.warnings.is_empty());
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(!html.contains("Ground truth") && !html.contains("simulated"));
    assert!(
        !std::fs::read_to_string(out.join("rule.svg"))
            .unwrap()
            .contains("truth")
    );
}

#[test]
fn an_unreadable_sidecar_is_a_warning_and_no_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sidecar, run) = simulated_run(dir.path());
    std::fs::write(&sidecar, "{\"rule\": 3").unwrap();
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(l.truth.is_none());
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with(&format!("{}: ", sidecar.display()))
            && warnings[0].contains("not a truth sidecar"),
        "{}",
        warnings[0]
    );
    assert_no_truth(&l);
    let report = write_report(
        &[run],
        &dir.path().join("report"),
        &ReportOptions::default(),
    )
    .expect("the report still renders");
    assert!(report.truth.is_empty());
    assert_eq!(report.warnings, warnings);
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(html.contains("class=\"warning\"><b>Warning:</b>") && !html.contains("Ground truth"));
}

#[test]
fn a_sidecar_for_other_regressors_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (data, sidecar, _) = simulated_run(dir.path());
    // The same data fitted with one more regressor: the truth's weights do not fit.
    let mut spec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.regressors = vec!["stim".into(), "bias".into(), "prev_choice".into()];
    spec.training.epochs = Some(5);
    let run = dir.path().join("fit3");
    RunDir::save(&run, &fit(&spec).unwrap(), false).unwrap();
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(l.truth.is_none());
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with(&sidecar.display().to_string())
            && warnings[0].contains("the run's regressors are stim, bias, prev_choice"),
        "{}",
        warnings[0]
    );
    assert_no_truth(&l);
}

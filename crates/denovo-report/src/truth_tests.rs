//! The truth of simulated data in the report, checked on the data handed to the plotting:
//! the rule figure's truth curves are the true rule's Δw at the grid points, the weights
//! figures' truth curves are the sidecar's trajectories; without a sidecar nothing of it
//! appears, and an unreadable sidecar is a warning.

use crate::report::{Loaded, coverage_caption, load, rule_panels, weights_panels};
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
    let stimuli = "-2:0.25:2".parse::<StimulusSet>().unwrap();
    simulated_run_of(dir, RuleKind::Reinforce, stimuli, RuleKind::Reinforce)
}

/// As [`simulated_run`], simulated by the rule `kind` (with [`ALPHA`]) on `stimuli` and
/// fitted by the parametric rule `fitted`.
fn simulated_run_of(
    dir: &Path,
    kind: RuleKind,
    stimuli: StimulusSet,
    fitted: RuleKind,
) -> (PathBuf, PathBuf, PathBuf) {
    f64_device_first();
    let rule = RuleSpec {
        alpha: ALPHA.to_vec(),
        ..RuleSpec::initial(kind, 2, 0.0)
    };
    let config = CohortConfig {
        animals: 20,
        trials: 300,
        session_min: 100,
        session_max: 100,
        stimuli,
        w0_choices: vec![vec![-2.0], vec![-1.0, 0.0, 1.0]],
        seed: 5,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&rule, &config).unwrap();
    let data = dir.join("sim.csv");
    let sidecar = denovo_sim::write_cohort(&cohort, &data, denovo_data::Format::TrialsCsv).unwrap();
    let mut spec = FitSpec::new(&data, ModelSpec::parametric(fitted));
    spec.split.holdout_sessions = 0.2;
    spec.training.epochs = Some(20);
    let run = dir.join("fit");
    RunDir::save(&run, &fit(&spec).unwrap(), false).unwrap();
    (data, sidecar, run)
}

/// Makes the process's first tensor an f64 one, as in `denovo report` (which reads f64
/// models before anything else). burn's default float dtype of the CPU device is locked
/// process-wide by the first tensor created on it, and `ReinforceStreak::initial_state`
/// creates its streak column in that default dtype: after an f32 fit in a parallel test
/// had locked it to f32, simulating or reading out the f64 streak rule panicked
/// ("Concatenate data type mismatch").
fn f64_device_first() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A streak rule's read-out on the f64 read-out backend: its streak column is the
        // first tensor made in the default dtype, which locks that to f64.
        let truth = denovo_study::Truth {
            path: PathBuf::new(),
            rule: RuleSpec::initial(RuleKind::ReinforceStreak, 2, 0.1),
            regressors: vec!["stim".into(), "bias".into()],
            trajectories: Vec::new(),
            noise_sd: vec![0.0, 0.0],
            stimuli: StimulusSet::Ibl,
        };
        let point = denovo_train::readout::Point {
            w: vec![0.0, 0.0],
            x: vec![1.0, 1.0],
            choice: 1.0,
            correct: true,
        };
        assert_eq!(truth.read_out(&[point]).len(), 1);
    });
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The simulation's stimuli −2, −1.75, …, 2.
fn paper_stimuli() -> Vec<f64> {
    (0..=16).map(|i| -2.0 + 0.25 * f64::from(i)).collect()
}

/// The x points of the rule figure before truths chose them: the IBL contrasts −1, −0.5,
/// −0.25, −0.125, −0.0625, 0.0625, …, 1 through tanh(5c)/tanh(5), 0 left out.
fn old_ibl_xs() -> Vec<f64> {
    [
        -1.0, -0.5, -0.25, -0.125, -0.0625, 0.0625, 0.125, 0.25, 0.5, 1.0,
    ]
    .iter()
    .map(|&c: &f64| (5.0 * c).tanh() / 5.0f64.tanh())
    .collect()
}

/// Every curve of every panel is drawn at `xs`, and the panels are at w_stim = `weights`.
fn assert_grid(panels: &[crate::panels::Panel], xs: &[f64], weights: &[f64]) {
    let titles: Vec<String> = (weights.iter())
        .map(|w| format!("w_stim = {w}, other weights 0"))
        .collect();
    assert_eq!(
        panels.iter().map(|p| p.title.clone()).collect::<Vec<_>>(),
        titles
    );
    for p in panels {
        assert!(!p.curves.is_empty());
        for c in &p.curves {
            let got: Vec<f64> = c.3.iter().map(|q| q.0).collect();
            assert_eq!(got.len(), xs.len(), "{}: {}", p.title, c.0);
            for (a, b) in got.iter().zip(xs) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "{}: {}: {got:?} vs {xs:?}",
                    p.title,
                    c.0
                );
            }
        }
    }
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

    // Rule figure: on the simulation's stimuli (0 included) and at w_stim = −2, −1, 0, 1,
    // 2 (where the animals start), per panel the truth on correct and error trials at the
    // fitted rules' points, equal to REINFORCE's Δw_stim = α r (y − p) x computed here.
    let (primary, panels) = rule_panels(std::slice::from_ref(&l), None);
    assert_eq!(primary, "stim");
    let weights = [-2.0, -1.0, 0.0, 1.0, 2.0];
    assert_grid(&panels, &paper_stimuli(), &weights);
    for (panel, w) in panels.iter().zip(weights) {
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
    // The history figure draws the truth (a history-free rule: the same after rewarded
    // and unrewarded trials) on the same grid; the REINFORCE fit has no history, so the
    // truth is all it shows.
    let (_, history) = rule_panels(std::slice::from_ref(&l), Some(3));
    assert_grid(&history, &paper_stimuli(), &weights);
    for p in &history {
        let labels: Vec<&str> = p.curves.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            labels,
            [
                "truth — correct after 3 rewarded",
                "truth — correct after 3 unrewarded"
            ]
        );
        assert_eq!(p.curves[0].3, p.curves[1].3, "{}", p.title);
    }

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
    // The rule figure's points are the IBL grid and w_stim = 0, 1, 2, as before truths
    // could choose them.
    let (_, panels) = rule_panels(std::slice::from_ref(&l), None);
    assert_grid(&panels, &old_ibl_xs(), &[0.0, 1.0, 2.0]);
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

#[test]
fn a_truth_of_ibl_stimuli_keeps_the_usual_grid() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sidecar, run) = simulated_run_of(
        dir.path(),
        RuleKind::Reinforce,
        StimulusSet::Ibl,
        RuleKind::Reinforce,
    );
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let truth = l.truth.as_ref().unwrap();
    assert_eq!((&truth.path, truth.stimulus_values()), (&sidecar, None));
    let (_, panels) = rule_panels(std::slice::from_ref(&l), None);
    assert_grid(&panels, &old_ibl_xs(), &[0.0, 1.0, 2.0]);
    assert!(
        panels
            .iter()
            .all(|p| p.bands_for.as_deref() == Some("truth"))
    );
}

#[test]
fn the_history_figure_draws_the_true_streak_rule() {
    let dir = tempfile::tempdir().unwrap();
    let stimuli = "-2:0.25:2".parse::<StimulusSet>().unwrap();
    let (_, sidecar, run) = simulated_run_of(
        dir.path(),
        RuleKind::ReinforceStreak,
        stimuli,
        RuleKind::ReinforceStreak,
    );
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let truth = l.truth.as_ref().unwrap();
    assert_eq!(truth.stimulus_values(), Some(paper_stimuli()));

    // After 3 rewarded trials the streak count is 3 (the cap): the true step is
    // (1 + 3) α (y − p) x on a correct trial; after 3 unrewarded ones it is α (y − p) x.
    let (_, panels) = rule_panels(std::slice::from_ref(&l), Some(3));
    let weights = [-2.0, -1.0, 0.0, 1.0, 2.0];
    assert_grid(&panels, &paper_stimuli(), &weights);
    for (panel, w) in panels.iter().zip(weights) {
        assert_eq!(panel.bands_for.as_deref(), Some("truth"));
        for (label, dashed, gain) in [
            ("truth — correct after 3 rewarded", false, 4.0),
            ("truth — correct after 3 unrewarded", true, 1.0),
        ] {
            let curve = panel.curves.iter().find(|c| c.0 == label).unwrap();
            assert_eq!((curve.1, curve.2), (0, dashed), "{label}");
            for &(x, dw) in &curve.3 {
                let want = gain * ALPHA[0] * (1.0 - sigmoid(w * x.abs())) * x.abs();
                assert!(
                    (dw - want).abs() < 1e-12,
                    "{label} at w {w}, x {x}: {dw} vs {want}"
                );
            }
            // The truth's own read-out on those points.
            let points: Vec<_> = (curve.3.iter())
                .map(|&(x, _)| denovo_train::readout::Point {
                    w: vec![w, 0.0],
                    x: vec![x, 1.0],
                    choice: f64::from(u8::from(x > 0.0)),
                    correct: true,
                })
                .collect();
            let own = truth.read_out_history(&points, Some((3, !dashed)));
            let got: Vec<f64> = curve.3.iter().map(|p| p.1).collect();
            assert_eq!(got, own.iter().map(|d| d[0]).collect::<Vec<_>>());
        }
        // The fitted streak rule is drawn too, in its colour.
        assert!(
            panel
                .curves
                .iter()
                .any(|c| c.0 == "fit — correct after 3 rewarded")
        );
    }

    // The figure: the truth in the SVG, and a title that does not call a parametric rule
    // an RNN.
    let out = dir.path().join("report");
    let report = write_report(&[run], &out, &ReportOptions::default()).unwrap();
    assert_eq!(report.truth, vec![sidecar]);
    let svg = std::fs::read_to_string(out.join("rule_history.svg")).unwrap();
    assert!(svg.contains("truth — correct after 3 rewarded"));
    assert!(svg.contains("Rules with a history") && !svg.contains("RNN rules"));
}

/// An ensemble in the figures: every rule panel draws one 95% range per condition around
/// the run's read-out (low ≤ high, at the curve's x points), each weights panel one range
/// per regressor over the trials; the rule figure marks as unvisited some but not all of
/// its points (the paper's animals start at w_stim = −2: whole panels stay unvisited),
/// each one on a drawn curve; and the report with them is written.
#[test]
fn an_ensemble_draws_bands_and_marks_unvisited_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, run) = simulated_run(tmp.path());
    let spec = RunDir::load(&run).unwrap().spec.unwrap();
    let resample = denovo_study::Resample::Animals;
    denovo_study::ensemble::fit_ensemble(&spec, &run, 3, resample, &|_, _| {}).unwrap();
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let (_, panels) = rule_panels(std::slice::from_ref(&l), None);
    let (mut unvisited, mut points) = (0, 0);
    for p in &panels {
        assert_eq!(p.ranges.len(), 2, "{}: correct and error", p.title);
        let fitted: Vec<&(f64, f64)> = (p.curves.iter())
            .filter(|c| !c.0.starts_with("truth"))
            .flat_map(|c| c.3.iter())
            .collect();
        for (_, range) in &p.ranges {
            assert_eq!(range.len(), paper_stimuli().len());
            assert!(range.iter().all(|&(_, lo, hi)| lo.is_finite() && lo <= hi));
        }
        // The band contains the drawn curve: each fitted curve's range, point by point.
        let fits = p.curves.iter().filter(|c| !c.0.starts_with("truth"));
        for (curve, (_, range)) in fits.zip(&p.ranges) {
            for (&(x, y), &(rx, lo, hi)) in curve.3.iter().zip(range) {
                assert_eq!(x, rx);
                assert!(lo <= y && y <= hi, "{}: {y} outside [{lo}, {hi}]", curve.0);
            }
        }
        for q in &p.unvisited {
            assert!(fitted.contains(&q), "{}: {q:?} is not on a curve", p.title);
        }
        unvisited += p.unvisited.len();
        points += fitted.len();
    }
    assert!(
        unvisited > 0 && unvisited < points,
        "{unvisited} of {points}"
    );
    for p in weights_panels(&l, 3) {
        assert_eq!(p.ranges.len(), 2, "{}: one range per regressor", p.title);
    }
    let out = tmp.path().join("report");
    write_report(&[run], &out, &ReportOptions::default()).unwrap();
    assert!(out.join("rule.png").is_file());
}

/// With `RUN_DIR/check.json`, the rule figure labels every curve of the primary regressor
/// with the check's verdict, draws the unidentified ones grey, and its caption gives the
/// verdicts; without, nothing of it appears.
#[test]
fn the_check_verdicts_mark_the_rule_figure() {
    use denovo_study::check::{CHECK_SCHEMA, SliceVerdict};
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, run) = simulated_run(tmp.path());
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(l.checks.is_empty());
    let (_, panels) = rule_panels(std::slice::from_ref(&l), None);
    assert!(
        panels
            .iter()
            .flat_map(|p| &p.curves)
            .all(|c| !c.0.contains("identified"))
    );

    let slice = |outcome: &str, identified: bool| SliceVerdict {
        regressor: "stim".into(),
        outcome: outcome.into(),
        visited_cells: 10,
        generator_rms: 0.1,
        recovery_rms: if identified { 0.01 } else { 0.08 },
        bias_rms: 0.0,
        spread_rms: 0.0,
        ratio: Some(if identified { 0.1 } else { 0.8 }),
        verdict: if identified {
            "identified"
        } else {
            "not identified"
        }
        .into(),
    };
    let dir = denovo_study::check::check_dir(&run, "self");
    std::fs::create_dir_all(&dir).unwrap();
    denovo_study::CheckSummary {
        schema: CHECK_SCHEMA.into(),
        model: "reinforce".into(),
        name: "self".into(),
        generator: "the fitted rule".into(),
        generator_dir: None,
        replicates: 0,
        seeds: vec![],
        refit_train_ll: vec![],
        threshold: 0.2,
        slices: vec![slice("correct", true), slice("error", false)],
    }
    .write(&dir)
    .unwrap();
    let l = load(&run, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let (_, panels) = rule_panels(std::slice::from_ref(&l), None);
    for p in &panels {
        let fits: Vec<_> = p
            .curves
            .iter()
            .filter(|c| !c.0.starts_with("truth"))
            .collect();
        assert_eq!(fits.len(), 2);
        for c in fits {
            if c.0.contains("error") {
                assert!(c.0.ends_with("(not identified)"), "{}", c.0);
                assert_eq!(c.1, crate::panels::GREY);
            } else {
                assert!(c.0.ends_with("(identified)"), "{}", c.0);
                assert_ne!(c.1, crate::panels::GREY);
            }
        }
    }
    let out = tmp.path().join("report");
    let report = write_report(&[run], &out, &ReportOptions::default()).unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(
        html.contains("Δw_stim after error: not identified, error 80.0% of its RMS"),
        "the caption gives the verdicts"
    );
}

/// With a real check of a simulated run, the rule figure's caption says how well the band
/// covers the true Δw over the visited cells: REINFORCE fitted to REINFORCE learns nothing
/// after errors, its refits neither, so the band there is exactly 0 and covers the truth
/// (0) in every visited cell; no uncovered cell lies in a slice no check doubts unnoticed.
#[test]
fn the_rule_caption_gives_the_bands_coverage_of_the_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, run) = simulated_run(tmp.path());
    let fitted = RunDir::load(&run).unwrap();
    let check = denovo_study::check_run(&fitted, None, 2, 0, &|_| {}).unwrap();
    check.write(&run).unwrap();
    let mut warnings = Vec::new();
    let l = load(&run, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(l.checks.len(), 1);
    let caption = coverage_caption(std::slice::from_ref(&l));
    assert!(
        caption.contains("Coverage of the true Δw_stim by the shaded band — fit: correct trials"),
        "{caption}"
    );
    let error = caption.split("error trials ").nth(1).expect(&caption);
    let (covered, rest) = error.split_once('/').unwrap();
    let visited = rest.split_once(' ').unwrap().0;
    assert!(visited.parse::<usize>().unwrap() > 0, "{caption}");
    assert_eq!(covered, visited, "{caption}");
    let out = tmp.path().join("report");
    let report = write_report(&[run], &out, &ReportOptions::default()).unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(
        html.contains("cohorts from the fitted rule (2 refits)"),
        "the check is named"
    );
}

/// Runs cross-validated over animals and scored on held-out sessions get both comparisons:
/// across animals on their held-out sessions first, then across the held-out animals (each
/// scored by the fold that left it out) — in the HTML, comparison.md and comparison.csv.
#[test]
fn cross_validated_runs_are_also_compared_on_held_out_animals() {
    let tmp = tempfile::tempdir().unwrap();
    f64_device_first();
    let config = CohortConfig {
        animals: 6,
        trials: 300,
        session_min: 100,
        session_max: 100,
        seed: 8,
        ..Default::default()
    };
    let rule = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
    let cohort = denovo_sim::simulate(&rule, &config).unwrap();
    let data = tmp.path().join("sim.csv");
    denovo_sim::write_cohort(&cohort, &data, denovo_data::Format::TrialsCsv).unwrap();
    let mut dirs = Vec::new();
    for kind in [RuleKind::Reinforce, RuleKind::ReinforceBaseline] {
        let mut spec = FitSpec::new(&data, ModelSpec::parametric(kind));
        spec.split.holdout_sessions = 0.34;
        spec.split.folds = 3;
        spec.training.epochs = Some(20);
        let dir = tmp.path().join(format!("{kind:?}"));
        RunDir::save(&dir, &fit(&spec).unwrap(), false).unwrap();
        dirs.push(dir);
    }
    let out = tmp.path().join("report");
    let report = write_report(&dirs, &out, &ReportOptions::default()).unwrap();
    let html = std::fs::read_to_string(&report.html).unwrap();
    assert!(
        html.contains("on their <b>held-out animals</b>"),
        "second table"
    );
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    let bases: Vec<&str> = (csv.lines().skip(1))
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(
        bases,
        vec![
            "held-out sessions",
            "held-out sessions",
            "held-out animals",
            "held-out animals"
        ]
    );
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(md.contains("held-out animals"), "{md}");
}

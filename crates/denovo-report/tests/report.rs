//! The report of real (small) fits, the stand-alone figures, and every error a user can
//! run into, each naming what to look at.

use base64::Engine;
use denovo_report::{ReportError, ReportOptions, learning_curve, twin_figure, write_report};
use denovo_rules::RuleKind;
use denovo_study::{Distribution, FitSpec, ModelSpec, RunDir, fit};
use std::path::{Path, PathBuf};

/// A small simulated cohort (4 animals × 600 trials in sessions of 100–150) in `dir`.
fn cohort(dir: &Path) -> PathBuf {
    let path = dir.join("cohort.csv");
    denovo_sim::write_cohort(&simulated(4, 3), &path, denovo_data::Format::TrialsCsv).unwrap();
    path
}

/// `animals` × 600 trials in sessions of 100–150, by REINFORCE (α = 0.05), seeded.
fn simulated(animals: usize, seed: u64) -> denovo_sim::SimulatedCohort {
    denovo_sim::simulate(
        &denovo_rules::RuleSpec::initial(RuleKind::Reinforce, 2, 0.05),
        &denovo_sim::CohortConfig {
            animals,
            trials: 600,
            session_min: 100,
            session_max: 150,
            seed,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Fits `model` to `data` (the last 20% of sessions held out, `epochs` epochs) and stores
/// the run as `dir/name`.
fn fit_run(data: &Path, dir: &Path, name: &str, model: ModelSpec, epochs: usize) -> PathBuf {
    let mut spec = FitSpec::new(data, model);
    spec.split.holdout_sessions = 0.2;
    spec.training.epochs = Some(epochs);
    let run = dir.join(name);
    RunDir::save(&run, &fit(&spec).unwrap(), false).unwrap();
    run
}

fn parametric_run(dir: &Path) -> PathBuf {
    let data = cohort(dir);
    fit_run(
        &data,
        dir,
        "reinforce",
        ModelSpec::parametric(RuleKind::Reinforce),
        50,
    )
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_default();
    assert!(bytes.len() > 1000, "{} missing or empty", path.display());
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
}

fn assert_svg(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(text.len() > 1000, "{} missing or empty", path.display());
    assert!(
        text.contains("<svg") && text.trim_end().ends_with("</svg>"),
        "{} is not an SVG",
        path.display()
    );
}

/// A parametric and a DNN run: every figure as PNG and SVG, no history figure without an
/// RNN, and report.html embeds one decodable PNG per figure with the comparison's tests.
#[test]
fn report_of_a_parametric_and_a_dnn_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = cohort(d);
    let runs = vec![
        fit_run(
            &data,
            d,
            "reinforce",
            ModelSpec::parametric(RuleKind::Reinforce),
            50,
        ),
        fit_run(
            &data,
            d,
            "dnn",
            ModelSpec {
                hidden: vec![8],
                ..ModelSpec::dnn()
            },
            5,
        ),
    ];
    let out = d.join("report");
    let summary = write_report(&runs, &out, &ReportOptions::default()).unwrap();
    let expected = [
        "learning_curves_reinforce",
        "weights_reinforce",
        "learning_curves_dnn",
        "weights_dnn",
        "rule",
        "comparison",
    ];
    assert_eq!(summary.html, out.join("report.html"));
    assert_eq!((summary.runs, summary.figures), (2, expected.len()));
    for name in expected {
        assert_png(&out.join(format!("{name}.png")));
        assert_svg(&out.join(format!("{name}.svg")));
    }
    assert!(!out.join("rule_history.png").exists(), "no RNN run");

    let html = std::fs::read_to_string(&summary.html).unwrap();
    assert_eq!(html.matches("<img ").count(), expected.len());
    for name in expected {
        assert!(
            html.contains(&format!("<a href=\"{name}.svg\">SVG</a>")),
            "{name}.svg linked"
        );
    }
    for chunk in html.split("src=\"data:image/png;base64,").skip(1) {
        let b64 = &chunk[..chunk.find('"').unwrap()];
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "an embedded image is a PNG");
    }
    assert!(html.contains("Wilcoxon") && html.contains("paired t-test"));
    assert!(
        html.contains("held-out sessions"),
        "compared on held-out sessions"
    );
    assert!(
        html.contains(data.to_str().unwrap()),
        "the runs table names the data"
    );
}

/// Two runs of the same name get distinct labels and figure files; `animals` and `history`
/// (without an RNN) change nothing else.
#[test]
fn repeated_run_names_get_distinct_figures() {
    let dir = tempfile::tempdir().unwrap();
    let run = parametric_run(dir.path());
    let out = dir.path().join("report");
    let options = ReportOptions {
        history: 0,
        animals: 1,
    };
    let summary = write_report(&[run.clone(), run], &out, &options).unwrap();
    assert_eq!((summary.runs, summary.figures), (2, 6));
    assert_png(&out.join("learning_curves_reinforce_2.png"));
    assert_svg(&out.join("weights_reinforce_2.svg"));
}

/// A run whose data file was moved away: the error names the run, the data file and what
/// to do.
#[test]
fn moved_data_is_reported_with_the_run_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = parametric_run(dir.path());
    let data = dir.path().join("cohort.csv");
    std::fs::rename(&data, dir.path().join("elsewhere.csv")).unwrap();
    let err = write_report(
        std::slice::from_ref(&run),
        &dir.path().join("report"),
        &Default::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ReportError::RunData { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&run.display().to_string())
            && msg.contains(&data.display().to_string())
            && msg.contains("move it back or refit"),
        "{msg}"
    );
}

/// Rewrites line `line` (1-based) of `path` with `edit`.
fn edit_line(path: &Path, line: usize, edit: impl FnOnce(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[line - 1] = edit(&lines[line - 1]);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// A damaged weights.csv: a value that is not a number, a truncated row, a missing
/// column, a missing file — each error names the file, and the line and column where
/// there is one.
#[test]
fn damaged_weights_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let run = parametric_run(dir.path());
    let weights = run.join("weights.csv");
    let original = std::fs::read_to_string(&weights).unwrap();
    let out = dir.path().join("report");
    let report =
        || write_report(std::slice::from_ref(&run), &out, &ReportOptions::default()).unwrap_err();
    let file = weights.display().to_string();

    // Not a number: subject, session, date, number, index, trial, split, w_stim, w_bias.
    edit_line(&weights, 5, |l| {
        let mut f: Vec<&str> = l.split(',').collect();
        f[7] = "oops";
        f.join(",")
    });
    let err = report();
    assert!(
        matches!(err, ReportError::Weights { line: Some(5), .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&file)
            && msg.contains("line 5")
            && msg.contains("column 8 (`w_stim`)")
            && msg.contains("`oops` is not a number"),
        "{msg}"
    );

    // A truncated row.
    std::fs::write(&weights, &original).unwrap();
    edit_line(&weights, 7, |l| l.rsplit_once(',').unwrap().0.to_string());
    let err = report();
    assert!(
        matches!(err, ReportError::Weights { line: Some(7), .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&file)
            && msg.contains("line 7")
            && msg.contains("8 fields where the header has 9"),
        "{msg}"
    );

    // A row whose session is not the data's session at that trial (the data changed).
    std::fs::write(&weights, &original).unwrap();
    edit_line(&weights, 6, |l| {
        let mut f: Vec<String> = l.split(',').map(String::from).collect();
        f[1] = format!("{}0", f[1]);
        f.join(",")
    });
    let err = report();
    assert!(
        matches!(err, ReportError::Weights { line: Some(6), .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("the data changed since the fit"),
        "{err}"
    );

    // A missing column.
    std::fs::write(&weights, &original).unwrap();
    edit_line(&weights, 1, |l| l.replace("w_bias", "w_other"));
    let msg = report().to_string();
    assert!(
        msg.contains(&file) && msg.contains("line 1") && msg.contains("no `w_bias` column"),
        "{msg}"
    );

    // Rows missing at the end.
    let short: Vec<&str> = original.lines().collect();
    std::fs::write(&weights, short[..short.len() - 3].join("\n") + "\n").unwrap();
    let err = report();
    assert!(
        matches!(err, ReportError::Weights { line: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("but the data has"), "{err}");

    // No file at all.
    std::fs::remove_file(&weights).unwrap();
    let err = report();
    assert!(matches!(err, ReportError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&file), "{err}");
}

/// A folder that is not a run directory is reported through the study crate's error.
#[test]
fn a_folder_that_is_no_run_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_run = dir.path().join("empty");
    std::fs::create_dir(&not_a_run).unwrap();
    let err = write_report(
        std::slice::from_ref(&not_a_run),
        &dir.path().join("report"),
        &Default::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ReportError::Study(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&not_a_run.display().to_string())
            && msg.contains("not a denovo run directory"),
        "{msg}"
    );
}

/// An output folder that cannot be created is named.
#[test]
fn an_output_folder_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a_file");
    std::fs::write(&file, "not a folder").unwrap();
    let out = file.join("report");
    let err = write_report(&[], &out, &Default::default()).unwrap_err();
    assert!(matches!(err, ReportError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&out.display().to_string()),
        "{err}"
    );
}

/// The learning curve of a data set as PNG and SVG; any other extension is refused, and a
/// file that cannot be written is named.
#[test]
fn learning_curve_png_svg_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = denovo_data::load(&cohort(dir.path()), denovo_data::Format::Auto).unwrap();
    let png = dir.path().join("curve.png");
    let svg = dir.path().join("curve.SVG");
    learning_curve(&data, &png).unwrap();
    learning_curve(&data, &svg).unwrap();
    assert_png(&png);
    assert_svg(&svg);

    let jpg = dir.path().join("curve.jpg");
    let err = learning_curve(&data, &jpg).unwrap_err();
    assert!(matches!(err, ReportError::Extension { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&jpg.display().to_string()) && msg.contains(".png or .svg"),
        "{msg}"
    );
    assert!(!jpg.exists());

    let nowhere = dir.path().join("no/such/folder/curve.png");
    let err = learning_curve(&data, &nowhere).unwrap_err();
    assert!(matches!(err, ReportError::Plot(_)), "{err:?}");
    assert!(
        err.to_string().contains(&nowhere.display().to_string()),
        "{err}"
    );
}

/// The twins' figure: twin.png and twin.svg of 900 × 520 pixels, one CDF per group.
#[test]
fn twin_figure_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let groups = [
        Distribution::new(
            "twin reinforce under ibl",
            &[Some((1200, 4)), Some((900, 3)), None, Some((1500, 5))],
        ),
        Distribution::new("observed", &[Some((800, 3)), Some((1000, 4))]),
    ];
    twin_figure(&groups, dir.path()).unwrap();
    let png = dir.path().join("twin.png");
    assert_png(&png);
    let bytes = std::fs::read(&png).unwrap();
    // IHDR: width and height, big-endian, at bytes 16..24.
    let size = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (900, 520));
    let svg = std::fs::read_to_string(dir.path().join("twin.svg")).unwrap();
    assert!(svg.contains("width=\"900\"") && svg.contains("height=\"520\""));
    assert!(svg.contains("observed (n = 2)") && svg.contains("(n = 4)"));

    let err = twin_figure(&groups, &dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, ReportError::Plot(_)), "{err:?}");
    assert!(err.to_string().contains("twin.png"), "{err}");
}

/// Runs without a common held-out split are compared on their training trials, and the
/// report says that this is no comparison of predictions; runs of different animals say
/// that nothing is compared.
#[test]
fn the_comparison_warns_when_it_compares_no_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let data = cohort(dir.path());
    let held = fit_run(
        &data,
        dir.path(),
        "held",
        ModelSpec::parametric(RuleKind::Reinforce),
        30,
    );
    let mut spec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Rewardmax));
    spec.training.epochs = Some(30);
    let train_only = dir.path().join("train_only");
    RunDir::save(&train_only, &fit(&spec).unwrap(), false).unwrap();
    let options = ReportOptions::default();
    let out = dir.path().join("r1");
    write_report(&[held.clone(), train_only], &out, &options).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("Not a comparison of predictions"),
        "training-trial warning"
    );
    // Both held out: no warning.
    let out = dir.path().join("r2");
    write_report(&[held.clone(), held.clone()], &out, &options).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("class=\"warning\""));
    // Other animals: nothing common.
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = simulated(2, 9);
    let mut renamed = other.dataset.clone();
    for s in &mut renamed.subjects {
        s.name = format!("other_{}", s.name);
    }
    let other_data = other_dir.join("other.csv");
    denovo_data::save(&renamed, &other_data, denovo_data::Format::TrialsCsv).unwrap();
    let other_run = fit_run(
        &other_data,
        &other_dir,
        "run",
        ModelSpec::parametric(RuleKind::Reinforce),
        30,
    );
    let out = dir.path().join("r3");
    write_report(&[held, other_run], &out, &options).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("No animal is common to all runs"));
}

/// A psytrack run beside a parametric one: its weights figure draws the 95% bands from
/// weights.csv's `sd_` columns (captioned), its rule figure and the comparison include it.
#[test]
fn report_of_a_psytrack_run_draws_weight_bands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = cohort(d);
    let runs = vec![
        fit_run(
            &data,
            d,
            "reinforce",
            ModelSpec::parametric(RuleKind::Reinforce),
            20,
        ),
        fit_run(
            &data,
            d,
            "psytrack",
            ModelSpec::new(denovo_study::ModelKind::Psytrack),
            1,
        ),
    ];
    let header = std::fs::read_to_string(d.join("psytrack/weights.csv")).unwrap();
    assert!(header.lines().next().unwrap().ends_with("sd_stim,sd_bias"));
    let out = d.join("report");
    write_report(&runs, &out, &ReportOptions::default()).unwrap();
    assert_png(&out.join("weights_psytrack.png"));
    assert_svg(&out.join("weights_psytrack.svg"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("95% band"), "the bands are captioned");
    assert!(html.contains("psytrack"));
    // The runs table gives the fitted σ (with the summary's values), not only the LLs.
    let summary = RunDir::load(&runs[1]).unwrap().summary;
    let sigma: Vec<f64> = serde_json::from_value(summary.parameters["sigma"].clone()).unwrap();
    assert!(
        html.contains(&format!("σ = [{:.4}, {:.4}]", sigma[0], sigma[1])),
        "{sigma:?} not in the runs table"
    );
}

/// Runs fitted on different data, or scored on different trials of the same animals,
/// are still compared by animal name — and the report says so, naming both.
#[test]
fn the_comparison_warns_when_runs_are_not_paired_on_the_same_trials() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = cohort(d);
    let other = d.join("other.csv");
    denovo_sim::write_cohort(&simulated(4, 4), &other, denovo_data::Format::TrialsCsv).unwrap();
    let reinforce = || ModelSpec::parametric(RuleKind::Reinforce);
    let a = fit_run(&data, d, "a", reinforce(), 20);
    let b = fit_run(&data, d, "b", reinforce(), 20);
    let c = fit_run(&other, d, "c", reinforce(), 20);
    let mut spec = FitSpec::new(&data, reinforce());
    spec.split.holdout_sessions = 0.4;
    spec.training.epochs = Some(20);
    let e = d.join("e");
    RunDir::save(&e, &fit(&spec).unwrap(), false).unwrap();

    let same = write_report(&[a.clone(), b], &d.join("same"), &ReportOptions::default()).unwrap();
    assert!(
        !same
            .warnings
            .iter()
            .any(|w| w.contains("fitted on") || w.contains("different trials")),
        "{:?}",
        same.warnings
    );
    let data_differs =
        write_report(&[a.clone(), c], &d.join("data"), &ReportOptions::default()).unwrap();
    assert!(
        data_differs
            .warnings
            .iter()
            .any(|w| w.contains("a was fitted on")
                && w.contains("cohort.csv")
                && w.contains("other.csv")),
        "{:?}",
        data_differs.warnings
    );
    let split_differs = write_report(&[a, e], &d.join("split"), &ReportOptions::default()).unwrap();
    assert!(
        split_differs
            .warnings
            .iter()
            .any(|w| w.contains("a and e scored different trials on the held-out sessions")),
        "{:?}",
        split_differs.warnings
    );
}

/// A free and a gated DNN in folders that do not say which is which: every comparison
/// table (held-out sessions, then held-out animals; HTML, comparison.md, comparison.csv)
/// labels each run by its folder and its model with its structure, and says under the
/// table that the mean LL is a mean over animals.
#[test]
fn comparison_rows_name_the_folder_and_the_model_with_its_structure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = cohort(d);
    let fit_dnn = |name: &str, gate: denovo_study::Gate| {
        let mut spec = FitSpec::new(
            &data,
            ModelSpec {
                hidden: vec![4],
                gate,
                ..ModelSpec::dnn()
            },
        );
        spec.split.holdout_sessions = 0.2;
        spec.split.folds = 2;
        spec.training.epochs = Some(2);
        let run = d.join(name);
        RunDir::save(&run, &fit(&spec).unwrap(), false).unwrap();
        run
    };
    let runs = [
        fit_dnn("free", denovo_study::Gate::None),
        fit_dnn("gated", denovo_study::Gate::CorrectOnly),
    ];
    let out = d.join("report");
    let r = write_report(&runs, &out, &ReportOptions::default()).unwrap();
    let md = r.comparison.unwrap();
    // Two tables (held-out sessions across animals, then held-out animals), a row each.
    for row in [
        "| free (dnn) | animals (n = 4) |",
        "| gated (dnn[gate=correct-only]) | animals (n = 4) |",
    ] {
        assert_eq!(md.matches(row).count(), 2, "{row} not twice in {md}");
    }
    assert!(
        md.contains("| animal | free (dnn) | gated (dnn[gate=correct-only]) |"),
        "{md}"
    );
    assert!(md.contains("minus free (dnn)"), "{md}");
    // The mean LL says what it is a mean over, in the header and a note under each table.
    assert_eq!(
        md.matches("| mean LL (mean over animals) |").count(),
        2,
        "{md}"
    );
    assert_eq!(
        md.matches("Note: mean LL (mean over animals) is the mean of each animal's")
            .count(),
        2,
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(
        html.matches("<tr><td>gated (dnn[gate=correct-only])</td>")
            .count(),
        2,
        "{html}"
    );
    assert_eq!(html.matches("<td>free (dnn)</td>").count(), 2);
    assert_eq!(
        html.matches("<th>mean LL (mean over animals)</th>").count(),
        2
    );
    assert_eq!(
        html.matches("<p><i>Note:</i> mean LL (mean over animals)")
            .count(),
        2
    );
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5, "{csv}");
    assert_eq!(rows[0][14..], ["model", "reference_model"]);
    for row in &rows[1..] {
        assert_eq!(row.len(), 16, "{csv}");
        let want = match row[0] {
            "free" => "dnn",
            "gated" => "dnn[gate=correct-only]",
            other => panic!("run {other} in {csv}"),
        };
        assert_eq!((row[1], row[14], row[15]), ("free", want, "dnn"), "{csv}");
    }
}

/// One simulated animal (2,000 trials in sessions of 60–90, seeded) in `dir`.
fn one_animal(dir: &Path) -> PathBuf {
    let cohort = denovo_sim::simulate(
        &denovo_rules::RuleSpec::initial(RuleKind::Reinforce, 2, 0.05),
        &denovo_sim::CohortConfig {
            animals: 1,
            trials: 2000,
            session_min: 60,
            session_max: 90,
            seed: 7,
            ..Default::default()
        },
    )
    .unwrap();
    let path = dir.join("one.csv");
    denovo_sim::write_cohort(&cohort, &path, denovo_data::Format::TrialsCsv).unwrap();
    path
}

/// Runs that share a single animal are paired across its held-out sessions: the units are
/// the sessions of `summary.json`'s per-session scores, the table and `comparison.csv` say
/// so with n = sessions, the caption warns that sessions are not independent; a run that
/// held out more sessions leaves the extra ones out (named), and a run written before
/// per-session scores were stored falls back to the animal (one unit, no test) with a
/// warning.
#[test]
fn one_animal_is_compared_across_its_held_out_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = one_animal(d);
    let a = fit_run(
        &data,
        d,
        "a",
        ModelSpec::parametric(RuleKind::Reinforce),
        60,
    );
    let b = fit_run(
        &data,
        d,
        "b",
        ModelSpec::parametric(RuleKind::ReinforceBaseline),
        60,
    );
    let summary = |run: &Path| RunDir::load(run).unwrap().summary;
    let held = summary(&a).heldout_sessions.unwrap();
    let animal = &held.per_animal[0];
    let n = animal.per_session.len();
    assert!(n >= 5, "{n} held-out sessions");
    assert_eq!(animal.sessions.len(), n);
    // The per-session scores add up to the animal's.
    let trials: usize = animal.per_session.iter().map(|s| s.trials).sum();
    let ll: f64 = (animal.per_session.iter())
        .map(|s| s.ll_per_trial * s.trials as f64)
        .sum();
    assert_eq!(trials, animal.trials);
    assert!((ll / trials as f64 - animal.ll_per_trial).abs() < 1e-9);

    let out = d.join("report");
    let r = write_report(&[a.clone(), b.clone()], &out, &ReportOptions::default()).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let md = r.comparison.unwrap();
    let across = format!("held-out sessions of sim001 (n = {n} sessions)");
    assert!(md.contains(&across), "{md}");
    assert!(md.contains("not independent"), "{md}");
    assert!(
        md.contains("| a (reinforce) | held-out sessions of sim001")
            && md.contains("| b (reinforce-baseline) | held-out sessions of sim001"),
        "{md}"
    );
    assert!(md.contains("| mean LL (mean over sessions) |"), "{md}");
    assert!(
        md.contains("Note: mean LL (mean over sessions) is the mean of each held-out session's"),
        "{md}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("comparison.md")).unwrap(),
        md
    );
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert_eq!(rows[0][3..6], ["paired_across", "subject", "n"]);
    let n_text = n.to_string();
    assert_eq!(
        rows[2][..6],
        [
            "b",
            "a",
            "held-out sessions of sim001",
            "sessions",
            "sim001",
            &n_text
        ]
    );
    // The CSV's mean difference is the mean over sessions of b − a.
    let per = |run: &Path| -> Vec<f64> {
        let h = summary(run).heldout_sessions.unwrap();
        h.per_animal[0]
            .per_session
            .iter()
            .map(|s| s.ll_per_trial)
            .collect()
    };
    let (la, lb) = (per(&a), per(&b));
    let want = lb.iter().zip(&la).map(|(x, y)| x - y).sum::<f64>() / n as f64;
    let got: f64 = rows[2][7].parse().unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    assert!(rows[2][8].parse::<f64>().unwrap() < got && got < rows[2][9].parse().unwrap());
    for p in &rows[2][10..14] {
        let p: f64 = p.parse().unwrap();
        assert!((0.0..=1.0).contains(&p), "{csv}");
    }
    assert_eq!(rows[2][14..], ["reinforce-baseline", "reinforce"], "{csv}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(&across) && html.contains("serial correlation"));
    assert!(html.contains("<p><i>Note:</i> mean LL (mean over sessions)"));
    assert!(html.contains("Model comparison across held-out sessions of sim001"));

    // Another split: the sessions only one run scored are named and left out.
    let mut spec = FitSpec::new(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.split.holdout_sessions = 0.4;
    spec.training.epochs = Some(60);
    let e = d.join("e");
    RunDir::save(&e, &fit(&spec).unwrap(), false).unwrap();
    let r = write_report(&[a.clone(), e], &d.join("split"), &ReportOptions::default()).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("held-out session(s) of sim001 are left out")),
        "{:?}",
        r.warnings
    );
    assert!(
        r.comparison
            .unwrap()
            .contains("held-out sessions of sim001 (n = ")
    );

    // A run written before per-session scores were stored.
    let old = d.join("old");
    std::fs::create_dir_all(&old).unwrap();
    for f in std::fs::read_dir(&b).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, old.join(f.file_name().unwrap())).unwrap();
        }
    }
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(old.join("summary.json")).unwrap()).unwrap();
    json["heldout_sessions"]["per_animal"][0]
        .as_object_mut()
        .unwrap()
        .remove("per_session");
    std::fs::write(old.join("summary.json"), json.to_string()).unwrap();
    let r = write_report(&[a, old], &d.join("old_report"), &ReportOptions::default()).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("stored no per-session")),
        "{:?}",
        r.warnings
    );
    assert!(r.comparison.unwrap().contains("animals (n = 1)"));
}

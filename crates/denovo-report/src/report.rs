//! The report of fitted runs: figures (PNG + SVG) and one self-contained `report.html`.

use crate::ReportError;
use crate::panels::{GREY, Panel, XTicks, draw_panels, grid_size};
use base64::Engine;
use denovo_data::{DesignMatrix, DesignOptions, SubjectDesign};
use denovo_study::compare::{PairedGreater, paired_greater, sessions_table};
use denovo_study::{Model, ReadBackend, Run, RunDir, SessionScore, SplitScore, Truth, with_model};
use denovo_train::readout::{Point, read_out};
use plotters::prelude::*;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Settings of [`write_report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// Read RNN rules out after this many rewarded and after this many unrewarded trials
    /// (the `rule_history` figure; 0 leaves it out). Default 3.
    pub history: usize,
    /// At most this many animals of each run get their own panels in the learning-curve
    /// and weight figures. Default 6.
    pub animals: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            history: 3,
            animals: 6,
        }
    }
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// The HTML report, `<out>/report.html`.
    pub html: PathBuf,
    /// Figures written, each as PNG and SVG (and embedded once in the HTML).
    pub figures: usize,
    /// Runs reported.
    pub runs: usize,
    /// The runs' comparison as markdown (also written as `comparison.md`, with
    /// `comparison.csv`): per-unit LL per trial and every run against the first — across
    /// animals, or, when the runs share a single animal and scored held-out sessions, across
    /// that animal's held-out sessions. `None` for a sweep's report (its comparison is the
    /// sweep's own).
    pub comparison: Option<String>,
    /// The truth sidecars drawn (simulated data): the true rule on the rule figure, the
    /// true w_t on the weights figures. Empty when no run's data carry one.
    pub truth: Vec<PathBuf>,
    /// What the report left out and why (e.g. a truth sidecar that could not be read);
    /// each names the file. Also shown at the top of `report.html`.
    pub warnings: Vec<String>,
}

/// One run with its data and weight trajectories.
pub(crate) struct Loaded {
    run: Run,
    label: String,
    design: DesignMatrix,
    /// Per design subject: w_t per trial, and the index of the first held-out trial.
    weights: Vec<Trajectory>,
    /// The simulation's truth beside the run's data, when there is one that fits the
    /// run's regressors.
    pub(crate) truth: Option<Truth>,
    /// The run's ensemble members (`RUN_DIR/replicates/`; empty without).
    members: Vec<Run>,
    /// Every member's w_t on every trial of the design's animals,
    /// `[members][animals][trials][features]` (empty without members).
    member_weights: denovo_study::ensemble::MemberWeights,
    /// `denovo check`'s checks (`RUN_DIR/checks/*`: verdicts, refits, generators); empty
    /// when the run has not been checked.
    pub(crate) checks: Vec<denovo_study::LoadedCheck>,
}

/// One animal's weights from `weights.csv`: w_t per trial (followed, for runs that write
/// `sd_<regressor>` columns — psytrack — by the posterior SDs, so a row holds 2K values),
/// and the index of the first held-out trial.
type Trajectory = (Vec<Vec<f64>>, usize);

/// A written figure.
struct Figure {
    title: String,
    caption: String,
    png: PathBuf,
    svg: PathBuf,
}

/// Draws with `$draw(root, args…)` to `<dir>/<name>.png` and `.svg`.
macro_rules! both {
    ($dir:expr, $name:expr, $size:expr, $draw:ident ( $($arg:expr),* )) => {{
        let png = $dir.join(format!("{}.png", $name));
        $draw(BitMapBackend::new(&png, $size).into_drawing_area(), $($arg),*)
            .map_err(|e| ReportError::plot(&png, e))?;
        let svg = $dir.join(format!("{}.svg", $name));
        $draw(SVGBackend::new(&svg, $size).into_drawing_area(), $($arg),*)
            .map_err(|e| ReportError::plot(&svg, e))?;
        (png, svg)
    }};
}

/// Writes the report of the run directories `runs` (of `denovo fit` /
/// [`RunDir::save`]; the first is the reference of the comparison) into the folder `out`
/// (created): every figure as `<name>.png` and `<name>.svg`, and `report.html`, which
/// embeds the PNGs (base64) and opens in any browser.
///
/// Figures, for every run (its label is the run directory's name, `_2`, `_3`… appended
/// to repeated names): `learning_curves_<run>` (observed fraction correct per session
/// vs the model's predicted fraction, the mean p(correct) under the model's own weight
/// trajectory, pooled and per animal) and `weights_<run>` (the weight trajectories w_t
/// over trials, sessions marked, held-out trials shaded); for all runs together: `rule`
/// (Δw of the stimulus weight against the stimulus input, correct vs error trials, at
/// w = 0, 1, 2 — the same grid for every run), `rule_history` (when an RNN run is among
/// them and [`ReportOptions::history`] > 0: after K rewarded vs K unrewarded trials) and
/// `comparison` (log-likelihood per trial, in nats, per animal — on the held-out sessions
/// when every run has them, else the held-out animals, else the training trials — with
/// the paired differences to the first run: mean, 95% CI, paired t-test and Wilcoxon
/// signed-rank test). The HTML also tables every run's LL per trial on each split.
///
/// Each run's data is read again from the path its `summary.json` names, so the report
/// must be written where that path resolves (relative paths: from the working directory
/// of the fit).
///
/// Errors: [`ReportError::Study`] (not a run directory, a failed fit, a damaged
/// `summary.json` or `model.mpk`), [`ReportError::RunData`] (the run's data was moved or
/// changed), [`ReportError::Data`] (its regressors cannot be built from the data),
/// [`ReportError::Weights`] (a missing or damaged `weights.csv`, naming line and column),
/// [`ReportError::Plot`] and [`ReportError::Io`] (naming the file that could not be
/// written).
pub fn write_report(
    runs: &[PathBuf],
    out: &Path,
    options: &ReportOptions,
) -> Result<ReportSummary, ReportError> {
    write_report_with(runs, None, out, options, None)
}

/// A sweep's part of a report ([`write_report_with`]): its HTML section and its held-out
/// per-animal comparison, which replaces the runs' own (the runs are fold 0's tasks, scored
/// on the trials they were fitted to).
pub(crate) struct SweepPart<'a> {
    /// HTML placed before the runs' table.
    pub section: &'a str,
    /// The sweep's held-out comparison, drawn instead of the runs'.
    pub heldout: Comparison,
}

/// [`write_report`] with the runs' labels given (`labels[i]` for `runs[i]`, instead of
/// the directories' names) and, for a sweep, its section (HTML) placed before the runs'
/// table and its held-out comparison figure instead of the runs' "Model comparison".
pub(crate) fn write_report_with(
    runs: &[PathBuf],
    labels: Option<&[String]>,
    out: &Path,
    options: &ReportOptions,
    sweep: Option<SweepPart<'_>>,
) -> Result<ReportSummary, ReportError> {
    let mut loaded = Vec::new();
    let mut warnings = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, dir) in runs.iter().enumerate() {
        let mut l = load(dir, &mut warnings)?;
        if let Some(label) = labels.and_then(|l| l.get(i)) {
            l.label = label.clone();
        }
        let n = seen.entry(l.label.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            l.label = format!("{}_{}", l.label, n);
        }
        loaded.push(l);
    }
    // Only once every run has loaded: a failed report leaves no empty folder behind.
    std::fs::create_dir_all(out).map_err(ReportError::io(out))?;
    let mut figures = Vec::new();
    for l in &loaded {
        figures.push(learning_figure(out, l, options.animals)?);
        figures.push(weights_figure(out, l, options.animals)?);
    }
    // Random walks (psytrack) have no rule to read out: no figure when every run is one.
    if loaded.iter().any(|l| !is_walk(l)) {
        figures.push(rule_figure(out, &loaded, None)?);
    }
    if loaded.iter().any(|l| l.run.rule.has_history()) && options.history > 0 {
        figures.push(rule_figure(out, &loaded, Some(options.history))?);
    }
    let (section, comparison, own) = match sweep {
        Some(part) => (Some(part.section), part.heldout, false),
        None => {
            let (c, w) = comparison_and_warnings(&loaded);
            warnings.extend(w);
            (None, c, true)
        }
    };
    figures.push(comparison_figure(out, &comparison)?);
    let animals = own
        .then(|| animals_comparison(&loaded, &comparison))
        .flatten();
    let truths = distinct_truths(&loaded);
    let own = own.then_some(&comparison);
    let html = html(
        &loaded,
        &figures,
        own,
        animals.as_ref(),
        &truths,
        &warnings,
        section,
    )?;
    let path = out.join("report.html");
    std::fs::write(&path, html).map_err(ReportError::io(&path))?;
    let comparison_md = own.map(|c| {
        let mut md = crate::paired_table::markdown(c);
        if let Some(a) = &animals {
            md.push('\n');
            md.push_str(&crate::paired_table::markdown(a));
        }
        md
    });
    if let (Some(c), Some(md)) = (own, &comparison_md) {
        let mut csv = crate::paired_table::csv(c);
        if let Some(a) = &animals {
            let more = crate::paired_table::csv(a);
            csv.push_str(more.split_once('\n').map_or("", |(_, rows)| rows));
        }
        for (name, text) in [("comparison.md", md.clone()), ("comparison.csv", csv)] {
            let file = out.join(name);
            std::fs::write(&file, text).map_err(ReportError::io(&file))?;
        }
    }
    Ok(ReportSummary {
        html: path,
        figures: figures.len(),
        runs: loaded.len(),
        comparison: comparison_md,
        truth: truths.iter().map(|t| t.path.clone()).collect(),
        warnings,
    })
}

/// The runs' truths, each sidecar once, in the order of the runs.
fn distinct_truths(runs: &[Loaded]) -> Vec<&Truth> {
    let mut truths: Vec<&Truth> = Vec::new();
    for t in runs.iter().filter_map(|l| l.truth.as_ref()) {
        if !truths.iter().any(|u| u.path == t.path) {
            truths.push(t);
        }
    }
    truths
}

/// The truth beside a run's data, when its sidecar exists, reads, and is about the run's
/// regressors and animals; otherwise `None`, with a warning naming the sidecar when one
/// exists but cannot be used.
fn truth_of(
    dir: &Path,
    data_path: &Path,
    format: denovo_data::Format,
    design: &DesignMatrix,
    warnings: &mut Vec<String>,
) -> Option<Truth> {
    let mut warn = |path: &Path, why: String| {
        warnings.push(format!(
            "{}: the truth beside the data of {} is not drawn: {why}",
            path.display(),
            dir.display()
        ));
    };
    let truth = match Truth::beside(data_path, format) {
        Ok(t) => t?,
        Err(e) => {
            let path = Truth::sidecar(data_path, format);
            let why = e.to_string();
            // The error names the file already; keep only the reason.
            let prefix = format!("{}: ", path.display());
            warn(&path, why.strip_prefix(&prefix).unwrap_or(&why).to_string());
            return None;
        }
    };
    if truth.regressors != design.names {
        warn(
            &truth.path,
            format!(
                "its weights are for {}, the run's regressors are {}",
                truth.regressors.join(", "),
                design.names.join(", ")
            ),
        );
        return None;
    }
    if let Some(s) = design.subjects.iter().find(|s| {
        truth
            .trajectory(&s.subject)
            .is_none_or(|w| w.len() < s.n_trials())
    }) {
        warn(
            &truth.path,
            format!("it has no true weights for every trial of {}", s.subject),
        );
        return None;
    }
    Some(truth)
}

pub(crate) fn load(dir: &Path, warnings: &mut Vec<String>) -> Result<Loaded, ReportError> {
    let run = RunDir::load(dir)?;
    let data_path = PathBuf::from(&run.summary.data);
    let options = denovo_data::LoadOptions {
        format: run.summary.format,
        revision: run.summary.revision.clone(),
        collection: run.summary.collection.clone(),
    };
    let mut data =
        denovo_data::load_with(&data_path, &options).map_err(|source| ReportError::RunData {
            run: dir.to_path_buf(),
            data: data_path.clone(),
            source: Box::new(source),
        })?;
    // A run fitted to some of the file's animals (a sweep task: the other folds' animals)
    // is drawn on those.
    let fitted = &run.summary.subjects;
    if !fitted.is_empty() && fitted.len() < data.subjects.len() {
        data.subjects.retain(|s| fitted.contains(&s.name));
    }
    let names: Vec<&str> = run.regressors().iter().map(String::as_str).collect();
    let design = data.design(&DesignOptions::from_names(&names)?)?;
    let weights = read_weights(&dir.join("weights.csv"), &design)?;
    let truth = truth_of(dir, &data_path, data.format, &design, warnings);
    let label = dir.file_name().map_or_else(
        || run.model().to_string(),
        |f| f.to_string_lossy().to_string(),
    );
    let members = denovo_study::ensemble::load_replicates(dir).unwrap_or_else(|e| {
        warnings.push(format!(
            "{}: its replicates are not drawn: {e}",
            dir.display()
        ));
        Vec::new()
    });
    let subjects: Vec<&SubjectDesign> = design.subjects.iter().collect();
    let member_weights =
        denovo_study::ensemble::member_trajectories(&members, run.regressors(), &subjects)
            .unwrap_or_else(|e| {
                warnings.push(format!("{}: no weight bands: {e}", dir.display()));
                Vec::new()
            });
    let checks = denovo_study::load_checks(dir).unwrap_or_else(|e| {
        warnings.push(format!(
            "{}: the checks' verdicts and bands are not shown: {e}",
            dir.display()
        ));
        Vec::new()
    });
    Ok(Loaded {
        run,
        label,
        design,
        weights,
        truth,
        members,
        member_weights,
        checks,
    })
}

/// Reads `weights.csv` back, per design subject in order.
fn read_weights(path: &Path, design: &DesignMatrix) -> Result<Vec<Trajectory>, ReportError> {
    let file = std::fs::File::open(path).map_err(ReportError::io(path))?;
    let mut reader = csv::Reader::from_reader(file);
    let header = reader
        .headers()
        .map_err(|e| ReportError::weights(path, Some(1), csv_reason(&e)))?
        .clone();
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            let found: Vec<&str> = header.iter().collect();
            ReportError::weights(
                path,
                Some(1),
                format!("no `{name}` column (columns found: {})", found.join(", ")),
            )
        })
    };
    let (subject, split) = (col("subject")?, col("split")?);
    // Runs since `denovo.fit/2` key every row's session (`<date>/<number>`): each row must
    // name the session the data has at that trial, or the data changed since the fit.
    let session = header
        .iter()
        .any(|h| h == "date")
        .then(|| col("session"))
        .transpose()?;
    let mut keys: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    let w_cols: Vec<usize> = design
        .names
        .iter()
        .map(|n| col(&format!("w_{n}")))
        .collect::<Result<_, _>>()?;
    // Posterior SDs (psytrack runs), appended to w when every regressor has one.
    let sd_cols: Option<Vec<usize>> = design
        .names
        .iter()
        .map(|n| col(&format!("sd_{n}")).ok())
        .collect();
    let w_cols: Vec<usize> = w_cols
        .into_iter()
        .chain(sd_cols.unwrap_or_default())
        .collect();
    let mut by_subject: HashMap<String, Trajectory> = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| {
            let at = e.position().map_or(line, |p| p.line() as usize);
            ReportError::weights(path, Some(at), csv_reason(&e))
        })?;
        if let Some(c) = session {
            (keys.entry(record[subject].to_string()).or_default())
                .push((record[c].to_string(), line));
        }
        let entry = by_subject
            .entry(record[subject].to_string())
            .or_insert_with(|| (Vec::new(), usize::MAX));
        if &record[split] != "train" && entry.1 == usize::MAX {
            entry.1 = entry.0.len();
        }
        let w = w_cols
            .iter()
            .map(|&c| {
                record[c].parse::<f64>().map_err(|_| {
                    ReportError::weights(
                        path,
                        Some(line),
                        format!(
                            "column {} (`{}`): `{}` is not a number",
                            c + 1,
                            &header[c],
                            &record[c]
                        ),
                    )
                })
            })
            .collect::<Result<Vec<f64>, _>>()?;
        entry.0.push(w);
    }
    design
        .subjects
        .iter()
        .map(|s| {
            let (w, end) = by_subject.remove(&s.subject).ok_or_else(|| {
                ReportError::weights(path, None, format!("no weights for subject {}", s.subject))
            })?;
            if w.len() != s.n_trials() {
                return Err(ReportError::weights(
                    path,
                    None,
                    format!(
                        "{} rows for {} but the data has {} trials: the data changed since the \
                         fit (e.g. a new ALF revision: pin the fit's with --revision) or is not \
                         the data of this run",
                        w.len(),
                        s.subject,
                        s.n_trials()
                    ),
                ));
            }
            for (t, (key, line)) in keys
                .remove(&s.subject)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let want = &s.session_keys[s.session[t]];
                if key != want {
                    return Err(ReportError::weights(
                        path,
                        Some(*line),
                        format!(
                            "{}: session `{key}` where the data has session `{want}` (the data \
                             changed since the fit, e.g. a new revision; refit it)",
                            s.subject
                        ),
                    ));
                }
            }
            Ok((w, end.min(s.n_trials())))
        })
        .collect()
}

/// What is wrong with a CSV row, without the parser's position prefix (the error names
/// the line itself).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where the header has {expected_len} (a damaged or truncated row)")
        }
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// Observed and predicted fraction correct per session of one animal.
fn session_curves(d: &SubjectDesign, w: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let n_sessions = d.session.iter().max().map_or(0, |m| m + 1);
    let mut sums = vec![(0.0, 0.0, 0usize); n_sessions];
    for t in 0..d.n_trials() {
        let z: f64 = w[t].iter().zip(d.row(t)).map(|(a, b)| a * b).sum();
        let p_right = 1.0 / (1.0 + (-z).exp());
        let right_correct = d.answer[t] == 1.0;
        let p_correct = if right_correct {
            p_right
        } else {
            1.0 - p_right
        };
        let s = &mut sums[d.session[t]];
        s.0 += f64::from(u8::from(d.choice[t] == d.answer[t]));
        s.1 += p_correct;
        s.2 += 1;
    }
    sums.iter()
        .filter(|s| s.2 > 0)
        .map(|s| (s.0 / s.2 as f64, s.1 / s.2 as f64))
        .unzip()
}

/// File-name-safe version of a label.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An animal's name with its observed and predicted fraction correct per session.
type AnimalCurve = (String, Vec<f64>, Vec<f64>);

/// A read-out condition: label, correct trial or not, history (k, rewarded).
type Condition = (String, bool, Option<(usize, bool)>);

fn learning_figure(out: &Path, l: &Loaded, max_animals: usize) -> Result<Figure, ReportError> {
    let curves: Vec<AnimalCurve> = l
        .design
        .subjects
        .iter()
        .zip(&l.weights)
        .map(|(d, (w, _))| {
            let (obs, pred) = session_curves(d, w);
            (d.subject.clone(), obs, pred)
        })
        .collect();
    let pooled = |pick: fn(&AnimalCurve) -> &Vec<f64>| -> Vec<(f64, f64)> {
        let n = curves.iter().map(|c| pick(c).len()).max().unwrap_or(0);
        (0..n)
            .filter_map(|s| {
                let v: Vec<f64> = curves
                    .iter()
                    .filter_map(|c| pick(c).get(s).copied())
                    .collect();
                (!v.is_empty()).then(|| ((s + 1) as f64, v.iter().sum::<f64>() / v.len() as f64))
            })
            .collect()
    };
    let series = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(s, &a)| ((s + 1) as f64, a))
            .collect()
    };
    let mut panels = vec![Panel {
        title: format!("all {} animal(s), mean per session", curves.len()),
        x_desc: "session".into(),
        y_desc: "fraction correct".into(),
        curves: vec![
            ("observed".into(), 0, false, pooled(|c| &c.1)),
            (
                format!("predicted ({})", l.run.label()),
                1,
                false,
                pooled(|c| &c.2),
            ),
        ],
        markers: vec![],
        shaded: None,
        dots_for: Some("observed".into()),
        bands_for: None,
        legend_below: false,
        x_ticks: XTicks::Integer,
        ranges: vec![],
        unvisited: vec![],
    }];
    for (name, obs, pred) in curves.iter().take(max_animals) {
        panels.push(Panel {
            title: name.clone(),
            x_desc: "session".into(),
            y_desc: "fraction correct".into(),
            curves: vec![
                ("observed".into(), 0, false, series(obs)),
                ("predicted".into(), 1, false, series(pred)),
            ],
            markers: vec![],
            shaded: None,
            dots_for: Some("observed".into()),
            bands_for: None,
            legend_below: false,
            x_ticks: XTicks::Integer,
            ranges: vec![],
            unvisited: vec![],
        });
    }
    let name = format!("learning_curves_{}", slug(&l.label));
    let (size, cols) = grid_size(panels.len());
    let title = format!("Learning curves — {} ({})", l.label, l.run.label());
    let (png, svg) = both!(out, name, size, draw_panels(&title, &panels, cols));
    Ok(Figure {
        title,
        caption: format!(
            "Fraction of correct choices per session: observed (black dots) and predicted by \
             the fitted {} (colored line: the mean of p(correct) under {}). First panel: mean \
             over animals; then up to {max_animals} animals.",
            l.run.label(),
            if has_noise(l) {
                "the posterior mean weights: on training sessions given all training trials, \
                 later ones included; on held-out sessions as they were scored (one step ahead \
                 from the trials before, or the last training weights carried forward)"
            } else {
                "the rule's own weight trajectory, which is driven by the animal's actual \
                 choices and rewards"
            }
        ),
        png,
        svg,
    })
}

/// The panels of a run's weights figure: per animal (up to `max_animals`), the fitted w_t
/// of every regressor, and beneath them, when the run has a truth, the true w_t as bands
/// labelled `truth w_<regressor>`.
pub(crate) fn weights_panels(l: &Loaded, max_animals: usize) -> Vec<Panel> {
    let mut panels = Vec::new();
    for (d, (w, train_end)) in l.design.subjects.iter().zip(&l.weights).take(max_animals) {
        let n = d.n_trials();
        let stride = n.div_ceil(1500).max(1);
        let series = |w: &[Vec<f64>], j: usize| -> Vec<(f64, f64)> {
            (0..n)
                .step_by(stride)
                .chain(std::iter::once(n.saturating_sub(1)))
                .map(|t| ((t + 1) as f64, w[t][j]))
                .collect()
        };
        let true_w = (l.truth.as_ref()).and_then(|t| t.trajectory(&d.subject));
        let mut curves: Vec<_> = (l.design.names.iter().enumerate())
            .filter_map(|(j, name)| {
                let w = true_w?;
                Some((format!("truth w_{name}"), j + 1, false, series(w, j)))
            })
            .collect();
        curves.extend(
            (l.design.names.iter().enumerate())
                .map(|(j, name)| (format!("w_{name}"), j + 1, false, series(w, j))),
        );
        // 95% bands (w ± 1.96 SD) as thin dashed lines, when the run has posterior SDs.
        let k = l.design.names.len();
        if w.first().is_some_and(|r| r.len() == 2 * k) {
            for j in 0..k {
                for sign in [-1.0, 1.0] {
                    let band: Vec<Vec<f64>> = w
                        .iter()
                        .map(|r| vec![r[j] + sign * 1.96 * r[k + j]])
                        .collect();
                    curves.push((String::new(), j + 1, true, series(&band, 0)));
                }
            }
        }
        let markers = (0..n)
            .filter(|&t| t > 0 && d.session_start[t])
            .map(|t| (t + 1) as f64)
            .collect();
        // The 2.5–97.5% range of the ensemble's members, per regressor.
        let a = panels.len();
        let ranges = (0..k)
            .filter(|_| !l.member_weights.is_empty())
            .map(|j| {
                let range = (0..n)
                    .step_by(stride)
                    .map(|t| {
                        let v: Vec<f64> = l.member_weights.iter().map(|m| m[a][t][j]).collect();
                        let (lo, hi) = percentile_range(v);
                        ((t + 1) as f64, lo, hi)
                    })
                    .collect();
                (j + 1, range)
            })
            .collect();
        panels.push(Panel {
            title: d.subject.clone(),
            x_desc: "trial".into(),
            y_desc: "weight".into(),
            curves,
            markers,
            shaded: (*train_end < n).then_some((*train_end as f64 + 1.0, n as f64)),
            dots_for: None,
            bands_for: true_w.map(|_| "truth".into()),
            legend_below: false,
            x_ticks: XTicks::Integer,
            ranges,
            unvisited: vec![],
        });
    }
    panels
}

/// The 2.5% and 97.5% percentiles of `v` (linearly interpolated; NaN when empty).
fn percentile_range(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |q: f64| {
        if v.is_empty() {
            return f64::NAN;
        }
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (pos - lo as f64) * (v[hi] - v[lo])
    };
    (q(0.025), q(0.975))
}

/// The index of the value of `values` nearest `v`, when within `tol` of it.
fn cell(values: &[f64], v: f64, tol: f64) -> Option<usize> {
    let (i, d) = (values.iter().enumerate())
        .map(|(i, g)| (i, (g - v).abs()))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    (d <= tol).then_some(i)
}

/// Half the smallest gap between neighbouring `values` (ascending), 0.5 for one value.
fn half_gap(values: &[f64]) -> f64 {
    (values.windows(2).map(|w| (w[1] - w[0]).abs()))
        .fold(f64::INFINITY, f64::min)
        .min(1.0)
        / 2.0
}

/// Training trials of `l` per cell of the rule figure, keyed (panel, x index, correct):
/// the primary weight w_t rounded to the nearest of the panels' `weights`, the primary
/// input x_t to the nearest of `xs` (within half their smallest gap), and the outcome.
fn figure_visits(l: &Loaded, weights: &[f64], xs: &[f64]) -> HashMap<(usize, usize, bool), usize> {
    let j = primary(&l.design.names);
    let k = l.design.names.len();
    let (tol_w, tol_x) = (half_gap(weights), half_gap(xs));
    let mut counts = HashMap::new();
    for (d, (w, train_end)) in l.design.subjects.iter().zip(&l.weights) {
        for (t, wt) in w.iter().enumerate().take(*train_end) {
            let (Some(p), Some(x)) = (cell(weights, wt[j], tol_w), cell(xs, d.x[t * k + j], tol_x))
            else {
                continue;
            };
            *counts.entry((p, x, d.reward[t] > 0.0)).or_insert(0) += 1;
        }
    }
    counts
}

fn weights_figure(out: &Path, l: &Loaded, max_animals: usize) -> Result<Figure, ReportError> {
    let panels = weights_panels(l, max_animals);
    let name = format!("weights_{}", slug(&l.label));
    let (size, cols) = grid_size(panels.len());
    let title = format!("Weight trajectories — {} ({})", l.label, l.run.label());
    let (png, svg) = both!(out, name, size, draw_panels(&title, &panels, cols));
    let mut caption = format!(
        "Policy weights w_t over trials under the fitted {} rule (one line per \
         regressor; thin vertical lines mark session starts; the shaded part is held out \
         from the fit). Up to {max_animals} animals.",
        l.run.label()
    );
    if !l.members.is_empty() {
        _ = write!(
            caption,
            " Shaded: the 2.5–97.5% range of w_t across the {} ensemble members \
             (RUN_DIR/replicates), each run on every animal's trials from its mean w0.",
            l.members.len()
        );
    }
    if l.weights.first().is_some_and(|(w, _)| {
        w.first()
            .is_some_and(|r| r.len() == 2 * l.design.names.len())
    }) {
        let held_out = if l.run.summary.parameters["scoring"].as_str() == Some("last-weights") {
            "on held-out trials the one-step-ahead filter's SD around the last training \
             weights, which are carried forward (the run is scored with them: --scoring \
             last-weights)"
        } else {
            "on held-out trials the one-step-ahead prediction"
        };
        _ = write!(
            caption,
            " Dashed lines: the 95% band (± 1.96 posterior SD) of every weight — on \
             training trials the Laplace posterior given all training trials, {held_out}."
        );
    }
    if let Some(t) = &l.truth {
        _ = write!(
            caption,
            " The wide pale lines are the true w_t of the simulation, in the same colour as \
             the fitted weight (from {}).",
            t.path.display()
        );
    }
    Ok(Figure {
        title,
        caption,
        png,
        svg,
    })
}

/// The regressor the rule figure is about: `stim` when present, else the first non-bias.
fn primary(names: &[String]) -> usize {
    names
        .iter()
        .position(|n| n == "stim")
        .or_else(|| names.iter().position(|n| n != "bias"))
        .unwrap_or(0)
}

/// The stimulus inputs of the rule figure on the IBL grid (signed contrasts through the
/// default stimulus transform, 0 left out) when no truth says otherwise.
pub(crate) fn ibl_rule_xs() -> Vec<f64> {
    [
        -1.0, -0.5, -0.25, -0.125, -0.0625, 0.0625, 0.125, 0.25, 0.5, 1.0,
    ]
    .iter()
    .map(|&c| denovo_data::stimulus_transform(c, denovo_data::DEFAULT_CONTRAST_GAIN))
    .collect()
}

/// The x points and the primary weights of the rule figures, the same for every run.
pub(crate) struct RuleGrid {
    /// The primary input's values: the stimuli of a simulation drawn from explicit values
    /// (the truth's [`StimulusSet::Values`](denovo_sim::StimulusSet), 0 included), else
    /// `None`: the IBL grid for `stim`, −1, −0.75, …, 1 without 0 for another regressor.
    pub(crate) stimuli: Option<Vec<f64>>,
    /// The values of the primary weight, one panel each: −2, −1, 0, 1, 2 with explicit
    /// stimuli (the paper's animals start at w_stim = −2), else 0, 1, 2.
    pub(crate) weights: Vec<f64>,
}

impl RuleGrid {
    /// The grid of `runs`: when the first run's primary regressor is `stim` and some of
    /// the runs' truths drew their stimuli from explicit values, those values (of every
    /// such truth, merged and sorted); otherwise the usual grid.
    pub(crate) fn of(runs: &[Loaded]) -> RuleGrid {
        let stim_primary = runs
            .first()
            .is_some_and(|l| l.design.names[primary(&l.design.names)] == "stim");
        let mut values: Vec<f64> = Vec::new();
        if stim_primary {
            for t in distinct_truths(runs) {
                values.extend(t.stimulus_values().unwrap_or_default());
            }
        }
        values.sort_by(f64::total_cmp);
        values.dedup();
        if values.is_empty() {
            RuleGrid {
                stimuli: None,
                weights: vec![0.0, 1.0, 2.0],
            }
        } else {
            RuleGrid {
                stimuli: Some(values),
                weights: vec![-2.0, -1.0, 0.0, 1.0, 2.0],
            }
        }
    }

    /// The primary input's values for a run with regressors `names`.
    fn xs(&self, names: &[String]) -> Vec<f64> {
        let j = primary(names);
        match &self.stimuli {
            Some(v) if names[j] == "stim" => v.clone(),
            _ if names[j] == "stim" => ibl_rule_xs(),
            _ => (0..=8)
                .map(|i| -1.0 + 0.25 * f64::from(i))
                .filter(|x| *x != 0.0)
                .collect(),
        }
    }

    /// Grid points for the rule figure: the primary input swept over [`RuleGrid::xs`],
    /// others 0 (bias 1), weights 0 except the primary at `w`, correct or error (the
    /// correct side is right iff the input is > 0, as in the simulator: 0 → left).
    fn points(&self, names: &[String], w: f64, correct: bool) -> (Vec<f64>, Vec<Point>) {
        let j = primary(names);
        let xs = self.xs(names);
        let points = xs
            .iter()
            .map(|&x| {
                let right = x > 0.0;
                let choice = f64::from(u8::from(right == correct));
                Point {
                    w: (0..names.len())
                        .map(|i| if i == j { w } else { 0.0 })
                        .collect(),
                    x: names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| {
                            if i == j {
                                x
                            } else if n == "bias" {
                                1.0
                            } else {
                                0.0
                            }
                        })
                        .collect(),
                    choice,
                    correct,
                }
            })
            .collect();
        (xs, points)
    }
}

/// The read-out conditions of the rule figure (`None`: correct vs error trials) or of the
/// history figure (correct trials after `h` rewarded vs `h` unrewarded ones).
fn conditions(history: Option<usize>) -> Vec<Condition> {
    match history {
        None => vec![
            ("correct".into(), true, None),
            ("error".into(), false, None),
        ],
        Some(h) => vec![
            (format!("correct after {h} rewarded"), true, Some((h, true))),
            (
                format!("correct after {h} unrewarded"),
                true,
                Some((h, false)),
            ),
        ],
    }
}

/// The panels of the rule figure (one per value of the primary weight, on
/// [`RuleGrid::of`] the runs) and the primary regressor's name: every run's read-out for
/// correct and error trials (or, with `history`, after rewarded and unrewarded histories:
/// only the runs whose rule has a history); each distinct truth of the runs beneath them
/// as black bands labelled `truth — <condition>`, read out on the same points and, with
/// `history`, after the same histories.
pub(crate) fn rule_panels(runs: &[Loaded], history: Option<usize>) -> (String, Vec<Panel>) {
    let grid = RuleGrid::of(runs);
    let mut panels = Vec::new();
    let primary_name = runs
        .first()
        .map(|l| l.design.names[primary(&l.design.names)].clone())
        .unwrap_or_default();
    let mut truths: Vec<(&Truth, &[String], &str)> = Vec::new();
    for l in runs {
        if let Some(t) = &l.truth
            && !truths.iter().any(|(u, _, _)| u.path == t.path)
        {
            truths.push((t, &l.design.names, &l.label));
        }
    }
    let visits: Vec<_> = (runs.iter())
        .map(|l| figure_visits(l, &grid.weights, &grid.xs(&l.design.names)))
        .collect();
    for (p, &w) in grid.weights.iter().enumerate() {
        let mut curves = Vec::new();
        let (mut ranges, mut unvisited) = (Vec::new(), Vec::new());
        for &(truth, names, label) in &truths {
            let j = primary(names);
            let who = if truths.len() > 1 {
                format!("truth of {label}")
            } else {
                "truth".into()
            };
            for (c, (what, correct, hist)) in conditions(history).into_iter().enumerate() {
                let (xs, points) = grid.points(names, w, correct);
                let delta = truth.read_out_history(&points, hist);
                let pts = xs.iter().zip(&delta).map(|(x, d)| (*x, d[j])).collect();
                curves.push((format!("{who} — {what}"), 0, c == 1, pts));
            }
        }
        for (i, l) in runs.iter().enumerate() {
            if is_walk(l) || (history.is_some() && !l.run.rule.has_history()) {
                continue;
            }
            let names = &l.design.names;
            let j = primary(names);
            let k = names.len();
            for (c, (what, correct, hist)) in conditions(history).into_iter().enumerate() {
                let (xs, points) = grid.points(names, w, correct);
                let delta =
                    with_model!(&l.run.rule, r => read_out::<ReadBackend, _>(r, &points, k, hist));
                let pts: Vec<(f64, f64)> = xs.iter().zip(&delta).map(|(x, d)| (*x, d[j])).collect();
                // The check's verdict on this slice (read-outs without a history only).
                let verdict = hist
                    .is_none()
                    .then(|| denovo_study::check::worst_slice(&l.checks, &names[j], correct))
                    .flatten();
                let colour = match verdict {
                    Some(v) if !v.identified() => GREY,
                    _ => i + 1,
                };
                if let Some(band) = run_band(l, &points, hist) {
                    let range = (pts.iter().zip(&band))
                        .map(|(&(xv, _), b)| (xv, b[j].0, b[j].1))
                        .collect();
                    ranges.push((colour, range));
                }
                if hist.is_none() {
                    let seen = |x: usize| visits[i].get(&(p, x, correct)).copied().unwrap_or(0) > 0;
                    unvisited.extend(
                        pts.iter()
                            .enumerate()
                            .filter(|(x, _)| !seen(*x))
                            .map(|(_, q)| *q),
                    );
                }
                let mark = verdict.map_or("", |v| {
                    if v.identified() {
                        " (identified)"
                    } else {
                        " (not identified)"
                    }
                });
                curves.push((format!("{} — {what}{mark}", l.label), colour, c == 1, pts));
            }
        }
        panels.push(Panel {
            title: format!("w_{primary_name} = {w}, other weights 0"),
            x_desc: format!("{primary_name} input x"),
            y_desc: format!("Δw_{primary_name}"),
            curves,
            markers: vec![],
            shaded: None,
            dots_for: None,
            bands_for: (!truths.is_empty()).then(|| "truth".into()),
            legend_below: true,
            x_ticks: XTicks::Auto,
            ranges,
            unvisited,
        });
    }
    (primary_name, panels)
}

/// A psytrack run: a random walk, whose mean Δw is 0 (no learning rule to read out).
/// Whether the run is a model with weight noise (psytrack, `*-noise`, `dnn-noise`,
/// `rnn-noise`): its weights.csv holds posterior means, and `summary.json` its σ.
fn has_noise(l: &Loaded) -> bool {
    l.run.summary.parameters.get("sigma").is_some()
}

fn is_walk(l: &Loaded) -> bool {
    !l.run.rule.kind().has_learning_rule()
}

fn rule_figure(out: &Path, runs: &[Loaded], history: Option<usize>) -> Result<Figure, ReportError> {
    let (primary_name, panels) = rule_panels(runs, history);
    let grid = RuleGrid::of(runs);
    let (name, title, mut caption) = match history {
        None => (
            "rule".to_string(),
            format!("Inferred learning rule: Δw_{primary_name} after one trial"),
            format!(
                "The fitted rules read out on one grid: the change of the {primary_name} \
                 weight after a trial, against that trial's {primary_name} input, for correct \
                 (solid) and error (dashed) trials, at {} of w_{primary_name} (the \
                 other weights at 0, the bias input 1). One colour per run; parametric rules \
                 are evaluated in closed form, neural rules from a fresh state; psytrack runs \
                 (random walks, mean Δw 0) have no rule and are not drawn.",
                if grid.stimuli.is_some() {
                    "the values −2, −1, 0, 1, 2".to_string()
                } else {
                    "three values".to_string()
                }
            ),
        ),
        Some(h) => {
            let drawn = runs.iter().filter(|l| l.run.rule.has_history());
            if drawn.clone().all(|l| matches!(l.run.rule, Model::Rnn(_))) {
                (
                    "rule_history".to_string(),
                    format!(
                        "RNN rules: Δw_{primary_name} after {h} rewarded vs {h} unrewarded trials"
                    ),
                    format!(
                        "The RNN read-out on correct trials after a history of {h} rewarded \
                         trials (solid) or {h} unrewarded trials (dashed) with the same \
                         weights: a history-free rule draws the two curves on top of each \
                         other."
                    ),
                )
            } else {
                let kinds: Vec<String> = drawn.map(|l| l.run.label()).collect();
                (
                    "rule_history".to_string(),
                    format!(
                        "Rules with a history: Δw_{primary_name} after {h} rewarded vs {h} \
                         unrewarded trials"
                    ),
                    format!(
                        "The read-out of the fitted rules that keep a history ({}) on correct \
                         trials after a history of {h} rewarded trials (solid) or {h} \
                         unrewarded trials (dashed) with the same weights: a history-free \
                         rule draws the two curves on top of each other.",
                        kinds.join(", ")
                    ),
                )
            }
        }
    };
    if let Some(v) = &grid.stimuli {
        _ = write!(
            caption,
            " The {primary_name} inputs are the simulation's stimulus values ({} from {} to {}).",
            v.len(),
            v[0],
            v[v.len() - 1]
        );
    }
    let truths = distinct_truths(runs);
    if !truths.is_empty() {
        let what: Vec<String> = (truths.iter())
            .map(|t| format!("{} (from {})", t.describe(), t.path.display()))
            .collect();
        let how = match history {
            None => "(solid: correct, dashed: error)".to_string(),
            Some(h) => {
                format!("after the same histories (solid: {h} rewarded, dashed: {h} unrewarded)")
            }
        };
        _ = write!(
            caption,
            " The wide pale black lines are the true rule of the simulation, read out on the \
             same points {how}: {}.",
            what.join("; ")
        );
    }
    let ensembles: Vec<String> = (runs.iter())
        .filter(|l| !l.members.is_empty())
        .map(|l| format!("{}: {}", l.label, l.members.len()))
        .collect();
    if !ensembles.is_empty() {
        _ = write!(
            caption,
            " Shaded: the 2.5–97.5% range of the read-out across the run's ensemble members \
             (RUN_DIR/replicates; members per run — {}) and the run's own fit, widened \
             where needed to contain the drawn curve; where the shaded range is wide the \
             data do not determine the rule.",
            ensembles.join(", ")
        );
    }
    if history.is_none() {
        caption.push_str(&check_caption(runs));
        caption.push_str(&coverage_caption(runs));
    }
    if history.is_none() {
        caption.push_str(
            " Hollow grey circles: read-outs in cells the run's training trials never visit \
             (the fitted w_t of that weight within half a panel step of the panel's value, \
             that input, that outcome) — there the curve is an extrapolation, not a finding.",
        );
    }
    let (size, cols) = grid_size(panels.len());
    let (png, svg) = both!(
        out,
        name,
        (size.0, size.1 + 80),
        draw_panels(&title, &panels, cols)
    );
    Ok(Figure {
        title,
        caption,
        png,
        svg,
    })
}

/// The band of run `l` at `points` ([`denovo_study::band::rule_band`]: its replicates'
/// range widened by its checks' errors); `None` without replicates and checks, or (with a
/// warning on stderr) when a member, refit or generator does not fit the run.
fn run_band(
    l: &Loaded,
    points: &[Point],
    hist: Option<(usize, bool)>,
) -> Option<denovo_study::band::BandRange> {
    denovo_study::band::rule_band(&l.run, &l.members, &l.checks, points, hist).unwrap_or_else(|e| {
        eprintln!("warning: {}: no band: {e}", l.label);
        None
    })
}

/// The rule figure's sentence on how well each run's band covers the simulation's true
/// Δw of the primary regressor over the figure's visited cells (runs with a truth and a
/// band only): per outcome, covered / visited cells, and how many uncovered cells lie in
/// slices no check marks "not identified" (there the figure draws a confident curve that
/// misses the truth).
pub(crate) fn coverage_caption(runs: &[Loaded]) -> String {
    let grid = RuleGrid::of(runs);
    let mut parts = Vec::new();
    for l in runs {
        let Some(truth) = &l.truth else { continue };
        if l.members.is_empty() && l.checks.is_empty() {
            continue;
        }
        let names = &l.design.names;
        let j = primary(names);
        let xs = grid.xs(names);
        let visits = figure_visits(l, &grid.weights, &xs);
        let mut line = Vec::new();
        for correct in [true, false] {
            let (mut cover, mut confident_misses) = (denovo_study::band::Coverage::default(), 0);
            let identified = denovo_study::check::worst_slice(&l.checks, &names[j], correct)
                .is_none_or(|v| v.identified());
            for (p, &w) in grid.weights.iter().enumerate() {
                let (_, points) = grid.points(names, w, correct);
                let Some(band) = run_band(l, &points, None) else {
                    continue;
                };
                let true_dw = truth.read_out_history(&points, None);
                let seen = (0..points.len())
                    .filter(|&x| visits.get(&(p, x, correct)).copied().unwrap_or(0) > 0);
                let c = denovo_study::band::coverage(&band, &true_dw, j, seen);
                cover.visited += c.visited;
                cover.covered += c.covered;
                if identified {
                    confident_misses += c.visited - c.covered;
                }
            }
            if cover.visited == 0 {
                continue;
            }
            line.push(format!(
                "{} trials {}/{} visited cells ({:.0}%){}",
                if correct { "correct" } else { "error" },
                cover.covered,
                cover.visited,
                100.0 * cover.fraction(),
                match (cover.visited - cover.covered, confident_misses) {
                    (0, _) => String::new(),
                    (_, 0) => ", the rest in a slice marked not identified".to_string(),
                    (_, m) => format!(", {m} missed where no check says not identified"),
                }
            ));
        }
        if !line.is_empty() {
            parts.push(format!("{}: {}", l.label, line.join("; ")));
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(
        " Coverage of the true Δw_{} by the shaded band — {}.",
        runs.first()
            .map(|l| l.design.names[primary(&l.design.names)].clone())
            .unwrap_or_default(),
        parts.join("; ")
    )
}

/// The rule figure's sentence on `denovo check`'s verdicts of the runs that have one
/// (empty when none has): per run, each slice of the primary regressor with its recovery
/// error as a share of the slice's RMS.
fn check_caption(runs: &[Loaded]) -> String {
    let mut parts = Vec::new();
    for l in runs {
        let name = &l.design.names[primary(&l.design.names)];
        for check in &l.checks {
            let c = &check.summary;
            let slices: Vec<String> = (c.slices.iter())
                .filter(|s| &s.regressor == name)
                .map(|s| {
                    let error = s.ratio.map_or_else(String::new, |r| {
                        format!(", error {:.1}% of its RMS", 100.0 * r)
                    });
                    format!("{}: {}{error}", s.name(), s.verdict)
                })
                .collect();
            parts.push(format!(
                "{}, cohorts from {} ({} refits) — {}",
                l.label,
                c.generator,
                c.replicates,
                slices.join("; ")
            ));
        }
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(
        " Recovery checks (denovo check: cohorts simulated on the run's own trials from the \
         fitted rule, or from another run's rule fitted on the same data, and refitted with \
         the run's settings; a slice is identified when the refits' RMS error over the \
         visited cells is ≤ {:.0}% of its RMS; a curve is marked by its worst check): {}. \
         Curves the data do not identify are drawn light grey and labelled \"not \
         identified\": their shape is not a finding. The shaded band is widened by each \
         check's errors (fit − mean error ± t·sd of the refits around their generator).",
        100.0 * denovo_study::check::IDENTIFIED_RATIO,
        parts.join("; ")
    )
}

/// Held-out log-likelihood per unit (animal, or held-out session of one animal) of every
/// run and the paired differences to the first run.
pub(crate) struct Comparison {
    /// Which score: "held-out sessions", "held-out animals" or "training trials".
    pub basis: String,
    /// What the runs are paired over.
    pub unit: Unit,
    /// The units' names: animals, or the session keys of [`Unit::Sessions`].
    pub subjects: Vec<String>,
    /// Per run: label (the run folder's name) and LL per trial of each unit (NaN where
    /// missing).
    pub runs: Vec<(String, Vec<f64>)>,
    /// Per run: its model with its structure ([`Run::label`], e.g. `dnn` or
    /// `dnn[gate=correct-only]`), so that runs whose folders do not say which variant they
    /// hold are told apart; empty where the labels name the models already (a sweep's).
    pub models: Vec<String>,
    /// Per run after the first: the paired comparison with the first, with the one-sided
    /// p-values of "the run predicts better".
    pub paired: Vec<PairedGreater>,
}

/// What a [`Comparison`] pairs the runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Animals (their LL per trial on the compared split).
    Animals,
    /// The held-out sessions of one animal (every run's LL per trial on each), when the
    /// runs have a single animal in common.
    Sessions {
        /// The animal.
        subject: String,
    },
}

impl Comparison {
    /// Run `i`'s label for the tables: its folder with its model, e.g.
    /// `gated (dnn[gate=correct-only])`, or the folder alone when no model is known.
    pub(crate) fn run_label(&self, i: usize) -> String {
        let folder = self.runs.get(i).map_or("", |r| r.0.as_str());
        match self.models.get(i) {
            Some(model) => format!("{folder} ({model})"),
            None => folder.to_string(),
        }
    }

    /// The name of one unit: "animal" or "session".
    pub(crate) fn unit_name(&self) -> &'static str {
        match self.unit {
            Unit::Animals => "animal",
            Unit::Sessions { .. } => "session",
        }
    }

    /// The note under the tables: their mean LL is the mean over units (animals or
    /// sessions) of each unit's LL per trial, not the runs table's LL per trial, which pools
    /// the trials of all animals.
    pub(crate) fn mean_note(&self) -> &'static str {
        match self.unit {
            Unit::Animals => {
                "mean LL (mean over animals) is the mean of each animal's log-likelihood per \
                 trial (nats/trial), every animal weighing the same; the LLs of the runs table \
                 pool the trials of all animals, where animals with more trials weigh more, so \
                 the two differ when animals have different numbers of trials."
            }
            Unit::Sessions { .. } => {
                "mean LL (mean over sessions) is the mean of each held-out session's \
                 log-likelihood per trial (nats/trial), every session weighing the same; the \
                 held-out sessions LL of the runs table pools their trials, where longer \
                 sessions weigh more, so the two differ when sessions have different numbers \
                 of trials."
            }
        }
    }

    /// What the rows pair, for tables and captions: "animals (n = 4)" or "held-out
    /// sessions of W053 (n = 16 sessions)".
    pub(crate) fn across(&self) -> String {
        let n = self.subjects.len();
        match &self.unit {
            Unit::Animals => format!("animals (n = {n})"),
            Unit::Sessions { subject } => {
                format!("held-out sessions of {subject} (n = {n} sessions)")
            }
        }
    }

    /// The caveat of a comparison across one animal's sessions (empty across animals).
    pub(crate) fn caveat(&self) -> &'static str {
        match self.unit {
            Unit::Animals => "",
            Unit::Sessions { .. } => {
                "Sessions of one animal are not independent samples (its state carries over \
                 from session to session: serial correlation), so the CI and p-values are \
                 indicative, not exact."
            }
        }
    }
}

fn per_animal(run: &Run, key: &str) -> Option<HashMap<String, f64>> {
    let rows = split(run, key)?;
    Some(
        rows.per_animal
            .iter()
            .filter(|r| r.ll_per_trial.is_finite())
            .map(|r| (r.subject.clone(), r.ll_per_trial))
            .collect(),
    )
}

/// A run's scores on the split `key` of `summary.json` (`train`, `heldout_sessions`,
/// `heldout_animals`), when it has that split.
fn split<'a>(run: &'a Run, key: &str) -> Option<&'a SplitScore> {
    let s = &run.summary;
    match key {
        "train" => Some(&s.train),
        "heldout_sessions" => s.heldout_sessions.as_ref(),
        "heldout_animals" => s.heldout_animals.as_ref(),
        _ => None,
    }
}

/// A run's per-session scores of `subject` on its held-out sessions (empty when the run has
/// none or was written before they were stored).
fn sessions_of<'a>(run: &'a Run, subject: &str) -> &'a [SessionScore] {
    split(run, "heldout_sessions")
        .and_then(|s| s.per_animal.iter().find(|a| a.subject == subject))
        .map_or(&[][..], |a| a.per_session.as_slice())
}

/// The comparison of `runs` ([`comparison`]) and what the report must warn about it. Runs
/// compared on their held-out sessions with a single animal in common are paired over that
/// animal's held-out sessions instead of across animals, when every run stored its
/// per-session scores; the warnings name the sessions not every run scored (left out), those
/// scored on different trials, and runs written before per-session scores were stored.
fn comparison_and_warnings(runs: &[Loaded]) -> (Comparison, Vec<String>) {
    let by_animal = comparison(runs);
    let mut warnings = pairing_warnings(runs, &by_animal);
    if by_animal.basis != "held-out sessions" || by_animal.subjects.len() != 1 {
        return (by_animal, warnings);
    }
    let subject = by_animal.subjects[0].clone();
    let per_run: Vec<&[SessionScore]> =
        runs.iter().map(|l| sessions_of(&l.run, &subject)).collect();
    let missing: Vec<String> = (runs.iter().zip(&per_run))
        .filter(|(_, s)| s.is_empty())
        .map(|(l, _)| l.label.clone())
        .collect();
    if !missing.is_empty() {
        if runs.len() > 1 {
            warnings.push(format!(
                "the runs share one animal ({subject}), but {} stored no per-session held-out \
                 scores (written before they were): no comparison across its held-out sessions; \
                 refit to get one",
                listed(&missing)
            ));
        }
        return (by_animal, warnings);
    }
    let table = sessions_table(&per_run);
    let first = runs[0].label.as_str();
    if !table.left_out.is_empty() && runs.len() > 1 {
        warnings.push(format!(
            "{} held-out session(s) of {subject} are left out of the comparison because not every \
             run scored them (did the runs use the same --holdout-sessions?): {}",
            table.left_out.len(),
            listed(&table.left_out)
        ));
    }
    if !table.trials_differ.is_empty() {
        warnings.push(format!(
            "{} held-out session(s) of {subject} were scored on different numbers of trials by \
             the runs (trials per run, {first} first): {}",
            table.trials_differ.len(),
            listed(&table.trials_differ)
        ));
    }
    let labels = runs.iter().map(|l| l.label.clone());
    let table_runs: Vec<(String, Vec<f64>)> = labels.zip(table.ll).collect();
    let paired = (table_runs.iter().skip(1))
        .map(|(_, v)| paired_greater(v, &table_runs[0].1))
        .collect();
    let c = Comparison {
        basis: format!("held-out sessions of {subject}"),
        unit: Unit::Sessions { subject },
        subjects: table.sessions,
        runs: table_runs,
        models: runs.iter().map(|l| l.run.label()).collect(),
        paired,
    };
    (c, warnings)
}

fn comparison(runs: &[Loaded]) -> Comparison {
    let keys = [
        ("heldout_sessions", "held-out sessions"),
        ("heldout_animals", "held-out animals"),
        ("train", "training trials"),
    ];
    let (key, basis) = keys
        .iter()
        .find(|(k, _)| runs.iter().all(|l| per_animal(&l.run, k).is_some()))
        .copied()
        .unwrap_or(("train", "training trials"));
    comparison_on(runs, key, basis)
}

/// The second comparison of runs that also scored held-out animals (cross-validation
/// folds) when the first is on held-out sessions: each animal's LL when it was left out
/// of the fit, paired across animals — the test a structural hypothesis needs (does the
/// rule generalise to new animals?). `None` when not every run has held-out animals or
/// fewer than two animals are common to all.
pub(crate) fn animals_comparison(runs: &[Loaded], first: &Comparison) -> Option<Comparison> {
    if first.basis != "held-out sessions"
        || runs.len() < 2
        || !runs
            .iter()
            .all(|l| per_animal(&l.run, "heldout_animals").is_some())
    {
        return None;
    }
    let c = comparison_on(runs, "heldout_animals", "held-out animals");
    (c.subjects.len() >= 2).then_some(c)
}

/// The runs' per-animal LL on the split `key` of `summary.json` paired across the animals
/// every run scored, labelled `basis`.
fn comparison_on(runs: &[Loaded], key: &str, basis: &str) -> Comparison {
    let maps: Vec<HashMap<String, f64>> = runs
        .iter()
        .map(|l| per_animal(&l.run, key).unwrap_or_default())
        .collect();
    let mut subjects: Vec<String> = maps
        .first()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    subjects.retain(|s| maps.iter().all(|m| m.contains_key(s)));
    subjects.sort();
    let table: Vec<(String, Vec<f64>)> = runs
        .iter()
        .zip(&maps)
        .map(|(l, m)| (l.label.clone(), subjects.iter().map(|s| m[s]).collect()))
        .collect();
    let paired = table
        .iter()
        .skip(1)
        .map(|(_, v)| paired_greater(v, &table[0].1))
        .collect();
    Comparison {
        basis: basis.into(),
        unit: Unit::Animals,
        subjects,
        runs: table,
        models: runs.iter().map(|l| l.run.label()).collect(),
        paired,
    }
}

/// Where the comparison pairs animals that are not the same animals on the same trials:
/// runs fitted on different data (path, revision or collection), runs that scored a
/// different number of trials of an animal on the compared split (e.g. another
/// `--holdout-sessions`), and animals left out because not every run scored them.
fn pairing_warnings(runs: &[Loaded], c: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    let Some(first) = runs.first() else {
        return out;
    };
    let data_of = |l: &Loaded| {
        let s = &l.run.summary;
        let path = std::fs::canonicalize(&s.data).unwrap_or_else(|_| PathBuf::from(&s.data));
        (path, s.revision.clone(), s.collection.clone())
    };
    let describe = |(p, r, c): &(PathBuf, Option<String>, Option<String>)| {
        let mut d = p.display().to_string();
        if let Some(r) = r {
            d.push_str(&format!(" (revision {r})"));
        }
        if let Some(c) = c {
            d.push_str(&format!(" (collection {c})"));
        }
        d
    };
    let reference = data_of(first);
    for l in &runs[1..] {
        let d = data_of(l);
        if d != reference {
            out.push(format!(
                "{} was fitted on {}, {} on {}: the comparison pairs their animals by name only",
                first.label,
                describe(&reference),
                l.label,
                describe(&d)
            ));
        }
    }
    let key = match c.basis.as_str() {
        "held-out sessions" => "heldout_sessions",
        "held-out animals" => "heldout_animals",
        _ => "train",
    };
    let trials = |l: &Loaded| -> HashMap<String, usize> {
        split(&l.run, key)
            .map(|s| {
                s.per_animal
                    .iter()
                    .map(|a| (a.subject.clone(), a.trials))
                    .collect()
            })
            .unwrap_or_default()
    };
    let first_trials = trials(first);
    for l in &runs[1..] {
        let other = trials(l);
        let differ: Vec<String> = c
            .subjects
            .iter()
            .filter(|s| first_trials.get(*s) != other.get(*s))
            .map(|s| {
                format!(
                    "{s} ({} vs {})",
                    first_trials.get(s).copied().unwrap_or(0),
                    other.get(s).copied().unwrap_or(0)
                )
            })
            .collect();
        if !differ.is_empty() {
            out.push(format!(
                "{} and {} scored different trials on the {}, so their LLs are not paired \
                 trial for trial (scored trials of {} animal(s): {})",
                first.label,
                l.label,
                c.basis,
                differ.len(),
                listed(&differ)
            ));
        }
    }
    let mut left_out: Vec<String> = runs
        .iter()
        .flat_map(|l| per_animal(&l.run, key).unwrap_or_default().into_keys())
        .filter(|s| !c.subjects.contains(s))
        .collect();
    left_out.sort();
    left_out.dedup();
    if !left_out.is_empty() && runs.len() > 1 {
        out.push(format!(
            "{} animal(s) are left out of the comparison because not every run scored them \
             on the {}: {}",
            left_out.len(),
            c.basis,
            listed(&left_out)
        ));
    }
    out
}

/// The first ten names, then how many more.
fn listed(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        s.push_str(&format!(" and {} more", names.len() - 10));
    }
    s
}

fn comparison_figure(out: &Path, c: &Comparison) -> Result<Figure, ReportError> {
    let n_runs = c.runs.len();
    let names: Vec<String> = c.runs.iter().map(|r| r.0.clone()).collect();
    let one = match c.unit {
        Unit::Animals => "animal",
        Unit::Sessions { .. } => "session",
    };
    let mut left = Panel {
        title: format!("LL per trial, {} (one line per {one})", c.basis),
        x_desc: "run".into(),
        y_desc: "log-likelihood per trial (nats)".into(),
        curves: Vec::new(),
        markers: vec![],
        shaded: None,
        dots_for: None,
        bands_for: None,
        legend_below: false,
        x_ticks: XTicks::Names(names.clone()),
        ranges: vec![],
        unvisited: vec![],
    };
    for (i, s) in c.subjects.iter().enumerate() {
        let pts = c
            .runs
            .iter()
            .enumerate()
            .map(|(r, (_, v))| ((r + 1) as f64, v[i]))
            .collect();
        let label = if c.subjects.len() <= 8 {
            s.clone()
        } else {
            String::new()
        };
        left.curves.push((label, i + 1, false, pts));
    }
    let mut right = Panel {
        title: format!(
            "difference to {} (mean ± 95% CI)",
            c.runs.first().map_or("", |r| r.0.as_str())
        ),
        x_desc: "run".into(),
        y_desc: "Δ LL per trial (nats)".into(),
        curves: vec![(
            "zero".into(),
            0,
            true,
            vec![(0.5, 0.0), (n_runs as f64 + 0.5, 0.0)],
        )],
        markers: vec![],
        shaded: None,
        dots_for: Some(format!("per {one}")),
        bands_for: None,
        legend_below: false,
        x_ticks: XTicks::Names(names),
        ranges: vec![],
        unvisited: vec![],
    };
    let mut animal_pts = Vec::new();
    for (r, (_, v)) in c.runs.iter().enumerate().skip(1) {
        for (a, b) in v.iter().zip(&c.runs[0].1) {
            animal_pts.push(((r + 1) as f64, a - b));
        }
    }
    right
        .curves
        .push((format!("per {one}"), 2, false, animal_pts));
    for (r, p) in c.paired.iter().map(|p| &p.paired).enumerate() {
        let x = (r + 2) as f64;
        if let Some((lo, hi)) = p.ci95 {
            right
                .curves
                .push((String::new(), 0, false, vec![(x, lo), (x, hi)]));
        }
        right.curves.push((
            String::new(),
            0,
            false,
            vec![(x - 0.2, p.mean), (x + 0.2, p.mean)],
        ));
    }
    let title = match &c.unit {
        Unit::Animals => "Model comparison across animals".to_string(),
        Unit::Sessions { subject } => {
            format!("Model comparison across held-out sessions of {subject}")
        }
    };
    let panels = [left, right];
    let (png, svg) = both!(
        out,
        "comparison",
        (1100, 480),
        draw_panels(&title, &panels, 2)
    );
    let runs: Vec<String> = (0..c.runs.len())
        .map(|i| format!("{} = {}", i + 1, c.run_label(i)))
        .collect();
    Ok(Figure {
        title,
        caption: match &c.unit {
            Unit::Animals => format!(
                "Left: log-likelihood per trial of each animal's {} under each run ({}). Right: \
                 each run minus the first, per animal (dots), with the mean (black bar) and its \
                 95% t confidence interval (black line).",
                c.basis,
                runs.join(", ")
            ),
            Unit::Sessions { subject } => format!(
                "Left: log-likelihood per trial on each held-out session of {subject} under each \
                 run ({}); the runs are paired across {}. Right: each run minus the first, per \
                 session (dots), with the mean (black bar) and its 95% t confidence interval \
                 (black line). {}",
                runs.join(", "),
                c.across(),
                c.caveat()
            ),
        },
        png,
        svg,
    })
}

/// The HTML head with its style and the report's title (`<body>` open).
pub(crate) const HEAD: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
     <title>denovo report</title>\n<style>\n\
     body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\n\
     table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\n\
     th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\n\
     .warning{background:#fff4e0;border-left:4px solid #e69500;padding:6px 10px}\n\
     figure{margin:2em 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:0.95em}\n\
     </style></head>\n<body>\n<h1>denovo report</h1>\n";

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| {
        if x != 0.0 && x.abs() < 1e-3 {
            format!("{x:.2e}")
        } else {
            format!("{x:.4}")
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn html(
    runs: &[Loaded],
    figures: &[Figure],
    c: Option<&Comparison>,
    animals: Option<&Comparison>,
    truths: &[&Truth],
    warnings: &[String],
    section: Option<&str>,
) -> Result<String, ReportError> {
    let mut h = String::new();
    h.push_str(HEAD);
    _ = writeln!(
        h,
        "<p>{} run(s). Log-likelihoods are per trial in nats (higher is better); held-out \
         figures score trials the fit never saw.</p>",
        runs.len()
    );
    for w in warnings {
        _ = writeln!(h, "<p class=\"warning\"><b>Warning:</b> {}</p>", escape(w));
    }
    h.push_str(section.unwrap_or_default());
    if !truths.is_empty() {
        h.push_str("<h2>Ground truth</h2>\n");
        for t in truths {
            let of: Vec<&str> = (runs.iter())
                .filter(|l| l.truth.as_ref().is_some_and(|u| u.path == t.path))
                .map(|l| l.label.as_str())
                .collect();
            _ = writeln!(
                h,
                "<p>The data of {} are <b>simulated</b>: the truth comes from the simulator's \
                 sidecar <code>{}</code> — the rule {} and every animal's true weight \
                 trajectory. The rule figure draws the true rule and the weights figures the \
                 true w<sub>t</sub> as wide pale lines beneath the fits.</p>",
                escape(&of.join(", ")),
                escape(&t.path.display().to_string()),
                escape(&t.describe())
            );
        }
    }
    h.push_str("<h2>Runs</h2>\n<table><tr><th>run</th><th>model</th><th>data</th><th>animals</th><th>train LL</th><th>held-out sessions LL</th><th>held-out animals LL</th><th>fitted parameters</th></tr>\n");
    for l in runs {
        let s = &l.run.summary;
        let params = crate::text::FitRow::of_summary(s).params;
        let ll = |k: &str| {
            fmt_opt(
                split(&l.run, k)
                    .map(|score| score.ll_per_trial)
                    .filter(|x| x.is_finite()),
            )
        };
        _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&l.label),
            escape(&l.run.label()),
            escape(&s.data),
            l.design.subjects.len(),
            ll("train"),
            ll("heldout_sessions"),
            ll("heldout_animals"),
            escape(&params),
        );
    }
    h.push_str("</table>\n");
    // A sweep's comparison is its own section (held-out animals); the runs' would be on
    // fold 0's training trials.
    if let Some(c) = c {
        let reference = escape(&c.run_label(0));
        match &c.unit {
            Unit::Animals => {
                _ = writeln!(
                    h,
                    "<h2>Model comparison</h2>\n<p>Per-animal log-likelihood per trial on the {} of {} \
                 animal(s); differences are each run minus <b>{reference}</b>.</p>",
                    escape(&c.basis),
                    c.subjects.len(),
                )
            }
            Unit::Sessions { subject } => {
                _ = writeln!(
                    h,
                    "<h2>Model comparison</h2>\n<p>The runs share one animal, <b>{}</b>, so they are \
                 paired across its {} held-out sessions instead of across animals: the \
                 log-likelihood per trial on each held-out session; differences are each run \
                 minus <b>{reference}</b>. <b>{}</b></p>",
                    escape(subject),
                    c.subjects.len(),
                    escape(c.caveat())
                )
            }
        }
        if c.subjects.is_empty() {
            let what = match &c.unit {
                Unit::Animals => "No animal is common to all runs".to_string(),
                Unit::Sessions { subject } => {
                    format!(
                        "No held-out session of {} is common to all runs",
                        escape(subject)
                    )
                }
            };
            _ = writeln!(
                h,
                "<p class=\"warning\"><b>{what}</b> (were they fitted to different data?): \
                 nothing is compared.</p>",
            );
        } else if c.basis == "training trials" && c.runs.len() > 1 {
            h.push_str(
                "<p class=\"warning\"><b>Not a comparison of predictions:</b> no held-out split \
                 is common to all runs, so they are compared on the trials they were fitted to, \
                 where a more flexible model scores better by construction. Refit with \
                 <code>--holdout-sessions</code> or <code>--folds</code> to compare held-out \
                 log-likelihoods.</p>\n",
            );
        }
        h.push_str(&crate::paired_table::html_table(c));
        if let Some(a) = animals {
            _ = writeln!(
                h,
                "<p>The same runs on their <b>held-out animals</b> (cross-validation folds: \
                 each animal scored by the fit that left it out), paired across {} animals — \
                 the comparison for a claim about new animals, such as a structural test \
                 (<code>--gate</code>, <code>--drop-input</code>).</p>",
                a.subjects.len()
            );
            h.push_str(&crate::paired_table::html_table(a));
        }
    }
    h.push_str("<h2>Figures</h2>\n");
    for f in figures {
        let bytes = std::fs::read(&f.png).map_err(ReportError::io(&f.png))?;
        let svg_name = f
            .svg
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        _ = writeln!(
            h,
            "<figure><h3>{}</h3><img alt=\"{}\" src=\"data:image/png;base64,{}\">\
             <figcaption>{} (<a href=\"{}\">SVG</a>)</figcaption></figure>",
            escape(&f.title),
            escape(&f.title),
            base64::engine::general_purpose::STANDARD.encode(bytes),
            escape(&f.caption),
            escape(&svg_name)
        );
    }
    // Lets a headless browser (and the test) tell whether every image decoded.
    h.push_str(
        "<script>\nwindow.addEventListener('load', function () {\n\
         var imgs = Array.prototype.slice.call(document.images);\n\
         var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;\n\
         document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);\n});\n\
         </script>\n</body></html>\n",
    );
    Ok(h)
}

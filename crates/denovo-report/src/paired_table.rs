//! The runs' comparison ([`Comparison`]) as rows: the HTML table of `report.html`, the
//! markdown of `comparison.md` (which `denovo report` prints), and `comparison.csv`.

use crate::report::{Comparison, Unit, escape, fmt_opt};
use std::fmt::Write as _;

/// At most this many units (animals or sessions) are listed one per row in
/// `comparison.md`.
const LISTED_UNITS: usize = 40;

/// One run's row: its label (folder and model, [`Comparison::run_label`]), mean LL per
/// trial over the units (nats/trial) and, for every run after the first, its paired
/// comparison with the first.
struct Row<'a> {
    label: String,
    mean: f64,
    paired: Option<&'a denovo_study::compare::PairedGreater>,
}

fn rows(c: &Comparison) -> Vec<Row<'_>> {
    (c.runs.iter().enumerate())
        .map(|(i, (_, v))| Row {
            label: c.run_label(i),
            mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
            paired: i.checked_sub(1).and_then(|j| c.paired.get(j)),
        })
        .collect()
}

/// The column headers shared by the HTML table and the markdown; the mean LL's says what
/// it is the mean over (animals or sessions, [`Comparison::mean_note`]).
fn headers(c: &Comparison) -> [String; 9] {
    [
        "run".into(),
        "paired across".into(),
        format!("mean LL (mean over {}s)", c.unit_name()),
        "mean difference".into(),
        "95% CI".into(),
        "paired t-test p".into(),
        "Wilcoxon p".into(),
        "t-test p, one-sided (run better)".into(),
        "Wilcoxon p, one-sided (run better)".into(),
    ]
}

/// A row's cells after the label (as HTML/markdown text).
fn cells(c: &Comparison, r: &Row) -> Vec<String> {
    let mut out = vec![c.across(), format!("{:.5}", r.mean)];
    match r.paired {
        Some(p) => out.extend([
            format!("{:+.5}", p.paired.mean),
            (p.paired.ci95).map_or("—".into(), |(a, b)| format!("[{a:+.5}, {b:+.5}]")),
            fmt_opt(p.paired.t_test_p),
            fmt_opt(p.paired.wilcoxon_p),
            fmt_opt(p.t_test_p_greater),
            fmt_opt(p.wilcoxon_p_greater),
        ]),
        None => {
            out.push("(reference)".into());
            out.extend(std::iter::repeat_n(String::new(), 5));
        }
    }
    out
}

/// The comparison's HTML table (every run, the first the reference), with
/// [`Comparison::mean_note`] under it.
pub(crate) fn html_table(c: &Comparison) -> String {
    let mut h = String::from("<table><tr>");
    for head in headers(c) {
        _ = write!(h, "<th>{}</th>", escape(&head));
    }
    h.push_str("</tr>\n");
    for r in rows(c) {
        _ = write!(h, "<tr><td>{}</td>", escape(&r.label));
        for cell in cells(c, &r) {
            _ = write!(h, "<td>{}</td>", escape(&cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    _ = writeln!(h, "<p><i>Note:</i> {}</p>", escape(c.mean_note()));
    h
}

/// The comparison as markdown: what is compared, the LL per trial of every unit under every
/// run (at most 40 units), the table of [`html_table`] with its note on the mean LL, and
/// the caveat of a comparison across one animal's sessions. Runs are labelled by folder and
/// model ([`Comparison::run_label`]).
pub(crate) fn markdown(c: &Comparison) -> String {
    let mut m = String::new();
    let reference = c.run_label(0);
    let on = match c.unit {
        Unit::Animals => format!("on the {}", c.basis),
        Unit::Sessions { .. } => "on each session".to_string(),
    };
    _ = writeln!(
        m,
        "## Model comparison across {}: LL per trial (nats) {on}; differences are each run \
         minus {reference}\n",
        c.across()
    );
    let unit = c.unit_name();
    if c.subjects.is_empty() {
        m.push_str("No unit is common to all runs: nothing is compared.\n");
        return m;
    }
    if c.subjects.len() <= LISTED_UNITS {
        _ = write!(m, "| {unit} |");
        for i in 0..c.runs.len() {
            _ = write!(m, " {} |", c.run_label(i));
        }
        _ = writeln!(m, "\n|---|{}", "---:|".repeat(c.runs.len()));
        for (i, s) in c.subjects.iter().enumerate() {
            _ = write!(m, "| {s} |");
            for (_, v) in &c.runs {
                _ = write!(m, " {:.5} |", v[i]);
            }
            m.push('\n');
        }
        m.push('\n');
    }
    let headers = headers(c);
    _ = writeln!(m, "| {} |", headers.join(" | "));
    _ = writeln!(m, "|---|---|{}", "---:|".repeat(headers.len() - 2));
    for r in rows(c) {
        _ = writeln!(m, "| {} | {} |", r.label, cells(c, &r).join(" | "));
    }
    _ = writeln!(m, "\nNote: {}", c.mean_note());
    if !c.caveat().is_empty() {
        _ = writeln!(m, "\n{}", c.caveat());
    }
    m
}

/// A CSV field: as it is, or quoted (inner quotes doubled) when it holds a comma, a quote or
/// a line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `comparison.csv`: `run,reference,basis,paired_across,subject,n,mean_ll,mean_difference,
/// ci95_low,ci95_high,t_test_p,wilcoxon_p,t_test_p_greater,wilcoxon_p_greater,model,
/// reference_model`, one row per run (the reference's with its mean LL only). `run` and
/// `reference` are run folders, `model` and `reference_model` their models with their
/// structure ([`Comparison::models`], e.g. `dnn[gate=correct-only]`; empty where unknown).
/// `paired_across` is `animals` or `sessions` (then `subject` names the animal), `n` the
/// number of units; `mean_ll` the mean over units of each unit's LL per trial
/// ([`Comparison::mean_note`]); p-values two-sided, then one-sided for "the run predicts
/// better"; LLs in nats/trial; floats in Rust's shortest round-trip form, empty where
/// undefined; a text field holding a comma, quote or line break is quoted (RFC 4180).
pub(crate) fn csv(c: &Comparison) -> String {
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut out = String::from(
        "run,reference,basis,paired_across,subject,n,mean_ll,mean_difference,ci95_low,\
         ci95_high,t_test_p,wilcoxon_p,t_test_p_greater,wilcoxon_p_greater,model,\
         reference_model\n",
    );
    let model = |i: usize| field(c.models.get(i).map_or("", String::as_str));
    let reference = field(c.runs.first().map_or("", |r| r.0.as_str()));
    let basis = field(&c.basis);
    let (across, subject) = match &c.unit {
        Unit::Animals => ("animals", String::new()),
        Unit::Sessions { subject } => ("sessions", field(subject)),
    };
    for (i, r) in rows(c).into_iter().enumerate() {
        _ = write!(
            out,
            "{},{reference},{basis},{across},{subject},{},{}",
            field(&c.runs[i].0),
            c.subjects.len(),
            r.mean
        );
        match r.paired {
            Some(p) => {
                _ = write!(
                    out,
                    ",{},{},{},{},{},{},{}",
                    p.paired.mean,
                    opt(p.paired.ci95.map(|c| c.0)),
                    opt(p.paired.ci95.map(|c| c.1)),
                    opt(p.paired.t_test_p),
                    opt(p.paired.wilcoxon_p),
                    opt(p.t_test_p_greater),
                    opt(p.wilcoxon_p_greater)
                )
            }
            None => out.push_str(",,,,,,,"),
        }
        _ = writeln!(out, ",{},{}", model(i), model(0));
    }
    out
}

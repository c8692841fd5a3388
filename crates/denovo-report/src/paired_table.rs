//! The runs' comparison ([`Comparison`]) as rows: the HTML table of `report.html`, the
//! markdown of `comparison.md` (which `denovo report` prints), and `comparison.csv`.

use crate::report::{Comparison, Unit, escape, fmt_opt};
use std::fmt::Write as _;

/// At most this many units (animals or sessions) are listed one per row in
/// `comparison.md`.
const LISTED_UNITS: usize = 40;

/// One run's row: its label, mean LL per trial over the units (nats/trial) and, for every
/// run after the first, its paired comparison with the first.
struct Row<'a> {
    label: &'a str,
    mean: f64,
    paired: Option<&'a denovo_study::compare::PairedGreater>,
}

fn rows(c: &Comparison) -> Vec<Row<'_>> {
    (c.runs.iter().enumerate())
        .map(|(i, (label, v))| Row {
            label,
            mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
            paired: i.checked_sub(1).and_then(|j| c.paired.get(j)),
        })
        .collect()
}

/// The column headers shared by the HTML table and the markdown.
const HEADERS: [&str; 9] = [
    "run",
    "paired across",
    "mean LL",
    "mean difference",
    "95% CI",
    "paired t-test p",
    "Wilcoxon p",
    "t-test p, one-sided (run better)",
    "Wilcoxon p, one-sided (run better)",
];

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

/// The comparison's HTML table (every run, the first the reference).
pub(crate) fn html_table(c: &Comparison) -> String {
    let mut h = String::from("<table><tr>");
    for head in HEADERS {
        _ = write!(h, "<th>{}</th>", escape(head));
    }
    h.push_str("</tr>\n");
    for r in rows(c) {
        _ = write!(h, "<tr><td>{}</td>", escape(r.label));
        for cell in cells(c, &r) {
            _ = write!(h, "<td>{}</td>", escape(&cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    h
}

/// The comparison as markdown: what is compared, the LL per trial of every unit under every
/// run (at most 40 units), the table of [`html_table`], and the caveat of a comparison
/// across one animal's sessions.
pub(crate) fn markdown(c: &Comparison) -> String {
    let mut m = String::new();
    let reference = c.runs.first().map_or("", |r| r.0.as_str());
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
    let unit = match c.unit {
        Unit::Animals => "animal",
        Unit::Sessions { .. } => "session",
    };
    if c.subjects.is_empty() {
        m.push_str("No unit is common to all runs: nothing is compared.\n");
        return m;
    }
    if c.subjects.len() <= LISTED_UNITS {
        _ = write!(m, "| {unit} |");
        for (label, _) in &c.runs {
            _ = write!(m, " {label} |");
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
    _ = writeln!(m, "| {} |", HEADERS.join(" | "));
    _ = writeln!(m, "|---|---|{}", "---:|".repeat(HEADERS.len() - 2));
    for r in rows(c) {
        _ = writeln!(m, "| {} | {} |", r.label, cells(c, &r).join(" | "));
    }
    if !c.caveat().is_empty() {
        _ = writeln!(m, "\n{}", c.caveat());
    }
    m
}

/// `comparison.csv`: `run,reference,basis,paired_across,subject,n,mean_ll,mean_difference,
/// ci95_low,ci95_high,t_test_p,wilcoxon_p,t_test_p_greater,wilcoxon_p_greater`, one row per
/// run (the reference's with its mean LL only). `paired_across` is `animals` or `sessions`
/// (then `subject` names the animal), `n` the number of units; p-values two-sided, then
/// one-sided for "the run predicts better"; LLs in nats/trial; floats in Rust's shortest
/// round-trip form, empty where undefined.
pub(crate) fn csv(c: &Comparison) -> String {
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut out = String::from(
        "run,reference,basis,paired_across,subject,n,mean_ll,mean_difference,ci95_low,\
         ci95_high,t_test_p,wilcoxon_p,t_test_p_greater,wilcoxon_p_greater\n",
    );
    let reference = c.runs.first().map_or("", |r| r.0.as_str());
    let (across, subject) = match &c.unit {
        Unit::Animals => ("animals", ""),
        Unit::Sessions { subject } => ("sessions", subject.as_str()),
    };
    for r in rows(c) {
        _ = write!(
            out,
            "{},{reference},{},{across},{subject},{},{}",
            r.label,
            c.basis,
            c.subjects.len(),
            r.mean
        );
        match r.paired {
            Some(p) => {
                _ = writeln!(
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
            None => out.push_str(",,,,,,,\n"),
        }
    }
    out
}

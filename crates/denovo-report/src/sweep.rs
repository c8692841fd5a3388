//! The report of a sweep directory (`denovo report DIR`): the cross-validated comparison
//! and the per-animal held-out LL of every fit, with the figures of representative task
//! runs.

use crate::report::{Comparison, HEAD, SweepPart, escape, fmt_opt, write_report_with};
use crate::{ReportError, ReportOptions, ReportSummary};
use denovo_study::compare::CrossValidated;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The sweep's tables as an HTML section: the paired comparison (each model's per-animal
/// held-out LL averaged over seeds and replicates against the reference: mean difference,
/// 95% CI, one-sided paired t-test and Wilcoxon p; the reference's own row; a note for a
/// one-model sweep) and the held-out LL per trial (nats) of every animal under every model
/// × seed × replicate, with the fold it was held out in.
pub fn sweep_section(cv: &CrossValidated, sweep: &Path) -> String {
    let mut h = String::new();
    let animals: BTreeSet<&String> = cv.per_animal.values().flat_map(|m| m.keys()).collect();
    _ = writeln!(
        h,
        "<h2>Sweep: cross-validated comparison</h2>\n<p>The sweep <code>{}</code>: {} model(s), \
         {} held-out animal(s). Each animal's held-out LL per trial is averaged over seeds \
         and replicates; differences are each model minus <b>{}</b>, tested one-sided \
         (the model predicts better) across animals.</p>",
        escape(&sweep.display().to_string()),
        cv.models.len(),
        animals.len(),
        escape(&cv.reference)
    );
    h.push_str(
        "<table class=\"sweep-comparison\"><tr><th>model</th><th>animals</th><th>mean LL</th>\
         <th>mean difference</th><th>95% CI</th><th>paired t-test p (one-sided)</th>\
         <th>Wilcoxon p (one-sided)</th></tr>\n",
    );
    let base = cv.per_animal.get(&cv.reference).map_or(0, |m| m.len());
    _ = writeln!(
        h,
        "<tr><td>{}</td><td>{base}</td><td>{:.5}</td><td>(reference)</td><td></td><td></td><td></td></tr>",
        escape(&cv.reference),
        cv.reference_mean_ll()
    );
    for c in &cv.comparisons {
        let ci = (c.paired.ci95).map_or("—".into(), |(a, b)| format!("[{a:+.5}, {b:+.5}]"));
        _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.5}</td><td>{:+.5}</td><td>{ci}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.model),
            c.paired.n,
            c.mean_ll,
            c.paired.mean,
            fmt_opt(c.t_test_p_greater),
            fmt_opt(c.wilcoxon_p_greater)
        );
    }
    h.push_str("</table>\n");
    if cv.comparisons.is_empty() {
        _ = writeln!(
            h,
            "<p class=\"warning\">Only one model ({}): nothing to compare.</p>",
            escape(&cv.reference)
        );
    }
    // Animals down; model × seed × replicate across.
    let columns: BTreeSet<(usize, u64, usize)> = (cv.rows.iter())
        .map(|r| {
            let m = cv.models.iter().position(|m| *m == r.model);
            (m.unwrap_or(usize::MAX), r.seed, r.replicate)
        })
        .collect();
    let replicates = cv.rows.iter().any(|r| r.replicate > 0);
    let mut cells: BTreeMap<(&str, (usize, u64, usize)), f64> = BTreeMap::new();
    let mut fold: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for r in &cv.rows {
        let m = cv.models.iter().position(|m| *m == r.model);
        cells.insert(
            (
                r.subject.as_str(),
                (m.unwrap_or(usize::MAX), r.seed, r.replicate),
            ),
            r.ll_per_trial,
        );
        fold.entry(r.subject.as_str()).or_default().insert(r.fold);
    }
    h.push_str(
        "<h2>Sweep: held-out LL per animal</h2>\n<p>LL per trial (nats) of each animal \
         scored by the fit to the other folds' animals, per model, seed (s) and replicate \
         (r); also in the sweep's <code>results.csv</code>.</p>\n\
         <table class=\"sweep-animals\"><tr><th>animal</th><th>fold</th>",
    );
    for (m, seed, r) in &columns {
        let model = cv.models.get(*m).map_or("?", |s| s.as_str());
        let r = if replicates {
            format!(" r{r}")
        } else {
            String::new()
        };
        _ = write!(h, "<th>{} s{seed}{r}</th>", escape(model));
    }
    h.push_str("</tr>\n");
    for s in &animals {
        let folds: Vec<String> = (fold.get(s.as_str()).into_iter().flatten())
            .map(|f| f.to_string())
            .collect();
        _ = write!(h, "<tr><td>{}</td><td>{}</td>", escape(s), folds.join(", "));
        for c in &columns {
            let v = cells.get(&(s.as_str(), *c)).copied();
            _ = write!(
                h,
                "<td>{}</td>",
                v.map_or("—".into(), |v| format!("{v:.5}"))
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    h
}

/// The sweep's per-animal held-out comparison in the report's form (for its figure): the
/// reference first, then the other models; the animals every model scored; each animal's
/// LL averaged over seeds and replicates; the paired comparisons of `cv`.
fn heldout_comparison(cv: &CrossValidated) -> Comparison {
    let empty = BTreeMap::new();
    let of = |m: &str| cv.per_animal.get(m).unwrap_or(&empty);
    let mut models = vec![cv.reference.clone()];
    models.extend(cv.models.iter().filter(|m| **m != cv.reference).cloned());
    let subjects: Vec<String> = (of(&cv.reference).keys())
        .filter(|s| models.iter().all(|m| of(m).contains_key(*s)))
        .cloned()
        .collect();
    let runs: Vec<(String, Vec<f64>)> = (models.iter())
        .map(|m| (m.clone(), subjects.iter().map(|s| of(m)[s]).collect()))
        .collect();
    let paired = (runs.iter().skip(1))
        .map(|(_, v)| denovo_study::compare::paired_greater(v, &runs[0].1))
        .collect();
    Comparison {
        basis: "held-out LL (the sweep's folds, averaged over seeds and replicates)".into(),
        unit: crate::report::Unit::Animals,
        subjects,
        runs,
        models: Vec::new(),
        paired,
    }
}

/// Writes the report of a sweep into the folder `out` (created): `report.html` with
/// [`sweep_section`] first, then — when `runs` is not empty — everything
/// [`crate::write_report`] draws for those task run directories (`DIR/tasks/<name>/run`,
/// labelled by `labels`, e.g. one task per model: all fitted to the same animals) except
/// their own "Model comparison" (on their training trials): the comparison figure is the
/// sweep's held-out per-animal comparison instead.
///
/// Errors: those of [`crate::write_report`]; [`ReportError::Io`] writing.
pub fn write_sweep_report(
    cv: &CrossValidated,
    sweep: &Path,
    runs: &[PathBuf],
    labels: &[String],
    out: &Path,
    options: &ReportOptions,
) -> Result<ReportSummary, ReportError> {
    let section = sweep_section(cv, sweep);
    if !runs.is_empty() {
        let part = SweepPart {
            section: &section,
            heldout: heldout_comparison(cv),
        };
        return write_report_with(runs, Some(labels), out, options, Some(part));
    }
    std::fs::create_dir_all(out).map_err(ReportError::io(out))?;
    let path = out.join("report.html");
    let html = format!(
        "{HEAD}<p>No task of the sweep has a run directory: no figures.</p>\n{section}</body></html>\n"
    );
    std::fs::write(&path, html).map_err(ReportError::io(&path))?;
    Ok(ReportSummary {
        html: path,
        figures: 0,
        runs: 0,
        comparison: None,
        truth: Vec::new(),
        warnings: Vec::new(),
    })
}

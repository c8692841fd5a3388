//! Text for the terminal: the summary of a dataset (`denovo inspect`), the table of fits
//! (`denovo demo`) and the table of twin groups (`denovo twin`).

use denovo_data::DatasetSummary;
use denovo_rules::RuleSpec;
use denovo_study::{Distribution, quantile};
use std::fmt::Write as _;

/// A terminal sparkline of values in [`lo`, `hi`] (clamped), at most `width` characters
/// (values averaged into bins when there are more).
pub fn sparkline(values: &[f64], lo: f64, hi: f64, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let bins = values.len().min(width);
    (0..bins)
        .map(|b| {
            let start = b * values.len() / bins;
            let end = ((b + 1) * values.len() / bins).max(start + 1);
            let v = values[start..end].iter().sum::<f64>() / (end - start) as f64;
            let scaled = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
            let level = (scaled * (BARS.len() - 1) as f64).round() as usize;
            BARS[level]
        })
        .collect()
}

/// `n` with thousands separators (20,000).
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text report of `denovo inspect`: counts, inputs and a learning-curve sparkline per
/// animal.
pub fn summary_text(s: &DatasetSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", s.source, s.format.name());
    let _ = writeln!(
        out,
        "  {} subjects · {} sessions · {} trials · {} dropped · accuracy {:.4}",
        s.subjects,
        thousands(s.sessions),
        thousands(s.trials),
        thousands(s.dropped_trials),
        s.accuracy
    );
    if !s.inputs.is_empty() {
        let _ = writeln!(out, "  inputs: {}", s.inputs.join(", "));
    }
    if !s.ignored_columns.is_empty() {
        let _ = writeln!(
            out,
            "  ignored non-numeric columns: {}",
            s.ignored_columns.join(", ")
        );
    }
    let name_width = s
        .per_subject
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
        "  {:<name_width$} {:>8} {:>8} {:>7} {:>6} {:>6}  accuracy per session (≤0.5 ▁ … █ 1)",
        "subject", "sessions", "trials", "dropped", "first", "last"
    );
    for p in &s.per_subject {
        let first = p.session_accuracy.first().copied().unwrap_or(f64::NAN);
        let last = p.session_accuracy.last().copied().unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "  {:<name_width$} {:>8} {:>8} {:>7} {:>6.3} {:>6.3}  {}",
            p.name,
            p.sessions,
            p.trials,
            p.dropped_trials,
            first,
            last,
            sparkline(&p.session_accuracy, 0.5, 1.0, 60)
        );
    }
    alf_text(s, &mut out);
    if !s.skipped.is_empty() {
        let _ = writeln!(out, "  skipped {} (no trials read):", s.skipped.len());
        for k in &s.skipped {
            let _ = writeln!(out, "    {}: {}", k.path.display(), k.reason);
        }
    }
    out
}

/// For an ALF tree: the collections and layouts read, and every session that came from
/// a revision (the others are unrevised).
fn alf_text(s: &DatasetSummary, out: &mut String) {
    let sessions: Vec<(&str, &denovo_data::SessionSummary)> = (s.per_subject.iter())
        .flat_map(|p| p.session_list.iter().map(move |x| (p.name.as_str(), x)))
        .filter(|(_, x)| x.source.is_some())
        .collect();
    if sessions.is_empty() {
        return;
    }
    let mut read: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, x) in &sessions {
        let src = x.source.as_ref().expect("filtered");
        *read
            .entry(format!("{} ({})", src.collection, src.layout))
            .or_default() += 1;
    }
    let read: Vec<String> = read.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    let _ = writeln!(out, "  sessions read from {}", read.join(", "));
    let revised: Vec<_> = (sessions.iter())
        .filter_map(|(name, x)| Some((name, x, x.source.as_ref()?.revision.as_ref()?)))
        .collect();
    let _ = writeln!(
        out,
        "  revisions: {} session(s) unrevised, {} from a revision{}",
        sessions.len() - revised.len(),
        revised.len(),
        if revised.is_empty() { "" } else { ":" }
    );
    for (name, x, revision) in revised {
        let _ = writeln!(
            out,
            "    {name} {} ({} trials): #{revision}#",
            x.session, x.trials
        );
    }
}

/// A `log` logger for the terminal: denovo's warnings (e.g. the session folders a loader
/// skipped, `denovo_data::load`) printed to stderr as `warning: …`.
struct StderrWarnings;

impl log::Log for StderrWarnings {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.level() <= log::Level::Warn && meta.target().starts_with("denovo")
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("warning: {}", record.args());
        }
    }
    fn flush(&self) {}
}

/// Prints denovo's `log` warnings to stderr from now on (what the `denovo` binary does
/// first); a no-op when a logger is already installed.
pub fn warnings_to_stderr() {
    static LOGGER: StderrWarnings = StderrWarnings;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_maps_extremes_and_bins() {
        assert_eq!(sparkline(&[0.0, 1.0], 0.0, 1.0, 10), "▁█");
        assert_eq!(sparkline(&[0.0, 0.0, 1.0, 1.0], 0.0, 1.0, 2), "▁█");
        assert_eq!(sparkline(&[0.3, 0.75, 1.0], 0.5, 1.0, 3), "▁▅█");
        assert_eq!(sparkline(&[], 0.0, 1.0, 5), "");
    }

    #[test]
    fn a_baseline_rule_shows_its_step_after_each_outcome() {
        let spec = RuleSpec {
            kind: denovo_rules::RuleKind::ReinforceBaseline,
            alpha: vec![0.01, 0.1],
            beta: vec![-30.0, 0.5],
            inverse_temperature: None,
            streak_cap: None,
        };
        let text = describe_rule(&spec);
        assert!(text.contains("β = [-30.0000, 0.5000]"), "{text}");
        assert!(
            text.contains("α(1−β) = [0.3100, 0.0500] after a reward"),
            "{text}"
        );
        assert!(
            text.contains("−αβ = [0.3000, -0.0500] after none"),
            "{text}"
        );
        let plain = describe_rule(&RuleSpec::initial(
            denovo_rules::RuleKind::Reinforce,
            2,
            0.1,
        ));
        assert!(!plain.contains("after a reward"), "{plain}");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(20000), "20,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

/// α (and β, τ) of a parametric rule in a short form: `α = [0.0625, 0.0156]  β = […]`.
///
/// With a baseline (REINFORCE with baseline, Δw = α ⊙ (r − β) ⊙ (y − p) x) it adds what the
/// data determine: with rewards of 1 and 0, only the step's scale after a reward,
/// α(1 − β), and after none, −αβ. A fit can trade α against β along that pair: β = −30
/// with a small α, for example, says that rewarded and unrewarded trials move w alike
/// (α(1 − β) ≈ −αβ), not that the animal's baseline is −30.
pub fn describe_rule(spec: &RuleSpec) -> String {
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!("α = [{}]", list(&spec.alpha));
    if !spec.beta.is_empty() {
        out.push_str(&format!("  β = [{}]", list(&spec.beta)));
        let pairs = spec.alpha.iter().zip(&spec.beta);
        let rewarded: Vec<f64> = pairs.clone().map(|(a, b)| a * (1.0 - b)).collect();
        let unrewarded: Vec<f64> = pairs.map(|(a, b)| -a * b).collect();
        out.push_str(&format!(
            "  (step scale α(1−β) = [{}] after a reward, −αβ = [{}] after none)",
            list(&rewarded),
            list(&unrewarded)
        ));
    }
    if let Some(t) = spec.inverse_temperature {
        out.push_str(&format!("  τ = {t:.3}"));
    }
    out
}

/// One line of a table of fits: LL per trial (nats) on the training trials, held-out
/// sessions and held-out animals (NaN: not scored), the parameters, the wall time (s).
#[derive(Debug, Clone, PartialEq)]
pub struct FitRow {
    /// The rule's label.
    pub name: String,
    /// Training LL per trial.
    pub train: f64,
    /// Held-out sessions' LL per trial.
    pub sessions: f64,
    /// Held-out animals' LL per trial.
    pub animals: f64,
    /// The parameters in short form.
    pub params: String,
    /// Wall time of the fit (s).
    pub seconds: f64,
}

impl FitRow {
    /// The row of a fit's summary.
    pub fn of_summary(s: &denovo_study::FitSummary) -> FitRow {
        let ll =
            |x: &Option<denovo_study::SplitScore>| x.as_ref().map_or(f64::NAN, |h| h.ll_per_trial);
        let walk = serde_json::from_value::<denovo_study::WalkParameters>(s.parameters.clone());
        let params = match serde_json::from_value::<RuleSpec>(s.parameters.clone()) {
            Ok(p) => describe_rule(&p),
            // psytrack and the rules with noise: the rule's parameters (if any) and σ.
            Err(_) if walk.is_ok() => {
                let w = walk.expect("checked");
                let sigma: Vec<String> = w.sigma.iter().map(|g| format!("{g:.4}")).collect();
                let rule = w.rule.as_ref().map(|r| format!("{}  ", describe_rule(r)));
                format!("{}σ = [{}]", rule.unwrap_or_default(), sigma.join(", "))
            }
            Err(_) => {
                let gamma: Vec<f64> =
                    serde_json::from_value(s.parameters["gamma"].clone()).unwrap_or_default();
                let list: Vec<String> = gamma.iter().map(|g| format!("{g:.4}")).collect();
                // dnn-noise / rnn-noise: the network's σ too.
                let sigma: Vec<f64> =
                    serde_json::from_value(s.parameters["sigma"].clone()).unwrap_or_default();
                let sigma: Vec<String> = sigma.iter().map(|g| format!("{g:.4}")).collect();
                let sigma = if sigma.is_empty() {
                    String::new()
                } else {
                    format!("  σ = [{}]", sigma.join(", "))
                };
                format!("γ = [{}]{sigma} (network in model.mpk)", list.join(", "))
            }
        };
        // A walk scored with its last weights says so (one-step-ahead is the default).
        let params = match s.parameters["scoring"].as_str() {
            Some(scoring) if scoring != "one-step" => format!("{params}  (scored {scoring})"),
            _ => params,
        };
        FitRow {
            name: s.model.clone(),
            train: s.train.ll_per_trial,
            sessions: ll(&s.heldout_sessions),
            animals: ll(&s.heldout_animals),
            params,
            seconds: s.seconds,
        }
    }
}

/// A table of fits side by side (`denovo demo`); NaN prints as —.
pub fn fit_table(rows: &[FitRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<22} {:>10} {:>12} {:>12} {:>8}  parameters",
        "rule", "train LL", "held-out", "held-out", "seconds"
    );
    let _ = writeln!(
        out,
        "{:<22} {:>10} {:>12} {:>12} {:>8}",
        "", "(nats/tr)", "sessions", "animals", ""
    );
    let num = |v: f64, digits: usize| {
        if v.is_nan() {
            "—".to_string()
        } else {
            format!("{v:.digits$}")
        }
    };
    for r in rows {
        let _ = writeln!(
            out,
            "{:<22} {:>10} {:>12} {:>12} {:>8}  {}",
            r.name,
            num(r.train, 4),
            num(r.sessions, 4),
            num(r.animals, 4),
            num(r.seconds, 1),
            r.params
        );
    }
    out
}

/// Trials and sessions to criterion per group (`denovo twin`): trained/animals, median,
/// IQR, mean ± SE of trials, median sessions.
pub fn twin_table(groups: &[Distribution]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<48} {:>8} {:>10} {:>10} {:>16} {:>10}",
        "group", "trained", "median", "IQR", "mean ± SE", "sessions"
    );
    for g in groups {
        let _ = writeln!(
            out,
            "{:<48} {:>8} {:>10.0} {:>10} {:>16} {:>10}",
            g.label,
            format!("{}/{}", g.trained, g.animals),
            g.quartiles[0],
            format!("{:.0}–{:.0}", g.quartiles[1], g.quartiles[2]),
            format!("{:.0} ± {:.0}", g.mean_trials, g.se_trials),
            format!("{:.0}", quantile(&g.sessions_to_trained, 0.5)),
        );
    }
    out
}

/// A split's score (`denovo evaluate`): LL per trial (nats) and accuracy overall, then per
/// animal; `what` names the model and the data.
pub fn score_text(what: &str, score: &denovo_study::SplitScore) -> String {
    let mut out = format!(
        "{what}: LL {:.4} nats/trial, accuracy {:.4} over {} trials of {} animals\n",
        score.ll_per_trial,
        score.accuracy,
        score.trials,
        score.per_animal.len()
    );
    for a in &score.per_animal {
        let _ = writeln!(
            out,
            "  {:<12} LL {:.4}  accuracy {:.4}  ({} trials)",
            a.subject, a.ll_per_trial, a.accuracy, a.trials
        );
    }
    out
}

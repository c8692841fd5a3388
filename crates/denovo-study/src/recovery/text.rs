//! The text of a [`RecoveryReport`]: what `denovo recover` prints.

use super::RecoveryReport;
use std::fmt::Write;

/// The paper-recovery issue's pass mark of the relative grid error.
const GRID_PASS: f64 = 0.10;
/// The paper-recovery issue's pass mark of |ΔLL| (nats/trial).
const LL_PASS: f64 = 0.003;

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn mark(pass: bool) -> &'static str {
    if pass { "pass" } else { "FAIL" }
}

impl RecoveryReport {
    /// The report as a short table for a terminal: each number with its unit and meaning,
    /// and the pass marks of the paper-recovery issue (grid error < 10%, |ΔLL| < 0.003
    /// nats/trial). Without test data it says how to get the held-out lines.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let g = &self.grid;
        let rule = &self.true_rule;
        let alpha: Vec<String> = rule.alpha.iter().map(|a| format!("{a}")).collect();
        let _ = writeln!(
            s,
            "{} ({}) against the truth {} ({}, α = {})",
            self.run,
            self.model,
            self.truth,
            rule.kind.name(),
            alpha.join(", ")
        );
        let _ = writeln!(
            s,
            "\nΔw_stim on the paper's grid: 17 stimuli × choice × w_stim ∈ linspace(−2, 2, {}) × w_bias ∈ {{−1, 0, 1}} ({} points)",
            self.grid_w, self.grid_points
        );
        let line = |s: &mut String, what: &str, v: f64, pass: Option<bool>| {
            let mark = pass.map_or(String::new(), |p| format!("{} (< 10%)", mark(p)));
            let _ = writeln!(s, "  {what:<54} {:>8}   {mark}", pct(v));
        };
        let _ = writeln!(
            s,
            "  {:<54} {:>8.5}   (weight units per trial)",
            "RMS of the true Δw_stim", g.true_rms
        );
        let _ = writeln!(
            s,
            "  {:<54} {:>8.5}   (weight units per trial)",
            "RMSE of the fitted Δw_stim", self.grid_rmse
        );
        line(
            &mut s,
            "relative RMSE, all points (RMSE / RMS true)",
            g.overall,
            Some(g.overall < GRID_PASS),
        );
        line(
            &mut s,
            "relative RMSE, correct trials",
            g.correct,
            Some(g.correct < GRID_PASS),
        );
        line(
            &mut s,
            "error trials: RMS fitted / RMS true on correct trials",
            g.error,
            Some(g.error < GRID_PASS),
        );
        for (b, e) in &g.by_bias {
            line(&mut s, &format!("relative RMSE at w_bias = {b}"), *e, None);
        }
        match &self.test {
            Some(t) => {
                let _ = writeln!(
                    s,
                    "\nHeld-out test animals ({}: {} animals, {} trials), every rule from each animal's true w0",
                    t.data, t.animals, t.trials
                );
                let ll = |s: &mut String, what: &str, v: f64, tail: &str| {
                    let _ = writeln!(s, "  {what:<54} {v:>+9.5} nats/trial   {tail}");
                };
                ll(&mut s, "LL of the fitted rule", t.fitted_ll, "");
                ll(&mut s, "LL of the true rule", t.true_ll, "");
                let pass = mark(t.delta_ll.abs() < LL_PASS);
                ll(
                    &mut s,
                    "ΔLL = fitted − true",
                    t.delta_ll,
                    &format!("{pass} (|ΔLL| < 0.003)"),
                );
                let _ = writeln!(
                    s,
                    "  weight paths (the fitted rule through each test animal's trials from its true w0):"
                );
                for w in &t.weight_path {
                    let rel = w.relative.map_or("—".into(), pct);
                    let _ = writeln!(
                        s,
                        "    {:<6} RMSE / RMS(true w_t − w_0) {:>8}   (RMSE {:.5}, RMS of the true change {:.5})",
                        w.regressor, rel, w.rmse, w.true_change_rms
                    );
                }
                if let Some(a) = &t.against {
                    let p = &a.paired;
                    let (lo, hi) = p.ci95.unwrap_or((f64::NAN, f64::NAN));
                    let _ = writeln!(
                        s,
                        "  against {} ({}, LL {:+.5} nats/trial), per animal this run − that run:\n    \
                         mean {:+.5} nats/trial, 95% CI [{lo:+.5}, {hi:+.5}] ({} animals)\n    \
                         paired t-test p = {} two-sided, p = {} one-sided (this run predicts better); \
                         Wilcoxon signed-rank p = {} two-sided",
                        a.run,
                        a.model,
                        a.ll,
                        p.mean,
                        p.n,
                        p_value(p.t_test_p),
                        p_value(a.one_sided_p),
                        p_value(p.wilcoxon_p),
                    );
                }
            }
            None => {
                let _ = writeln!(
                    s,
                    "\nHeld-out LL and weight paths: add --test TEST_DATA, a second cohort simulated with the \
                     same settings and another seed (`denovo simulate … --seed 2 --out test.csv`; its \
                     test.truth.json must lie beside it)."
                );
            }
        }
        let _ = writeln!(
            s,
            "\nHistory: mean Δw_stim on the grid's correct trials after k rewarded | k error trials (ratio)"
        );
        let _ = writeln!(
            s,
            "  {:>2}   {:<36} {:<36}",
            "k",
            format!("fitted ({})", self.model),
            format!("true ({})", rule.kind.name())
        );
        for h in &self.history {
            let cell = |e: &super::HistoryEffect| {
                format!(
                    "{:.5} | {:.5} ({:.2})",
                    e.after_rewards, e.after_errors, e.ratio
                )
            };
            let _ = writeln!(
                s,
                "  {:>2}   {:<36} {:<36}",
                h.k,
                cell(&h.fitted),
                cell(&h.truth)
            );
        }
        if self.model == "dnn" {
            let _ = writeln!(
                s,
                "  (the DNN sees only the trial just completed: its ratio is 1 by construction)"
            );
        }
        if let Some(t) = &self.test {
            let _ = writeln!(
                s,
                "\nHistory on the test animals' own trials (every step from the true w_t; the RNN's \
                 memory runs on): mean Δw_stim on correct trials after exactly k rewarded | k error \
                 trials (ratio; the fitted/true ratio is the recovery, pass within 25%)"
            );
            let _ = writeln!(
                s,
                "  {:>2}   {:<30} {:<30} {:>8}         trials",
                "k",
                format!("fitted ({})", self.model),
                format!("true ({})", rule.kind.name()),
                "off by"
            );
            for h in &t.history {
                let cell = |e: &super::HistoryEffect| {
                    format!(
                        "{:.5} | {:.5} ({:.2})",
                        e.after_rewards, e.after_errors, e.ratio
                    )
                };
                let off = h.fitted.ratio / h.truth.ratio - 1.0;
                let _ = writeln!(
                    s,
                    "  {:>2}   {:<30} {:<30} {:>+7.1}%  {:<5}  {} | {}",
                    h.k,
                    cell(&h.fitted),
                    cell(&h.truth),
                    100.0 * off,
                    mark(off.abs() <= 0.25),
                    h.trials_after_rewards,
                    h.trials_after_errors
                );
            }
            let _ = writeln!(
                s,
                "  (the true ratio here is not the rule's own: the trials after errors sit at other weights, \
                 where steps differ; what counts is fitted against true on the same trials)"
            );
        }
        // No trailing blanks from the padded columns.
        s.lines().map(|l| l.trim_end().to_string() + "\n").collect()
    }
}

/// A p-value for the text: 3 significant digits, scientific below 0.001, and "< 1e-16"
/// where the f64 tail underflows; "—" when there is none.
fn p_value(p: Option<f64>) -> String {
    match p {
        None => "—".into(),
        Some(p) if p < 1e-16 => "< 1e-16".into(),
        Some(p) if p < 1e-3 => format!("{p:.2e}"),
        Some(p) => format!("{p:.3}"),
    }
}

//! `--collect`: the per-animal held-out LL of every task in one table, and the paper's
//! comparison of every model with the reference across animals.

use crate::task::{TaskResult, is_done, task_dir};
use crate::{Plan, SweepError};
use denovo_study::compare::{Paired, paired};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One row of `results.csv`: one held-out animal of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The model entry.
    pub model: String,
    /// The fold the animal was held out in.
    pub fold: usize,
    /// The sweep seed.
    pub seed: u64,
    /// The replicate.
    pub replicate: usize,
    /// The animal.
    pub subject: String,
    /// Its trials scored.
    pub trials: usize,
    /// Its held-out LL per trial (nats).
    pub ll_per_trial: f64,
}

/// One model against the reference across animals (`comparison.csv`): the paper's
/// statistic (Liu, Geadah & Pillow, arXiv 2509.04661): each animal's held-out LL per trial
/// averaged over seeds and replicates, differences model − reference per animal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The model.
    pub model: String,
    /// The reference.
    pub reference: String,
    /// Mean over animals of the model's per-animal held-out LL (nats/trial).
    pub mean_ll: f64,
    /// The paired comparison (mean difference, its 95% t interval, two-sided p-values of
    /// the paired t-test and the exact Wilcoxon signed-rank test; `denovo_study::compare`).
    pub paired: Paired,
    /// One-sided p-value of the paired t-test that the model predicts better (greater
    /// LL) than the reference: p/2 when the mean difference is positive, else 1 − p/2.
    pub t_test_p_greater: Option<f64>,
    /// The same for the Wilcoxon signed-rank test (halving the two-sided exact p; exact in
    /// the direction of the observed differences).
    pub wilcoxon_p_greater: Option<f64>,
}

/// What `--collect` produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collected {
    /// Every held-out animal of every task, in task order.
    pub rows: Vec<Row>,
    /// Per model and animal: held-out LL per trial averaged over seeds and replicates.
    pub per_animal: BTreeMap<String, BTreeMap<String, f64>>,
    /// Every other model against the reference.
    pub comparisons: Vec<Comparison>,
}

/// One-sided p (alternative: mean difference > 0) from a two-sided p of a test whose null
/// distribution is symmetric.
fn greater(two_sided: Option<f64>, mean: f64) -> Option<f64> {
    two_sided.map(|p| if mean > 0.0 { p / 2.0 } else { 1.0 - p / 2.0 })
}

/// Collects the sweep in `dir` (every task must be done) and writes `DIR/results.csv`,
/// `DIR/results.json` (all of [`Collected`]) and `DIR/comparison.csv`. `reference`
/// overrides the sweep's reference model.
///
/// Errors: [`SweepError::Incomplete`], [`SweepError::UnknownReference`],
/// [`SweepError::Io`], [`SweepError::Format`].
pub fn collect(dir: &Path, reference: Option<&str>) -> Result<Collected, SweepError> {
    let plan = Plan::read(dir)?;
    let reference = reference.unwrap_or(&plan.reference).to_string();
    if !plan.models.contains(&reference) {
        return Err(SweepError::UnknownReference {
            reference,
            models: plan.models.clone(),
        });
    }
    let done = plan.tasks.iter().filter(|t| is_done(dir, t)).count();
    if done < plan.tasks.len() {
        return Err(SweepError::Incomplete {
            done,
            tasks: plan.tasks.len(),
        });
    }
    let mut rows = Vec::new();
    for task in &plan.tasks {
        let path = task_dir(dir, task).join("heldout.json");
        let text = std::fs::read_to_string(&path).map_err(SweepError::io(&path))?;
        let r: TaskResult =
            serde_json::from_str(&text).map_err(|e| SweepError::format(&path, e))?;
        rows.extend(r.heldout.per_animal.iter().map(|a| Row {
            model: r.model.clone(),
            fold: r.fold,
            seed: r.seed,
            replicate: r.replicate,
            subject: a.subject.clone(),
            trials: a.trials,
            ll_per_trial: a.ll_per_trial,
        }));
    }
    let mut sums: BTreeMap<String, BTreeMap<String, (f64, usize)>> = BTreeMap::new();
    for row in &rows {
        let e = sums
            .entry(row.model.clone())
            .or_default()
            .entry(row.subject.clone())
            .or_default();
        e.0 += row.ll_per_trial;
        e.1 += 1;
    }
    let per_animal: BTreeMap<String, BTreeMap<String, f64>> = sums
        .into_iter()
        .map(|(m, a)| {
            (
                m,
                a.into_iter().map(|(s, (x, n))| (s, x / n as f64)).collect(),
            )
        })
        .collect();
    let base = &per_animal[&reference];
    let animals: Vec<&String> = base.keys().collect();
    let b: Vec<f64> = animals.iter().map(|s| base[*s]).collect();
    let comparisons = plan
        .models
        .iter()
        .filter(|m| **m != reference)
        .map(|m| {
            let a: Vec<f64> = animals.iter().map(|s| per_animal[m][*s]).collect();
            let p = paired(&a, &b);
            Comparison {
                model: m.clone(),
                reference: reference.clone(),
                mean_ll: a.iter().sum::<f64>() / a.len() as f64,
                t_test_p_greater: greater(p.t_test_p, p.mean),
                wilcoxon_p_greater: greater(p.wilcoxon_p, p.mean),
                paired: p,
            }
        })
        .collect();
    let collected = Collected {
        rows,
        per_animal,
        comparisons,
    };
    collected.write(dir)?;
    Ok(collected)
}

impl Collected {
    /// Writes `results.csv`, `results.json` and `comparison.csv` into `dir` (floats with
    /// Rust's shortest round-trip formatting, so equal runs give equal files).
    fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let mut csv = String::from("model,fold,seed,replicate,subject,trials,ll_per_trial\n");
        for r in &self.rows {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{}",
                r.model, r.fold, r.seed, r.replicate, r.subject, r.trials, r.ll_per_trial
            );
        }
        crate::write_atomic(&dir.join("results.csv"), csv.as_bytes())?;
        let path = dir.join("results.json");
        let json = serde_json::to_string_pretty(self).map_err(|e| SweepError::format(&path, e))?;
        crate::write_atomic(&path, json.as_bytes())?;
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut cmp = String::from(
            "model,reference,animals,mean_ll,mean_difference,ci95_low,ci95_high,t_test_p_greater,wilcoxon_p_greater\n",
        );
        for c in &self.comparisons {
            let _ = writeln!(
                cmp,
                "{},{},{},{},{},{},{},{},{}",
                c.model,
                c.reference,
                c.paired.n,
                c.mean_ll,
                c.paired.mean,
                opt(c.paired.ci95.map(|c| c.0)),
                opt(c.paired.ci95.map(|c| c.1)),
                opt(c.t_test_p_greater),
                opt(c.wilcoxon_p_greater)
            );
        }
        crate::write_atomic(&dir.join("comparison.csv"), cmp.as_bytes())
    }

    /// The comparison as a text table for the terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let reference = self
            .comparisons
            .first()
            .map_or("", |c| c.reference.as_str());
        let _ = writeln!(
            out,
            "held-out LL (nats/trial), per animal averaged over seeds; vs {reference}, one-sided (model better):"
        );
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>9} {:>10} {:>23} {:>9} {:>10}",
            "model", "animals", "mean LL", "Δ mean", "95% CI of Δ", "t-test p", "Wilcoxon p"
        );
        let p = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.2e}"));
        if let Some(base) = self.per_animal.get(reference) {
            let mean = base.values().sum::<f64>() / base.len().max(1) as f64;
            let _ = writeln!(out, "{reference:<22} {:>7} {mean:>9.5}", base.len());
        }
        for c in &self.comparisons {
            let ci = c
                .paired
                .ci95
                .map_or("—".into(), |(a, b)| format!("[{a:+.5}, {b:+.5}]"));
            let _ = writeln!(
                out,
                "{:<22} {:>7} {:>9.5} {:>+10.5} {ci:>23} {:>9} {:>10}",
                c.model,
                c.paired.n,
                c.mean_ll,
                c.paired.mean,
                p(c.t_test_p_greater),
                p(c.wilcoxon_p_greater)
            );
        }
        out
    }
}

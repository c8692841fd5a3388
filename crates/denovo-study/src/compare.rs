//! Paired comparisons across animals: mean difference with a t confidence interval, the
//! paired t-test and the Wilcoxon signed-rank test (distributions from statrs); the
//! cross-validated comparison of models over held-out animals ([`CrossValidated`]); and,
//! for one animal, runs paired over its held-out sessions ([`sessions_table`],
//! [`paired_greater`]).

use crate::SessionScore;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A paired comparison of two runs over the same animals (differences a − b).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Paired {
    /// Number of animals.
    pub n: usize,
    /// Mean difference.
    pub mean: f64,
    /// 95% confidence interval of the mean difference (Student t), when n ≥ 2.
    pub ci95: Option<(f64, f64)>,
    /// Two-sided p-value of the paired t-test, when n ≥ 2 and the differences vary.
    pub t_test_p: Option<f64>,
    /// Two-sided p-value of the Wilcoxon signed-rank test (exact, zero differences
    /// dropped), when at least one difference is not zero.
    pub wilcoxon_p: Option<f64>,
}

/// Compares paired values `a[i]` and `b[i]`.
pub fn paired(a: &[f64], b: &[f64]) -> Paired {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len();
    let mean = d.iter().sum::<f64>() / n.max(1) as f64;
    let (mut ci95, mut t_test_p) = (None, None);
    if n >= 2 {
        let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let se = (var / n as f64).sqrt();
        let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).expect("n ≥ 2 degrees of freedom");
        let q = t.inverse_cdf(0.975);
        ci95 = Some((mean - q * se, mean + q * se));
        if se > 0.0 {
            let stat = mean / se;
            t_test_p = Some((2.0 * (1.0 - t.cdf(stat.abs()))).min(1.0));
        }
    }
    Paired {
        n,
        mean,
        ci95,
        t_test_p,
        wilcoxon_p: wilcoxon_signed_rank(&d),
    }
}

/// Two-sided p-value of the Wilcoxon signed-rank test of differences `d` against 0. Zero
/// differences are dropped; ties share their mean rank. Exact (the permutation
/// distribution of the signed rank sum, by dynamic programming over doubled ranks) up to
/// 500 non-zero differences, the normal approximation beyond.
pub fn wilcoxon_signed_rank(d: &[f64]) -> Option<f64> {
    signed_rank(d).map(|t| t.two_sided)
}

/// One-sided p-value of the Wilcoxon signed-rank test of differences `d` against 0 with
/// the alternative "the differences tend to be positive": P(W+ ≥ w+) under the null, W+
/// the sum of the ranks of the positive differences. Zero differences are dropped; ties
/// share their mean rank. Exact up to 500 non-zero differences; beyond, the normal
/// approximation with a continuity correction of half the smallest step of W+ (½, or ¼
/// when tied ranks are halves). `None` when every difference is 0.
pub fn wilcoxon_signed_rank_greater(d: &[f64]) -> Option<f64> {
    signed_rank(d).map(|t| t.greater)
}

/// Both p-values of the signed-rank test ([`wilcoxon_signed_rank`],
/// [`wilcoxon_signed_rank_greater`]).
struct SignedRank {
    two_sided: f64,
    greater: f64,
}

fn signed_rank(d: &[f64]) -> Option<SignedRank> {
    let mut nz: Vec<f64> = d.iter().copied().filter(|v| *v != 0.0).collect();
    let n = nz.len();
    if n == 0 {
        return None;
    }
    nz.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    // Doubled ranks (integers even with ties).
    let mut ranks2 = vec![0usize; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nz[j + 1].abs() == nz[i].abs() {
            j += 1;
        }
        // Mean of ranks i+1..=j+1, doubled: (i + 1) + (j + 1).
        for r in &mut ranks2[i..=j] {
            *r = i + j + 2;
        }
        i = j + 1;
    }
    let w_plus2: usize = nz
        .iter()
        .zip(&ranks2)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let total2: usize = ranks2.iter().sum();
    if n > 500 {
        let mean = total2 as f64 / 4.0;
        let var = ranks2
            .iter()
            .map(|r| (*r as f64 / 2.0).powi(2))
            .sum::<f64>()
            / 4.0;
        let sd = var.sqrt();
        let normal = Normal::standard();
        let w = w_plus2 as f64 / 2.0;
        // Half the step of W+: ½ with integer ranks, ¼ when some ranks are halves.
        let half_step = if ranks2.iter().all(|r| r % 2 == 0) {
            0.5
        } else {
            0.25
        };
        let greater = (1.0 - normal.cdf((w - mean - half_step) / sd)).clamp(0.0, 1.0);
        let dev = ((w - mean).abs() - half_step).max(0.0);
        let two_sided = (2.0 * (1.0 - normal.cdf(dev / sd))).min(1.0);
        return Some(SignedRank { two_sided, greater });
    }
    // counts[s] = number of sign assignments with doubled positive rank sum s.
    let mut counts = vec![0f64; total2 + 1];
    counts[0] = 1.0;
    for &r in &ranks2 {
        for s in (r..=total2).rev() {
            counts[s] += counts[s - r];
        }
    }
    let all = 2f64.powi(n as i32);
    let lower: f64 = counts[..=w_plus2.min(total2 - w_plus2)].iter().sum();
    let at_least: f64 = counts[w_plus2..].iter().sum();
    Some(SignedRank {
        two_sided: (2.0 * lower / all).min(1.0),
        greater: (at_least / all).min(1.0),
    })
}

/// A paired comparison with the one-sided p-values of "a predicts better than b" (greater
/// LL): [`paired`] on `a` and `b`, the paired t-test's p halved in the direction of the
/// mean difference, and the exact one-sided Wilcoxon signed-rank p
/// ([`wilcoxon_signed_rank_greater`]) of the differences a − b.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedGreater {
    /// The paired comparison (two-sided p-values).
    pub paired: Paired,
    /// One-sided p of the paired t-test (alternative: mean difference > 0).
    pub t_test_p_greater: Option<f64>,
    /// One-sided p of the Wilcoxon signed-rank test (alternative: differences tend to be
    /// positive).
    pub wilcoxon_p_greater: Option<f64>,
}

/// Compares paired values `a[i]` and `b[i]` (e.g. LL per trial in nats, of two runs on the
/// same units), with one-sided p-values for "a is greater" ([`PairedGreater`]).
pub fn paired_greater(a: &[f64], b: &[f64]) -> PairedGreater {
    let p = paired(a, b);
    PairedGreater {
        t_test_p_greater: greater(p.t_test_p, p.mean),
        wilcoxon_p_greater: wilcoxon_signed_rank_greater(&differences(a, b)),
        paired: p,
    }
}

/// One animal's held-out sessions as the units of a comparison of runs: the sessions every
/// run scored and each run's LL per trial on them ([`sessions_table`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionsTable {
    /// The sessions every run scored, in the first run's order (their keys).
    pub sessions: Vec<String>,
    /// Per run, per session of `sessions`: its LL per trial (nats/trial), `[runs][sessions]`.
    pub ll: Vec<Vec<f64>>,
    /// Sessions that some run scored but not every run (left out of `sessions`), sorted.
    pub left_out: Vec<String>,
    /// Sessions of `sessions` that not every run scored on the same number of trials, each
    /// with the trial counts per run (`"12 (80 vs 75)"`).
    pub trials_differ: Vec<String>,
}

/// Pairs runs over the held-out sessions of one animal: `runs[r]` is run r's per-session
/// scores of the animal ([`crate::AnimalSplitScore::per_session`]). A session is a unit
/// when every run scored it with a finite LL; the others are listed in
/// [`SessionsTable::left_out`].
pub fn sessions_table(runs: &[&[SessionScore]]) -> SessionsTable {
    use std::collections::{BTreeSet, HashMap};
    let maps: Vec<HashMap<&str, &SessionScore>> = (runs.iter())
        .map(|r| {
            (r.iter())
                .filter(|s| s.ll_per_trial.is_finite())
                .map(|s| (s.session.as_str(), s))
                .collect()
        })
        .collect();
    let sessions: Vec<String> = (runs.first().copied().unwrap_or_default().iter())
        .map(|s| s.session.as_str())
        .filter(|k| maps.iter().all(|m| m.contains_key(k)))
        .map(str::to_string)
        .collect();
    let ll = (maps.iter())
        .map(|m| {
            sessions
                .iter()
                .map(|k| m[k.as_str()].ll_per_trial)
                .collect()
        })
        .collect();
    let left_out: BTreeSet<String> = (runs.iter().flat_map(|r| r.iter()))
        .map(|s| s.session.clone())
        .filter(|k| !sessions.contains(k))
        .collect();
    let trials_differ = (sessions.iter())
        .filter_map(|k| {
            let t: Vec<usize> = maps.iter().map(|m| m[k.as_str()].trials).collect();
            t.iter().any(|n| *n != t[0]).then(|| {
                let t: Vec<String> = t.iter().map(usize::to_string).collect();
                format!("{k} ({})", t.join(" vs "))
            })
        })
        .collect();
    SessionsTable {
        sessions,
        ll,
        left_out: left_out.into_iter().collect(),
        trials_differ,
    }
}

/// One held-out animal of one cross-validated fit (a row of a sweep's `results.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOutRow {
    /// The model entry.
    pub model: String,
    /// The fold the animal was held out in.
    pub fold: usize,
    /// The seed of the fit.
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

/// One model against the reference across animals: the paper's statistic (Liu, Geadah &
/// Pillow, arXiv 2509.04661): each animal's held-out LL per trial averaged over seeds and
/// replicates, differences model − reference per animal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVsReference {
    /// The model.
    pub model: String,
    /// The reference.
    pub reference: String,
    /// Mean over animals of the model's per-animal held-out LL (nats/trial).
    pub mean_ll: f64,
    /// The paired comparison (mean difference, its 95% t interval, two-sided p-values of
    /// the paired t-test and the exact Wilcoxon signed-rank test; [`paired`]).
    pub paired: Paired,
    /// One-sided p-value of the paired t-test that the model predicts better (greater
    /// LL) than the reference: p/2 when the mean difference is positive, else 1 − p/2.
    pub t_test_p_greater: Option<f64>,
    /// The same for the Wilcoxon signed-rank test (halving the two-sided exact p; exact in
    /// the direction of the observed differences).
    pub wilcoxon_p_greater: Option<f64>,
}

/// A cross-validated comparison of models over animals: every held-out animal's LL per
/// fit, the per-animal means over seeds and replicates, and every model against the
/// reference (what `denovo sweep --collect` writes as `results.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidated {
    /// The models, in the sweep's order.
    #[serde(default)]
    pub models: Vec<String>,
    /// The reference model of the comparisons.
    #[serde(default)]
    pub reference: String,
    /// Every held-out animal of every fit.
    pub rows: Vec<HeldOutRow>,
    /// Per model and animal: held-out LL per trial (nats) averaged over seeds and
    /// replicates.
    pub per_animal: BTreeMap<String, BTreeMap<String, f64>>,
    /// Every model but the reference against it (empty for a one-model sweep).
    pub comparisons: Vec<ModelVsReference>,
}

/// One-sided p (alternative: mean difference > 0) from a two-sided p of a test whose null
/// distribution is symmetric.
fn greater(two_sided: Option<f64>, mean: f64) -> Option<f64> {
    two_sided.map(|p| if mean > 0.0 { p / 2.0 } else { 1.0 - p / 2.0 })
}

/// `a − b`, element by element.
fn differences(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// Mean of the values of a map (NaN when empty).
fn mean_of(m: &BTreeMap<String, f64>) -> f64 {
    m.values().sum::<f64>() / m.len() as f64
}

/// At most this many animals are listed one per line by [`CrossValidated::table`].
const TABLE_ANIMALS: usize = 40;

impl CrossValidated {
    /// Averages `rows` per model and animal (over seeds and replicates) and compares every
    /// model of `models` but `reference` with it over the animals both have ([`paired`];
    /// one-sided p-values for "the model predicts better").
    pub fn new(models: Vec<String>, reference: String, rows: Vec<HeldOutRow>) -> Self {
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
                let means = a.into_iter().map(|(s, (x, n))| (s, x / n as f64));
                (m, means.collect())
            })
            .collect();
        let empty = BTreeMap::new();
        let base = per_animal.get(&reference).unwrap_or(&empty);
        let comparisons = models
            .iter()
            .filter(|m| **m != reference)
            .map(|m| {
                let of = per_animal.get(m).unwrap_or(&empty);
                let animals: Vec<&String> = base.keys().filter(|s| of.contains_key(*s)).collect();
                let a: Vec<f64> = animals.iter().map(|s| of[*s]).collect();
                let b: Vec<f64> = animals.iter().map(|s| base[*s]).collect();
                let p = paired_greater(&a, &b);
                ModelVsReference {
                    model: m.clone(),
                    reference: reference.clone(),
                    mean_ll: a.iter().sum::<f64>() / a.len() as f64,
                    t_test_p_greater: p.t_test_p_greater,
                    wilcoxon_p_greater: p.wilcoxon_p_greater,
                    paired: p.paired,
                }
            })
            .collect();
        CrossValidated {
            models,
            reference,
            rows,
            per_animal,
            comparisons,
        }
    }

    /// The reference's mean over animals of its per-animal held-out LL (nats/trial; NaN
    /// when it has no rows).
    pub fn reference_mean_ll(&self) -> f64 {
        self.per_animal
            .get(&self.reference)
            .map_or(f64::NAN, mean_of)
    }

    /// A model's held-out LL per trial pooled over all its held-out trials (every fold,
    /// seed and replicate; NaN when it has none).
    pub fn pooled_ll(&self, model: &str) -> f64 {
        let (ll, n) = (self.rows.iter())
            .filter(|r| r.model == model)
            .fold((0.0, 0usize), |(ll, n), r| {
                (ll + r.ll_per_trial * r.trials as f64, n + r.trials)
            });
        ll / n as f64
    }

    /// `results.csv`: `model,fold,seed,replicate,subject,trials,ll_per_trial`, one row per
    /// held-out animal of every fit (floats in Rust's shortest round-trip form).
    pub fn rows_csv(&self) -> String {
        let mut csv = String::from("model,fold,seed,replicate,subject,trials,ll_per_trial\n");
        for r in &self.rows {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{}",
                r.model, r.fold, r.seed, r.replicate, r.subject, r.trials, r.ll_per_trial
            );
        }
        csv
    }

    /// `comparison.csv`: the reference's row first (its animals and mean LL, the other
    /// columns empty), then one row per other model.
    pub fn comparison_csv(&self) -> String {
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut cmp = String::from(
            "model,reference,animals,mean_ll,mean_difference,ci95_low,ci95_high,t_test_p_greater,wilcoxon_p_greater\n",
        );
        let base = self.per_animal.get(&self.reference).map_or(0, |m| m.len());
        let _ = writeln!(
            cmp,
            "{},{},{base},{},,,,,",
            self.reference,
            self.reference,
            self.reference_mean_ll()
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
        cmp
    }

    /// The per-animal means as a text table (animals down, models across; at most 40
    /// animals, else a pointer to `results.csv`), then [`CrossValidated::comparison_table`].
    pub fn table(&self) -> String {
        let mut out = String::new();
        let animals: std::collections::BTreeSet<&String> =
            self.per_animal.values().flat_map(|m| m.keys()).collect();
        if animals.len() <= TABLE_ANIMALS {
            let _ = writeln!(
                out,
                "held-out LL (nats/trial) per animal, averaged over seeds and replicates:"
            );
            let _ = write!(out, "{:<16}", "animal");
            for m in &self.models {
                let _ = write!(out, " {m:>20}");
            }
            out.push('\n');
            for s in &animals {
                let _ = write!(out, "{s:<16}");
                for m in &self.models {
                    let v = self.per_animal.get(m).and_then(|a| a.get(*s));
                    let _ = write!(out, " {:>20}", v.map_or("—".into(), |v| format!("{v:.5}")));
                }
                out.push('\n');
            }
        } else {
            let _ = writeln!(
                out,
                "{} animals: held-out LL per animal, model, fold and seed in results.csv",
                animals.len()
            );
        }
        out.push('\n');
        out.push_str(&self.comparison_table());
        out
    }

    /// The comparison as a text table: the reference's row (its mean LL), then every other
    /// model with Δ mean, 95% CI and one-sided p-values; for a one-model sweep, its mean
    /// and a line saying there is nothing to compare.
    pub fn comparison_table(&self) -> String {
        let mut out = String::new();
        let reference = &self.reference;
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
            let _ = writeln!(
                out,
                "{reference:<22} {:>7} {:>9.5} {:>10}",
                base.len(),
                mean_of(base),
                "(reference)"
            );
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
        if self.comparisons.is_empty() {
            let _ = writeln!(
                out,
                "only one model ({reference}): nothing to compare; add [[models]] to the sweep"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The t-test and interval against values computed independently: differences
    /// 0.2, 0.3, 0.2, 0.8, 0.1 give t = 2.5786 on 4 degrees of freedom, two-sided
    /// p = 0.06142 (numerical integration of the t density), t₀.₉₇₅ = 2.7764.
    #[test]
    fn paired_t_test_matches_reference_values() {
        let a = [1.2, 2.3, 3.1, 4.8, 5.0];
        let b = [1.0, 2.0, 2.9, 4.0, 4.9];
        let p = paired(&a, &b);
        assert!((p.mean - 0.32).abs() < 1e-12);
        let t = p.t_test_p.unwrap();
        assert!((t - 0.06142).abs() < 1e-4, "p = {t}");
        let (lo, hi) = p.ci95.unwrap();
        let half = 2.7764 * 0.124097;
        assert!((lo - (0.32 - half)).abs() < 1e-3 && (hi - (0.32 + half)).abs() < 1e-3);
    }

    /// The exact signed-rank p-value: all 5 differences positive gives the smallest
    /// possible two-sided p, 2/32; symmetric data gives 1.
    #[test]
    fn wilcoxon_exact_extremes() {
        let p = wilcoxon_signed_rank(&[0.1, 0.2, 0.3, 0.4, 0.5]).unwrap();
        assert!((p - 2.0 / 32.0).abs() < 1e-12, "p = {p}");
        let p = wilcoxon_signed_rank(&[0.1, -0.1, 0.2, -0.2]).unwrap();
        assert!((p - 1.0).abs() < 1e-12, "p = {p}");
        assert_eq!(wilcoxon_signed_rank(&[0.0, 0.0]), None);
    }

    /// Ranks 1..6 with the positive ones 1 and 2: W+ = 3, and 5 of the 64 sign patterns
    /// have W+ ≤ 3 ({}, {1}, {2}, {3}, {1, 2}), so the two-sided p is 2 · 5/64.
    #[test]
    fn wilcoxon_exact_small_sample() {
        let d = [1.0, 2.0, -3.0, -4.0, -5.0, -6.0];
        let p = wilcoxon_signed_rank(&d).unwrap();
        assert!((p - 10.0 / 64.0).abs() < 1e-12, "p = {p}");
    }
    /// One-sided P(W+ ≥ w) by hand: n = 8, every difference negative: W+ = 0, p = 1 (the
    /// old code gave P(W+ > 0) = 255/256); every difference positive: W+ = 36, p = 1/256.
    /// n = 10 with W+ = 10 (ranks 1..4 positive): the 2^10 sign patterns with W+ ≤ 9 number
    /// 1, 1, 1, 2, 2, 3, 4, 5, 6, 8 for W+ = 0..9 (33 in all), so P(W+ ≥ 10) = 991/1024
    /// (the old code gave P(W+ > 10) = 981/1024); P(W+ ≥ 45) = P(W+ ≤ 10) = 43/1024.
    #[test]
    fn wilcoxon_one_sided_exact_both_tails() {
        let neg8: Vec<f64> = (1..=8).map(|i| -(i as f64)).collect();
        let p = wilcoxon_signed_rank_greater(&neg8).unwrap();
        assert!((p - 1.0).abs() < 1e-12, "p = {p}");
        let pos8: Vec<f64> = (1..=8).map(|i| i as f64).collect();
        let p = wilcoxon_signed_rank_greater(&pos8).unwrap();
        assert!((p - 1.0 / 256.0).abs() < 1e-12, "p = {p}");
        let d10: Vec<f64> = (1..=10)
            .map(|i| if i <= 4 { i as f64 } else { -(i as f64) })
            .collect();
        let p = wilcoxon_signed_rank_greater(&d10).unwrap();
        assert!((p - 991.0 / 1024.0).abs() < 1e-12, "p = {p}");
        // Mirror: ranks 1..4 negative, W+ = 55 − 10 = 45.
        let m10: Vec<f64> = d10.iter().map(|v| -v).collect();
        let p = wilcoxon_signed_rank_greater(&m10).unwrap();
        assert!((p - 43.0 / 1024.0).abs() < 1e-12, "p = {p}");
        // Through the comparison: a model worse on all 8 animals has p = 1.
        let rows: Vec<HeldOutRow> = (0..8)
            .flat_map(|i| {
                let s = format!("a{i}");
                [
                    row("base", 0, &s, -0.5),
                    row("worse", 0, &s, -0.6 - 0.01 * i as f64),
                ]
            })
            .collect();
        let cv = CrossValidated::new(vec!["base".into(), "worse".into()], "base".into(), rows);
        let p = cv.comparisons[0].wilcoxon_p_greater.unwrap();
        assert!((p - 1.0).abs() < 1e-12, "p = {p}");
    }

    /// The normal approximation (n > 500) against the exact tail sum of the same
    /// continuity-corrected statistic: n = 600, ranks 1..=300 positive (W+ = 45150, mean
    /// 90150, sd = √(600·601·1201/24) ≈ 4245.3): z = (45150 − 90150 − ½)/sd ≈ −10.6, p ≈ 1;
    /// the mirror has p = 1 − Φ((135150 − 90150 − ½)/sd), tiny; and W+ at the mean gives
    /// 1 − Φ(−½/sd) just above ½.
    #[test]
    fn wilcoxon_one_sided_normal_approximation() {
        let n = 600;
        let d: Vec<f64> = (1..=n)
            .map(|i| if i <= 300 { i as f64 } else { -(i as f64) })
            .collect();
        let p = wilcoxon_signed_rank_greater(&d).unwrap();
        assert!(p > 1.0 - 1e-12, "p = {p}");
        let m: Vec<f64> = d.iter().map(|v| -v).collect();
        let p = wilcoxon_signed_rank_greater(&m).unwrap();
        assert!(p < 1e-12, "p = {p}");
        // W+ = mean exactly: alternate signs in pairs so that the positive ranks sum to
        // n(n+1)/4 = 90150: ranks i and n+1−i positive for i = 1..150.
        let d: Vec<f64> = (1..=n)
            .map(|i| {
                if i <= 150 || i > n - 150 {
                    i as f64
                } else {
                    -(i as f64)
                }
            })
            .collect();
        let p = wilcoxon_signed_rank_greater(&d).unwrap();
        let sd = ((n * (n + 1) * (2 * n + 1)) as f64 / 24.0).sqrt();
        let want = 1.0 - Normal::standard().cdf(-0.5 / sd);
        assert!((p - want).abs() < 1e-9 && p > 0.5, "p = {p}, want {want}");
    }

    fn sessions(v: &[(&str, usize, f64)]) -> Vec<SessionScore> {
        (v.iter())
            .map(|&(session, trials, ll_per_trial)| SessionScore {
                session: session.into(),
                trials,
                ll_per_trial,
            })
            .collect()
    }

    /// Two runs of one animal paired over its held-out sessions: only the sessions both
    /// scored with a finite LL are units (in the first run's order; the others listed as
    /// left out, whatever their order in the second run), a session scored on different
    /// trials is named, and the differences 0.2, 0.3, 0.2, 0.8, 0.1 (a − b per session)
    /// give the values of `paired_t_test_matches_reference_values`: mean 0.32, t = 2.5786
    /// on 4 degrees of freedom (two-sided p = 0.06142, so one-sided 0.03071), the CI
    /// 0.32 ± 2.7764 · 0.124097; all five differences positive: Wilcoxon one-sided
    /// p = 1/32, two-sided 2/32.
    #[test]
    fn runs_pair_over_the_held_out_sessions_both_scored() {
        let a = sessions(&[
            ("61", 100, -0.5),
            ("62", 100, -0.4),
            ("63", 100, -0.6),
            ("64", 100, -0.3),
            ("65", 100, -0.7),
            ("66", 50, -0.2),
            ("67", 80, f64::NAN),
        ]);
        let b = sessions(&[
            ("65", 100, -0.8),
            ("62", 100, -0.7),
            ("61", 100, -0.7),
            ("63", 90, -0.8),
            ("64", 100, -1.1),
            ("60", 100, -0.9),
            ("67", 80, -0.6),
        ]);
        let t = sessions_table(&[&a, &b]);
        assert_eq!(t.sessions, ["61", "62", "63", "64", "65"]);
        assert_eq!(t.left_out, ["60", "66", "67"]);
        assert_eq!(t.trials_differ, ["63 (100 vs 90)"]);
        assert_eq!(t.ll[0], [-0.5, -0.4, -0.6, -0.3, -0.7]);
        assert_eq!(t.ll[1], [-0.7, -0.7, -0.8, -1.1, -0.8]);
        let p = paired_greater(&t.ll[0], &t.ll[1]);
        assert_eq!(p.paired.n, 5);
        assert!((p.paired.mean - 0.32).abs() < 1e-12, "{p:?}");
        let (lo, hi) = p.paired.ci95.unwrap();
        let half = 2.7764 * 0.124097;
        assert!((lo - (0.32 - half)).abs() < 1e-3 && (hi - (0.32 + half)).abs() < 1e-3);
        assert!((p.paired.t_test_p.unwrap() - 0.06142).abs() < 1e-4, "{p:?}");
        assert!(
            (p.t_test_p_greater.unwrap() - 0.03071).abs() < 1e-4,
            "{p:?}"
        );
        assert!((p.wilcoxon_p_greater.unwrap() - 1.0 / 32.0).abs() < 1e-12);
        assert!((p.paired.wilcoxon_p.unwrap() - 2.0 / 32.0).abs() < 1e-12);
        // The other way round: the worse run's one-sided p-values are the complements.
        let q = paired_greater(&t.ll[1], &t.ll[0]);
        assert!((q.t_test_p_greater.unwrap() - (1.0 - 0.03071)).abs() < 1e-4);
        assert!((q.wilcoxon_p_greater.unwrap() - 1.0).abs() < 1e-12);
        // One run alone: its sessions, nothing left out.
        let one = sessions_table(&[&b]);
        assert_eq!(one.sessions.len(), 7);
        assert!(one.left_out.is_empty() && one.trials_differ.is_empty());
    }

    fn row(model: &str, seed: u64, subject: &str, ll: f64) -> HeldOutRow {
        HeldOutRow {
            model: model.into(),
            fold: 0,
            seed,
            replicate: 0,
            subject: subject.into(),
            trials: 100,
            ll_per_trial: ll,
        }
    }

    /// Per-animal means over seeds; the comparison pairs animals; the reference has its
    /// own row in comparison.csv (mean LL, no difference).
    #[test]
    fn cross_validated_means_pairs_and_reference_row() {
        let rows = vec![
            row("base", 0, "a", -0.6),
            row("base", 1, "a", -0.4),
            row("base", 0, "b", -0.7),
            row("base", 1, "b", -0.7),
            row("new", 0, "a", -0.3),
            row("new", 1, "a", -0.5),
            row("new", 0, "b", -0.5),
            row("new", 1, "b", -0.6),
        ];
        let cv = CrossValidated::new(vec!["base".into(), "new".into()], "base".into(), rows);
        assert!((cv.per_animal["base"]["a"] + 0.5).abs() < 1e-12);
        assert!((cv.reference_mean_ll() + 0.6).abs() < 1e-12);
        let c = &cv.comparisons[0];
        // Differences: a: −0.4 − (−0.5) = 0.1, b: −0.55 − (−0.7) = 0.15.
        assert!((c.paired.mean - 0.125).abs() < 1e-12 && c.paired.n == 2);
        assert!((cv.pooled_ll("new") + 0.475).abs() < 1e-12);
        let csv = cv.comparison_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines[1].starts_with("base,base,2,-0.6,,"), "{csv}");
        assert!(lines[2].starts_with("new,base,2,"), "{csv}");
        assert!(cv.comparison_table().contains("(reference)"));
    }

    /// A one-model sweep: the per-animal table, the model's mean, and "nothing to
    /// compare" instead of an empty table.
    #[test]
    fn one_model_has_a_table_and_nothing_to_compare() {
        let rows = vec![row("only", 0, "a", -0.5), row("only", 0, "b", -0.7)];
        let cv = CrossValidated::new(vec!["only".into()], "only".into(), rows);
        assert!(cv.comparisons.is_empty());
        let t = cv.table();
        assert!(t.contains("-0.50000") && t.contains("-0.70000"), "{t}");
        assert!(
            t.contains("-0.60000") && t.contains("nothing to compare"),
            "{t}"
        );
        assert_eq!(cv.comparison_csv().lines().count(), 2);
    }
}

//! Paired comparisons across animals: mean difference with a t confidence interval, the
//! paired t-test and the Wilcoxon signed-rank test (distributions from statrs).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

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
        let z = (w_plus2 as f64 / 2.0 - mean) / var.sqrt();
        let normal = Normal::standard();
        return Some((2.0 * (1.0 - normal.cdf(z.abs()))).min(1.0));
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
    Some((2.0 * lower / all).min(1.0))
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
}

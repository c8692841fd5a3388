//! The band drawn around a fitted rule's Δw (issue 15, items 1, 3 and 4): where the rule
//! may lie given the ensemble's spread and the recovery checks' errors.
//!
//! Per read-out point and regressor the band is the union of
//! - the ensemble's range: the 2.5% to 97.5% percentiles of Δw across the run's replicates
//!   and the primary fit (`denovo fit --replicates`), and
//! - per recovery check ([`crate::check`]; its generator g, its refits r₁…r_n): the refits'
//!   errors e_i = r_i − g estimate how the fitter misses a rule like g, so the truth lies in
//!   f − ē ± t₀.₉₇₅,ₙ₋₁ · sd(e) (a bias-corrected normal interval, f the primary fit; with
//!   one refit ± |e₁|),
//!
//! and always contains the primary fit. A check whose generator is the fitted rule itself
//! measures the data's spread; one whose generator is another plausible rule (a parametric
//! fit of the same data) measures a pull the fitter exerts whatever the data, which the
//! first cannot see.

use crate::check::LoadedCheck;
use crate::fit::ReadBackend;
use crate::readout::quantile;
use crate::{Run, StudyError};
use denovo_train::readout::{Point, read_out};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Low and high end of the band, `[points][regressors]` of `(lo, hi)` in weight units per
/// trial.
pub type BandRange = Vec<Vec<(f64, f64)>>;

/// The two-sided 95% quantile of Student's t with `n − 1` degrees of freedom (n ≥ 2).
fn t975(n: usize) -> f64 {
    StudentsT::new(0.0, 1.0, (n - 1) as f64).map_or(1.96, |t| t.inverse_cdf(0.975))
}

/// Δw of `run`'s rule at `points` (`history`: read out after K rewarded / unrewarded
/// trials, for rules with a history), `[points][regressors]`.
fn dw(run: &Run, points: &[Point], k: usize, history: Option<(usize, bool)>) -> Vec<Vec<f64>> {
    crate::with_model!(&run.rule, r => read_out::<ReadBackend, _>(r, points, k, history))
}

/// The band of `run` at `points` (see the module's documentation): the range across
/// `members` (its replicates) widened by each of `checks`; `None` when there are neither
/// members nor checks (a single fit has no band).
///
/// Errors: [`StudyError::Setting`] when a member, refit or generator has other regressors
/// than `run`.
pub fn rule_band(
    run: &Run,
    members: &[Run],
    checks: &[LoadedCheck],
    points: &[Point],
    history: Option<(usize, bool)>,
) -> Result<Option<BandRange>, StudyError> {
    if members.is_empty() && checks.iter().all(|c| c.refits.is_empty()) {
        return Ok(None);
    }
    let k = run.regressors().len();
    let same = |other: &Run| {
        if other.regressors() == run.regressors() {
            Ok(())
        } else {
            Err(StudyError::Setting {
                setting: "the band's runs",
                expected: "the regressors of the run",
                got: format!(
                    "{} in {}",
                    other.regressors().join(","),
                    other.dir.display()
                ),
            })
        }
    };
    let primary = dw(run, points, k, history);
    let member_dw = members
        .iter()
        .map(|m| same(m).map(|()| dw(m, points, k, history)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut band: BandRange = (0..points.len())
        .map(|p| {
            (0..k)
                .map(|j| {
                    let f = primary[p][j];
                    let mut v: Vec<f64> = member_dw.iter().map(|m| m[p][j]).chain([f]).collect();
                    v.sort_by(f64::total_cmp);
                    (quantile(&v, 0.025).min(f), quantile(&v, 0.975).max(f))
                })
                .collect()
        })
        .collect();
    for check in checks {
        let n = check.refits.len();
        if n == 0 {
            continue;
        }
        let generator = match &check.generator {
            Some(g) => {
                same(g)?;
                dw(g, points, k, history)
            }
            None => primary.clone(),
        };
        let refits = check
            .refits
            .iter()
            .map(|r| same(r).map(|()| dw(r, points, k, history)))
            .collect::<Result<Vec<_>, _>>()?;
        for (p, row) in band.iter_mut().enumerate() {
            for (j, (lo, hi)) in row.iter_mut().enumerate() {
                let e: Vec<f64> = refits.iter().map(|r| r[p][j] - generator[p][j]).collect();
                let mean = e.iter().sum::<f64>() / n as f64;
                let half = if n == 1 {
                    e[0].abs()
                } else {
                    let var = e.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                    t975(n) * var.sqrt()
                };
                let centre = primary[p][j] - mean;
                *lo = lo.min(centre - half);
                *hi = hi.max(centre + half);
            }
        }
    }
    Ok(Some(band))
}

/// How well a band covers a known rule over the visited cells of one slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Visited cells of the slice.
    pub visited: usize,
    /// Visited cells whose band contains the true Δw.
    pub covered: usize,
}

impl Coverage {
    /// `covered / visited` (NaN without visited cells).
    pub fn fraction(&self) -> f64 {
        self.covered as f64 / self.visited as f64
    }
}

/// The coverage of `band` (`[points][regressors]`) of the true Δw `truth`
/// (`[points][regressors]`) for regressor `j` over the points `selected` (the visited cells
/// of one slice): a cell is covered when lo − 1e-12 ≤ truth ≤ hi + 1e-12.
pub fn coverage(
    band: &BandRange,
    truth: &[Vec<f64>],
    j: usize,
    selected: impl IntoIterator<Item = usize>,
) -> Coverage {
    let mut c = Coverage::default();
    for p in selected {
        let (lo, hi) = band[p][j];
        c.visited += 1;
        c.covered += usize::from(truth[p][j] >= lo - 1e-12 && truth[p][j] <= hi + 1e-12);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_student_t() {
        assert!((t975(2) - 12.706).abs() < 1e-3);
        assert!((t975(5) - 2.776).abs() < 1e-3);
        assert!((t975(1000) - 1.962).abs() < 1e-3);
    }

    #[test]
    fn coverage_counts_the_cells_inside_the_band() {
        let band = vec![vec![(0.0, 1.0)], vec![(0.5, 0.6)], vec![(-1.0, 0.0)]];
        let truth = vec![vec![0.5], vec![0.7], vec![0.0]];
        let c = coverage(&band, &truth, 0, [0, 1, 2]);
        assert_eq!(
            c,
            Coverage {
                visited: 3,
                covered: 2
            }
        );
        assert_eq!(coverage(&band, &truth, 0, [1]).covered, 0);
    }
}

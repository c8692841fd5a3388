//! A fitted rule read out on the common grid (`grid.csv`).

use crate::fit::ReadBackend;
use crate::{Run, StudyError};
use denovo_train::readout::{Point, grid_with_stimuli, read_out};
use std::path::Path;

/// Δw across an ensemble's members per condition, point and feature: [mean, 2.5%, 50%,
/// 97.5% percentile].
pub type Band = Vec<Vec<Vec<[f64; 4]>>>;

/// Δw of a rule on the grid of [`denovo_train::readout::grid`], under one or more
/// history conditions.
#[derive(Debug, Clone)]
pub struct RuleGrid {
    /// The model's name.
    pub model: String,
    /// The regressors, in order.
    pub regressors: Vec<String>,
    /// The grid points.
    pub points: Vec<Point>,
    /// Per condition (`none`, `K rewarded`, `K unrewarded`): Δw at every point,
    /// `[points][features]`.
    pub conditions: Vec<(String, Vec<Vec<f64>>)>,
    /// Across an ensemble's members and the primary fit (see [`RuleGrid::set_band`]): per
    /// condition, per point, per feature, Δw's [mean, 2.5%, 50%, 97.5%] percentile (the
    /// outer two widened to contain the primary fit and, with recovery checks, to
    /// [`crate::band::rule_band`]'s range); `None` without replicates or checks.
    pub band: Option<Band>,
    /// Ensemble members in [`RuleGrid::band`] (the primary fit not counted).
    pub members: usize,
    /// The recovery checks whose errors widen [`RuleGrid::band`] ([`crate::band`]), by
    /// name (`self`, or a generator run's folder name); empty without.
    pub checks: Vec<String>,
    /// Per point, how many training trials of the run's animals fall in its cell (w_t
    /// rounded to the grid's nearest weights, x_t to the nearest regressor values, the
    /// same choice and outcome); `None` when the data could not be read.
    pub visits: Option<Vec<usize>>,
}

/// The grid cell index of a value: the nearest of `values` (ascending), or `None` when
/// `v` lies more than half a step outside them.
fn nearest(values: &[f64], v: f64) -> Option<usize> {
    let (i, d) = values
        .iter()
        .enumerate()
        .map(|(i, g)| (i, (g - v).abs()))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let step = if values.len() > 1 {
        (values[values.len() - 1] - values[0]) / (values.len() - 1) as f64
    } else {
        1.0
    };
    let inside = v >= values[0] - step / 2.0 && v <= values[values.len() - 1] + step / 2.0;
    (inside || d < 1e-9).then_some(i)
}

/// Linear-interpolated `q`-quantile of sorted values (NaN when empty).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The read-out grid of `run` ([`denovo_train::readout::grid`]): with the `stim` regressor
/// on the stimulus values of the simulation behind its data when its truth sidecar says it
/// used explicit values (`denovo simulate --stimuli=-2:0.25:2`), else on the IBL contrasts.
pub fn grid_points(run: &Run) -> Vec<Point> {
    let stimuli = run
        .spec
        .as_ref()
        .and_then(|s| {
            let format = match s.format {
                denovo_data::Format::Auto if s.data.is_dir() => denovo_data::Format::IblAlf,
                f => f,
            };
            crate::Truth::beside(&s.data, format).ok().flatten()
        })
        .and_then(|t| t.stimulus_values());
    grid_with_stimuli(run.regressors(), stimuli.as_deref())
}

impl RuleGrid {
    /// Reads `run`'s rule out on the grid; for a rule with a history (the RNN) and
    /// `history` = K > 0, also after K rewarded and after K unrewarded trials (rules without
    /// a history ignore `history`).
    pub fn of_run(run: &Run, history: usize) -> RuleGrid {
        let regressors = run.regressors().to_vec();
        let k = regressors.len();
        let points = grid_points(run);
        let mut conditions: Vec<(String, Option<(usize, bool)>)> = vec![("none".into(), None)];
        if history > 0 && run.rule.has_history() {
            conditions.push((format!("{history} rewarded"), Some((history, true))));
            conditions.push((format!("{history} unrewarded"), Some((history, false))));
        }
        let conditions = conditions
            .into_iter()
            .map(|(label, h)| {
                let d = crate::with_model!(&run.rule, r => read_out::<ReadBackend, _>(r, &points, k, h));
                (label, d)
            })
            .collect();
        RuleGrid {
            model: run.label(),
            regressors,
            points,
            conditions,
            band: None,
            members: 0,
            checks: Vec::new(),
            visits: None,
        }
    }

    /// [`RuleGrid::of_run`], with the band across the run's replicates
    /// (`RUN_DIR/replicates/`, when it has some: [`RuleGrid::band`]) and the training
    /// trials' visits per cell ([`RuleGrid::visits`]; `None`, with the reason returned,
    /// when the run's data cannot be read).
    ///
    /// Errors: [`StudyError::RunDir`] / [`StudyError::Format`] for a damaged replicate.
    pub fn of_run_dir(run: &Run, history: usize) -> Result<(RuleGrid, Option<String>), StudyError> {
        let mut grid = RuleGrid::of_run(run, history);
        let members = crate::ensemble::load_replicates(&run.dir)?;
        let grids: Vec<RuleGrid> = members
            .iter()
            .map(|m| RuleGrid::of_run(m, history))
            .collect();
        grid.set_band(&grids);
        let checks = crate::check::load_checks(&run.dir)?;
        grid.checks = checks.iter().map(|c| c.summary.name.clone()).collect();
        if members.is_empty() && checks.is_empty() {
            grid.band = None;
        }
        if !checks.is_empty() {
            let band = grid.band.as_mut().expect("set above");
            let histories = [None, Some((history, true)), Some((history, false))];
            for (c, h) in histories
                .into_iter()
                .take(grid.conditions.len())
                .enumerate()
            {
                let range = crate::band::rule_band(run, &members, &checks, &grid.points, h)?
                    .expect("checks given");
                for (b, r) in band[c].iter_mut().zip(&range) {
                    for (v, &(lo, hi)) in b.iter_mut().zip(r) {
                        v[1] = v[1].min(lo);
                        v[3] = v[3].max(hi);
                    }
                }
            }
        }
        let warning = match visits(run, &grid.points) {
            Ok(v) => {
                grid.visits = Some(v);
                None
            }
            Err(e) => Some(format!("no visit counts: {e}")),
        };
        Ok((grid, warning))
    }

    /// Sets [`RuleGrid::band`] from the members' grids (same points and conditions): the
    /// statistics are over the members and this grid's own read-out (the primary fit)
    /// together, and the 2.5% / 97.5% percentiles are widened to the primary fit's value
    /// where it lies outside them, so the band always contains the curve drawn.
    pub fn set_band(&mut self, members: &[RuleGrid]) {
        let band = self
            .conditions
            .iter()
            .enumerate()
            .map(|(c, (_, deltas))| {
                (0..deltas.len())
                    .map(|p| {
                        (0..self.regressors.len())
                            .map(|j| {
                                let primary = deltas[p][j];
                                let mut v: Vec<f64> = members
                                    .iter()
                                    .filter_map(|m| m.conditions.get(c))
                                    .map(|(_, d)| d[p][j])
                                    .chain([primary])
                                    .collect();
                                v.sort_by(f64::total_cmp);
                                let mean = v.iter().sum::<f64>() / v.len() as f64;
                                [
                                    mean,
                                    quantile(&v, 0.025).min(primary),
                                    quantile(&v, 0.5),
                                    quantile(&v, 0.975).max(primary),
                                ]
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        self.band = Some(band);
        self.members = members.len();
    }

    /// Writes `grid.csv`: model, history, `w_<r>`…, `x_<r>`…, choice, reward, answer,
    /// `dw_<r>`… — one row per point and condition; with a band, then `dw_<r>_mean`,
    /// `dw_<r>_q025`, `dw_<r>_q50`, `dw_<r>_q975` per regressor; with visits, `visits`.
    ///
    /// Errors: [`StudyError::Format`] / [`StudyError::Io`] naming the file.
    pub fn write_csv(&self, path: &Path) -> Result<(), StudyError> {
        let io = |e: csv::Error| StudyError::format(path, e);
        let mut out = csv::Writer::from_path(path).map_err(io)?;
        let r = &self.regressors;
        let mut header = vec!["model".to_string(), "history".into()];
        header.extend(r.iter().map(|r| format!("w_{r}")));
        header.extend(r.iter().map(|r| format!("x_{r}")));
        header.extend(["choice".into(), "reward".into(), "answer".into()]);
        header.extend(r.iter().map(|r| format!("dw_{r}")));
        if self.band.is_some() {
            for r in r {
                for stat in ["mean", "q025", "q50", "q975"] {
                    header.push(format!("dw_{r}_{stat}"));
                }
            }
        }
        if self.visits.is_some() {
            header.push("visits".into());
        }
        out.write_record(&header).map_err(io)?;
        for (c, (label, deltas)) in self.conditions.iter().enumerate() {
            for (i, (p, d)) in self.points.iter().zip(deltas).enumerate() {
                let mut row = vec![self.model.clone(), label.clone()];
                row.extend(p.w.iter().chain(&p.x).map(|v| format!("{v}")));
                row.extend([
                    format!("{}", p.choice),
                    format!("{}", u8::from(p.correct)),
                    format!("{}", p.answer()),
                ]);
                row.extend(d.iter().map(|v| format!("{v}")));
                if let Some(band) = &self.band {
                    row.extend(band[c][i].iter().flatten().map(|v| format!("{v}")));
                }
                if let Some(visits) = &self.visits {
                    row.push(visits[i].to_string());
                }
                out.write_record(&row).map_err(io)?;
            }
        }
        out.flush().map_err(StudyError::io(path))
    }
}

/// How many training trials of `run`'s animals fall in each grid point's cell: w_t (under
/// the fitted rule, from each animal's fitted w0, else the mean, else 0) and x_t rounded to
/// the grid's nearest values, the same choice and outcome (rewarded = correct).
pub(crate) fn visits(run: &Run, points: &[Point]) -> Result<Vec<usize>, StudyError> {
    let spec = run.spec.as_ref().ok_or_else(|| {
        StudyError::run_dir(&run.dir, "no fit.toml: the data behind the run are unknown")
    })?;
    let (_, design) = spec.load()?;
    let k = design.names.len();
    let subjects: Vec<&denovo_data::SubjectDesign> = design.subjects.iter().collect();
    let ends: Vec<usize> = subjects
        .iter()
        .map(|s| s.first_holdout_trial(spec.split.holdout_sessions))
        .collect();
    let windows: Vec<denovo_train::SubjectWindow> = ends
        .iter()
        .map(|&e| denovo_train::SubjectWindow::until(e))
        .collect();
    let device = Default::default();
    let batch = denovo_train::SequenceBatch::<ReadBackend>::new(&subjects, &windows, &device);
    let mean = run.mean_w0();
    let w0: Vec<f64> = match &run.summary.w0 {
        Some(rows) if rows.len() == subjects.len() => rows.concat(),
        _ => (0..subjects.len()).flat_map(|_| mean.clone()).collect(),
    };
    let w0 = denovo_glm::float_tensor::<ReadBackend, 2>(w0, [subjects.len(), k], &device);
    let paths = crate::with_model!(&run.rule, r => denovo_train::weight_trajectories(
        r, &batch, w0.clone(), &ends,
    ));
    // The grid's values per coordinate, and each point's cell.
    let axis = |f: &dyn Fn(&Point) -> f64| -> Vec<f64> {
        let mut v: Vec<f64> = points.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    let w_axes: Vec<Vec<f64>> = (0..k).map(|j| axis(&|p: &Point| p.w[j])).collect();
    let x_axes: Vec<Vec<f64>> = (0..k).map(|j| axis(&|p: &Point| p.x[j])).collect();
    let key = |w: &[f64], x: &[f64], choice: f64, correct: bool| -> Option<Vec<usize>> {
        let mut cell = Vec::with_capacity(2 * k + 2);
        for (axis, v) in w_axes.iter().zip(w).chain(x_axes.iter().zip(x)) {
            cell.push(nearest(axis, *v)?);
        }
        cell.push(usize::from(choice > 0.5));
        cell.push(usize::from(correct));
        Some(cell)
    };
    let index: std::collections::HashMap<Vec<usize>, usize> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| key(&p.w, &p.x, p.choice, p.correct).map(|c| (c, i)))
        .collect();
    let mut counts = vec![0usize; points.len()];
    for ((s, path), &end) in subjects.iter().zip(&paths).zip(&ends) {
        for (t, w) in path.iter().enumerate().take(end) {
            let x = &s.x[t * k..(t + 1) * k];
            if let Some(i) = key(w, x, s.choice[t], s.reward[t] > 0.0).and_then(|c| index.get(&c)) {
                counts[*i] += 1;
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_cells_and_quantiles() {
        let g = [-1.0, 0.0, 1.0];
        assert_eq!(nearest(&g, 0.4), Some(1));
        assert_eq!(nearest(&g, 1.49), Some(2));
        assert_eq!(nearest(&g, 1.51), None);
        assert_eq!(nearest(&[1.0], 1.0), Some(0));
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert!((quantile(&v, 0.025) - 0.1).abs() < 1e-12);
    }

    /// A grid of one point and one regressor whose Δw is `d`.
    fn one(d: f64) -> RuleGrid {
        RuleGrid {
            model: "m".into(),
            regressors: vec!["stim".into()],
            points: denovo_train::readout::grid(&["stim".to_string()])[..1].to_vec(),
            conditions: vec![("none".into(), vec![vec![d]])],
            band: None,
            members: 0,
            checks: Vec::new(),
            visits: None,
        }
    }

    #[test]
    fn the_band_contains_the_primary_fit() {
        // Four members at 1, 2, 3, 4: their own 2.5–97.5% range is [1.075, 3.925].
        let members: Vec<RuleGrid> = [1.0, 2.0, 3.0, 4.0].map(one).to_vec();
        for (primary, lo, hi) in [(10.0, 1.1, 10.0), (-5.0, -5.0, 3.9), (2.5, 1.1, 3.9)] {
            let mut g = one(primary);
            g.set_band(&members);
            let [mean, q025, q50, q975] = g.band.as_ref().unwrap()[0][0][0];
            assert!(
                q025 <= primary && primary <= q975,
                "{primary} in [{q025}, {q975}]"
            );
            assert!(
                (q025 - lo).abs() < 1e-9 && (q975 - hi).abs() < 1e-9,
                "{q025} {q975}"
            );
            assert!((mean - (10.0 + primary) / 5.0).abs() < 1e-12);
            assert!(q025 <= q50 && q50 <= q975);
            assert_eq!(g.members, 4);
        }
    }
}

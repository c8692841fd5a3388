//! A fitted rule read out on the common grid (`grid.csv`).

use crate::fit::ReadBackend;
use crate::{Run, StudyError};
use denovo_train::readout::{Point, grid, read_out};
use std::path::Path;

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
}

impl RuleGrid {
    /// Reads `run`'s rule out on the grid; for a rule with a history (the RNN) and
    /// `history` = K > 0, also after K rewarded and after K unrewarded trials (rules without
    /// a history ignore `history`).
    pub fn of_run(run: &Run, history: usize) -> RuleGrid {
        let regressors = run.regressors().to_vec();
        let k = regressors.len();
        let points = grid(&regressors);
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
            model: run.model().to_string(),
            regressors,
            points,
            conditions,
        }
    }

    /// Writes `grid.csv`: model, history, `w_<r>`…, `x_<r>`…, choice, reward, answer,
    /// `dw_<r>`… — one row per point and condition.
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
        out.write_record(&header).map_err(io)?;
        for (label, deltas) in &self.conditions {
            for (p, d) in self.points.iter().zip(deltas) {
                let mut row = vec![self.model.clone(), label.clone()];
                row.extend(p.w.iter().chain(&p.x).map(|v| format!("{v}")));
                row.extend([
                    format!("{}", p.choice),
                    format!("{}", u8::from(p.correct)),
                    format!("{}", p.answer()),
                ]);
                row.extend(d.iter().map(|v| format!("{v}")));
                out.write_record(&row).map_err(io)?;
            }
        }
        out.flush().map_err(StudyError::io(path))
    }
}

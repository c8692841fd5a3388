//! Recovery of a known rule in the paper's own setting (Liu, Geadah & Pillow 2025, Fig. 2):
//! the fitted and the true Δw_stim compared on the paper's grid ([`grid_error`]), and the
//! whole comparison of a fitted run with the simulation's truth that `denovo recover`
//! prints ([`recover`]): the grid metric, the held-out log-likelihood of the fitted and the
//! true rule on test animals, the test animals' weight-path error, and the history
//! read-out (Δw after k rewarded vs k error trials).

mod report;
mod text;

pub use report::{
    Against, DataHistoryRow, HISTORY_KS, HistoryEffect, HistoryRow, RECOVER_SCHEMA, RecoverError,
    RecoverInput, RecoveryReport, TestReport, WeightPathError, data_history, history_effect,
    recover,
};

use crate::Model;
use crate::fit::ReadBackend;
use denovo_train::readout::{Point, read_out};

/// The paper's grid of the stimulus-weight update, regressors `[stim, bias]`: 17 stimuli
/// (−2, −1.75, …, 2) × choice {0, 1} × w_stim ∈ linspace(−2, 2, `n_w`) × w_bias ∈
/// {−1, 0, 1}; the trial is correct iff the choice is the side of the stimulus (right iff
/// stim > 0). The paper uses `n_w` = 1001 (102,102 points).
pub fn paper_grid(n_w: usize) -> Vec<Point> {
    let mut points = Vec::with_capacity(17 * 2 * n_w * 3);
    for i in 0..17 {
        let stim = -2.0 + 0.25 * i as f64;
        for choice in [0.0, 1.0] {
            let correct = (choice == 1.0) == (stim > 0.0);
            for j in 0..n_w {
                let w_stim = if n_w == 1 {
                    0.0
                } else {
                    -2.0 + 4.0 * j as f64 / (n_w - 1) as f64
                };
                for w_bias in [-1.0, 0.0, 1.0] {
                    points.push(Point {
                        w: vec![w_stim, w_bias],
                        x: vec![stim, 1.0],
                        choice,
                        correct,
                    });
                }
            }
        }
    }
    points
}

/// How far a fitted rule's Δw_stim is from the truth's on a grid: the RMSE divided by the
/// RMS of the true Δw_stim, overall and per slice (each over the same points), and on error
/// trials the RMS of the fitted update relative to the RMS of the true correct-trial update
/// (the paper-recovery issue's definitions).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GridError {
    /// RMSE / RMS(true), all points.
    pub overall: f64,
    /// The same over the correct trials.
    pub correct: f64,
    /// RMS of the fitted Δw_stim on error trials / RMS of the true update on correct
    /// trials (REINFORCE's true update after an error is 0).
    pub error: f64,
    /// RMSE / RMS(true) per w_bias value (−1, 0, 1), all trials.
    pub by_bias: Vec<(f64, f64)>,
    /// The RMS of the true Δw_stim on the whole grid.
    pub true_rms: f64,
}

/// Compares the Δw_stim (regressor 0) of `fitted` and `truth` on `points` (see
/// [`paper_grid`]); rules with a history are read out from a fresh state.
pub fn grid_error(
    fitted: &Model<ReadBackend>,
    truth: &Model<ReadBackend>,
    points: &[Point],
) -> GridError {
    let k = points.first().map_or(0, |p| p.w.len());
    let dw = |m: &Model<ReadBackend>| -> Vec<f64> {
        crate::with_model!(m, r => read_out::<ReadBackend, _>(r, points, k, None))
            .into_iter()
            .map(|d| d[0])
            .collect()
    };
    let (f, t) = (dw(fitted), dw(truth));
    let rms = |v: &mut dyn Iterator<Item = f64>| {
        let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x * x, n + 1));
        (s / n.max(1) as f64).sqrt()
    };
    // RMS of the true update and RMSE of the fitted one over the points `keep` selects.
    let over = |keep: &dyn Fn(&Point) -> bool| {
        let pairs = || points.iter().zip(f.iter().zip(&t)).filter(|(p, _)| keep(p));
        let truth = rms(&mut pairs().map(|(_, (_, b))| *b));
        (rms(&mut pairs().map(|(_, (a, b))| a - b)), truth)
    };
    let rel = |keep: &dyn Fn(&Point) -> bool| {
        let (e, t) = over(keep);
        e / t
    };
    let true_rms = over(&|_| true).1;
    let true_correct = over(&|p| p.correct).1;
    let error = {
        let mut on_errors = points
            .iter()
            .zip(&f)
            .filter(|(p, _)| !p.correct)
            .map(|(_, a)| *a);
        rms(&mut on_errors) / true_correct
    };
    GridError {
        overall: rel(&|_| true),
        correct: rel(&|p| p.correct),
        error,
        by_bias: [-1.0, 0.0, 1.0]
            .into_iter()
            .map(|b| (b, rel(&|p: &Point| p.w[1] == b)))
            .collect(),
        true_rms,
    }
}

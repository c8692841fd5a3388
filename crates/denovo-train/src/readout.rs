//! Reading a learning rule out: Δw on a common grid of weights, stimuli and outcomes, so
//! that parametric and neural rules compare point by point (`denovo rule`, reports and the
//! recovery experiments use it).

use burn::tensor::{Tensor, backend::Backend};
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::{LearningRule, TrialBatch};

/// One grid row: the weights before the trial, its regressors, the choice (1 = right) and
/// whether it was correct (the correct side follows).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Policy weights w_t.
    pub w: Vec<f64>,
    /// Regressors x_t.
    pub x: Vec<f64>,
    /// The choice, 0 (left) or 1 (right).
    pub choice: f64,
    /// Whether the choice was correct (and rewarded).
    pub correct: bool,
}

impl Point {
    /// The correct side: the choice when correct, the other side when not.
    pub fn answer(&self) -> f64 {
        if self.correct {
            self.choice
        } else {
            1.0 - self.choice
        }
    }
}

/// The grid on which rules are read out: every weight on −2, −1.5, …, 2 (a `bias`
/// weight on −1, 0, 1), every non-bias regressor on its typical values (`stim`: the signed
/// IBL contrasts through tanh(5c)/tanh(5); others −1, −0.5, 0, 0.5, 1; `bias` 1), choice
/// left/right and correct or not.
pub fn grid(regressors: &[String]) -> Vec<Point> {
    grid_with_stimuli(regressors, None)
}

/// [`grid`], with the `stim` regressor on `stimuli` instead of the IBL contrasts (the
/// values a simulation used, e.g. −2, −1.75, …, 2 in the paper's); `None` or empty: as
/// [`grid`].
pub fn grid_with_stimuli(regressors: &[String], stimuli: Option<&[f64]>) -> Vec<Point> {
    let weights: Vec<Vec<f64>> = regressors
        .iter()
        .map(|r| {
            if r == "bias" {
                vec![-1.0, 0.0, 1.0]
            } else {
                (0..9).map(|i| -2.0 + 0.5 * f64::from(i)).collect()
            }
        })
        .collect();
    let inputs: Vec<Vec<f64>> = regressors
        .iter()
        .map(|r| match r.as_str() {
            "bias" => vec![1.0],
            "stim" => match stimuli {
                Some(v) if !v.is_empty() => v.to_vec(),
                _ => [
                    -1.0, -0.5, -0.25, -0.125, -0.0625, 0.0, 0.0625, 0.125, 0.25, 0.5, 1.0,
                ]
                .iter()
                .map(|&c| denovo_data::stimulus_transform(c, denovo_data::DEFAULT_CONTRAST_GAIN))
                .collect(),
            },
            _ => vec![-1.0, -0.5, 0.0, 0.5, 1.0],
        })
        .collect();
    let mut points = Vec::new();
    for w in cartesian(&weights) {
        for x in cartesian(&inputs) {
            for choice in [0.0, 1.0] {
                for correct in [true, false] {
                    points.push(Point {
                        w: w.clone(),
                        x: x.clone(),
                        choice,
                        correct,
                    });
                }
            }
        }
    }
    points
}

fn cartesian(sets: &[Vec<f64>]) -> Vec<Vec<f64>> {
    sets.iter().fold(vec![vec![]], |acc, set| {
        acc.iter()
            .flat_map(|prefix| {
                set.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(*v);
                    p
                })
            })
            .collect()
    })
}

fn batch<B: Backend>(points: &[Point], k: usize) -> TrialBatch<B> {
    let dev = Default::default();
    let n = points.len();
    let x: Vec<f64> = points.iter().flat_map(|p| p.x.clone()).collect();
    let choice: Vec<f64> = points.iter().map(|p| p.choice).collect();
    let reward: Vec<f64> = points
        .iter()
        .map(|p| f64::from(u8::from(p.correct)))
        .collect();
    let answer: Vec<f64> = points.iter().map(Point::answer).collect();
    TrialBatch {
        x: float_tensor(x, [n, k], &dev),
        choice: float_tensor(choice, [n], &dev),
        reward: float_tensor(reward, [n], &dev),
        answer: float_tensor(answer, [n], &dev),
        session_start: float_tensor(vec![0.0; n], [n], &dev),
    }
}

/// The RMSE between `fitted` and `truth`, relative to the RMS of `truth` (0 = identical,
/// 1 = no better than predicting zero): the grid metric of the recovery experiments.
pub fn relative_rmse(fitted: &[f64], truth: &[f64]) -> f64 {
    let n = truth.len().max(1) as f64;
    let mse = fitted
        .iter()
        .zip(truth)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / n;
    let ms = truth.iter().map(|b| b * b).sum::<f64>() / n;
    (mse / ms).sqrt()
}

/// Δw = w_{t+1} − w_t of `rule` at every grid point (`k` regressors) after `history`
/// trials that were all rewarded (`Some((n, true))`), all unrewarded (`Some((n, false))`)
/// or none (`None`, from the rule's initial state). History trials show a stimulus of
/// regressor value ±0.5 (alternating sides) and keep the grid point's weights.
pub fn read_out<B, R>(
    rule: &R,
    points: &[Point],
    k: usize,
    history: Option<(usize, bool)>,
) -> Vec<Vec<f64>>
where
    B: Backend,
    R: LearningRule<B, State = Tensor<B, 2>>,
{
    let (steps, rewarded) = history.unwrap_or((0, true));
    read_out_with(rule, points, k, steps, |p, s| {
        let side = (s % 2) as f64;
        Point {
            w: p.w.clone(),
            x: p.x
                .iter()
                .map(|&v| {
                    if v == 1.0 {
                        1.0
                    } else if side == 1.0 {
                        0.5
                    } else {
                        -0.5
                    }
                })
                .collect(),
            choice: if rewarded { side } else { 1.0 - side },
            correct: rewarded,
        }
    })
}

/// The read-out loop shared by [`read_out`] and [`read_out_after`]: `steps` history trials,
/// trial `s` at grid point `p` being `trial(p, s)`, each fed through the rule with the
/// weights set back to the point's after it (the rest of the state kept), then the grid
/// step. Returns Δw, `[points][k]`.
fn read_out_with<B, R>(
    rule: &R,
    points: &[Point],
    k: usize,
    steps: usize,
    trial: impl Fn(&Point, usize) -> Point,
) -> Vec<Vec<f64>>
where
    B: Backend,
    R: LearningRule<B, State = Tensor<B, 2>>,
{
    let dev = Default::default();
    let n = points.len();
    let w_grid: Tensor<B, 2> = float_tensor(
        points.iter().flat_map(|p| p.w.clone()).collect(),
        [n, k],
        &dev,
    );
    let mut state = rule.initial_state(w_grid.clone());
    for s in 0..steps {
        let hist: Vec<Point> = points.iter().map(|p| trial(p, s)).collect();
        state = rule.step(state, &batch::<B>(&hist, k));
        // Back to the grid point's weights, keeping the history in the rest of the state.
        let drift = w_grid.clone() - rule.policy_weights(&state);
        state = rule.perturb_weights(state, drift);
    }
    let next = rule.step(state, &batch::<B>(points, k));
    let delta = to_f64_vec(rule.policy_weights(&next) - w_grid);
    delta.chunks(k).map(<[f64]>::to_vec).collect()
}

/// Δw = w_{t+1} − w_t of `rule` at every grid point (`k` regressors) after the trials
/// `history`, fed through the rule in order before the grid trial: each history trial's
/// `x`, `choice` and `correct` (its `w` is not used) is shown at every point, and after it
/// the weights are set back to the point's, keeping the rest of the state (an RNN's
/// memory, a streak count). An empty `history` reads out from the rule's initial state,
/// as [`read_out`] with `None`. Returns `[points][k]`.
pub fn read_out_after<B, R>(
    rule: &R,
    points: &[Point],
    k: usize,
    history: &[Point],
) -> Vec<Vec<f64>>
where
    B: Backend,
    R: LearningRule<B, State = Tensor<B, 2>>,
{
    read_out_with(rule, points, k, history.len(), |p, s| Point {
        w: p.w.clone(),
        ..history[s].clone()
    })
}

/// Δw of `rule` on every trial of `batch`, each step taken from the true weights of that
/// trial (teacher forcing): before trial t the weights are set to `true_w[animal][t]`,
/// keeping the rest of the state (an RNN's memory, a streak count), which runs on through
/// the animal's own trials. So the rule is read out where the animals were, after the
/// histories they had. `true_w` is `[animals][trials][k]` (at least the batch's run per
/// animal); returns `[animals][trials − 1][k]`: the step after each trial but the last.
///
/// # Panics
/// If an animal's `true_w` is shorter than its run (a programming error).
pub fn teacher_forced_steps<B, R>(
    rule: &R,
    batch: &crate::SequenceBatch<B>,
    true_w: &[&[Vec<f64>]],
) -> Vec<Vec<Vec<f64>>>
where
    B: Backend,
    R: LearningRule<B>,
{
    let (n, k) = (batch.n_animals(), batch.n_features);
    let runs: Vec<usize> = batch.host.iter().map(|h| h.choice.len()).collect();
    let dev = Default::default();
    // The true weights before trial t, `[animals, k]` (an animal past its run keeps its
    // last row; its steps there are dropped).
    let at = |t: usize| -> Tensor<B, 2> {
        let rows = (0..n).flat_map(|i| true_w[i][t.min(runs[i] - 1)].clone());
        float_tensor(rows.collect(), [n, k], &dev)
    };
    let steps = batch.steps();
    let mut out: Vec<Vec<Vec<f64>>> = runs.iter().map(|&r| Vec::with_capacity(r)).collect();
    let mut state = rule.initial_state(at(0));
    for (t, trial) in steps.iter().enumerate().take(steps.len().saturating_sub(1)) {
        let w = at(t);
        state = rule.perturb_weights(state.clone(), w.clone() - rule.policy_weights(&state));
        state = rule.step(state, trial);
        let dw = to_f64_vec(rule.policy_weights(&state) - w);
        for (i, row) in dw.chunks(k).enumerate() {
            if t + 1 < runs[i] {
                out[i].push(row.to_vec());
            }
        }
    }
    out
}

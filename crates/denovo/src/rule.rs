//! `denovo rule`: the fitted learning rule read out on a grid.

use crate::run_dir::{ReadBackend, read_run, with_rule};
use anyhow::Context;
use burn::tensor::Tensor;
use clap::Args;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::{LearningRule, TrialBatch};
use std::path::PathBuf;

/// Arguments of `denovo rule`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo rule runs/dnn --out runs/dnn/grid.csv
  denovo rule runs/rnn --history 3 --out grid.csv

The grid: every weight w_j on −2, −1.5, …, 2 (the bias weight on −1, 0, 1), every
non-bias regressor x_j on its typical values (stim: the signed IBL contrasts through
tanh(5c)/tanh(5); others −1, −0.5, 0, 0.5, 1), choice left/right and the trial correct or
not (the correct side follows). Each row gives Δw = w_{t+1} − w_t after that trial. The
same grid for every model, so parametric and neural rules compare row by row. For rnn
runs, --history K adds the read-out after K rewarded and after K unrewarded trials.")]
pub struct RuleArgs {
    /// The run directory of `denovo fit`.
    pub run: PathBuf,
    /// Output CSV.
    #[arg(long)]
    pub out: PathBuf,
    /// For rnn runs: also condition on the previous K trials all rewarded / all unrewarded.
    #[arg(long, default_value_t = 0)]
    pub history: usize,
}

/// One grid row before evaluation.
#[derive(Debug, Clone)]
struct Point {
    w: Vec<f64>,
    x: Vec<f64>,
    choice: f64,
    correct: bool,
}

/// The grid of trials on which rules are read out.
fn grid(regressors: &[String]) -> Vec<Point> {
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
            "stim" => [
                -1.0, -0.5, -0.25, -0.125, -0.0625, 0.0, 0.0625, 0.125, 0.25, 0.5, 1.0,
            ]
            .iter()
            .map(|&c| denovo_data::stimulus_transform(c, denovo_data::DEFAULT_CONTRAST_GAIN))
            .collect(),
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

fn batch(points: &[Point], k: usize) -> TrialBatch<ReadBackend> {
    let dev = Default::default();
    let n = points.len();
    let x: Vec<f64> = points.iter().flat_map(|p| p.x.clone()).collect();
    let choice: Vec<f64> = points.iter().map(|p| p.choice).collect();
    let reward: Vec<f64> = points
        .iter()
        .map(|p| f64::from(u8::from(p.correct)))
        .collect();
    let answer: Vec<f64> = points
        .iter()
        .map(|p| if p.correct { p.choice } else { 1.0 - p.choice })
        .collect();
    TrialBatch {
        x: float_tensor(x, [n, k], &dev),
        choice: float_tensor(choice, [n], &dev),
        reward: float_tensor(reward, [n], &dev),
        answer: float_tensor(answer, [n], &dev),
        session_start: float_tensor(vec![0.0; n], [n], &dev),
    }
}

/// Δw at every grid point after `history` trials that were all rewarded (`Some(true)`),
/// all unrewarded (`Some(false)`) or none (`None`). History trials show a stimulus of
/// regressor value 0.5 (alternating sides) and keep the grid point's weights.
fn read_out<R>(
    rule: &R,
    points: &[Point],
    k: usize,
    history: Option<(usize, bool)>,
) -> Vec<Vec<f64>>
where
    R: LearningRule<ReadBackend, State = Tensor<ReadBackend, 2>>,
{
    let dev = Default::default();
    let n = points.len();
    let w_grid: Tensor<ReadBackend, 2> = float_tensor(
        points.iter().flat_map(|p| p.w.clone()).collect(),
        [n, k],
        &dev,
    );
    let mut state = rule.initial_state(w_grid.clone());
    if let Some((steps, rewarded)) = history {
        for s in 0..steps {
            let side = (s % 2) as f64;
            let hist: Vec<Point> = points
                .iter()
                .map(|p| Point {
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
                })
                .collect();
            state = rule.step(state, &batch(&hist, k));
            // Back to the grid point's weights, keeping the history in the rest of the state.
            let drift = w_grid.clone() - rule.policy_weights(&state);
            state = rule.perturb_weights(state, drift);
        }
    }
    let next = rule.step(state, &batch(points, k));
    let delta = to_f64_vec(rule.policy_weights(&next) - w_grid);
    delta.chunks(k).map(<[f64]>::to_vec).collect()
}

/// Runs `denovo rule`.
pub fn run(args: &RuleArgs) -> anyhow::Result<()> {
    let run = read_run(&args.run)?;
    let k = run.regressors.len();
    let points = grid(&run.regressors);
    let mut conditions: Vec<(String, Option<(usize, bool)>)> = vec![("none".into(), None)];
    if args.history > 0 {
        if run.has_history() {
            conditions.push((
                format!("{} rewarded", args.history),
                Some((args.history, true)),
            ));
            conditions.push((
                format!("{} unrewarded", args.history),
                Some((args.history, false)),
            ));
        } else {
            eprintln!(
                "note: --history is ignored for {} (the rule has no memory)",
                run.model
            );
        }
    }
    let mut out = csv::Writer::from_path(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let mut header = vec!["model".to_string(), "history".into()];
    header.extend(run.regressors.iter().map(|r| format!("w_{r}")));
    header.extend(run.regressors.iter().map(|r| format!("x_{r}")));
    header.extend(["choice".into(), "reward".into(), "answer".into()]);
    header.extend(run.regressors.iter().map(|r| format!("dw_{r}")));
    out.write_record(&header)?;
    for (label, history) in &conditions {
        let deltas = with_rule!(&run.rule, r => read_out(r, &points, k, *history));
        for (p, d) in points.iter().zip(deltas) {
            let mut row = vec![run.model.clone(), label.clone()];
            row.extend(p.w.iter().chain(&p.x).map(|v| format!("{v}")));
            let answer = if p.correct { p.choice } else { 1.0 - p.choice };
            row.extend([
                format!("{}", p.choice),
                format!("{}", u8::from(p.correct)),
                format!("{answer}"),
            ]);
            row.extend(d.iter().map(|v| format!("{v}")));
            out.write_record(&row)?;
        }
    }
    out.flush()?;
    println!(
        "{}: Δw of the {} rule on {} grid points × {} condition(s) → {}",
        run.dir.display(),
        run.model,
        points.len(),
        conditions.len(),
        args.out.display()
    );
    Ok(())
}

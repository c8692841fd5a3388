//! `readout::teacher_forced_steps`: Δw of a rule on every trial, each step from given
//! weights. On the rule's own trajectory it gives that trajectory's steps; on other weights
//! it gives the rule's formula at those weights; a streak rule's count runs on.

use burn::backend::NdArray;
use denovo_rules::{Parametric, Reinforce, ReinforceStreak, RuleKind, RuleSpec};
use denovo_train::readout::teacher_forced_steps;
use denovo_train::{SequenceBatch, weight_trajectories};

type B = NdArray<f64>;
const ALPHA: [f64; 2] = [0.1, 0.05];

fn spec(kind: RuleKind) -> RuleSpec {
    RuleSpec {
        alpha: ALPHA.to_vec(),
        ..RuleSpec::initial(kind, 2, 0.0)
    }
}

fn batch() -> (SequenceBatch<B>, Vec<denovo_data::SubjectDesign>) {
    let config = denovo_sim::CohortConfig {
        animals: 3,
        trials: 40,
        seed: 5,
        ..Default::default()
    };
    let c = denovo_sim::simulate(&spec(RuleKind::Reinforce), &config).unwrap();
    let d = c.dataset.design(&Default::default()).unwrap();
    (
        SequenceBatch::whole(&d.subjects, &Default::default()),
        d.subjects,
    )
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[test]
fn on_its_own_trajectory_the_steps_are_the_trajectory_s() {
    let (batch, subjects) = batch();
    let dev = Default::default();
    let rule = Reinforce::<B>::from_spec(&spec(RuleKind::Reinforce), &dev);
    let w0 = denovo_glm::float_tensor::<B, 2>(vec![0.3, -0.2, 0.0, 0.1, -0.5, 0.4], [3, 2], &dev);
    let runs: Vec<usize> = subjects.iter().map(|s| s.n_trials()).collect();
    let paths = weight_trajectories(&rule, &batch, w0, &runs);
    let slices: Vec<&[Vec<f64>]> = paths.iter().map(Vec::as_slice).collect();
    let steps = teacher_forced_steps(&rule, &batch, &slices);
    for (path, dw) in paths.iter().zip(&steps) {
        assert_eq!(dw.len(), path.len() - 1);
        for (t, d) in dw.iter().enumerate() {
            for j in 0..2 {
                assert!((d[j] - (path[t + 1][j] - path[t][j])).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn on_other_weights_each_step_is_the_formula_at_those_weights() {
    let (batch, subjects) = batch();
    let dev = Default::default();
    let rule = Reinforce::<B>::from_spec(&spec(RuleKind::Reinforce), &dev);
    // Weights that no rule produced: w_t = (sin t, cos t) per animal.
    let given: Vec<Vec<Vec<f64>>> = subjects
        .iter()
        .map(|s| {
            (0..s.n_trials())
                .map(|t| vec![(t as f64).sin(), (t as f64).cos()])
                .collect()
        })
        .collect();
    let slices: Vec<&[Vec<f64>]> = given.iter().map(Vec::as_slice).collect();
    let steps = teacher_forced_steps(&rule, &batch, &slices);
    for ((s, w), dw) in subjects.iter().zip(&given).zip(&steps) {
        for (t, d) in dw.iter().enumerate() {
            let x = &s.x[2 * t..2 * t + 2];
            let p = sigmoid(w[t][0] * x[0] + w[t][1] * x[1]);
            for j in 0..2 {
                let expected = ALPHA[j] * s.reward[t] * (s.choice[t] - p) * x[j];
                assert!(
                    (d[j] - expected).abs() < 1e-12,
                    "t {t}: {d:?} vs {expected}"
                );
            }
        }
    }
}

#[test]
fn a_streak_count_runs_on_under_teacher_forcing() {
    let (batch, subjects) = batch();
    let dev = Default::default();
    let rule = ReinforceStreak::<B>::from_spec(&spec(RuleKind::ReinforceStreak), &dev);
    let given: Vec<Vec<Vec<f64>>> = subjects
        .iter()
        .map(|s| vec![vec![0.5, 0.0]; s.n_trials()])
        .collect();
    let slices: Vec<&[Vec<f64>]> = given.iter().map(Vec::as_slice).collect();
    let steps = teacher_forced_steps(&rule, &batch, &slices);
    for (s, dw) in subjects.iter().zip(&steps) {
        let mut streak = 0usize;
        for (t, d) in dw.iter().enumerate() {
            let x = &s.x[2 * t..2 * t + 2];
            let p = sigmoid(0.5 * x[0]);
            let gain = 1.0 + streak.min(3) as f64;
            let expected = gain * ALPHA[0] * s.reward[t] * (s.choice[t] - p) * x[0];
            assert!((d[0] - expected).abs() < 1e-12, "t {t}");
            streak = if s.reward[t] == 1.0 { streak + 1 } else { 0 };
        }
    }
}

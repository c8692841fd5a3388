//! Helpers shared by the denovo-nn integration tests (each test file has `mod common;`
//! and uses some of them, hence `dead_code` allowed).
#![allow(dead_code)]

use denovo_data::SubjectDesign;
use denovo_rules::{HostSequence, RuleKind, RuleSpec};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// A small simulated REINFORCE cohort (sessions of 20–30 trials, spread initial weights),
/// as design matrices (stim, bias).
pub fn designs(animals: usize, trials: usize, seed: u64) -> Vec<SubjectDesign> {
    let config = denovo_sim::CohortConfig {
        animals,
        trials,
        session_min: 20,
        session_max: 30,
        w0_sd: vec![0.5, 0.5],
        seed,
        ..Default::default()
    };
    denovo_sim::simulate(&RuleSpec::initial(RuleKind::Reinforce, 2, 0.08), &config)
        .unwrap()
        .dataset
        .design(&Default::default())
        .unwrap()
        .subjects
}

/// How [`random_cohort`] draws its animals.
pub struct RandomCohort<L, S> {
    /// Animal `i`'s number of trials, drawn with the cohort's generator before its trials.
    pub trials: L,
    /// One trial's regressors (the stimulus first), drawn with the cohort's generator.
    pub stimulus: S,
    /// Sessions start every this many trials.
    pub session: usize,
    /// Animals `i` with `i % 4 == short_end` stop being scored a fifth of their trials
    /// before their end.
    pub short_end: usize,
}

/// `n` animals of random trials, seeded: per animal its length `trials(i, rng)`, then every
/// trial's regressors `stimulus(rng)` (K values each), then choices (1 or 0 with
/// probability ½ each); the correct side is 1 where the stimulus (the first regressor) is
/// positive and the reward 1 where the choice was correct; sessions of `session` trials.
/// Animals with `i % 3 == 1` are scored from a quarter of their trials on, those with
/// `i % 4 == short_end` to a fifth before their end, so kernels pad and mask.
pub fn random_cohort<L, S>(n: usize, seed: u64, mut how: RandomCohort<L, S>) -> Vec<HostSequence>
where
    L: FnMut(usize, &mut StdRng) -> usize,
    S: FnMut(&mut StdRng) -> Vec<f64>,
{
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let len = (how.trials)(i, &mut rng);
            let mut k = 0;
            let x: Vec<f64> = (0..len)
                .flat_map(|_| {
                    let trial = (how.stimulus)(&mut rng);
                    k = trial.len();
                    trial
                })
                .collect();
            let answer: Vec<f64> = (0..len).map(|t| f64::from(x[k * t] > 0.0)).collect();
            let choice: Vec<f64> = (0..len)
                .map(|_| f64::from(u8::from(rng.random_bool(0.5))))
                .collect();
            let reward = choice
                .iter()
                .zip(&answer)
                .map(|(c, a)| f64::from(u8::from(c == a)))
                .collect();
            let start = if i % 3 == 1 { len / 4 } else { 0 };
            let end = if i % 4 == how.short_end {
                len - len / 5
            } else {
                len
            };
            HostSequence {
                x,
                choice,
                reward,
                answer,
                session_start: (0..len)
                    .map(|t| f64::from(u8::from(t % how.session == 0)))
                    .collect(),
                score: start..end,
            }
        })
        .collect()
}

/// Largest |a − b| / (|b| + 1e-3 · max |b|) over each animal's `per` values (`a` and `b`
/// of equal length, `[animals × per]`), the denominator at least `floor` (where an
/// animal's `b` is all zero).
pub fn worst(a: &[f64], b: &[f64], per: usize, floor: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths");
    let mut worst = 0.0f64;
    for (x, y) in a.chunks(per).zip(b.chunks(per)) {
        let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (u, v) in x.iter().zip(y) {
            worst = worst.max((u - v).abs() / (v.abs() + 1e-3 * scale).max(floor));
        }
    }
    worst
}

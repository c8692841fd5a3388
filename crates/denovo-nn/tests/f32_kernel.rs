//! The f32 lane kernels (`scan_f32`) against the f64 reference kernel (`scan`): the same
//! log-likelihoods and gradients, on cohorts whose animals differ in length and scored
//! range (so blocks are padded and lanes frozen), of sizes that leave lanes empty.

use denovo_nn::{ScanOutput, ScanRule, SimdLevel, scan, scan_f32, scan_f32_with};
use denovo_rules::HostSequence;
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::{RandomCohort, random_cohort};

/// `n` animals of 40–400 trials with IBL-like stimuli, random choices and outcomes,
/// sessions of 37 trials; some scored from a later trial or to an earlier end.
fn cohort(n: usize, seed: u64) -> Vec<HostSequence> {
    let contrasts = [-1.0, -0.25, -0.125, -0.0625, 0.0, 0.0625, 0.125, 0.25, 1.0];
    random_cohort(
        n,
        seed,
        RandomCohort {
            trials: |_, rng: &mut StdRng| rng.random_range(40..400),
            stimulus: |rng: &mut StdRng| {
                let c: f64 = contrasts[rng.random_range(0..contrasts.len())];
                vec![(5.0 * c).tanh() / 5f64.tanh(), 1.0]
            },
            session: 37,
            short_end: 2,
        },
    )
}

/// Parameters like a trained rule's: weights ~ U(−a, a) with a = 1/√fan-in, γ = 0.02
/// (larger than at initialisation, so the updates matter).
fn params(rule: &ScanRule, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let k = rule.n_features();
    let mut p: Vec<f64> = (0..rule.n_params() - k)
        .map(|_| rng.random_range(-0.3..0.3))
        .collect();
    p.extend(std::iter::repeat_n(0.02, k));
    p
}

/// Largest relative error of `a` against the f64 reference `b` ([`common::worst`]).
fn worst(a: &[f64], b: &[f64], per: usize) -> f64 {
    common::worst(a, b, per, 1e-300)
}

fn compare(rule: &ScanRule, n: usize, seed: u64) {
    compare_at(SimdLevel::Auto, rule, n, seed);
}

fn compare_at(level: SimdLevel, rule: &ScanRule, n: usize, seed: u64) {
    let animals = cohort(n, seed);
    let k = rule.n_features();
    let mut rng = StdRng::seed_from_u64(seed + 1);
    let w0: Vec<f64> = (0..n * k).map(|_| rng.random_range(-1.0..1.0)).collect();
    let theta = params(rule, seed + 2);
    let reference: ScanOutput = scan(rule, &theta, &w0, &animals, true);
    let fast = scan_f32_with(level, rule, &theta, &w0, &animals, true);
    let ll = worst(&fast.log_likelihood, &reference.log_likelihood, 1);
    let dp = worst(&fast.d_params, &reference.d_params, rule.n_params());
    let dw = worst(&fast.d_w0, &reference.d_w0, k);
    eprintln!("{level:?} {rule:?} n={n}: LL {ll:.2e}, dθ {dp:.2e}, dw0 {dw:.2e}");
    assert!(ll < 1e-5, "log-likelihood off by {ll:.2e} relative");
    assert!(dp < 1e-4, "parameter gradients off by {dp:.2e} relative");
    assert!(dw < 1e-4, "w0 gradients off by {dw:.2e} relative");
    let forward = scan_f32_with(level, rule, &theta, &w0, &animals, false);
    assert_eq!(forward.log_likelihood, fast.log_likelihood);
    assert!(forward.d_params.is_empty());
}

#[test]
fn dnn_f32_equals_f64_reference() {
    let rule = ScanRule::Dnn {
        sizes: vec![8, 32, 32, 2],
        structure: Default::default(),
    };
    for (n, seed) in [(1, 1), (5, 2), (12, 3), (37, 4)] {
        compare(&rule, n, seed);
    }
}

#[test]
fn rnn_f32_equals_f64_reference() {
    let rule = ScanRule::Rnn {
        input: 8,
        hidden: 32,
        head: vec![32, 32, 32, 2],
        structure: Default::default(),
    };
    for (n, seed) in [(1, 5), (5, 6), (12, 7), (37, 8)] {
        compare(&rule, n, seed);
    }
}

/// Odd layer widths exercise every remainder path of the blocked products.
#[test]
fn odd_widths_equal_f64_reference() {
    compare(
        &ScanRule::Dnn {
            sizes: vec![8, 13, 5, 2],
            structure: Default::default(),
        },
        9,
        9,
    );
    compare(
        &ScanRule::Rnn {
            input: 8,
            hidden: 7,
            head: vec![7, 11, 2],
            structure: Default::default(),
        },
        9,
        10,
    );
}

/// Every SIMD flavour (each falls back to a narrower one where the CPU lacks it) gives the
/// reference's results; and the default picks one of them.
#[test]
fn every_simd_level_equals_f64_reference() {
    let rnn = ScanRule::Rnn {
        input: 8,
        hidden: 16,
        head: vec![16, 8, 2],
        structure: Default::default(),
    };
    let dnn = ScanRule::Dnn {
        sizes: vec![8, 16, 2],
        structure: Default::default(),
    };
    for level in [SimdLevel::Avx512, SimdLevel::Avx2, SimdLevel::Portable] {
        compare_at(level, &rnn, 7, 11);
        compare_at(level, &dnn, 19, 12);
    }
    let animals = cohort(3, 13);
    let theta = params(&dnn, 14);
    let w0 = vec![0.1; 6];
    let auto = scan_f32(&dnn, &theta, &w0, &animals, true);
    let some_level = [SimdLevel::Avx512, SimdLevel::Avx2, SimdLevel::Portable]
        .into_iter()
        .any(|l| scan_f32_with(l, &dnn, &theta, &w0, &animals, true) == auto);
    assert!(some_level, "Auto equals one of the explicit levels");
}

/// Gated and input-dropped rules: the f32 lanes give the f64 reference's log-likelihoods and
/// gradients (the gate folds into the lanes' update mask, the dropped columns into the input).
#[test]
fn structured_f32_equals_f64_reference() {
    use denovo_nn::{Gate, RuleInput, Structure};
    for structure in [
        Structure::new(Gate::CorrectOnly, vec![RuleInput::Answer]),
        Structure::new(Gate::ErrorOnly, vec![RuleInput::Weights, RuleInput::Reward]),
    ] {
        compare(
            &ScanRule::Dnn {
                sizes: vec![8, 13, 5, 2],
                structure: structure.clone(),
            },
            9,
            21,
        );
        compare(
            &ScanRule::Rnn {
                input: 8,
                hidden: 7,
                head: vec![7, 11, 2],
                structure,
            },
            9,
            22,
        );
    }
}

/// A shared cohort's packed trials are kept between scans: the kept blocks give exactly
/// what packing afresh gives, for each gate (the gate is packed into the blocks), and a
/// new cohort never gets an earlier cohort's blocks, even after the earlier one is dropped.
#[test]
fn kept_blocks_of_a_shared_cohort_equal_fresh_packing() {
    use denovo_nn::{Gate, Structure, scan_f32_shared};
    use std::sync::Arc;
    let rules: Vec<ScanRule> = [Gate::None, Gate::CorrectOnly]
        .into_iter()
        .map(|gate| ScanRule::Dnn {
            sizes: vec![8, 9, 2],
            structure: Structure::new(gate, vec![]),
        })
        .collect();
    for seed in [31, 32, 33] {
        let animals: Arc<[HostSequence]> = cohort(13, seed).into();
        let w0 = vec![0.2; 13 * 2];
        for rule in &rules {
            let theta = params(rule, seed);
            let fresh = scan_f32(rule, &theta, &w0, &animals, true);
            for _ in 0..3 {
                assert_eq!(scan_f32_shared(rule, &theta, &w0, &animals, true), fresh);
                let forward = scan_f32_shared(rule, &theta, &w0, &animals, false);
                assert_eq!(forward.log_likelihood, fresh.log_likelihood);
            }
        }
        // Dropped here: the next cohort may land at the same address.
    }
}

//! `reinforce-streak`: Δw_t = α ⊙ (1 + min(k_t, K)) · r_t (y_t − p_t) x_t, k_t = rewarded
//! trials in a row just before trial t. Its tensor step against the formula computed by
//! hand in f64, the streak count's resets and cap, and its closed form against the step.

use burn::backend::NdArray;
use burn::tensor::Tensor;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::{
    DEFAULT_STREAK_CAP, LearningRule, Parametric, ParametricRule, ReinforceStreak, RuleKind,
    RuleSpec, TrialBatch,
};

type B = NdArray<f64>;

/// One trial of one animal: x, choice, reward.
type Trial = ([f64; 2], f64, f64);

/// reward, reward, error, reward, reward, reward, reward, reward: the streak before each
/// trial is 0, 1, 2, 0, 1, 2, 3, 4 (capped to 3 at K = 3).
const SEQUENCE: [Trial; 8] = [
    ([0.5, 1.0], 1.0, 1.0),
    ([-1.25, 1.0], 0.0, 1.0),
    ([2.0, 1.0], 0.0, 0.0),
    ([0.75, 1.0], 1.0, 1.0),
    ([-0.25, 1.0], 0.0, 1.0),
    ([1.5, 1.0], 1.0, 1.0),
    ([-2.0, 1.0], 0.0, 1.0),
    ([1.0, 1.0], 1.0, 1.0),
];

fn batch(&(x, choice, reward): &Trial) -> TrialBatch<B> {
    let dev = Default::default();
    let t = |v: f64| float_tensor::<B, 1>(vec![v], [1], &dev);
    TrialBatch {
        x: float_tensor(x.to_vec(), [1, 2], &dev),
        choice: t(choice),
        reward: t(reward),
        answer: t(if reward > 0.0 { choice } else { 1.0 - choice }),
        session_start: t(0.0),
    }
}

fn w0() -> Tensor<B, 2> {
    float_tensor(vec![0.3, -0.2], [1, 2], &Default::default())
}

/// Steps the rule through `SEQUENCE`; returns (w_t, k_t) before every trial and after the last.
fn run(rule: &ReinforceStreak<B>) -> Vec<(Vec<f64>, f64)> {
    let mut state = rule.initial_state(w0());
    let mut out = Vec::new();
    for trial in &SEQUENCE {
        let s = to_f64_vec(state.clone());
        out.push((s[..2].to_vec(), s[2]));
        state = rule.step(state, &batch(trial));
    }
    let s = to_f64_vec(state);
    out.push((s[..2].to_vec(), s[2]));
    out
}

/// Each step equals α ⊙ (1 + min(k, K)) · r (y − p) x computed by hand in f64 — bit for
/// bit, with p = σ(w·x) from the same weights and the rule's stored α = exp(log α).
#[test]
fn each_step_matches_the_formula_exactly() {
    let dev = Default::default();
    let rule = ReinforceStreak::<B>::new(&[0.1, 0.05], 3, &dev);
    let alpha = to_f64_vec(rule.alpha());
    let states = run(&rule);
    let streaks: Vec<f64> = states.iter().map(|s| s.1).collect();
    assert_eq!(streaks, [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    for (t, (x, y, r)) in SEQUENCE.iter().enumerate() {
        let (w, k) = &states[t];
        let p = to_f64_vec(denovo_glm::prob_right(
            float_tensor::<B, 2>(w.clone(), [1, 2], &dev),
            float_tensor(x.to_vec(), [1, 2], &dev),
        ))[0];
        let factor = 1.0 + k.min(3.0);
        for j in 0..2 {
            let expected = w[j] + (y - p) * r * x[j] * factor * alpha[j];
            assert_eq!(
                states[t + 1].0[j],
                expected,
                "trial {t}, weight {j}: k = {k}, factor {factor}"
            );
        }
        if *r == 0.0 {
            assert_eq!(states[t + 1].0, *w, "no step after an error (trial {t})");
        }
    }
}

/// The factor of trial t's step is 1 + min(k_t, K): trial 3 follows an error (k = 0, factor
/// 1 under every cap); trial 7 follows 4 rewards (factor 1 + min(4, K)).
#[test]
fn streak_resets_after_an_error_and_is_capped() {
    let dev = Default::default();
    for (cap, factor_7) in [(0usize, 1.0), (1, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)] {
        let rule = ReinforceStreak::<B>::new(&[0.1, 0.05], cap, &dev);
        let alpha = to_f64_vec(rule.alpha());
        let s = run(&rule);
        for (t, factor) in [(3, 1.0), (7, factor_7)] {
            let (w, k) = &s[t];
            assert_eq!(*k, if t == 3 { 0.0 } else { 4.0 });
            let (x, y, r) = SEQUENCE[t];
            let p = to_f64_vec(denovo_glm::prob_right(
                float_tensor::<B, 2>(w.clone(), [1, 2], &dev),
                float_tensor(x.to_vec(), [1, 2], &dev),
            ))[0];
            for j in 0..2 {
                let expected = w[j] + (y - p) * r * x[j] * factor * alpha[j];
                assert_eq!(s[t + 1].0[j], expected, "cap {cap}, trial {t}, weight {j}");
            }
        }
    }
}

/// With K = 0 every step is REINFORCE's, bit for bit.
#[test]
fn cap_zero_is_reinforce() {
    let dev = Default::default();
    let streak = ReinforceStreak::<B>::new(&[0.1, 0.05], 0, &dev);
    let plain = denovo_rules::Reinforce::<B>::new(&[0.1, 0.05], &dev);
    let (mut a, mut b) = (streak.initial_state(w0()), plain.initial_state(w0()));
    for trial in &SEQUENCE {
        a = streak.step(a, &batch(trial));
        b = plain.step(b, &batch(trial));
        assert_eq!(
            to_f64_vec(streak.policy_weights(&a)),
            to_f64_vec(plain.policy_weights(&b))
        );
    }
}

/// A missing cap means the default, the rule keeps its cap, and the name parses.
#[test]
fn spec_defaults_and_keeps_the_cap() {
    let dev = Default::default();
    let spec = RuleSpec {
        kind: RuleKind::ReinforceStreak,
        alpha: vec![0.0625, 0.0],
        beta: vec![],
        inverse_temperature: None,
        streak_cap: None,
    }
    .validated(2)
    .unwrap();
    assert_eq!(spec.streak_cap, Some(DEFAULT_STREAK_CAP));
    assert_eq!(
        RuleSpec::initial(RuleKind::ReinforceStreak, 2, 0.1).streak_cap,
        Some(3)
    );
    let mut five = spec.clone();
    five.streak_cap = Some(5);
    let rule = ParametricRule::<B>::from_spec(&five, &dev);
    let ParametricRule::ReinforceStreak(r) = &rule else {
        panic!("wrong rule")
    };
    assert_eq!(r.cap, 5);
    assert_eq!(r.spec().streak_cap, Some(5));
    assert_eq!(
        "reinforce-streak".parse::<RuleKind>(),
        Ok(RuleKind::ReinforceStreak)
    );
    // Other rules drop a cap.
    let mut other = five;
    other.kind = RuleKind::Reinforce;
    assert_eq!(other.validated(2).unwrap().streak_cap, None);
}

/// The closed form (the trainer's fast path) steps exactly like the tensor module.
#[test]
fn closed_form_follows_the_tensor_step() {
    let dev = Default::default();
    let rule = ReinforceStreak::<B>::new(&[0.1, 0.05], 3, &dev);
    let form = rule.closed_form().expect("closed form");
    let states = run(&rule);
    let (k, dim, n_p) = (2, form.state_dim(2), form.n_params());
    assert_eq!(dim, 3);
    let mut s = vec![0.0; dim];
    let (mut a, mut b) = (vec![0.0; dim * k], vec![0.0; dim * n_p]);
    form.initial_state(&to_f64_vec(w0()), &mut s, &mut a, &mut b);
    let (mut next, mut ds, mut dt) = (vec![0.0; dim], vec![0.0; dim * dim], vec![0.0; dim * n_p]);
    for (t, (x, y, r)) in SEQUENCE.iter().enumerate() {
        let (w, streak) = &states[t];
        assert_eq!(s[2], *streak, "streak before trial {t}");
        for j in 0..2 {
            assert!((s[j] - w[j]).abs() < 1e-14, "trial {t}: {s:?} vs {w:?}");
        }
        let answer = if *r > 0.0 { *y } else { 1.0 - y };
        form.step(&s, x, *y, *r, answer, &mut next, &mut ds, &mut dt);
        std::mem::swap(&mut s, &mut next);
    }
}

//! Checks shared by the denovo-study integration tests (each test file has `mod common;`).

use denovo_study::SplitScore;

/// Per held-out session of every animal of `score`: the per-session scores are keyed as
/// the animal's `sessions`, in order, and add up to the animal's score — their trials to
/// its trials, their LL (nats/trial × trials) to its LL per trial within 1e-9 nats/trial.
pub fn assert_sessions_add_up(score: &SplitScore) {
    for a in &score.per_animal {
        let keys: Vec<&String> = a.per_session.iter().map(|p| &p.session).collect();
        assert_eq!(keys, a.sessions.iter().collect::<Vec<_>>());
        let trials: usize = a.per_session.iter().map(|p| p.trials).sum();
        let ll: f64 = (a.per_session.iter())
            .map(|p| p.ll_per_trial * p.trials as f64)
            .sum();
        assert_eq!(trials, a.trials);
        assert!((ll / trials as f64 - a.ll_per_trial).abs() < 1e-9, "{a:?}");
    }
}

//! Scores of a split, overall and per animal.

use denovo_data::SubjectDesign;
use denovo_train::Evaluation;
use serde::{Deserialize, Serialize};

/// Scores of one split (training trials, held-out sessions or held-out animals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitScore {
    /// Log-likelihood per scored trial (nats/trial; chance is ln ½ ≈ −0.693).
    pub ll_per_trial: f64,
    /// Fraction of choices on the side the model found more likely.
    pub accuracy: f64,
    /// Number of scored trials.
    pub trials: usize,
    /// One entry per scored animal.
    pub per_animal: Vec<AnimalSplitScore>,
}

/// One animal's score on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnimalSplitScore {
    /// Subject name.
    pub subject: String,
    /// Log-likelihood per scored trial (nats/trial).
    pub ll_per_trial: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Scored trials.
    pub trials: usize,
    /// The sessions scored, in training order, by their keys (`<date>/<number>`, e.g.
    /// `2019-08-05/001`, or the file's session value); absent in runs written before.
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Per scored session, in order: its key, trials and LL per trial (nats/trial) — the
    /// units of a comparison across one animal's held-out sessions
    /// ([`crate::compare::paired_sessions`]). Stored for the held-out sessions
    /// (`heldout_sessions` of `summary.json`); empty (and not written) for the other splits
    /// and in runs written before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_session: Vec<SessionScore>,
}

/// One session's score on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionScore {
    /// The session's key (`<date>/<number>` or the file's session value, as in
    /// [`AnimalSplitScore::sessions`]).
    pub session: String,
    /// Scored trials of the session.
    pub trials: usize,
    /// Log-likelihood per scored trial of the session (nats/trial).
    pub ll_per_trial: f64,
}

/// Groups per-trial log-likelihoods by session: `trial_ll[j]` (nats) is the LL of the j-th
/// scored trial and `session_of[j]` the 0-based index of its session (`[trials]` both;
/// trials of a session are consecutive), `keys[s]` session s's key (its 1-based number
/// when `keys` has no entry for it). One [`SessionScore`] per run of equal indices, in
/// order.
pub fn session_scores(
    trial_ll: &[f64],
    session_of: &[usize],
    keys: &[String],
) -> Vec<SessionScore> {
    let mut out: Vec<SessionScore> = Vec::new();
    let mut current: Option<usize> = None;
    let mut sum = 0.0;
    for (&ll, &s) in trial_ll.iter().zip(session_of) {
        if current != Some(s) {
            if let Some(last) = out.last_mut() {
                last.ll_per_trial = sum / last.trials as f64;
            }
            current = Some(s);
            sum = 0.0;
            out.push(SessionScore {
                session: keys.get(s).cloned().unwrap_or_else(|| (s + 1).to_string()),
                trials: 0,
                ll_per_trial: f64::NAN,
            });
        }
        sum += ll;
        if let Some(last) = out.last_mut() {
            last.trials += 1;
        }
    }
    if let Some(last) = out.last_mut() {
        last.ll_per_trial = sum / last.trials as f64;
    }
    out
}

impl SplitScore {
    /// A split's scores from an evaluation of `animals` (in batch order): each one's
    /// name and the keys of its scored sessions. An animal with no scored trials (a single
    /// session, so none held out) has no entry: its LL per trial is undefined.
    pub fn from_evaluation(eval: &Evaluation, animals: &[(&str, Vec<String>)]) -> SplitScore {
        SplitScore {
            ll_per_trial: eval.ll_per_trial,
            accuracy: eval.accuracy,
            trials: eval.trials,
            per_animal: eval
                .animals
                .iter()
                .zip(animals)
                .filter(|(a, _)| a.trials > 0)
                .map(|(a, (name, sessions))| AnimalSplitScore {
                    subject: name.to_string(),
                    ll_per_trial: a.ll_per_trial,
                    accuracy: a.accuracy,
                    trials: a.trials,
                    sessions: sessions.clone(),
                    per_session: Vec::new(),
                })
                .collect(),
        }
    }

    /// [`SplitScore::from_evaluation`] with every animal's per-session scores
    /// ([`AnimalSplitScore::per_session`]): `animals[i]` is the design of the i-th animal of
    /// the batch and the range of its trials that `eval` scored (in order).
    pub fn from_evaluation_by_session(
        eval: &Evaluation,
        animals: &[(&SubjectDesign, std::ops::Range<usize>)],
    ) -> SplitScore {
        let named: Vec<(&str, Vec<String>)> = (animals.iter())
            .map(|(d, r)| (d.subject.as_str(), d.session_keys_in(r.clone())))
            .collect();
        let mut score = SplitScore::from_evaluation(eval, &named);
        let scored = (eval.animals.iter().zip(animals)).filter(|(a, _)| a.trials > 0);
        for (entry, (a, (d, range))) in score.per_animal.iter_mut().zip(scored) {
            entry.per_session =
                session_scores(&a.trial_ll, &d.session[range.clone()], &d.session_keys);
        }
        score
    }

    /// Pools disjoint parts (e.g. the folds' held-out animals): trial-weighted means, the
    /// animals concatenated.
    pub fn merge(parts: Vec<SplitScore>) -> SplitScore {
        let trials: usize = parts.iter().map(|p| p.trials).sum();
        let ll: f64 = parts.iter().map(|p| p.ll_per_trial * p.trials as f64).sum();
        let acc: f64 = parts.iter().map(|p| p.accuracy * p.trials as f64).sum();
        SplitScore {
            ll_per_trial: ll / trials.max(1) as f64,
            accuracy: acc / trials.max(1) as f64,
            trials,
            per_animal: parts.into_iter().flat_map(|p| p.per_animal).collect(),
        }
    }
}

/// The warning for `--holdout-sessions` when some animals have nothing to hold out: `None`
/// when every named animal has a held-out session; otherwise which animals (named) have a
/// single session and so are scored on their training trials only. `names[i]` has trials
/// `0..n_trials[i]`, of which `0..train_end[i]` train.
pub(crate) fn single_session_warning(
    names: &[&str],
    train_end: &[usize],
    n_trials: &[usize],
) -> Option<String> {
    let single: Vec<&str> = (names.iter().zip(train_end).zip(n_trials))
        .filter(|((_, end), n)| *end == *n)
        .map(|((name, _), _)| *name)
        .collect();
    match single.len() {
        0 => None,
        n if n == names.len() => {
            Some("no session was held out (every animal has a single session)".into())
        }
        n => Some(format!(
            "no session was held out for {n} of {} animals, which have a single session \
             (left out of the held-out-session scores): {}",
            names.len(),
            single.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{session_scores, single_session_warning};

    /// Trials of sessions 3, 4 and 6 (0-based; keys by index, the last without one): each
    /// session's trials and mean LL, in order.
    #[test]
    fn session_scores_average_each_run_of_a_session() {
        let ll = [-1.0, -0.5, -0.2, -0.3, -0.1, -0.2];
        let of = [3, 3, 4, 6, 6, 6];
        let keys: Vec<String> = ["a", "b", "c", "d", "e", "f"].map(String::from).to_vec();
        let s = session_scores(&ll, &of, &keys);
        let got: Vec<(&str, usize)> = s.iter().map(|s| (s.session.as_str(), s.trials)).collect();
        assert_eq!(got, [("d", 2), ("e", 1), ("7", 3)]);
        for (s, want) in s.iter().zip([-0.75, -0.2, -0.2]) {
            assert!((s.ll_per_trial - want).abs() < 1e-12, "{s:?}");
        }
        assert!(session_scores(&[], &[], &keys).is_empty());
    }

    #[test]
    fn the_single_session_warning_names_exactly_the_animals_with_nothing_held_out() {
        let names = ["m1", "m5", "m6"];
        assert_eq!(
            single_session_warning(&names, &[8, 5, 3], &[10, 9, 4]),
            None
        );
        let some = single_session_warning(&names, &[8, 9, 3], &[10, 9, 4]).unwrap();
        assert!(some.contains("1 of 3") && some.ends_with(": m5"), "{some}");
        let all = single_session_warning(&names, &[10, 9, 4], &[10, 9, 4]).unwrap();
        assert!(all.contains("every animal"), "{all}");
    }
}

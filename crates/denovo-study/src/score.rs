//! Scores of a split, overall and per animal.

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
                })
                .collect(),
        }
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
    use super::single_session_warning;

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

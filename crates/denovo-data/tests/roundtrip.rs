//! Property tests: any dataset written in a format reads back the same.

use denovo_data::{Dataset, Format, Session, Subject, Trial, kfold_by_subject, load, save};
use proptest::prelude::*;

/// A dataset with IBL inputs (so every format can hold it): contrast on the answer side.
fn dataset_strategy() -> impl Strategy<Value = Dataset> {
    let trial =
        (0u8..2, 0u8..2, 0usize..6, any::<bool>()).prop_map(|(choice, answer, c, rewarded)| {
            let contrast = [0.0, 0.0625, 0.125, 0.25, 0.5, 1.0][c];
            let (left, right) = if answer == 1 {
                (0.0, contrast)
            } else {
                (contrast, 0.0)
            };
            Trial {
                inputs: vec![left, right, 0.5],
                choice,
                answer,
                reward: f64::from(u8::from(rewarded)),
            }
        });
    let session = prop::collection::vec(trial, 1..6);
    let subject = ("[a-z][a-z0-9_]{0,6}", prop::collection::vec(session, 1..4));
    prop::collection::vec(subject, 1..4).prop_map(|subjects| {
        let mut seen = std::collections::HashSet::new();
        let subjects = subjects
            .into_iter()
            .filter(|(name, _)| seen.insert(name.clone()))
            .map(|(name, sessions)| Subject {
                name,
                lab: Some("lab".into()),
                sessions: sessions
                    .into_iter()
                    .enumerate()
                    .map(|(k, trials)| Session {
                        id: (k + 1).to_string(),
                        date: None,
                        trials,
                        source: None,
                    })
                    .collect(),
                dropped_trials: 0,
            })
            .collect();
        Dataset {
            source: Default::default(),
            format: Format::TrialsCsv,
            input_names: vec![
                "contrastLeft".into(),
                "contrastRight".into(),
                "probabilityLeft".into(),
            ],
            ignored_columns: vec![],
            subjects,
            skipped: vec![],
        }
    })
}

/// The part of a dataset every format keeps: names, session sizes and trial contents.
/// (inputs, choice, answer, reward) of one trial.
type TrialEssence = (Vec<f64>, u8, u8, f64);

fn essence(d: &Dataset) -> Vec<(String, Vec<Vec<TrialEssence>>)> {
    d.subjects
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.sessions
                    .iter()
                    .map(|x| {
                        x.trials
                            .iter()
                            .map(|t| (t.inputs.clone(), t.choice, t.answer, t.reward))
                            .collect()
                    })
                    .collect(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_format_round_trips(data in dataset_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        for (format, name) in [(Format::TrialsCsv, "t.csv"), (Format::IblCsv, "i.csv"), (Format::IblAlf, "alf")] {
            let path = dir.path().join(name);
            save(&data, &path, format).unwrap();
            let back = load(&path, Format::Auto).unwrap();
            prop_assert_eq!(back.format, format);
            let mut expected = essence(&data);
            if format == Format::IblAlf {
                // A folder tree has no subject order: the loader lists subjects by name.
                expected.sort_by(|a, b| a.0.cmp(&b.0));
            }
            prop_assert_eq!(essence(&back), expected);
        }
    }

    #[test]
    fn kfold_partitions_subjects(n in 2usize..40, k in 2usize..10, seed in any::<u64>()) {
        prop_assume!(k <= n);
        let folds = kfold_by_subject(n, k, seed).unwrap();
        prop_assert_eq!(folds.len(), k);
        let mut all: Vec<usize> = folds.iter().flat_map(|f| f.test.clone()).collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        for f in &folds {
            prop_assert_eq!(f.train.len() + f.test.len(), n);
            prop_assert!(f.test.len() >= n / k && f.test.len() <= n.div_ceil(k));
            prop_assert!(f.test.iter().all(|t| !f.train.contains(t)));
        }
        prop_assert_eq!(kfold_by_subject(n, k, seed).unwrap(), folds);
    }
}

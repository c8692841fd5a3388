//! Train/test splits: k folds by subject, and held-out future sessions.

use crate::{DesignMatrix, LoadError};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;

/// One cross-validation fold: indices of the training and test subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fold {
    /// Subjects to fit on.
    pub train: Vec<usize>,
    /// Subjects held out.
    pub test: Vec<usize>,
}

/// Splits `n_subjects` into `k` folds by subject after a seeded shuffle; every subject is
/// in exactly one test set and fold sizes differ by at most one. Needs 2 ≤ k ≤ n_subjects.
pub fn kfold_by_subject(n_subjects: usize, k: usize, seed: u64) -> Result<Vec<Fold>, LoadError> {
    if k < 2 || k > n_subjects {
        return Err(LoadError::Split(format!(
            "{k} folds need between 2 and {n_subjects} (the number of subjects)"
        )));
    }
    let mut order: Vec<usize> = (0..n_subjects).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    Ok((0..k)
        .map(|f| {
            let mut test: Vec<usize> = order.iter().copied().skip(f).step_by(k).collect();
            test.sort_unstable();
            let train = (0..n_subjects).filter(|i| !test.contains(i)).collect();
            Fold { train, test }
        })
        .collect())
}

/// For every subject, the index of the first trial of its held-out last `fraction` of
/// sessions (see [`crate::SubjectDesign::first_holdout_trial`]).
pub fn holdout_last_sessions(design: &DesignMatrix, fraction: f64) -> Vec<usize> {
    design
        .subjects
        .iter()
        .map(|s| s.first_holdout_trial(fraction))
        .collect()
}

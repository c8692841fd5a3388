//! Helpers shared by the denovo-nn integration tests.

use denovo_data::SubjectDesign;
use denovo_rules::{RuleKind, RuleSpec};

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

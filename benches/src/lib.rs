//! Shared inputs of the denovo benchmarks (`cargo bench -p denovo-benches`), and
//! [`epochs`]: the training-epoch timings `denovo bench` prints.

pub mod epochs;

use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::{CohortConfig, SimulatedCohort};
use std::path::PathBuf;

/// The package's folder: cargo's `CARGO_MANIFEST_DIR` at run time (right even when the
/// build was reused from a checkout at another path), else the compile-time value.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The real rat's CSV when it is present (`$DENOVO_DATA/rat_W053.csv` or
/// `../shared/data/rat_W053.csv` beside the workspace).
pub fn rat_csv() -> Option<PathBuf> {
    let p = std::env::var_os("DENOVO_DATA")
        .map(|d| PathBuf::from(d).join("rat_W053.csv"))
        .unwrap_or_else(|| manifest_dir().join("../../shared/data/rat_W053.csv"));
    p.is_file().then_some(p)
}

/// A REINFORCE cohort of `animals` × `trials` (α = 2⁻⁴, 2⁻⁶), with the simulator's
/// default seed.
pub fn reinforce_cohort(animals: usize, trials: usize) -> SimulatedCohort {
    reinforce_cohort_seeded(animals, trials, CohortConfig::default().seed).expect("valid settings")
}

/// A REINFORCE cohort of `animals` × `trials` (α = 2⁻⁴, 2⁻⁶) drawn with `seed`.
///
/// Errors: [`denovo_sim::SimError`] for settings the simulator rejects (e.g. 0 trials).
pub fn reinforce_cohort_seeded(
    animals: usize,
    trials: usize,
    seed: u64,
) -> Result<SimulatedCohort, denovo_sim::SimError> {
    let spec = RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![1.0 / 16.0, 1.0 / 64.0],
        beta: vec![],
        inverse_temperature: None,
        streak_cap: None,
    };
    let config = CohortConfig {
        animals,
        trials,
        seed,
        ..CohortConfig::default()
    };
    denovo_sim::simulate(&spec, &config)
}

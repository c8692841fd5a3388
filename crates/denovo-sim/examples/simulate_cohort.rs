//! Simulate a cohort of animals learning the IBL task by a known rule, and write it with
//! its ground truth.
//!
//! ```sh
//! cargo run --release -p denovo-sim --example simulate_cohort -- [OUT.csv]
//! ```
//! Writes OUT.csv (default `cohort.csv`: subject, session, trial, choice, answer, reward,
//! contrastLeft, contrastRight, probabilityLeft) and OUT.truth.json (the rule, its
//! parameters and every animal's true weight trajectory).

use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::CohortConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).unwrap_or("cohort.csv".into());
    // REINFORCE: Δw = α ⊙ r (y − p) x, with α_stim = 2⁻⁴ and α_bias = 2⁻⁶.
    let rule = RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![1.0 / 16.0, 1.0 / 64.0],
        beta: vec![],
        inverse_temperature: None,
        streak_cap: None,
    };
    // 20 animals × 2,000 trials in sessions of 300–500 trials, initial weights 0.
    let config = CohortConfig {
        animals: 20,
        trials: 2000,
        seed: 1,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&rule, &config)?;

    let truth = denovo_sim::write_cohort(&cohort, out.as_ref(), Format::TrialsCsv)?;
    let first = &cohort.truth.trajectories[0];
    println!(
        "{} trials, accuracy {:.3}",
        cohort.dataset.n_trials(),
        cohort.dataset.accuracy()
    );
    println!(
        "animal 1's stimulus weight: {:.2} → {:.2}",
        first.weights[0][0],
        first.weights.last().unwrap()[0]
    );
    println!("wrote {out} and {}", truth.display());
    Ok(())
}

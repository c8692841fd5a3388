//! Compare two learning rules on held-out animals with the paired test across animals.
//!
//! ```sh
//! cargo run --release -p denovo-study --example compare_rules
//! ```
//! A cohort of 12 simulated animals learns by REINFORCE with a baseline; REINFORCE and
//! REINFORCE with baseline are fitted with 4-fold cross-validation over animals, and each
//! animal's held-out LL (nats/trial) is compared: mean difference, 95% CI, paired t-test
//! and Wilcoxon signed-rank test.

use denovo_rules::{RuleKind, RuleSpec};
use denovo_study::{FitOptions, FitSpec, ModelSpec, compare::paired, fit_with};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let truth = RuleSpec {
        kind: RuleKind::ReinforceBaseline,
        alpha: vec![0.08, 0.02],
        beta: vec![0.5, 0.2],
        inverse_temperature: None,
        streak_cap: None,
    };
    let config = denovo_sim::CohortConfig {
        animals: 12,
        trials: 1500,
        seed: 3,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth, &config)?;

    let mut held_out = Vec::new();
    for kind in [RuleKind::Reinforce, RuleKind::ReinforceBaseline] {
        let mut spec = FitSpec::new("simulated", ModelSpec::parametric(kind));
        spec.split.folds = 4;
        let result = fit_with(&spec, FitOptions::with_dataset(&cohort.dataset))?;
        let mut animals = result.summary.heldout_animals.expect("folds").per_animal;
        animals.sort_by(|a, b| a.subject.cmp(&b.subject)); // pair the animals by name
        held_out.push(animals.iter().map(|a| a.ll_per_trial).collect::<Vec<f64>>());
    }

    let c = paired(&held_out[1], &held_out[0]);
    let (lo, hi) = c.ci95.expect("n ≥ 2");
    println!(
        "baseline − plain REINFORCE, held-out LL per animal (n = {}):",
        c.n
    );
    println!(
        "  mean {:+.5} nats/trial, 95% CI [{lo:+.5}, {hi:+.5}]",
        c.mean
    );
    let p = |p: Option<f64>| p.map_or("—".into(), |p| format!("{p:.2e}"));
    println!(
        "  paired t-test p = {}, Wilcoxon p = {}",
        p(c.t_test_p),
        p(c.wilcoxon_p)
    );
    Ok(())
}

//! What `denovo demo` simulates and fits: [`demo_cohort`], [`demo_folds`], [`demo_fit_spec`],
//! [`DEMO_RAT_MODELS`].

use crate::{FitSpec, ModelKind, ModelSpec, StudyError};
use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::CohortConfig;
use std::path::{Path, PathBuf};

/// The demo's cohort as written: its true rule, the data file and the truth sidecar.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCohort {
    /// REINFORCE with α = (2⁻⁴, 2⁻⁶) for (stim, bias).
    pub rule: RuleSpec,
    /// `<out>/sim_reinforce.csv`.
    pub data: PathBuf,
    /// Its truth sidecar, `<out>/sim_reinforce.truth.json`.
    pub sidecar: PathBuf,
}

/// Simulates `animals` × `trials` of the IBL task learning by REINFORCE with α_stim = 2⁻⁴,
/// α_bias = 2⁻⁶ (otherwise [`CohortConfig::default`]: sessions of 300–500 trials, w0 = 0),
/// seeded, and writes it as a trials CSV with its truth sidecar into the folder `out`.
///
/// Errors: [`StudyError::Sim`] (bad settings, a file that cannot be written).
pub fn demo_cohort(
    out: &Path,
    animals: usize,
    trials: usize,
    seed: u64,
) -> Result<DemoCohort, StudyError> {
    let rule = RuleSpec {
        alpha: vec![1.0 / 16.0, 1.0 / 64.0],
        ..RuleSpec::initial(RuleKind::Reinforce, 2, 0.0)
    };
    let config = CohortConfig {
        animals,
        trials,
        seed,
        ..CohortConfig::default()
    };
    let cohort = denovo_sim::simulate(&rule, &config)?;
    let data = out.join("sim_reinforce.csv");
    let sidecar = denovo_sim::write_cohort(&cohort, &data, Format::TrialsCsv)?;
    Ok(DemoCohort {
        rule,
        data,
        sidecar,
    })
}

/// The models the demo fits to the real rat: REINFORCE, REINFORCE with baseline, the DNN
/// and the RNN rule, and PsyTrack's random walk (scored one step ahead).
pub const DEMO_RAT_MODELS: [ModelKind; 5] = [
    ModelKind::Parametric(RuleKind::Reinforce),
    ModelKind::Parametric(RuleKind::ReinforceBaseline),
    ModelKind::Dnn,
    ModelKind::Rnn,
    ModelKind::Psytrack,
];

/// The folds over animals the demo cross-validates with: `folds` capped at `animals`, and
/// 0 (none) when that leaves fewer than 2 (each split needs two animals).
pub fn demo_folds(folds: usize, animals: usize) -> usize {
    let folds = folds.min(animals);
    if folds >= 2 { folds } else { 0 }
}

/// The demo's fit of `model` to `data`: the last 20% of every animal's sessions held out,
/// `folds`-fold cross-validation over animals (0 = none), `seed`, and `neural_epochs`
/// epochs for the DNN and RNN rules (the parametric rules keep their default).
pub fn demo_fit_spec(
    data: &Path,
    model: ModelKind,
    folds: usize,
    seed: u64,
    neural_epochs: usize,
) -> FitSpec {
    let mut spec = FitSpec::new(data, ModelSpec::new(model));
    spec.split.folds = folds;
    spec.split.holdout_sessions = 0.2;
    spec.seed = seed;
    spec.training.epochs = model.is_neural().then_some(neural_epochs);
    spec
}

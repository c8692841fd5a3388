//! # denovo-study
//!
//! The study pipeline of denovo as a library. A fit is plain data, a [`FitSpec`] (data,
//! regressors, model by name with its options, split, training settings, seed — what
//! `fit.toml` holds); [`fit`] runs it: load → design matrix → split (folds by animal,
//! held-out future sessions, validation animals) → maximum-likelihood fit → scores per
//! split and per animal (LL in nats/trial) → the fitted rule and every animal's weight
//! trajectory. [`RunDir`] stores a result as a versioned run directory and reads it back;
//! [`fit_rule`] puts any [`LearningRule`](denovo_rules::LearningRule) — your own too —
//! through the same pipeline. [`RuleGrid`] reads a fitted rule out on the common grid,
//! [`simulate_twins`] runs digital twins under a training protocol, [`check_run`] checks
//! which parts of a fitted rule the data determine (`denovo check`), and [`compare`] holds
//! the paired tests across animals.
//!
//! Fit the DNN rule to a real rat (`../shared/data/rat_W053.csv`: 20,000 trials in 80
//! sessions), holding out the last 20% of its sessions, and print the held-out
//! log-likelihood — the same fit and summary as
//! `denovo fit rat_W053.csv --model dnn --holdout-sessions 0.2 --seed 1`:
//!
//! ```
//! use denovo_study::{FitSpec, ModelSpec, fit};
//! let rat = denovo_data::shared_data("rat_W053.csv").expect("../shared/data/rat_W053.csv");
//! let mut spec = FitSpec::new(rat, ModelSpec::dnn());
//! spec.split.holdout_sessions = 0.2;
//! spec.seed = 1;
//! let result = fit(&spec)?;
//! let held_out = result.summary.heldout_sessions.as_ref().unwrap();
//! println!("held-out LL {:.4} nats/trial", held_out.ll_per_trial);
//! # assert!(held_out.ll_per_trial > -0.69 && held_out.trials == 20_000 - result.summary.train.trials);
//! # Ok::<(), denovo_study::StudyError>(())
//! ```
//!
//! The same on a small simulated cohort, run by `cargo test --doc`:
//!
//! ```
//! use denovo_study::{FitSpec, ModelSpec, RunDir, fit};
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("cohort.csv");
//! let cohort = denovo_sim::simulate(
//!     &denovo_rules::RuleSpec::initial(denovo_rules::RuleKind::Reinforce, 2, 0.05),
//!     &denovo_sim::CohortConfig {
//!         animals: 3, trials: 300, session_min: 100, session_max: 100, seed: 1,
//!         ..Default::default()
//!     },
//! )?;
//! denovo_sim::write_cohort(&cohort, &data, denovo_data::Format::TrialsCsv)?;
//!
//! let mut spec = FitSpec::new(&data, ModelSpec::dnn());
//! spec.split.holdout_sessions = 0.2;
//! spec.training.epochs = Some(5);
//! let result = fit(&spec)?;
//! let held_out = result.summary.heldout_sessions.as_ref().unwrap();
//! assert!(held_out.ll_per_trial < 0.0 && held_out.trials > 0);
//!
//! RunDir::save(&dir.path().join("run"), &result, false)?;
//! let run = RunDir::load(&dir.path().join("run"))?;
//! assert_eq!(run.summary, result.summary);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod band;
pub mod check;
pub mod compare;
mod demo;
pub mod ensemble;
mod error;
mod evaluate;
mod evaluation;
mod fit;
mod model;
mod noisy_net;
mod readout;
pub mod recovery;
mod run_dir;
mod score;
mod spec;
mod truth;
mod twin;
mod twin_study;
mod walk;

pub use check::{Check, CheckSummary, LoadedCheck, check_run, load_checks};
pub use demo::{DEMO_RAT_MODELS, DemoCohort, demo_cohort, demo_fit_spec, demo_folds};
pub use ensemble::{EnsembleSummary, Resample};
pub use error::StudyError;
pub use evaluate::{evaluate, evaluate_fitted};
pub use evaluation::{RunEvaluation, evaluate_run};
pub use fit::{
    AnimalWeights, CpuBackend, CpuBackend64, EarlyStoppingReport, FitOptions, FitResult,
    FitSummary, Progress, ReadBackend, SUMMARY_SCHEMA, SUMMARY_SCHEMAS_READ, SessionLabel, fit,
    fit_rule, fit_with, score_rule_spec,
};
pub use model::{Describe, Model, ModelKind, ModelSpec};
pub use noisy_net::{HIDDEN_ROUNDS, HIDDEN_TOLERANCE, NoisyNetParameters, WithoutNoise};
pub use readout::{RuleGrid, grid_points};
pub use run_dir::{Run, RunDir, RunWriter, write_weights};
pub use score::{AnimalSplitScore, SessionScore, SplitScore, session_scores};
pub use spec::{
    BackendChoice, DEFAULT_NEURAL_EPOCHS_CAP, DEFAULT_PATIENCE, EarlyStopping, FitSpec, Precision,
    SplitSpec, TrainingSpec, default_regressors,
};
pub use truth::Truth;
pub use twin::{Distribution, quantile, simulate_rule_under, simulate_twins};
pub use twin_study::{TwinStudy, twin_study};
pub use walk::{Scoring, WalkParameters, WalkRule};

/// Re-exported for specs and custom rules: the parametric rules' names and parameters,
/// the rule trait and its per-trial input, and the data set.
pub use denovo_data::{Dataset, Format};
/// The structural hypotheses of the neural rules (`ModelSpec::gate`, `ModelSpec::drop_input`).
pub use denovo_nn::{Gate, RuleInput, Structure};
pub use denovo_rules::{LearningRule, RuleKind, RuleSpec, TrialBatch};

#[doc(hidden)]
pub use denovo_rules as __rules;

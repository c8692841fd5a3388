//! # denovo-sim
//!
//! Simulated animals learning the IBL two-alternative task by a known learning rule.
//!
//! Each virtual animal sees, trial by trial, a stimulus on the left or the right (a
//! contrast from the IBL set {0, 0.0625, 0.125, 0.25, 0.5, 1} or from a uniform grid),
//! chooses by the GLM policy p(right) = σ(w·x) with x = [stim, bias], is rewarded when it
//! chose the stimulus side, and updates its weights by the rule's own
//! [`LearningRule::step`] — the very code the fitter differentiates — plus optional Gaussian
//! weight noise. Everything is seeded.
//!
//! The result is a [`denovo_data::Dataset`] (writable in every format) and a
//! [`GroundTruth`] (the rule, its parameters and the true weight trajectories) that
//! [`write_cohort`] saves as a JSON sidecar.
//!
//! ```
//! use denovo_rules::{RuleKind, RuleSpec};
//! use denovo_sim::{CohortConfig, simulate};
//! let rule = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06); // α = 0.06 for stim and bias
//! let config = CohortConfig { animals: 5, trials: 1000, seed: 1, ..Default::default() };
//! let cohort = simulate(&rule, &config)?;
//! assert_eq!(cohort.dataset.n_trials(), 5000);
//! // The animals learn: the true stimulus weight grows from 0.
//! let w = &cohort.truth.trajectories[0].weights;
//! assert!(w.last().unwrap()[0] > w[0][0]);
//! # Ok::<(), denovo_sim::SimError>(())
//! ```

mod cohort;
mod protocol;

pub use cohort::{
    CohortConfig, GroundTruth, IBL_CONTRASTS, SimError, SimulatedCohort, StimulusSet,
    TrueTrajectory, W0FileProblem, check_rule_parameters, parse_session_length, parse_w0_choices,
    read_w0_file, sidecar_path, simulate, simulate_rule, write_cohort,
};
pub use protocol::{
    Protocol, ProtocolOutcome, Psychometric, Stage, TrainedCriterion, fit_psychometric,
    simulate_protocol, trained_at, write_protocol_cohort,
};

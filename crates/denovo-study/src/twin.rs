//! Digital twins: virtual animals that learn by a fitted rule under a training protocol,
//! and trials to the IBL trained criterion for twins and observed animals.

use crate::fit::ReadBackend;
use crate::{Model, StudyError};
use denovo_data::Dataset;
use denovo_rules::RuleSpec;
use denovo_sim::{Protocol, ProtocolOutcome};
use serde::{Deserialize, Serialize};

/// The distribution of trials to criterion of one group of animals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// What the group is.
    pub label: String,
    /// Animals in the group.
    pub animals: usize,
    /// Animals that reached the criterion.
    pub trained: usize,
    /// Trials to criterion of each trained animal, sorted.
    pub trials_to_trained: Vec<usize>,
    /// Sessions to criterion of each trained animal, sorted.
    pub sessions_to_trained: Vec<usize>,
    /// Mean trials to criterion of the trained animals (NaN when none).
    pub mean_trials: f64,
    /// Its standard error (NaN with fewer than two).
    pub se_trials: f64,
    /// Median, 25th and 75th percentile of trials to criterion.
    pub quartiles: [f64; 3],
}

/// The `q`-quantile of sorted counts, linearly interpolated (NaN when empty).
pub fn quantile(sorted: &[usize], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] as f64 + (pos - lo as f64) * (sorted[hi] as f64 - sorted[lo] as f64)
}

impl Distribution {
    /// Summarises (trials, sessions) to criterion per animal (`None` = never trained).
    pub fn new(label: &str, outcomes: &[Option<(usize, usize)>]) -> Distribution {
        let mut trials: Vec<usize> = outcomes.iter().flatten().map(|o| o.0).collect();
        let mut sessions: Vec<usize> = outcomes.iter().flatten().map(|o| o.1).collect();
        trials.sort_unstable();
        sessions.sort_unstable();
        let n = trials.len();
        let mean = trials.iter().sum::<usize>() as f64 / n.max(1) as f64;
        let var = trials
            .iter()
            .map(|&t| (t as f64 - mean).powi(2))
            .sum::<f64>()
            / (n.max(2) - 1) as f64;
        Distribution {
            label: label.to_string(),
            animals: outcomes.len(),
            trained: n,
            mean_trials: if n == 0 { f64::NAN } else { mean },
            se_trials: if n < 2 {
                f64::NAN
            } else {
                (var / n as f64).sqrt()
            },
            quartiles: [
                quantile(&trials, 0.5),
                quantile(&trials, 0.25),
                quantile(&trials, 0.75),
            ],
            trials_to_trained: trials,
            sessions_to_trained: sessions,
        }
    }

    /// Summarises the outcomes of simulated animals.
    pub fn of_outcomes(label: &str, outcomes: &[ProtocolOutcome]) -> Distribution {
        let pairs: Vec<Option<(usize, usize)>> = outcomes
            .iter()
            .map(|o| o.trials_to_trained.zip(o.sessions_to_trained))
            .collect();
        Self::new(label, &pairs)
    }

    /// Trials and sessions to `protocol`'s criterion of real (or simulated) animals whose
    /// data has `contrastLeft` / `contrastRight` inputs.
    ///
    /// Errors: [`StudyError::Setting`] when those inputs are missing.
    pub fn observed(
        label: &str,
        data: &Dataset,
        protocol: &Protocol,
    ) -> Result<Distribution, StudyError> {
        if data.input_index("contrastLeft").is_none() || data.input_index("contrastRight").is_none()
        {
            return Err(StudyError::Setting {
                setting: "observed data",
                expected: "data with contrastLeft and contrastRight inputs",
                got: data.input_names.join(", "),
            });
        }
        let outcomes: Vec<Option<(usize, usize)>> = data
            .subjects
            .iter()
            .map(|s| {
                denovo_sim::trained_at(data, s, &protocol.criterion, protocol.easy_contrast)
                    .map(|(last, trials)| (trials, last + 1))
            })
            .collect();
        Ok(Self::new(label, &outcomes))
    }
}

/// Simulates `animals` twins that start from `w0` (`[features]`), choose by σ(w·x) and
/// learn by `rule` (regressors `regressors`: stim, bias, prev_*) under `protocol`, seeded.
/// Returns their behaviour and each one's outcome.
///
/// Errors: [`StudyError::Sim`] (a protocol or regressor the simulator cannot run).
pub fn simulate_twins(
    rule: &Model<ReadBackend>,
    regressors: &[String],
    w0: &[f64],
    protocol: &Protocol,
    animals: usize,
    seed: u64,
) -> Result<(Dataset, Vec<ProtocolOutcome>), StudyError> {
    let device = Default::default();
    Ok(
        crate::with_model!(rule, r => denovo_sim::simulate_protocol::<ReadBackend, _>(
            r, regressors, w0, protocol, animals, seed, &device,
        ))?,
    )
}

/// Simulates a cohort by a known parametric rule (regressors stim, bias) under a protocol
/// (`denovo simulate --protocol`).
///
/// Errors: [`StudyError::Spec`], [`StudyError::Sim`].
pub fn simulate_rule_under(
    spec: &RuleSpec,
    protocol: &Protocol,
    animals: usize,
    seed: u64,
    w0: &[f64],
) -> Result<(Dataset, Vec<ProtocolOutcome>), StudyError> {
    denovo_sim::check_rule_parameters(spec)?;
    let rule =
        Model::<ReadBackend>::from_rule_spec(&spec.clone().validated(2)?, &Default::default());
    let regressors = vec!["stim".to_string(), "bias".to_string()];
    simulate_twins(&rule, &regressors, w0, protocol, animals, seed)
}

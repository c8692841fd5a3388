//! The ground truth of a simulated data set, as the report draws it: the simulator's
//! sidecar (`denovo simulate` writes it beside the data) read into plain data.

use crate::fit::ReadBackend;
use crate::{Model, StudyError};
use denovo_data::Format;
use denovo_rules::RuleSpec;
use denovo_sim::StimulusSet;
use denovo_train::readout::{Point, read_out};
use std::path::{Path, PathBuf};

/// What generated a simulated data set, read from its truth sidecar: the true rule with
/// its parameters and every animal's true weight trajectory. [`Truth::beside`] finds it
/// from the data's path; [`Truth::read_out`] evaluates the true rule on read-out points.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// The sidecar file it was read from.
    pub path: PathBuf,
    /// The true rule and its parameters.
    pub rule: RuleSpec,
    /// The regressors, in order: the columns of the weights and of the rule's parameters.
    pub regressors: Vec<String>,
    /// Every animal's true w_t (the weights it chose trial t with), as
    /// `(subject, [trials][regressors])`, in the sidecar's order.
    pub trajectories: Vec<(String, Vec<Vec<f64>>)>,
    /// The standard deviation of the Gaussian weight noise the simulator added after every
    /// trial, per regressor (0 = none): part of the true w_t, not of the rule.
    pub noise_sd: Vec<f64>,
    /// Where the simulation's stimuli came from (the sidecar's `config.stimuli`):
    /// [`StimulusSet::Values`] when the `stim` regressor took exactly those values.
    pub stimuli: StimulusSet,
}

impl Truth {
    /// Where the simulator puts the truth of data at `data` in `format`:
    /// `<stem>.truth.json` beside a file, `truth.json` inside an ALF folder.
    pub fn sidecar(data: &Path, format: Format) -> PathBuf {
        denovo_sim::sidecar_path(data, format)
    }

    /// The truth of the data at `data` (in `format`, as loaded: not `Auto`), when a sidecar
    /// lies beside it; `Ok(None)` when there is none.
    ///
    /// Errors: a sidecar that exists but cannot be read or is not a truth sidecar, as in
    /// [`Truth::read`].
    pub fn beside(data: &Path, format: Format) -> Result<Option<Truth>, StudyError> {
        let path = Self::sidecar(data, format);
        if !path.exists() {
            return Ok(None);
        }
        Self::read(&path).map(Some)
    }

    /// Reads a truth sidecar (`denovo_sim::GroundTruth` as JSON).
    ///
    /// Errors: [`StudyError::Io`] (unreadable), [`StudyError::Format`] (not a truth
    /// sidecar, a rule whose parameters do not fit its regressors, a trajectory of the
    /// wrong width), each naming the file.
    pub fn read(path: &Path) -> Result<Truth, StudyError> {
        let text = std::fs::read_to_string(path).map_err(StudyError::io(path))?;
        let truth: denovo_sim::GroundTruth = serde_json::from_str(&text)
            .map_err(|e| StudyError::format(path, format!("not a truth sidecar: {e}")))?;
        let k = truth.regressors.len();
        let rule = (truth.rule.clone().validated(k))
            .map_err(|e| StudyError::format(path, format!("the true rule: {e}")))?;
        let mut trajectories = Vec::with_capacity(truth.trajectories.len());
        for t in truth.trajectories {
            if let Some(row) = t.weights.iter().position(|w| w.len() != k) {
                return Err(StudyError::format(
                    path,
                    format!(
                        "the true weights of {} on trial {} have {} values for {} regressors",
                        t.subject,
                        row + 1,
                        t.weights[row].len(),
                        k
                    ),
                ));
            }
            trajectories.push((t.subject, t.weights));
        }
        Ok(Truth {
            path: path.to_path_buf(),
            rule,
            regressors: truth.regressors,
            trajectories,
            noise_sd: truth.config.noise_sd,
            stimuli: truth.config.stimuli,
        })
    }

    /// The true rule as a [`Model`] on the read-out backend.
    pub fn model(&self) -> Model<ReadBackend> {
        Model::from_rule_spec(&self.rule, &Default::default())
    }

    /// The true rule's Δw at every point, `[points][regressors]` — the same read-out the
    /// fitted rules get (`denovo_train::readout::read_out`, no history). The points must
    /// have one weight and one input per regressor of [`Truth::regressors`].
    pub fn read_out(&self, points: &[Point]) -> Vec<Vec<f64>> {
        self.read_out_history(points, None)
    }

    /// As [`Truth::read_out`], after `history` trials that were all rewarded
    /// (`Some((n, true))`) or all unrewarded (`Some((n, false))`): the read-out the fitted
    /// rules with a history get (`denovo_train::readout::read_out`), so that a rule whose
    /// steps depend on past rewards (`reinforce-streak`) shows that dependence.
    pub fn read_out_history(
        &self,
        points: &[Point],
        history: Option<(usize, bool)>,
    ) -> Vec<Vec<f64>> {
        let k = self.regressors.len();
        crate::with_model!(&self.model(), r => read_out::<ReadBackend, _>(r, points, k, history))
    }

    /// The stimulus values of the simulation when it drew them from explicit values
    /// ([`StimulusSet::Values`]: the `stim` regressor itself), sorted; `None` for IBL or
    /// uniform contrasts.
    pub fn stimulus_values(&self) -> Option<Vec<f64>> {
        match &self.stimuli {
            StimulusSet::Values(v) => {
                let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
                v.sort_by(f64::total_cmp);
                v.dedup();
                (!v.is_empty()).then_some(v)
            }
            StimulusSet::Ibl | StimulusSet::Uniform => None,
        }
    }

    /// The true w_t of `subject`, `[trials][regressors]`, when the truth has that animal.
    pub fn trajectory(&self, subject: &str) -> Option<&[Vec<f64>]> {
        (self.trajectories.iter())
            .find(|(s, _)| s == subject)
            .map(|(_, w)| w.as_slice())
    }

    /// The rule and its parameters in words, e.g.
    /// `reinforce with α = (stim 0.0625, bias 0)`.
    pub fn describe(&self) -> String {
        let per = |v: &[f64]| {
            (self.regressors.iter().zip(v))
                .map(|(r, x)| format!("{r} {x}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = format!(
            "{} with α = ({})",
            self.rule.kind.name(),
            per(&self.rule.alpha)
        );
        if !self.rule.beta.is_empty() {
            s += &format!(", β = ({})", per(&self.rule.beta));
        }
        if let Some(t) = self.rule.inverse_temperature {
            s += &format!(", inverse temperature {t}");
        }
        if self.noise_sd.iter().any(|&n| n != 0.0) {
            s += &format!("; weight noise sd ({})", per(&self.noise_sd));
        }
        s
    }
}

//! [`StudyError`]: everything the study pipeline can fail with.

use std::path::PathBuf;

/// Why a study step failed. Each variant names what the user can fix: the file, the
/// setting, the run directory.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The behaviour data could not be read or its design built.
    #[error(transparent)]
    Data(Box<denovo_data::LoadError>),
    /// A rule description (e.g. a true rule's parameters) does not fit the regressors.
    #[error(transparent)]
    Spec(#[from] denovo_rules::SpecError),
    /// A random-walk (psytrack) fit failed: bad data or hyperparameters, a non-finite
    /// value, no convergence.
    #[error(transparent)]
    Walk(#[from] denovo_walk::WalkError),
    /// A simulation (twins) failed.
    #[error(transparent)]
    Sim(Box<denovo_sim::SimError>),
    /// A setting of the [`FitSpec`](crate::FitSpec) is out of range; `setting` is its
    /// name in `fit.toml` (the command line's flag is the same with dashes).
    #[error("{setting} must be {expected}, got {got}")]
    Setting {
        /// The setting's name.
        setting: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        got: String,
    },
    /// A setting that cannot be used together with another; both are named as flags
    /// (`--minibatch`) and as in `fit.toml` (`minibatch`).
    #[error(
        "--{} needs {needs}; it cannot be used with --{} (in fit.toml: {setting}, {other})",
        .setting.replace('_', "-"),
        .other.replace('_', "-")
    )]
    Conflict {
        /// The setting's name in `fit.toml`.
        setting: &'static str,
        /// What it needs instead.
        needs: &'static str,
        /// The setting it cannot be used with.
        other: &'static str,
    },
    /// Data that cannot provide the regressors a fitted rule needs.
    #[error("the rule was fitted on the regressors {}; {source}", regressors.join(", "))]
    Regressors {
        /// The rule's regressors, in order.
        regressors: Vec<String>,
        /// What the data lacks.
        source: Box<denovo_data::LoadError>,
    },
    /// A model name that is not one of [`ModelKind::ALL`](crate::ModelKind::ALL),
    /// `reinforce-streak`, `psytrack` or a rule with noise ([`ModelKind::NOISY`](crate::ModelKind::NOISY)).
    #[error(
        "unknown model `{0}` (expected reinforce, reinforce-baseline, rewardmax, predictmax, qlearning, reinforce-streak, dnn, rnn, psytrack, or a rule with noise: reinforce-noise, reinforce-baseline-noise, rewardmax-noise, predictmax-noise, qlearning-noise)"
    )]
    UnknownModel(String),
    /// The Adam epochs hit a non-finite loss (or a checkpoint could not be stored).
    /// `last_good` holds the parameters of the last epoch whose loss was finite.
    #[error("fitting {label}: {reason}")]
    Fit {
        /// Which fit ("fit", "fold 2/5").
        label: String,
        /// What happened, with the epochs.
        reason: String,
        /// The last good parameters, described as in `summary.json`.
        last_good: serde_json::Value,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not in the expected format (`summary.json`, `fit.toml`, a checkpoint, a
    /// burn record).
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A run directory cannot be written or read as asked (it holds another run, another
    /// fit is writing it, nothing to resume, …).
    #[error("{}: {reason}", path.display())]
    RunDir {
        /// The run directory.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The backend asked for is not compiled in, or cannot run the precision asked for
    /// (f64 on wgpu).
    #[error("{0}")]
    Backend(String),
}

impl From<denovo_data::LoadError> for StudyError {
    fn from(e: denovo_data::LoadError) -> Self {
        StudyError::Data(Box::new(e))
    }
}

impl From<denovo_sim::SimError> for StudyError {
    fn from(e: denovo_sim::SimError) -> Self {
        StudyError::Sim(Box::new(e))
    }
}

impl StudyError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StudyError {
        let path = path.into();
        move |source| StudyError::Io { path, source }
    }
    /// A format error on `path`.
    pub fn format(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> StudyError {
        StudyError::Format {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
    /// A run-directory error on `path`.
    pub fn run_dir(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> StudyError {
        StudyError::RunDir {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

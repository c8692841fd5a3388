//! [`SweepError`]: everything a sweep can fail with.

use std::path::PathBuf;

/// Why a sweep step failed; each variant names what the user can fix.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// `sweep.toml` is not valid TOML or has a key of the wrong type or an unknown key; the
    /// message of the `toml` crate names the line, column and key.
    #[error("{path}: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's error (line, column, key).
        source: Box<toml::de::Error>,
    },
    /// A `[[models]]` entry names a model denovo does not know.
    #[error("{path}: models[{index}]: {source}")]
    UnknownModel {
        /// The sweep file.
        path: PathBuf,
        /// The entry's index in `models` (0-based).
        index: usize,
        /// The study's error, naming the model and the known ones.
        source: Box<denovo_study::StudyError>,
    },
    /// A `[[models]]` entry (with `[defaults]`) has an unknown key or a value of the wrong
    /// type; the `toml` crate's message names the line and column in the sweep file.
    #[error("{path}: models[{index}] ({model}): {source}")]
    ModelToml {
        /// The sweep file.
        path: PathBuf,
        /// The entry's index in `models` (0-based).
        index: usize,
        /// The entry's name.
        model: String,
        /// The parser's error (line, column, key).
        source: Box<toml::de::Error>,
    },
    /// A `[[models]]` entry (with `[defaults]`) is not a valid fit: a value out of range
    /// (the study's error names the key; `at` its line and column in the sweep file).
    #[error("{path}{at}: models[{index}] ({model}): {source}")]
    ModelOptions {
        /// The sweep file.
        path: PathBuf,
        /// `:line:column` of the key the error names, when the sweep file sets it (else
        /// empty).
        at: String,
        /// The entry's index in `models` (0-based).
        index: usize,
        /// The entry's name.
        model: String,
        /// The study's error.
        source: Box<denovo_study::StudyError>,
    },
    /// A sweep-level setting is out of range or inconsistent (`setting` is its key in
    /// `sweep.toml`).
    #[error("{path}: {setting}: {message}")]
    Setting {
        /// The sweep file.
        path: PathBuf,
        /// The key.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The data file (or ALF folder) the sweep names does not exist.
    #[error("the data `{0}` does not exist (sweep.toml's `data` is relative to the sweep file)")]
    MissingData(PathBuf),
    /// Reading the data or splitting it failed.
    #[error(transparent)]
    Data(Box<denovo_data::LoadError>),
    /// A fit failed.
    #[error(transparent)]
    Study(Box<denovo_study::StudyError>),
    /// `--task I` with I not below the number of tasks.
    #[error("task {id} is out of range: the sweep in {dir} has {tasks} tasks (0..={last})", last = .tasks.saturating_sub(1))]
    TaskOutOfRange {
        /// The id asked for.
        id: usize,
        /// The number of tasks.
        tasks: usize,
        /// The sweep directory.
        dir: PathBuf,
    },
    /// A directory that is not a sweep directory (no `tasks.json`), or a sweep directory
    /// written from another `sweep.toml`.
    #[error("{dir}: {message}")]
    SweepDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another process holds the lock of a task or of the local pool.
    #[error("{0} is locked by another denovo process (a task or `--local` pool still running)")]
    Busy(PathBuf),
    /// `--collect` before every task finished.
    #[error(
        "{done} of {tasks} tasks are done; `--collect` needs all of them (see `denovo sweep DIR --status`)"
    )]
    Incomplete {
        /// Finished tasks.
        done: usize,
        /// All tasks.
        tasks: usize,
    },
    /// The reference model of the comparison is not one of the sweep's models.
    #[error("the reference model `{reference}` is not in the sweep (its models: {})", models.join(", "))]
    UnknownReference {
        /// The reference asked for.
        reference: String,
        /// The sweep's model names.
        models: Vec<String>,
    },
    /// `sbatch` could not be run or refused the job.
    #[error("sbatch: {0}")]
    Slurm(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON or CSV file of the sweep directory could not be read or written.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl From<denovo_data::LoadError> for SweepError {
    fn from(e: denovo_data::LoadError) -> Self {
        SweepError::Data(Box::new(e))
    }
}

impl From<denovo_study::StudyError> for SweepError {
    fn from(e: denovo_study::StudyError) -> Self {
        SweepError::Study(Box::new(e))
    }
}

impl SweepError {
    /// A closure turning an I/O error on `path` into [`SweepError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SweepError {
        let path = path.into();
        move |source| SweepError::Io { path, source }
    }
    /// [`SweepError::Format`] of `path`.
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl ToString) -> SweepError {
        SweepError::Format {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

//! [`ReportError`]: everything drawing a figure or writing a report can fail with.

use std::path::{Path, PathBuf};

/// Why a figure or a report could not be written. Each variant names the file (and, in
/// `weights.csv`, the line and column) the user can look at.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A run directory could not be read (not a run directory, a failed fit, an unknown
    /// schema, a damaged model record, …).
    /// (Boxed: keeps `ReportError` small; `?` converts a `StudyError`.)
    #[error(transparent)]
    Study(Box<denovo_study::StudyError>),
    /// The design matrix of a run's regressors could not be built from its data.
    #[error(transparent)]
    Data(#[from] denovo_data::LoadError),
    /// The behaviour data a run was fitted to could not be loaded (moved, deleted or
    /// changed since the fit).
    #[error("{}: loading its data {} (move it back or refit): {source}", run.display(), data.display())]
    RunData {
        /// The run directory.
        run: PathBuf,
        /// The data file its `summary.json` names.
        data: PathBuf,
        /// Why loading failed (boxed: keeps `ReportError` small).
        source: Box<denovo_data::LoadError>,
    },
    /// A run's `weights.csv` is missing a column, has a damaged row, or does not match the
    /// run's data.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(": line {l}")).unwrap_or_default())]
    Weights {
        /// The `weights.csv` file.
        path: PathBuf,
        /// The 1-based line (the header is line 1), where the problem is on one line.
        line: Option<usize>,
        /// What is wrong (with the column where one is at fault).
        reason: String,
    },
    /// A figure could not be drawn or written; the message names the file.
    #[error("{0}")]
    Plot(String),
    /// A figure file name that ends in neither `.png` nor `.svg`.
    #[error("{}: the plot file must end in .png or .svg", path.display())]
    Extension {
        /// The file asked for.
        path: PathBuf,
    },
    /// Reading or writing a file or folder failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<denovo_study::StudyError> for ReportError {
    fn from(e: denovo_study::StudyError) -> Self {
        ReportError::Study(Box::new(e))
    }
}

impl ReportError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    }

    /// A `weights.csv` problem.
    pub(crate) fn weights(path: &Path, line: Option<usize>, reason: impl Into<String>) -> Self {
        ReportError::Weights {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }

    /// A plotting failure while drawing `path`.
    pub(crate) fn plot(path: &Path, reason: impl std::fmt::Display) -> Self {
        ReportError::Plot(format!("drawing {}: {reason}", path.display()))
    }
}

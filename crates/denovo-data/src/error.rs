//! The typed errors of every loader and writer.

use std::path::{Path, PathBuf};

/// An error reading or writing a behaviour file. Each variant names the file and, where
/// one exists, the line (1-based, the header is line 1), the column and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds nothing, not even a header.
    #[error("{path}: the file is empty (expected a header line and at least one trial)")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The file has a header but no trial rows (or the tree has no session).
    #[error("{path}: no trials found ({detail})")]
    NoTrials {
        /// The file or folder.
        path: PathBuf,
        /// What was looked for.
        detail: String,
    },
    /// The format could not be told from the header.
    #[error(
        "{path}: cannot detect the format from the header `{header}`; a trials CSV needs the \
         columns subject, session, choice, answer and an IBL processed CSV the columns \
         contrastLeft, contrastRight, choice, feedbackType; pass --format to choose"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Its header line.
        header: String,
    },
    /// A required column is missing from the header.
    #[error(
        "{path}:1: missing required column `{column}` for the {format} format (columns found: {found})"
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// The format being read.
        format: &'static str,
        /// The header as read.
        found: String,
    },
    /// The same column name appears twice in the header.
    #[error("{path}:1:{column_index}: column `{column}` appears more than once in the header")]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
        /// 1-based column number of the second occurrence.
        column_index: usize,
    },
    /// The CSV itself is malformed (e.g. a row with the wrong number of fields).
    #[error("{path}:{line}: malformed CSV: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A field that must be a number is not.
    #[error("{path}:{line}:{column_index}: column `{column}`: `{value}` is not a number")]
    NotNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column number.
        column_index: usize,
        /// Column name.
        column: String,
        /// The field as written.
        value: String,
    },
    /// A coded field (choice, answer, reward, feedbackType …) holds a value outside its coding.
    #[error(
        "{path}:{line}:{column_index}: column `{column}`: `{value}` is outside its coding ({expected})"
    )]
    BadCoding {
        /// The file.
        path: PathBuf,
        /// 1-based line (or array element for .npy files, see the message).
        line: u64,
        /// 1-based column number (0 for .npy files).
        column_index: usize,
        /// Column or field name.
        column: String,
        /// The value as written.
        value: String,
        /// The accepted coding.
        expected: &'static str,
    },
    /// The subject field is empty.
    #[error("{path}:{line}:{column_index}: column `subject` is empty")]
    EmptySubject {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column number.
        column_index: usize,
    },
    /// A session of a subject appears again after another session had started.
    #[error(
        "{path}:{line}:{column_index}: subject `{subject}`: session `{session}` appears again after \
         session `{previous}` (rows of one session must be contiguous)"
    )]
    DuplicatedSession {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column number.
        column_index: usize,
        /// The subject.
        subject: String,
        /// The repeated session.
        session: String,
        /// The session seen just before.
        previous: String,
    },
    /// Sessions (or trials within a session) are not in increasing order.
    #[error(
        "{path}:{line}:{column_index}: subject `{subject}`: {what} `{value}` comes after `{previous}` \
         (rows must be in training order)"
    )]
    Unordered {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column number.
        column_index: usize,
        /// The subject.
        subject: String,
        /// What is out of order.
        what: OrderedField,
        /// The value out of order.
        value: String,
        /// The value before it.
        previous: String,
    },
    /// An .npy file could not be read or holds an unexpected array.
    #[error("{path}: {message}")]
    Npy {
        /// The .npy file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An element of an ALF .npy array holds a value outside its coding.
    #[error(
        "{path}: element {index} (0-based trial index in the session): `{value}` is outside its coding ({expected})"
    )]
    BadNpyValue {
        /// The .npy file.
        path: PathBuf,
        /// 0-based index of the element.
        index: usize,
        /// The value found.
        value: String,
        /// The accepted coding.
        expected: &'static str,
    },
    /// A parquet trials table could not be read or written.
    #[error("{path}: {message}")]
    Table {
        /// The .pqt file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value of a parquet trials table is outside its coding.
    #[error(
        "{path}: column `{column}`, row {row} (0-based trial index in the session): `{value}` is outside its coding ({expected})"
    )]
    BadTableValue {
        /// The .pqt file.
        path: PathBuf,
        /// The column.
        column: String,
        /// 0-based row.
        row: usize,
        /// The value found.
        value: String,
        /// The accepted coding.
        expected: &'static str,
    },
    /// A request the loader or writer cannot serve.
    #[error("{path}: {message}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A split that cannot be made (e.g. more folds than subjects).
    #[error("cannot split: {0}")]
    Split(String),
    /// A design-matrix regressor that the dataset cannot provide.
    #[error("unknown regressor `{name}`: {detail}")]
    UnknownRegressor {
        /// The name asked for.
        name: String,
        /// What is available.
        detail: String,
    },
}

impl LoadError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        LoadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What an [`LoadError::Unordered`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderedField {
    /// Sessions of a subject.
    Session,
    /// Trials within a session.
    Trial,
}

impl std::fmt::Display for OrderedField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OrderedField::Session => "session",
            OrderedField::Trial => "trial",
        })
    }
}

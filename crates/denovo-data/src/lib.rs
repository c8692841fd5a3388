//! # denovo-data
//!
//! The data layer of denovo: the schema of trial-by-trial behaviour (dataset → subject →
//! session → trial), loaders for the three supported file formats with format
//! auto-detection, writers for the same formats, design matrices of named regressors and
//! the train/test splits used to evaluate learning rules.
//!
//! Every loader returns a typed [`LoadError`] that names the file, the line (or array
//! element) and the column, and shows the offending value. No input makes a loader panic.
//! Nothing is dropped silently: an ALF session folder that gives no trials is listed in
//! [`Dataset::skipped`] with its path and reason, and logged (`log::warn!`).
//!
//! Read the real rat (`../shared/data/rat_W053.csv`) and build its design matrix:
//!
//! ```
//! use denovo_data::{DesignOptions, Format, load, shared_data};
//! let path = shared_data("rat_W053.csv").expect("../shared/data/rat_W053.csv");
//! let data = load(&path, Format::Auto)?;
//! let design = data.design(&DesignOptions::from_names(&["s1", "s2", "bias"])?)?;
//! assert_eq!(design.subjects[0].n_trials(), 20_000);
//! assert_eq!(data.summary().sessions, 80);
//! # Ok::<(), denovo_data::LoadError>(())
//! ```

mod alf;
mod design;
mod error;
mod ibl;
mod ibl_csv;
mod pqt;
mod schema;
mod split;
mod trials_csv;
mod util;

pub use design::{
    DEFAULT_CONTRAST_GAIN, DesignMatrix, DesignOptions, Regressor, SubjectDesign,
    stimulus_transform,
};
pub use error::{LoadError, OrderedField};
pub use pqt::write_trials_table;
pub use schema::{
    Dataset, DatasetSummary, Format, Session, SessionSource, SessionSummary, SkippedSession,
    Subject, SubjectSummary, Trial,
};
pub use split::{Fold, holdout_last_sessions, kfold_by_subject};

use std::path::Path;

/// How to read a dataset: the format, and for an IBL ALF tree which revision and
/// collection (ONE's `revision` and `collection`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadOptions {
    /// The format ([`Format::Auto`]: detect it).
    pub format: Format,
    /// ALF: pin a revision; per dataset that revision or the latest before it (names
    /// compare as text). `None`: the latest revision of every dataset.
    pub revision: Option<String>,
    /// ALF: the collection holding the trials (`alf`, `alf/task_00`, or `task_00` for
    /// `alf/task_00`). `None`: the one collection of a session that holds trials.
    pub collection: Option<String>,
}

impl LoadOptions {
    /// Options of the given format, with the latest revision and the collection found.
    pub fn new(format: Format) -> Self {
        LoadOptions {
            format,
            ..LoadOptions::default()
        }
    }

    /// Options of the given format with an ALF revision pin and collection.
    pub fn alf(format: Format, revision: Option<String>, collection: Option<String>) -> Self {
        LoadOptions {
            format,
            revision,
            collection,
        }
    }
}

/// Loads a dataset from `path` in the given format; [`Format::Auto`] detects it (a
/// directory is read as an IBL ALF tree, a CSV by its header). Same as [`load_with`]
/// with the latest revision and the collection found.
pub fn load(path: &Path, format: Format) -> Result<Dataset, LoadError> {
    load_with(path, &LoadOptions::new(format))
}

/// Loads a dataset from `path` with `options`. Session folders of an ALF tree that gave
/// no trials are in [`Dataset::skipped`], and each is logged with `log::warn!` (the
/// `denovo` binary prints them to stderr as `warning: skipped PATH: REASON`).
///
/// Errors: any [`LoadError`] of the format's reader (naming file, line, column); a
/// `revision` or `collection` with a CSV format ([`LoadError::Unsupported`]).
pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Dataset, LoadError> {
    let format = match options.format {
        Format::Auto => detect_format(path)?,
        f => f,
    };
    if format != Format::IblAlf && (options.revision.is_some() || options.collection.is_some()) {
        return Err(LoadError::Unsupported {
            path: path.to_path_buf(),
            message: format!(
                "--revision and --collection apply to IBL ALF trees, not to the {} format",
                format.name()
            ),
        });
    }
    let data = match format {
        Format::TrialsCsv => trials_csv::read(path),
        Format::IblCsv => ibl_csv::read(path),
        Format::IblAlf => alf::read(
            path,
            alf::AlfOptions {
                revision: options.revision.as_deref(),
                collection: options.collection.as_deref(),
            },
        ),
        Format::Auto => unreachable!("resolved above"),
    }?;
    for warning in data.warnings() {
        log::warn!("{warning}");
    }
    if let Some(pin) = options.revision.as_deref().map(|r| r.trim_matches('#')) {
        let sources = data.subjects.iter().flat_map(|s| &s.sessions);
        if !sources
            .filter_map(|s| s.source.as_ref())
            .any(|s| s.revision.as_deref() == Some(pin))
        {
            log::warn!(
                "no session has revision {pin}: each dataset was read at the latest revision \
                 before it, or unrevised"
            );
        }
    }
    Ok(data)
}

/// Writes `data` to `path` in `format` (which must not be [`Format::Auto`]). For
/// [`Format::IblAlf`] `path` is the root folder of the tree.
pub fn save(data: &Dataset, path: &Path, format: Format) -> Result<(), LoadError> {
    match format {
        Format::TrialsCsv => trials_csv::write(data, path),
        Format::IblCsv => ibl_csv::write(data, path),
        Format::IblAlf => alf::write(data, path),
        Format::Auto => Err(LoadError::Unsupported {
            path: path.to_path_buf(),
            message: "choose a concrete format to write (trials-csv, ibl-csv or ibl-alf)".into(),
        }),
    }
}

/// Detects the format of `path`: a directory is an IBL ALF tree; a file is read up to its
/// header line, which tells the IBL processed CSV (it has `feedbackType` and
/// `contrastLeft`) from the generic trials CSV.
pub fn detect_format(path: &Path) -> Result<Format, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::io(path, e))?;
    if meta.is_dir() {
        return Ok(Format::IblAlf);
    }
    // One dataset of an ALF session (`.npy`, `.pqt`) is not a behaviour file by itself.
    if let Some(ext @ ("npy" | "pqt")) = path.extension().and_then(|e| e.to_str()) {
        return Err(LoadError::Unsupported {
            path: path.to_path_buf(),
            message: format!(
                "a .{ext} file is one dataset of an IBL ALF session; pass the session folder \
                 (or any folder above it: subject, lab, the whole tree)"
            ),
        });
    }
    let header = util::read_header(path)?;
    let has = |name: &str| header.iter().any(|h| h == name);
    if has("feedbackType") && has("contrastLeft") && has("contrastRight") {
        Ok(Format::IblCsv)
    } else if has("subject") || has("choice") || has("session") {
        Ok(Format::TrialsCsv)
    } else {
        Err(LoadError::UnknownFormat {
            path: path.to_path_buf(),
            header: header.join(","),
        })
    }
}

/// Finds a shared data file such as `rat_W053.csv`: `$DENOVO_DATA/<name>` when
/// `DENOVO_DATA` is set, else `shared/data/<name>` in the current folder or the nearest
/// ancestor that has it (so `../shared/data` beside a checkout is found from the checkout
/// and from any folder inside it). `None` when there is no such file.
pub fn shared_data(name: &str) -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("DENOVO_DATA") {
        let p = std::path::PathBuf::from(dir).join(name);
        return p.is_file().then_some(p);
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|a| a.join("shared").join("data").join(name))
        .find(|p| p.is_file())
}

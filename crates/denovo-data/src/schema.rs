//! The schema: dataset → subject → session → trial.

use serde::Serialize;
use std::path::PathBuf;

/// The file formats denovo reads and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Detect from the path: a folder is an ALF tree, a CSV is told by its header.
    #[default]
    Auto,
    /// The generic trials CSV: `subject, session, choice, answer` (+ `trial`, `reward`,
    /// any numeric input columns).
    TrialsCsv,
    /// The learning-rule literature's `ibl_processed.csv`.
    IblCsv,
    /// An IBL ALF tree as ONE caches it: `<subject>/<date>/<number>/alf[/task_NN]/`
    /// `[#revision#/]_ibl_trials.<field>[.<uuid>].npy` or `_ibl_trials.table[.<uuid>].pqt`.
    IblAlf,
}

impl Format {
    /// The format to write `out` in when none is given: a trials CSV for a `.csv` path, an
    /// ALF tree (a folder) otherwise.
    pub fn for_output(out: &std::path::Path) -> Format {
        match out.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::TrialsCsv,
            _ => Format::IblAlf,
        }
    }

    /// The name used on the command line and in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::TrialsCsv => "trials-csv",
            Format::IblCsv => "ibl-csv",
            Format::IblAlf => "ibl-alf",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Format::Auto),
            "trials-csv" => Ok(Format::TrialsCsv),
            "ibl-csv" => Ok(Format::IblCsv),
            "ibl-alf" => Ok(Format::IblAlf),
            other => Err(format!(
                "unknown format `{other}` (expected auto, trials-csv, ibl-csv or ibl-alf)"
            )),
        }
    }
}

/// One completed trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Values of the dataset's named inputs ([`Dataset::input_names`]), in that order.
    pub inputs: Vec<f64>,
    /// The animal's choice: 0 = left, 1 = right.
    pub choice: u8,
    /// The correct side: 0 = left, 1 = right.
    pub answer: u8,
    /// The reward received (1 rewarded, 0 not, unless the file says otherwise).
    pub reward: f64,
}

impl Trial {
    /// Whether the choice was the correct side.
    pub fn correct(&self) -> bool {
        self.choice == self.answer
    }
}

/// One training session: consecutive trials of a day.
///
/// Its identity within the subject is [`Session::key`]: `<date>/<number>` for dated (IBL)
/// sessions, e.g. `2019-08-05/001`, the same whether it was read from an ALF tree or an
/// IBL processed CSV; else the file's session value. Together with its 1-based index in
/// the subject's training order it names the session in every output.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The session's identifier within the subject: for IBL data the session number of
    /// the day, written with three digits (`001`, as ALF folders are); otherwise the
    /// file's session value as written.
    pub id: String,
    /// The date, for IBL data (`YYYY-MM-DD`).
    pub date: Option<String>,
    /// The trials, in order.
    pub trials: Vec<Trial>,
    /// Where the trials were read from, for sessions of an ALF tree (`None` otherwise).
    pub source: Option<SessionSource>,
}

/// Where an ALF session's trials were read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSource {
    /// The session folder (`<subject>/<date>/<number>`).
    pub path: PathBuf,
    /// The collection read, relative to the session folder (`alf` or `alf/task_00` …).
    pub collection: String,
    /// The newest revision any of its datasets came from (`None`: all unrevised).
    pub revision: Option<String>,
    /// `npy` (one file per field), `table` (`_ibl_trials.table.pqt`) or `npy+table`.
    pub layout: String,
}

/// A session folder (or a folder with trials datasets) that gave no trials, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedSession {
    /// The folder.
    pub path: PathBuf,
    /// The subject, when the folder is a session of one.
    pub subject: Option<String>,
    /// The session's key (`<date>/<number>`), when the folder is a session.
    pub session: Option<String>,
    /// What happened, e.g. `0 trials`, `all 12 trials are no-go (choice 0)`.
    pub reason: String,
}

impl std::fmt::Display for SkippedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped {}: {}", self.path.display(), self.reason)
    }
}

impl Session {
    /// The session's unique key within its subject: `<date>/<id>` when it has a date
    /// (`2019-08-05/001`), else its id.
    pub fn key(&self) -> String {
        match &self.date {
            Some(d) => format!("{d}/{}", self.id),
            None => self.id.clone(),
        }
    }

    /// Fraction of trials with the correct choice.
    pub fn accuracy(&self) -> f64 {
        fraction_correct(self.trials.iter())
    }
}

/// One animal.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// The subject's name.
    pub name: String,
    /// The lab, when the file gives one (IBL).
    pub lab: Option<String>,
    /// The sessions, in training order.
    pub sessions: Vec<Session>,
    /// Trials dropped while loading (IBL no-go trials).
    pub dropped_trials: usize,
}

impl Subject {
    /// Number of trials over all sessions.
    pub fn n_trials(&self) -> usize {
        self.sessions.iter().map(|s| s.trials.len()).sum()
    }
    /// Iterates over every trial in training order.
    pub fn trials(&self) -> impl Iterator<Item = &Trial> {
        self.sessions.iter().flat_map(|s| s.trials.iter())
    }
    /// Fraction of trials with the correct choice.
    pub fn accuracy(&self) -> f64 {
        fraction_correct(self.trials())
    }
}

/// A set of subjects with the same named inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Where it was read from (empty for data made in memory).
    pub source: PathBuf,
    /// The format it was read from.
    pub format: Format,
    /// Names of the per-trial inputs (columns other than the schema's own).
    pub input_names: Vec<String>,
    /// Columns of a trials CSV that were ignored because they are not numeric.
    pub ignored_columns: Vec<String>,
    /// The subjects, in the order they first appear.
    pub subjects: Vec<Subject>,
    /// Session folders of an ALF tree that gave no trials, with the reason (empty for the
    /// other formats). [`load`](crate::load) also logs each as a warning (`log::warn!`).
    pub skipped: Vec<SkippedSession>,
}

/// Per-subject figures of [`DatasetSummary`].
#[derive(Debug, Clone, Serialize)]
pub struct SubjectSummary {
    /// Subject name.
    pub name: String,
    /// Number of sessions.
    pub sessions: usize,
    /// Number of trials kept.
    pub trials: usize,
    /// Number of trials dropped while loading.
    pub dropped_trials: usize,
    /// Fraction correct over all trials.
    pub accuracy: f64,
    /// Fraction correct per session, in training order (the learning curve).
    pub session_accuracy: Vec<f64>,
    /// Trials per session.
    pub session_trials: Vec<usize>,
    /// Every session in training order: its identity, size and where it was read from.
    pub session_list: Vec<SessionSummary>,
}

/// One session in [`SubjectSummary::session_list`].
#[derive(Debug, Clone, Serialize)]
pub struct SessionSummary {
    /// Its key, [`Session::key`] (`2019-08-05/001`, or the file's session value).
    pub session: String,
    /// Its date (IBL data), else null.
    pub date: Option<String>,
    /// Its number of the day (IBL, `001`) or the file's session value.
    pub number: String,
    /// 1-based position in the subject's training order.
    pub index: usize,
    /// Trials kept.
    pub trials: usize,
    /// Fraction correct.
    pub accuracy: f64,
    /// For an ALF session: where it was read from (folder, collection, revision, layout).
    pub source: Option<SessionSource>,
}

/// Counts and learning curves of a dataset (the `denovo inspect --json` document).
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    /// Where it was read from.
    pub source: String,
    /// The format it was read in.
    pub format: Format,
    /// Number of subjects.
    pub subjects: usize,
    /// Number of sessions over all subjects.
    pub sessions: usize,
    /// Number of trials over all subjects.
    pub trials: usize,
    /// Trials dropped while loading (no-go).
    pub dropped_trials: usize,
    /// Fraction correct over all trials.
    pub accuracy: f64,
    /// Names of the per-trial inputs.
    pub inputs: Vec<String>,
    /// Non-numeric columns that were ignored.
    pub ignored_columns: Vec<String>,
    /// One entry per subject.
    pub per_subject: Vec<SubjectSummary>,
    /// Session folders that gave no trials, with path and reason.
    pub skipped: Vec<SkippedSession>,
}

impl Dataset {
    /// Number of trials over all subjects.
    pub fn n_trials(&self) -> usize {
        self.subjects.iter().map(Subject::n_trials).sum()
    }
    /// Number of sessions over all subjects.
    pub fn n_sessions(&self) -> usize {
        self.subjects.iter().map(|s| s.sessions.len()).sum()
    }
    /// Number of trials dropped while loading.
    pub fn n_dropped(&self) -> usize {
        self.subjects.iter().map(|s| s.dropped_trials).sum()
    }
    /// Fraction correct over all trials.
    pub fn accuracy(&self) -> f64 {
        fraction_correct(self.subjects.iter().flat_map(Subject::trials))
    }
    /// One warning line per skipped session folder (`skipped PATH: REASON`).
    pub fn warnings(&self) -> Vec<String> {
        self.skipped.iter().map(ToString::to_string).collect()
    }
    /// Index of the named input, if present.
    pub fn input_index(&self, name: &str) -> Option<usize> {
        self.input_names.iter().position(|n| n == name)
    }
    /// Keeps only the first `n` trials of every subject (the literature uses 10,000);
    /// sessions past the cut are removed and the last one is shortened.
    pub fn first_trials(&self, n: usize) -> Dataset {
        let mut out = self.clone();
        for subject in &mut out.subjects {
            let mut left = n;
            subject.sessions.retain_mut(|s| {
                if left == 0 {
                    return false;
                }
                s.trials.truncate(left);
                left -= s.trials.len();
                true
            });
        }
        out
    }
    /// Counts and learning curves.
    pub fn summary(&self) -> DatasetSummary {
        DatasetSummary {
            source: self.source.display().to_string(),
            format: self.format,
            subjects: self.subjects.len(),
            sessions: self.n_sessions(),
            trials: self.n_trials(),
            dropped_trials: self.n_dropped(),
            accuracy: self.accuracy(),
            inputs: self.input_names.clone(),
            ignored_columns: self.ignored_columns.clone(),
            per_subject: self
                .subjects
                .iter()
                .map(|s| SubjectSummary {
                    name: s.name.clone(),
                    sessions: s.sessions.len(),
                    trials: s.n_trials(),
                    dropped_trials: s.dropped_trials,
                    accuracy: s.accuracy(),
                    session_accuracy: s.sessions.iter().map(Session::accuracy).collect(),
                    session_trials: s.sessions.iter().map(|x| x.trials.len()).collect(),
                    session_list: (s.sessions.iter().enumerate())
                        .map(|(k, x)| SessionSummary {
                            session: x.key(),
                            date: x.date.clone(),
                            number: x.id.clone(),
                            index: k + 1,
                            trials: x.trials.len(),
                            accuracy: x.accuracy(),
                            source: x.source.clone(),
                        })
                        .collect(),
                })
                .collect(),
            skipped: self.skipped.clone(),
        }
    }
}

fn fraction_correct<'a>(trials: impl Iterator<Item = &'a Trial>) -> f64 {
    let (mut n, mut k) = (0usize, 0usize);
    for t in trials {
        n += 1;
        k += usize::from(t.correct());
    }
    if n == 0 {
        f64::NAN
    } else {
        k as f64 / n as f64
    }
}

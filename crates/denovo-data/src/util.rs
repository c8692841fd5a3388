//! Shared helpers of the CSV loaders: header handling and field parsing with positions.

use crate::LoadError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Opens a CSV reader over `path`, failing with [`LoadError::EmptyFile`] on a file with no
/// non-blank content.
pub(crate) fn open_csv(path: &Path) -> Result<csv::Reader<std::fs::File>, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::io(path, e))?;
    if meta.is_dir() {
        return Err(LoadError::Unsupported {
            path: path.to_path_buf(),
            message: "is a folder; a CSV file was expected (use --format ibl-alf for an ALF tree)"
                .into(),
        });
    }
    let text_start = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
    if text_start.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(LoadError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let file = std::fs::File::open(path).map_err(|e| LoadError::io(path, e))?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(file))
}

/// Reads just the header of a CSV file (for format detection).
pub(crate) fn read_header(path: &Path) -> Result<Vec<String>, LoadError> {
    let mut reader = open_csv(path)?;
    Ok(Columns::new(path, &mut reader)?.names)
}

/// Converts a csv error into a [`LoadError`] with the line it happened on.
pub(crate) fn csv_error(path: &Path, err: csv::Error) -> LoadError {
    let line = err.position().map(|p| p.line()).unwrap_or(0);
    match err.into_kind() {
        csv::ErrorKind::Io(e) => LoadError::io(path, e),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => LoadError::Csv {
            path: path.to_path_buf(),
            line,
            message: format!("found {len} fields where the header has {expected_len}"),
        },
        csv::ErrorKind::Utf8 { err, .. } => LoadError::Csv {
            path: path.to_path_buf(),
            line,
            message: format!("invalid UTF-8 in field {}", err.field() + 1),
        },
        other => LoadError::Csv {
            path: path.to_path_buf(),
            line,
            message: format!("{other:?}"),
        },
    }
}

/// The header of a CSV file, with name → index lookup.
pub(crate) struct Columns {
    path: PathBuf,
    /// Column names in file order.
    pub names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    /// Reads and checks the header (no duplicate names; a UTF-8 BOM is removed).
    pub fn new<R: std::io::Read>(
        path: &Path,
        reader: &mut csv::Reader<R>,
    ) -> Result<Self, LoadError> {
        let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
        let mut names = Vec::with_capacity(header.len());
        let mut index = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim_start_matches('\u{feff}').trim().to_string();
            if !name.is_empty() && index.insert(name.clone(), i).is_some() {
                return Err(LoadError::DuplicateColumn {
                    path: path.to_path_buf(),
                    column: name,
                    column_index: i + 1,
                });
            }
            names.push(name);
        }
        Ok(Columns {
            path: path.to_path_buf(),
            names,
            index,
        })
    }

    /// Index of a column that the format requires.
    pub fn required(&self, name: &str, format: &'static str) -> Result<usize, LoadError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| LoadError::MissingColumn {
                path: self.path.clone(),
                column: name.to_string(),
                format,
                found: self.names.join(","),
            })
    }

    /// Index of an optional column.
    pub fn optional(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// A data row with its line number, for error messages.
pub(crate) struct Row<'a> {
    pub path: &'a Path,
    pub columns: &'a Columns,
    pub record: &'a csv::StringRecord,
    pub line: u64,
}

impl Row<'_> {
    /// The raw field at column `i`.
    pub fn field(&self, i: usize) -> &str {
        self.record.get(i).unwrap_or("")
    }

    /// The field at `i` as a finite number.
    pub fn number(&self, i: usize) -> Result<f64, LoadError> {
        let value = self.field(i);
        match value.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.not_numeric(i)),
        }
    }

    /// The field at `i` as a number, where an empty field or NaN reads as `None`.
    pub fn number_or_nan(&self, i: usize) -> Result<Option<f64>, LoadError> {
        let value = self.field(i);
        if value.is_empty() || value.eq_ignore_ascii_case("nan") {
            return Ok(None);
        }
        match value.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(self.not_numeric(i)),
        }
    }

    /// The field at `i` as a 0/1 code (also accepting `0.0`/`1.0`).
    pub fn binary(&self, i: usize, expected: &'static str) -> Result<u8, LoadError> {
        let v = self.number(i)?;
        if v == 0.0 {
            Ok(0)
        } else if v == 1.0 {
            Ok(1)
        } else {
            Err(self.bad_coding(i, expected))
        }
    }

    /// The field at `i`, which must not be empty.
    pub fn text(
        &self,
        i: usize,
        empty: impl FnOnce(u64, usize) -> LoadError,
    ) -> Result<String, LoadError> {
        let v = self.field(i);
        if v.is_empty() {
            Err(empty(self.line, i + 1))
        } else {
            Ok(v.to_string())
        }
    }

    /// A [`LoadError::NotNumeric`] for column `i`.
    pub fn not_numeric(&self, i: usize) -> LoadError {
        LoadError::NotNumeric {
            path: self.path.to_path_buf(),
            line: self.line,
            column_index: i + 1,
            column: self.columns.names[i].clone(),
            value: self.field(i).to_string(),
        }
    }

    /// A [`LoadError::BadCoding`] for column `i`.
    pub fn bad_coding(&self, i: usize, expected: &'static str) -> LoadError {
        LoadError::BadCoding {
            path: self.path.to_path_buf(),
            line: self.line,
            column_index: i + 1,
            column: self.columns.names[i].clone(),
            value: self.field(i).to_string(),
            expected,
        }
    }
}

/// Tracks the session order of each subject while rows stream in, and builds the dataset.
pub(crate) struct SubjectBuilder {
    pub subjects: Vec<crate::Subject>,
    by_name: HashMap<String, (usize, std::collections::HashSet<String>)>,
}

impl SubjectBuilder {
    pub fn new() -> Self {
        SubjectBuilder {
            subjects: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    /// Appends a trial to `subject`'s session `session_key`, starting a new session when
    /// the key changes. `order` compares the new key with the previous one: `Less` means
    /// out of training order. Returns the subject's index and whether a session began.
    /// Errors name `row` and the session column `session_col`.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        row: &Row<'_>,
        session_col: usize,
        subject: &str,
        lab: Option<String>,
        session_key: &str,
        date: Option<String>,
        session_id: &str,
        order: impl FnOnce(&str, &str) -> std::cmp::Ordering,
        trial: crate::Trial,
    ) -> Result<(usize, bool), LoadError> {
        let (idx, seen) = match self.by_name.get_mut(subject) {
            Some(entry) => (entry.0, &mut entry.1),
            None => {
                self.subjects.push(crate::Subject {
                    name: subject.to_string(),
                    lab,
                    sessions: Vec::new(),
                    dropped_trials: 0,
                });
                let entry = self
                    .by_name
                    .entry(subject.to_string())
                    .or_insert((self.subjects.len() - 1, Default::default()));
                (entry.0, &mut entry.1)
            }
        };
        let sessions = &mut self.subjects[idx].sessions;
        let previous_key = sessions.last().map(session_key_of);
        let new_session = previous_key.as_deref() != Some(session_key);
        if new_session {
            if let Some(prev) = previous_key {
                if seen.contains(session_key) {
                    return Err(LoadError::DuplicatedSession {
                        path: row.path.to_path_buf(),
                        line: row.line,
                        column_index: session_col + 1,
                        subject: subject.to_string(),
                        session: session_key.to_string(),
                        previous: prev,
                    });
                }
                if order(session_key, &prev) == std::cmp::Ordering::Less {
                    return Err(LoadError::Unordered {
                        path: row.path.to_path_buf(),
                        line: row.line,
                        column_index: session_col + 1,
                        subject: subject.to_string(),
                        what: crate::OrderedField::Session,
                        value: session_key.to_string(),
                        previous: prev,
                    });
                }
            }
            seen.insert(session_key.to_string());
            sessions.push(crate::Session {
                id: session_id.to_string(),
                date,
                trials: Vec::new(),
                source: None,
            });
        }
        sessions
            .last_mut()
            .expect("pushed above")
            .trials
            .push(trial);
        Ok((idx, new_session))
    }
}

/// The key that identifies a session within its subject: `date/id` when a date is known.
pub(crate) fn session_key_of(s: &crate::Session) -> String {
    s.key()
}

/// The IBL session number `text` (`1`, `001`, `1.0`) written as ALF writes it, with three
/// digits (`001`); `None` unless it is a whole number in 0..=999999.
pub(crate) fn ibl_number(text: &str) -> Option<String> {
    let v: f64 = text.trim().parse().ok()?;
    (v.fract() == 0.0 && (0.0..1e6).contains(&v)).then(|| format!("{:03}", v as u64))
}

/// Orders `date/number` keys by date (ISO text), then number.
pub(crate) fn dated_order(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |k: &str| {
        let (d, s) = k.rsplit_once('/').unwrap_or((k, "0"));
        (d.to_string(), s.parse::<f64>().unwrap_or(0.0))
    };
    let (da, sa) = split(a);
    let (db, sb) = split(b);
    da.cmp(&db)
        .then(sa.partial_cmp(&sb).unwrap_or(std::cmp::Ordering::Equal))
}

/// Compares two values numerically when both are numbers, else reports them as ordered
/// (only contiguity is checked for non-numeric identifiers).
pub(crate) fn numeric_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Greater),
        _ => std::cmp::Ordering::Greater,
    }
}

/// Formats a number the shortest way that reads back to the same `f64`.
pub(crate) fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

/// The date `days` after 2020-01-01 as `YYYY-MM-DD` (for writing synthetic IBL sessions).
pub(crate) fn date_after_epoch(days: i64) -> String {
    // Days from 1970-01-01 to 2020-01-01 is 18262; civil-from-days (H. Hinnant).
    let z = days + 18262 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_2020() {
        assert_eq!(date_after_epoch(0), "2020-01-01");
        assert_eq!(date_after_epoch(59), "2020-02-29");
        assert_eq!(date_after_epoch(366), "2021-01-01");
    }

    #[test]
    fn ibl_numbers_have_three_digits() {
        assert_eq!(ibl_number("1").as_deref(), Some("001"));
        assert_eq!(ibl_number("001").as_deref(), Some("001"));
        assert_eq!(ibl_number("12.0").as_deref(), Some("012"));
        assert_eq!(ibl_number("1234").as_deref(), Some("1234"));
        assert_eq!(ibl_number("1.5"), None);
        assert_eq!(ibl_number("-1"), None);
        assert_eq!(ibl_number("x"), None);
    }

    #[test]
    fn numeric_order_compares_numbers_only() {
        assert_eq!(numeric_order("2", "10"), std::cmp::Ordering::Less);
        assert_eq!(numeric_order("b", "a"), std::cmp::Ordering::Greater);
    }
}

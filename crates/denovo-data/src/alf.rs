//! IBL ALF trials, laid out as ONE and the IBL file server cache them.
//!
//! A session is a folder `<subject>/<YYYY-MM-DD>/<N>` (N: 1–3 digits), anywhere below the
//! folder given, or the folder given itself, or the session above it (its `alf/` folder,
//! a collection or a revision folder). Its trials are the `trials` object of one
//! collection, `alf` or `alf/task_NN` (`collection` chooses; with none, the one that
//! holds trials, and a session with trials in several is skipped as ambiguous). Each
//! attribute is a dataset: a file `_ibl_trials.<attribute>[.<extra>…].npy` (ALF's extra
//! parts, e.g. a dataset UUID, are ignored) or a column of the table
//! `_ibl_trials.table[.<extra>…].pqt`, directly in the collection or in a revision folder
//! `#<revision>#` inside it. Per dataset the latest revision wins (names compare as text;
//! unrevised comes first); a pinned `revision` takes, per dataset, that revision or the
//! latest before it (ONE's rule). An attribute present both as a .npy and as a table
//! column comes from the later revision of the two (the .npy when equal).
//!
//! Fields read: `choice` (raw coding −1 = right, +1 = left, 0 = no-go), `contrastLeft`,
//! `contrastRight` (in [0, 1], NaN on the side without a stimulus), `feedbackType` (±1) and
//! `probabilityLeft` (optional; 0.5 in training). No-go trials are dropped and counted.
//! The correct side is the side whose contrast is not NaN.
//!
//! Nothing is dropped silently: a session folder that gives no trials (no trials
//! datasets, trials only in an unknown collection, several candidate collections, a
//! missing dataset, datasets of different lengths, 0 trials, only no-go trials), a folder
//! with trials datasets outside a session folder, and a second folder for the same
//! session are listed in [`Dataset::skipped`] with path and reason; a subject without
//! sessions is left out. Damaged files and values outside their coding are errors.

use crate::ibl::{
    IBL_INPUTS, probability_left, require_contrasts, session_date_number, sided_contrasts,
};
use crate::pqt::{Table, read_table};
use crate::{Dataset, Format, LoadError, Session, SessionSource, SkippedSession, Subject, Trial};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

const FIELDS: [&str; 4] = ["choice", "contrastLeft", "contrastRight", "feedbackType"];
const P_LEFT: &str = "probabilityLeft";

/// Which collection and revision to read (`denovo --collection`, `--revision`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AlfOptions<'a> {
    /// Pin a revision: per dataset, this one or the latest before it.
    pub revision: Option<&'a str>,
    /// Read this collection (`alf`, `alf/task_00`; `task_00` means `alf/task_00`).
    pub collection: Option<&'a str>,
}

fn field_path(alf: &Path, field: &str) -> PathBuf {
    alf.join(format!("_ibl_trials.{field}.npy"))
}

/// The attribute and extension of an ALF file name of the `trials` object
/// (`_ibl_trials.<attribute>[.<extra>…].<ext>`, namespace `_ibl_` or none), else `None`.
fn trials_name(name: &str) -> Option<(&str, &str)> {
    let rest = name
        .strip_prefix("_ibl_trials.")
        .or_else(|| name.strip_prefix("trials."))?;
    let (attribute, tail) = rest.split_once('.')?;
    let ext = tail.rsplit('.').next()?;
    (!attribute.is_empty() && !ext.is_empty()).then_some((attribute, ext))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn is_number(s: &str) -> bool {
    (1..=3).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit())
}

/// `#name#` → `name`.
fn revision_of(dir: &str) -> Option<&str> {
    dir.strip_prefix('#')?
        .strip_suffix('#')
        .filter(|r| !r.is_empty())
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// A session folder found in the tree.
struct Found {
    path: PathBuf,
    subject: String,
    /// The subject folder's parent is `Subjects`: the lab is the folder above it.
    lab: Option<String>,
    date: String,
    number: String,
}

/// Lists the sub-folders of `dir` (following links to folders), sorted, and whether it
/// holds a file of the trials object.
fn list(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>), LoadError> {
    let mut dirs = Vec::new();
    let mut trials = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LoadError::io(dir, e))? {
        let entry = entry.map_err(|e| LoadError::io(dir, e))?;
        let path = entry.path();
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => std::fs::metadata(&path).is_ok_and(|m| m.is_dir()),
            Ok(t) => t.is_dir(),
            Err(e) => return Err(LoadError::io(&path, e)),
        };
        if is_dir {
            dirs.push(path);
        } else if let Some(name) = entry.file_name().to_str()
            && trials_name(name).is_some()
        {
            trials.push(name.to_string());
        }
    }
    dirs.sort();
    trials.sort();
    Ok((dirs, trials))
}

/// Walks the tree below `dir`, whose names from the file-system root are `names`.
fn walk(
    dir: &Path,
    names: &mut Vec<String>,
    visited: &mut HashSet<PathBuf>,
    found: &mut Vec<Found>,
    skipped: &mut Vec<SkippedSession>,
) -> Result<(), LoadError> {
    let n = names.len();
    if n >= 3 && is_number(&names[n - 1]) && is_date(&names[n - 2]) {
        found.push(Found {
            path: dir.to_path_buf(),
            subject: names[n - 3].clone(),
            lab: (n >= 5 && names[n - 4] == "Subjects").then(|| names[n - 5].clone()),
            date: names[n - 2].clone(),
            number: format!("{:03}", names[n - 1].parse::<u32>().unwrap_or(0)),
        });
        return Ok(());
    }
    let (dirs, trials) = list(dir)?;
    if !trials.is_empty() {
        skipped.push(SkippedSession {
            path: dir.to_path_buf(),
            subject: None,
            session: None,
            reason: format!(
                "unknown layout: trials datasets ({}) outside a session folder \
                 <subject>/<YYYY-MM-DD>/<NNN>/ (expected in its alf/ or alf/task_NN/)",
                trials.join(", ")
            ),
        });
    }
    for sub in dirs {
        if std::fs::symlink_metadata(&sub).is_ok_and(|m| m.file_type().is_symlink()) {
            let target = std::fs::canonicalize(&sub).map_err(|e| LoadError::io(&sub, e))?;
            if !visited.insert(target) {
                continue;
            }
        }
        names.push(name_of(&sub));
        walk(&sub, names, visited, found, skipped)?;
        names.pop();
    }
    Ok(())
}

/// The session folders below (or around) `root`; a folder inside a session (its `alf/`,
/// a collection, a revision folder) stands for the session, and gives the collection and
/// revision it names unless `options` name them.
fn discover(
    root: &Path,
    options: &mut AlfOptionsOwned,
) -> Result<(Vec<Found>, Vec<SkippedSession>), LoadError> {
    let canonical = std::fs::canonicalize(root).map_err(|e| LoadError::io(root, e))?;
    let chain: Vec<&Path> = canonical.ancestors().collect();
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for (up, session) in chain.iter().enumerate().take(4) {
        let (Some(date_dir), true) = (session.parent(), is_number(&name_of(session))) else {
            continue;
        };
        if !is_date(&name_of(date_dir)) || date_dir.parent().is_none() {
            continue;
        }
        // `root` lies `up` folders below the session: e.g. alf/task_00/#rev#.
        let mut inside: Vec<String> = canonical
            .strip_prefix(session)
            .map(|p| p.iter().map(|c| c.to_string_lossy().to_string()).collect())
            .unwrap_or_default();
        if let Some(r) = inside
            .last()
            .and_then(|d| revision_of(d))
            .map(str::to_string)
        {
            inside.pop();
            options.revision.get_or_insert(r);
        }
        if up > 0 && !inside.is_empty() {
            options.collection.get_or_insert(inside.join("/"));
        }
        let mut names: Vec<String> = session
            .iter()
            .map(|c| c.to_string_lossy().to_string())
            .collect();
        let mut visited = HashSet::new();
        walk(session, &mut names, &mut visited, &mut found, &mut skipped)?;
        return Ok((found, skipped));
    }
    let mut names: Vec<String> = canonical
        .iter()
        .map(|c| c.to_string_lossy().to_string())
        .collect();
    let mut visited = HashSet::from([canonical.clone()]);
    walk(root, &mut names, &mut visited, &mut found, &mut skipped)?;
    Ok((found, skipped))
}

/// Owned [`AlfOptions`], completed by where the user points.
#[derive(Debug, Default)]
struct AlfOptionsOwned {
    revision: Option<String>,
    collection: Option<String>,
}

/// One dataset file of a session: (collection, revision, attribute, extension, path).
struct DatasetFile {
    collection: String,
    revision: Option<String>,
    attribute: String,
    ext: String,
    path: PathBuf,
}

/// Every file of the trials object below the session folder `dir` (`rel`: the folders
/// between them).
fn datasets(
    dir: &Path,
    rel: &mut Vec<String>,
    out: &mut Vec<DatasetFile>,
) -> Result<(), LoadError> {
    if rel.len() > 4 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| LoadError::io(dir, e))? {
        let entry = entry.map_err(|e| LoadError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            rel.push(name);
            datasets(&path, rel, out)?;
            rel.pop();
        } else if let Some((attribute, ext)) = trials_name(&name) {
            let mut folders = rel.clone();
            let revision = folders
                .last()
                .and_then(|d| revision_of(d))
                .map(str::to_string);
            if revision.is_some() {
                folders.pop();
            }
            out.push(DatasetFile {
                collection: folders.join("/"),
                revision,
                attribute: attribute.to_string(),
                ext: ext.to_string(),
                path,
            });
        }
    }
    Ok(())
}

fn usable(d: &DatasetFile) -> bool {
    (d.ext == "npy" && (FIELDS.contains(&d.attribute.as_str()) || d.attribute == P_LEFT))
        || (d.ext == "pqt" && d.attribute == "table")
}

fn standard_collection(c: &str) -> bool {
    c == "alf"
        || c.strip_prefix("alf/task_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Why a session gave no trials (it is skipped), or a hard error.
enum Outcome {
    Read(Session, usize),
    Skip(String),
}

/// The file of one dataset under the revision rule: the latest revision, or with a pin
/// the latest not after it. Two files for the same dataset and revision (e.g. with and
/// without a UUID) are ambiguous.
fn pick<'a>(
    files: impl Iterator<Item = &'a DatasetFile>,
    pin: Option<&str>,
) -> Result<Option<&'a DatasetFile>, String> {
    let mut best: Option<&DatasetFile> = None;
    for f in files {
        if pin.is_some_and(|p| f.revision.as_deref().unwrap_or("") > p) {
            continue;
        }
        match best {
            Some(b) if b.revision == f.revision => {
                return Err(format!(
                    "two files for one dataset: {} and {}",
                    b.path.display(),
                    f.path.display()
                ));
            }
            Some(b) if b.revision > f.revision => {}
            _ => best = Some(f),
        }
    }
    Ok(best)
}

/// The files of one dataset (attribute and extension) of `collection`.
fn of_dataset<'a>(
    files: &'a [DatasetFile],
    collection: &'a str,
    attribute: &'a str,
    ext: &'a str,
) -> impl Iterator<Item = &'a DatasetFile> + 'a {
    files
        .iter()
        .filter(move |f| f.collection == collection && f.attribute == attribute && f.ext == ext)
}

/// Where one field's values come from.
enum Column<'a> {
    Npy(&'a DatasetFile),
    Table(&'a Path),
}

fn read_session(found: &Found, options: &AlfOptionsOwned) -> Result<Outcome, LoadError> {
    let mut files = Vec::new();
    datasets(&found.path, &mut Vec::new(), &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if files.is_empty() {
        return Ok(Outcome::Skip(
            "no trials datasets (no _ibl_trials.* file in the session folder)".into(),
        ));
    }
    let collections: BTreeSet<&str> = files
        .iter()
        .filter(|f| usable(f))
        .map(|f| f.collection.as_str())
        .collect();
    let listed = |set: &BTreeSet<&str>| {
        set.iter()
            .map(|c| {
                if c.is_empty() {
                    "(the session folder)"
                } else {
                    c
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let collection: String = match &options.collection {
        Some(c) => {
            let c = c.trim_matches('/');
            if collections.contains(c) {
                c.to_string()
            } else if collections.contains(format!("alf/{c}").as_str()) {
                format!("alf/{c}")
            } else {
                return Ok(Outcome::Skip(format!(
                    "no trials datasets in collection `{c}` (found in: {})",
                    if collections.is_empty() {
                        "none".to_string()
                    } else {
                        listed(&collections)
                    }
                )));
            }
        }
        None => {
            let standard: BTreeSet<&str> = collections
                .iter()
                .copied()
                .filter(|c| standard_collection(c))
                .collect();
            match standard.len() {
                1 => standard.first().expect("one").to_string(),
                0 if collections.is_empty() => {
                    let names: BTreeSet<String> = files
                        .iter()
                        .map(|f| format!("{}.{}", f.attribute, f.ext))
                        .collect();
                    return Ok(Outcome::Skip(format!(
                        "no trials datasets that denovo reads (found trials.{}; expected \
                         _ibl_trials.<field>.npy or _ibl_trials.table.pqt)",
                        names.into_iter().collect::<Vec<_>>().join(", trials.")
                    )));
                }
                0 => {
                    return Ok(Outcome::Skip(format!(
                        "unknown layout: trials datasets only in {}, not in alf/ or \
                         alf/task_NN/ (choose it with --collection)",
                        listed(&collections)
                    )));
                }
                _ => {
                    return Ok(Outcome::Skip(format!(
                        "trials in several collections ({}): choose one with --collection",
                        listed(&standard)
                    )));
                }
            }
        }
    };
    let pin = options.revision.as_deref();
    let of = |attribute: &'static str, ext: &'static str| {
        of_dataset(&files, &collection, attribute, ext)
    };
    let table_file = match pick(of("table", "pqt"), pin) {
        Ok(t) => t,
        Err(reason) => return Ok(Outcome::Skip(reason)),
    };
    let table: Option<Table> = table_file.map(|t| read_table(&t.path)).transpose()?;
    let mut columns: Vec<Option<Column<'_>>> = Vec::new();
    let mut used: Vec<&DatasetFile> = Vec::new();
    for field in FIELDS.iter().chain([&P_LEFT]) {
        let npy = match pick(of(field, "npy"), pin) {
            Ok(n) => n,
            Err(reason) => return Ok(Outcome::Skip(reason)),
        };
        let in_table = table_file.filter(|_| {
            table
                .as_ref()
                .is_some_and(|t| t.columns.contains_key(*field))
        });
        let column = match (npy, in_table) {
            (Some(n), Some(t)) if t.revision > n.revision => Some(Column::Table(&t.path)),
            (Some(n), _) => Some(Column::Npy(n)),
            (None, Some(t)) => Some(Column::Table(&t.path)),
            (None, None) => None,
        };
        match &column {
            Some(Column::Npy(n)) => used.push(n),
            Some(Column::Table(..)) => used.extend(table_file),
            None => {}
        }
        if column.is_none() && *field != P_LEFT {
            if let (Some(t), Some(tab)) = (table_file, &table)
                && tab.other.iter().any(|o| o == field)
            {
                return Err(LoadError::Table {
                    path: t.path.clone(),
                    message: format!("column `{field}` is not numeric"),
                });
            }
            // Datasets readable under the pin, and the later revisions that hold this one.
            let readable =
                |f: &&DatasetFile| pin.is_none_or(|p| f.revision.as_deref().unwrap_or("") <= p);
            let in_collection = files.iter().filter(|f| f.collection == collection);
            let present: BTreeSet<&str> = (in_collection.clone().filter(readable))
                .map(|f| f.attribute.as_str())
                .collect();
            let later: BTreeSet<String> = in_collection
                .filter(|f| f.attribute == *field && !readable(f))
                .filter_map(|f| f.revision.as_ref().map(|r| format!("#{r}#")))
                .collect();
            if let (Some(p), false) = (pin, later.is_empty()) {
                return Ok(Outcome::Skip(format!(
                    "dataset `{field}` in {collection}/ exists only in revisions after the \
                     pinned {p}: {}",
                    later.into_iter().collect::<Vec<_>>().join(", ")
                )));
            }
            return Ok(Outcome::Skip(format!(
                "missing dataset `{field}` in {collection}/ (neither _ibl_trials.{field}.npy nor a \
                 `{field}` column of _ibl_trials.table.pqt{}; found: {})",
                pin.map(|p| format!(" at revision {p} or before"))
                    .unwrap_or_default(),
                present.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        columns.push(column);
    }
    // The values of every field, and where they came from (for messages).
    let mut arrays: Vec<Option<(Vec<f64>, PathBuf, String)>> = Vec::new();
    for (field, column) in FIELDS.iter().chain([&P_LEFT]).zip(&columns) {
        arrays.push(match column {
            Some(Column::Npy(n)) => Some((read_npy(&n.path)?, n.path.clone(), String::new())),
            Some(Column::Table(path)) => {
                let values = table
                    .as_ref()
                    .and_then(|t| t.columns.get(*field))
                    .cloned()
                    .unwrap_or_default();
                Some((values, path.to_path_buf(), field.to_string()))
            }
            None => None,
        });
    }
    let lengths: Vec<(usize, String)> = arrays
        .iter()
        .flatten()
        .map(|(a, path, column)| {
            let what = if column.is_empty() {
                path.display().to_string()
            } else {
                format!("column `{column}` of {}", path.display())
            };
            (a.len(), what)
        })
        .collect();
    let n = lengths[0].0;
    if lengths.iter().any(|l| l.0 != n) {
        return Ok(Outcome::Skip(format!(
            "datasets of different lengths: {}",
            lengths
                .iter()
                .map(|(len, what)| format!("{len} trials in {what}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if n == 0 {
        return Ok(Outcome::Skip("0 trials".into()));
    }
    let get = |k: usize| arrays[k].as_ref().expect("required fields are present");
    let (trials, dropped) = trials_of([get(0), get(1), get(2), get(3)], arrays[4].as_ref(), n)?;
    if trials.is_empty() {
        return Ok(Outcome::Skip(format!(
            "all {dropped} trials are no-go (choice 0)"
        )));
    }
    let revision = used.iter().filter_map(|f| f.revision.clone()).max();
    let layout = match (
        columns
            .iter()
            .flatten()
            .any(|c| matches!(c, Column::Npy(_))),
        columns
            .iter()
            .flatten()
            .any(|c| matches!(c, Column::Table(_))),
    ) {
        (true, true) => "npy+table",
        (false, true) => "table",
        _ => "npy",
    };
    Ok(Outcome::Read(
        Session {
            id: found.number.clone(),
            date: Some(found.date.clone()),
            trials,
            source: Some(SessionSource {
                path: found.path.clone(),
                collection: collection.clone(),
                revision,
                layout: layout.into(),
            }),
        },
        dropped,
    ))
}

/// The trials of one session from its field arrays (choice, contrastLeft, contrastRight,
/// feedbackType; probabilityLeft optional), each with its file and, for a table, column;
/// no-go trials removed and counted. Errors name the file (and column) and the element.
fn trials_of(
    fields: [&(Vec<f64>, PathBuf, String); 4],
    p_left: Option<&(Vec<f64>, PathBuf, String)>,
    n: usize,
) -> Result<(Vec<Trial>, usize), LoadError> {
    let bad = |source: &(Vec<f64>, PathBuf, String), index: usize, expected: &'static str| {
        let value = format!("{}", source.0[index]);
        if source.2.is_empty() {
            LoadError::BadNpyValue {
                path: source.1.clone(),
                index,
                value,
                expected,
            }
        } else {
            LoadError::BadTableValue {
                path: source.1.clone(),
                column: source.2.clone(),
                row: index,
                value,
                expected,
            }
        }
    };
    let [choice, c_left, c_right, feedback] = fields;
    let mut trials = Vec::with_capacity(n);
    let mut dropped = 0;
    for i in 0..n {
        let choice = match choice.0[i] {
            -1.0 => 1u8,
            1.0 => 0u8,
            0.0 => {
                dropped += 1;
                continue;
            }
            _ => return Err(bad(choice, i, "-1 = right, +1 = left, 0 = no-go")),
        };
        let contrast = |source: &(Vec<f64>, PathBuf, String)| -> Result<Option<f64>, LoadError> {
            let v = source.0[i];
            if v.is_nan() {
                Ok(None)
            } else if (0.0..=1.0).contains(&v) {
                Ok(Some(v))
            } else {
                Err(bad(
                    source,
                    i,
                    "a contrast in [0, 1], or NaN on the side without a stimulus",
                ))
            }
        };
        let (left, right) = (contrast(c_left)?, contrast(c_right)?);
        let answer = match (left, right) {
            (None, Some(_)) => 1u8,
            (Some(_), None) => 0u8,
            _ => {
                return Err(bad(
                    c_right,
                    i,
                    "exactly one of contrastLeft/contrastRight is NaN (the side without a stimulus)",
                ));
            }
        };
        let reward = match feedback.0[i] {
            1.0 => 1.0,
            -1.0 => 0.0,
            _ => return Err(bad(feedback, i, "+1 = correct, -1 = error")),
        };
        let p = match p_left {
            Some(p) if (0.0..=1.0).contains(&p.0[i]) => p.0[i],
            Some(p) => return Err(bad(p, i, "a probability in [0, 1]")),
            None => 0.5,
        };
        trials.push(Trial {
            inputs: vec![left.unwrap_or(0.0), right.unwrap_or(0.0), p],
            choice,
            answer,
            reward,
        });
    }
    Ok((trials, dropped))
}

/// Reads the IBL ALF tree at (or around) `root`; see the module documentation.
///
/// Errors: `root` is not a folder; no session gives trials ([`LoadError::NoTrials`], with
/// the reasons); a damaged file or a value outside its coding (naming file and element).
pub(crate) fn read(root: &Path, options: AlfOptions<'_>) -> Result<Dataset, LoadError> {
    if !root.is_dir() {
        return Err(LoadError::Unsupported {
            path: root.to_path_buf(),
            message: "an IBL ALF tree must be a folder".into(),
        });
    }
    let mut options = AlfOptionsOwned {
        // `#2024-05-06#` as the folder is named, or `2024-05-06`.
        revision: options.revision.map(|r| r.trim_matches('#').to_string()),
        collection: options.collection.map(str::to_string),
    };
    let (mut found, mut skipped) = discover(root, &mut options)?;
    found.sort_by(|a, b| {
        (&a.subject, &a.date, &a.number, &a.path).cmp(&(&b.subject, &b.date, &b.number, &b.path))
    });
    let mut subjects: Vec<Subject> = Vec::new();
    let mut read_any: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen: BTreeMap<(String, String, String), PathBuf> = BTreeMap::new();
    for f in &found {
        let key = format!("{}/{}", f.date, f.number);
        let skip = |reason: String| SkippedSession {
            path: f.path.clone(),
            subject: Some(f.subject.clone()),
            session: Some(key.clone()),
            reason,
        };
        read_any.entry(f.subject.clone()).or_default();
        let id = (f.subject.clone(), f.date.clone(), f.number.clone());
        if let Some(first) = seen.get(&id) {
            skipped.push(skip(format!(
                "the same subject, date and number as {} (read that one)",
                first.display()
            )));
            continue;
        }
        match read_session(f, &options)? {
            Outcome::Skip(reason) => skipped.push(skip(reason)),
            Outcome::Read(session, dropped) => {
                seen.insert(id, f.path.clone());
                *read_any.entry(f.subject.clone()).or_default() += 1;
                if subjects.last().map(|s| &s.name) != Some(&f.subject) {
                    subjects.push(Subject {
                        name: f.subject.clone(),
                        lab: f.lab.clone(),
                        sessions: Vec::new(),
                        dropped_trials: 0,
                    });
                }
                let s = subjects.last_mut().expect("pushed above");
                s.dropped_trials += dropped;
                s.sessions.push(session);
            }
        }
    }
    for (subject, n) in &read_any {
        if *n == 0 {
            let path = found
                .iter()
                .find(|f| &f.subject == subject)
                .and_then(|f| f.path.parent().and_then(Path::parent))
                .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
            skipped.push(SkippedSession {
                path,
                subject: Some(subject.clone()),
                session: None,
                reason: format!("subject `{subject}` left out: none of its sessions has trials"),
            });
        }
    }
    if subjects.is_empty() {
        let detail = if skipped.is_empty() {
            "no session folder <subject>/<YYYY-MM-DD>/<NNN>/ with _ibl_trials datasets below this folder".to_string()
        } else {
            let mut lines: Vec<String> = skipped.iter().take(10).map(ToString::to_string).collect();
            if skipped.len() > 10 {
                lines.push(format!("… and {} more", skipped.len() - 10));
            }
            format!("no session gave trials: {}", lines.join("; "))
        };
        return Err(LoadError::NoTrials {
            path: root.to_path_buf(),
            detail,
        });
    }
    Ok(Dataset {
        source: root.to_path_buf(),
        format: Format::IblAlf,
        input_names: IBL_INPUTS.iter().map(|s| s.to_string()).collect(),
        ignored_columns: Vec::new(),
        subjects,
        skipped,
    })
}

/// Reads a 1-D numeric .npy array as `f64`, whatever its numeric dtype.
pub(crate) fn read_npy(path: &Path) -> Result<Vec<f64>, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
    let npy = |message: String| LoadError::Npy {
        path: path.to_path_buf(),
        message,
    };
    let file =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| npy(format!("not a valid .npy file: {e}")))?;
    let shape = file.shape().to_vec();
    if shape.len() > 2 || (shape.len() == 2 && shape[1] != 1) {
        return Err(npy(format!("expected a 1-D array, found shape {shape:?}")));
    }
    // Every element takes at least one byte: a shape larger than the file is damaged
    // (checked before reading, so a damaged header cannot ask for a huge allocation).
    let elements = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    if elements.is_none_or(|n| n > bytes.len() as u64) {
        return Err(npy(format!(
            "shape {shape:?} does not fit in the file's {} bytes (truncated or damaged)",
            bytes.len()
        )));
    }
    let dtype = file.dtype().descr();
    macro_rules! attempt {
        ($file:expr, $($t:ty),*) => {{
            let f = $file;
            $(
                let f = match f.try_data::<$t>() {
                    Ok(r) => {
                        return r
                            .map(|v| v.map(|x| x as f64))
                            .collect::<Result<Vec<f64>, _>>()
                            .map_err(|e| npy(format!("truncated or unreadable data: {e}")));
                    }
                    Err(f) => f,
                };
            )*
            drop(f);
        }};
    }
    attempt!(file, f64, f32, i64, i32, i16, i8, u8, u16, u32, u64);
    Err(npy(format!(
        "unsupported dtype {dtype} (expected a numeric array)"
    )))
}

/// Writes `data` as an IBL ALF tree below `root`, one `<subject>/<date>/<number:03>/alf`
/// folder per session. Errors if `data` has no contrast inputs or a file cannot be written.
pub(crate) fn write(data: &Dataset, root: &Path) -> Result<(), LoadError> {
    require_contrasts(data, root)?;
    for subject in &data.subjects {
        for (k, session) in subject.sessions.iter().enumerate() {
            let (date, number) = session_date_number(session, k);
            let alf = root
                .join(&subject.name)
                .join(&date)
                .join(format!("{number:03}"))
                .join("alf");
            std::fs::create_dir_all(&alf).map_err(|e| LoadError::io(&alf, e))?;
            let mut choice = Vec::new();
            let mut feedback = Vec::new();
            let mut left = Vec::new();
            let mut right = Vec::new();
            let mut p_left = Vec::new();
            for t in &session.trials {
                choice.push(if t.choice == 1 { -1i64 } else { 1 });
                feedback.push(if t.reward > 0.0 { 1i64 } else { -1 });
                let (l, r) = sided_contrasts(data, t);
                left.push(l);
                right.push(r);
                p_left.push(probability_left(data, t));
            }
            let write = |field: &str, res: std::io::Result<()>| {
                res.map_err(|e| LoadError::io(&field_path(&alf, field), e))
            };
            write(
                "choice",
                npyz::to_file_1d(field_path(&alf, "choice"), choice),
            )?;
            write(
                "feedbackType",
                npyz::to_file_1d(field_path(&alf, "feedbackType"), feedback),
            )?;
            write(
                "contrastLeft",
                npyz::to_file_1d(field_path(&alf, "contrastLeft"), left),
            )?;
            write(
                "contrastRight",
                npyz::to_file_1d(field_path(&alf, "contrastRight"), right),
            )?;
            write(
                "probabilityLeft",
                npyz::to_file_1d(field_path(&alf, "probabilityLeft"), p_left),
            )?;
        }
    }
    Ok(())
}

//! IBL ALF trials: a tree `<subject>/<date>/<number>/alf/_ibl_trials.<field>.npy`.
//!
//! Fields read: `choice` (raw coding −1 = right, +1 = left, 0 = no-go), `contrastLeft`,
//! `contrastRight` (in [0, 1], NaN on the side without a stimulus), `feedbackType` (±1) and
//! `probabilityLeft` (optional; 0.5 in training). No-go trials are dropped and counted.
//! The correct side is the side whose contrast is not NaN. The tree may sit under any
//! prefix (e.g. `<lab>/Subjects/`): every `alf` folder holding `_ibl_trials.choice.npy` is
//! one session, named by the three folders above it. (`_ibl_trials.table.pqt` is not read.)

use crate::ibl::{
    IBL_INPUTS, probability_left, require_contrasts, session_date_number, sided_contrasts,
};
use crate::{Dataset, Format, LoadError, Session, Subject, Trial};
use std::path::{Path, PathBuf};

const FIELDS: [&str; 4] = ["choice", "contrastLeft", "contrastRight", "feedbackType"];

fn field_path(alf: &Path, field: &str) -> PathBuf {
    alf.join(format!("_ibl_trials.{field}.npy"))
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

/// Finds every `alf` folder holding `_ibl_trials.choice.npy` below `root`.
fn find_sessions(root: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(root).map_err(|e| LoadError::io(root, e))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LoadError::io(root, e))?;
        if entry
            .file_type()
            .map_err(|e| LoadError::io(root, e))?
            .is_dir()
        {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    for dir in dirs {
        if dir.file_name().is_some_and(|n| n == "alf") && field_path(&dir, "choice").is_file() {
            out.push(dir);
        } else {
            find_sessions(&dir, out)?;
        }
    }
    Ok(())
}

/// Reads the IBL ALF tree below `root` (a folder); no-go trials are dropped and counted
/// per subject. Errors if `root` is not a folder, holds no session, or a subject has only
/// no-go trials.
pub(crate) fn read(root: &Path) -> Result<Dataset, LoadError> {
    if !root.is_dir() {
        return Err(LoadError::Unsupported {
            path: root.to_path_buf(),
            message: "an IBL ALF tree must be a folder".into(),
        });
    }
    let mut alfs = Vec::new();
    find_sessions(root, &mut alfs)?;
    if alfs.is_empty() {
        return Err(LoadError::NoTrials {
            path: root.to_path_buf(),
            detail: "no <subject>/<date>/<number>/alf/_ibl_trials.choice.npy below this folder"
                .into(),
        });
    }
    // (subject, date, number, alf folder), sorted into training order.
    let mut keyed = Vec::new();
    for alf in alfs {
        let name = |p: Option<&Path>| {
            p.and_then(Path::file_name)
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        };
        let number_dir = alf.parent();
        let date_dir = number_dir.and_then(Path::parent);
        let subject_dir = date_dir.and_then(Path::parent);
        let (subject, date, number) = (name(subject_dir), name(date_dir), name(number_dir));
        let n: u32 = number.parse().map_err(|_| LoadError::Unsupported {
            path: alf.clone(),
            message: format!(
                "session folder `{number}` is not a number (expected <subject>/<date>/<number>/alf)"
            ),
        })?;
        keyed.push((subject, date, n, alf));
    }
    keyed.sort();

    let mut subjects: Vec<Subject> = Vec::new();
    for (subject, date, number, alf) in keyed {
        let session = read_session(&alf, date, number)?;
        if subjects.last().map(|s| &s.name) != Some(&subject) {
            subjects.push(Subject {
                name: subject,
                lab: None,
                sessions: Vec::new(),
                dropped_trials: 0,
            });
        }
        let s = subjects.last_mut().expect("pushed above");
        s.dropped_trials += session.1;
        if !session.0.trials.is_empty() {
            s.sessions.push(session.0);
        }
    }
    for s in &subjects {
        if s.sessions.is_empty() {
            return Err(LoadError::NoValidTrials {
                path: root.to_path_buf(),
                subject: s.name.clone(),
                detail: format!("all {} trials are no-go (choice 0)", s.dropped_trials),
            });
        }
    }
    Ok(Dataset {
        source: root.to_path_buf(),
        format: Format::IblAlf,
        input_names: IBL_INPUTS.iter().map(|s| s.to_string()).collect(),
        ignored_columns: Vec::new(),
        subjects,
    })
}

/// Reads one session; returns it with its no-go trials removed, and their count.
fn read_session(alf: &Path, date: String, number: u32) -> Result<(Session, usize), LoadError> {
    let mut arrays = Vec::new();
    for field in FIELDS {
        arrays.push(read_npy(&field_path(alf, field))?);
    }
    let p_path = field_path(alf, "probabilityLeft");
    let p_left = if p_path.is_file() {
        Some(read_npy(&p_path)?)
    } else {
        None
    };
    let n = arrays[0].len();
    for (field, a) in FIELDS
        .iter()
        .zip(&arrays)
        .chain(p_left.iter().map(|p| (&"probabilityLeft", p)))
    {
        if a.len() != n {
            return Err(LoadError::Npy {
                path: field_path(alf, field),
                message: format!("has {} trials but _ibl_trials.choice.npy has {n}", a.len()),
            });
        }
    }
    let (choice, c_left, c_right, feedback) = (&arrays[0], &arrays[1], &arrays[2], &arrays[3]);
    let bad =
        |field: &str, index: usize, value: f64, expected: &'static str| LoadError::BadNpyValue {
            path: field_path(alf, field),
            index,
            value: format!("{value}"),
            expected,
        };
    let mut trials = Vec::with_capacity(n);
    let mut dropped = 0;
    for i in 0..n {
        let choice = match choice[i] {
            -1.0 => 1u8,
            1.0 => 0u8,
            0.0 => {
                dropped += 1;
                continue;
            }
            v => return Err(bad("choice", i, v, "-1 = right, +1 = left, 0 = no-go")),
        };
        let contrast = |field: &str, v: f64| -> Result<Option<f64>, LoadError> {
            if v.is_nan() {
                Ok(None)
            } else if (0.0..=1.0).contains(&v) {
                Ok(Some(v))
            } else {
                Err(bad(
                    field,
                    i,
                    v,
                    "a contrast in [0, 1], or NaN on the side without a stimulus",
                ))
            }
        };
        let (left, right) = (
            contrast("contrastLeft", c_left[i])?,
            contrast("contrastRight", c_right[i])?,
        );
        let answer = match (left, right) {
            (None, Some(_)) => 1u8,
            (Some(_), None) => 0u8,
            _ => {
                return Err(bad(
                    "contrastRight",
                    i,
                    c_right[i],
                    "exactly one of contrastLeft/contrastRight is NaN (the side without a stimulus)",
                ));
            }
        };
        let reward = match feedback[i] {
            1.0 => 1.0,
            -1.0 => 0.0,
            v => return Err(bad("feedbackType", i, v, "+1 = correct, -1 = error")),
        };
        let p = match &p_left {
            Some(p) if (0.0..=1.0).contains(&p[i]) => p[i],
            Some(p) => return Err(bad("probabilityLeft", i, p[i], "a probability in [0, 1]")),
            None => 0.5,
        };
        trials.push(Trial {
            inputs: vec![left.unwrap_or(0.0), right.unwrap_or(0.0), p],
            choice,
            answer,
            reward,
        });
    }
    Ok((
        Session {
            id: number.to_string(),
            date: Some(date),
            trials,
        },
        dropped,
    ))
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

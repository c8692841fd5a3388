//! The IBL processed CSV of the learning-rule literature (`ibl_processed.csv`).
//!
//! Columns `contrastLeft, contrastRight, choice, feedbackType, probabilityLeft, lab,
//! subject, date, session, answer` (a leading unnamed pandas index column is ignored).
//! Conventions: `choice` 1 = right, 0 = left; `feedbackType` 1 = correct, 0 = error (−1 is
//! read as error too); `answer` is the correct side (1 = right); an empty or NaN contrast
//! reads as 0. A session is the pair (date, session); rows are ordered by subject, date,
//! session. The session number is a whole number, kept with three digits (`1` and `001`
//! both read as `001`, the session key `2019-08-05/001`, as in an ALF tree). Inputs of the resulting dataset: `contrastLeft`, `contrastRight`,
//! `probabilityLeft`.

use crate::ibl::{
    IBL_INPUTS, probability_left, require_contrasts, session_date_number, sided_contrasts,
};
use crate::util::{
    Columns, Row, SubjectBuilder, csv_error, dated_order, fmt_num, ibl_number, open_csv,
};
use crate::{Dataset, Format, LoadError, Trial};
use std::path::Path;

const FORMAT: &str = "ibl-csv";

/// Reads the IBL processed CSV at `path`. Errors name the line and column of a bad value;
/// a file with a header and no rows is an error.
pub(crate) fn read(path: &Path) -> Result<Dataset, LoadError> {
    let mut reader = open_csv(path)?;
    let columns = Columns::new(path, &mut reader)?;
    let c_left = columns.required("contrastLeft", FORMAT)?;
    let c_right = columns.required("contrastRight", FORMAT)?;
    let choice_col = columns.required("choice", FORMAT)?;
    let feedback_col = columns.required("feedbackType", FORMAT)?;
    let subject_col = columns.required("subject", FORMAT)?;
    let date_col = columns.required("date", FORMAT)?;
    let session_col = columns.required("session", FORMAT)?;
    let answer_col = columns.required("answer", FORMAT)?;
    let p_left = columns.optional("probabilityLeft");
    let lab_col = columns.optional("lab");

    let mut builder = SubjectBuilder::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let row = Row {
            path,
            columns: &columns,
            record: &record,
            line,
        };
        let subject = row.text(subject_col, |line, column_index| LoadError::EmptySubject {
            path: path.to_path_buf(),
            line,
            column_index,
        })?;
        let contrast = |i: usize| -> Result<f64, LoadError> {
            let c = row.number_or_nan(i)?.unwrap_or(0.0);
            if (0.0..=1.0).contains(&c) {
                Ok(c)
            } else {
                Err(row.bad_coding(i, "a contrast in [0, 1], or empty/NaN for 0"))
            }
        };
        let left = contrast(c_left)?;
        let right = contrast(c_right)?;
        let choice = row.binary(choice_col, "1 = right or 0 = left")?;
        let answer = row.binary(answer_col, "1 = right or 0 = left")?;
        let feedback = row.number(feedback_col)?;
        let reward = if feedback == 1.0 {
            1.0
        } else if feedback == 0.0 || feedback == -1.0 {
            0.0
        } else {
            return Err(row.bad_coding(feedback_col, "1 = correct or 0 = error"));
        };
        let prob_left = match p_left {
            Some(i) => {
                let p = row.number_or_nan(i)?.unwrap_or(0.5);
                if !(0.0..=1.0).contains(&p) {
                    return Err(row.bad_coding(i, "a probability in [0, 1]"));
                }
                p
            }
            None => 0.5,
        };
        let date = row.field(date_col).to_string();
        if date.is_empty() {
            return Err(row.bad_coding(date_col, "a non-empty session date"));
        }
        let raw = row.field(session_col);
        raw.parse::<f64>()
            .map_err(|_| row.not_numeric(session_col))?;
        let session = ibl_number(raw)
            .ok_or_else(|| row.bad_coding(session_col, "a session number: a whole number ≥ 0"))?;
        let lab = lab_col
            .map(|i| row.field(i).to_string())
            .filter(|l| !l.is_empty());
        let key = format!("{date}/{session}");
        builder.push(
            &row,
            session_col,
            &subject,
            lab,
            &key,
            Some(date),
            &session,
            dated_order,
            Trial {
                inputs: vec![left, right, prob_left],
                choice,
                answer,
                reward,
            },
        )?;
    }
    if builder.subjects.is_empty() {
        return Err(LoadError::NoTrials {
            path: path.to_path_buf(),
            detail: "the header is followed by no rows".into(),
        });
    }
    Ok(Dataset {
        source: path.to_path_buf(),
        format: Format::IblCsv,
        input_names: IBL_INPUTS.iter().map(|s| s.to_string()).collect(),
        ignored_columns: Vec::new(),
        subjects: builder.subjects,
        skipped: Vec::new(),
    })
}

/// Writes `data` to `path` as an IBL processed CSV (header and conventions as above).
/// Errors if `data` has no contrast inputs or the file cannot be written.
pub(crate) fn write(data: &Dataset, path: &Path) -> Result<(), LoadError> {
    require_contrasts(data, path)?;
    let mut out = csv::Writer::from_path(path).map_err(|e| csv_error(path, e))?;
    out.write_record([
        "contrastLeft",
        "contrastRight",
        "choice",
        "feedbackType",
        "probabilityLeft",
        "lab",
        "subject",
        "date",
        "session",
        "answer",
    ])
    .map_err(|e| csv_error(path, e))?;
    for subject in &data.subjects {
        for (k, session) in subject.sessions.iter().enumerate() {
            let (date, number) = session_date_number(session, k);
            for trial in &session.trials {
                let (left, right) = sided_contrasts(data, trial);
                out.write_record([
                    fmt_num(left),
                    fmt_num(right),
                    trial.choice.to_string(),
                    u8::from(trial.reward > 0.0).to_string(),
                    fmt_num(probability_left(data, trial)),
                    subject.lab.clone().unwrap_or_default(),
                    subject.name.clone(),
                    date.clone(),
                    format!("{number:03}"),
                    trial.answer.to_string(),
                ])
                .map_err(|e| csv_error(path, e))?;
            }
        }
    }
    out.flush().map_err(|e| LoadError::io(path, e))
}

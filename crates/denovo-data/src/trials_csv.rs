//! The generic trials CSV: one row per trial.
//!
//! Required columns: `subject`, `session`, `choice` (0 = left, 1 = right), `answer` (the
//! correct side, 0/1). Optional: `trial` (number within the session, must increase),
//! `reward` (any finite number; default `choice == answer`), `date` (a session's date:
//! sessions are then keyed `<date>/<session>`, a whole-number session with three digits
//! (`2019-08-05/001` for `1` or `001`), and ordered by date, then session, as in the IBL
//! formats; written for data that has dates). Every other column whose first
//! value is numeric is a named input; other columns are ignored and listed in the summary.
//! Without dates a session's key is its `session` value, unique within the subject.

use crate::util::{
    Columns, Row, SubjectBuilder, csv_error, dated_order, fmt_num, ibl_number, numeric_order,
    open_csv,
};
use crate::{Dataset, Format, LoadError, Trial};
use std::collections::HashMap;
use std::path::Path;

const FORMAT: &str = "trials-csv";
const OWN: [&str; 7] = [
    "subject", "session", "trial", "choice", "answer", "reward", "date",
];

pub(crate) fn read(path: &Path) -> Result<Dataset, LoadError> {
    let mut reader = open_csv(path)?;
    let columns = Columns::new(path, &mut reader)?;
    let subject_col = columns.required("subject", FORMAT)?;
    let session_col = columns.required("session", FORMAT)?;
    let choice_col = columns.required("choice", FORMAT)?;
    let answer_col = columns.required("answer", FORMAT)?;
    let trial_col = columns.optional("trial");
    let reward_col = columns.optional("reward");
    let date_col = columns.optional("date");
    let candidates: Vec<usize> = (0..columns.names.len())
        .filter(|&i| !columns.names[i].is_empty() && !OWN.contains(&columns.names[i].as_str()))
        .collect();

    let mut builder = SubjectBuilder::new();
    let mut inputs: Option<Vec<usize>> = None;
    let mut ignored = Vec::new();
    let mut last_trial: HashMap<usize, f64> = HashMap::new();
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
        // The first row decides which extra columns are numeric inputs.
        let input_cols = inputs.get_or_insert_with(|| {
            let (num, other): (Vec<usize>, Vec<usize>) = candidates
                .iter()
                .partition(|&&i| row.field(i).parse::<f64>().is_ok());
            ignored = other.iter().map(|&i| columns.names[i].clone()).collect();
            num
        });
        let subject = row.text(subject_col, |line, column_index| LoadError::EmptySubject {
            path: path.to_path_buf(),
            line,
            column_index,
        })?;
        let session = row.field(session_col).to_string();
        if session.is_empty() {
            return Err(row.bad_coding(session_col, "a non-empty session identifier"));
        }
        let choice = row.binary(choice_col, "0 = left or 1 = right")?;
        let answer = row.binary(answer_col, "0 = left or 1 = right")?;
        let reward = match reward_col {
            Some(c) => row.number(c)?,
            None => f64::from(u8::from(choice == answer)),
        };
        let values = input_cols
            .iter()
            .map(|&c| row.number(c))
            .collect::<Result<Vec<_>, _>>()?;
        let trial = Trial {
            inputs: values,
            choice,
            answer,
            reward,
        };
        let date = match date_col {
            Some(c) if row.field(c).is_empty() => {
                return Err(row.bad_coding(c, "a non-empty session date"));
            }
            Some(c) => Some(row.field(c).to_string()),
            None => None,
        };
        // A dated session number is kept with three digits, as in the IBL formats (`1` and
        // `001` are both `2019-08-05/001`), so the same data gets the same keys.
        let session = match date {
            Some(_) => ibl_number(&session).unwrap_or(session),
            None => session,
        };
        let key = match &date {
            Some(d) => format!("{d}/{session}"),
            None => session.clone(),
        };
        let order = if date.is_some() {
            dated_order
        } else {
            numeric_order
        };
        let (subject_idx, new_session) = builder.push(
            &row,
            session_col,
            &subject,
            None,
            &key,
            date,
            &session,
            order,
            trial,
        )?;
        if let Some(tc) = trial_col {
            let t = row.number(tc)?;
            match last_trial.get(&subject_idx) {
                Some(&prev) if !new_session && t <= prev => {
                    return Err(LoadError::Unordered {
                        path: path.to_path_buf(),
                        line,
                        column_index: tc + 1,
                        subject,
                        what: crate::OrderedField::Trial,
                        value: row.field(tc).to_string(),
                        previous: fmt_num(prev),
                    });
                }
                _ => {
                    last_trial.insert(subject_idx, t);
                }
            }
        }
    }
    let input_names = inputs
        .unwrap_or_default()
        .iter()
        .map(|&i| columns.names[i].clone())
        .collect();
    if builder.subjects.is_empty() {
        return Err(LoadError::NoTrials {
            path: path.to_path_buf(),
            detail: "the header is followed by no rows".into(),
        });
    }
    Ok(Dataset {
        source: path.to_path_buf(),
        format: Format::TrialsCsv,
        input_names,
        ignored_columns: ignored,
        subjects: builder.subjects,
        skipped: Vec::new(),
    })
}

pub(crate) fn write(data: &Dataset, path: &Path) -> Result<(), LoadError> {
    let mut out = csv::Writer::from_path(path).map_err(|e| csv_error(path, e))?;
    // Dated sessions keep their date and number (their identity); others are numbered.
    let dated = data
        .subjects
        .iter()
        .flat_map(|s| &s.sessions)
        .any(|s| s.date.is_some());
    let mut header = vec!["subject", "session", "trial"];
    if dated {
        header.insert(1, "date");
    }
    header.extend(data.input_names.iter().map(String::as_str));
    header.extend(["choice", "answer", "reward"]);
    out.write_record(&header).map_err(|e| csv_error(path, e))?;
    for subject in &data.subjects {
        for (k, session) in subject.sessions.iter().enumerate() {
            for (t, trial) in session.trials.iter().enumerate() {
                let mut row = vec![subject.name.clone()];
                if let Some(date) = session.date.as_ref().filter(|_| dated) {
                    row.extend([date.clone(), session.id.clone()]);
                } else if dated {
                    let (date, number) = crate::ibl::session_date_number(session, k);
                    row.extend([date, format!("{number:03}")]);
                } else {
                    row.push((k + 1).to_string());
                }
                row.push((t + 1).to_string());
                row.extend(trial.inputs.iter().map(|v| fmt_num(*v)));
                row.extend([
                    trial.choice.to_string(),
                    trial.answer.to_string(),
                    fmt_num(trial.reward),
                ]);
                out.write_record(&row).map_err(|e| csv_error(path, e))?;
            }
        }
    }
    out.flush().map_err(|e| LoadError::io(path, e))
}

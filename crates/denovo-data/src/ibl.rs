//! IBL conventions shared by the two IBL formats (the processed CSV in `ibl_csv` and the
//! ALF tree in `alf`): the input names of an IBL dataset, how a trial's inputs map back to
//! IBL's sided contrasts and block probability, and the (date, number) a session is
//! written under.

use crate::util::date_after_epoch;
use crate::{Dataset, LoadError, Session, Trial};
use std::path::Path;

/// The input names of an IBL dataset, in order.
pub(crate) const IBL_INPUTS: [&str; 3] = ["contrastLeft", "contrastRight", "probabilityLeft"];

/// The contrasts of a trial on the (left, right) sides, NaN on the side without a stimulus
/// (IBL's raw convention), from a dataset with IBL inputs.
pub(crate) fn sided_contrasts(data: &Dataset, trial: &Trial) -> (f64, f64) {
    let get = |name: &str| {
        data.input_index(name)
            .map(|i| trial.inputs[i])
            .unwrap_or(0.0)
    };
    let (left, right) = (get("contrastLeft"), get("contrastRight"));
    if trial.answer == 1 {
        (f64::NAN, right)
    } else {
        (left, f64::NAN)
    }
}

/// The probability of a left stimulus of a trial (0.5 when the dataset has none).
pub(crate) fn probability_left(data: &Dataset, trial: &Trial) -> f64 {
    data.input_index("probabilityLeft")
        .map(|i| trial.inputs[i])
        .unwrap_or(0.5)
}

/// Fails unless the dataset has the contrast inputs that the IBL formats store.
pub(crate) fn require_contrasts(data: &Dataset, path: &Path) -> Result<(), LoadError> {
    for name in ["contrastLeft", "contrastRight"] {
        if data.input_index(name).is_none() {
            return Err(LoadError::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "cannot write an IBL format: the dataset has no `{name}` input (inputs: {})",
                    data.input_names.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The (date, number) an IBL format gives session `k` of a subject: its own when it has a
/// date, else a synthetic date `k` days after 2020-01-01 and number 1.
pub(crate) fn session_date_number(session: &Session, k: usize) -> (String, u32) {
    match &session.date {
        Some(d) => (d.clone(), session.id.parse().unwrap_or(1)),
        None => (date_after_epoch(k as i64), 1),
    }
}

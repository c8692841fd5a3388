//! [`twin_study`]: a fitted run's twins under training protocols, beside observed animals —
//! what `denovo twin` computes.

use crate::twin::{Distribution, simulate_twins};
use crate::{Run, StudyError};
use denovo_data::Format;
use denovo_sim::Protocol;
use serde::Serialize;
use std::path::Path;

/// Trials to criterion of a fitted rule's twins under one or more protocols, and of
/// observed animals; `denovo twin --json` (schema `denovo.twin/1`). The fields are in
/// alphabetical order, the order of the JSON keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TwinStudy {
    /// One group per line of the table: the observed animals first (when given), then the
    /// twins under each protocol in order.
    pub groups: Vec<Distribution>,
    /// The run's model.
    pub model: String,
    /// The protocols simulated.
    pub protocols: Vec<Protocol>,
    /// The run directory.
    pub run: String,
    /// `denovo.twin/1`.
    pub schema: String,
}

/// Simulates `animals` twins of `run` (from its mean w0) under each of `protocols`, the
/// i-th with seed `seed + i`; with `observed` (a behaviour file or ALF tree, read with the
/// given load options: format, ALF revision and collection), first scores those animals by
/// the first protocol's criterion; with `out`, writes each protocol's virtual behaviour to
/// `out/twin_<protocol>.csv`.
///
/// Errors: [`StudyError::Data`] (the observed data), [`StudyError::Format`] naming the
/// observed data when it lacks contrast inputs, [`StudyError::RunDir`] when a protocol
/// cannot be simulated with the run's rule or the run has no learning rule (psytrack),
/// [`StudyError::Io`] writing `out`.
pub fn twin_study(
    run: &Run,
    protocols: Vec<Protocol>,
    animals: usize,
    seed: u64,
    observed: Option<(&Path, &denovo_data::LoadOptions)>,
    out: Option<&Path>,
) -> Result<TwinStudy, StudyError> {
    run.require_learning_rule("denovo twin")?;
    let mut groups = Vec::new();
    if let (Some((path, options)), Some(first)) = (observed, protocols.first()) {
        let data = denovo_data::load_with(path, options)?;
        let label = format!("observed ({})", path.display());
        groups.push(
            Distribution::observed(&label, &data, first)
                .map_err(|e| StudyError::format(path, format!("--observed: {e}")))?,
        );
    }
    for (i, p) in protocols.iter().enumerate() {
        let (data, outcomes) = simulate_twins(
            &run.rule,
            run.regressors(),
            &run.mean_w0(),
            p,
            animals,
            seed + i as u64,
        )
        .map_err(|e| {
            let what = format!("simulating {} under {}: {e}", run.model(), p.name);
            StudyError::run_dir(&run.dir, what)
        })?;
        if let Some(out) = out {
            std::fs::create_dir_all(out).map_err(StudyError::io(out))?;
            denovo_data::save(
                &data,
                &out.join(format!("twin_{}.csv", p.name)),
                Format::TrialsCsv,
            )?;
        }
        let label = format!("twin {} under {}", run.model(), p.name);
        groups.push(Distribution::of_outcomes(&label, &outcomes));
    }
    Ok(TwinStudy {
        groups,
        model: run.model().to_string(),
        protocols,
        run: run.dir.display().to_string(),
        schema: "denovo.twin/1".into(),
    })
}

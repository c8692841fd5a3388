//! `denovo demo`'s model comparison across held-out animals, run as a sweep: the models ×
//! folds written as a `sweep.toml`, expanded, run on the local pool and collected.

use crate::{Collected, LocalEvent, LocalReport, SweepError, Worker, collect, prepare, run_local};
use denovo_study::ModelKind;
use std::path::{Path, PathBuf};

/// What [`run_demo_sweep`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSweep {
    /// The sweep file it wrote, `<out>/<name>.toml`.
    pub sweep_toml: PathBuf,
    /// The sweep directory, `<out>/<name>/` (tasks, logs, results.csv, comparison.csv).
    pub dir: PathBuf,
    /// Tasks run (all of them: the directory is started afresh).
    pub tasks: usize,
    /// The pool's report.
    pub report: LocalReport,
    /// The collected table and comparison.
    pub collected: Collected,
}

/// The demo's `sweep.toml`: `data` (absolute), `folds` folds over animals assigned with
/// `fold_seed = seed`, the one seed `seed`, the reference `reinforce-baseline` when it is
/// among `models` (else the first), `holdout_sessions = 0.2` for every model and `epochs =
/// neural_epochs` for the DNN and RNN rules (the demo's fits, [`denovo_study::demo_fit_spec`]).
pub fn demo_sweep_toml(
    data: &Path,
    models: &[ModelKind],
    folds: usize,
    seed: u64,
    neural_epochs: usize,
) -> String {
    let reference = (models.iter())
        .find(|m| m.name() == crate::DEFAULT_REFERENCE)
        .or(models.first())
        .map_or(crate::DEFAULT_REFERENCE, |m| m.name());
    let quoted = toml::Value::String(data.display().to_string());
    let mut s = format!(
        "# denovo demo: for each of {folds} folds over animals, every model fitted to the other\n\
         # folds' animals and scored on this fold's (`denovo sweep DIR --status`, `--collect`).\n\
         data = {quoted}\nfolds = {folds}\nfold_seed = {seed}\nseeds = [{seed}]\n\
         reference = \"{reference}\"\n\n[defaults]\nholdout_sessions = 0.2\n"
    );
    for m in models {
        s.push_str(&format!("\n[[models]]\nmodel = \"{}\"\n", m.name()));
        if m.is_neural() {
            s.push_str(&format!("epochs = {neural_epochs}\n"));
        }
    }
    s
}

/// Writes [`demo_sweep_toml`] to `<out>/<name>.toml`, starts the sweep afresh in
/// `<out>/<name>/` (an old one is removed), runs its tasks on `jobs` worker processes of
/// `worker` ([`run_local`]; `on_event` hears of each) and collects it ([`collect`]).
///
/// Errors: those of [`prepare`], [`run_local`] and [`collect`]; [`SweepError::SweepDir`]
/// naming the failed tasks (their logs in `<out>/<name>/logs/`).
#[allow(clippy::too_many_arguments)]
pub fn run_demo_sweep(
    out: &Path,
    name: &str,
    data: &Path,
    models: &[ModelKind],
    folds: usize,
    seed: u64,
    neural_epochs: usize,
    jobs: usize,
    worker: &Worker,
    on_event: &mut dyn FnMut(&LocalEvent),
) -> Result<DemoSweep, SweepError> {
    let data = std::path::absolute(data).map_err(SweepError::io(data))?;
    let sweep_toml = out.join(format!("{name}.toml"));
    let text = demo_sweep_toml(&data, models, folds, seed, neural_epochs);
    std::fs::write(&sweep_toml, text).map_err(SweepError::io(&sweep_toml))?;
    let dir = out.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(SweepError::io(&dir))?;
    }
    let plan = prepare(&sweep_toml, &dir)?;
    let report = run_local(&dir, jobs, worker, on_event)?;
    if !report.failed.is_empty() {
        return Err(SweepError::SweepDir {
            dir: dir.clone(),
            message: format!(
                "tasks {:?} failed; their logs: {}",
                report.failed,
                dir.join("logs").display()
            ),
        });
    }
    let collected = collect(&dir, None)?;
    Ok(DemoSweep {
        sweep_toml,
        dir,
        tasks: plan.tasks.len(),
        report,
        collected,
    })
}

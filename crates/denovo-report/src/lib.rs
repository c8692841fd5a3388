//! # denovo-report
//!
//! Figures and the HTML report of fitted denovo runs. Every figure is drawn with plotters
//! twice, as PNG and as SVG, from the same code.
//!
//! - [`write_report`]: for one or more run directories (of `denovo fit` or
//!   [`denovo_study::RunDir::save`]), each run's learning curves (observed vs predicted
//!   fraction correct per session) and weight trajectories, the inferred rules read out on
//!   one grid (and the RNN's dependence on the trial history), a per-animal model
//!   comparison (log-likelihood per trial in nats, paired t-test and Wilcoxon signed-rank
//!   test), and one self-contained `report.html` that embeds every figure.
//! - [`write_sweep_report`]: a sweep's cross-validated comparison (per-animal held-out LL
//!   averaged over seeds, every model against the reference by one-sided paired tests),
//!   the held-out LL of every animal per model × fold × seed, and the figures of task runs.
//! - [`learning_curve`]: the fraction correct per session of a data set
//!   (`denovo inspect --plot`).
//! - [`twin_figure`]: trials to the trained criterion of digital twins and observed
//!   animals, as empirical CDFs (`denovo twin --out`).
//! - [`text`]: the same for the terminal — a dataset's summary, a table of fits, a table
//!   of twin groups.
//!
//! Every failure is a [`ReportError`] that names the file (and in `weights.csv` the line
//! and column) at fault.
//!
//! Simulate a small cohort, fit a parametric rule to it, store the run and report it
//! (run by `cargo test --doc`):
//!
//! ```
//! use denovo_report::{ReportOptions, write_report};
//! use denovo_study::{FitSpec, ModelSpec, RunDir, fit};
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("cohort.csv");
//! let cohort = denovo_sim::simulate(
//!     &denovo_rules::RuleSpec::initial(denovo_rules::RuleKind::Reinforce, 2, 0.05),
//!     &denovo_sim::CohortConfig { animals: 3, trials: 300, seed: 1, ..Default::default() },
//! )?;
//! denovo_sim::write_cohort(&cohort, &data, denovo_data::Format::TrialsCsv)?;
//!
//! let mut spec = FitSpec::new(&data, ModelSpec::parametric(denovo_rules::RuleKind::Reinforce));
//! spec.split.holdout_sessions = 0.2;
//! spec.training.epochs = Some(50);
//! let run = dir.path().join("reinforce");
//! RunDir::save(&run, &fit(&spec)?, false)?;
//!
//! let report = write_report(&[run], &dir.path().join("report"), &ReportOptions::default())?;
//! assert!(report.html.is_file());
//! // learning curves and weights of the run, the rule, the comparison
//! assert_eq!((report.runs, report.figures), (1, 4));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod learning_curve;
mod paired_table;
mod panels;
mod report;
mod sweep;
pub mod text;
#[cfg(test)]
mod truth_tests;
mod twin;

pub use error::ReportError;
pub use learning_curve::learning_curve;
pub use report::{ReportOptions, ReportSummary, write_report};
pub use sweep::{sweep_section, write_sweep_report};
pub use twin::twin_figure;

//! Ensembles (issue 15, item 1): N replicate fits of one spec, each with its own
//! initialisation seed and (by default) a bootstrap resample of the animals, stored in the
//! run directory beside the primary fit, and scored together on the original animals'
//! held-out sessions.
//!
//! Layout (docs/run-dir.md): `RUN_DIR/replicates/r01/` … `rNN/`, each a complete run
//! directory whose `fit.toml` gives its `seed` and `bootstrap`; `RUN_DIR/ensemble.json`
//! ([`EnsembleSummary`]) with every member's held-out score and the ensemble-mean
//! prediction's. Replicates fit side by side, as many at a time as there are cores, each
//! with its kernels limited to its share of the threads
//! ([`denovo_rules::threads::with_kernel_threads`]), so they never oversubscribe the
//! cores.

use crate::fit::ReadBackend;
use crate::{FitOptions, FitSpec, FitSummary, Run, RunDir, StudyError};
use denovo_data::Dataset;
use denovo_train::{SequenceBatch, SubjectWindow};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The folder of a run directory that holds the replicates.
pub const REPLICATES_DIR: &str = "replicates";
/// The file of a run directory that summarises its ensemble.
pub const ENSEMBLE_FILE: &str = "ensemble.json";
/// The schema of [`ENSEMBLE_FILE`].
pub const ENSEMBLE_SCHEMA: &str = "denovo.ensemble/1";

/// w_t of every member on every trial of every animal,
/// `[members][animals][trials][features]` ([`member_trajectories`]).
pub type MemberWeights = Vec<Vec<Vec<Vec<f64>>>>;

/// Every member's p(right) per animal and held-out trial, and the choices per animal and
/// held-out trial.
type Predictions = (Vec<Vec<Vec<f64>>>, Vec<Vec<f64>>);

/// How each replicate chooses its animals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resample {
    /// A bootstrap resample of the animals (as many, drawn with replacement): the band
    /// then covers the variation between animals as well as the optimiser's.
    #[default]
    Animals,
    /// The same animals, only another initialisation seed.
    None,
}

impl Resample {
    /// `animals` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            Resample::Animals => "animals",
            Resample::None => "none",
        }
    }
}

impl std::fmt::Display for Resample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Resample {
    type Err = StudyError;
    /// Parses `animals` or `none`; errors: [`StudyError::Setting`].
    fn from_str(s: &str) -> Result<Self, StudyError> {
        [Resample::Animals, Resample::None]
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| StudyError::Setting {
                setting: "resample",
                expected: "animals or none",
                got: s.to_string(),
            })
    }
}

/// SplitMix64: a small seeded generator (the resample must not depend on other crates'
/// generator streams, so old runs reproduce).
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A bootstrap resample of `data`'s animals with `seed`: as many animals, drawn with
/// replacement, in the file's order; the second copy of an animal is renamed `<name>#2`,
/// the third `<name>#3`, … (subject names stay unique).
pub fn bootstrap_animals(mut data: Dataset, seed: u64) -> Dataset {
    let n = data.subjects.len();
    let mut rng = Mix(seed ^ 0xB007_5742_u64);
    let mut draws: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
    draws.sort_unstable();
    let mut copies = vec![0usize; n];
    data.subjects = draws
        .iter()
        .map(|&i| {
            copies[i] += 1;
            let mut s = data.subjects[i].clone();
            if copies[i] > 1 {
                s.name = format!("{}#{}", s.name, copies[i]);
            }
            s
        })
        .collect();
    data
}

/// The spec of replicate `replicate` (1-based) of `spec`: seed `spec.seed + replicate`,
/// no cross-validation folds (members are scored on held-out sessions; the primary fit
/// keeps the folds), no checkpoints, and with [`Resample::Animals`] a bootstrap of the
/// animals seeded from both.
pub fn replicate_spec(spec: &FitSpec, replicate: usize, resample: Resample) -> FitSpec {
    let mut s = spec.clone();
    s.seed = spec.seed.wrapping_add(replicate as u64);
    s.split.folds = 0;
    s.training.checkpoint_every = 0;
    s.bootstrap = (resample == Resample::Animals).then(|| {
        spec.seed
            .wrapping_mul(1_000_003)
            .wrapping_add(replicate as u64)
    });
    s
}

/// Where replicate `replicate` (1-based) of the run in `dir` lives: `dir/replicates/r01`, ….
pub fn replicate_dir(dir: &Path, replicate: usize) -> PathBuf {
    dir.join(REPLICATES_DIR).join(format!("r{replicate:02}"))
}

/// How `replicates` fits share the cores: (fits at once, kernel threads per fit) — as
/// many fits as cores (at most `replicates`), the cores split evenly between them.
pub fn replicate_workers(replicates: usize) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    let workers = cores.min(replicates).max(1);
    (workers, (cores / workers).max(1))
}

/// Fits replicates 1..=`replicates` of `spec` (see [`replicate_spec`]) into
/// `dir/replicates/rNN` (replacing what is there), side by side as
/// [`replicate_workers`] says, and calls `done(replicate, summary)` as each finishes
/// (from the worker's thread). The data are read once. Returns the summaries in replicate
/// order.
///
/// Errors: the first failing replicate's error (the others stop after their current fit):
/// [`StudyError::Data`], [`StudyError::Setting`], [`StudyError::Fit`], [`StudyError::Io`].
pub fn fit_replicates(
    spec: &FitSpec,
    dir: &Path,
    replicates: usize,
    resample: Resample,
    done: &(dyn Fn(usize, &FitSummary) + Sync),
) -> Result<Vec<FitSummary>, StudyError> {
    spec.check()?;
    let data = denovo_data::load_with(&spec.data, &spec.load_options())?;
    let (workers, threads) = replicate_workers(replicates);
    let one = |i: usize| -> Result<FitSummary, StudyError> {
        let member = replicate_spec(spec, i, resample);
        let result = crate::fit_with(&member, FitOptions::with_dataset(&data))?;
        RunDir::save(replicate_dir(dir, i), &result, true)?;
        done(i, &result.summary);
        Ok(result.summary)
    };
    side_by_side(replicates, workers, threads, &one)
        .into_iter()
        .collect()
}

/// Runs `one(i)` for i = 1..=`n` on `workers` threads, each with `threads` kernel threads
/// (no oversubscription of the cores), and returns the results in order of i. After the
/// first error no new i is started (those already running finish); the results then end
/// at the ones that ran.
pub(crate) fn side_by_side<T: Send>(
    n: usize,
    workers: usize,
    threads: usize,
    one: &(dyn Fn(usize) -> Result<T, StudyError> + Sync),
) -> Vec<Result<T, StudyError>> {
    let next = AtomicUsize::new(1);
    let failed = AtomicBool::new(false);
    let mut results: Vec<(usize, Result<T, StudyError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    denovo_rules::threads::with_kernel_threads(threads, || {
                        let mut mine = Vec::new();
                        while !failed.load(Ordering::Relaxed) {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i > n {
                                break;
                            }
                            let r = one(i);
                            failed.fetch_or(r.is_err(), Ordering::Relaxed);
                            mine.push((i, r));
                        }
                        mine
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The replicates of the run in `dir` (`dir/replicates/r01`, … in order; empty when the
/// run has none).
///
/// Errors: as [`RunDir::load`] for a replicate folder that holds no readable run.
pub fn load_replicates(dir: &Path) -> Result<Vec<Run>, StudyError> {
    let root = dir.join(REPLICATES_DIR);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('r') && n[1..].parse::<usize>().is_ok())
        })
        .collect();
    dirs.sort();
    dirs.iter().map(RunDir::load).collect()
}

/// One member's scores in [`EnsembleSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberScore {
    /// Its folder, relative to the run directory (`replicates/r01`).
    pub dir: String,
    /// Its initialisation seed.
    pub seed: u64,
    /// Its bootstrap seed (absent with `--resample none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<u64>,
    /// LL per trial (nats/trial) on its own training trials (its resample's animals).
    pub train_ll: f64,
    /// LL per trial on the original animals' held-out sessions (absent without held-out
    /// sessions).
    pub heldout_sessions_ll: Option<f64>,
}

/// `ensemble.json`: how the members and their mean prediction score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSummary {
    /// [`ENSEMBLE_SCHEMA`].
    pub schema: String,
    /// How the members chose their animals.
    pub resample: Resample,
    /// One entry per member, in replicate order.
    pub members: Vec<MemberScore>,
    /// The ensemble-mean prediction's LL per trial on the held-out sessions: every held-out
    /// trial scored with p̄ = the mean of the members' p(right) (absent without held-out
    /// sessions).
    pub ensemble_heldout_sessions_ll: Option<f64>,
    /// Held-out trials scored.
    pub heldout_trials: usize,
}

impl EnsembleSummary {
    /// Reads `dir/ensemble.json`; `None` when the run has no ensemble.
    ///
    /// Errors: [`StudyError::Format`] for a damaged file.
    pub fn read(dir: &Path) -> Result<Option<EnsembleSummary>, StudyError> {
        let path = dir.join(ENSEMBLE_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StudyError::format(&path, e))
    }

    /// One line for the terminal: members, the mean prediction's held-out LL and the
    /// range of the members'.
    pub fn line(&self) -> String {
        let lls: Vec<f64> = self
            .members
            .iter()
            .filter_map(|m| m.heldout_sessions_ll)
            .collect();
        let (lo, hi) = lls
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        match self.ensemble_heldout_sessions_ll {
            Some(ll) => format!(
                "ensemble of {} ({} resample): held-out LL of the mean prediction {ll:.4}/trial \
                 (members {lo:.4} to {hi:.4}) → {ENSEMBLE_FILE}",
                self.members.len(),
                self.resample
            ),
            None => format!(
                "ensemble of {} ({} resample), no held-out sessions → {ENSEMBLE_FILE}",
                self.members.len(),
                self.resample
            ),
        }
    }

    /// Writes `dir/ensemble.json`. Errors: [`StudyError::Io`].
    pub fn write(&self, dir: &Path) -> Result<(), StudyError> {
        let path = dir.join(ENSEMBLE_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| StudyError::format(&path, e))?;
        std::fs::write(&path, text).map_err(StudyError::io(&path))
    }
}

/// Every member's weights w_t on every trial of `subjects` (each member starting every
/// animal from its mean fitted w0, 0 unless fitted), `[members][animals][trials][features]`.
///
/// Errors: [`StudyError::Format`] when a member's regressors are not `names`.
pub fn member_trajectories(
    members: &[Run],
    names: &[String],
    subjects: &[&denovo_data::SubjectDesign],
) -> Result<MemberWeights, StudyError> {
    let runs: Vec<usize> = subjects.iter().map(|s| s.n_trials()).collect();
    let windows: Vec<SubjectWindow> = runs.iter().map(|&n| SubjectWindow::until(n)).collect();
    let device = Default::default();
    let batch = SequenceBatch::<ReadBackend>::new(subjects, &windows, &device);
    let k = names.len();
    members
        .iter()
        .map(|m| {
            if m.regressors() != names {
                return Err(StudyError::format(
                    &m.dir,
                    "a replicate's regressors differ from the primary run's",
                ));
            }
            let w0: Vec<f64> = (0..subjects.len()).flat_map(|_| m.mean_w0()).collect();
            let w0 = denovo_glm::float_tensor::<ReadBackend, 2>(w0, [subjects.len(), k], &device);
            Ok(
                crate::with_model!(&m.rule, r => denovo_train::weight_trajectories(
                    r, &batch, w0.clone(), &runs,
                )),
            )
        })
        .collect()
}

/// Every member's p(right) on every held-out-session trial of the original animals of
/// `spec` (no bootstrap), `[members][animals][held-out trials]`, with the choices
/// `[animals][held-out trials]` (see [`member_trajectories`]).
fn heldout_predictions(spec: &FitSpec, members: &[Run]) -> Result<Predictions, StudyError> {
    let mut original = spec.clone();
    original.bootstrap = None;
    let (_, design) = original.load()?;
    let subjects: Vec<&denovo_data::SubjectDesign> = design.subjects.iter().collect();
    let ends: Vec<usize> = subjects
        .iter()
        .map(|s| s.first_holdout_trial(spec.split.holdout_sessions))
        .collect();
    let k = design.names.len();
    let choices = subjects
        .iter()
        .zip(&ends)
        .map(|(s, &e)| s.choice[e..].to_vec())
        .collect();
    let paths = member_trajectories(members, &design.names, &subjects)?;
    let p = paths
        .iter()
        .map(|member| {
            member
                .iter()
                .zip(&subjects)
                .zip(&ends)
                .map(|((path, s), &e)| {
                    (e..s.n_trials())
                        .map(|t| {
                            let x = &s.x[t * k..(t + 1) * k];
                            let z: f64 = path[t].iter().zip(x).map(|(w, x)| w * x).sum();
                            denovo_glm::scalar::sigmoid(z)
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Ok((p, choices))
}

/// Mean log-likelihood per trial of choices `y` under p(right) `p` (nested per animal).
fn ll_per_trial(p: &[Vec<f64>], y: &[Vec<f64>]) -> (f64, usize) {
    let (mut sum, mut n) = (0.0, 0);
    for (pa, ya) in p.iter().zip(y) {
        for (&p, &y) in pa.iter().zip(ya) {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            sum += if y > 0.5 { p.ln() } else { (1.0 - p).ln() };
            n += 1;
        }
    }
    (sum / n.max(1) as f64, n)
}

/// Scores the members of the run in `dir` (fitted from `spec`, the primary run's) on the
/// original animals' held-out sessions, one by one and by their mean prediction.
///
/// Errors: [`StudyError::Data`] (the data), [`StudyError::Format`] (a replicate with
/// other regressors).
pub fn score_ensemble(
    spec: &FitSpec,
    dir: &Path,
    members: &[Run],
    resample: Resample,
) -> Result<EnsembleSummary, StudyError> {
    let held = spec.split.holdout_sessions > 0.0;
    let (p, y) = if held {
        heldout_predictions(spec, members)?
    } else {
        (Vec::new(), Vec::new())
    };
    let member_ll: Vec<Option<f64>> = (0..members.len())
        .map(|i| held.then(|| ll_per_trial(&p[i], &y).0))
        .collect();
    let (ensemble, trials) = if held && !members.is_empty() {
        let mean: Vec<Vec<f64>> = y
            .iter()
            .enumerate()
            .map(|(a, ya)| {
                (0..ya.len())
                    .map(|t| p.iter().map(|m| m[a][t]).sum::<f64>() / p.len() as f64)
                    .collect()
            })
            .collect();
        let (ll, n) = ll_per_trial(&mean, &y);
        (Some(ll), n)
    } else {
        (None, 0)
    };
    let members = members
        .iter()
        .zip(member_ll)
        .map(|(m, heldout)| MemberScore {
            dir: m
                .dir
                .strip_prefix(dir)
                .unwrap_or(&m.dir)
                .display()
                .to_string(),
            seed: m.spec.as_ref().map_or(0, |s| s.seed),
            bootstrap: m.spec.as_ref().and_then(|s| s.bootstrap),
            train_ll: m.summary.train.ll_per_trial,
            heldout_sessions_ll: heldout,
        })
        .collect();
    Ok(EnsembleSummary {
        schema: ENSEMBLE_SCHEMA.into(),
        resample,
        members,
        ensemble_heldout_sessions_ll: ensemble,
        heldout_trials: trials,
    })
}

/// Fits the ensemble of the run in `dir` (already fitted from `spec`): the replicates
/// ([`fit_replicates`]), then their scores ([`score_ensemble`]) into `dir/ensemble.json`.
///
/// Errors: as [`fit_replicates`] and [`score_ensemble`].
pub fn fit_ensemble(
    spec: &FitSpec,
    dir: &Path,
    replicates: usize,
    resample: Resample,
    done: &(dyn Fn(usize, &FitSummary) + Sync),
) -> Result<EnsembleSummary, StudyError> {
    fit_replicates(spec, dir, replicates, resample, done)?;
    let members = load_replicates(dir)?;
    let summary = score_ensemble(spec, dir, &members, resample)?;
    summary.write(dir)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_draws_with_replacement_and_keeps_names_unique() {
        let data = denovo_sim::simulate(
            &denovo_rules::RuleSpec::initial(denovo_rules::RuleKind::Reinforce, 2, 0.05),
            &denovo_sim::CohortConfig {
                animals: 12,
                trials: 20,
                seed: 3,
                ..Default::default()
            },
        )
        .unwrap()
        .dataset;
        let a = bootstrap_animals(data.clone(), 7);
        assert_eq!(a.subjects.len(), 12);
        let mut names: Vec<&str> = a.subjects.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 12, "names stay unique");
        assert!(
            a.subjects.iter().any(|s| s.name.contains('#')),
            "12 draws of 12 repeat one"
        );
        assert_eq!(a, bootstrap_animals(data.clone(), 7), "seeded");
        assert_ne!(a, bootstrap_animals(data, 8));
        assert_eq!("none".parse::<Resample>().unwrap(), Resample::None);
        assert!("all".parse::<Resample>().is_err());
    }

    #[test]
    fn replicate_specs_differ_in_seed_and_resample() {
        let spec = FitSpec::new("x.csv", crate::ModelSpec::dnn());
        let a = replicate_spec(&spec, 1, Resample::Animals);
        let b = replicate_spec(&spec, 2, Resample::Animals);
        assert_ne!(a.seed, b.seed);
        assert_ne!(a.bootstrap, b.bootstrap);
        assert!(replicate_spec(&spec, 1, Resample::None).bootstrap.is_none());
        assert_eq!(
            replicate_dir(Path::new("run"), 3),
            Path::new("run/replicates/r03")
        );
    }
}

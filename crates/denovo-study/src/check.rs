//! A recovery check on the user's own design (issue 15, item 3; `denovo check`):
//! simulation-based calibration for one dataset.
//!
//! The fitted rule of a run generates N new cohorts on the data's own trials — every
//! training animal's real stimulus sequence, correct sides and session structure, starting
//! from its fitted (or known) w0 — with choices drawn from σ(w_t·x_t) and rewards
//! 1 (correct) / 0 (error) ([`resimulate`]). Each cohort is refitted with the run's own
//! settings (its `fit.toml`, without cross-validation folds; [`refit_spec`]), and the
//! refits' Δw is compared with the generator's on the grid of `denovo rule`
//! ([`denovo_train::readout::grid`]): per grid point the bias and spread of the refits
//! around the generator ([`CheckCells`]), and per figure slice — Δw of one regressor after
//! correct or after error trials, over the grid cells the training animals visit — a
//! verdict ([`SliceVerdict`]): **identified** when the recovery error (the RMS over the
//! visited cells and the refits of refit − generator) is at most [`IDENTIFIED_RATIO`] (20%)
//! of the slice's RMS (the generator's Δw over the same cells), else **not identified**.
//!
//! The generator need not be the fitted rule itself: `denovo check RUN --generator OTHER`
//! simulates from another run's rule on the same data (say the best parametric rule) and
//! refits with RUN's settings. A fitter that pulls every fit the same way (a DNN that moves
//! w after errors whatever the truth) reproduces its own fit and passes the check against
//! itself; against a generator without that feature its refits show it as a bias.
//!
//! Files (docs/run-dir.md), one folder per generator, `RUN_DIR/checks/NAME/` (`self` for
//! the fitted rule, the generator run's folder name otherwise): `check.json`
//! ([`CheckSummary`]), `check.csv` ([`CheckCells::write_csv`]) and every refit's rule in
//! `rNN/` (`summary.json` and `model.mpk`, no `fit.toml`: the data were simulated), which
//! [`crate::band`] reads to widen the rule's band.

use crate::fit::ReadBackend;
use crate::{FitOptions, FitSpec, Model, Run, StudyError};
use denovo_data::{Dataset, DesignMatrix};
use denovo_rules::{LearningRule, TrialBatch};
use denovo_train::readout::{Point, read_out};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The folder of a run directory that holds its checks, one subfolder per generator.
pub const CHECKS_DIR: &str = "checks";
/// The name of the check whose generator is the fitted rule itself.
pub const SELF_CHECK: &str = "self";
/// The file of a check's folder that holds its verdicts.
pub const CHECK_FILE: &str = "check.json";
/// The file of a check's folder that holds its numbers per grid point.
pub const CHECK_CSV: &str = "check.csv";
/// The schema of [`CHECK_FILE`].
pub const CHECK_SCHEMA: &str = "denovo.check/2";

/// The folder of the check named `name` ([`SELF_CHECK`] or a generator's) of the run in
/// `run_dir`: `run_dir/checks/name`.
pub fn check_dir(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join(CHECKS_DIR).join(name)
}
/// A slice is identified when its recovery error is at most this fraction of its RMS.
pub const IDENTIFIED_RATIO: f64 = 0.2;

/// The verdict of one figure slice: Δw of one regressor after correct (or error) trials,
/// over the grid cells the run's training trials visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceVerdict {
    /// The regressor whose update Δw this slice is (`stim`, `bias`, …).
    pub regressor: String,
    /// `correct` or `error`: the outcome of the trial the update follows.
    pub outcome: String,
    /// Grid cells of the slice that the training trials visit (visits > 0); the RMS
    /// values are over these.
    pub visited_cells: usize,
    /// RMS of the generating rule's Δw over the visited cells (weight units per trial).
    pub generator_rms: f64,
    /// The recovery error: RMS over visited cells and refits of (refit − generator).
    pub recovery_rms: f64,
    /// RMS over visited cells of the refits' mean bias (mean refit − generator).
    pub bias_rms: f64,
    /// RMS over visited cells of the refits' standard deviation (0 with one refit).
    pub spread_rms: f64,
    /// `recovery_rms / generator_rms` (absent when the slice has no visited cell or its
    /// RMS is 0).
    pub ratio: Option<f64>,
    /// `identified` or `not identified`.
    pub verdict: String,
}

impl SliceVerdict {
    /// Whether the verdict is `identified`.
    pub fn identified(&self) -> bool {
        self.verdict == "identified"
    }

    /// The slice's name as figures print it, e.g. `Δw_stim after correct`.
    pub fn name(&self) -> String {
        format!("Δw_{} after {}", self.regressor, self.outcome)
    }
}

/// `check.json`: what was checked and every slice's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// [`CHECK_SCHEMA`].
    pub schema: String,
    /// The model checked, with its structure (`dnn`, `dnn[gate=correct-only]`, …).
    pub model: String,
    /// The check's name: [`SELF_CHECK`] or the generator run's folder name.
    pub name: String,
    /// What generated the simulated cohorts: `the fitted rule` or another run's label.
    pub generator: String,
    /// The generator's run directory (absolute); `None` for the fitted rule itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_dir: Option<PathBuf>,
    /// Simulated cohorts, each refitted once.
    pub replicates: usize,
    /// The simulation seed of each replicate (its refit's seed is the run's seed plus
    /// 10,000 plus the replicate's number).
    pub seeds: Vec<u64>,
    /// Each refit's training LL per trial (nats/trial) on its own simulated cohort.
    pub refit_train_ll: Vec<f64>,
    /// [`IDENTIFIED_RATIO`].
    pub threshold: f64,
    /// One verdict per regressor and outcome (correct, then error), regressors in order.
    pub slices: Vec<SliceVerdict>,
}

impl CheckSummary {
    /// Reads `dir/check.json` (`dir` a check's folder, [`check_dir`]); `None` when there is
    /// none.
    ///
    /// Errors: [`StudyError::Format`] for a damaged file or another schema.
    pub fn read(dir: &Path) -> Result<Option<CheckSummary>, StudyError> {
        let path = dir.join(CHECK_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let summary: CheckSummary =
            serde_json::from_str(&text).map_err(|e| StudyError::format(&path, e))?;
        if summary.schema != CHECK_SCHEMA {
            return Err(StudyError::format(
                &path,
                format!(
                    "schema {} (this denovo reads {CHECK_SCHEMA}; rerun `denovo check`)",
                    summary.schema
                ),
            ));
        }
        Ok(Some(summary))
    }

    /// Writes `dir/check.json` (`dir` a check's folder). Errors: [`StudyError::Io`].
    pub fn write(&self, dir: &Path) -> Result<(), StudyError> {
        let path = dir.join(CHECK_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| StudyError::format(&path, e))?;
        std::fs::write(&path, text).map_err(StudyError::io(&path))
    }

    /// The verdict of Δw of `regressor` after correct (`correct`) or error trials.
    pub fn slice(&self, regressor: &str, correct: bool) -> Option<&SliceVerdict> {
        let outcome = if correct { "correct" } else { "error" };
        self.slices
            .iter()
            .find(|s| s.regressor == regressor && s.outcome == outcome)
    }

    /// The verdicts as a small table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<24} {:>8} {:>12} {:>12} {:>8}  verdict\n",
            "slice", "visited", "RMS Δw", "error RMS", "error %"
        );
        for s in &self.slices {
            let ratio = s
                .ratio
                .map_or_else(|| "—".to_string(), |r| format!("{:.1}%", 100.0 * r));
            out.push_str(&format!(
                "{:<24} {:>8} {:>12.3e} {:>12.3e} {:>8}  {}\n",
                s.name(),
                s.visited_cells,
                s.generator_rms,
                s.recovery_rms,
                ratio,
                s.verdict
            ));
        }
        out
    }
}

/// Per grid point and regressor, how the refits scatter around the generator.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckCells {
    /// The regressors, in order.
    pub regressors: Vec<String>,
    /// The grid points ([`denovo_train::readout::grid`]).
    pub points: Vec<Point>,
    /// Training trials per point's cell ([`RuleGrid::visits`]).
    pub visits: Vec<usize>,
    /// The generator's Δw, `[points][regressors]`.
    pub generator: Vec<Vec<f64>>,
    /// Mean refit − generator, `[points][regressors]`.
    pub bias: Vec<Vec<f64>>,
    /// The refits' standard deviation (n − 1; 0 with one refit), `[points][regressors]`.
    pub sd: Vec<Vec<f64>>,
    /// RMS over refits of refit − generator, `[points][regressors]`.
    pub rmse: Vec<Vec<f64>>,
}

impl CheckCells {
    /// Writes `check.csv`: `w_<r>`…, `x_<r>`…, choice, reward, answer, visits, then per
    /// regressor `dw_<r>` (the generator), `dw_<r>_bias`, `dw_<r>_sd`, `dw_<r>_rmse`; one
    /// row per grid point.
    ///
    /// Errors: [`StudyError::Format`] / [`StudyError::Io`] naming the file.
    pub fn write_csv(&self, path: &Path) -> Result<(), StudyError> {
        let io = |e: csv::Error| StudyError::format(path, e);
        let mut out = csv::Writer::from_path(path).map_err(io)?;
        let r = &self.regressors;
        let mut header: Vec<String> = r.iter().map(|r| format!("w_{r}")).collect();
        header.extend(r.iter().map(|r| format!("x_{r}")));
        header.extend(["choice".into(), "reward".into(), "answer".into()]);
        header.push("visits".into());
        for r in r {
            header.push(format!("dw_{r}"));
            for stat in ["bias", "sd", "rmse"] {
                header.push(format!("dw_{r}_{stat}"));
            }
        }
        out.write_record(&header).map_err(io)?;
        for (i, p) in self.points.iter().enumerate() {
            let mut row: Vec<String> = p.w.iter().chain(&p.x).map(|v| format!("{v}")).collect();
            row.extend([
                format!("{}", p.choice),
                format!("{}", u8::from(p.correct)),
                format!("{}", p.answer()),
                self.visits[i].to_string(),
            ]);
            for j in 0..r.len() {
                for v in [
                    self.generator[i][j],
                    self.bias[i][j],
                    self.sd[i][j],
                    self.rmse[i][j],
                ] {
                    row.push(format!("{v}"));
                }
            }
            out.write_record(&row).map_err(io)?;
        }
        out.flush().map_err(StudyError::io(path))
    }
}

/// The result of [`check_run`].
#[derive(Debug, Clone)]
pub struct Check {
    /// `check.json`.
    pub summary: CheckSummary,
    /// `check.csv`.
    pub cells: CheckCells,
    /// Every refit's summary and rule (`model.mpk`'s bytes), in replicate order.
    pub refits: Vec<(crate::FitSummary, Vec<u8>)>,
}

impl Check {
    /// Writes the check into `run_dir/checks/NAME/` ([`check_dir`]), replacing an earlier
    /// check of the same name: `check.json`, `check.csv`, and each refit's rule in `rNN/`
    /// (`summary.json`, `model.mpk`; [`crate::RunDir::load`] reads it back). Returns the
    /// folder.
    ///
    /// Errors: [`StudyError::Io`], [`StudyError::Format`].
    pub fn write(&self, run_dir: &Path) -> Result<PathBuf, StudyError> {
        let dir = check_dir(run_dir, &self.summary.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(StudyError::io(&dir))?;
        }
        for (i, (summary, record)) in self.refits.iter().enumerate() {
            let refit = dir.join(format!("r{:02}", i + 1));
            std::fs::create_dir_all(&refit).map_err(StudyError::io(&refit))?;
            let path = refit.join("model.mpk");
            std::fs::write(&path, record).map_err(StudyError::io(&path))?;
            let path = refit.join("summary.json");
            let text =
                serde_json::to_string_pretty(summary).map_err(|e| StudyError::format(&path, e))?;
            std::fs::write(&path, text).map_err(StudyError::io(&path))?;
        }
        std::fs::create_dir_all(&dir).map_err(StudyError::io(&dir))?;
        self.summary.write(&dir)?;
        self.cells.write_csv(&dir.join(CHECK_CSV))?;
        Ok(dir)
    }
}

/// A check read back from its folder: its verdicts, the generator (`None`: the fitted rule
/// itself) and the refits' rules.
#[derive(Debug)]
pub struct LoadedCheck {
    /// `check.json`.
    pub summary: CheckSummary,
    /// The generator run, for a check against another run's rule.
    pub generator: Option<Run>,
    /// The refits, in replicate order (rule-only runs: no `fit.toml`).
    pub refits: Vec<Run>,
}

/// Every check of the run in `run_dir` (`run_dir/checks/*/`), [`SELF_CHECK`] first, then
/// by name; empty when the run has not been checked.
///
/// Errors: [`StudyError::Format`] for a damaged `check.json`; [`StudyError::RunDir`] for a
/// missing or unreadable refit or generator run (the check names it).
pub fn load_checks(run_dir: &Path) -> Result<Vec<LoadedCheck>, StudyError> {
    let root = run_dir.join(CHECKS_DIR);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(CHECK_FILE).is_file())
        .collect();
    dirs.sort_by_key(|d| (!d.ends_with(SELF_CHECK), d.clone()));
    let mut out = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let Some(summary) = CheckSummary::read(&dir)? else {
            continue;
        };
        let generator = match &summary.generator_dir {
            Some(g) => Some(crate::RunDir::load(g).map_err(|e| {
                StudyError::run_dir(
                    &dir,
                    format!("its generator run {} cannot be read: {e}", g.display()),
                )
            })?),
            None => None,
        };
        let refits = (1..=summary.replicates)
            .map(|i| crate::RunDir::load(dir.join(format!("r{i:02}"))))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(LoadedCheck {
            summary,
            generator,
            refits,
        });
    }
    Ok(out)
}

/// The folder name for a check of the run in `run_dir` against the generator run in
/// `generator_dir`: `base` (the generator's folder name), unless `checks/base` holds a
/// check against another generator — then `base-2`, `base-3`, … (a check against the same
/// generator is replaced, one against another one is kept).
fn check_name(run_dir: &Path, base: &str, generator_dir: &Path) -> String {
    (1..)
        .map(|i| {
            if i == 1 {
                base.to_string()
            } else {
                format!("{base}-{i}")
            }
        })
        .find(|name| match CheckSummary::read(&check_dir(run_dir, name)) {
            Ok(Some(c)) => c.generator_dir.as_deref() == Some(generator_dir),
            Ok(None) => true,
            Err(_) => false,
        })
        .expect("an unused name")
}

/// The verdict on Δw of `regressor` after correct (`correct`) or error trials across all
/// `checks`: the worst one (a slice is identified only when every check identifies it;
/// among equals the largest recovery error). `None` when no check has the slice.
pub fn worst_slice<'a>(
    checks: &'a [LoadedCheck],
    regressor: &str,
    correct: bool,
) -> Option<&'a SliceVerdict> {
    checks
        .iter()
        .filter_map(|c| c.summary.slice(regressor, correct))
        .max_by(|a, b| {
            (!a.identified(), a.ratio.unwrap_or(f64::INFINITY))
                .partial_cmp(&(!b.identified(), b.ratio.unwrap_or(f64::INFINITY)))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
}

/// Compares refits with their generator on grid points: per point the bias, spread and
/// RMS error of the refits ([`CheckCells`]), and per regressor and outcome the verdict
/// over the visited cells ([`SliceVerdict`]).
///
/// `generator` is `[points][regressors]`, `refits` `[refits][points][regressors]`,
/// `visits` `[points]`. A slice without visited cells is `not identified`; one whose
/// generator RMS is 0 is identified only when the refits are exactly 0 there too.
pub fn compare_refits(
    regressors: &[String],
    points: &[Point],
    visits: &[usize],
    generator: &[Vec<f64>],
    refits: &[Vec<Vec<f64>>],
) -> (CheckCells, Vec<SliceVerdict>) {
    let k = regressors.len();
    let n = refits.len().max(1) as f64;
    let per = |f: &dyn Fn(usize, usize) -> f64| -> Vec<Vec<f64>> {
        (0..points.len())
            .map(|i| (0..k).map(|j| f(i, j)).collect())
            .collect()
    };
    let bias = per(&|i, j| {
        refits
            .iter()
            .map(|r| r[i][j] - generator[i][j])
            .sum::<f64>()
            / n
    });
    let sd = per(&|i, j| {
        if refits.len() < 2 {
            return 0.0;
        }
        let mean = refits.iter().map(|r| r[i][j]).sum::<f64>() / n;
        let ss: f64 = refits.iter().map(|r| (r[i][j] - mean).powi(2)).sum();
        (ss / (n - 1.0)).sqrt()
    });
    let rmse = per(&|i, j| {
        let ss: f64 = refits
            .iter()
            .map(|r| (r[i][j] - generator[i][j]).powi(2))
            .sum();
        (ss / n).sqrt()
    });
    let mut slices = Vec::with_capacity(2 * k);
    for (j, name) in regressors.iter().enumerate() {
        for correct in [true, false] {
            let cells: Vec<usize> = (0..points.len())
                .filter(|&i| points[i].correct == correct && visits[i] > 0)
                .collect();
            let rms = |v: &dyn Fn(usize) -> f64| {
                let ss: f64 = cells.iter().map(|&i| v(i).powi(2)).sum();
                (ss / cells.len().max(1) as f64).sqrt()
            };
            let generator_rms = rms(&|i| generator[i][j]);
            let recovery_rms = rms(&|i| rmse[i][j]);
            let ratio =
                (!cells.is_empty() && generator_rms > 0.0).then(|| recovery_rms / generator_rms);
            let identified = !cells.is_empty() && recovery_rms <= IDENTIFIED_RATIO * generator_rms;
            slices.push(SliceVerdict {
                regressor: name.clone(),
                outcome: if correct { "correct" } else { "error" }.into(),
                visited_cells: cells.len(),
                generator_rms,
                recovery_rms,
                bias_rms: rms(&|i| bias[i][j]),
                spread_rms: rms(&|i| sd[i][j]),
                ratio,
                verdict: if identified {
                    "identified"
                } else {
                    "not identified"
                }
                .into(),
            });
        }
    }
    let cells = CheckCells {
        regressors: regressors.to_vec(),
        points: points.to_vec(),
        visits: visits.to_vec(),
        generator: generator.to_vec(),
        bias,
        sd,
        rmse,
    };
    (cells, slices)
}

/// SplitMix64 as a uniform draw in [0, 1).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Simulated (choice, reward) per animal and trial of `design` under `rule` from `w0`
/// (`[animals × features]`, row-major): the animals step side by side, an animal past its
/// last trial sees x = 0 (its state is never read again).
fn simulate_choices<R: LearningRule<ReadBackend>>(
    rule: &R,
    design: &DesignMatrix,
    w0: Vec<f64>,
    seed: u64,
) -> Vec<Vec<(f64, f64)>> {
    let device = Default::default();
    let subjects = &design.subjects;
    let (n, k) = (subjects.len(), design.names.len());
    let col = |name: &str| design.names.iter().position(|r| r == name);
    let (prev_choice, prev_reward) = (col("prev_choice"), col("prev_reward"));
    let longest = subjects.iter().map(|s| s.n_trials()).max().unwrap_or(0);
    let mut rng = Uniform(seed ^ 0xC4EC_0000_0000_0001);
    let tensor1 = |v: &[f64]| denovo_glm::float_tensor::<ReadBackend, 1>(v.to_vec(), [n], &device);
    let mut state = rule.initial_state(denovo_glm::float_tensor(w0, [n, k], &device));
    let mut out: Vec<Vec<(f64, f64)>> = subjects
        .iter()
        .map(|s| Vec::with_capacity(s.n_trials()))
        .collect();
    let mut x = vec![0.0; n * k];
    let (mut choice, mut reward, mut answer, mut start) =
        (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for t in 0..longest {
        let w = denovo_glm::to_f64_vec(rule.policy_weights(&state));
        for (a, s) in subjects.iter().enumerate() {
            let row = &mut x[a * k..(a + 1) * k];
            if t >= s.n_trials() {
                row.fill(0.0);
                (choice[a], reward[a], answer[a], start[a]) = (0.0, 0.0, 0.0, 0.0);
                continue;
            }
            row.copy_from_slice(s.row(t));
            let first = s.session_start[t];
            // The history regressors follow the simulated choices, not the data's.
            let prev = (!first).then(|| out[a][t - 1]);
            if let Some(j) = prev_choice {
                row[j] = prev.map_or(0.0, |(c, _)| if c > 0.5 { 1.0 } else { -1.0 });
            }
            if let Some(j) = prev_reward {
                row[j] = prev.map_or(0.0, |(_, r)| if r > 0.0 { 1.0 } else { -1.0 });
            }
            let z: f64 = row
                .iter()
                .zip(&w[a * k..(a + 1) * k])
                .map(|(x, w)| x * w)
                .sum();
            let y = f64::from(u8::from(rng.next() < denovo_glm::scalar::sigmoid(z)));
            let r = f64::from(u8::from(y == s.answer[t]));
            out[a].push((y, r));
            (choice[a], reward[a], answer[a], start[a]) =
                (y, r, s.answer[t], f64::from(u8::from(first)));
        }
        let batch = TrialBatch {
            // In the read backend's own dtype: the device's default may be f32 (a fit ran).
            x: denovo_glm::float_tensor::<ReadBackend, 2>(x.clone(), [n, k], &device),
            choice: tensor1(&choice),
            reward: tensor1(&reward),
            answer: tensor1(&answer),
            session_start: tensor1(&start),
        };
        state = rule.step(state, &batch);
    }
    out
}

/// Every animal's initial weights for the simulation of `run`, row-major
/// `[animals × features]`: its fitted (or known) w0 when the run has one per animal, else
/// the mean ([`Run::mean_w0`], 0 unless fitted).
fn initial_weights(run: &Run, animals: usize) -> Vec<f64> {
    match &run.summary.w0 {
        Some(rows) if rows.len() == animals => rows.concat(),
        _ => (0..animals).flat_map(|_| run.mean_w0()).collect(),
    }
}

/// A cohort simulated from `run`'s fitted rule on `data`'s own trials (`design` its design
/// matrix under the run's regressors, subjects in the same order): every trial keeps its
/// inputs, correct side and session; the choice is drawn from σ(w_t·x_t), the reward is 1
/// when the choice is the correct side, else 0; w_t follows the rule from each animal's
/// fitted (or known) w0, else the mean; history regressors (`prev_choice`, `prev_reward`)
/// follow the simulated choices. Seeded by `seed`.
///
/// Errors: [`StudyError::Setting`] for a run without a deterministic learning rule (a
/// random walk or a rule with noise).
pub fn resimulate(
    run: &Run,
    data: &Dataset,
    design: &DesignMatrix,
    seed: u64,
) -> Result<Dataset, StudyError> {
    if matches!(run.rule, Model::Walk(_)) || !run.rule.kind().has_learning_rule() {
        return Err(StudyError::Setting {
            setting: "denovo check's model",
            expected: "a learning rule without weight noise (a parametric, DNN or RNN rule)",
            got: run.label(),
        });
    }
    let w0 = initial_weights(run, design.subjects.len());
    let sim = crate::with_model!(&run.rule, r => simulate_choices(r, design, w0, seed));
    let mut out = data.clone();
    for (subject, trials) in out.subjects.iter_mut().zip(sim) {
        let all = subject
            .sessions
            .iter_mut()
            .flat_map(|s| s.trials.iter_mut());
        for (trial, (y, r)) in all.zip(trials) {
            trial.choice = y as u8;
            trial.reward = r;
        }
    }
    Ok(out)
}

/// The spec of the refit of replicate `replicate` (1-based) of the run fitted from `spec`:
/// the same settings, seed `spec.seed + 10,000 + replicate`, no cross-validation folds, no
/// checkpoints, no bootstrap and no `first_trials` (the simulated cohort is already cut).
pub fn refit_spec(spec: &FitSpec, replicate: usize) -> FitSpec {
    let mut s = spec.clone();
    s.seed = spec.seed.wrapping_add(10_000 + replicate as u64);
    s.split.folds = 0;
    s.training.checkpoint_every = 0;
    s.bootstrap = None;
    s.first_trials = None;
    s
}

/// The simulation seed of replicate `replicate` (1-based) of a run fitted with `seed`.
pub fn simulation_seed(seed: u64, replicate: usize) -> u64 {
    seed.wrapping_mul(0x5851_F42D_4C95_7F2D)
        .wrapping_add(replicate as u64)
}

/// How many refits run at once and with how many kernel threads each: `jobs` at once
/// (0: as many as cores, see [`crate::ensemble::replicate_workers`]), at most
/// `replicates`, the cores split evenly between them.
pub fn refit_workers(replicates: usize, jobs: usize) -> (usize, usize) {
    if jobs == 0 {
        return crate::ensemble::replicate_workers(replicates);
    }
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get());
    let workers = jobs.min(replicates).max(1);
    (workers, (cores / workers).max(1))
}

/// Checks the run `run`: `replicates` cohorts simulated on its own data ([`resimulate`])
/// from `generator`'s rule (`None`: `run`'s own fitted rule; else another run fitted on the
/// same data with the same regressors), each refitted with `run`'s settings
/// ([`refit_spec`]) — `jobs` refits at a time (0: as many as cores), each with its kernels
/// limited to its share of the threads ([`refit_workers`]), so they never oversubscribe the
/// cores — and compared with the generator on the rule grid over `run`'s training animals'
/// visited cells ([`compare_refits`]). `done(replicate)` is called as each refit finishes
/// (from the worker's thread). Write the result with [`Check::write`].
///
/// Errors: [`StudyError::RunDir`] for a run without `fit.toml`; [`StudyError::Setting`] for
/// zero replicates, a run or generator without a deterministic learning rule, or a
/// generator fitted on other data or regressors; the first failing refit's error
/// ([`StudyError::Data`], [`StudyError::Fit`], …).
pub fn check_run(
    run: &Run,
    generator: Option<&Run>,
    replicates: usize,
    jobs: usize,
    done: &(dyn Fn(usize) + Sync),
) -> Result<Check, StudyError> {
    let spec = run.spec.as_ref().ok_or_else(|| {
        StudyError::run_dir(&run.dir, "no fit.toml: the data behind the run are unknown")
    })?;
    if replicates == 0 {
        return Err(StudyError::Setting {
            setting: "--replicates",
            expected: "at least 1",
            got: "0".into(),
        });
    }
    let source = generator.unwrap_or(run);
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(g) = generator
        && canon(&g.dir) == canon(&run.dir)
    {
        return Err(StudyError::Setting {
            setting: "--generator",
            expected: "another run than the one checked (leave --generator out to check the fitted rule itself)",
            got: g.dir.display().to_string(),
        });
    }
    if let Some(g) = generator {
        let same_data = g.spec.as_ref().is_some_and(|gs| {
            canon(&gs.data) == canon(&spec.data)
                && gs.format == spec.format
                && gs.first_trials == spec.first_trials
        });
        if !same_data || g.regressors() != run.regressors() {
            return Err(StudyError::Setting {
                setting: "--generator",
                expected: "a run fitted on the same data (path, format, trials) with the same regressors",
                got: format!(
                    "{} ({}; regressors {}) for the run {} ({}; regressors {})",
                    g.dir.display(),
                    g.spec.as_ref().map_or_else(
                        || "no fit.toml".to_string(),
                        |gs| gs.data.display().to_string()
                    ),
                    g.regressors().join(","),
                    run.dir.display(),
                    spec.data.display(),
                    run.regressors().join(",")
                ),
            });
        }
    }
    let mut original = spec.clone();
    original.bootstrap = None;
    let (data, design) = original.load()?;
    let seeds: Vec<u64> = (1..=replicates)
        .map(|i| simulation_seed(spec.seed, i))
        .collect();
    let cohorts: Vec<Dataset> = seeds
        .iter()
        .map(|&s| resimulate(source, &data, &design, s))
        .collect::<Result<_, _>>()?;
    let points = crate::readout::grid_points(run);
    let visits = crate::readout::visits(run, &points)?;
    let k = run.regressors().len();
    let generator_dw =
        crate::with_model!(&source.rule, r => read_out::<ReadBackend, _>(r, &points, k, None));

    let (workers, threads) = refit_workers(replicates, jobs);
    type Refit = (Vec<Vec<f64>>, crate::FitSummary, Vec<u8>);
    let one = |i: usize| -> Result<Refit, StudyError> {
        let result = crate::fit_with(
            &refit_spec(&original, i),
            FitOptions::with_dataset(&cohorts[i - 1]),
        )?;
        let dw =
            crate::with_model!(&result.rule, r => read_out::<ReadBackend, _>(r, &points, k, None));
        done(i);
        Ok((dw, result.summary, result.record))
    };
    let results = crate::ensemble::side_by_side(replicates, workers, threads, &one)
        .into_iter()
        .collect::<Result<Vec<Refit>, _>>()?;
    let mut dws = Vec::with_capacity(replicates);
    let mut refits = Vec::with_capacity(replicates);
    for (dw, summary, record) in results {
        dws.push(dw);
        refits.push((summary, record));
    }
    let lls = refits.iter().map(|(s, _)| s.train.ll_per_trial).collect();
    let (cells, slices) = compare_refits(run.regressors(), &points, &visits, &generator_dw, &dws);
    let (name, label, generator_dir) = match generator {
        None => (SELF_CHECK.to_string(), "the fitted rule".to_string(), None),
        Some(g) => {
            let dir = canon(&g.dir);
            let base = dir
                .file_name()
                .map(|n| {
                    n.to_string_lossy().replace(
                        |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                        "_",
                    )
                })
                .filter(|n| !n.is_empty() && n != SELF_CHECK)
                .unwrap_or_else(|| "generator".into());
            let name = check_name(&run.dir, &base, &dir);
            (
                name,
                format!("{} ({})", g.label(), g.dir.display()),
                Some(dir),
            )
        }
    };
    Ok(Check {
        summary: CheckSummary {
            schema: CHECK_SCHEMA.into(),
            model: run.label(),
            name,
            generator: label,
            generator_dir,
            replicates,
            seeds,
            refit_train_ll: lls,
            threshold: IDENTIFIED_RATIO,
            slices,
        },
        cells,
        refits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(correct: bool) -> Point {
        Point {
            w: vec![0.0, 0.0],
            x: vec![0.5, 1.0],
            choice: 1.0,
            correct,
        }
    }

    #[test]
    fn refits_equal_to_the_generator_are_identified_and_noise_is_not() {
        let names = vec!["stim".to_string(), "bias".to_string()];
        let points = vec![point(true), point(true), point(false), point(false)];
        let visits = vec![3, 1, 2, 0];
        let generator = vec![
            vec![0.1, 0.01],
            vec![0.2, -0.01],
            vec![0.0, 0.02],
            vec![5.0, 5.0],
        ];
        let (cells, slices) = compare_refits(
            &names,
            &points,
            &visits,
            &generator,
            &vec![generator.clone(); 3],
        );
        assert!(slices.iter().all(|s| s.recovery_rms == 0.0));
        assert!(cells.bias.iter().flatten().all(|b| *b == 0.0));
        // stim after error: the only visited cell's Δw is 0 and recovered exactly.
        let e = slices
            .iter()
            .find(|s| s.name() == "Δw_stim after error")
            .unwrap();
        assert!(e.identified() && e.ratio.is_none() && e.visited_cells == 1);
        assert!(slices.iter().all(SliceVerdict::identified));

        // Refits off by 0.05 on stim: RMS(gen, correct) = √((0.01+0.04)/2) ≈ 0.158; error
        // 0.05 is 32% → not identified; off by 0.02 (13%) → identified.
        for (off, identified) in [(0.05, false), (0.02, true)] {
            let refits: Vec<Vec<Vec<f64>>> = [off, -off]
                .iter()
                .map(|d| generator.iter().map(|g| vec![g[0] + d, g[1]]).collect())
                .collect();
            let (cells, slices) = compare_refits(&names, &points, &visits, &generator, &refits);
            let s = &slices[0];
            assert_eq!(s.name(), "Δw_stim after correct");
            assert!((s.recovery_rms - off).abs() < 1e-12);
            assert!((s.ratio.unwrap() - off / 0.05f64.sqrt() * 2f64.sqrt()).abs() < 1e-9);
            assert_eq!(s.identified(), identified, "off by {off}");
            assert!(cells.bias[0][0].abs() < 1e-12, "symmetric refits: no bias");
            assert!((cells.sd[0][0] - off * 2f64.sqrt()).abs() < 1e-12);
        }
    }

    #[test]
    fn a_slice_nobody_visits_is_not_identified() {
        let names = vec!["stim".to_string()];
        let points = vec![point(true)];
        let g = vec![vec![0.3]];
        let (_, slices) = compare_refits(&names, &points, &[0], &g, std::slice::from_ref(&g));
        assert_eq!(slices[0].visited_cells, 0);
        assert!(!slices[0].identified());
        assert_eq!(slices[1].outcome, "error");
    }
}

//! [`recover`]: a fitted run against the truth of the simulation it was fitted on.

use super::{GridError, grid_error, paper_grid};
use crate::fit::ReadBackend;
use crate::{Model, RunDir, StudyError, Truth};
use denovo_data::Format;
use denovo_glm::float_tensor;
use denovo_rules::RuleSpec;
use denovo_train::SequenceBatch;
use denovo_train::readout::{Point, read_out_after};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The `schema` of the report's JSON (`denovo recover --json`).
pub const RECOVER_SCHEMA: &str = "denovo.recover/1";

/// The history lengths k of the history read-out: 1, 2 and 3 trials.
pub const HISTORY_KS: [usize; 3] = [1, 2, 3];

/// What [`recover`] compares: a run directory with the truth of its data, and optionally a
/// second simulated cohort to score on.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoverInput {
    /// The truth sidecar (`<data>.truth.json`, a `denovo_sim::GroundTruth`) of the data the
    /// run was fitted on.
    pub truth: PathBuf,
    /// The run directory (`denovo fit --out`).
    pub run: PathBuf,
    /// Held-out test data: a second cohort simulated with the same settings and another
    /// seed, its truth sidecar beside it (`None`: no held-out LL, no weight paths).
    pub test: Option<PathBuf>,
    /// Number of w_stim values of the paper's grid, linspace(−2, 2, `grid_w`) (the paper:
    /// 1001, i.e. 102,102 points); at least 1.
    pub grid_w: usize,
    /// A second run fitted on the same data, compared with `run` on the test animals by a
    /// paired test across animals (needs `test`; `None`: no comparison).
    pub against: Option<PathBuf>,
}

impl RecoverInput {
    /// `run` against `truth` on the paper's grid (1001 values of w_stim), without test data.
    pub fn new(truth: impl Into<PathBuf>, run: impl Into<PathBuf>) -> Self {
        RecoverInput {
            truth: truth.into(),
            run: run.into(),
            test: None,
            grid_w: 1001,
            against: None,
        }
    }
}

/// Why [`recover`] failed: each variant names the file to fix.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// TRUTH cannot be read or is not a truth sidecar (or not one of the paper's
    /// regressors `stim, bias`).
    #[error(
        "{}: {reason} (TRUTH is the `<data>.truth.json` that `denovo simulate` wrote beside the data the run was fitted on)",
        path.display()
    )]
    Truth {
        /// The sidecar given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The truth's regressors are not the run's.
    #[error(
        "the truth's weights are for the regressors {}, the run was fitted on {}: compare a run with the truth of its own data",
        truth.join(", "),
        run.join(", ")
    )]
    Regressors {
        /// The truth's regressors.
        truth: Vec<String>,
        /// The run's regressors.
        run: Vec<String>,
    },
    /// The test data has no readable truth sidecar beside it (or the sidecar does not
    /// describe every test animal's trials).
    #[error(
        "{}: the test data needs its truth sidecar {} ({reason}); simulate the test cohort with `denovo simulate`, which writes it",
        data.display(),
        sidecar.display()
    )]
    TestSidecar {
        /// The test data.
        data: PathBuf,
        /// Where its sidecar was looked for.
        sidecar: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The test data's truth has other regressors than the run.
    #[error(
        "{}: the test truth's weights are for the regressors {}, the run was fitted on {}",
        sidecar.display(),
        test.join(", "),
        run.join(", ")
    )]
    TestRegressors {
        /// The test data's sidecar.
        sidecar: PathBuf,
        /// Its regressors.
        test: Vec<String>,
        /// The run's regressors.
        run: Vec<String>,
    },
    /// The inputs do not belong together: TRUTH is not the truth of the run's data, the
    /// test cohort was simulated otherwise than the training cohort (another rule or
    /// stimuli) or is the training data itself, or the `--against` run was fitted on other
    /// data. `what` says which and names the files.
    #[error("{what}")]
    Mismatch {
        /// What does not match, with the files.
        what: String,
    },
    /// `--against` without `--test`: the two runs are compared on the test animals.
    #[error(
        "--against compares two runs on the test animals: give the test cohort with --test TEST_DATA"
    )]
    AgainstWithoutTest,
    /// The run directory, the test data or a setting failed as in the rest of the
    /// pipeline.
    #[error(transparent)]
    Study(#[from] StudyError),
}

/// `path` made absolute and resolved, for comparing where two inputs point (itself when
/// it cannot be resolved).
fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Checks that `truth` is the truth of the data `run` was fitted on: the sidecar beside
/// the run's data is TRUTH itself (when that data is still there), and every fitted animal
/// is in TRUTH with as many true weights as the run scored trials.
fn check_truth_of_run(
    input: &RecoverInput,
    truth: &Truth,
    run: &crate::Run,
) -> Result<(), RecoverError> {
    let data = PathBuf::from(&run.summary.data);
    let beside = denovo_sim::sidecar_path(&data, run.summary.format);
    let mismatch = |why: String| RecoverError::Mismatch {
        what: format!(
            "{} is not the truth of the data {} was fitted on ({}): {why}",
            input.truth.display(),
            input.run.display(),
            data.display()
        ),
    };
    if beside.exists() && resolved(&beside) != resolved(&input.truth) {
        return Err(mismatch(format!(
            "that data's truth is {}",
            beside.display()
        )));
    }
    for animal in &run.summary.train.per_animal {
        let subject = &animal.subject;
        let Some((_, weights)) = truth.trajectories.iter().find(|(s, _)| s == subject) else {
            return Err(mismatch(format!("it has no animal `{subject}`")));
        };
        if animal.trials > weights.len() {
            return Err(mismatch(format!(
                "`{subject}` has {} fitted trials but {} true weights",
                animal.trials,
                weights.len()
            )));
        }
    }
    Ok(())
}

impl From<denovo_data::LoadError> for RecoverError {
    fn from(e: denovo_data::LoadError) -> Self {
        RecoverError::Study(e.into())
    }
}

/// How a fitted rule compares with the truth; what `denovo recover` prints (text) or
/// writes (`--json`, schema [`RECOVER_SCHEMA`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecoveryReport {
    /// [`RECOVER_SCHEMA`].
    pub schema: String,
    /// The truth sidecar read.
    pub truth: String,
    /// The run directory read.
    pub run: String,
    /// The fitted model's name.
    pub model: String,
    /// The true rule and its parameters.
    pub true_rule: RuleSpec,
    /// The regressors, in order (`stim`, `bias`).
    pub regressors: Vec<String>,
    /// Number of w_stim values of the grid.
    pub grid_w: usize,
    /// Number of grid points (17 × 2 × `grid_w` × 3).
    pub grid_points: usize,
    /// The paper's metric: Δw_stim of the fitted vs the true rule on the grid.
    pub grid: GridError,
    /// The RMSE of the fitted Δw_stim over the whole grid, in weight units
    /// (`grid.overall × grid.true_rms`).
    pub grid_rmse: f64,
    /// The held-out comparison on test animals (only with test data).
    pub test: Option<TestReport>,
    /// The history read-out for k in [`HISTORY_KS`], fitted and true rule side by side.
    pub history: Vec<HistoryRow>,
}

/// The fitted and the true rule on held-out test animals, each run through every trial of
/// every test animal from that animal's true initial weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestReport {
    /// The test data read.
    pub data: String,
    /// Test animals.
    pub animals: usize,
    /// Scored trials (every trial of every test animal).
    pub trials: usize,
    /// Log-likelihood of the fitted rule, nats/trial.
    pub fitted_ll: f64,
    /// Log-likelihood of the true rule, nats/trial.
    pub true_ll: f64,
    /// `fitted_ll − true_ll`, nats/trial (negative: the fitted rule predicts worse).
    pub delta_ll: f64,
    /// The weight-path error per regressor.
    pub weight_path: Vec<WeightPathError>,
    /// The history read-out on the test animals' own trials (teacher-forced; see
    /// [`data_history`]), for k = 1, 2, 3.
    pub history: Vec<DataHistoryRow>,
    /// The run against a second run ([`RecoverInput::against`]), when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<Against>,
}

/// One row of the history read-out on the test animals' own trials: the mean Δw_stim of
/// the fitted and of the true rule over the same correct trials, those preceded by exactly
/// k rewarded trials and those preceded by exactly k errors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataHistoryRow {
    /// History length (trials).
    pub k: usize,
    /// Correct trials preceded by exactly k rewarded trials.
    pub trials_after_rewards: usize,
    /// Correct trials preceded by exactly k errors.
    pub trials_after_errors: usize,
    /// The fitted rule.
    pub fitted: HistoryEffect,
    /// The true rule.
    pub truth: HistoryEffect,
}

/// The history read-out where the animals were: `fitted` and `truth` are Δw per animal and
/// trial (`[animals][trials − 1][k]`, from [`denovo_train::readout::teacher_forced_steps`],
/// every step from the true w_t), `rewards` the outcomes per animal and trial (1 =
/// rewarded). For k in `ks`: the mean Δw_stim (regressor 0) on the correct trials whose
/// run of rewards (errors) just before is exactly k long, and the ratio of the two.
pub fn data_history(
    fitted: &[Vec<Vec<f64>>],
    truth: &[Vec<Vec<f64>>],
    rewards: &[&[f64]],
    ks: &[usize],
) -> Vec<DataHistoryRow> {
    // Per k: (sum fitted, sum true, count) after rewards and after errors.
    let mut sums = vec![[[0.0f64; 3]; 2]; ks.len()];
    for ((f, t), r) in fitted.iter().zip(truth).zip(rewards) {
        for step in 0..f.len().min(t.len()) {
            if r[step] != 1.0 {
                continue;
            }
            let last = |rewarded: bool| {
                (0..step)
                    .rev()
                    .take_while(|&s| (r[s] == 1.0) == rewarded)
                    .count()
            };
            for (j, &k) in ks.iter().enumerate() {
                for (side, rewarded) in [(0, true), (1, false)] {
                    if last(rewarded) == k {
                        let acc = &mut sums[j][side];
                        acc[0] += f[step][0];
                        acc[1] += t[step][0];
                        acc[2] += 1.0;
                    }
                }
            }
        }
    }
    let effect = |a: f64, b: f64| HistoryEffect {
        after_rewards: a,
        after_errors: b,
        ratio: a / b,
    };
    ks.iter()
        .zip(&sums)
        .map(|(&k, [rw, er])| {
            let mean = |v: &[f64; 3], i: usize| v[i] / v[2].max(1.0);
            DataHistoryRow {
                k,
                trials_after_rewards: rw[2] as usize,
                trials_after_errors: er[2] as usize,
                fitted: effect(mean(rw, 0), mean(er, 0)),
                truth: effect(mean(rw, 1), mean(er, 1)),
            }
        })
        .collect()
}

/// The run against a second run on the same test animals (both from the true w0): per
/// animal, the difference of the held-out LL per trial (this run − the other), compared
/// across animals by a paired t-test and a Wilcoxon signed-rank test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Against {
    /// The other run directory.
    pub run: String,
    /// Its model.
    pub model: String,
    /// Its held-out LL, nats/trial.
    pub ll: f64,
    /// Per-animal differences (this run − the other, nats/trial): mean, 95% CI, p-values.
    pub paired: crate::compare::Paired,
    /// One-sided p-value of the paired t-test that this run predicts better (mean > 0).
    pub one_sided_p: Option<f64>,
}

/// How far the fitted rule's weight paths are from the true ones for one regressor: the
/// fitted rule run through each test animal's own trials from its true w0, against the
/// sidecar's true w_t, over every trial of every test animal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightPathError {
    /// The regressor.
    pub regressor: String,
    /// RMSE of the fitted w_t against the true w_t (weight units).
    pub rmse: f64,
    /// RMS of the true change w_t − w_0 (weight units).
    pub true_change_rms: f64,
    /// `rmse / true_change_rms`; `None` when the true weight never moves (e.g. α_bias = 0).
    pub relative: Option<f64>,
}

/// The mean Δw_stim of a rule on the grid's correct trials after k rewarded and after k
/// error trials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEffect {
    /// Mean Δw_stim after k consecutive rewarded trials (weight units).
    pub after_rewards: f64,
    /// Mean Δw_stim after k consecutive error trials (weight units).
    pub after_errors: f64,
    /// `after_rewards / after_errors` (1 for a rule without memory of outcomes).
    pub ratio: f64,
}

/// One k of the history read-out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    /// The number of preceding trials, all rewarded or all errors.
    pub k: usize,
    /// The fitted rule.
    pub fitted: HistoryEffect,
    /// The true rule.
    pub truth: HistoryEffect,
}

/// The history read-out of `rule` on the correct-trial points of `points` (regressors
/// `[stim, bias]`, e.g. [`paper_grid`]): Δw_stim at every correct point after `k`
/// trials fed through the rule first — stimuli ±1 on alternating sides, the last one (just
/// before the grid trial) +1, all chosen correctly (rewarded) or all wrongly (errors), the weights
/// set back to the point's after each — and their means. A rule whose state is only w
/// (the DNN, REINFORCE) gives the same Δw either way: ratio 1 by construction.
pub fn history_effect(rule: &Model<ReadBackend>, points: &[Point], k: usize) -> HistoryEffect {
    let correct: Vec<Point> = points.iter().filter(|p| p.correct).cloned().collect();
    let mean = |rewarded: bool| {
        let history: Vec<Point> = (0..k)
            .map(|s| {
                // Oldest first; the trial just before the grid trial shows +1.
                let right = (k - s) % 2 == 1;
                let side = f64::from(u8::from(right));
                Point {
                    w: vec![],
                    x: vec![if right { 1.0 } else { -1.0 }, 1.0],
                    choice: if rewarded { side } else { 1.0 - side },
                    correct: rewarded,
                }
            })
            .collect();
        let dw = crate::with_model!(rule, r => read_out_after::<ReadBackend, _>(r, &correct, 2, &history));
        dw.iter().map(|d| d[0]).sum::<f64>() / dw.len().max(1) as f64
    };
    let (after_rewards, after_errors) = (mean(true), mean(false));
    HistoryEffect {
        after_rewards,
        after_errors,
        ratio: after_rewards / after_errors,
    }
}

/// Reads a truth sidecar.
fn read_truth(path: &Path) -> Result<Truth, String> {
    Truth::read(path).map_err(|e| match e {
        StudyError::Io { source, .. } => format!("cannot read it: {source}"),
        StudyError::Format { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// Compares the run `input.run` with the truth `input.truth` of the data it was fitted on:
/// the paper's grid metric, the history read-out and, with `input.test`, the held-out LL of
/// the fitted and the true rule and the weight-path error on the test animals.
///
/// Errors: [`RecoverError::Truth`] (TRUTH unreadable, not a sidecar, not the regressors
/// `stim, bias` of the paper's grid), [`RecoverError::Regressors`] (truth and run differ),
/// [`RecoverError::TestSidecar`] (test data without a sidecar, or a sidecar that misses a
/// test animal or its trials), [`RecoverError::TestRegressors`] (test truth and run
/// differ), [`RecoverError::Study`] (the run directory, the test data, `grid_w` = 0).
pub fn recover(input: &RecoverInput) -> Result<RecoveryReport, RecoverError> {
    if input.grid_w == 0 {
        return Err(StudyError::Setting {
            setting: "grid_w",
            expected: "at least 1",
            got: "0".into(),
        }
        .into());
    }
    let truth_error = |reason: String| RecoverError::Truth {
        path: input.truth.clone(),
        reason,
    };
    let truth = read_truth(&input.truth).map_err(truth_error)?;
    if truth.regressors != ["stim", "bias"] {
        return Err(truth_error(format!(
            "the paper's grid needs the regressors stim, bias; this truth has {}",
            truth.regressors.join(", ")
        )));
    }
    // Truth::read validated the rule against the regressors.
    let rule = truth.rule.clone();
    let run = RunDir::load(&input.run)?;
    run.require_learning_rule("denovo recover")?;
    if run.regressors() != truth.regressors.as_slice() {
        return Err(RecoverError::Regressors {
            truth: truth.regressors.clone(),
            run: run.regressors().to_vec(),
        });
    }
    check_truth_of_run(input, &truth, &run)?;
    let true_model = Model::<ReadBackend>::from_rule_spec(&rule, &Default::default());
    let points = paper_grid(input.grid_w);
    let grid = grid_error(&run.rule, &true_model, &points);
    let history = HISTORY_KS
        .iter()
        .map(|&k| HistoryRow {
            k,
            fitted: history_effect(&run.rule, &points, k),
            truth: history_effect(&true_model, &points, k),
        })
        .collect();
    let against = match (&input.against, &input.test) {
        (Some(path), Some(_)) => {
            let other = RunDir::load(path)?;
            let (a, b) = (&run.summary.data, &other.summary.data);
            if resolved(Path::new(a)) != resolved(Path::new(b)) {
                return Err(RecoverError::Mismatch {
                    what: format!(
                        "--against {} was fitted on {b}, {} on {a}: a paired comparison needs two runs on the same data",
                        path.display(),
                        input.run.display()
                    ),
                });
            }
            Some((path, other))
        }
        (Some(_), None) => return Err(RecoverError::AgainstWithoutTest),
        _ => None,
    };
    if let Some(test) = &input.test
        && resolved(test) == resolved(Path::new(&run.summary.data))
    {
        return Err(RecoverError::Mismatch {
            what: format!(
                "--test {} is the data {} was fitted on: held-out scores need a second cohort \
                 (`denovo simulate … --w0-from {} --seed 2 --out test.csv`)",
                test.display(),
                input.run.display(),
                input.truth.display()
            ),
        });
    }
    let test = match &input.test {
        Some(path) => {
            let other = against.as_ref().map(|(p, r)| (p.as_path(), r));
            Some(test_report(
                &run.rule,
                &true_model,
                run.regressors(),
                path,
                other,
                &truth,
            )?)
        }
        None => None,
    };
    Ok(RecoveryReport {
        schema: RECOVER_SCHEMA.into(),
        truth: input.truth.display().to_string(),
        run: input.run.display().to_string(),
        model: run.model().to_string(),
        true_rule: rule,
        regressors: truth.regressors,
        grid_w: input.grid_w,
        grid_points: points.len(),
        grid_rmse: grid.overall * grid.true_rms,
        grid,
        test,
        history,
    })
}

/// The held-out LL of `fitted` and `truth` and the weight-path error on the test data at
/// `path`, every animal from its true w0 (its sidecar's first row).
fn test_report(
    fitted: &Model<ReadBackend>,
    truth: &Model<ReadBackend>,
    regressors: &[String],
    path: &Path,
    other: Option<(&Path, &crate::Run)>,
    train_truth: &Truth,
) -> Result<TestReport, RecoverError> {
    let data = denovo_data::load(path, Format::Auto)?;
    let sidecar = denovo_sim::sidecar_path(path, data.format);
    let bad = |reason: String| RecoverError::TestSidecar {
        data: path.to_path_buf(),
        sidecar: sidecar.clone(),
        reason,
    };
    let test_truth = read_truth(&sidecar).map_err(bad)?;
    let (a, b) = (&train_truth.rule, &test_truth.rule);
    let (sa, sb) = (&train_truth.stimuli, &test_truth.stimuli);
    if a != b || sa != sb {
        return Err(RecoverError::Mismatch {
            what: format!(
                "--test {}: simulated with {} and stimuli {sb:?}, the training cohort with {} and \
                 stimuli {sa:?}: the test cohort must come from the same simulation (another seed)",
                path.display(),
                serde_json::to_string(b).unwrap_or_default(),
                serde_json::to_string(a).unwrap_or_default(),
            ),
        });
    }
    if test_truth.regressors != regressors {
        return Err(RecoverError::TestRegressors {
            sidecar: sidecar.clone(),
            test: test_truth.regressors,
            run: regressors.to_vec(),
        });
    }
    let design = crate::evaluate::design_of(&data, regressors)?;
    let k = regressors.len();
    let mut true_paths = Vec::with_capacity(design.subjects.len());
    for s in &design.subjects {
        let (_, weights) = (test_truth.trajectories.iter())
            .find(|(subject, _)| *subject == s.subject)
            .ok_or_else(|| bad(format!("it has no true weights for `{}`", s.subject)))?;
        // (Truth::read checked every row's width.)
        if weights.len() != s.n_trials() {
            return Err(bad(format!(
                "its true weights of `{}` are not one row per trial ({} rows for {} trials)",
                s.subject,
                weights.len(),
                s.n_trials()
            )));
        }
        true_paths.push(weights);
    }
    let n = true_paths.len();
    let device = Default::default();
    let w0: Vec<f64> = true_paths.iter().flat_map(|w| w[0].clone()).collect();
    let w0 = float_tensor::<ReadBackend, 2>(w0, [n, k], &device);
    let batch = SequenceBatch::<ReadBackend>::whole(&design.subjects, &device);
    let score = |m: &Model<ReadBackend>| crate::with_model!(m, r => denovo_train::evaluate(r, &batch, w0.clone()));
    let (fit_eval, true_eval) = (score(fitted), score(truth));
    let runs: Vec<usize> = design.subjects.iter().map(|s| s.n_trials()).collect();
    let paths = crate::with_model!(fitted, r => denovo_train::weight_trajectories(r, &batch, w0.clone(), &runs));
    let weight_path = (0..k)
        .map(|j| {
            let (mut se, mut change, mut count) = (0.0, 0.0, 0usize);
            for (fitted, truth) in paths.iter().zip(&true_paths) {
                for (f, t) in fitted.iter().zip(truth.iter()) {
                    se += (f[j] - t[j]).powi(2);
                    change += (t[j] - truth[0][j]).powi(2);
                    count += 1;
                }
            }
            let c = count.max(1) as f64;
            let (rmse, true_change_rms) = ((se / c).sqrt(), (change / c).sqrt());
            WeightPathError {
                regressor: regressors[j].clone(),
                rmse,
                true_change_rms,
                relative: (true_change_rms > 0.0).then(|| rmse / true_change_rms),
            }
        })
        .collect();
    let against = other.map(|(dir, run)| {
        let e = score(&run.rule);
        let per_animal = |e: &denovo_train::Evaluation| -> Vec<f64> {
            e.animals.iter().map(|a| a.ll_per_trial).collect()
        };
        let paired = crate::compare::paired(&per_animal(&fit_eval), &per_animal(&e));
        let one_sided_p = paired.t_test_p.map(|p| {
            if paired.mean > 0.0 {
                p / 2.0
            } else {
                1.0 - p / 2.0
            }
        });
        Against {
            run: dir.display().to_string(),
            model: run.model().to_string(),
            ll: e.ll_per_trial,
            paired,
            one_sided_p,
        }
    });
    let true_slices: Vec<&[Vec<f64>]> = true_paths.iter().map(|w| w.as_slice()).collect();
    let forced = |m: &Model<ReadBackend>| crate::with_model!(m, r => denovo_train::readout::teacher_forced_steps(r, &batch, &true_slices));
    let rewards: Vec<&[f64]> = design
        .subjects
        .iter()
        .map(|s| s.reward.as_slice())
        .collect();
    let history = data_history(&forced(fitted), &forced(truth), &rewards, &HISTORY_KS);
    Ok(TestReport {
        history,
        against,
        data: path.display().to_string(),
        animals: n,
        trials: fit_eval.trials,
        fitted_ll: fit_eval.ll_per_trial,
        true_ll: true_eval.ll_per_trial,
        delta_ll: fit_eval.ll_per_trial - true_eval.ll_per_trial,
        weight_path,
    })
}

//! Cohort simulation.

use burn::backend::NdArray;
use burn::tensor::{Tensor, backend::Backend};
use denovo_data::{Dataset, Format, LoadError, Session, Subject, Trial, stimulus_transform};
use denovo_rules::{
    LearningRule, ParametricRule, RuleSpec, SpecError, TrialBatch, with_parametric,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The absolute contrasts of the IBL task.
pub const IBL_CONTRASTS: [f64; 6] = [0.0, 0.0625, 0.125, 0.25, 0.5, 1.0];

/// The regressors every simulated animal uses, in order.
pub const SIM_REGRESSORS: [&str; 2] = ["stim", "bias"];

/// The simulation backend: CPU, f64.
type SimBackend = NdArray<f64>;

/// Where stimuli come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StimulusSet {
    /// A contrast drawn uniformly from [`IBL_CONTRASTS`] on a side drawn uniformly; the
    /// regressor is tanh(p·c)/tanh(p) of the signed contrast (inputs `contrastLeft`,
    /// `contrastRight`, `probabilityLeft`).
    Ibl,
    /// A contrast drawn uniformly from [0, 1] on a side drawn uniformly (as `Ibl`).
    Uniform,
    /// A stimulus drawn uniformly from these values, used as the regressor itself (input
    /// `stim`); the correct side is right iff the stimulus is > 0 (0 → left). The paper's
    /// simulation (Liu, Geadah & Pillow 2025, Fig. 2) uses −2, −1.75, …, 2.
    Values(Vec<f64>),
}

impl std::str::FromStr for StimulusSet {
    type Err = String;
    /// `ibl`, `uniform`, `START:STEP:END` (inclusive, e.g. `-2:0.25:2`) or a list `a,b,…`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "unknown stimulus set `{s}` (expected ibl, uniform, START:STEP:END such as \
                 -2:0.25:2, or a list of values such as -1,0,1)"
            )
        };
        let num = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite());
        match s {
            "ibl" => Ok(StimulusSet::Ibl),
            "uniform" => Ok(StimulusSet::Uniform),
            range if range.contains(':') => {
                let parts: Vec<f64> = range
                    .split(':')
                    .map(num)
                    .collect::<Option<_>>()
                    .ok_or_else(bad)?;
                let [start, step, end] = parts[..] else {
                    return Err(bad());
                };
                range_values(range, start, step, end).map(StimulusSet::Values)
            }
            list => list
                .split(',')
                .map(num)
                .collect::<Option<Vec<f64>>>()
                .map(StimulusSet::Values)
                .ok_or_else(bad),
        }
    }
}

/// The values START, START + STEP, …, END of `--stimuli START:STEP:END`, each computed as
/// START + i·STEP and rounded to 12 significant digits of the range's scale (no float
/// noise such as −0.20000000000000018). END must be START + k·STEP (within 1e-9); otherwise
/// the error suggests the nearest valid ENDs.
fn range_values(text: &str, start: f64, step: f64, end: f64) -> Result<Vec<f64>, String> {
    if step <= 0.0 || end < start {
        return Err(format!(
            "stimulus range `{text}`: START:STEP:END needs STEP > 0 and END ≥ START"
        ));
    }
    let scale = start.abs().max(end.abs()).max(step);
    let decimals = (11 - scale.log10().floor() as i32).clamp(0, 300) as usize;
    let round = |v: f64| format!("{v:.decimals$}").parse::<f64>().unwrap_or(v) + 0.0;
    let k = (end - start) / step;
    let n = k.round();
    if (start + n * step - end).abs() > 1e-9 {
        let (below, above) = (
            round(start + k.floor() * step),
            round(start + k.ceil() * step),
        );
        let nearest = if end - below <= above - end {
            below
        } else {
            above
        };
        let parts: Vec<&str> = text.split(':').map(str::trim).collect();
        let prefix = format!("--stimuli={}:{}:", parts[0], parts[1]);
        let other = if nearest == below { above } else { below };
        return Err(format!(
            "stimulus range `{text}`: END {end} is not START + k·STEP, so the set would stop \
             short of it; use {prefix}{nearest} (or {prefix}{other})"
        ));
    }
    Ok((0..=n as usize)
        .map(|i| round(start + step * i as f64))
        .collect())
}

/// Parses a session length, `N` or `MIN-MAX` trials (uniform).
pub fn parse_session_length(s: &str) -> Result<(usize, usize), String> {
    let parse = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{s}`: expected N or MIN-MAX trials"))
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((parse(a)?, parse(b)?)),
        None => parse(s).map(|n| (n, n)),
    }
}

/// Parses [`CohortConfig::w0_choices`] from `STIM;BIAS`, each a value or a comma list
/// (`-2;-1,0,1`).
pub fn parse_w0_choices(s: &str) -> Result<Vec<Vec<f64>>, String> {
    let num = |v: &str| {
        v.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{v}` is not a number"))
    };
    s.split(';')
        .map(|set| set.split(',').map(num).collect())
        .collect()
}

/// Everything that defines a simulated cohort except the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortConfig {
    /// Number of animals.
    pub animals: usize,
    /// Trials per animal.
    pub trials: usize,
    /// Shortest session (trials); each session's length is uniform in
    /// [`session_min`, `session_max`].
    pub session_min: usize,
    /// Longest session (trials).
    pub session_max: usize,
    /// The stimulus distribution.
    pub stimuli: StimulusSet,
    /// Gain p of the stimulus regressor tanh(p·c)/tanh(p).
    pub contrast_gain: f64,
    /// Mean of the initial weights [stim, bias] (unused when `w0_choices` or
    /// `w0_per_animal` is set).
    pub w0_mean: Vec<f64>,
    /// Standard deviation of the initial weights across animals [stim, bias] (0 = fixed;
    /// unused when `w0_choices` or `w0_per_animal` is set).
    pub w0_sd: Vec<f64>,
    /// Initial weights drawn from discrete sets instead: per weight [stim, bias], the
    /// values each animal's weight is drawn from uniformly (empty = `w0_mean`/`w0_sd`).
    /// The paper's simulation: w_stim = −2 for every animal, w_bias from {−1, 0, 1}.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub w0_choices: Vec<Vec<f64>>,
    /// Initial weights given per animal instead: `w0_per_animal[i]` is animal i's
    /// [stim, bias] (empty = drawn; otherwise exactly one row per animal, and it takes
    /// precedence over `w0_mean`, `w0_sd` and `w0_choices`, which stay at their defaults). Set it from a
    /// file with [`CohortConfig::with_w0_from`]; the paper's test cohort starts each animal
    /// from its training counterpart's initial weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub w0_per_animal: Vec<Vec<f64>>,
    /// Standard deviation of the Gaussian weight noise added after every trial [stim, bias].
    pub noise_sd: Vec<f64>,
    /// Random seed.
    pub seed: u64,
}

impl Default for CohortConfig {
    /// 10 animals × 2,000 trials, sessions of 300–500 trials, IBL contrasts, w0 = 0, no noise.
    fn default() -> Self {
        CohortConfig {
            animals: 10,
            trials: 2000,
            session_min: 300,
            session_max: 500,
            stimuli: StimulusSet::Ibl,
            contrast_gain: denovo_data::DEFAULT_CONTRAST_GAIN,
            w0_mean: vec![0.0, 0.0],
            w0_sd: vec![0.0, 0.0],
            w0_choices: Vec::new(),
            w0_per_animal: Vec::new(),
            noise_sd: vec![0.0, 0.0],
            seed: 0,
        }
    }
}

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is inconsistent.
    #[error("invalid simulation settings: {0}")]
    Config(String),
    /// The rule description is invalid.
    #[error(transparent)]
    Rule(#[from] SpecError),
    /// Writing the cohort failed.
    #[error(transparent)]
    Write(#[from] LoadError),
    /// Writing the sidecar failed.
    #[error("{path}: {message}")]
    Sidecar {
        /// The sidecar file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An initial-weights file ([`read_w0_file`], `--w0-from`) cannot be used.
    #[error("{path}: {problem}")]
    W0File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: W0FileProblem,
    },
}

/// What is wrong with an initial-weights file (see [`SimError::W0File`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum W0FileProblem {
    /// The file cannot be read.
    #[error("cannot read the initial weights: {0}")]
    Read(String),
    /// The file looks like a truth sidecar (JSON) but is not one.
    #[error("not a truth sidecar written by `denovo simulate`: {0}")]
    Truth(String),
    /// The CSV header is not `subject,<regressor>…`, or the weights have another number
    /// of columns than the simulator's regressors.
    #[error("has weight columns [{}], expected {} ({}) after `subject`", .got.join(", "), .expected.len(), .expected.join(", "))]
    Columns {
        /// The simulator's regressors.
        expected: Vec<String>,
        /// The file's weight columns (or, for a sidecar, its regressors).
        got: Vec<String>,
    },
    /// A CSV row has another number of cells than the header.
    #[error("line {line}: {got} cells, the header has {expected}")]
    RowLength {
        /// 1-based line number.
        line: usize,
        /// Cells in the header.
        expected: usize,
        /// Cells on this line.
        got: usize,
    },
    /// A cell is not a finite number.
    #[error("line {line}, column `{column}`: `{value}` is not a finite number")]
    Cell {
        /// 1-based line number.
        line: usize,
        /// The column's name.
        column: String,
        /// The cell as written.
        value: String,
    },
    /// The file lists no animal (or a sidecar trajectory has no trial).
    #[error("lists no animal's initial weights")]
    Empty,
    /// The file's animals and the requested number of animals differ.
    #[error(
        "holds the initial weights of {file} animals, but {requested} animals were requested (--animals)"
    )]
    AnimalCount {
        /// Animals in the file.
        file: usize,
        /// Animals requested.
        requested: usize,
    },
}

/// The true weights of one animal: `weights[t]` is w_t, the weights used to choose on trial t.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrueTrajectory {
    /// Subject name.
    pub subject: String,
    /// One row per trial, one column per regressor.
    pub weights: Vec<Vec<f64>>,
}

/// What generated a simulated cohort: the sidecar's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The rule and its parameters.
    pub rule: RuleSpec,
    /// Regressor names, the columns of the weights.
    pub regressors: Vec<String>,
    /// The cohort settings.
    pub config: CohortConfig,
    /// True weight trajectories, one per animal.
    pub trajectories: Vec<TrueTrajectory>,
}

impl GroundTruth {
    /// Every animal's true initial weights, row-major `animals × regressors` (what a fit
    /// with known w0 starts from).
    pub fn initial_weights(&self) -> Vec<f64> {
        self.trajectories
            .iter()
            .flat_map(|t| t.weights.first().cloned().unwrap_or_default())
            .collect()
    }
}

/// A simulated cohort: the behaviour and the truth behind it.
#[derive(Debug, Clone)]
pub struct SimulatedCohort {
    /// The behaviour, with inputs `contrastLeft`, `contrastRight`, `probabilityLeft`.
    pub dataset: Dataset,
    /// The generating rule and weights.
    pub truth: GroundTruth,
}

impl CohortConfig {
    /// This configuration with every animal's initial weights read from `path` (see
    /// [`read_w0_file`]): [`w0_per_animal`](CohortConfig::w0_per_animal) is set, and
    /// [`animals`](CohortConfig::animals) becomes the file's count when `animals` is
    /// `None` (not given explicitly).
    ///
    /// Errors: those of [`read_w0_file`]; [`W0FileProblem::AnimalCount`] when `animals` is
    /// `Some(n)` and the file holds another number of animals.
    pub fn with_w0_from(mut self, path: &Path, animals: Option<usize>) -> Result<Self, SimError> {
        let w0 = read_w0_file(path)?;
        if let Some(requested) = animals
            && requested != w0.len()
        {
            return Err(SimError::W0File {
                path: path.to_path_buf(),
                problem: W0FileProblem::AnimalCount {
                    file: w0.len(),
                    requested,
                },
            });
        }
        self.animals = w0.len();
        self.w0_per_animal = w0;
        Ok(self)
    }
}

/// Reads every animal's initial weights [stim, bias] from `path`, one row per animal in
/// the file's order. The file is either
///
/// - a truth sidecar written by `denovo simulate` (`<out>.truth.json`, a [`GroundTruth`]):
///   each animal's w0 is the first row of its weight trajectory; or
/// - a CSV whose header is `subject,stim,bias` (the regressor names, or `w_stim,w_bias`)
///   and which has one row per animal.
///
/// A file whose first non-blank character is `{` is read as a sidecar, any other as a CSV.
///
/// Errors: [`SimError::W0File`] naming `path`, with a [`W0FileProblem`] — unreadable file,
/// not a sidecar, wrong weight columns, a row of the wrong length or a non-numeric cell
/// (naming line and column), or no animal.
pub fn read_w0_file(path: &Path) -> Result<Vec<Vec<f64>>, SimError> {
    let fail = |problem| SimError::W0File {
        path: path.to_path_buf(),
        problem,
    };
    let expected: Vec<String> = SIM_REGRESSORS.iter().map(|s| s.to_string()).collect();
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(W0FileProblem::Read(e.to_string())))?;
    if text.trim_start().starts_with('{') {
        let truth: GroundTruth =
            serde_json::from_str(&text).map_err(|e| fail(W0FileProblem::Truth(e.to_string())))?;
        if truth.regressors != expected {
            return Err(fail(W0FileProblem::Columns {
                expected,
                got: truth.regressors,
            }));
        }
        let w0: Vec<Vec<f64>> = truth
            .trajectories
            .iter()
            .map(|t| t.weights.first().cloned().ok_or(W0FileProblem::Empty))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        if w0.is_empty() {
            return Err(fail(W0FileProblem::Empty));
        }
        if let Some(row) = w0.iter().find(|r| r.len() != expected.len()) {
            return Err(fail(W0FileProblem::Columns {
                expected,
                got: (0..row.len()).map(|j| format!("#{}", j + 1)).collect(),
            }));
        }
        return Ok(w0);
    }
    let cells = |line: &str| -> Vec<String> {
        line.split(',')
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect()
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(fail(W0FileProblem::Empty));
    };
    let header = cells(header);
    let weights = &header[1..];
    let named = |j: usize, name: &str| name == expected[j] || name == format!("w_{}", expected[j]);
    if header[0] != "subject"
        || weights.len() != expected.len()
        || !weights.iter().enumerate().all(|(j, n)| named(j, n))
    {
        return Err(fail(W0FileProblem::Columns {
            expected,
            got: if header[0] == "subject" {
                weights.to_vec()
            } else {
                header
            },
        }));
    }
    let mut w0 = Vec::new();
    for (line, text) in lines {
        let row = cells(text);
        if row.len() != header.len() {
            return Err(fail(W0FileProblem::RowLength {
                line,
                expected: header.len(),
                got: row.len(),
            }));
        }
        let values = row[1..]
            .iter()
            .zip(weights)
            .map(|(value, column)| {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| W0FileProblem::Cell {
                        line,
                        column: column.clone(),
                        value: value.clone(),
                    })
            })
            .collect::<Result<Vec<f64>, _>>()
            .map_err(fail)?;
        w0.push(values);
    }
    if w0.is_empty() {
        return Err(fail(W0FileProblem::Empty));
    }
    Ok(w0)
}

fn check(config: &CohortConfig) -> Result<(), SimError> {
    let bad = |m: String| Err(SimError::Config(m));
    let given = &config.w0_per_animal;
    if !given.is_empty() {
        if !config.w0_choices.is_empty() {
            return bad("give initial weights per animal or --w0-choices, not both".into());
        }
        if given.len() != config.animals {
            return bad(format!(
                "initial weights are given for {} animals but {} animals are simulated",
                given.len(),
                config.animals
            ));
        }
        if given
            .iter()
            .any(|w| w.len() != SIM_REGRESSORS.len() || w.iter().any(|x| !x.is_finite()))
        {
            return bad(format!(
                "each animal's initial weights need {} finite values (stim, bias)",
                SIM_REGRESSORS.len()
            ));
        }
    }
    let choices = &config.w0_choices;
    if !choices.is_empty()
        && (choices.len() != SIM_REGRESSORS.len()
            || choices
                .iter()
                .any(|c| c.is_empty() || c.iter().any(|x| !x.is_finite())))
    {
        return bad(format!(
            "--w0-choices needs a non-empty set of finite values for each of {} weights (stim, bias)",
            SIM_REGRESSORS.len()
        ));
    }
    if let StimulusSet::Values(v) = &config.stimuli
        && (v.is_empty() || v.iter().any(|x| !x.is_finite()))
    {
        return bad("--stimuli needs at least one finite value".into());
    }
    if config.animals == 0 || config.trials == 0 {
        return bad("need at least one animal and one trial".into());
    }
    if config.session_min == 0 || config.session_max < config.session_min {
        return bad(format!(
            "session lengths {}–{} must satisfy 1 ≤ min ≤ max",
            config.session_min, config.session_max
        ));
    }
    for (name, v) in [
        ("w0-mean", &config.w0_mean),
        ("w0-sd", &config.w0_sd),
        ("noise-sd", &config.noise_sd),
    ] {
        if v.len() != SIM_REGRESSORS.len() {
            return bad(format!(
                "--{name} needs {} values (stim, bias), got {}",
                SIM_REGRESSORS.len(),
                v.len()
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return bad(format!("--{name} values must be finite"));
        }
    }
    if config
        .w0_sd
        .iter()
        .chain(&config.noise_sd)
        .any(|&s| s < 0.0)
    {
        return bad("standard deviations must be ≥ 0".into());
    }
    Ok(())
}

/// Simulates a cohort learning by the parametric rule `spec`.
pub fn simulate(spec: &RuleSpec, config: &CohortConfig) -> Result<SimulatedCohort, SimError> {
    check_rule_parameters(spec)?;
    let spec = spec.clone().validated(SIM_REGRESSORS.len())?;
    let device = Default::default();
    let rule = ParametricRule::<SimBackend>::from_spec(&spec, &device);
    let (dataset, trajectories) =
        with_parametric!(&rule, r => simulate_rule::<SimBackend, _>(r, config, &device))?;
    Ok(SimulatedCohort {
        dataset,
        truth: GroundTruth {
            rule: spec,
            regressors: SIM_REGRESSORS.iter().map(|s| s.to_string()).collect(),
            config: config.clone(),
            trajectories,
        },
    })
}

/// Refuses a parameter that `spec.kind` does not use — a baseline β off
/// `reinforce-baseline`, an inverse temperature off `qlearning`, a streak cap off
/// `reinforce-streak` — which [`RuleSpec::validated`] would drop silently
/// ([`SimError::Config`], naming `denovo simulate`'s flag).
pub fn check_rule_parameters(spec: &RuleSpec) -> Result<(), SimError> {
    use denovo_rules::RuleKind::{Qlearning, ReinforceBaseline, ReinforceStreak};
    for (flag, given, owner) in [
        ("--beta", !spec.beta.is_empty(), ReinforceBaseline),
        (
            "--inverse-temperature",
            spec.inverse_temperature.is_some(),
            Qlearning,
        ),
        ("--streak-cap", spec.streak_cap.is_some(), ReinforceStreak),
    ] {
        if given && spec.kind != owner {
            return Err(SimError::Config(format!(
                "{flag} is only used by --rule {}, not by --rule {}; drop it or change the rule",
                owner.name(),
                spec.kind.name()
            )));
        }
    }
    Ok(())
}

use denovo_glm::{float_tensor, to_f64_vec as to_vec};

pub(crate) fn tensor1<B: Backend>(v: &[f64], device: &B::Device) -> Tensor<B, 1> {
    float_tensor(v.to_vec(), [v.len()], device)
}

/// A simulated IBL trial: inputs `contrastLeft`, `contrastRight`, `probabilityLeft` (0.5)
/// for a stimulus of `magnitude` on the right (`right`) or left, and the outcome.
pub(crate) fn ibl_trial(magnitude: f64, right: bool, choice: bool, reward: f64) -> Trial {
    Trial {
        inputs: vec![
            if right { 0.0 } else { magnitude },
            if right { magnitude } else { 0.0 },
            0.5,
        ],
        choice: u8::from(choice),
        answer: u8::from(right),
        reward,
    }
}

/// One completed trial of every animal as a rule's input.
pub(crate) fn trial_batch<B: Backend>(
    x: Tensor<B, 2>,
    choice: &[f64],
    reward: &[f64],
    answer: &[f64],
    start: &[f64],
    device: &B::Device,
) -> TrialBatch<B> {
    TrialBatch {
        x,
        choice: tensor1(choice, device),
        reward: tensor1(reward, device),
        answer: tensor1(answer, device),
        session_start: tensor1(start, device),
    }
}

/// Simulates a cohort learning by any [`LearningRule`] over x = [stim, bias] (a custom rule
/// or one of the built-ins), on backend `B`. Returns the behaviour and the true weights.
pub fn simulate_rule<B: Backend, R: LearningRule<B>>(
    rule: &R,
    config: &CohortConfig,
    device: &B::Device,
) -> Result<(Dataset, Vec<TrueTrajectory>), SimError> {
    check(config)?;
    let n = config.animals;
    let k = SIM_REGRESSORS.len();
    let mut rng = StdRng::seed_from_u64(config.seed);

    // Per-animal session schedules and initial weights.
    let mut starts: Vec<Vec<bool>> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = Vec::with_capacity(config.trials);
        while s.len() < config.trials {
            let len = rng.random_range(config.session_min..=config.session_max);
            for i in 0..len.min(config.trials - s.len()) {
                s.push(i == 0);
            }
        }
        starts.push(s);
    }
    // Transposed: session-start flags of every animal, trial by trial.
    let starts_by_trial: Vec<Vec<bool>> = (0..config.trials)
        .map(|t| starts.iter().map(|s| s[t]).collect())
        .collect();
    // Given per animal (no draws), or drawn from the sets or the normal.
    let mut w0 = config.w0_per_animal.concat();
    if w0.is_empty() {
        for _ in 0..n {
            for j in 0..k {
                w0.push(match config.w0_choices.get(j) {
                    Some(set) => set[rng.random_range(0..set.len())],
                    None => sample_normal(&mut rng, config.w0_mean[j], config.w0_sd[j]),
                });
            }
        }
    }
    let mut state = rule.initial_state(float_tensor(w0, [n, k], device));

    let mut trajectories: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(config.trials); n];
    let mut trials: Vec<Vec<(bool, Trial)>> = vec![Vec::with_capacity(config.trials); n];
    let mut x = vec![0.0; n * k];
    let (mut choice, mut reward, mut answer, mut start) =
        (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for starts_t in &starts_by_trial {
        let mut contrasts = Vec::with_capacity(n);
        for a in 0..n {
            let (stim, magnitude, right) = match &config.stimuli {
                StimulusSet::Values(values) => {
                    let v = values[rng.random_range(0..values.len())];
                    (v, v, v > 0.0)
                }
                set => {
                    let magnitude = match set {
                        StimulusSet::Ibl => IBL_CONTRASTS[rng.random_range(0..IBL_CONTRASTS.len())],
                        _ => rng.random::<f64>(),
                    };
                    let right = rng.random_bool(0.5);
                    let signed = if right { magnitude } else { -magnitude };
                    (
                        stimulus_transform(signed, config.contrast_gain),
                        magnitude,
                        right,
                    )
                }
            };
            x[a * k] = stim;
            x[a * k + 1] = 1.0;
            answer[a] = f64::from(u8::from(right));
            start[a] = f64::from(u8::from(starts_t[a]));
            contrasts.push((magnitude, right));
        }
        let w = rule.policy_weights(&state);
        let w_rows = to_vec(w.clone());
        let x_t: Tensor<B, 2> = float_tensor(x.clone(), [n, k], device);
        let p = to_vec(denovo_glm::prob_right(w, x_t.clone()));
        for a in 0..n {
            trajectories[a].push(w_rows[a * k..(a + 1) * k].to_vec());
            let y = rng.random_bool(p[a].clamp(0.0, 1.0));
            choice[a] = f64::from(u8::from(y));
            reward[a] = f64::from(u8::from(choice[a] == answer[a]));
            let (magnitude, right) = contrasts[a];
            let trial = match config.stimuli {
                StimulusSet::Values(_) => Trial {
                    inputs: vec![magnitude],
                    choice: u8::from(y),
                    answer: u8::from(right),
                    reward: reward[a],
                },
                _ => ibl_trial(magnitude, right, y, reward[a]),
            };
            trials[a].push((starts_t[a], trial));
        }
        let batch = trial_batch(x_t, &choice, &reward, &answer, &start, device);
        state = rule.step(state, &batch);
        if config.noise_sd.iter().any(|&s| s > 0.0) {
            let noise: Vec<f64> = (0..n * k)
                .map(|i| sample_normal(&mut rng, 0.0, config.noise_sd[i % k]))
                .collect();
            state = rule.perturb_weights(state, float_tensor(noise, [n, k], device));
        }
    }

    let width = n.to_string().len().max(3);
    let subjects = trials
        .into_iter()
        .enumerate()
        .map(|(a, ts)| {
            let mut sessions: Vec<Session> = Vec::new();
            for (is_start, trial) in ts {
                if is_start {
                    sessions.push(Session {
                        id: (sessions.len() + 1).to_string(),
                        date: None,
                        trials: Vec::new(),
                        source: None,
                    });
                }
                sessions
                    .last_mut()
                    .expect("first trial starts a session")
                    .trials
                    .push(trial);
            }
            Subject {
                name: format!("sim{:0width$}", a + 1),
                lab: Some("simulated".into()),
                sessions,
                dropped_trials: 0,
            }
        })
        .collect::<Vec<_>>();
    let trajectories = subjects
        .iter()
        .zip(trajectories)
        .map(|(s, weights)| TrueTrajectory {
            subject: s.name.clone(),
            weights,
        })
        .collect();
    let dataset = Dataset {
        source: PathBuf::new(),
        format: Format::TrialsCsv,
        input_names: match config.stimuli {
            StimulusSet::Values(_) => vec!["stim".into()],
            _ => vec![
                "contrastLeft".into(),
                "contrastRight".into(),
                "probabilityLeft".into(),
            ],
        },
        ignored_columns: Vec::new(),
        subjects,
        skipped: Vec::new(),
    };
    Ok((dataset, trajectories))
}

fn sample_normal(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    if sd == 0.0 {
        mean
    } else {
        Normal::new(mean, sd)
            .expect("sd checked ≥ 0 and finite")
            .sample(rng)
    }
}

/// Where the ground-truth sidecar of a cohort written to `out` goes: `<out stem>.truth.json`
/// beside a file, `truth.json` inside an ALF folder.
pub fn sidecar_path(out: &Path, format: Format) -> PathBuf {
    match format {
        Format::IblAlf => out.join("truth.json"),
        _ => out.with_extension("truth.json"),
    }
}

/// Writes the cohort's behaviour to `out` in `format` and its ground truth to
/// [`sidecar_path`]; returns the sidecar's path.
pub fn write_cohort(
    cohort: &SimulatedCohort,
    out: &Path,
    format: Format,
) -> Result<PathBuf, SimError> {
    denovo_data::save(&cohort.dataset, out, format)?;
    let sidecar = sidecar_path(out, format);
    let json = serde_json::to_string(&cohort.truth).map_err(|e| SimError::Sidecar {
        path: sidecar.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&sidecar, json).map_err(|e| SimError::Sidecar {
        path: sidecar.clone(),
        message: e.to_string(),
    })?;
    Ok(sidecar)
}

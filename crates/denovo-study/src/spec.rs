//! [`FitSpec`]: a fit described as plain data — what `fit.toml` holds.

use crate::{ModelSpec, StudyError};
use denovo_data::{Dataset, DesignMatrix, DesignOptions, Format, LoadOptions};
use denovo_train::{FitConfig, GradientPath};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The compute backend of a fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// burn's ndarray CPU backend (f32).
    #[default]
    Ndarray,
    /// burn's wgpu GPU backend (f32; needs the `wgpu` cargo feature and a GPU or lavapipe).
    Wgpu,
}

impl BackendChoice {
    /// The name in `fit.toml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Ndarray => "ndarray",
            BackendChoice::Wgpu => "wgpu",
        }
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = StudyError;
    /// `ndarray` or `wgpu`; errors: [`StudyError::Setting`].
    fn from_str(s: &str) -> Result<Self, StudyError> {
        [BackendChoice::Ndarray, BackendChoice::Wgpu]
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| StudyError::Setting {
                setting: "backend",
                expected: "ndarray or wgpu",
                got: s.to_string(),
            })
    }
}

/// The float precision of a fit's training (the neural rules' scan kernels follow it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// f32 tensors; the neural rules run the fast f32 kernels (animals in SIMD lanes, f64
    /// accumulation of the log-likelihood and gradients).
    #[default]
    F32,
    /// f64 tensors (`Autodiff<NdArray<f64>>`); the neural rules run the f64 reference
    /// kernel (~5–10× slower). ndarray only: wgpu is f32.
    F64,
}

impl Precision {
    /// The name in `fit.toml`, on the command line and in `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = StudyError;
    /// `f32` or `f64`; errors: [`StudyError::Setting`].
    fn from_str(s: &str) -> Result<Self, StudyError> {
        [Precision::F32, Precision::F64]
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| StudyError::Setting {
                setting: "precision",
                expected: "f32 or f64",
                got: s.to_string(),
            })
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of `precision = "f64"` on `backend = "wgpu"`.
pub(crate) fn wgpu_f64_refused() -> StudyError {
    StudyError::Backend(
        "--precision f64 needs --backend ndarray: wgpu runs in f32 only (in fit.toml: \
         precision = \"f64\" with backend = \"wgpu\"); use --precision f32 on wgpu"
            .into(),
    )
}

fn auto() -> Format {
    Format::Auto
}
fn default_validation_animals() -> f64 {
    0.1
}

/// How the animals and their sessions are split between fitting and scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// Cross-validate over animals with this many folds (≥ 2, ≤ the number of animals;
    /// 0 = off): each animal is scored by the fit of the fold that left it out.
    #[serde(default)]
    pub folds: usize,
    /// Hold out the last fraction of every animal's sessions, in [0, 1) (0 = off): the
    /// fitted rule runs through the training sessions and is scored on the rest.
    #[serde(default)]
    pub holdout_sessions: f64,
    /// With early stopping ([`TrainingSpec::early_stop`]), the fraction of the training
    /// animals that validate instead of fitting, in [0, 1) (default 0.1, at least one).
    #[serde(default = "default_validation_animals")]
    pub validation_animals: f64,
    /// Early stopping on validation sessions: the last fraction of every animal's training
    /// sessions, in [0, 1), is scored one step ahead (as held-out sessions are) instead of
    /// fitted, and the epoch that predicts them best is kept (patience `early_stop`, default
    /// [`DEFAULT_PATIENCE`]; up to [`DEFAULT_NEURAL_EPOCHS_CAP`] epochs for the neural
    /// rules unless `epochs` is set). `None` or `Some(0.0)`: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_sessions: Option<f64>,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            folds: 0,
            holdout_sessions: 0.0,
            validation_animals: default_validation_animals(),
            validation_sessions: None,
        }
    }
}

/// The patience of early stopping on validation sessions when `early_stop` is not set
/// (epochs without a better validation LL before the fit stops).
pub const DEFAULT_PATIENCE: usize = 100;

/// The neural rules' cap on epochs when they stop early on validation sessions and
/// `epochs` is not set.
pub const DEFAULT_NEURAL_EPOCHS_CAP: usize = 1000;

/// What a fit validates on for early stopping and best-model selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EarlyStopping {
    /// No validation: the last epoch's model is kept.
    Off,
    /// A seeded fraction of the training animals validates instead of fitting.
    Animals(f64),
    /// The last fraction of every animal's training sessions validates instead of fitting.
    Sessions(f64),
}

/// How the optimiser runs. `None` takes the model's default (see [`FitSpec::config`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSpec {
    /// Full-batch Adam steps [default: 1000 parametric, 300 dnn/rnn].
    pub epochs: Option<usize>,
    /// Adam's learning rate, halved every `lr_step` epochs [default: 0.1 parametric,
    /// 0.003 dnn/rnn].
    pub lr: Option<f64>,
    /// Epochs between learning-rate halvings [default: a quarter of the epochs].
    pub lr_step: Option<usize>,
    /// L-BFGS iterations after Adam [default: 20 parametric, 0 dnn/rnn].
    pub lbfgs: Option<usize>,
    /// Truncated backpropagation through time: cut gradients every N trials (default: the
    /// whole trajectory).
    pub bptt: Option<usize>,
    /// Early stopping on validation animals: stop when their LL has not improved for this
    /// many epochs (the best model is kept).
    pub early_stop: Option<usize>,
    /// Checkpoint every N epochs (0 = only finished fits); used when the fit is given a
    /// checkpoint folder ([`FitOptions::checkpoints`](crate::FitOptions)).
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Use burn autodiff through the per-trial graph even where the rule has a closed-form
    /// or fused path (the reference; much slower).
    #[serde(default)]
    pub generic: bool,
    /// L2 penalty of Adam's weight decay on every parameter (`None`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Average the parameters of the last N epochs (Polyak / SWA; `None` or 0: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_epochs: Option<usize>,
    /// Minibatches of this many animals, one Adam step each, every epoch visiting every
    /// animal once in a seeded shuffled order (`None`: one full-batch step per epoch).
    /// Needs fixed initial weights (not `fit_w0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minibatch: Option<usize>,
}

/// A fit described as plain data: data, regressors, model, split, training settings and
/// seed. It is what `fit.toml` holds (serialised flat, as `denovo fit` writes it), and
/// what [`fit`](crate::fit) takes.
///
/// ```
/// use denovo_study::{FitSpec, ModelSpec};
/// let mut spec = FitSpec::new("cohort.csv", ModelSpec::dnn());
/// spec.split.holdout_sessions = 0.2;
/// let toml = spec.to_toml().unwrap();
/// assert!(toml.contains("model = \"dnn\"") && toml.contains("holdout_sessions = 0.2"));
/// assert_eq!(FitSpec::from_toml(&toml).unwrap(), spec);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "FlatSpec")]
pub struct FitSpec {
    /// The behaviour file (CSV) or ALF folder.
    pub data: PathBuf,
    /// The model and its options.
    #[serde(flatten)]
    pub model: ModelSpec,
    /// Which animals and sessions are held out.
    #[serde(flatten)]
    pub split: SplitSpec,
    /// Seed of the fold assignment, the validation animals and the networks'
    /// initialisation: the same seed gives the same fit.
    #[serde(default)]
    pub seed: u64,
    /// The optimiser's settings.
    #[serde(flatten)]
    pub training: TrainingSpec,
    /// Fit each animal's initial weights w0 (held-out animals start from their mean)
    /// instead of fixing them at 0.
    #[serde(default)]
    pub fit_w0: bool,
    /// Known initial weights per animal instead of 0: `truth` (the simulator's sidecar
    /// beside the data, `<data>.truth.json`) or a CSV file with columns `subject` and
    /// `w_<regressor>` for every regressor. With `fit_w0` they are the fit's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w0: Option<String>,
    /// Regressor names (empty: `stim, bias` when the data has a stimulus, else every input
    /// column and `bias`; see [`default_regressors`]).
    #[serde(default)]
    pub regressors: Vec<String>,
    /// Keep only the first N trials of every animal.
    pub first_trials: Option<usize>,
    /// A bootstrap resample of the animals with this seed (an ensemble replicate's data:
    /// as many animals, drawn with replacement, a repeated one renamed `<name>#2`, …;
    /// see [`bootstrap_animals`](crate::ensemble::bootstrap_animals)); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<u64>,
    /// The data format (default: detected).
    #[serde(default = "auto")]
    pub format: Format,
    /// ALF: pin this revision (per dataset, it or the latest before it; default: the
    /// latest of every dataset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// ALF: the collection holding the trials (`alf`, `alf/task_00`; default: the one
    /// collection of each session that holds trials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// The compute backend.
    #[serde(default)]
    pub backend: BackendChoice,
    /// The float precision of training: f32 (default, the fast kernels) or f64 (the
    /// reference kernel; ndarray only).
    #[serde(default)]
    pub precision: Precision,
}

/// `fit.toml` as it is read: every key at the top level, unknown keys refused (so a typo
/// such as `epoch = 5` is an error naming the key, and a value of the wrong type names its
/// key and line). `out` (the run directory) and `quiet` (older command lines) are read and
/// left to the caller.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatSpec {
    data: PathBuf,
    model: crate::ModelKind,
    #[serde(default = "crate::model::default_hidden")]
    hidden: Vec<usize>,
    #[serde(default = "crate::model::default_gru_hidden")]
    gru_hidden: usize,
    #[serde(default = "crate::model::default_gamma_init")]
    gamma_init: f64,
    #[serde(default = "crate::model::default_init_alpha")]
    init_alpha: f64,
    #[serde(default = "crate::model::default_sigma_init")]
    sigma_init: f64,
    #[serde(default)]
    sigma_day: bool,
    #[serde(default)]
    scoring: crate::walk::Scoring,
    #[serde(default)]
    gate: denovo_nn::Gate,
    #[serde(default)]
    drop_input: Vec<denovo_nn::RuleInput>,
    #[serde(default)]
    folds: usize,
    #[serde(default)]
    holdout_sessions: f64,
    #[serde(default = "default_validation_animals")]
    validation_animals: f64,
    validation_sessions: Option<f64>,
    #[serde(default)]
    seed: u64,
    epochs: Option<usize>,
    lr: Option<f64>,
    lr_step: Option<usize>,
    lbfgs: Option<usize>,
    bptt: Option<usize>,
    early_stop: Option<usize>,
    #[serde(default)]
    checkpoint_every: usize,
    #[serde(default)]
    generic: bool,
    weight_decay: Option<f64>,
    average_epochs: Option<usize>,
    minibatch: Option<usize>,
    #[serde(default)]
    fit_w0: bool,
    w0: Option<String>,
    #[serde(default)]
    regressors: Vec<String>,
    first_trials: Option<usize>,
    bootstrap: Option<u64>,
    #[serde(default = "auto")]
    format: Format,
    revision: Option<String>,
    collection: Option<String>,
    #[serde(default)]
    backend: BackendChoice,
    #[serde(default)]
    precision: Precision,
    #[serde(default, rename = "out")]
    _out: Option<PathBuf>,
    #[serde(default, rename = "quiet")]
    _quiet: Option<bool>,
}

impl From<FlatSpec> for FitSpec {
    fn from(f: FlatSpec) -> Self {
        FitSpec {
            data: f.data,
            model: ModelSpec {
                model: f.model,
                hidden: f.hidden,
                gru_hidden: f.gru_hidden,
                gamma_init: f.gamma_init,
                init_alpha: f.init_alpha,
                sigma_init: f.sigma_init,
                sigma_day: f.sigma_day,
                scoring: f.scoring,
                gate: f.gate,
                drop_input: f.drop_input,
            },
            split: SplitSpec {
                folds: f.folds,
                holdout_sessions: f.holdout_sessions,
                validation_animals: f.validation_animals,
                validation_sessions: f.validation_sessions,
            },
            seed: f.seed,
            training: TrainingSpec {
                epochs: f.epochs,
                lr: f.lr,
                lr_step: f.lr_step,
                lbfgs: f.lbfgs,
                bptt: f.bptt,
                early_stop: f.early_stop,
                checkpoint_every: f.checkpoint_every,
                generic: f.generic,
                weight_decay: f.weight_decay,
                average_epochs: f.average_epochs,
                minibatch: f.minibatch,
            },
            fit_w0: f.fit_w0,
            w0: f.w0,
            regressors: f.regressors,
            first_trials: f.first_trials,
            bootstrap: f.bootstrap,
            format: f.format,
            revision: f.revision,
            collection: f.collection,
            backend: f.backend,
            precision: f.precision,
        }
    }
}

impl FitSpec {
    /// A fit of `model` to `data` with every other setting at its default: no held-out
    /// animals or sessions, seed 0, w0 fixed at 0, default regressors, ndarray, f32.
    pub fn new(data: impl Into<PathBuf>, model: ModelSpec) -> Self {
        FitSpec {
            data: data.into(),
            model,
            split: SplitSpec::default(),
            seed: 0,
            training: TrainingSpec::default(),
            fit_w0: false,
            w0: None,
            regressors: Vec::new(),
            first_trials: None,
            bootstrap: None,
            format: Format::Auto,
            revision: None,
            collection: None,
            backend: BackendChoice::Ndarray,
            precision: Precision::F32,
        }
    }

    /// Parses `fit.toml` text. Unknown keys (e.g. the command line's `out`) are ignored.
    /// Errors: [`StudyError::Format`] (path left empty; see [`FitSpec::read`]).
    pub fn from_toml(text: &str) -> Result<Self, StudyError> {
        toml::from_str(text).map_err(|e| StudyError::format("", e))
    }

    /// Reads a `fit.toml`. Errors: [`StudyError::Io`], [`StudyError::Format`] naming it.
    ///
    /// A relative `data` path is taken relative to the fit.toml's folder when the data is
    /// there, else relative to the current folder.
    pub fn read(path: &Path) -> Result<Self, StudyError> {
        let text = std::fs::read_to_string(path).map_err(StudyError::io(path))?;
        let mut spec: FitSpec = toml::from_str(&text)
            .map_err(|e| StudyError::format(path, format!("not a valid fit.toml: {e}")))?;
        if let Some(beside) = path.parent().map(|d| d.join(&spec.data))
            && spec.data.is_relative()
            && beside.exists()
        {
            spec.data = beside;
        }
        Ok(spec)
    }

    /// Reads a `fit.toml` and the run directory it names (`out`, written by
    /// [`RunWriter`](crate::RunWriter); `None` when absent).
    ///
    /// Errors: as [`FitSpec::read`].
    pub fn read_config(path: &Path) -> Result<(Self, Option<PathBuf>), StudyError> {
        #[derive(Deserialize)]
        struct Out {
            out: Option<PathBuf>,
        }
        let spec = Self::read(path)?;
        let text = std::fs::read_to_string(path).map_err(StudyError::io(path))?;
        let out: Out = toml::from_str(&text).map_err(|e| StudyError::format(path, e))?;
        Ok((spec, out.out))
    }

    /// The spec as `fit.toml` text.
    pub fn to_toml(&self) -> Result<String, StudyError> {
        toml::to_string(self).map_err(|e| StudyError::format("fit.toml", e))
    }

    /// Checks every setting's range. Errors: [`StudyError::Setting`] naming the setting;
    /// [`StudyError::Backend`] for f64 on wgpu.
    pub fn check(&self) -> Result<(), StudyError> {
        let bad = |setting, expected, got: String| {
            Err(StudyError::Setting {
                setting,
                expected,
                got,
            })
        };
        if !(0.0..1.0).contains(&self.split.holdout_sessions) {
            return bad(
                "holdout_sessions",
                "in [0, 1)",
                self.split.holdout_sessions.to_string(),
            );
        }
        if self.training.epochs == Some(0) {
            return bad("epochs", "at least 1", "0".into());
        }
        if (self.backend, self.precision) == (BackendChoice::Wgpu, Precision::F64) {
            return Err(wgpu_f64_refused());
        }
        if self.split.folds == 1 {
            return bad("folds", "0 (off) or at least 2", "1".into());
        }
        if let Some(d) = (self.training.weight_decay).filter(|d| !(d.is_finite() && *d >= 0.0)) {
            return bad("weight_decay", "a finite number ≥ 0", d.to_string());
        }
        if let Some(lr) = self.training.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return bad("lr", "a finite number > 0", lr.to_string());
        }
        for (setting, value) in [
            ("lr_step", self.training.lr_step),
            ("bptt", self.training.bptt),
            ("early_stop", self.training.early_stop),
            ("first_trials", self.first_trials),
            ("minibatch", self.training.minibatch),
        ] {
            if value == Some(0) {
                return bad(setting, "at least 1", "0".into());
            }
        }
        if let Some(v) = self
            .split
            .validation_sessions
            .filter(|v| !(0.0..1.0).contains(v))
        {
            return bad("validation_sessions", "in [0, 1)", v.to_string());
        }
        let epochs = self.config().epochs;
        if let Some(n) = self.training.average_epochs.filter(|&n| n > epochs) {
            return bad(
                "average_epochs",
                "at most the number of epochs (0 = off)",
                format!("{n} > {epochs}"),
            );
        }
        if self.training.minibatch.is_some() && self.fit_w0 {
            return Err(StudyError::Conflict {
                setting: "minibatch",
                needs: "fixed or known initial weights (--w0 truth|FILE, or the default 0)",
                other: "fit_w0",
            });
        }
        if !(0.0..1.0).contains(&self.split.validation_animals) {
            return bad(
                "validation_animals",
                "in [0, 1)",
                self.split.validation_animals.to_string(),
            );
        }
        self.model.check()
    }

    /// Settings that the model does not use (they are ignored): `hidden` and `gamma_init`
    /// off dnn/rnn, `gru_hidden` off rnn, `init_alpha` off the parametric rules, the
    /// walk's settings off psytrack and the training settings on psytrack, when they differ
    /// from their defaults. [`fit_with`](crate::fit_with) reports each through
    /// [`Progress::warning`](crate::Progress::warning).
    pub fn warnings(&self) -> Vec<String> {
        let m = &self.model;
        let kind = m.model;
        let neural = kind.is_neural();
        let rnn = matches!(kind, crate::ModelKind::Rnn | crate::ModelKind::RnnNoise);
        let walk = kind.is_walk();
        let noise = kind.has_noise();
        let t = &self.training;
        [
            (
                "--hidden",
                m.hidden != crate::model::default_hidden(),
                neural,
                "dnn and rnn",
            ),
            (
                "--gru-hidden",
                m.gru_hidden != crate::model::default_gru_hidden(),
                rnn,
                "rnn",
            ),
            (
                "--gamma-init",
                m.gamma_init != crate::model::default_gamma_init(),
                neural,
                "dnn and rnn",
            ),
            (
                "--init-alpha",
                m.init_alpha != crate::model::default_init_alpha(),
                matches!(
                    kind,
                    crate::ModelKind::Parametric(_) | crate::ModelKind::Noisy(_)
                ),
                "the parametric rules",
            ),
            (
                "--sigma-init",
                m.sigma_init != crate::model::default_sigma_init(),
                noise,
                "psytrack and the rules with noise",
            ),
            ("--sigma-day", m.sigma_day, noise, "psytrack and the rules with noise"),
            (
                "--scoring",
                m.scoring != crate::walk::Scoring::default(),
                noise,
                "psytrack and the rules with noise",
            ),
            (
                "--epochs, --lr and --lbfgs",
                t.epochs.is_some() || t.lr.is_some() || t.lbfgs.is_some(),
                !walk,
                "the learning rules without noise (a walk's σ and rule come from the evidence, by BFGS)",
            ),
            (
                "--minibatch, --lr-step, --bptt, --weight-decay and --average-epochs",
                t.minibatch.is_some()
                    || t.lr_step.is_some()
                    || t.bptt.is_some()
                    || t.weight_decay.is_some()
                    || t.average_epochs.is_some_and(|n| n > 0),
                !walk,
                "the learning rules trained by gradient steps (a walk's σ and rule come from the evidence, by BFGS)",
            ),
            (
                "--early-stop, --validation-sessions and --checkpoint-every",
                t.early_stop.is_some()
                    || self.split.validation_sessions.is_some_and(|f| f > 0.0)
                    || t.checkpoint_every > 0,
                !walk,
                "the learning rules trained by gradient steps (a walk's σ and rule come from the evidence, by BFGS)",
            ),
        ]
        .into_iter()
        .filter(|&(_, set, used, _)| set && !used)
        .map(|(flag, _, _, by)| {
            let is = if flag.contains(" and ") { "are" } else { "is" };
            format!("{flag} {is} only used by {by}; ignored for --model {kind}")
        })
        .collect()
    }

    /// What the fit validates on: validation sessions when `validation_sessions` > 0;
    /// validation animals when `early_stop` is set without validation sessions; else
    /// nothing. (Validation sessions are not the neural rules' default: on the real rat they
    /// made the held-out LL worse and no steadier across seeds; see docs/recovery.md,
    /// "Stable fits of one animal".)
    pub fn early_stopping(&self) -> EarlyStopping {
        match self.split.validation_sessions {
            Some(f) if f > 0.0 => EarlyStopping::Sessions(f),
            _ if self.training.early_stop.is_some() => {
                EarlyStopping::Animals(self.split.validation_animals)
            }
            _ => EarlyStopping::Off,
        }
    }

    /// One line saying how the model will be trained: epochs, learning rate and early
    /// stopping (what `denovo fit` prints before fitting).
    pub fn training_line(&self) -> String {
        if self.model.model.is_walk() {
            return format!(
                "{}: σ{}{} by the Laplace evidence (BFGS), σ_init {}, held-out sessions scored {}",
                self.model.model,
                if self.model.sigma_day {
                    " and σ_day"
                } else {
                    ""
                },
                if self.model.model == crate::ModelKind::Psytrack {
                    ""
                } else {
                    ", the rule's parameters"
                },
                self.model.sigma_init,
                self.model.scoring
            );
        }
        let c = self.config();
        let stop = match self.early_stopping() {
            EarlyStopping::Off => "no early stopping".to_string(),
            EarlyStopping::Animals(f) => format!(
                "early stopping on {:.0}% of the training animals (patience {})",
                100.0 * f,
                c.patience.unwrap_or(0)
            ),
            EarlyStopping::Sessions(f) => format!(
                "early stopping on the last {:.0}% of every animal's training sessions \
                 (patience {} epochs; the best epoch is kept)",
                100.0 * f,
                c.patience.unwrap_or(0)
            ),
        };
        let steps = match c.minibatch {
            Some(m) => format!(" (minibatches of {m} animals)"),
            None => String::new(),
        };
        format!(
            "{}: up to {} epochs of Adam{steps} at lr {} (halved every {}), {} L-BFGS iterations, {stop}",
            self.model.model, c.epochs, c.learning_rate, c.lr_step, c.lbfgs_iterations
        )
    }

    /// The spec with every default made explicit (epochs, learning rate, L-BFGS
    /// iterations, validation sessions and patience): what a run records in `fit.toml`.
    /// For psytrack and the rules with noise: no optimiser settings, and precision f64 on
    /// ndarray (the walks' Newton/BFGS code runs in f64 on the CPU).
    pub fn resolved(&self) -> FitSpec {
        let mut spec = self.clone();
        let c = self.config();
        let t = &mut spec.training;
        // The walks take σ (and a rule's parameters) from the evidence: no optimiser
        // settings; they run in f64 on the CPU whatever was asked, and fit.toml says so
        // (as summary.json does).
        if self.model.model.is_walk() {
            (spec.backend, spec.precision) = (BackendChoice::Ndarray, Precision::F64);
            return spec;
        }
        (t.epochs, t.lr, t.lbfgs) = (
            Some(c.epochs),
            Some(c.learning_rate),
            Some(c.lbfgs_iterations),
        );
        t.lr_step = Some(c.lr_step);
        t.early_stop = c.patience;
        spec.split.validation_sessions = Some(match self.early_stopping() {
            EarlyStopping::Sessions(f) => f,
            _ => 0.0,
        });
        spec
    }

    /// The optimiser's settings with the model's defaults filled in: parametric rules 1000
    /// epochs at lr 0.1 + 20 L-BFGS iterations; neural rules at lr 0.003, no L-BFGS, up to
    /// 1000 epochs with early stopping on validation sessions (patience 100) or 300 epochs
    /// without; the learning rate halved every quarter of the epochs; gradients clipped to
    /// norm 1.
    pub fn config(&self) -> FitConfig {
        let neural = self.model.model.is_neural();
        let t = &self.training;
        let on_sessions = matches!(self.early_stopping(), EarlyStopping::Sessions(_));
        let neural_epochs = if on_sessions {
            DEFAULT_NEURAL_EPOCHS_CAP
        } else {
            300
        };
        let epochs = t
            .epochs
            .unwrap_or(if neural { neural_epochs } else { 1000 });
        let patience = t.early_stop.or(on_sessions.then_some(DEFAULT_PATIENCE));
        FitConfig {
            epochs,
            learning_rate: t.lr.unwrap_or(if neural { 3e-3 } else { 0.1 }),
            lr_step: t.lr_step.unwrap_or((epochs / 4).max(1)),
            lbfgs_iterations: t.lbfgs.unwrap_or(if neural { 0 } else { 20 }),
            path: if t.generic {
                GradientPath::Generic
            } else {
                GradientPath::Fast
            },
            bptt_window: t.bptt,
            patience,
            validate_every: (epochs / 100).max(1),
            checkpoint_every: t.checkpoint_every,
            weight_decay: t.weight_decay,
            average_epochs: t.average_epochs.unwrap_or(0),
            minibatch: t.minibatch,
            shuffle_seed: if t.minibatch.is_some() { self.seed } else { 0 },
            ..FitConfig::default()
        }
    }

    /// How the data is read: format, ALF revision and collection.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            format: self.format,
            revision: self.revision.clone(),
            collection: self.collection.clone(),
        }
    }

    /// Loads the data (keeping the first trials when asked) and builds the design matrix
    /// of the spec's regressors. Errors: [`StudyError::Data`] naming file, line, column.
    pub fn load(&self) -> Result<(Dataset, DesignMatrix), StudyError> {
        self.design(denovo_data::load_with(&self.data, &self.load_options())?)
    }

    /// Keeps the first trials of `data` when asked and builds the design matrix of the
    /// spec's regressors (for data already in memory). Errors: [`StudyError::Data`] when a
    /// regressor's input is missing.
    pub fn design(&self, mut data: Dataset) -> Result<(Dataset, DesignMatrix), StudyError> {
        if let Some(n) = self.first_trials {
            data = data.first_trials(n);
        }
        if let Some(seed) = self.bootstrap {
            data = crate::ensemble::bootstrap_animals(data, seed);
        }
        let names = if self.regressors.is_empty() {
            default_regressors(&data)
        } else {
            self.regressors.clone()
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let design = data.design(&DesignOptions::from_names(&names)?)?;
        Ok((data, design))
    }
}

/// The regressors used by default for `data`: `stim, bias` when it has a stimulus (a `stim`
/// input, or `contrastLeft` and `contrastRight`), else every input column except
/// `probabilityLeft`, then `bias`.
pub fn default_regressors(data: &Dataset) -> Vec<String> {
    let has = |n: &str| data.input_index(n).is_some();
    if has("stim") || (has("contrastLeft") && has("contrastRight")) {
        vec!["stim".into(), "bias".into()]
    } else {
        let mut r: Vec<String> = data
            .input_names
            .iter()
            .filter(|n| !matches!(n.as_str(), "probabilityLeft"))
            .cloned()
            .collect();
        r.push("bias".into());
        r
    }
}

/// The entry of `subject` in `by_subject`, or, for a bootstrap copy named `<name>#k`
/// ([`crate::ensemble::bootstrap_animals`]), the entry of `<name>`.
fn lookup<'a, K, V>(by_subject: &'a std::collections::HashMap<K, V>, subject: &str) -> Option<&'a V>
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    by_subject.get(subject).or_else(|| {
        let (name, copy) = subject.rsplit_once('#')?;
        copy.parse::<usize>().ok()?;
        by_subject.get(name)
    })
}

/// Every animal's known initial weights, `[animals][features]` in the design's order, from
/// `source`: `truth` (the simulator's sidecar beside `spec.data`) or a CSV file (`subject`,
/// `w_<regressor>`…, matched by subject name; a bootstrap copy `<name>#k` takes `<name>`'s).
///
/// Errors: [`StudyError::Io`] / [`StudyError::Format`] naming the file: no sidecar (with
/// advice for real data), a sidecar that does not belong to the data (an animal missing,
/// or other trial counts: another simulation), a w0 file without a column or an animal.
pub(crate) fn known_w0(
    spec: &FitSpec,
    source: &str,
    data: &Dataset,
    design: &DesignMatrix,
) -> Result<Vec<Vec<f64>>, StudyError> {
    let animals = design.subjects.len();
    if source == "truth" {
        let path = denovo_sim::sidecar_path(&spec.data, data.format);
        let truth = crate::Truth::read(&path).map_err(|e| match e {
            StudyError::Io { source, .. } => StudyError::format(
                &path,
                format!(
                    "no truth sidecar beside the data ({source}): --w0 truth is for simulated data \
                     (`denovo simulate` writes the sidecar); for real animals use --fit-w0, \
                     or --w0 FILE with a subject,w_<regressor>… table"
                ),
            ),
            other => other,
        })?;
        if truth.regressors != design.names {
            return Err(StudyError::format(
                &path,
                format!(
                    "the truth's weights are for {}, the fit's regressors are {}",
                    truth.regressors.join(", "),
                    design.names.join(", ")
                ),
            ));
        }
        let by_subject: std::collections::HashMap<&str, &Vec<Vec<f64>>> = (truth.trajectories)
            .iter()
            .map(|(subject, weights)| (subject.as_str(), weights))
            .collect();
        let foreign = |what: String| {
            StudyError::format(
                &path,
                format!(
                    "this sidecar does not belong to the data (it has {} animals, the data \
                     {animals}): {what}; simulate the data and its sidecar together, or use \
                     --w0 FILE",
                    truth.trajectories.len()
                ),
            )
        };
        return (design.subjects.iter())
            .map(|s| {
                let weights = lookup(&by_subject, &s.subject)
                    .ok_or_else(|| foreign(format!("no animal `{}`", s.subject)))?;
                // `--first-trials` keeps a prefix of the simulated trials.
                let trials = weights.len();
                if trials < s.n_trials() || (spec.first_trials.is_none() && trials != s.n_trials())
                {
                    return Err(foreign(format!(
                        "`{}` has {trials} trials there and {} in the data (another simulation)",
                        s.subject,
                        s.n_trials()
                    )));
                }
                weights
                    .first()
                    .cloned()
                    .ok_or_else(|| foreign(format!("`{}` has no trials", s.subject)))
            })
            .collect();
    }
    let path = Path::new(source);
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| StudyError::format(path, format!("the w0 file (--w0): {e}")))?;
    let header = reader
        .headers()
        .map_err(|e| StudyError::format(path, e))?
        .clone();
    let col = |name: &str| {
        (header.iter().position(|h| h == name)).ok_or_else(|| {
            StudyError::format(
                path,
                format!(
                    "line 1: no `{name}` column (--w0 FILE needs the header subject,{}; a \
                     subject,{} file of `denovo simulate --w0-from` must have its weight \
                     columns renamed w_<regressor>)",
                    (design.names.iter().map(|n| format!("w_{n}")))
                        .collect::<Vec<_>>()
                        .join(","),
                    design.names.join(",")
                ),
            )
        })
    };
    let subject = col("subject")?;
    let cols: Vec<usize> = (design.names.iter())
        .map(|n| col(&format!("w_{n}")))
        .collect::<Result<_, _>>()?;
    let mut by_subject = std::collections::HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| StudyError::format(path, format!("line {line}: {e}")))?;
        let w = (cols.iter())
            .map(|&c| {
                let cell = record.get(c).unwrap_or("");
                (cell.trim().parse::<f64>().ok().filter(|v| v.is_finite())).ok_or_else(|| {
                    StudyError::format(
                        path,
                        format!("line {line}, column {}: `{cell}` is not a number", c + 1),
                    )
                })
            })
            .collect::<Result<Vec<f64>, _>>()?;
        by_subject.insert(record.get(subject).unwrap_or("").to_string(), w);
    }
    (design.subjects.iter())
        .map(|s| {
            lookup(&by_subject, &s.subject).cloned().ok_or_else(|| {
                StudyError::format(
                    path,
                    format!(
                        "no initial weights for `{}` (the file has {} animals, the data \
                         {animals}; rows are matched by subject name)",
                        s.subject,
                        by_subject.len()
                    ),
                )
            })
        })
        .collect()
}

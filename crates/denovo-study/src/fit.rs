//! The fit pipeline: load → design → split (folds by animal, held-out sessions,
//! validation animals) → fit → score → weight trajectories, for a built-in model chosen by
//! name ([`fit`]) or any [`LearningRule`] ([`fit_rule`]).

use crate::model::{Describe, Model, ModelSpec};
use crate::score::SplitScore;
use crate::spec::EarlyStopping;
use crate::{BackendChoice, FitSpec, Precision, StudyError};
use burn::module::{AutodiffModule, Module, ModuleDisplay};
use burn::record::{DefaultRecorder, FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use denovo_data::{Dataset, DesignMatrix, Format, SubjectDesign};
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_nn::ScanBackend;
use denovo_rules::{LearningRule, RuleSpec};
use denovo_train::{EpochReport, FitConfig, RuleFit, SequenceBatch, SubjectWindow};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// The backend fitted rules are read into for read-outs, evaluation and twins: CPU, f64.
pub type ReadBackend = burn::backend::NdArray<f64>;

/// The default training backend: ndarray (CPU), f32, with burn's autodiff.
pub type CpuBackend = burn::backend::Autodiff<burn::backend::NdArray<f32>>;

/// The f64 training backend (`precision = "f64"`): ndarray (CPU) with burn's autodiff; the
/// neural rules run the f64 reference kernel on it.
pub type CpuBackend64 = burn::backend::Autodiff<burn::backend::NdArray<f64>>;

/// The `schema` of `summary.json` this version writes and reads.
pub const SUMMARY_SCHEMA: &str = "denovo.fit/2";

/// Earlier schemas that [`RunDir::load`](crate::RunDir::load) still reads: `denovo.fit/1`
/// (before sessions were keyed by date and number; its `weights.csv` has no `date`,
/// `number`, `index` columns and its scores no `sessions`).
pub const SUMMARY_SCHEMAS_READ: [&str; 2] = ["denovo.fit/1", SUMMARY_SCHEMA];

/// `summary.json`: everything a fit produced except the model record and the weights.
/// Documented field by field in `docs/run-dir.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitSummary {
    /// Document version, [`SUMMARY_SCHEMA`].
    pub schema: String,
    /// denovo version that wrote it.
    pub version: String,
    /// The rule fitted (`reinforce`, …, `dnn`, `rnn`, or a custom rule's name).
    pub model: String,
    /// Fitted parameters of the final fit (all animals): α, β, τ of a parametric rule;
    /// γ of a neural one (its weights are in `model.mpk`).
    pub parameters: serde_json::Value,
    /// Sizes of a neural rule (null for parametric rules).
    pub architecture: Option<serde_json::Value>,
    /// Data path.
    pub data: String,
    /// Format read.
    pub format: Format,
    /// The ALF revision pinned (`--revision`), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The ALF collection chosen (`--collection`), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Regressor names, in order.
    pub regressors: Vec<String>,
    /// Animals fitted.
    pub subjects: Vec<String>,
    /// "fixed-zero" (w0 = 0), "known" (`w0`: the simulation's truth or a file) or
    /// "fitted" (`fit_w0`, started from the known ones when `w0` is also set).
    pub initial_weights: String,
    /// Known or fitted initial weights per animal, `[animals][features]` (absent when
    /// fixed at zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w0: Option<Vec<Vec<f64>>>,
    /// Backend used.
    pub backend: BackendChoice,
    /// Float precision of the training backend: `f32` or `f64` ([`FitSpec::precision`]).
    pub precision: String,
    /// Optimiser settings (defaults resolved).
    pub fit: FitConfig,
    /// Epochs run in the final fit.
    pub epochs: usize,
    /// Wall time of everything (final fit and folds), seconds, in the process that
    /// finished the fit (a resumed fit does not count the time before its interruption).
    pub seconds: f64,
    /// Final training loss (negative LL per trial, nats).
    pub final_loss: f64,
    /// Training loss per epoch of the final fit (nats/trial).
    pub loss_history: Vec<f64>,
    /// Fraction of sessions held out per animal (0 = none).
    pub holdout_sessions: f64,
    /// Training trials (the first sessions of every animal).
    pub train: SplitScore,
    /// The held-out last sessions of every animal, predicted by the final fit.
    pub heldout_sessions: Option<SplitScore>,
    /// Number of folds over animals (0 = none).
    pub folds: usize,
    /// Seed of the folds and the initialisation.
    pub seed: u64,
    /// Held-out animals: each scored (on its training sessions) by the fit of the fold
    /// that left it out.
    pub heldout_animals: Option<SplitScore>,
    /// Parameters fitted in each fold.
    pub fold_parameters: Vec<serde_json::Value>,
    /// Early stopping of the final fit, when it validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStoppingReport>,
}

/// How the final fit stopped early: what it validated on and the epoch it kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingReport {
    /// `sessions` (the last sessions of every animal's training sessions) or `animals`.
    pub on: String,
    /// The fraction of sessions (or animals) that validated.
    pub fraction: f64,
    /// Epochs without a better validation LL before the fit stopped.
    pub patience: usize,
    /// The epoch (1-based) of the kept model.
    pub best_epoch: usize,
    /// Its validation LL (nats/trial).
    pub validation_ll: f64,
}

impl FitSummary {
    /// Initial weights for new animals, `[features]`: the mean fitted w0 when the fit
    /// fitted w0, else 0.
    pub fn mean_w0(&self) -> Vec<f64> {
        let k = self.regressors.len();
        match &self.w0 {
            Some(rows) if !rows.is_empty() => (0..k)
                .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / rows.len() as f64)
                .collect(),
            _ => vec![0.0; k],
        }
    }
}

/// A session as `weights.csv` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLabel {
    /// Its unique key within the subject, [`Session::key`](denovo_data::Session::key):
    /// `<date>/<number>` (`2019-08-05/001`) for IBL data, else the file's session value.
    pub key: String,
    /// Its date (IBL data).
    pub date: Option<String>,
    /// Its number of the day (IBL, three digits) or the file's session value.
    pub number: String,
    /// Its trials.
    pub trials: usize,
}

impl SessionLabel {
    /// The label of `session`.
    pub fn of(session: &denovo_data::Session) -> SessionLabel {
        SessionLabel {
            key: session.key(),
            date: session.date.clone(),
            number: session.id.clone(),
            trials: session.trials.len(),
        }
    }
}

/// One animal's weight trajectory under the fitted rule (what `weights.csv` holds).
#[derive(Debug, Clone, PartialEq)]
pub struct AnimalWeights {
    /// Subject name.
    pub subject: String,
    /// Its sessions in training order (their index in this list + 1 is the `index`
    /// column of `weights.csv`).
    pub sessions: Vec<SessionLabel>,
    /// Index of the first held-out trial (= trials when no session is held out).
    pub train_end: usize,
    /// w_t before every trial t, `[trials][features]`.
    pub w: Vec<Vec<f64>>,
    /// The posterior SD of every weight on every trial, `[trials][features]`: psytrack's
    /// (the Laplace posterior on training trials, the filter's predictive SD after them);
    /// `None` for learning rules.
    pub sd: Option<Vec<Vec<f64>>>,
}

/// A finished fit: the summary, the fitted rule and the weight trajectories.
#[derive(Debug, Clone)]
pub struct FitResult<R> {
    /// The spec that was fitted.
    pub spec: FitSpec,
    /// What `summary.json` holds: scores per split and per animal, parameters, losses.
    pub summary: FitSummary,
    /// The fitted rule (final fit, all animals).
    pub rule: R,
    /// Every animal's w_t under the fitted rule, training and held-out trials.
    pub weights: Vec<AnimalWeights>,
    /// The rule as a burn record (named MessagePack, full precision): `model.mpk`.
    pub record: Vec<u8>,
}

/// Receives progress of a fit. Every method has a default that does nothing, so `()` is
/// a silent observer.
pub trait Progress {
    /// A fit starts: `label` is "fit" (the final fit) or "fold i/k"; `steps` = Adam epochs
    /// plus L-BFGS iterations.
    fn start(&mut self, label: &str, steps: usize) {
        let _ = (label, steps);
    }
    /// After each step. `heldout_ll` (nats/trial) is given every few epochs when
    /// [`Progress::wants_heldout`] is true and the fit has held-out data.
    fn epoch(&mut self, label: &str, report: &EpochReport, heldout_ll: Option<f64>) {
        let _ = (label, report, heldout_ll);
    }
    /// The fit `label` finished.
    fn finish(&mut self, label: &str) {
        let _ = label;
    }
    /// A setting that has no effect here (e.g. `--hidden` on a parametric rule, a
    /// minibatch of every training animal, held-out sessions of single-session animals):
    /// the fit goes on; `denovo fit` prints it as `warning: …` on stderr.
    fn warning(&mut self, message: &str) {
        let _ = message;
    }
    /// Whether to score the held-out data during the fit (costs time).
    fn wants_heldout(&self) -> bool {
        false
    }
}

impl Progress for () {}

/// Optional parts of a fit run.
#[derive(Default)]
pub struct FitOptions<'a> {
    /// Progress reports (none by default).
    pub progress: Option<&'a mut dyn Progress>,
    /// Folder for checkpoints (one sub-folder per fit: `fit`, `fold-1-5`, …); every
    /// finished fit is stored there, and every `checkpoint_every` epochs its state.
    pub checkpoints: Option<PathBuf>,
    /// Continue from the checkpoints in `checkpoints`: finished fits are read back, an
    /// interrupted one continues from its last checkpoint (same result as uninterrupted).
    pub resume: bool,
    /// Fit this dataset (e.g. simulated in memory) instead of reading `spec.data`, which is
    /// then only recorded in the summary.
    pub dataset: Option<&'a Dataset>,
}

impl<'a> FitOptions<'a> {
    /// Options that fit `dataset` (in memory) instead of reading the spec's data file.
    pub fn with_dataset(dataset: &'a Dataset) -> Self {
        FitOptions {
            dataset: Some(dataset),
            ..Default::default()
        }
    }

    /// The spec's data and design: `dataset` when given, else read from `spec.data`.
    fn data(&self, spec: &FitSpec) -> Result<(Dataset, DesignMatrix), StudyError> {
        match self.dataset {
            Some(d) => spec.design(d.clone()),
            None => spec.load(),
        }
    }
}

/// Fits the built-in model `spec.model` to `spec.data` with the spec's split and training
/// settings, silently and in memory. See [`fit_with`] for progress and checkpoints,
/// [`RunDir`](crate::RunDir) to store the result.
///
/// Errors: [`StudyError::Data`] (the data), [`StudyError::Setting`] (a setting out of
/// range), [`StudyError::Fit`] (a non-finite loss; the last good parameters inside),
/// [`StudyError::Backend`] (wgpu not compiled in, or asked for in f64).
pub fn fit(spec: &FitSpec) -> Result<FitResult<Model<ReadBackend>>, StudyError> {
    fit_with(spec, FitOptions::default())
}

/// [`fit`] with progress reports and checkpoints.
pub fn fit_with(
    spec: &FitSpec,
    options: FitOptions<'_>,
) -> Result<FitResult<Model<ReadBackend>>, StudyError> {
    spec.check()?;
    if spec.backend == BackendChoice::Ndarray {
        // The same seed draws the same initial network in f32 and in f64: burn 0.21 draws a
        // module's random initialisation in the device's default float type, which the
        // first backend to touch the device fixes for the process; make that f32 (as an
        // f32 fit in a fresh process does) unless something touched the CPU device before.
        let cpu = Default::default();
        burn::tensor::get_device_settings::<burn::backend::NdArray<f32>>(&cpu);
    }
    let (data, design) = options.data(spec)?;
    if let Some(network) = spec.model.model.network() {
        // A neural rule with noise: the network's own fit, then σ by the evidence.
        if spec.split.folds >= 2 {
            return Err(StudyError::Setting {
                setting: "folds",
                expected: "0 (held-out sessions only) for dnn-noise and rnn-noise",
                got: spec.split.folds.to_string(),
            });
        }
        let FitOptions {
            mut progress,
            checkpoints,
            resume,
            ..
        } = options;
        // The network's own fit (the walk's settings are the noise's, not the network's).
        let mut inner = spec.clone();
        inner.model.model = network;
        inner.model.sigma_init = crate::model::default_sigma_init();
        inner.model.sigma_day = false;
        inner.model.scoring = Default::default();
        let result = fit_with(
            &inner,
            FitOptions {
                progress: progress.as_mut().map(|p| &mut **p as &mut dyn Progress),
                checkpoints,
                resume,
                dataset: Some(&data),
            },
        )?;
        let mut silent = ();
        let progress = progress.unwrap_or(&mut silent);
        return crate::noisy_net::add_noise(spec, &data, &design, result, progress);
    }
    if spec.model.model.is_walk() {
        let mut silent = ();
        let progress = options.progress.unwrap_or(&mut silent);
        return crate::walk::fit_walk(spec, &data, &design, progress);
    }
    let k = design.names.len();
    let result = match (spec.backend, spec.precision) {
        (BackendChoice::Ndarray, Precision::F32) => {
            dispatch::<CpuBackend>(spec, &data, &design, &Default::default(), options)?
        }
        (BackendChoice::Ndarray, Precision::F64) => {
            dispatch::<CpuBackend64>(spec, &data, &design, &Default::default(), options)?
        }
        (BackendChoice::Wgpu, Precision::F32) => wgpu_dispatch(spec, &data, &design, options)?,
        (BackendChoice::Wgpu, Precision::F64) => return Err(crate::spec::wgpu_f64_refused()),
    };
    let rule = read_model(
        &spec.model,
        k,
        &result.summary.parameters,
        &result.record,
        std::path::Path::new(""),
    )?;
    Ok(FitResult {
        spec: result.spec,
        summary: result.summary,
        rule,
        weights: result.weights,
        record: result.record,
    })
}

/// Runs `f` holding the lock on burn's random numbers. burn draws initial weights from one
/// process-wide generator (per backend family), so every seeding and every initialisation
/// in this crate holds this lock: fits side by side (an ensemble's replicates, or fits in
/// threads of one process) each get their own seed's network, and a network initialised
/// only to be overwritten by a record (reading a fit) cannot take draws from between
/// another fit's seeding and its initialisation. (Without it, a fit alone and the same
/// fit in an ensemble once differed: CI, `tests/ensemble.rs`, 2026-12-02.)
pub(crate) fn with_burn_rng<T>(f: impl FnOnce() -> T) -> T {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f()
}

/// The fitted rule of a built-in model on the read backend (f64): a parametric rule from
/// its parameters, a neural rule from its record. Errors name `summary.json` and
/// `model.mpk` in `dir` (the run directory, or empty for a fit in memory).
pub(crate) fn read_model(
    model: &ModelSpec,
    k: usize,
    parameters: &serde_json::Value,
    record: &[u8],
    dir: &std::path::Path,
) -> Result<Model<ReadBackend>, StudyError> {
    let device = Default::default();
    let mpk = dir.join("model.mpk");
    // The network's initial draws are overwritten by the record, but they come from burn's
    // generator: under the lock, so that they cannot fall between another fit's seeding
    // and its initialisation.
    let fresh = with_burn_rng(|| model.init::<ReadBackend>(k, &device));
    Ok(match fresh {
        Model::Parametric(_) => {
            let spec: RuleSpec = serde_json::from_value(parameters.clone()).map_err(|e| {
                StudyError::format(dir.join("summary.json"), format!("`parameters`: {e}"))
            })?;
            Model::from_rule_spec(&spec.validated(k)?, &device)
        }
        Model::Dnn(rule) => Model::Dnn(Box::new(load_bytes(*rule, record, mpk)?)),
        Model::Rnn(rule) => Model::Rnn(Box::new(load_bytes(*rule, record, mpk)?)),
        Model::Walk(_) => Model::Walk(
            crate::walk::read_walk(parameters, k)
                .map_err(|e| StudyError::format(dir.join("summary.json"), e))?,
        ),
    })
}

/// `module` with the parameters of a burn record (named MessagePack bytes).
fn load_bytes<M: Module<ReadBackend>>(
    module: M,
    record: &[u8],
    path: PathBuf,
) -> Result<M, StudyError> {
    let rec = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .load(record.to_vec(), &Default::default())
        .map_err(record_err(path))?;
    // Loaded values take burn's process-wide default float type, which an f32 fit earlier
    // in the process sets: cast back to the read precision.
    Ok(denovo_nn::cast_to_backend_precision(
        module.load_record(rec),
    ))
}

#[cfg(feature = "wgpu")]
fn wgpu_dispatch(
    spec: &FitSpec,
    data: &Dataset,
    design: &DesignMatrix,
    options: FitOptions<'_>,
) -> Result<FitResult<()>, StudyError> {
    type B = burn::backend::Autodiff<burn::backend::Wgpu>;
    dispatch::<B>(spec, data, design, &Default::default(), options)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_dispatch(
    _: &FitSpec,
    _: &Dataset,
    _: &DesignMatrix,
    _: FitOptions<'_>,
) -> Result<FitResult<()>, StudyError> {
    Err(StudyError::Backend(
        "this denovo was built without the `wgpu` feature; rebuild with `--features wgpu`".into(),
    ))
}

/// Fits the built-in model on backend `B`; the rule itself is returned as its record only.
fn dispatch<B>(
    spec: &FitSpec,
    data: &Dataset,
    design: &DesignMatrix,
    device: &B::Device,
    options: FitOptions<'_>,
) -> Result<FitResult<()>, StudyError>
where
    B: AutodiffBackend + ScanBackend,
    B::InnerBackend: ScanBackend,
{
    let k = design.names.len();
    // Seeded initialisation of the neural rules: the same seed gives the same fit.
    let start = with_burn_rng(|| {
        B::seed(device, spec.seed);
        spec.model.init::<B>(k, device)
    });
    let name = spec.model.model.name();
    let arch = spec.model.architecture();
    crate::with_model!(&start, r => fit_loaded::<B, _>(
        spec, data, design, device, &|| r.clone(), name, arch, options,
    ).map(strip))
}

/// Fits any learning rule built by `make` (called once per fit, after the backend's RNG is
/// seeded with `spec.seed`) through the same pipeline as the built-in models: the spec's
/// data, regressors, split and training settings (`spec.model` is ignored, except
/// `init_alpha`-style options your `make` may read). Returns the fitted rule on `B`'s
/// inner backend; `FitResult::record` is its burn record, so
/// [`RunDir::save`](crate::RunDir::save) stores it like a built-in one.
///
/// Errors: as [`fit`].
pub fn fit_rule<B, R>(
    spec: &FitSpec,
    device: &B::Device,
    make: &dyn Fn() -> R,
    options: FitOptions<'_>,
) -> Result<FitResult<R::InnerModule>, StudyError>
where
    B: AutodiffBackend,
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: LearningRule<B::InnerBackend> + ModuleDisplay + Describe,
{
    spec.check()?;
    let (data, design) = options.data(spec)?;
    let name = with_burn_rng(|| {
        B::seed(device, spec.seed);
        make().name()
    });
    fit_loaded::<B, R>(spec, &data, &design, device, make, name, None, options)
}

/// The result without its rule (kept as its record).
fn strip<R>(r: FitResult<R>) -> FitResult<()> {
    FitResult {
        spec: r.spec,
        summary: r.summary,
        rule: (),
        weights: r.weights,
        record: r.record,
    }
}

/// One fit on some animals' training windows and what it produced.
struct OneFit<M> {
    model: M,
    history: Vec<f64>,
    /// With early stopping: the kept epoch and its validation LL.
    best: Option<(usize, f64)>,
}

/// What `checkpoints/<fit>/done.json` holds beside `done.mpk` (older runs: the history
/// alone).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum DoneState {
    Full {
        history: Vec<f64>,
        best: Option<(usize, f64)>,
    },
    History(Vec<f64>),
}

/// What `checkpoints/<fit>/state.json` holds beside the model and Adam records.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointState {
    epoch: usize,
    history: Vec<f64>,
}

/// Writes checkpoints of one fit into its folder (model.mpk, adam.mpk, state.json; the
/// state is written last, so a checkpoint without it is never read).
struct FileCheckpoint {
    dir: PathBuf,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> denovo_train::Checkpoint<B, M> for FileCheckpoint {
    fn save(
        &mut self,
        epoch: usize,
        model: &M,
        optimizer: denovo_train::AdamState<B, M>,
        history: &[f64],
    ) -> Result<(), String> {
        let recorder = DefaultRecorder::new();
        let err = |what: &str, e: &dyn std::fmt::Debug| {
            format!("writing checkpoint {what} in {}: {e:?}", self.dir.display())
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| err("folder", &e))?;
        let _ = std::fs::remove_file(self.dir.join("state.json"));
        model
            .clone()
            .save_file(self.dir.join("model"), &recorder)
            .map_err(|e| err("model", &e))?;
        Recorder::<B>::record(&recorder, optimizer, self.dir.join("adam"))
            .map_err(|e| err("optimizer", &e))?;
        let state = CheckpointState {
            epoch,
            history: history.to_vec(),
        };
        let text = serde_json::to_string(&state).map_err(|e| err("state", &e))?;
        std::fs::write(self.dir.join("state.json"), text).map_err(|e| err("state", &e))
    }
}

/// The initial weights of the animals `idx` under a fitted model, `[animals, features]`:
/// its fitted w0 when they are the animals it was fitted to (`same`), the mean fitted w0
/// for other animals, or their fixed w0 (`base`: 0, or known per animal) when w0 was not
/// fitted.
fn initial_weights_for<Bk: Backend, M: Module<Bk>>(
    model: &RuleFit<Bk, M>,
    idx: &[usize],
    same: bool,
    base: &[Vec<f64>],
    device: &Bk::Device,
) -> Tensor<Bk, 2> {
    match &model.w0 {
        Some(p) if same => p.val(),
        Some(p) => p.val().mean_dim(0).repeat_dim(0, idx.len()),
        None => rows(idx, base, device),
    }
}

/// The rows `idx` of per-animal weights `base`, as a `[animals, features]` tensor.
fn rows<Bk: Backend>(idx: &[usize], base: &[Vec<f64>], device: &Bk::Device) -> Tensor<Bk, 2> {
    let k = base.first().map_or(0, Vec::len);
    let values = idx.iter().flat_map(|&i| base[i].iter().copied()).collect();
    float_tensor(values, [idx.len(), k], device)
}

/// Splits the fit's animals into those fitted and, with early stopping, validation animals
/// (a seeded `validation_animals` fraction, at least one, at least one left to fit).
fn split_validation(idx: &[usize], spec: &FitSpec) -> Result<(Vec<usize>, Vec<usize>), StudyError> {
    if !matches!(spec.early_stopping(), EarlyStopping::Animals(_)) {
        return Ok((idx.to_vec(), Vec::new()));
    }
    if idx.len() < 2 {
        return Err(StudyError::Setting {
            setting: "early_stop",
            expected: "used with at least two training animals (validation animals are held out of the fit)",
            got: format!("{} animal(s)", idx.len()),
        });
    }
    // In [0, 1): checked with the other settings by `FitSpec::check`.
    let frac = spec.split.validation_animals;
    let n_valid = ((frac * idx.len() as f64).round() as usize).clamp(1, idx.len() - 1);
    let folds = denovo_data::kfold_by_subject(idx.len(), idx.len(), spec.seed ^ 0x5eed)?;
    let valid: Vec<usize> = folds
        .iter()
        .take(n_valid)
        .flat_map(|f| f.test.iter().map(|&i| idx[i]))
        .collect();
    let fit: Vec<usize> = idx.iter().copied().filter(|i| !valid.contains(i)).collect();
    Ok((fit, valid))
}

fn record_err(path: PathBuf) -> impl FnOnce(burn::record::RecorderError) -> StudyError {
    move |e| StudyError::format(path, format!("{e:?}"))
}

/// The pipeline on loaded data, for a rule built by `make`.
#[allow(
    clippy::too_many_arguments,
    clippy::too_many_lines,
    clippy::type_complexity
)]
fn fit_loaded<B, R>(
    spec: &FitSpec,
    data: &Dataset,
    design: &DesignMatrix,
    device: &B::Device,
    make: &dyn Fn() -> R,
    name: &str,
    architecture: Option<serde_json::Value>,
    mut options: FitOptions<'_>,
) -> Result<FitResult<R::InnerModule>, StudyError>
where
    B: AutodiffBackend,
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: LearningRule<B::InnerBackend> + ModuleDisplay + Describe,
{
    let started = Instant::now();
    let k = design.names.len();
    let subjects: Vec<&SubjectDesign> = design.subjects.iter().collect();
    let train_end: Vec<usize> = subjects
        .iter()
        .map(|s| s.first_holdout_trial(spec.split.holdout_sessions))
        .collect();
    let config = spec.config();
    // Every animal's fixed initial weights: known ones (`spec.w0`), else 0.
    let base: Vec<Vec<f64>> = match &spec.w0 {
        Some(source) => crate::spec::known_w0(spec, source, data, design)?,
        None => vec![vec![0.0; k]; subjects.len()],
    };
    let mut silent = ();
    let progress: &mut dyn Progress = match options.progress.take() {
        Some(p) => p,
        None => &mut silent,
    };
    let wants_heldout = progress.wants_heldout();
    for warning in spec.warnings() {
        progress.warning(&warning);
    }
    if spec.split.holdout_sessions > 0.0 {
        let names: Vec<&str> = subjects.iter().map(|s| s.subject.as_str()).collect();
        let n: Vec<usize> = subjects.iter().map(|s| s.n_trials()).collect();
        if let Some(w) = crate::score::single_session_warning(&names, &train_end, &n) {
            progress.warning(&w);
        }
    }
    let mut minibatch_warned = false;

    // Fits the rule on the training windows of `idx`, reporting progress and, every few
    // epochs, the log-likelihood per trial of `validation` (held-out data).
    let mut fit_on = |idx: &[usize],
                      label: &str,
                      validation: Option<(&SequenceBatch<B::InnerBackend>, &[usize])>|
     -> Result<OneFit<RuleFit<B::InnerBackend, R::InnerModule>>, StudyError> {
        // Early stopping on validation animals: some training animals validate instead of
        // fitting; on validation sessions: the last sessions of every training window.
        let (idx, valid_idx) = split_validation(idx, spec)?;
        let idx = idx.as_slice();
        let subs: Vec<&SubjectDesign> = idx.iter().map(|&i| subjects[i]).collect();
        if let Some(n) = config
            .minibatch
            .filter(|&n| n >= idx.len() && !minibatch_warned)
        {
            minibatch_warned = true;
            progress.warning(&format!(
                "--minibatch {n} is not smaller than the {} training animals of `{label}`: \
                 every step is a full batch",
                idx.len()
            ));
        }
        let fit_end: Vec<usize> = match spec.early_stopping() {
            EarlyStopping::Sessions(f) => idx
                .iter()
                .map(|&i| subjects[i].first_holdout_trial_before(f, train_end[i]))
                .collect(),
            _ => idx.iter().map(|&i| train_end[i]).collect(),
        };
        let windows: Vec<SubjectWindow> =
            fit_end.iter().map(|&e| SubjectWindow::until(e)).collect();
        let batch = SequenceBatch::<B>::new(&subs, &windows, device);
        let on_sessions = fit_end.iter().zip(idx).any(|(&e, &i)| e < train_end[i]);
        if matches!(spec.early_stopping(), EarlyStopping::Sessions(_)) && !on_sessions {
            return Err(StudyError::Setting {
                setting: "validation_sessions",
                expected: "used with animals that have at least two training sessions",
                got: format!("none with two in `{label}`"),
            });
        }
        let (valid_subs, valid_windows): (Vec<&SubjectDesign>, Vec<SubjectWindow>) = if on_sessions
        {
            let w = idx.iter().zip(&fit_end);
            (
                subs.clone(),
                w.map(|(&i, &e)| SubjectWindow::from(e, train_end[i]))
                    .collect(),
            )
        } else {
            let w = valid_idx
                .iter()
                .map(|&i| SubjectWindow::until(train_end[i]));
            (
                valid_idx.iter().map(|&i| subjects[i]).collect(),
                w.collect(),
            )
        };
        let valid_batch =
            SequenceBatch::<B::InnerBackend>::new(&valid_subs, &valid_windows, device);
        let early = (!valid_subs.is_empty()).then(|| denovo_train::Validation {
            batch: &valid_batch,
            w0: if on_sessions {
                rows(idx, &base, device)
            } else {
                rows(&valid_idx, &base, device)
            },
            same_animals: on_sessions,
        });
        let fresh = || {
            let rule = make();
            if spec.fit_w0 {
                RuleFit::fitted_w0(rule, rows(idx, &base, device))
            } else {
                RuleFit::fixed_w0(rule)
            }
        };
        let dir = options
            .checkpoints
            .as_ref()
            .map(|c| c.join(label.replace([' ', '/'], "-")));
        let recorder = DefaultRecorder::new();
        // A fit that finished before an interruption is read back, not redone.
        if let Some(dir) = dir
            .as_ref()
            .filter(|d| options.resume && d.join("done.mpk").is_file())
        {
            let model = fresh()
                .valid()
                .load_file(dir.join("done"), &recorder, device)
                .map_err(record_err(dir.join("done.mpk")))?;
            let path = dir.join("done.json");
            let text = std::fs::read_to_string(&path).map_err(StudyError::io(&path))?;
            let done: DoneState =
                serde_json::from_str(&text).map_err(|e| StudyError::format(&path, e))?;
            let (history, best) = match done {
                DoneState::Full { history, best } => (history, best),
                DoneState::History(history) => (history, None),
            };
            return Ok(OneFit {
                model,
                history,
                best,
            });
        }
        let mut model = fresh();
        let mut resume = None;
        if let Some(dir) = dir
            .as_ref()
            .filter(|d| options.resume && d.join("state.json").is_file())
        {
            let path = dir.join("state.json");
            let text = std::fs::read_to_string(&path).map_err(StudyError::io(&path))?;
            let state: CheckpointState = serde_json::from_str(&text)
                .map_err(|e| StudyError::format(&path, format!("unreadable checkpoint: {e}")))?;
            model = model
                .load_file(dir.join("model"), &recorder, device)
                .map_err(record_err(dir.join("model.mpk")))?;
            let optimizer = Recorder::<B>::load(&recorder, dir.join("adam"), device)
                .map_err(record_err(dir.join("adam.mpk")))?;
            resume = Some(denovo_train::Resume {
                epoch: state.epoch,
                history: state.history,
                optimizer,
            });
        }
        let mut sink = dir.clone().map(|dir| FileCheckpoint { dir });
        progress.start(label, config.epochs + config.lbfgs_iterations);
        let every = (config.epochs / 50).max(1);
        let hooks = denovo_train::FitHooks {
            validation: early,
            resume,
            checkpoint: sink
                .as_mut()
                .map(|s| s as &mut dyn denovo_train::Checkpoint<B, RuleFit<B, R>>),
        };
        let result = denovo_train::fit(
            model,
            &batch,
            &rows(idx, &base, device),
            &config,
            hooks,
            &mut |r, m| {
                let heldout = validation
                    .filter(|_| wants_heldout && (r.epoch % every == 0 || r.epoch == 1))
                    .map(|v| {
                        let inner = m.valid();
                        let same = v.1 == idx;
                        let w0 = initial_weights_for(&inner, v.1, same, &base, device);
                        let v = v.0;
                        denovo_train::evaluate(&inner.rule, v, w0).ll_per_trial
                    });
                progress.epoch(label, r, heldout);
                true
            },
        );
        progress.finish(label);
        match result {
            Ok(f) => {
                let model = f.model.valid();
                if let Some(dir) = &dir {
                    std::fs::create_dir_all(dir).map_err(StudyError::io(dir))?;
                    model
                        .clone()
                        .save_file(dir.join("done"), &recorder)
                        .map_err(record_err(dir.join("done.mpk")))?;
                    let path = dir.join("done.json");
                    let done = DoneState::Full {
                        history: f.history.clone(),
                        best: f.best,
                    };
                    let text = serde_json::to_string(&done).unwrap_or_default();
                    std::fs::write(&path, text).map_err(StudyError::io(&path))?;
                }
                Ok(OneFit {
                    model,
                    history: f.history,
                    best: f.best,
                })
            }
            Err(failure) => Err(StudyError::Fit {
                label: label.to_string(),
                reason: failure.to_string(),
                last_good: failure.last_good.rule.valid().parameters(),
            }),
        }
    };
    let inner = |idx: &[usize], windows: Vec<SubjectWindow>| {
        let subs: Vec<&SubjectDesign> = idx.iter().map(|&i| subjects[i]).collect();
        SequenceBatch::<B::InnerBackend>::new(&subs, &windows, device)
    };
    let w0_of = |m: &RuleFit<B::InnerBackend, R::InnerModule>, idx: &[usize], same: bool| {
        initial_weights_for(m, idx, same, &base, device)
    };
    let names_of = |idx: &[usize]| -> Vec<&str> {
        idx.iter().map(|&i| subjects[i].subject.as_str()).collect()
    };
    // Each animal's name and the keys of its sessions in trials `range(i)`.
    let scored = |idx: &[usize], range: &dyn Fn(usize) -> std::ops::Range<usize>| {
        idx.iter()
            .map(|&i| {
                let s = subjects[i];
                (s.subject.as_str(), s.session_keys_in(range(i)))
            })
            .collect::<Vec<_>>()
    };

    // Held-out animals: k folds.
    let mut fold_parameters = Vec::new();
    let heldout_animals = if spec.split.folds >= 2 {
        let folds = denovo_data::kfold_by_subject(subjects.len(), spec.split.folds, spec.seed)?;
        let mut parts = Vec::new();
        for (f, fold) in folds.iter().enumerate() {
            let windows = fold
                .test
                .iter()
                .map(|&i| SubjectWindow::until(train_end[i]))
                .collect();
            let batch = inner(&fold.test, windows);
            let label = format!("fold {}/{}", f + 1, folds.len());
            let one = fit_on(&fold.train, &label, Some((&batch, &fold.test)))?;
            let w0 = w0_of(&one.model, &fold.test, false);
            let eval = denovo_train::evaluate(&one.model.rule, &batch, w0);
            let animals = scored(&fold.test, &|i| 0..train_end[i]);
            parts.push(SplitScore::from_evaluation(&eval, &animals));
            fold_parameters.push(one.model.rule.parameters());
        }
        Some(SplitScore::merge(parts))
    } else {
        None
    };

    // The final fit on every animal.
    let all: Vec<usize> = (0..subjects.len()).collect();
    let full_windows: Vec<SubjectWindow> = all
        .iter()
        .map(|&i| SubjectWindow::from(train_end[i], subjects[i].n_trials()))
        .collect();
    let full_batch = inner(&all, full_windows);
    let validation = (spec.split.holdout_sessions > 0.0).then_some((&full_batch, &all[..]));
    let one = fit_on(&all, "fit", validation)?;
    let w0 = w0_of(&one.model, &all, true);
    let train_windows = all
        .iter()
        .map(|&i| SubjectWindow::until(train_end[i]))
        .collect();
    let train_batch = inner(&all, train_windows);
    let train_eval = denovo_train::evaluate(&one.model.rule, &train_batch, w0.clone());
    let train = SplitScore::from_evaluation(&train_eval, &scored(&all, &|i| 0..train_end[i]));
    let heldout_sessions = (spec.split.holdout_sessions > 0.0)
        .then(|| {
            let held: Vec<_> = (all.iter())
                .map(|&i| (subjects[i], train_end[i]..subjects[i].n_trials()))
                .collect();
            SplitScore::from_evaluation_by_session(
                &denovo_train::evaluate(&one.model.rule, &full_batch, w0.clone()),
                &held,
            )
        })
        // Every animal with a single session: nothing was held out.
        .filter(|h| h.trials > 0);

    // Weight trajectories under the final fit.
    let runs: Vec<usize> = subjects.iter().map(|s| s.n_trials()).collect();
    let trajectories =
        denovo_train::weight_trajectories(&one.model.rule, &full_batch, w0.clone(), &runs);
    let weights = data
        .subjects
        .iter()
        .zip(&design.subjects)
        .zip(trajectories)
        .zip(&train_end)
        .map(|(((subject, d), w), &end)| AnimalWeights {
            subject: d.subject.clone(),
            sessions: subject.sessions.iter().map(SessionLabel::of).collect(),
            train_end: end,
            w,
            sd: None,
        })
        .collect();

    let early_stopping = one.best.map(|(best_epoch, validation_ll)| {
        let (on, fraction) = match spec.early_stopping() {
            EarlyStopping::Animals(f) => ("animals", f),
            EarlyStopping::Sessions(f) => ("sessions", f),
            EarlyStopping::Off => ("none", 0.0),
        };
        EarlyStoppingReport {
            on: on.into(),
            fraction,
            patience: config.patience.unwrap_or(0),
            best_epoch,
            validation_ll,
        }
    });
    let summary = FitSummary {
        schema: SUMMARY_SCHEMA.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: name.to_string(),
        parameters: one.model.rule.parameters(),
        architecture,
        data: spec.data.display().to_string(),
        format: data.format,
        revision: spec.revision.clone(),
        collection: spec.collection.clone(),
        regressors: design.names.clone(),
        subjects: names_of(&all).iter().map(|s| s.to_string()).collect(),
        initial_weights: match (spec.fit_w0, &spec.w0) {
            (true, _) => "fitted",
            (false, Some(_)) => "known",
            (false, None) => "fixed-zero",
        }
        .into(),
        w0: (spec.fit_w0 || spec.w0.is_some())
            .then(|| to_f64_vec(w0).chunks(k).map(<[f64]>::to_vec).collect()),
        backend: spec.backend,
        // The precision the fit ran in: the training backend's float type.
        precision: match <B::FloatElem as burn::tensor::Element>::dtype() {
            burn::tensor::DType::F64 => "f64",
            _ => "f32",
        }
        .into(),
        fit: config,
        epochs: one.history.len(),
        seconds: started.elapsed().as_secs_f64(),
        final_loss: one.history.last().copied().unwrap_or(f64::NAN),
        loss_history: one.history,
        holdout_sessions: spec.split.holdout_sessions,
        train,
        heldout_sessions,
        folds: spec.split.folds,
        seed: spec.seed,
        heldout_animals,
        fold_parameters,
        early_stopping,
    };
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .record(one.model.rule.clone().into_record(), ())
        .map_err(record_err("model.mpk".into()))?;
    Ok(FitResult {
        spec: spec.clone(),
        summary,
        rule: one.model.rule,
        weights,
        record,
    })
}

/// Scores a rule with known parameters (e.g. a simulation's truth) on the splits `spec`
/// uses, from w0 = 0: (training trials, held-out sessions when `spec` holds any out).
///
/// Errors: [`StudyError::Data`], [`StudyError::Spec`] (parameters that do not fit the
/// regressors).
pub fn score_rule_spec(
    spec: &FitSpec,
    rule: &RuleSpec,
) -> Result<(SplitScore, Option<SplitScore>), StudyError> {
    let (_, design) = spec.load()?;
    let k = design.names.len();
    let model =
        Model::<ReadBackend>::from_rule_spec(&rule.clone().validated(k)?, &Default::default());
    let ends: Vec<usize> = design
        .subjects
        .iter()
        .map(|s| s.first_holdout_trial(spec.split.holdout_sessions))
        .collect();
    let train: Vec<SubjectWindow> = ends.iter().map(|&e| SubjectWindow::until(e)).collect();
    let held: Vec<SubjectWindow> = design
        .subjects
        .iter()
        .zip(&ends)
        .map(|(s, &e)| SubjectWindow::from(e, s.n_trials()))
        .collect();
    let w0 = vec![0.0; k];
    let train_score = crate::evaluate::score_windows(&model, &design, &train, &w0);
    let held_score = (spec.split.holdout_sessions > 0.0)
        .then(|| crate::evaluate::score_windows(&model, &design, &held, &w0));
    Ok((train_score, held_score))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading a fitted rule initialises a network (burn's draws) before its record
    /// overwrites it: it must wait while another thread holds burn's generator between a
    /// seeding and an initialisation, or it takes that fit's draws.
    #[test]
    fn reading_a_rule_waits_for_a_seeded_initialisation() {
        let model = ModelSpec::parametric(denovo_rules::RuleKind::Reinforce);
        let spec = RuleSpec::initial(denovo_rules::RuleKind::Reinforce, 2, 0.1);
        let parameters = serde_json::to_value(&spec).unwrap();
        let read = || read_model(&model, 2, &parameters, &[], std::path::Path::new(""));
        std::thread::scope(|scope| {
            let (started, go) = std::sync::mpsc::channel();
            let reader = with_burn_rng(|| {
                let reader = scope.spawn(move || {
                    started.send(()).unwrap();
                    read().map(|_| ())
                });
                go.recv().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(100));
                // Still waiting on the lock this thread holds (it finishes in microseconds
                // otherwise).
                assert!(
                    !reader.is_finished(),
                    "read a rule while the generator was held"
                );
                reader
            });
            reader.join().unwrap().unwrap();
        });
    }
}

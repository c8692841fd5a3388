//! `denovo fit`: maximum-likelihood fits of a learning rule, with held-out animals
//! (k-fold by subject) and held-out future sessions, written to a run directory.

use anyhow::{Context, bail};
use burn::module::{AutodiffModule, Module, ModuleDisplay};
use burn::record::{DefaultRecorder, Recorder};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use denovo_data::{Dataset, DesignMatrix, DesignOptions, Format, SubjectDesign};
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_nn::{DnnConfig, DnnRule, RnnConfig, RnnRule, ScanBackend};
use denovo_rules::{
    LearningRule, Parametric, PredictMax, QLearning, Reinforce, ReinforceBaseline, RewardMax,
    RuleKind, RuleSpec,
};
use denovo_train::{Evaluation, FitConfig, GradientPath, RuleFit, SequenceBatch, SubjectWindow};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The compute backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// burn's ndarray CPU backend (f32).
    Ndarray,
    /// burn's wgpu GPU backend (f32; needs the `wgpu` cargo feature and a GPU or lavapipe).
    Wgpu,
}

/// The models `denovo fit` can fit: a parametric rule or a neural one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A parametric rule.
    Parametric(RuleKind),
    /// The DNN rule.
    Dnn,
    /// The RNN (GRU) rule.
    Rnn,
}

impl ModelKind {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Parametric(k) => k.name(),
            ModelKind::Dnn => "dnn",
            ModelKind::Rnn => "rnn",
        }
    }
    /// Whether the model is a neural network.
    pub fn is_neural(self) -> bool {
        !matches!(self, ModelKind::Parametric(_))
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dnn" => Ok(ModelKind::Dnn),
            "rnn" => Ok(ModelKind::Rnn),
            other => other.parse::<RuleKind>().map(ModelKind::Parametric).map_err(|_| {
                format!(
                    "unknown model `{other}` (expected reinforce, reinforce-baseline, rewardmax, \
                     predictmax, qlearning, dnn or rnn)"
                )
            }),
        }
    }
}

impl Serialize for ModelKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ModelKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Arguments of `denovo fit` (also the content of `fit.toml`).
#[derive(Args, Debug, Clone, Serialize, serde::Deserialize)]
#[command(after_help = "Examples:
  denovo fit ../shared/data/rat_W053.csv --model reinforce --holdout-sessions 0.2 --out runs/rat_reinforce
  denovo fit cohort.csv --model reinforce-baseline --folds 5 --out runs/cv
  denovo fit ibl_processed.csv --model qlearning --first-trials 10000 --fit-w0 --out runs/q

Writes RUN_DIR/summary.json (parameters, log-likelihood per trial on the training trials,
the held-out sessions and the held-out animals, per animal), RUN_DIR/model.mpk (the fitted
rule as a burn record) and RUN_DIR/weights.csv (the weight trajectory w_t of every animal
under the fitted rule). The loss is the negative log-likelihood per trial (nats); held-out
LL is its negative on unseen trials. Every built-in rule trains on hand-written exact
gradients: parametric rules through their closed form, dnn and rnn through one fused scan
op per batch whose backward is registered with burn's autodiff (--generic: burn autodiff
through every trial instead, the reference path; slow on long sequences).")]
pub struct FitArgs {
    /// The behaviour file (CSV) or ALF folder.
    #[arg(required_unless_present_any = ["resume", "config"])]
    pub data: Option<PathBuf>,
    /// The learning rule to fit: reinforce, reinforce-baseline, rewardmax, predictmax,
    /// qlearning, dnn or rnn.
    #[arg(long, required_unless_present_any = ["resume", "config"])]
    pub model: Option<ModelKind>,
    /// Run directory for summary.json, weights.csv, model.mpk, fit.toml (created).
    #[arg(long, required_unless_present_any = ["resume", "config"])]
    pub out: Option<PathBuf>,
    /// Read every setting from this TOML file (the `fit.toml` every run writes); other
    /// flags are then ignored.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Continue an interrupted fit in RUN_DIR with the settings of its fit.toml, from its
    /// last checkpoint (finished folds are not refitted).
    #[arg(long, value_name = "RUN_DIR")]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
    /// Testing aid: exit abruptly (status 130, as if killed) after this many epochs.
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub interrupt_after: Option<usize>,
    /// Checkpoint every N epochs into RUN_DIR/checkpoints/ (0 = only finished fits).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Cross-validate over animals with K folds (needs K ≤ number of subjects; 0 = off).
    #[arg(long, default_value_t = 0)]
    pub folds: usize,
    /// Hold out the last fraction of every animal's sessions (0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub holdout_sessions: f64,
    /// Seed of the fold assignment.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Adam steps, full batch [default: 1000 for parametric rules, 300 for dnn/rnn].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Adam learning rate, halved every --lr-step epochs [default: 0.1 parametric, 0.003
    /// dnn/rnn].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Epochs between learning-rate halvings [default: a quarter of the epochs].
    #[arg(long)]
    pub lr_step: Option<usize>,
    /// L-BFGS iterations after the Adam epochs (polishes flat ridges; 0 = off)
    /// [default: 20 parametric, 0 dnn/rnn].
    #[arg(long)]
    pub lbfgs: Option<usize>,
    /// Truncated backpropagation through time: cut gradients every N trials (neural rules;
    /// default: full BPTT through the whole trajectory).
    #[arg(long, value_name = "N")]
    pub bptt: Option<usize>,
    /// Early stopping: hold out --validation-animals of the training animals and stop when
    /// their log-likelihood has not improved for this many epochs (the best model is kept).
    #[arg(long, value_name = "EPOCHS")]
    pub early_stop: Option<usize>,
    /// Fraction of the training animals used for validation with --early-stop.
    #[arg(long, default_value_t = 0.1)]
    pub validation_animals: f64,
    /// Hidden layer widths of the dnn rule's MLP and of the rnn rule's read-out MLP.
    #[arg(long, value_delimiter = ',', default_value = "32,32")]
    pub hidden: Vec<usize>,
    /// Hidden size of the rnn rule's GRU.
    #[arg(long, default_value_t = 32)]
    pub gru_hidden: usize,
    /// Initial γ (per-weight output scale) of the dnn/rnn rules.
    #[arg(long, default_value_t = 1e-3)]
    pub gamma_init: f64,
    /// Use burn autodiff through the per-trial graph even where the rule has a closed-form
    /// fast path (the reference; much slower).
    #[arg(long)]
    pub generic: bool,
    /// Starting learning rate α of every weight.
    #[arg(long, default_value_t = 0.01)]
    pub init_alpha: f64,
    /// Fit each animal's initial weights (held-out animals start from their mean) instead of
    /// fixing them at 0.
    #[arg(long)]
    pub fit_w0: bool,
    /// Regressors, comma-separated (default: stim,bias when the data has a stimulus, else
    /// every input column and bias).
    #[arg(long, value_delimiter = ',')]
    pub regressors: Vec<String>,
    /// Keep only the first N trials of every subject.
    #[arg(long)]
    pub first_trials: Option<usize>,
    /// The data format.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// The compute backend.
    #[arg(long, value_enum, default_value = "ndarray")]
    pub backend: BackendChoice,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl FitArgs {
    /// The data path (present once the arguments are resolved).
    pub fn data(&self) -> &Path {
        self.data.as_deref().unwrap_or(Path::new(""))
    }
    /// The model (present once the arguments are resolved).
    pub fn model(&self) -> ModelKind {
        self.model
            .unwrap_or(ModelKind::Parametric(RuleKind::Reinforce))
    }
    /// The run directory (present once the arguments are resolved).
    pub fn out(&self) -> &Path {
        self.out.as_deref().unwrap_or(Path::new("."))
    }

    /// Resolves `--config` and `--resume` into complete settings.
    pub fn resolve(&self) -> anyhow::Result<FitArgs> {
        let from_file = |path: &Path| -> anyhow::Result<FitArgs> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let args: FitArgs = toml::from_str(&text)
                .with_context(|| format!("{}: not a valid fit.toml", path.display()))?;
            for (name, missing) in [
                ("data", args.data.is_none()),
                ("model", args.model.is_none()),
                ("out", args.out.is_none()),
            ] {
                if missing {
                    bail!("{}: `{name}` is missing", path.display());
                }
            }
            Ok(args)
        };
        if let Some(dir) = &self.resume {
            let mut args = from_file(&dir.join("fit.toml"))?;
            args.out = Some(dir.clone());
            args.resume = Some(dir.clone());
            args.quiet = self.quiet;
            return Ok(args);
        }
        if let Some(path) = &self.config {
            return from_file(path);
        }
        Ok(self.clone())
    }
}

/// Scores of one split, overall and per animal.
#[derive(Debug, Clone, Serialize)]
pub struct SplitScore {
    /// Log-likelihood per trial (nats).
    pub ll_per_trial: f64,
    /// Fraction of choices on the side the model found more likely.
    pub accuracy: f64,
    /// Number of scored trials.
    pub trials: usize,
    /// One entry per scored animal.
    pub per_animal: Vec<AnimalSplitScore>,
}

/// A per-animal score.
#[derive(Debug, Clone, Serialize)]
pub struct AnimalSplitScore {
    /// Subject name.
    pub subject: String,
    /// Log-likelihood per trial.
    pub ll_per_trial: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Scored trials.
    pub trials: usize,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct FitSummary {
    /// Document version.
    pub schema: &'static str,
    /// denovo version.
    pub version: &'static str,
    /// The rule fitted.
    pub model: ModelKind,
    /// Fitted parameters of the final fit (all subjects): α, β, τ of a parametric rule;
    /// γ of a neural one (its weights are in `model.mpk`).
    pub parameters: serde_json::Value,
    /// Sizes of a neural rule (null for parametric rules).
    pub architecture: Option<serde_json::Value>,
    /// Data path and format.
    pub data: String,
    /// Format read.
    pub format: Format,
    /// Regressor names.
    pub regressors: Vec<String>,
    /// Subjects fitted.
    pub subjects: Vec<String>,
    /// "fixed-zero" or "fitted".
    pub initial_weights: &'static str,
    /// Fitted initial weights per subject (only with --fit-w0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w0: Option<Vec<Vec<f64>>>,
    /// Backend used.
    pub backend: BackendChoice,
    /// Float precision of the backend.
    pub precision: &'static str,
    /// Optimiser settings.
    pub fit: FitConfig,
    /// Epochs run in the final fit.
    pub epochs: usize,
    /// Wall time of everything (final fit and folds), seconds.
    pub seconds: f64,
    /// Final training loss (negative LL per trial).
    pub final_loss: f64,
    /// Training loss per epoch of the final fit.
    pub loss_history: Vec<f64>,
    /// Fraction of sessions held out per animal (0 = none).
    pub holdout_sessions: f64,
    /// Training trials (the first sessions of every subject).
    pub train: SplitScore,
    /// The held-out last sessions of every subject, predicted by the final fit.
    pub heldout_sessions: Option<SplitScore>,
    /// Number of folds over animals (0 = none).
    pub folds: usize,
    /// Seed of the folds.
    pub seed: u64,
    /// Held-out animals: each scored (on its training sessions) by the fit of the fold
    /// that left it out.
    pub heldout_animals: Option<SplitScore>,
    /// Parameters fitted in each fold.
    pub fold_parameters: Vec<serde_json::Value>,
}

/// The regressors to use by default for `data`.
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

/// Loads the data and builds the design matrix the fit uses.
pub fn load_design(args: &FitArgs) -> anyhow::Result<(Dataset, DesignMatrix)> {
    let mut data = denovo_data::load(args.data(), args.format)?;
    if let Some(n) = args.first_trials {
        data = data.first_trials(n);
    }
    let names = if args.regressors.is_empty() {
        default_regressors(&data)
    } else {
        args.regressors.clone()
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let design = data.design(&DesignOptions::from_names(&names)?)?;
    Ok((data, design))
}

/// Scores a rule with known parameters (e.g. the simulator's truth) on the splits a fit
/// with `args` uses, from w0 = 0: (training trials, held-out sessions when requested).
pub fn score_spec(
    args: &FitArgs,
    spec: &RuleSpec,
) -> anyhow::Result<(SplitScore, Option<SplitScore>)> {
    type I = crate::run_dir::ReadBackend;
    let (_, design) = load_design(args)?;
    let spec = spec.clone().validated(design.names.len())?;
    let device = Default::default();
    let subjects: Vec<&SubjectDesign> = design.subjects.iter().collect();
    let names: Vec<&str> = subjects.iter().map(|s| s.subject.as_str()).collect();
    let k = design.names.len();
    let w0 = float_tensor::<I, 2>(vec![0.0; subjects.len() * k], [subjects.len(), k], &device);
    let ends: Vec<usize> = subjects
        .iter()
        .map(|s| s.first_holdout_trial(args.holdout_sessions))
        .collect();
    let train: Vec<SubjectWindow> = ends.iter().map(|&e| SubjectWindow::until(e)).collect();
    let held: Vec<SubjectWindow> = subjects
        .iter()
        .zip(&ends)
        .map(|(s, &e)| SubjectWindow::from(e, s.n_trials()))
        .collect();
    let rule = crate::run_dir::AnyRule::from_spec(spec.kind, &spec, &device);
    let eval = |windows: &[SubjectWindow]| -> Evaluation {
        let batch = SequenceBatch::<I>::new(&subjects, windows, &device);
        crate::run_dir::with_rule!(&rule, r => denovo_train::evaluate(r, &batch, w0.clone()))
    };
    let train_score = score(&eval(&train), &names);
    let held_score = (args.holdout_sessions > 0.0).then(|| score(&eval(&held), &names));
    Ok((train_score, held_score))
}

/// Runs `denovo fit`.
pub fn run(args: &FitArgs) -> anyhow::Result<()> {
    let args = &args.resolve()?;
    let summary = fit_to_dir(args)?;
    println!(
        "{}: train LL {:.4}/trial{}{} → {}",
        summary.model.name(),
        summary.train.ll_per_trial,
        summary
            .heldout_sessions
            .as_ref()
            .map(|s| format!(", held-out sessions LL {:.4}/trial", s.ll_per_trial))
            .unwrap_or_default(),
        summary
            .heldout_animals
            .as_ref()
            .map(|s| format!(", held-out animals LL {:.4}/trial", s.ll_per_trial))
            .unwrap_or_default(),
        args.out().display()
    );
    Ok(())
}

/// Fits and writes the run directory; returns the summary.
pub fn fit_to_dir(args: &FitArgs) -> anyhow::Result<FitSummary> {
    if !(0.0..1.0).contains(&args.holdout_sessions) {
        bail!(
            "--holdout-sessions must be in [0, 1), got {}",
            args.holdout_sessions
        );
    }
    if args.epochs == Some(0) {
        bail!("--epochs must be at least 1");
    }
    if args.hidden.contains(&0) || args.gru_hidden == 0 {
        bail!("--hidden and --gru-hidden sizes must be at least 1");
    }
    if !(args.gamma_init.is_finite()) {
        bail!("--gamma-init must be a finite number");
    }
    if !(args.init_alpha > 0.0 && args.init_alpha.is_finite()) {
        bail!("--init-alpha must be > 0");
    }
    let (data, design) = load_design(args)?;
    std::fs::create_dir_all(args.out())
        .with_context(|| format!("creating {}", args.out().display()))?;
    // The settings of this run, in the format --config and --resume read.
    std::fs::write(args.out().join("fit.toml"), toml::to_string(args)?)?;
    match args.backend {
        BackendChoice::Ndarray => {
            type B = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
            dispatch::<B>(args, &data, &design, &Default::default())
        }
        BackendChoice::Wgpu => wgpu_dispatch(args, &data, &design),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_dispatch(
    args: &FitArgs,
    data: &Dataset,
    design: &DesignMatrix,
) -> anyhow::Result<FitSummary> {
    type B = burn::backend::Autodiff<burn::backend::Wgpu>;
    dispatch::<B>(args, data, design, &Default::default())
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_dispatch(_: &FitArgs, _: &Dataset, _: &DesignMatrix) -> anyhow::Result<FitSummary> {
    bail!(
        "this denovo was built without the `wgpu` feature; rebuild with `cargo build --release --features wgpu`"
    )
}

fn dispatch<B>(
    args: &FitArgs,
    data: &Dataset,
    design: &DesignMatrix,
    device: &B::Device,
) -> anyhow::Result<FitSummary>
where
    B: AutodiffBackend + ScanBackend,
    B::InnerBackend: ScanBackend,
{
    let k = design.names.len();
    // Seeded initialisation of the neural rules: the same --seed gives the same fit.
    B::seed(device, args.seed);
    let nn = |rule: &dyn Fn() -> serde_json::Value| Some(rule());
    match args.model() {
        ModelKind::Parametric(kind) => {
            let init = RuleSpec::initial(kind, k, args.init_alpha);
            match kind {
                RuleKind::Reinforce => {
                    fit_parametric::<B, Reinforce<B>>(args, data, design, device, &init)
                }
                RuleKind::ReinforceBaseline => {
                    fit_parametric::<B, ReinforceBaseline<B>>(args, data, design, device, &init)
                }
                RuleKind::Rewardmax => {
                    fit_parametric::<B, RewardMax<B>>(args, data, design, device, &init)
                }
                RuleKind::Predictmax => {
                    fit_parametric::<B, PredictMax<B>>(args, data, design, device, &init)
                }
                RuleKind::Qlearning => {
                    fit_parametric::<B, QLearning<B>>(args, data, design, device, &init)
                }
            }
        }
        ModelKind::Dnn => {
            let config = DnnConfig {
                hidden: args.hidden.clone(),
                gamma_init: args.gamma_init,
            };
            let arch = nn(
                &|| serde_json::json!({ "dnn": config, "inputs": ["w…", "x…", "choice", "reward", "answer", "session_start"] }),
            );
            fit_model::<B, DnnRule<B>>(
                args,
                data,
                design,
                device,
                &|| config.init(k, device),
                &|r| serde_json::json!({ "gamma": to_f64_vec(r.gamma.val()) }),
                arch,
            )
        }
        ModelKind::Rnn => {
            let config = RnnConfig {
                hidden: args.gru_hidden,
                head: args.hidden.clone(),
                gamma_init: args.gamma_init,
            };
            let arch = nn(
                &|| serde_json::json!({ "rnn": config, "inputs": ["w…", "x…", "choice", "reward", "answer", "session_start"] }),
            );
            fit_model::<B, RnnRule<B>>(
                args,
                data,
                design,
                device,
                &|| config.init(k, device),
                &|r| serde_json::json!({ "gamma": to_f64_vec(r.gamma.val()) }),
                arch,
            )
        }
    }
}

fn fit_parametric<B, R>(
    args: &FitArgs,
    data: &Dataset,
    design: &DesignMatrix,
    device: &B::Device,
    init: &RuleSpec,
) -> anyhow::Result<FitSummary>
where
    B: AutodiffBackend,
    R: Parametric<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: Parametric<B::InnerBackend> + ModuleDisplay,
{
    fit_model::<B, R>(
        args,
        data,
        design,
        device,
        &|| R::from_spec(init, device),
        &|r| serde_json::to_value(r.spec()).unwrap_or_default(),
        None,
    )
}

/// One fit on `subjects` (their training windows) and what it produced.
struct OneFit<B: AutodiffBackend, R: AutodiffModule<B>> {
    model: RuleFit<B::InnerBackend, R::InnerModule>,
    history: Vec<f64>,
}

/// The initial weights of `n` animals under a fitted model: its fitted w0 when they are
/// the same animals, their mean for other animals, or 0 when w0 was not fitted.
fn initial_weights_for<Bk: burn::tensor::backend::Backend, M: Module<Bk>>(
    model: &RuleFit<Bk, M>,
    n: usize,
    k: usize,
    device: &Bk::Device,
) -> Tensor<Bk, 2> {
    match &model.w0 {
        Some(p) if p.val().dims()[0] == n => p.val(),
        Some(p) => p.val().mean_dim(0).repeat_dim(0, n),
        None => float_tensor(vec![0.0; n * k], [n, k], device),
    }
}

/// A split's scores from an evaluation of the animals named `names` (in batch order).
pub fn score(eval: &Evaluation, names: &[&str]) -> SplitScore {
    SplitScore {
        ll_per_trial: eval.ll_per_trial,
        accuracy: eval.accuracy,
        trials: eval.trials,
        per_animal: eval
            .animals
            .iter()
            .zip(names)
            .map(|(a, n)| AnimalSplitScore {
                subject: n.to_string(),
                ll_per_trial: a.ll_per_trial,
                accuracy: a.accuracy,
                trials: a.trials,
            })
            .collect(),
    }
}

fn merge(parts: Vec<SplitScore>) -> SplitScore {
    let trials: usize = parts.iter().map(|p| p.trials).sum();
    let ll: f64 = parts.iter().map(|p| p.ll_per_trial * p.trials as f64).sum();
    let acc: f64 = parts.iter().map(|p| p.accuracy * p.trials as f64).sum();
    SplitScore {
        ll_per_trial: ll / trials.max(1) as f64,
        accuracy: acc / trials.max(1) as f64,
        trials,
        per_animal: parts.into_iter().flat_map(|p| p.per_animal).collect(),
    }
}

/// Fits any rule built by `make`; `describe` reports its parameters.
#[allow(clippy::too_many_lines, clippy::too_many_arguments)]
fn fit_model<B, R>(
    args: &FitArgs,
    data: &Dataset,
    design: &DesignMatrix,
    device: &B::Device,
    make: &dyn Fn() -> R,
    describe: &dyn Fn(&R::InnerModule) -> serde_json::Value,
    architecture: Option<serde_json::Value>,
) -> anyhow::Result<FitSummary>
where
    B: AutodiffBackend,
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: LearningRule<B::InnerBackend> + ModuleDisplay,
{
    let started = Instant::now();
    let k = design.names.len();
    let subjects: Vec<&SubjectDesign> = design.subjects.iter().collect();
    let train_end: Vec<usize> = subjects
        .iter()
        .map(|s| s.first_holdout_trial(args.holdout_sessions))
        .collect();
    let neural = args.model().is_neural();
    let epochs = args.epochs.unwrap_or(if neural { 300 } else { 1000 });
    let config = FitConfig {
        epochs,
        learning_rate: args.lr.unwrap_or(if neural { 3e-3 } else { 0.1 }),
        lr_step: args.lr_step.unwrap_or((epochs / 4).max(1)),
        lbfgs_iterations: args.lbfgs.unwrap_or(if neural { 0 } else { 20 }),
        path: if args.generic {
            GradientPath::Generic
        } else {
            GradientPath::Fast
        },
        bptt_window: args.bptt,
        patience: args.early_stop,
        validate_every: (epochs / 100).max(1),
        checkpoint_every: args.checkpoint_every,
        ..FitConfig::default()
    };
    let zeros = |n: usize| float_tensor::<B, 2>(vec![0.0; n * k], [n, k], device);

    // Fits the rule on the training windows of `idx`, showing progress and, every few
    // epochs, the log-likelihood per trial of `validation` (held-out data).
    let fit_on = |idx: &[usize],
                  label: &str,
                  validation: Option<&SequenceBatch<B::InnerBackend>>|
     -> anyhow::Result<OneFit<B, R>> {
        // With early stopping, some of the training animals validate instead of fitting.
        let (idx, valid_idx) = split_validation(idx, args)?;
        let idx = idx.as_slice();
        let subs: Vec<&SubjectDesign> = idx.iter().map(|&i| subjects[i]).collect();
        let windows: Vec<SubjectWindow> = idx
            .iter()
            .map(|&i| SubjectWindow::until(train_end[i]))
            .collect();
        let batch = SequenceBatch::<B>::new(&subs, &windows, device);
        let valid_subs: Vec<&SubjectDesign> = valid_idx.iter().map(|&i| subjects[i]).collect();
        let valid_windows: Vec<SubjectWindow> = valid_idx
            .iter()
            .map(|&i| SubjectWindow::until(train_end[i]))
            .collect();
        let valid_batch =
            SequenceBatch::<B::InnerBackend>::new(&valid_subs, &valid_windows, device);
        let early = (!valid_idx.is_empty()).then(|| denovo_train::Validation {
            batch: &valid_batch,
            w0: float_tensor(vec![0.0; valid_idx.len() * k], [valid_idx.len(), k], device),
        });
        let fresh = || {
            let rule = make();
            if args.fit_w0 {
                RuleFit::fitted_w0(rule, zeros(subs.len()))
            } else {
                RuleFit::fixed_w0(rule)
            }
        };
        let dir = args
            .out()
            .join("checkpoints")
            .join(label.replace([' ', '/'], "-"));
        let recorder = DefaultRecorder::new();
        // A fit that finished before an interruption is read back, not redone.
        if args.resume.is_some() && dir.join("done.mpk").is_file() {
            let model = fresh()
                .valid()
                .load_file(dir.join("done"), &recorder, device)
                .map_err(|e| anyhow::anyhow!("{}: {e:?}", dir.join("done.mpk").display()))?;
            let history: Vec<f64> =
                serde_json::from_str(&std::fs::read_to_string(dir.join("done.json"))?)?;
            return Ok(OneFit { model, history });
        }
        let mut model = fresh();
        let mut resume = None;
        if args.resume.is_some() && dir.join("state.json").is_file() {
            let state: CheckpointState =
                serde_json::from_str(&std::fs::read_to_string(dir.join("state.json"))?)
                    .with_context(|| format!("{}: unreadable checkpoint", dir.display()))?;
            model = model
                .load_file(dir.join("model"), &recorder, device)
                .map_err(|e| anyhow::anyhow!("{}: {e:?}", dir.join("model.mpk").display()))?;
            let optimizer = Recorder::<B>::load(&recorder, dir.join("adam"), device)
                .map_err(|e| anyhow::anyhow!("{}: {e:?}", dir.join("adam.mpk").display()))?;
            resume = Some(denovo_train::Resume {
                epoch: state.epoch,
                history: state.history,
                optimizer,
            });
        }
        let mut sink = FileCheckpoint { dir: dir.clone() };
        let bar = progress(args, label, config.epochs + config.lbfgs_iterations);
        let every = (config.epochs / 50).max(1);
        let mut heldout = String::new();
        let hooks = denovo_train::FitHooks {
            validation: early,
            resume,
            checkpoint: Some(&mut sink),
        };
        let result = denovo_train::fit(
            model,
            &batch,
            &zeros(subs.len()),
            &config,
            hooks,
            &mut |r, m| {
                if let Some(v) =
                    validation.filter(|_| !args.quiet && (r.epoch % every == 0 || r.epoch == 1))
                {
                    let inner = m.valid();
                    let w0 = initial_weights_for(&inner, v.n_animals(), k, device);
                    let ll = denovo_train::evaluate(&inner.rule, v, w0).ll_per_trial;
                    heldout = format!("  held-out LL {ll:.5}");
                }
                if let Some(v) = r.validation_ll {
                    heldout.push_str(&format!("  validation LL {v:.5}"));
                }
                if args.interrupt_after == Some(r.epoch) {
                    std::process::exit(130);
                }
                bar.set_position(r.epoch as u64);
                bar.set_message(format!(
                    "loss {:.5} nats/trial{heldout}  lr {:.4}",
                    r.loss, r.learning_rate
                ));
                true
            },
        );
        bar.finish_and_clear();
        match result {
            Ok(f) => {
                let model = f.model.valid();
                std::fs::create_dir_all(&dir)?;
                model
                    .clone()
                    .save_file(dir.join("done"), &recorder)
                    .map_err(|e| anyhow::anyhow!("{}: {e:?}", dir.join("done.mpk").display()))?;
                std::fs::write(dir.join("done.json"), serde_json::to_string(&f.history)?)?;
                Ok(OneFit {
                    model,
                    history: f.history,
                })
            }
            Err(failure) => {
                // Keep the last good parameters on disk before reporting the failure.
                let kept = describe(&failure.last_good.rule.valid());
                let path = args.out().join("last_good_parameters.json");
                std::fs::write(&path, serde_json::to_string_pretty(&kept)?)?;
                Err(anyhow::anyhow!("{failure}")).with_context(|| {
                    format!(
                        "fitting {label}; the last good parameters are in {}",
                        path.display()
                    )
                })
            }
        }
    };
    let inner = |idx: &[usize], windows: Vec<SubjectWindow>| {
        let subs: Vec<&SubjectDesign> = idx.iter().map(|&i| subjects[i]).collect();
        SequenceBatch::<B::InnerBackend>::new(&subs, &windows, device)
    };
    let w0_of = |m: &RuleFit<B::InnerBackend, R::InnerModule>, n: usize| {
        initial_weights_for(m, n, k, device)
    };
    let names_of = |idx: &[usize]| -> Vec<&str> {
        idx.iter().map(|&i| subjects[i].subject.as_str()).collect()
    };

    // Held-out animals: k folds.
    let mut fold_parameters = Vec::new();
    let heldout_animals = if args.folds >= 2 {
        let folds = denovo_data::kfold_by_subject(subjects.len(), args.folds, args.seed)?;
        let mut parts = Vec::new();
        for (f, fold) in folds.iter().enumerate() {
            let windows = fold
                .test
                .iter()
                .map(|&i| SubjectWindow::until(train_end[i]))
                .collect();
            let batch = inner(&fold.test, windows);
            let label = format!("fold {}/{}", f + 1, folds.len());
            let one = fit_on(&fold.train, &label, Some(&batch))?;
            let w0 = w0_of(&one.model, fold.test.len());
            let eval = denovo_train::evaluate(&one.model.rule, &batch, w0);
            parts.push(score(&eval, &names_of(&fold.test)));
            fold_parameters.push(describe(&one.model.rule));
        }
        Some(merge(parts))
    } else {
        None
    };

    // The final fit on every subject.
    let all: Vec<usize> = (0..subjects.len()).collect();
    let full_windows: Vec<SubjectWindow> = all
        .iter()
        .map(|&i| SubjectWindow::from(train_end[i], subjects[i].n_trials()))
        .collect();
    let full_batch = inner(&all, full_windows);
    let validation = (args.holdout_sessions > 0.0).then_some(&full_batch);
    let one = fit_on(&all, "fit", validation)?;
    let w0 = w0_of(&one.model, all.len());
    let train_windows = all
        .iter()
        .map(|&i| SubjectWindow::until(train_end[i]))
        .collect();
    let train_batch = inner(&all, train_windows);
    let train_eval = denovo_train::evaluate(&one.model.rule, &train_batch, w0.clone());
    let train = score(&train_eval, &names_of(&all));
    let heldout_sessions = (args.holdout_sessions > 0.0)
        .then(|| {
            score(
                &denovo_train::evaluate(&one.model.rule, &full_batch, w0.clone()),
                &names_of(&all),
            )
        })
        .filter(|h| {
            if h.trials == 0 {
                eprintln!("warning: no session was held out (every animal has a single session)");
            }
            h.trials > 0
        });

    // Weight trajectories under the final fit.
    let runs: Vec<usize> = subjects.iter().map(|s| s.n_trials()).collect();
    let trajectories =
        denovo_train::weight_trajectories(&one.model.rule, &full_batch, w0.clone(), &runs);
    write_weights(
        &args.out().join("weights.csv"),
        data,
        design,
        &trajectories,
        &train_end,
    )?;

    let summary = FitSummary {
        schema: "denovo.fit/1",
        version: env!("CARGO_PKG_VERSION"),
        model: args.model(),
        parameters: describe(&one.model.rule),
        architecture,
        data: args.data().display().to_string(),
        format: data.format,
        regressors: design.names.clone(),
        subjects: names_of(&all).iter().map(|s| s.to_string()).collect(),
        initial_weights: if args.fit_w0 { "fitted" } else { "fixed-zero" },
        w0: args
            .fit_w0
            .then(|| to_f64_vec(w0).chunks(k).map(<[f64]>::to_vec).collect()),
        backend: args.backend,
        precision: "f32",
        fit: config,
        epochs: one.history.len(),
        seconds: started.elapsed().as_secs_f64(),
        final_loss: one.history.last().copied().unwrap_or(f64::NAN),
        loss_history: one.history,
        holdout_sessions: args.holdout_sessions,
        train,
        heldout_sessions,
        folds: args.folds,
        seed: args.seed,
        heldout_animals,
        fold_parameters,
    };
    one.model
        .rule
        .clone()
        .save_file(args.out().join("model"), &DefaultRecorder::new())
        .map_err(|e| anyhow::anyhow!("saving {}: {e:?}", args.out().join("model.mpk").display()))?;
    std::fs::write(
        args.out().join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(summary)
}

fn progress(args: &FitArgs, label: &str, epochs: usize) -> ProgressBar {
    if args.quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(epochs as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] epoch {pos}/{len} {msg} ({elapsed}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// What `checkpoints/<fit>/state.json` holds beside the model and Adam records.
#[derive(Debug, Serialize, serde::Deserialize)]
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

/// Splits the fit's animals into those fitted and, with `--early-stop`, validation animals
/// (a seeded `--validation-animals` fraction, at least one, at least one left to fit).
fn split_validation(idx: &[usize], args: &FitArgs) -> anyhow::Result<(Vec<usize>, Vec<usize>)> {
    if args.early_stop.is_none() {
        return Ok((idx.to_vec(), Vec::new()));
    }
    if idx.len() < 2 {
        bail!(
            "--early-stop needs at least two training animals (validation animals are held out of the fit)"
        );
    }
    if !(0.0..1.0).contains(&args.validation_animals) {
        bail!(
            "--validation-animals must be in [0, 1), got {}",
            args.validation_animals
        );
    }
    let n_valid =
        ((args.validation_animals * idx.len() as f64).round() as usize).clamp(1, idx.len() - 1);
    let folds = denovo_data::kfold_by_subject(idx.len(), idx.len(), args.seed ^ 0x5eed)?;
    let valid: Vec<usize> = folds
        .iter()
        .take(n_valid)
        .flat_map(|f| f.test.iter().map(|&i| idx[i]))
        .collect();
    let fit: Vec<usize> = idx.iter().copied().filter(|i| !valid.contains(i)).collect();
    Ok((fit, valid))
}

/// Writes `weights.csv`: subject, session, trial, split, then one column per regressor.
fn write_weights(
    path: &Path,
    data: &Dataset,
    design: &DesignMatrix,
    trajectories: &[Vec<Vec<f64>>],
    train_end: &[usize],
) -> anyhow::Result<()> {
    let mut out =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    let mut header = vec![
        "subject".to_string(),
        "session".into(),
        "trial".into(),
        "split".into(),
    ];
    header.extend(design.names.iter().map(|n| format!("w_{n}")));
    out.write_record(&header)?;
    for (((subject, d), traj), &end) in data
        .subjects
        .iter()
        .zip(&design.subjects)
        .zip(trajectories)
        .zip(train_end)
    {
        let mut t = 0;
        for session in &subject.sessions {
            for (j, _) in session.trials.iter().enumerate() {
                let mut row = vec![
                    d.subject.clone(),
                    session.id.clone(),
                    (j + 1).to_string(),
                    if t < end { "train" } else { "heldout" }.to_string(),
                ];
                row.extend(traj[t].iter().map(|w| format!("{w}")));
                out.write_record(&row)?;
                t += 1;
            }
        }
    }
    out.flush()?;
    Ok(())
}

//! `denovo fit`: the flags become a [`FitSpec`]; `denovo_study` fits it into a run
//! directory.

use anyhow::{Context, bail};
use clap::Args;
use denovo_data::Format;
use denovo_study::{
    BackendChoice, FitOptions, FitSpec, FitSummary, ModelKind, Precision, Progress, RunWriter,
    StudyError, ensemble,
};
use denovo_train::EpochReport;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `denovo fit`.
#[derive(Args, Debug, Clone, Serialize)]
#[command(
    allow_negative_numbers = true,
    after_help = "Examples:
  denovo fit ../shared/data/rat_W053.csv --model reinforce --holdout-sessions 0.2 --out runs/rat_reinforce
  denovo fit cohort.csv --model reinforce-baseline --folds 5 --out runs/cv
  denovo fit ibl_processed.csv --model qlearning --first-trials 10000 --fit-w0 --out runs/q
  denovo fit ONE_cache/cortexlab/Subjects --revision 2024-05-06 --model dnn --folds 5 --out runs/ibl
  denovo fit ../shared/data/rat_W053.csv --model psytrack --holdout-sessions 0.2 --out runs/rat_psy
  denovo fit cohort.csv --model dnn --holdout-sessions 0.2 --replicates 20 --out runs/dnn_ens
  denovo fit cohort.csv --model dnn --holdout-sessions 0.2 --gate correct-only --out runs/dnn_co

Writes RUN_DIR/summary.json (parameters, log-likelihood per trial on the training trials,
the held-out sessions and the held-out animals, per animal), RUN_DIR/model.mpk (the fitted
rule as a burn record), RUN_DIR/weights.csv (the weight trajectory w_t of every animal
under the fitted rule) and RUN_DIR/fit.toml (the settings; see docs/run-dir.md). The run is
written beside RUN_DIR and moved into place when complete, so RUN_DIR never holds half a
run; a RUN_DIR that holds files is replaced only with --force. The loss is the negative
log-likelihood per trial (nats); held-out LL is its negative on unseen trials. Every
built-in rule trains on hand-written exact gradients: parametric rules through their
closed form, dnn and rnn through one fused scan op per batch whose backward is registered
with burn's autodiff (--generic: burn autodiff through every trial instead, the reference
path; slow on long sequences)."
)]
pub struct FitArgs {
    /// The behaviour file (CSV) or ALF folder.
    #[arg(required_unless_present_any = ["resume", "config"])]
    pub data: Option<PathBuf>,
    /// The learning rule to fit: reinforce, reinforce-baseline, rewardmax, predictmax,
    /// qlearning, reinforce-streak (cap 3), dnn, rnn, psytrack (a random walk), or a rule
    /// with noise (the rule as the walk's drift): reinforce-noise, reinforce-baseline-noise,
    /// rewardmax-noise, predictmax-noise, qlearning-noise, dnn-noise, rnn-noise (the network
    /// fitted as dnn/rnn, then σ by the evidence with the network fixed).
    #[arg(long, required_unless_present_any = ["resume", "config"])]
    pub model: Option<ModelKind>,
    /// Run directory for summary.json, weights.csv, model.mpk, fit.toml.
    #[arg(long, required_unless_present_any = ["resume", "config"])]
    #[serde(skip)]
    pub out: Option<PathBuf>,
    /// Replace what RUN_DIR holds (an earlier run, or an interrupted fit of it).
    #[arg(long)]
    #[serde(skip)]
    pub force: bool,
    /// Read every setting from this TOML file (the `fit.toml` every run writes; its `out`
    /// unless --out is given); other flags are then ignored.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Continue an interrupted fit of RUN_DIR (even one killed with kill -9) with its
    /// settings, from its last checkpoint (finished folds are not refitted).
    #[arg(long, value_name = "RUN_DIR")]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
    /// Testing aid: exit abruptly (status 130, as if killed) after this many epochs.
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub interrupt_after: Option<usize>,
    /// Checkpoint every N epochs into RUN_DIR/checkpoints/ (0 = only finished fits).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: usize,
    /// Cross-validate over animals with K folds (needs K ≤ number of subjects; 0 = off).
    #[arg(long, default_value_t = 0)]
    pub folds: usize,
    /// Hold out the last fraction of every animal's sessions (0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub holdout_sessions: f64,
    /// Seed of the folds, the validation animals and the networks' initialisation.
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
    /// Early stopping on the last fraction of every animal's training sessions, scored
    /// one step ahead; the best epoch is kept (patience --early-stop, default 100; dnn/rnn
    /// up to 1000 epochs unless --epochs) [default: off].
    #[arg(long, value_name = "FRACTION")]
    pub validation_sessions: Option<f64>,
    /// Hidden layer widths of the dnn rule's MLP and of the rnn rule's read-out MLP.
    #[arg(long, value_delimiter = ',', default_value = "32,32")]
    pub hidden: Vec<usize>,
    /// Hidden size of the rnn rule's GRU.
    #[arg(long, default_value_t = 32)]
    pub gru_hidden: usize,
    /// Initial γ (per-weight output scale) of the dnn/rnn rules.
    #[arg(long, default_value_t = 1e-3)]
    pub gamma_init: f64,
    /// dnn/rnn: only rewarded (correct-only) or unrewarded (error-only) trials move w.
    #[arg(long, default_value = "none", value_name = "GATE")]
    pub gate: denovo_study::Gate,
    /// dnn/rnn: inputs the network does not see: reward,choice,answer,session-start,weights.
    #[arg(long, value_delimiter = ',', value_name = "INPUT")]
    pub drop_input: Vec<denovo_study::RuleInput>,
    /// Use burn autodiff through the per-trial graph even where the rule has a closed-form
    /// fast path (the reference; much slower).
    #[arg(long)]
    pub generic: bool,
    /// L2 penalty of Adam's weight decay on every parameter [default: none].
    #[arg(long, value_name = "PENALTY")]
    pub weight_decay: Option<f64>,
    /// Average the parameters of the last N epochs into the fitted model (Polyak / SWA;
    /// at most --epochs) [default: off].
    #[arg(long, value_name = "N")]
    pub average_epochs: Option<usize>,
    /// One Adam step per N animals (each epoch visits every animal once) [default: full batch].
    #[arg(long, value_name = "N")]
    pub minibatch: Option<usize>,
    /// Starting learning rate α of every weight.
    #[arg(long, default_value_t = 0.01)]
    pub init_alpha: f64,
    /// psytrack, *-noise: predict held-out sessions one step ahead, or with the last weights.
    #[arg(long, default_value = "one-step", value_name = "one-step|last-weights")]
    pub scoring: denovo_study::Scoring,
    /// psytrack, *-noise: also fit σ_day, the SD of the step into a session's first trial.
    #[arg(long)]
    pub sigma_day: bool,
    /// psytrack, *-noise: the prior SD σ_init of the first trial's weights.
    #[arg(long, default_value_t = 16.0)]
    pub sigma_init: f64,
    /// Fit each animal's initial weights (held-out animals start from their mean) instead of
    /// fixing them at 0.
    #[arg(long)]
    pub fit_w0: bool,
    /// Known initial weights per animal instead of 0: `truth` (the simulation's
    /// <data>.truth.json) or a CSV subject,w_<regressor>…, rows matched by subject name.
    #[arg(long, value_name = "truth|FILE")]
    pub w0: Option<String>,
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
    #[command(flatten)]
    #[serde(flatten)]
    pub alf: crate::AlfArgs,
    /// The compute backend: ndarray (CPU) or wgpu (GPU; needs the `wgpu` cargo feature).
    #[arg(long, default_value = "ndarray")]
    pub backend: BackendChoice,
    /// f32 (the fast kernels) or f64 (the reference kernel, ~5–10× slower; ndarray only).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
    /// Also fit N replicates (other seeds; see --resample) into RUN_DIR/replicates/.
    #[arg(long, default_value_t = 0, value_name = "N")]
    #[serde(skip)]
    pub replicates: usize,
    /// What each replicate fits: a bootstrap of the animals, or the same animals.
    #[arg(long, default_value = "animals", value_name = "animals|none")]
    #[serde(skip)]
    pub resample: denovo_study::Resample,
    /// No progress bar.
    #[arg(long)]
    #[serde(skip)]
    pub quiet: bool,
}

impl FitArgs {
    /// The fit the flags describe: the flags are `fit.toml`'s keys, read through the same
    /// parser (the data path made absolute, so the run directory reads the same anywhere).
    fn spec(&self) -> anyhow::Result<FitSpec> {
        let mut spec = FitSpec::from_toml(&toml::to_string(self)?)?;
        spec.data = std::path::absolute(&spec.data)?;
        Ok(spec)
    }
}

/// Runs `denovo fit`.
pub fn run(args: &FitArgs) -> anyhow::Result<()> {
    let (summary, out) = if let Some(dir) = &args.resume {
        let (writer, spec) = RunWriter::resume(dir)?;
        let summary = fit_into(writer, &spec, true, args.quiet, args.interrupt_after)?;
        (summary, dir.clone())
    } else {
        let (spec, out) = match &args.config {
            Some(path) => {
                let (mut spec, out) = FitSpec::read_config(path)?;
                spec.data = std::path::absolute(&spec.data)?;
                match args.out.clone().or(out) {
                    Some(out) => (spec, out),
                    None => bail!("{}: `out` is missing (or pass --out)", path.display()),
                }
            }
            None => (args.spec()?, args.out.clone().unwrap_or_default()),
        };
        spec.check()?;
        if args.replicates > 0 && spec.model.model.has_noise() {
            bail!(
                "--replicates: ensemble members are scored from their w0 without the walk's filter, so psytrack and the rules with noise have no ensemble yet"
            )
        }
        let spec = spec.resolved();
        if !args.quiet {
            eprintln!("{}", spec.training_line());
        }
        let writer = RunWriter::begin(&out, &spec, args.force)?;
        let summary = fit_into(writer, &spec, false, args.quiet, args.interrupt_after)?;
        if args.replicates > 0 {
            let (n, r) = (args.replicates, args.resample);
            let done = |i: usize, _: &FitSummary| eprintln!("replicate {i}/{n} fitted");
            let e = ensemble::fit_ensemble(&spec, &out, n, r, &done)?;
            println!("{}", e.line());
        }
        (summary, out)
    };
    let ll = |s: &Option<denovo_study::SplitScore>, what: &str| {
        s.as_ref()
            .map(|s| format!(", held-out {what} LL {:.4}/trial", s.ll_per_trial))
            .unwrap_or_default()
    };
    println!(
        "{}: train LL {:.4}/trial{}{} → {}",
        summary.model,
        summary.train.ll_per_trial,
        ll(&summary.heldout_sessions, "sessions"),
        ll(&summary.heldout_animals, "animals"),
        out.display()
    );
    Ok(())
}

/// Fits `spec` into a new run directory `out`, replacing what it holds (the demo).
pub fn fit_to_dir(spec: &FitSpec, out: &Path) -> anyhow::Result<FitSummary> {
    spec.check()?;
    let spec = spec.resolved();
    fit_into(
        RunWriter::begin(out, &spec, true)?,
        &spec,
        false,
        false,
        None,
    )
}

/// Fits `spec` into the run directory `writer` writes (quietly or with progress bars;
/// `interrupt_after`: the testing aid).
fn fit_into(
    writer: RunWriter,
    spec: &FitSpec,
    resume: bool,
    quiet: bool,
    interrupt_after: Option<usize>,
) -> anyhow::Result<FitSummary> {
    let mut bars = Bars {
        quiet,
        interrupt_after,
        bar: None,
        heldout: String::new(),
    };
    let options = FitOptions {
        progress: Some(&mut bars),
        checkpoints: Some(writer.checkpoints()),
        resume,
        dataset: None,
    };
    match denovo_study::fit_with(spec, options) {
        Ok(result) => {
            let summary = result.summary.clone();
            writer.commit(&result)?;
            Ok(summary)
        }
        Err(StudyError::Fit {
            label,
            reason,
            last_good,
        }) => {
            let path = writer.fail(&last_good)?;
            Err(anyhow::anyhow!("{reason}")).with_context(|| {
                format!(
                    "fitting {label}; the last good parameters are in {}",
                    path.display()
                )
            })
        }
        Err(e) => {
            if !resume {
                writer.abandon();
            }
            Err(e.into())
        }
    }
}

/// Progress bars of the fits (none with --quiet), and the --interrupt-after testing aid.
struct Bars {
    quiet: bool,
    interrupt_after: Option<usize>,
    bar: Option<ProgressBar>,
    heldout: String,
}

impl Progress for Bars {
    fn start(&mut self, label: &str, steps: usize) {
        self.heldout.clear();
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] epoch {pos}/{len} {msg} ({elapsed}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        self.bar = Some(bar);
    }
    fn epoch(&mut self, _: &str, r: &EpochReport, heldout_ll: Option<f64>) {
        if self.interrupt_after == Some(r.epoch) {
            std::process::exit(130);
        }
        if let Some(ll) = heldout_ll {
            self.heldout = format!("  held-out LL {ll:.5}");
        }
        if let Some(bar) = &self.bar {
            let valid = r
                .validation_ll
                .map(|v| format!("  validation LL {v:.5}"))
                .unwrap_or_default();
            bar.set_position(r.epoch as u64);
            bar.set_message(format!(
                "loss {:.5} nats/trial{}{valid}  lr {:.4}",
                r.loss, self.heldout, r.learning_rate
            ));
        }
    }
    fn finish(&mut self, _: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
    fn warning(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }
    fn wants_heldout(&self) -> bool {
        !self.quiet
    }
}

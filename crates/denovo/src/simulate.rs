//! `denovo simulate`.

use clap::Args;
use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::{CohortConfig, StimulusSet};
use std::path::PathBuf;

/// Arguments of `denovo simulate`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo simulate --rule reinforce --alpha 0.0625,0.015625 --animals 100 --trials 2000 \\
                  --seed 7 --out cohort.csv
  denovo simulate --rule reinforce-baseline --alpha 0.05,0.02 --beta 0.3,0.1 \\
                  --format ibl-csv --out ibl_processed.csv
  denovo simulate --rule rewardmax --alpha 0.5,0.1 --format ibl-alf --out alf_root/
  denovo simulate --rule reinforce-streak --stimuli=-2:0.25:2 --w0-from a.truth.json --out b.csv

The animals see x = [stim, bias] with stim = tanh(5c)/tanh(5) of the signed contrast.
Beside the data the true rule, its parameters and every animal's weight trajectory are
written to <out>.truth.json (inside the folder for ibl-alf).")]
pub struct SimulateArgs {
    /// The learning rule: reinforce, reinforce-baseline, rewardmax, predictmax, qlearning or
    /// reinforce-streak (Δw = α ⊙ (1 + min(k, K)) r (y − p) x, k = rewards in a row before).
    #[arg(long)]
    pub rule: RuleKind,
    /// Learning rates, one per weight: stim,bias.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "0.0625,0.015625"
    )]
    pub alpha: Vec<f64>,
    /// Baselines of reinforce-baseline, one per weight: stim,bias (default 0,0).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub beta: Vec<f64>,
    /// Inverse temperature of qlearning (default 1).
    #[arg(long)]
    pub inverse_temperature: Option<f64>,
    /// Cap K of reinforce-streak's count of preceding rewarded trials (default 3).
    #[arg(long, value_name = "K")]
    pub streak_cap: Option<usize>,
    /// Number of animals (default 10, or the number in --w0-from).
    #[arg(long)]
    pub animals: Option<usize>,
    /// Trials per animal.
    #[arg(long, default_value_t = 2000)]
    pub trials: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (a folder for ibl-alf).
    #[arg(long)]
    pub out: PathBuf,
    /// Output format: trials-csv, ibl-csv or ibl-alf (default: trials-csv for a .csv path,
    /// ibl-alf otherwise).
    #[arg(long)]
    pub format: Option<Format>,
    /// Session length in trials, N or MIN-MAX (uniform).
    #[arg(long, default_value = "300-500")]
    pub session_length: String,
    /// Stimuli: ibl (contrasts 0, 6.25, 12.5, 25, 50, 100 %), uniform (contrast in
    /// [0, 1]), or values used as the regressor itself, START:STEP:END or a list (e.g.
    /// --stimuli=-2:0.25:2, the paper's simulation; correct side right iff > 0).
    #[arg(long, default_value = "ibl", allow_hyphen_values = true)]
    pub stimuli: StimulusSet,
    /// Gain p of the stimulus regressor tanh(p·c)/tanh(p).
    #[arg(long, default_value_t = denovo_data::DEFAULT_CONTRAST_GAIN)]
    pub contrast_gain: f64,
    /// Mean initial weights: stim,bias.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "0,0"
    )]
    pub w0_mean: Vec<f64>,
    /// Standard deviation of the initial weights across animals: stim,bias.
    #[arg(long, value_delimiter = ',', default_value = "0,0")]
    pub w0_sd: Vec<f64>,
    /// Draw each animal's initial weights from sets instead: `STIM;BIAS`, each a value or
    /// a comma list drawn uniformly (the paper's simulation: --w0-choices="-2;-1,0,1").
    #[arg(long, allow_hyphen_values = true, value_name = "STIM;BIAS")]
    pub w0_choices: Option<String>,
    /// Each animal's w0 from FILE, row i for animal i (named sim00i): a truth sidecar or a
    /// CSV subject,stim,bias or subject,w_stim,w_bias (the latter also serves fit --w0).
    #[arg(long, value_name = "FILE")]
    #[arg(conflicts_with_all = ["w0_choices", "w0_mean", "w0_sd", "protocol"])]
    pub w0_from: Option<PathBuf>,
    /// Standard deviation of Gaussian weight noise per trial: stim,bias.
    #[arg(long, value_delimiter = ',', default_value = "0,0")]
    pub noise_sd: Vec<f64>,
    /// Train the animals under this protocol (TOML, see datasets/protocols/) instead of
    /// --trials/--session-length/--stimuli: stages of contrasts, sessions until every
    /// animal reaches the trained criterion or max_sessions. The sidecar then also lists
    /// each animal's trials to criterion.
    #[arg(long)]
    pub protocol: Option<PathBuf>,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let (session_min, session_max) = denovo_sim::parse_session_length(&args.session_length)
        .map_err(|e| anyhow::anyhow!("--session-length: {e}"))?;
    let mut config = CohortConfig {
        animals: args.animals.unwrap_or(10),
        trials: args.trials,
        session_min,
        session_max,
        stimuli: args.stimuli.clone(),
        contrast_gain: args.contrast_gain,
        w0_mean: args.w0_mean.clone(),
        w0_sd: args.w0_sd.clone(),
        w0_choices: match &args.w0_choices {
            Some(c) => {
                denovo_sim::parse_w0_choices(c).map_err(|e| anyhow::anyhow!("--w0-choices: {e}"))?
            }
            None => Vec::new(),
        },
        noise_sd: args.noise_sd.clone(),
        seed: args.seed,
        w0_per_animal: Vec::new(),
    };
    if let Some(path) = &args.w0_from {
        config = config.with_w0_from(path, args.animals)?;
    }
    let spec = RuleSpec {
        kind: args.rule,
        alpha: args.alpha.clone(),
        beta: args.beta.clone(),
        inverse_temperature: args.inverse_temperature,
        streak_cap: args.streak_cap,
    };
    let format = args.format.unwrap_or_else(|| Format::for_output(&args.out));
    if format == Format::Auto {
        anyhow::bail!("--format auto cannot be written; choose trials-csv, ibl-csv or ibl-alf");
    }
    let (said, sidecar, what) = if let Some(protocol) = &args.protocol {
        let p = denovo_sim::Protocol::from_file(protocol)?;
        let (data, outcomes) =
            denovo_study::simulate_rule_under(&spec, &p, config.animals, args.seed, &args.w0_mean)?;
        let sidecar = denovo_sim::write_protocol_cohort(
            &data, &outcomes, &spec, protocol, &args.out, format,
        )?;
        let trained = outcomes.iter().filter(|o| o.trials_to_trained.is_some());
        let said = format!(
            "{} animals by {} under {}: {} reached the trained criterion; accuracy {:.4}",
            config.animals,
            spec.kind.name(),
            protocol.display(),
            trained.count(),
            data.accuracy()
        );
        (said, sidecar, "true rule and trials to criterion")
    } else {
        let cohort = denovo_sim::simulate(&spec, &config)?;
        let sidecar = denovo_sim::write_cohort(&cohort, &args.out, format)?;
        let rule = &cohort.truth.rule;
        let beta = (!rule.beta.is_empty()).then(|| format!(", β = {:?}", rule.beta));
        let said = format!(
            "{} animals × {} trials by {} (α = {:?}{}): accuracy {:.4}",
            config.animals,
            config.trials,
            spec.kind.name(),
            rule.alpha,
            beta.unwrap_or_default(),
            cohort.dataset.accuracy()
        );
        (said, sidecar, "true rule and weight trajectories")
    };
    println!("simulated {said}");
    println!("wrote {} ({})", args.out.display(), format.name());
    println!("wrote {} ({what})", sidecar.display());
    Ok(())
}

//! `denovo twin`: virtual animals that learn by a fitted rule under a training protocol.

use clap::Args;
use denovo_sim::Protocol;
use denovo_study::{RunDir, twin_study};
use std::path::PathBuf;

/// Arguments of `denovo twin`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo twin runs/reinforce --protocol datasets/protocols/ibl_training.toml --animals 200
  denovo twin runs/dnn --protocol datasets/protocols/ibl_training.toml \\
              --compare datasets/protocols/easy_first.toml --out twin/
  denovo twin runs/reinforce --protocol p.toml --observed cohort.csv

Virtual animals start from the run's initial weights (the mean fitted w0, else 0), choose
by p(right) = σ(w·x) and learn by the fitted rule, session by session, under the
protocol's contrast stages (protocol TOML: session_trials, sessions_per_day, max_sessions,
easy_contrast, [[stage]] contrasts / advance_accuracy / advance_sessions, [criterion]).
Reported: trials and sessions to the IBL \"trained 1a\" criterion, as implemented: over 3
consecutive sessions pooled, ≥ 80% correct on easy trials (|contrast| ≥ easy_contrast), at
least 4 distinct contrasts shown, and a psychometric fit p(right) = λ + (1 − 2λ)Φ((c − μ)/σ)
(c in % contrast; maximum likelihood on a grid) with |μ| < 16, σ < 19 and λ < 0.2 (one
lapse rate for both sides; IBL fits two). --observed computes the same for real (or
simulated) animals whose data has contrastLeft/contrastRight inputs.")]
pub struct TwinArgs {
    /// The run directory of `denovo fit` (its regressors: stim, bias, prev_*).
    pub run: PathBuf,
    /// The training protocol (TOML; see datasets/protocols/).
    #[arg(long)]
    pub protocol: PathBuf,
    /// A second protocol to simulate side by side.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Number of virtual animals per protocol.
    #[arg(long, default_value_t = 200)]
    pub animals: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Behaviour of real (or simulated) animals to score by the same criterion.
    #[arg(long)]
    pub observed: Option<PathBuf>,
    #[command(flatten)]
    pub alf: crate::AlfArgs,
    /// Write the virtual animals' behaviour and the figure (twin.png/svg) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print JSON (schema `denovo.twin/1`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `denovo twin`.
pub fn run(args: &TwinArgs) -> anyhow::Result<()> {
    let run = RunDir::load(&args.run)?;
    let mut protocols = vec![Protocol::from_file(&args.protocol)?];
    if let Some(p) = &args.compare {
        protocols.push(Protocol::from_file(p)?);
    }
    let options = args.alf.options(denovo_data::Format::Auto);
    let observed = args.observed.as_deref().map(|p| (p, &options));
    let out = args.out.as_deref();
    let study = twin_study(&run, protocols, args.animals, args.seed, observed, out)?;
    if let Some(out) = out {
        denovo_report::twin_figure(&study.groups, out)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&study)?)?
        );
        return Ok(());
    }
    print!("{}", denovo_report::text::twin_table(&study.groups));
    println!("(trials and sessions to the trained-1a criterion; median over trained animals)");
    if let Some(out) = out {
        println!("figure and virtual behaviour: {}", out.display());
    }
    Ok(())
}

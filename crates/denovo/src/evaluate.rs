//! `denovo evaluate`: score a saved rule on new data.

use clap::Args;
use denovo_data::Format;
use denovo_study::RunDir;
use std::path::PathBuf;

/// Arguments of `denovo evaluate`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo evaluate runs/rat_reinforce ../shared/data/rat_W053.csv
  denovo evaluate runs/cv new_animals.csv --json

Runs the fitted rule through every animal of DATA from w0 = 0 (or the mean fitted w0 of
the run) with the run's regressors, and reports the log-likelihood per trial and the
accuracy, overall and per animal.")]
pub struct EvaluateArgs {
    /// The run directory of `denovo fit`.
    pub run: PathBuf,
    /// The behaviour to score.
    pub data: PathBuf,
    /// The data format.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    #[command(flatten)]
    pub alf: crate::AlfArgs,
    /// Print JSON (the `SplitScore` document of docs/cli.md) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `denovo evaluate`.
pub fn run(args: &EvaluateArgs) -> anyhow::Result<()> {
    let run = RunDir::load(&args.run)?;
    let scored = denovo_study::evaluate_run(&run, &args.data, &args.alf.options(args.format))?;
    if args.json {
        let doc = serde_json::to_value(&scored)?;
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let what = format!("{} on {}", run.model(), args.data.display());
    print!("{}", denovo_report::text::score_text(&what, &scored.score));
    Ok(())
}

//! `denovo recover`: a fitted run against the truth of the simulation it was fitted on.

use clap::Args;
use denovo_study::recovery::{RecoverInput, recover};
use std::path::PathBuf;

/// Arguments of `denovo recover`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo recover paper.truth.json runs/dnn --test test.csv --grid-w 101 --json

Reports the paper's grid metric (fitted vs true Δw_stim, relative to the true RMS; pass < 10%),
with --test the held-out LL of both rules from the test animals' true w0 (pass |ΔLL| < 0.003
nats/trial) and the weight-path error, and Δw after k rewarded vs k error trials (docs/cli.md).")]
pub struct RecoverArgs {
    /// The truth sidecar (<data>.truth.json) of the data the run was fitted on.
    pub truth: PathBuf,
    /// The run directory of `denovo fit`.
    pub run: PathBuf,
    /// Held-out test data: a second simulated cohort, its sidecar beside it.
    #[arg(long, value_name = "TEST_DATA")]
    pub test: Option<PathBuf>,
    /// A second run on the same data: paired test across the test animals (needs --test).
    #[arg(long, value_name = "RUN_DIR")]
    pub against: Option<PathBuf>,
    /// Number of w_stim values of the grid, linspace(−2, 2, N).
    #[arg(long, value_name = "N", default_value_t = 1001)]
    pub grid_w: usize,
    /// Print JSON (schema `denovo.recover/1`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `denovo recover`.
pub fn run(args: &RecoverArgs) -> anyhow::Result<()> {
    let mut input = RecoverInput::new(&args.truth, &args.run);
    input.test.clone_from(&args.test);
    input.grid_w = args.grid_w;
    input.against.clone_from(&args.against);
    let report = recover(&input)?;
    match args.json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => print!("{}", report.text()),
    }
    Ok(())
}

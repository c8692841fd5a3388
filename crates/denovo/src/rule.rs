//! `denovo rule`: the fitted learning rule read out on a grid.

use clap::Args;
use denovo_study::{RuleGrid, RunDir};
use std::path::PathBuf;

/// Arguments of `denovo rule`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo rule runs/dnn --out runs/dnn/grid.csv
  denovo rule runs/rnn --history 3 --out grid.csv

The grid: every weight w_j on −2, −1.5, …, 2 (the bias weight on −1, 0, 1), every
non-bias regressor x_j on its typical values (stim: the signed IBL contrasts through
tanh(5c)/tanh(5); others −1, −0.5, 0, 0.5, 1), choice left/right and the trial correct or
not (the correct side follows). Each row gives Δw = w_{t+1} − w_t after that trial. The
same grid for every model, so parametric and neural rules compare row by row. For rnn
runs, --history K adds the read-out after K rewarded and after K unrewarded trials.
A run with replicates (fit --replicates N) or checks (denovo check) adds
dw_<r>_mean/_q025/_q50/_q975: the members' statistics, the 2.5/97.5% ends widened by every
check's errors (fit − mean error ± t·sd of its refits; see `denovo check --help`); `visits` counts the training trials whose fitted w_t, x_t and outcome fall in the
point's cell (0: the data never go there).")]
pub struct RuleArgs {
    /// The run directory of `denovo fit`.
    pub run: PathBuf,
    /// Output CSV.
    #[arg(long)]
    pub out: PathBuf,
    /// For rnn runs: also condition on the previous K trials all rewarded / all unrewarded.
    #[arg(long, default_value_t = 0)]
    pub history: usize,
}

/// Runs `denovo rule`.
pub fn run(args: &RuleArgs) -> anyhow::Result<()> {
    let run = RunDir::load(&args.run)?;
    run.require_learning_rule("denovo rule")?;
    if args.history > 0 && !run.rule.has_history() {
        eprintln!(
            "note: --history is ignored for {} (the rule has no memory)",
            run.model()
        );
    }
    let (grid, warning) = RuleGrid::of_run_dir(&run, args.history)?;
    warning.into_iter().for_each(|w| eprintln!("warning: {w}"));
    grid.write_csv(&args.out)?;
    println!(
        "{}: Δw of the {} rule on {} grid points × {} condition(s) → {}",
        run.dir.display(),
        run.model(),
        grid.points.len(),
        grid.conditions.len(),
        args.out.display()
    );
    if grid.band.is_some() {
        println!(
            "band: {} member(s), checks: {}",
            grid.members,
            if grid.checks.is_empty() {
                "none".to_string()
            } else {
                grid.checks.join(", ")
            }
        );
    }
    Ok(())
}

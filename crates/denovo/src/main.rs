//! `denovo`: infer how animals learn from trial-by-trial behaviour.

mod bench;
mod check;
mod demo;
mod evaluate;
mod fit;
mod inspect;
mod recover;
mod report;
mod rule;
mod simulate;
mod sweep;
mod twin;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: denovo_benches::epochs::CountingAllocator =
    denovo_benches::epochs::CountingAllocator;

/// Infer how animals learn: load trial-by-trial behaviour, simulate learners with known
/// rules, fit learning rules to real animals and score them on held-out animals and
/// sessions, read the rules out, report, and run digital twins.
#[derive(Parser, Debug)]
#[command(
    name = "denovo",
    version,
    about,
    after_help = "Examples:
  denovo demo                                   simulate a cohort, inspect it and the rat
  denovo inspect ../shared/data/rat_W053.csv    counts and the learning curve
  denovo simulate --rule reinforce --alpha 0.0625,0.015625 --animals 20 --trials 2000 \\
                  --seed 1 --out cohort.csv"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which ALF revision and collection to read (IBL trees as ONE caches them; docs/cli.md).
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize)]
pub struct AlfArgs {
    /// ALF: pin a revision; per dataset it, or the latest before it (default: the latest).
    #[arg(long)]
    pub revision: Option<String>,
    /// ALF: the collection of the trials, e.g. alf/task_00 (default: the one with trials).
    #[arg(long)]
    pub collection: Option<String>,
}

impl AlfArgs {
    /// The load options of these flags and `format`.
    pub fn options(&self, format: denovo_data::Format) -> denovo_data::LoadOptions {
        denovo_data::LoadOptions::alf(format, self.revision.clone(), self.collection.clone())
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Summarise a behaviour file: subjects, sessions, trials, what was skipped, learning curve.
    Inspect(inspect::InspectArgs),
    /// Simulate a cohort learning the IBL task by a known rule (with a ground-truth sidecar).
    Simulate(simulate::SimulateArgs),
    /// Fit a learning rule by maximum likelihood; score it on held-out animals and sessions.
    Fit(fit::FitArgs),
    /// Read out a fitted rule: Δw on a grid of weights, stimuli and outcomes (grid.csv).
    Rule(rule::RuleArgs),
    /// Which parts of a fitted rule the data determine: refits of cohorts simulated from it.
    Check(check::CheckArgs),
    /// Score a fitted rule on (new) behaviour.
    Evaluate(evaluate::EvaluateArgs),
    /// The built-in main job: simulate a cohort and fit every rule, then the rat; reports.
    Demo(demo::DemoArgs),
    /// Figures and an HTML report of fitted runs: curves, weights, rules, model comparison.
    Report(report::ReportArgs),
    /// Digital twins of a fitted rule under training protocols: trials to the IBL criterion.
    Twin(twin::TwinArgs),
    /// A fitted run against the truth of its simulation: grid error, held-out LL, history.
    Recover(recover::RecoverArgs),
    /// Time training epochs of the neural rules: fused kernels vs burn autodiff, peak
    /// memory, GFLOP/s.
    Bench(bench::BenchArgs),
    /// Many fits at once (folds × seeds × models) on local workers or a SLURM array job.
    Sweep(sweep::SweepArgs),
}

fn main() -> ExitCode {
    // End quietly, like other Unix tools, when the reader goes away (`| head`).
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    denovo_report::text::warnings_to_stderr();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Fit(args) => fit::run(&args),
        Command::Rule(args) => rule::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Twin(args) => twin::run(&args),
        Command::Recover(args) => recover::run(&args),
        Command::Sweep(args) => sweep::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut said = err.to_string();
            eprintln!("error: {said}");
            // Causes whose text the message already shows are not repeated.
            for text in err.chain().skip(1).map(ToString::to_string) {
                if !said.contains(&text) {
                    eprintln!("  caused by: {text}");
                    said.push_str(&text);
                }
            }
            ExitCode::FAILURE
        }
    }
}

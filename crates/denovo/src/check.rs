//! `denovo check`: which parts of a fitted rule the run's own data determine.

use clap::Args;
use denovo_study::RunDir;
use denovo_study::check::{check_run, refit_workers};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Arguments of `denovo check`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo check runs/dnn --replicates 4
  denovo check runs/rat_dnn --replicates 8 --jobs 2
  denovo check runs/dnn --replicates 8 --generator runs/reinforce

Simulates N cohorts from the run's fitted rule on the data's own trials (each training
animal's stimuli, correct sides, sessions and fitted w0; choices drawn from the policy,
reward 1 when correct), refits each with the run's fit.toml (no folds), and compares the
refits' Δw with the generating rule on the grid of `denovo rule`. Per slice (Δw of one
regressor after correct / after error trials, over the grid cells the training animals
visit): identified when the recovery error (RMS of refit − generator) ≤ 20% of the
slice's RMS.

A fitter that pulls every fit the same way (a DNN that moves w after errors whatever the
truth) passes the check against its own rule. --generator OTHER_RUN simulates from another
run's rule fitted on the same data (e.g. the best parametric rule) and refits with RUN's
settings: a feature the refits add to that generator is the fitter's, not the data's.

Writes RUN_DIR/checks/NAME/ (NAME: self, or the generator run's folder name): check.json
(verdicts), check.csv (bias, spread and error per grid point) and the refits' rules (rNN/).
`denovo rule` and `denovo report` widen the rule's band by every check's error (bias-
corrected: fit − mean error ± t·sd), print the worst verdict per slice and grey out the
slices a check does not identify.")]
pub struct CheckArgs {
    /// The run directory of `denovo fit`.
    pub run: PathBuf,
    /// Simulated cohorts, each refitted once.
    #[arg(long, default_value_t = 4)]
    pub replicates: usize,
    /// Simulate from this run's rule (fitted on the same data and regressors) instead of
    /// RUN's own, and compare RUN's refits with it.
    #[arg(long, value_name = "OTHER_RUN")]
    pub generator: Option<PathBuf>,
    /// Refits at once (default: as many as cores; the kernels share the cores).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `denovo check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.replicates > 0, "--replicates must be at least 1");
    let run = RunDir::load(&args.run)?;
    run.require_learning_rule("denovo check")?;
    let generator = match &args.generator {
        Some(g) => {
            let g = RunDir::load(g)?;
            g.require_learning_rule("denovo check --generator")?;
            Some(g)
        }
        None => None,
    };
    let (workers, threads) = refit_workers(args.replicates, args.jobs);
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let from = generator
            .as_ref()
            .map_or_else(|| "its own rule".to_string(), |g| g.label());
        eprintln!(
            "checking {}: {} cohorts simulated from {from}, {workers} refit(s) at a time × {threads} kernel thread(s)",
            run.label(),
            args.replicates
        );
        ProgressBar::new(args.replicates as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("refits {bar:30} {pos}/{len} [{elapsed_precise} < {eta}]")
            .expect("a valid template"),
    );
    bar.tick();
    let started = std::time::Instant::now();
    let check = check_run(
        &run,
        generator.as_ref(),
        args.replicates,
        args.jobs,
        &|_| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let dir = check.write(&args.run)?;
    println!("generator: {}", check.summary.generator);
    print!("{}", check.summary.table());
    println!(
        "{} refits in {:.0} s → {}",
        args.replicates,
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

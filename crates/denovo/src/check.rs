//! `denovo check`: which parts of a fitted rule the run's own data determine.

use clap::Args;
use denovo_study::RunDir;
use denovo_study::check::{CHECK_CSV, CHECK_FILE, check_run, refit_workers};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Arguments of `denovo check`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo check runs/dnn --replicates 4
  denovo check runs/rat_dnn --replicates 8 --jobs 2

Simulates N cohorts from the run's fitted rule on the data's own trials (each training
animal's stimuli, correct sides, sessions and fitted w0; choices drawn from the policy,
reward 1 when correct), refits each with the run's fit.toml (no folds), and compares the
refits' Δw with the generating rule on the grid of `denovo rule`. Per slice (Δw of one
regressor after correct / after error trials, over the grid cells the training animals
visit): identified when the recovery error (RMS of refit − generator) ≤ 20% of the
slice's RMS. Writes RUN_DIR/check.json (verdicts) and RUN_DIR/check.csv (bias, spread
and error per grid point); `denovo report` prints the verdicts on the rule figure.")]
pub struct CheckArgs {
    /// The run directory of `denovo fit`.
    pub run: PathBuf,
    /// Simulated cohorts, each refitted once.
    #[arg(long, default_value_t = 4)]
    pub replicates: usize,
    /// Refits at once (default: as many as cores; the kernels share the cores).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `denovo check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let run = RunDir::load(&args.run)?;
    run.require_learning_rule("denovo check")?;
    let (workers, threads) = refit_workers(args.replicates, args.jobs);
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        eprintln!(
            "checking {}: {} simulated cohorts, {workers} refit(s) at a time × {threads} kernel thread(s)",
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
    let check = check_run(&run, args.replicates, args.jobs, &|_| bar.inc(1))?;
    bar.finish_and_clear();
    check.write(&args.run)?;
    print!("{}", check.summary.table());
    println!(
        "{} refits in {:.0} s → {}, {}",
        args.replicates,
        started.elapsed().as_secs_f64(),
        args.run.join(CHECK_FILE).display(),
        args.run.join(CHECK_CSV).display()
    );
    Ok(())
}

//! `denovo bench`: seconds per training epoch of the neural rules, fused kernels in f32 and
//! f64 vs the generic path, with peak memory, GFLOP/s and the fraction of the machine's peak
//! (measured by `denovo_benches::epochs`).

use clap::Args;
use denovo_benches::epochs::{Options, Precision};

/// Arguments of `denovo bench`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo bench                       the reference workload, 12 animals × 10,000 trials
  denovo bench --large               also 140 animals × 20,000 trials (the IBL cohort size)
  denovo bench --models dnn --precision f32 --json

Each row times whole training epochs (forward + backward + Adam) one by one through the
same trainer `denovo fit` uses and reports their median (as benches/jax/epoch.py does),
then their mean, on a simulated REINFORCE cohort (inputs stim, bias), in f32 (the fast
kernels, `denovo fit`'s default) and f64 (the reference kernel, `--precision f64`). The
generic path (burn autodiff trial by trial) grows faster than linearly with the sequence
length, so it is timed on the first --generic-trials trials of each animal and compared
with the fused path on that same short workload. Peak memory is the peak of live heap
bytes during the timed epochs above what was live before them (the data included). FLOPs
count the useful multiply-adds: forward + backward, 3 × the forward's matrix products, for
both rules (the adjoint pass's recomputation of what did not fit the tape is not counted).
The fraction of peak is GFLOP/s (at the median) over the machine's f32 FMA peak, measured
at start-up on every thread, the best of five rounds (an f64 kernel's own ceiling is half
of it). Build with --release: debug
timings mean little.")]
pub struct BenchArgs {
    /// Models to time (comma-separated): dnn, rnn.
    #[arg(long, value_delimiter = ',', default_value = "dnn,rnn")]
    pub models: Vec<String>,
    /// Precision of the fused kernels: f32, f64 or both.
    #[arg(long, default_value = "both")]
    pub precision: String,
    /// Timed epochs per fused measurement (at 140 × 20,000: a fifth of them in f32, 1 in f64).
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Trials per animal for the generic path (0 skips it).
    #[arg(long, default_value_t = 500)]
    pub generic_trials: usize,
    /// Also time the large workload, 140 animals × 20,000 trials.
    #[arg(long)]
    pub large: bool,
    /// Print JSON (schema `denovo.bench/1`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `denovo bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) && !args.json {
        eprintln!(
            "note: a debug build; run `cargo run --release -p denovo -- bench` for real figures"
        );
    }
    let options = Options {
        models: args.models.clone(),
        precisions: Precision::parse_list(&args.precision)?,
        epochs: args.epochs,
        generic_trials: args.generic_trials,
        large: args.large,
    };
    let report = denovo_benches::epochs::run(&options, &mut |line| {
        if !args.json {
            println!("{line}");
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(mb) = report.process_peak_rss_mb {
        println!("process peak resident memory (all workloads, data included): {mb:.0} MB");
    }
    Ok(())
}

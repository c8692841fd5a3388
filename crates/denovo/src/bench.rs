//! `denovo bench`: seconds per training epoch of the neural rules, fused vs generic path,
//! with peak memory and achieved GFLOP/s (measured by `denovo_benches::epochs`).

use clap::Args;
use denovo_benches::epochs::{Report, Row, measure};
use denovo_train::GradientPath;

/// Arguments of `denovo bench`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo bench                       the reference workload, 12 animals × 10,000 trials
  denovo bench --large               also 140 animals × 20,000 trials (the IBL cohort size)
  denovo bench --models dnn --json

Each row times whole training epochs (forward + backward + Adam) through the same trainer
`denovo fit` uses, on a simulated REINFORCE cohort (inputs stim, bias). The generic path
(burn autodiff trial by trial) grows faster than linearly with the sequence length, so it
is timed on the first --generic-trials trials of each animal and compared with the fused
path on that same short workload. Peak memory is the peak of live heap bytes during the
timed epochs above what was live before them (the data included). FLOPs count the
multiply-adds of the kernel as run: DNN forward + backward (3 × the forward's matrix
products); RNN forward, the backward pass's recomputation and the backward (4 ×).
Build with --release: debug timings mean little.")]
pub struct BenchArgs {
    /// Models to time (comma-separated): dnn, rnn.
    #[arg(long, value_delimiter = ',', default_value = "dnn,rnn")]
    pub models: Vec<String>,
    /// Timed epochs per fused measurement.
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
    let mut workloads = vec![(12, 10_000)];
    if args.large {
        workloads.push((140, 20_000));
    }
    let mut rows = Vec::new();
    for model in &args.models {
        for &(animals, trials) in &workloads {
            let epochs = if animals * trials > 200_000 {
                1.max(args.epochs / 5)
            } else {
                args.epochs
            };
            rows.push(measure(model, GradientPath::Fast, animals, trials, epochs)?);
            print_progress(args, rows.last());
        }
        if args.generic_trials > 0 {
            let short = args.generic_trials;
            rows.push(measure(model, GradientPath::Fast, 12, short, args.epochs)?);
            print_progress(args, rows.last());
            rows.push(measure(
                model,
                GradientPath::Generic,
                12,
                short,
                args.epochs.min(3),
            )?);
            print_progress(args, rows.last());
            let (f, g) = (&rows[rows.len() - 2], &rows[rows.len() - 1]);
            if !args.json {
                println!(
                    "  {model}: fused is {:.0}× the generic path on 12 × {short} trials",
                    g.seconds_per_epoch / f.seconds_per_epoch
                );
            }
        }
    }
    let report = Report::new(rows);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(mb) = report.process_peak_rss_mb {
        println!("process peak resident memory (all workloads, data included): {mb:.0} MB");
    }
    Ok(())
}

fn print_progress(args: &BenchArgs, row: Option<&Row>) {
    if let (false, Some(r)) = (args.json, row) {
        println!(
            "{:4} {:8} {:4} × {:6} trials  {:9.4} s/epoch  peak heap {:8.1} MB  {:7.3} GFLOP/epoch  {:6.2} GFLOP/s",
            r.model,
            r.path,
            r.animals,
            r.trials,
            r.seconds_per_epoch,
            r.peak_heap_mb,
            r.gflop_per_epoch,
            r.gflop_per_second
        );
    }
}

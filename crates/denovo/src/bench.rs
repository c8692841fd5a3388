//! `denovo bench`: seconds per training epoch of the neural rules, fused vs generic path,
//! with peak memory and achieved GFLOP/s.

use anyhow::Context;
use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use clap::Args;
use denovo_nn::{DnnConfig, DnnRule, RnnConfig, RnnRule};
use denovo_rules::{LearningRule, RuleKind, RuleSpec};
use denovo_train::{FitConfig, FitHooks, GradientPath, RuleFit, SequenceBatch};
use serde::Serialize;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

type Train = Autodiff<NdArray<f32>>;

/// The system allocator, counting live and peak heap bytes (for `denovo bench`).
pub struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only adds counters.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Restarts the peak-heap count from the current live bytes; returns them.
fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

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

/// One measurement.
#[derive(Debug, Serialize)]
struct Row {
    model: String,
    path: String,
    animals: usize,
    trials: usize,
    seconds_per_epoch: f64,
    peak_heap_mb: f64,
    gflop_per_epoch: f64,
    gflop_per_second: f64,
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    schema: &'static str,
    threads: usize,
    rows: Vec<Row>,
    /// The process's peak resident set (VmHWM, Linux), MB.
    process_peak_rss_mb: Option<f64>,
}

/// VmHWM of this process from /proc/self/status, MB (Linux only).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1e3)
}

fn cohort(animals: usize, trials: usize) -> anyhow::Result<SequenceBatch<Train>> {
    let spec = RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![1.0 / 16.0, 1.0 / 64.0],
        beta: vec![],
        inverse_temperature: None,
    };
    let config = denovo_sim::CohortConfig {
        animals,
        trials,
        seed: 7,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&spec, &config).context("simulating the bench cohort")?;
    let design = cohort.dataset.design(&Default::default())?;
    Ok(SequenceBatch::whole(&design.subjects, &Default::default()))
}

/// Multiply-adds × 2 of one forward step of dense layers `sizes[i] → sizes[i+1]`.
fn dense_flops(sizes: &[usize]) -> f64 {
    sizes.windows(2).map(|p| 2.0 * (p[0] * p[1]) as f64).sum()
}

/// FLOPs per trial of the kernel as run (see `--help`).
fn flops_per_trial(model: &str, k: usize) -> f64 {
    let input = denovo_nn::rule_input_size(k);
    if model == "dnn" {
        let c = DnnConfig::default();
        let mut sizes = vec![input];
        sizes.extend(&c.hidden);
        sizes.push(k);
        3.0 * dense_flops(&sizes)
    } else {
        let c = RnnConfig::default();
        let mut head = vec![c.hidden];
        head.extend(&c.head);
        head.push(k);
        let gru = dense_flops(&[input, 3 * c.hidden]) + dense_flops(&[c.hidden, 3 * c.hidden]);
        4.0 * (gru + dense_flops(&head))
    }
}

/// Times `epochs` training epochs of `rule` on `batch`; returns (s/epoch, peak heap bytes).
fn time_fit<R>(
    rule: R,
    batch: &SequenceBatch<Train>,
    path: GradientPath,
    epochs: usize,
) -> anyhow::Result<(f64, usize)>
where
    R: LearningRule<Train> + AutodiffModule<Train> + burn::module::ModuleDisplay,
    R::InnerModule: burn::module::ModuleDisplay
        + LearningRule<<Train as burn::tensor::backend::AutodiffBackend>::InnerBackend>,
{
    let w0 = denovo_glm::float_tensor::<Train, 2>(
        vec![0.0; batch.n_animals() * batch.n_features],
        [batch.n_animals(), batch.n_features],
        &Default::default(),
    );
    let config = FitConfig {
        epochs,
        path,
        // `denovo fit`'s default for the neural rules.
        learning_rate: 3e-3,
        ..FitConfig::default()
    };
    let base = reset_peak();
    let start = Instant::now();
    denovo_train::fit(
        RuleFit::fixed_w0(rule),
        batch,
        &w0,
        &config,
        FitHooks::default(),
        &mut |_, _| true,
    )
    .map_err(|e| anyhow::anyhow!("bench fit failed: {}", e.reason))?;
    let seconds = start.elapsed().as_secs_f64() / epochs as f64;
    Ok((seconds, PEAK.load(Ordering::Relaxed).saturating_sub(base)))
}

fn measure(
    model: &str,
    path: GradientPath,
    animals: usize,
    trials: usize,
    epochs: usize,
) -> anyhow::Result<Row> {
    let device = Default::default();
    let batch = cohort(animals, trials)?;
    let k = batch.n_features;
    let (seconds, peak) = match model {
        "dnn" => {
            time_fit::<DnnRule<Train>>(DnnConfig::default().init(k, &device), &batch, path, epochs)?
        }
        "rnn" => {
            time_fit::<RnnRule<Train>>(RnnConfig::default().init(k, &device), &batch, path, epochs)?
        }
        other => anyhow::bail!("--models: unknown model `{other}` (expected dnn or rnn)"),
    };
    let gflop = flops_per_trial(model, k) * (animals * trials) as f64 / 1e9;
    Ok(Row {
        model: model.into(),
        path: match path {
            GradientPath::Fast => "fused".into(),
            GradientPath::Generic => "generic".into(),
        },
        animals,
        trials,
        seconds_per_epoch: seconds,
        peak_heap_mb: peak as f64 / 1e6,
        gflop_per_epoch: gflop,
        gflop_per_second: gflop / seconds,
    })
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
    let report = Report {
        schema: "denovo.bench/1",
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rows,
        process_peak_rss_mb: peak_rss_mb(),
    };
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

//! Seconds per training epoch of the neural rules (forward + backward + Adam, through the
//! trainer `denovo fit` uses), fused kernels in f32 and f64 vs burn autodiff, with peak heap
//! memory, achieved GFLOP/s and the fraction of the machine's measured peak: what `denovo
//! bench` prints ([`run`]).

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, ModuleDisplay};
use burn::tensor::backend::AutodiffBackend;
use denovo_nn::{DnnConfig, DnnRule, RnnConfig, RnnRule, ScanBackend, SimdLevel};
use denovo_rules::LearningRule;
use denovo_train::{FitConfig, FitHooks, GradientPath, RuleFit, SequenceBatch};
use serde::Serialize;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The f32 training backend (`denovo fit`'s default): the fast f32 kernels.
type Train32 = Autodiff<NdArray<f32>>;
/// The f64 training backend (`denovo fit --precision f64`): the f64 reference kernel.
type Train64 = Autodiff<NdArray<f64>>;

/// The float precision of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// `Autodiff<NdArray<f32>>`: the f32 kernels (animals in SIMD lanes), the default.
    F32,
    /// `Autodiff<NdArray<f64>>`: the f64 reference kernel.
    F64,
}

impl Precision {
    /// `f32` or `f64`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// The precisions `f32`, `f64` or `both` names (f32 first).
    ///
    /// Errors: [`BenchError::UnknownPrecision`].
    pub fn parse_list(s: &str) -> Result<Vec<Precision>, BenchError> {
        match s {
            "f32" => Ok(vec![Precision::F32]),
            "f64" => Ok(vec![Precision::F64]),
            "both" => Ok(vec![Precision::F32, Precision::F64]),
            other => Err(BenchError::UnknownPrecision(other.into())),
        }
    }
}

/// The system allocator, counting live and peak heap bytes. Install it in a binary with
/// `#[global_allocator] static A: CountingAllocator = CountingAllocator;` for
/// [`Row::peak_heap_mb`] to be measured (it reads 0 otherwise).
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

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A model name other than `dnn` or `rnn`.
    #[error("unknown model `{0}` (expected dnn or rnn)")]
    UnknownModel(String),
    /// A precision other than `f32`, `f64` or `both`.
    #[error("unknown precision `{0}` (expected f32, f64 or both)")]
    UnknownPrecision(String),
    /// Simulating the cohort failed.
    #[error("simulating the bench cohort: {0}")]
    Sim(#[from] denovo_sim::SimError),
    /// Building its design failed.
    #[error(transparent)]
    Data(#[from] denovo_data::LoadError),
    /// The timed fit stopped (non-finite loss).
    #[error("bench fit failed: {0}")]
    Fit(String),
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `dnn` or `rnn`.
    pub model: String,
    /// `fused` (the kernels) or `generic` (burn autodiff through every trial).
    pub path: String,
    /// `f32` (the fast kernels, `denovo fit`'s default) or `f64` (the reference kernel).
    pub precision: Precision,
    /// Animals in the batch.
    pub animals: usize,
    /// Trials per animal.
    pub trials: usize,
    /// Wall time of one epoch (s): the median of the timed epochs, as the JAX reference
    /// (`benches/jax/epoch.py`) reports its own; the first epoch (which packs the cohort
    /// for the kernels) is counted like any other.
    pub seconds_per_epoch: f64,
    /// Mean wall time of the timed epochs (s), the first included.
    pub mean_seconds_per_epoch: f64,
    /// Fastest timed epoch (s).
    pub min_seconds_per_epoch: f64,
    /// Timed epochs.
    pub epochs: usize,
    /// Peak live heap during the timed epochs above what was live before (MB).
    pub peak_heap_mb: f64,
    /// FLOPs of one epoch's kernel work (10⁹).
    pub gflop_per_epoch: f64,
    /// Achieved rate (10⁹ FLOP/s).
    pub gflop_per_second: f64,
    /// `gflop_per_second` ÷ the machine's measured f32 peak ([`Report::peak_gflop_per_second`];
    /// an f64 kernel's own ceiling is half of it). 0 until [`Row::with_peak`].
    pub fraction_of_peak: f64,
}

impl Row {
    /// The row with its fraction of `peak` (GFLOP/s) filled in.
    pub fn with_peak(mut self, peak: f64) -> Row {
        self.fraction_of_peak = self.gflop_per_second / peak;
        self
    }

    /// The row as one line of `denovo bench`'s table.
    pub fn line(&self) -> String {
        format!(
            "{:4} {:8} {} {:4} × {:6} trials  {:9.4} s/epoch (mean {:.4})  peak heap {:8.1} MB  {:7.3} GFLOP/epoch  {:6.2} GFLOP/s  {:5.1}% of peak",
            self.model,
            self.path,
            self.precision.name(),
            self.animals,
            self.trials,
            self.seconds_per_epoch,
            self.mean_seconds_per_epoch,
            self.peak_heap_mb,
            self.gflop_per_epoch,
            self.gflop_per_second,
            100.0 * self.fraction_of_peak
        )
    }
}

/// The whole report (`denovo bench --json`, schema `denovo.bench/1`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// Document version.
    pub schema: &'static str,
    /// Threads available.
    pub threads: usize,
    /// The machine's measured f32 peak (GFLOP/s): independent FMA chains on every thread in
    /// the widest SIMD the f32 kernels use here (`denovo_nn::peak_gflops`).
    pub peak_gflop_per_second: f64,
    /// f32 lanes per SIMD vector of that peak (8: AVX2, 16: AVX-512, 4: NEON/SSE).
    pub peak_lanes: usize,
    /// The measurements.
    pub rows: Vec<Row>,
    /// The process's peak resident set (VmHWM, Linux), MB.
    pub process_peak_rss_mb: Option<f64>,
}

impl Report {
    /// A report of `rows` measured against `peak` = (GFLOP/s, lanes), with this machine's
    /// threads and the process's peak RSS.
    pub fn new(rows: Vec<Row>, peak: (f64, usize)) -> Report {
        Report {
            schema: "denovo.bench/1",
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            peak_gflop_per_second: peak.0,
            peak_lanes: peak.1,
            rows,
            process_peak_rss_mb: peak_rss_mb(),
        }
    }
}

/// The machine's f32 peak for [`Report`]: (GFLOP/s, lanes), the fastest of five ~60 ms
/// FMA loops on every thread ([`denovo_nn::peak_gflops`]).
pub fn machine_peak() -> (f64, usize) {
    denovo_nn::peak_gflops(SimdLevel::Auto, 300)
}

/// What [`run`] times.
#[derive(Debug, Clone)]
pub struct Options {
    /// `dnn`, `rnn`.
    pub models: Vec<String>,
    /// The fused kernels' precisions (f32 first when both).
    pub precisions: Vec<Precision>,
    /// Timed epochs per fused measurement (the large workload: a fifth of them in f32, 1 in
    /// f64).
    pub epochs: usize,
    /// Trials per animal of the short workload that compares the fused and the generic
    /// path (0: no generic path).
    pub generic_trials: usize,
    /// Also time 140 animals × 20,000 trials.
    pub large: bool,
}

/// Times every workload of `options`: the machine's peak first, then per model the fused
/// kernels in each precision on 12 × 10,000 trials (and 140 × 20,000 with `large`), and,
/// with `generic_trials`, the fused and the generic path on 12 × that many trials (the
/// generic path in the first precision only). `say` receives the table's lines as they are
/// measured.
///
/// Errors: [`BenchError`].
pub fn run(options: &Options, say: &mut dyn FnMut(&str)) -> Result<Report, BenchError> {
    let peak = machine_peak();
    say(&format!(
        "machine peak (f32 FMA, {} lanes, {} threads): {:.1} GFLOP/s",
        peak.1,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        peak.0
    ));
    let mut workloads = vec![(12, 10_000)];
    if options.large {
        workloads.push((140, 20_000));
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut push = |row: Row, say: &mut dyn FnMut(&str)| {
        let row = row.with_peak(peak.0);
        say(&row.line());
        rows.push(row);
    };
    let fused = GradientPath::Fast;
    for model in &options.models {
        for &(animals, trials) in &workloads {
            for &precision in &options.precisions {
                let epochs = match (animals * trials > 200_000, precision) {
                    (false, _) => options.epochs,
                    (true, Precision::F32) => 1.max(options.epochs / 5),
                    // ~9 s per RNN epoch at 140 × 20,000 on 2 cores.
                    (true, Precision::F64) => 1,
                };
                push(
                    measure(model, fused, precision, animals, trials, epochs)?,
                    say,
                );
            }
        }
        let short = options.generic_trials;
        if short == 0 {
            continue;
        }
        let mut fused_seconds = Vec::new();
        for &precision in &options.precisions {
            let row = measure(model, fused, precision, 12, short, options.epochs)?;
            fused_seconds.push(row.seconds_per_epoch);
            push(row, say);
        }
        let precision = options.precisions[0];
        let generic = GradientPath::Generic;
        let row = measure(model, generic, precision, 12, short, options.epochs.min(3))?;
        let ratio = row.seconds_per_epoch / fused_seconds[0];
        push(row, say);
        say(&format!(
            "  {model}: fused is {ratio:.0}× the generic path on 12 × {short} trials ({})",
            precision.name()
        ));
    }
    Ok(Report::new(rows, peak))
}

/// VmHWM of this process from /proc/self/status, MB (Linux only).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1e3)
}

/// The bench cohort (REINFORCE, α = 2⁻⁴, 2⁻⁶, seed 7), laid out for the trainer.
fn cohort<B: AutodiffBackend>(
    animals: usize,
    trials: usize,
) -> Result<SequenceBatch<B>, BenchError> {
    // The simulation (its trials and true weights) is dropped before the batch is built,
    // so that the process's peak memory is the training's with its data, as for a user's
    // cohort read from a file, not the simulation's.
    let design = crate::reinforce_cohort_seeded(animals, trials, 7)?
        .dataset
        .design(&Default::default())?;
    Ok(SequenceBatch::whole(&design.subjects, &Default::default()))
}

/// Multiply-adds × 2 of one forward step of dense layers `sizes[i] → sizes[i+1]`.
fn dense_flops(sizes: &[usize]) -> f64 {
    sizes.windows(2).map(|p| 2.0 * (p[0] * p[1]) as f64).sum()
}

/// Useful FLOPs per trial: forward + backward = 3 × the forward's matrix products (×2
/// flops per multiply-add), for both rules. A recomputation of the RNN's gates in the
/// adjoint pass (when a tape exceeds its memory budget) is not counted.
pub fn flops_per_trial(model: &str, k: usize) -> f64 {
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
        3.0 * (gru + dense_flops(&head))
    }
}

/// Per-epoch wall times (s) summarised: (median, mean, fastest).
fn summarise(times: &[f64]) -> (f64, f64, f64) {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    };
    (median, times.iter().sum::<f64>() / n as f64, sorted[0])
}

/// Times `epochs` training epochs of `rule` on `batch`; returns (each epoch's wall time in
/// s, peak heap bytes).
fn time_fit<B, R>(
    rule: R,
    batch: &SequenceBatch<B>,
    path: GradientPath,
    epochs: usize,
) -> Result<(Vec<f64>, usize), BenchError>
where
    B: AutodiffBackend,
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: ModuleDisplay + LearningRule<B::InnerBackend>,
{
    let w0 = denovo_glm::float_tensor::<B, 2>(
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
    let mut times = Vec::with_capacity(epochs);
    let mut last = Instant::now();
    denovo_train::fit(
        RuleFit::fixed_w0(rule),
        batch,
        &w0,
        &config,
        FitHooks::default(),
        &mut |_, _| {
            times.push(last.elapsed().as_secs_f64());
            last = Instant::now();
            true
        },
    )
    .map_err(|e| BenchError::Fit(e.reason.clone()))?;
    if times.is_empty() {
        return Err(BenchError::Fit("no epoch ran".into()));
    }
    Ok((times, PEAK.load(Ordering::Relaxed).saturating_sub(base)))
}

/// Times `epochs` epochs of the default `model` (`dnn`: 8→32→32→2; `rnn`: GRU 32 +
/// 32→32→32→2) on a simulated cohort of `animals` × `trials`, through `path`, on the
/// `precision`'s backend. `fraction_of_peak` is left 0 ([`Row::with_peak`]).
///
/// Errors: [`BenchError::UnknownModel`], [`BenchError::Fit`].
pub fn measure(
    model: &str,
    path: GradientPath,
    precision: Precision,
    animals: usize,
    trials: usize,
    epochs: usize,
) -> Result<Row, BenchError> {
    let (times, peak, k) = match precision {
        Precision::F32 => time_model::<Train32>(model, path, animals, trials, epochs)?,
        Precision::F64 => time_model::<Train64>(model, path, animals, trials, epochs)?,
    };
    let (seconds, mean, fastest) = summarise(&times);
    let gflop = flops_per_trial(model, k) * (animals * trials) as f64 / 1e9;
    Ok(Row {
        model: model.into(),
        path: match path {
            GradientPath::Fast => "fused".into(),
            GradientPath::Generic => "generic".into(),
        },
        precision,
        animals,
        trials,
        seconds_per_epoch: seconds,
        mean_seconds_per_epoch: mean,
        min_seconds_per_epoch: fastest,
        epochs: times.len(),
        peak_heap_mb: peak as f64 / 1e6,
        gflop_per_epoch: gflop,
        gflop_per_second: gflop / seconds,
        fraction_of_peak: 0.0,
    })
}

/// [`measure`] on backend `B`: (each epoch's s, peak heap bytes, regressors).
fn time_model<B>(
    model: &str,
    path: GradientPath,
    animals: usize,
    trials: usize,
    epochs: usize,
) -> Result<(Vec<f64>, usize, usize), BenchError>
where
    B: AutodiffBackend + ScanBackend,
    B::InnerBackend: ScanBackend,
{
    let device = Default::default();
    let batch = cohort::<B>(animals, trials)?;
    let k = batch.n_features;
    let (times, peak) = match model {
        "dnn" => {
            time_fit::<B, DnnRule<B>>(DnnConfig::default().init(k, &device), &batch, path, epochs)?
        }
        "rnn" => {
            time_fit::<B, RnnRule<B>>(RnnConfig::default().init(k, &device), &batch, path, epochs)?
        }
        other => return Err(BenchError::UnknownModel(other.into())),
    };
    Ok((times, peak, k))
}

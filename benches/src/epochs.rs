//! Seconds per training epoch of the neural rules (forward + backward + Adam, through the
//! trainer `denovo fit` uses), fused kernels vs burn autodiff, with peak heap memory and
//! achieved GFLOP/s: what `denovo bench` prints.

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, ModuleDisplay};
use burn::tensor::backend::AutodiffBackend;
use denovo_nn::{DnnConfig, DnnRule, RnnConfig, RnnRule};
use denovo_rules::LearningRule;
use denovo_train::{FitConfig, FitHooks, GradientPath, RuleFit, SequenceBatch};
use serde::Serialize;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

type Train = Autodiff<NdArray<f32>>;

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
    /// Animals in the batch.
    pub animals: usize,
    /// Trials per animal.
    pub trials: usize,
    /// Wall time of one epoch (s).
    pub seconds_per_epoch: f64,
    /// Peak live heap during the timed epochs above what was live before (MB).
    pub peak_heap_mb: f64,
    /// FLOPs of one epoch's kernel work (10⁹).
    pub gflop_per_epoch: f64,
    /// Achieved rate (10⁹ FLOP/s).
    pub gflop_per_second: f64,
}

/// The whole report (`denovo bench --json`, schema `denovo.bench/1`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// Document version.
    pub schema: &'static str,
    /// Threads available.
    pub threads: usize,
    /// The measurements.
    pub rows: Vec<Row>,
    /// The process's peak resident set (VmHWM, Linux), MB.
    pub process_peak_rss_mb: Option<f64>,
}

impl Report {
    /// A report of `rows` with this machine's threads and the process's peak RSS.
    pub fn new(rows: Vec<Row>) -> Report {
        Report {
            schema: "denovo.bench/1",
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            rows,
            process_peak_rss_mb: peak_rss_mb(),
        }
    }
}

/// VmHWM of this process from /proc/self/status, MB (Linux only).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1e3)
}

/// The bench cohort (REINFORCE, α = 2⁻⁴, 2⁻⁶, seed 7), laid out for the trainer.
fn cohort(animals: usize, trials: usize) -> Result<SequenceBatch<Train>, BenchError> {
    let cohort = crate::reinforce_cohort_seeded(animals, trials, 7)?;
    let design = cohort.dataset.design(&Default::default())?;
    Ok(SequenceBatch::whole(&design.subjects, &Default::default()))
}

/// Multiply-adds × 2 of one forward step of dense layers `sizes[i] → sizes[i+1]`.
fn dense_flops(sizes: &[usize]) -> f64 {
    sizes.windows(2).map(|p| 2.0 * (p[0] * p[1]) as f64).sum()
}

/// FLOPs per trial of the kernel as run: DNN forward + backward (3 × the forward's matrix
/// products); RNN forward, the backward pass's recomputation and the backward (4 ×).
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
        4.0 * (gru + dense_flops(&head))
    }
}

/// Times `epochs` training epochs of `rule` on `batch`; returns (s/epoch, peak heap bytes).
fn time_fit<R>(
    rule: R,
    batch: &SequenceBatch<Train>,
    path: GradientPath,
    epochs: usize,
) -> Result<(f64, usize), BenchError>
where
    R: LearningRule<Train> + AutodiffModule<Train> + ModuleDisplay,
    R::InnerModule: ModuleDisplay + LearningRule<<Train as AutodiffBackend>::InnerBackend>,
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
    .map_err(|e| BenchError::Fit(e.reason.clone()))?;
    let seconds = start.elapsed().as_secs_f64() / epochs as f64;
    Ok((seconds, PEAK.load(Ordering::Relaxed).saturating_sub(base)))
}

/// Times `epochs` epochs of the default `model` (`dnn`: 8→32→32→2; `rnn`: GRU 32 +
/// 32→32→32→2) on a simulated cohort of `animals` × `trials`, through `path`.
///
/// Errors: [`BenchError::UnknownModel`], [`BenchError::Fit`].
pub fn measure(
    model: &str,
    path: GradientPath,
    animals: usize,
    trials: usize,
    epochs: usize,
) -> Result<Row, BenchError> {
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
        other => return Err(BenchError::UnknownModel(other.into())),
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

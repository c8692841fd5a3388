//! The DNN and RNN rules on burn's wgpu backend (feature `wgpu`): the same network gives the
//! same log-likelihood and the same gradients as on ndarray, through the generic per-trial
//! path (burn's tensor ops running on the GPU) and through the fused scan op; the DNN's
//! device scan kernel (CubeCL) gives ndarray's per-animal log-likelihoods and gradients on
//! padded, partly scored cohorts with every gate and dropped inputs; and a short fit on
//! `Autodiff<Wgpu>` lowers the loss.
//!
//! Needs a Vulkan/Metal/DX12 adapter: a GPU, or Mesa's lavapipe on a CPU
//! (`apt-get install mesa-vulkan-drivers`). CI runs it on lavapipe (`.ci/run`); run it
//! with `cargo test -p denovo-nn --features wgpu --test wgpu`.
#![cfg(feature = "wgpu")]

use burn::backend::{Autodiff, NdArray, Wgpu};
use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::Tensor;
use burn::tensor::TensorPrimitive;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_nn::{DnnConfig, Gate, RnnConfig, RuleInput, ScanBackend, ScanRule, Structure};
use denovo_rules::{HostSequence, LearningRule, SharedSequences};
use denovo_train::{
    FitConfig, FitHooks, RuleFit, SequenceBatch, sequence_log_likelihood, truncated_log_likelihood,
};
use rand::{RngExt, SeedableRng, rngs::StdRng};

type Cpu = NdArray<f32>;
type Gpu = Wgpu;

mod common;
use common::{RandomCohort, designs, random_cohort};

fn w0<Bk: Backend>(animals: usize) -> Tensor<Bk, 2> {
    let v: Vec<f64> = (0..2 * animals)
        .map(|i| 0.1 * (i % 5) as f64 - 0.2)
        .collect();
    float_tensor(v, [animals, 2], &Default::default())
}

/// The same parameters on another backend (through burn's recorder, full precision).
fn transfer<B1, B2, M1, M2>(from: M1, fresh: M2) -> M2
where
    B1: Backend,
    B2: Backend,
    M1: Module<B1>,
    M2: Module<B2>,
{
    let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
    let bytes = recorder.record(from.into_record(), ()).unwrap();
    fresh.load_record(recorder.load(bytes, &Default::default()).unwrap())
}

fn assert_close(what: &str, a: &[f64], b: &[f64], relative: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().map(|v| v.abs()).fold(0.0, f64::max).max(1e-12);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= relative * scale,
            "{what}[{i}]: {x} vs {y} (scale {scale})"
        );
    }
}

/// Every parameter's gradient, flattened in the module's visiting order; `missing` names
/// (visiting index and shape) the parameters that got none.
struct Gradients<'a, Bk: AutodiffBackend> {
    grads: &'a Bk::Gradients,
    what: String,
    index: usize,
    missing: Vec<String>,
    out: Vec<f64>,
}

impl<Bk: AutodiffBackend> ModuleVisitor<Bk> for Gradients<'_, Bk> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Bk, D>>) {
        match param.grad(self.grads) {
            Some(g) => self.out.extend(to_f64_vec(g)),
            None => self
                .missing
                .push(format!("#{} {:?}", self.index, param.shape())),
        }
        self.index += 1;
    }
}

fn gradient<Bk, R>(
    what: &str,
    rule: &R,
    batch: &SequenceBatch<Bk>,
    animals: usize,
    fused: bool,
) -> Vec<f64>
where
    Bk: AutodiffBackend,
    R: LearningRule<Bk> + Module<Bk>,
{
    let ll = if fused {
        sequence_log_likelihood(rule, batch, w0(animals))
    } else {
        truncated_log_likelihood(rule, batch, w0(animals), None)
    };
    let grads = ll.sum().backward();
    let mut v = Gradients::<Bk> {
        grads: &grads,
        what: format!("{what} ({})", if fused { "fused" } else { "generic" }),
        index: 0,
        missing: Vec::new(),
        out: Vec::new(),
    };
    rule.visit(&mut v);
    assert!(
        v.missing.is_empty(),
        "{}: no gradient for parameters {:?} of {}",
        v.what,
        v.missing,
        v.index
    );
    v.out
}

/// One rule (`make` builds it on any backend) checked across ndarray and wgpu.
fn check_rule<RC, RA, GC, GA>(
    name: &str,
    make_cpu: impl Fn() -> RC,
    fresh_gpu: impl Fn() -> GC,
    fresh_cpu_ad: impl Fn() -> RA,
    fresh_gpu_ad: impl Fn() -> GA,
) where
    RC: LearningRule<Cpu> + Module<Cpu> + Clone,
    GC: LearningRule<Gpu> + Module<Gpu>,
    RA: LearningRule<Autodiff<Cpu>> + Module<Autodiff<Cpu>>,
    GA: LearningRule<Autodiff<Gpu>> + Module<Autodiff<Gpu>>,
{
    let d = designs(3, 40, 5);
    let cpu_rule = make_cpu();
    let gpu_rule = transfer::<Cpu, Gpu, _, _>(cpu_rule.clone(), fresh_gpu());
    let cpu = SequenceBatch::<Cpu>::whole(&d, &Default::default());
    let gpu = SequenceBatch::<Gpu>::whole(&d, &Default::default());

    let reference = to_f64_vec(truncated_log_likelihood(&cpu_rule, &cpu, w0(3), None));
    let generic = to_f64_vec(truncated_log_likelihood(&gpu_rule, &gpu, w0(3), None));
    let fused = to_f64_vec(sequence_log_likelihood(&gpu_rule, &gpu, w0(3)));
    assert_close(
        &format!("{name} LL, wgpu generic"),
        &generic,
        &reference,
        1e-4,
    );
    assert_close(&format!("{name} LL, wgpu fused"), &fused, &reference, 1e-4);

    let cpu_ad = transfer::<Cpu, Autodiff<Cpu>, _, _>(cpu_rule.clone(), fresh_cpu_ad());
    let gpu_ad = transfer::<Cpu, Autodiff<Gpu>, _, _>(cpu_rule, fresh_gpu_ad());
    let cpu_b = SequenceBatch::<Autodiff<Cpu>>::whole(&d, &Default::default());
    let gpu_b = SequenceBatch::<Autodiff<Gpu>>::whole(&d, &Default::default());
    let reference = gradient(
        &format!("{name} on Autodiff<NdArray>"),
        &cpu_ad,
        &cpu_b,
        3,
        false,
    );
    let generic = gradient(
        &format!("{name} on Autodiff<Wgpu>"),
        &gpu_ad,
        &gpu_b,
        3,
        false,
    );
    // A second backward pass through the same parameters, while the other tests' threads
    // run backward passes of their own: the case of tracel-ai/burn#5573 (see
    // `tests/concurrent_backward.rs`).
    let fused = gradient(
        &format!("{name} on Autodiff<Wgpu>"),
        &gpu_ad,
        &gpu_b,
        3,
        true,
    );
    assert!(
        reference.iter().any(|g| g.abs() > 1e-6),
        "{name}: the check must probe a non-zero gradient"
    );
    assert_close(
        &format!("{name} gradient, wgpu generic"),
        &generic,
        &reference,
        1e-3,
    );
    assert_close(
        &format!("{name} gradient, wgpu fused"),
        &fused,
        &reference,
        1e-3,
    );
}

#[test]
fn both_rules_agree_with_ndarray_on_wgpu() {
    let dnn = DnnConfig {
        hidden: vec![16, 16],
        gamma_init: 0.3,
        ..Default::default()
    };
    check_rule(
        "dnn",
        || dnn.init::<Cpu>(2, &Default::default()),
        || dnn.init::<Gpu>(2, &Default::default()),
        || dnn.init::<Autodiff<Cpu>>(2, &Default::default()),
        || dnn.init::<Autodiff<Gpu>>(2, &Default::default()),
    );
    let rnn = RnnConfig {
        hidden: 8,
        head: vec![16],
        gamma_init: 0.3,
        ..Default::default()
    };
    check_rule(
        "rnn",
        || rnn.init::<Cpu>(2, &Default::default()),
        || rnn.init::<Gpu>(2, &Default::default()),
        || rnn.init::<Autodiff<Cpu>>(2, &Default::default()),
        || rnn.init::<Autodiff<Gpu>>(2, &Default::default()),
    );
}

#[test]
fn a_fit_on_wgpu_lowers_the_loss() {
    type B = Autodiff<Gpu>;
    let d = designs(8, 300, 9);
    let batch = SequenceBatch::<B>::whole(&d, &Default::default());
    let config = FitConfig {
        epochs: 30,
        learning_rate: 0.01,
        ..FitConfig::default()
    };
    let rule = DnnConfig::default().init::<B>(2, &Default::default());
    let mut losses = Vec::new();
    denovo_train::fit(
        RuleFit::fixed_w0(rule),
        &batch,
        &w0(8),
        &config,
        FitHooks::default(),
        &mut |report, _| {
            losses.push(report.loss);
            true
        },
    )
    .unwrap();
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(
        losses.iter().all(|l| l.is_finite()) && last < first - 1e-3,
        "loss {first} → {last}"
    );
}

/// `n` animals of 1–60 trials (one of a single trial), random stimuli on three regressors,
/// choices and outcomes, sessions of 13 trials; some scored from a later trial or to an
/// earlier end (so the device kernel pads and masks).
fn cohort(n: usize, seed: u64) -> Vec<HostSequence> {
    random_cohort(
        n,
        seed,
        RandomCohort {
            trials: |i, rng: &mut StdRng| if i == 2 { 1 } else { rng.random_range(20..60) },
            stimulus: |rng: &mut StdRng| {
                vec![
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-0.5..0.5),
                    1.0,
                ]
            },
            session: 13,
            short_end: 3,
        },
    )
}

/// Largest relative error of the device's `a` against ndarray's `b` ([`common::worst`]).
fn worst(a: &[f64], b: &[f64], per: usize) -> f64 {
    common::worst(a, b, per, 1e-30)
}

/// The scan op on backend `Bk` as host numbers: [LL of `rule_scan`, then LL, ∂LL_a/∂θ
/// (`[animals × P]`) and ∂LL_a/∂w0 (`[animals × K]`) of `rule_scan_with_gradient`].
fn scan_on<Bk: ScanBackend>(
    rule: &ScanRule,
    theta: &[f64],
    w0: &[f64],
    animals: &SharedSequences,
) -> [Vec<f64>; 4] {
    let device = Default::default();
    let upload = |v: &[f64]| -> FloatTensor<Bk> {
        float_tensor::<Bk, 1>(v.to_vec(), [v.len()], &device)
            .into_primitive()
            .tensor()
    };
    let w0_of = || -> FloatTensor<Bk> {
        float_tensor::<Bk, 2>(w0.to_vec(), [animals.len(), rule.n_features()], &device)
            .into_primitive()
            .tensor()
    };
    fn host<Bk: Backend>(p: FloatTensor<Bk>) -> Vec<f64> {
        to_f64_vec(Tensor::<Bk, 1>::from_primitive(TensorPrimitive::Float(p)))
    }
    fn host2<Bk: Backend>(p: FloatTensor<Bk>) -> Vec<f64> {
        to_f64_vec(Tensor::<Bk, 2>::from_primitive(TensorPrimitive::Float(p)))
    }
    let forward = Bk::rule_scan(rule, upload(theta), w0_of(), animals);
    let (ll, d_params, d_w0) = Bk::rule_scan_with_gradient(rule, upload(theta), w0_of(), animals);
    [
        host::<Bk>(forward),
        host::<Bk>(ll),
        host2::<Bk>(d_params),
        host2::<Bk>(d_w0),
    ]
}

/// The DNN and RNN scans on the device (the CubeCL kernels) against ndarray's (the f32
/// host kernels): per-animal log-likelihoods and gradients within 1e-4 relative, for the
/// free rules and gated / input-dropped variants, with layers wider than the kernels' 32
/// units per cube.
#[test]
fn device_scan_equals_ndarray() {
    let k = 3;
    let rnn = |hidden: usize, head: Vec<usize>, structure| ScanRule::Rnn {
        input: 10,
        hidden,
        head,
        structure,
    };
    let cases = [
        ScanRule::Dnn {
            sizes: vec![10, 16, 12, 3],
            structure: Structure::default(),
        },
        ScanRule::Dnn {
            sizes: vec![10, 40, 3],
            structure: Structure::new(Gate::CorrectOnly, vec![RuleInput::Reward]),
        },
        ScanRule::Dnn {
            sizes: vec![10, 8, 8, 3],
            structure: Structure::new(Gate::ErrorOnly, vec![RuleInput::Weights, RuleInput::Answer]),
        },
        rnn(8, vec![8, 16, 3], Structure::default()),
        rnn(
            40,
            vec![40, 3],
            Structure::new(Gate::CorrectOnly, vec![RuleInput::SessionStart]),
        ),
        rnn(
            6,
            vec![6, 5, 5, 3],
            Structure::new(Gate::ErrorOnly, vec![RuleInput::Weights]),
        ),
    ];
    for (case, rule) in cases.into_iter().enumerate() {
        let seed = 100 + case as u64;
        let n = 5;
        let animals: SharedSequences = cohort(n, seed).into();
        let mut rng = StdRng::seed_from_u64(seed + 1);
        let w0: Vec<f64> = (0..n * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut theta: Vec<f64> = (0..rule.n_params() - k)
            .map(|_| rng.random_range(-0.3..0.3))
            .collect();
        theta.extend(std::iter::repeat_n(0.1, k));
        let cpu = scan_on::<Cpu>(&rule, &theta, &w0, &animals);
        let gpu = scan_on::<Gpu>(&rule, &theta, &w0, &animals);
        assert!(
            cpu[2].iter().any(|g| g.abs() > 1e-3) && cpu[3].iter().any(|g| g.abs() > 1e-3),
            "case {case}: the check must probe non-zero gradients"
        );
        let errors = [
            ("LL (forward only)", worst(&gpu[0], &cpu[0], 1)),
            ("LL", worst(&gpu[1], &cpu[1], 1)),
            ("dθ", worst(&gpu[2], &cpu[2], rule.n_params())),
            ("dw0", worst(&gpu[3], &cpu[3], k)),
        ];
        eprintln!("case {case} {rule:?}: {errors:?}");
        for (what, e) in errors {
            assert!(e < 1e-4, "case {case}: {what} off by {e:.2e} relative");
        }
    }
}

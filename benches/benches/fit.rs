//! One epoch's loss and gradient (forward + backward, no optimiser step) per rule, path
//! and precision on the ndarray backend:
//! - the reference workload (12 animals × 10,000 trials): REINFORCE through its closed
//!   form, the DNN (8→32→32→2) and RNN (GRU 32 + 32→32→32→2) rules through their fused
//!   scan op, in f32 and f64;
//! - a short workload (12 × 300 trials) where the generic per-trial autodiff path is timed
//!   beside the fused op (the generic path grows faster than linearly with the length;
//!   see docs/perf.md).
//!
//! `cargo bench -p denovo-benches --bench fit`

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, ModuleDisplay};
use burn::tensor::backend::AutodiffBackend;
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use denovo_benches::reinforce_cohort;
use denovo_nn::{DnnConfig, RnnConfig};
use denovo_rules::{LearningRule, Reinforce};
use denovo_train::{FitConfig, GradientPath, RuleFit, SequenceBatch, loss_and_gradients};
use std::hint::black_box;

fn batch<B: AutodiffBackend>(
    animals: usize,
    trials: usize,
) -> (SequenceBatch<B>, burn::tensor::Tensor<B, 2>) {
    let cohort = reinforce_cohort(animals, trials);
    let design = cohort
        .dataset
        .design(&Default::default())
        .expect("stim, bias");
    let device = Default::default();
    let w0 = denovo_glm::float_tensor::<B, 2>(vec![0.0; 2 * animals], [animals, 2], &device);
    (SequenceBatch::whole(&design.subjects, &device), w0)
}

fn bench_rule<B, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rule: R,
    data: &(SequenceBatch<B>, burn::tensor::Tensor<B, 2>),
    path: GradientPath,
) where
    B: AutodiffBackend,
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: ModuleDisplay,
{
    let model = RuleFit::fixed_w0(rule);
    let n = data.0.n_scored() as f64;
    let config = FitConfig {
        path,
        ..FitConfig::default()
    };
    group.bench_function(name, |b| {
        b.iter(|| loss_and_gradients(black_box(&model), &data.0, &data.1, n, &config))
    });
}

fn reference(c: &mut Criterion) {
    type F32 = Autodiff<NdArray<f32>>;
    type F64 = Autodiff<NdArray<f64>>;
    let device = Default::default();
    let mut group = c.benchmark_group("epoch_12x10000");
    group.sample_size(10);
    let data = batch::<F32>(12, 10_000);
    let fast = GradientPath::Fast;
    bench_rule(
        &mut group,
        "reinforce_closed_form_f32",
        Reinforce::<F32>::new(&[0.05, 0.02], &device),
        &data,
        fast,
    );
    bench_rule(
        &mut group,
        "dnn_fused_f32",
        DnnConfig::default().init::<F32>(2, &device),
        &data,
        fast,
    );
    bench_rule(
        &mut group,
        "rnn_fused_f32",
        RnnConfig::default().init::<F32>(2, &device),
        &data,
        fast,
    );
    let data = batch::<F64>(12, 10_000);
    bench_rule(
        &mut group,
        "dnn_fused_f64",
        DnnConfig::default().init::<F64>(2, &device),
        &data,
        fast,
    );
    bench_rule(
        &mut group,
        "rnn_fused_f64",
        RnnConfig::default().init::<F64>(2, &device),
        &data,
        fast,
    );
    group.finish();
}

fn short(c: &mut Criterion) {
    type F32 = Autodiff<NdArray<f32>>;
    let device = Default::default();
    let mut group = c.benchmark_group("epoch_12x300");
    group.sample_size(10);
    let data = batch::<F32>(12, 300);
    for (path, label) in [
        (GradientPath::Fast, "fused"),
        (GradientPath::Generic, "generic"),
    ] {
        bench_rule(
            &mut group,
            &format!("dnn_{label}_f32"),
            DnnConfig::default().init::<F32>(2, &device),
            &data,
            path,
        );
        bench_rule(
            &mut group,
            &format!("rnn_{label}_f32"),
            RnnConfig::default().init::<F32>(2, &device),
            &data,
            path,
        );
    }
    group.finish();
}

criterion_group!(benches, reference, short);
criterion_main!(benches);

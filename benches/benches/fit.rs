//! One epoch's loss and gradient on the reference workload (12 animals × 10,000 trials):
//! REINFORCE through its closed form, the DNN rule (8→32→32→2) through its fused kernel.
//! (The generic autodiff path is far slower at this length; see docs/perf.md.)

use burn::backend::{Autodiff, NdArray};
use criterion::{Criterion, criterion_group, criterion_main};
use denovo_benches::reinforce_cohort;
use denovo_nn::DnnConfig;
use denovo_rules::Reinforce;
use denovo_train::{FitConfig, RuleFit, SequenceBatch, SubjectWindow, loss_and_gradients};
use std::hint::black_box;

type B = Autodiff<NdArray<f32>>;

fn epoch(c: &mut Criterion) {
    let cohort = reinforce_cohort(12, 10_000);
    let design = cohort
        .dataset
        .design(&Default::default())
        .expect("stim, bias");
    let subjects: Vec<_> = design.subjects.iter().collect();
    let windows: Vec<_> = subjects
        .iter()
        .map(|s| SubjectWindow::all(s.n_trials()))
        .collect();
    let device = Default::default();
    let batch = SequenceBatch::<B>::new(&subjects, &windows, &device);
    let w0 = denovo_glm::float_tensor::<B, 2>(vec![0.0; 24], [12, 2], &device);
    let n = batch.n_scored() as f64;
    let config = FitConfig::default();
    let mut group = c.benchmark_group("epoch_12x10000");
    group.sample_size(10);
    let reinforce = RuleFit::fixed_w0(Reinforce::<B>::new(&[0.05, 0.02], &device));
    group.bench_function("reinforce_closed_form", |b| {
        b.iter(|| loss_and_gradients(black_box(&reinforce), &batch, &w0, n, &config))
    });
    let dnn = RuleFit::fixed_w0(DnnConfig::default().init::<B>(2, &device));
    group.bench_function("dnn_fused", |b| {
        b.iter(|| loss_and_gradients(black_box(&dnn), &batch, &w0, n, &config))
    });
    group.finish();
}

criterion_group!(benches, epoch);
criterion_main!(benches);

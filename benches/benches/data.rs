//! Loading, design matrices and simulation: the data side of a fit.

use criterion::{Criterion, criterion_group, criterion_main};
use denovo_benches::{rat_csv, reinforce_cohort};
use denovo_data::{DesignOptions, Format};
use std::hint::black_box;

fn loading(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cohort = reinforce_cohort(12, 10_000);
    let mut group = c.benchmark_group("load");
    for (format, name) in [
        (Format::TrialsCsv, "t.csv"),
        (Format::IblCsv, "i.csv"),
        (Format::IblAlf, "alf"),
    ] {
        let path = dir.path().join(name);
        denovo_data::save(&cohort.dataset, &path, format).expect("write");
        group.bench_function(format!("{}_12x10000", format.name()), |b| {
            b.iter(|| denovo_data::load(black_box(&path), Format::Auto).expect("load"))
        });
    }
    if let Some(rat) = rat_csv() {
        group.bench_function("rat_W053_20000", |b| {
            b.iter(|| denovo_data::load(black_box(&rat), Format::Auto).expect("load"))
        });
    }
    group.finish();
    c.bench_function("design_stim_bias_12x10000", |b| {
        b.iter(|| {
            cohort
                .dataset
                .design(black_box(&DesignOptions::default()))
                .expect("design")
        })
    });
}

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.bench_function("reinforce_12x10000", |b| {
        b.iter(|| reinforce_cohort(black_box(12), 10_000))
    });
    group.finish();
}

criterion_group!(benches, loading, simulation);
criterion_main!(benches);

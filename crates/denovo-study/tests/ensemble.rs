//! Issue 15: ensembles of replicate fits (stored, scored, read out with their band and the
//! data's visits per grid cell) and the structural variants of the neural rules (stored
//! and read back like any model).

use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_study::ensemble::{
    Resample, fit_ensemble, load_replicates, replicate_dir, replicate_spec,
};
use denovo_study::{
    EnsembleSummary, FitSpec, Gate, Model, ModelSpec, RuleGrid, RuleInput, RunDir, fit,
};
use std::path::{Path, PathBuf};

/// 6 simulated REINFORCE animals × 300 trials in sessions of 100.
fn cohort(dir: &Path) -> PathBuf {
    let truth = RuleSpec::initial(RuleKind::Reinforce, 2, 0.06);
    let config = denovo_sim::CohortConfig {
        animals: 6,
        trials: 300,
        session_min: 100,
        session_max: 100,
        seed: 9,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&truth, &config).unwrap();
    let path = dir.join("cohort.csv");
    denovo_sim::write_cohort(&cohort, &path, Format::TrialsCsv).unwrap();
    path
}

fn spec(data: &Path, model: ModelSpec) -> FitSpec {
    let mut spec = FitSpec::new(data, model);
    spec.split.holdout_sessions = 0.34;
    spec.training.epochs = Some(15);
    spec.training.lr = Some(0.01);
    spec.seed = 4;
    spec
}

/// Replicates are stored as run directories with their own seed and bootstrap, scored on
/// the original animals; the mean prediction scores at least the members' mean (log is
/// concave: log p̄ ≥ mean log p on every trial); a replicate refitted alone equals the one
/// fitted side by side; `denovo rule`'s grid carries a consistent band and the visits.
#[test]
fn an_ensemble_is_stored_scored_and_read_out() {
    let tmp = tempfile::tempdir().unwrap();
    let data = cohort(tmp.path());
    let spec = spec(&data, ModelSpec::dnn());
    let dir = tmp.path().join("run");
    RunDir::save(&dir, &fit(&spec).unwrap(), false).unwrap();
    let e = fit_ensemble(&spec, &dir, 3, Resample::Animals, &|_, _| {}).unwrap();
    assert_eq!(e, EnsembleSummary::read(&dir).unwrap().unwrap());
    assert_eq!(e.members.len(), 3);
    let members = load_replicates(&dir).unwrap();
    assert_eq!(members.len(), 3);
    let seeds: Vec<u64> = e.members.iter().map(|m| m.seed).collect();
    assert_eq!(seeds, vec![5, 6, 7]);
    assert!(e.members.iter().all(|m| m.bootstrap.is_some()));
    assert_eq!(e.members[1].dir, "replicates/r02");
    // Bootstrapped animals: as many, some repeated (renamed), in the member's summary.
    let subjects = &members[0].summary.subjects;
    assert_eq!(subjects.len(), 6);
    let lls: Vec<f64> = e
        .members
        .iter()
        .map(|m| m.heldout_sessions_ll.unwrap())
        .collect();
    let mean = lls.iter().sum::<f64>() / 3.0;
    let ens = e.ensemble_heldout_sessions_ll.unwrap();
    assert!(ens.is_finite() && ens < 0.0);
    assert!(ens >= mean - 1e-12, "ensemble {ens} < mean member {mean}");
    assert!(e.heldout_trials > 0);

    // Reproducible side by side: replicate 2 alone is the same fit.
    let alone = fit(&replicate_spec(&spec, 2, Resample::Animals)).unwrap();
    assert_eq!(alone.summary.train, members[1].summary.train);
    assert_eq!(members[1].dir, replicate_dir(&dir, 2));

    let run = RunDir::load(&dir).unwrap();
    let (grid, warning) = RuleGrid::of_run_dir(&run, 0).unwrap();
    assert!(warning.is_none(), "{warning:?}");
    assert_eq!(grid.members, 3);
    let band = grid.band.as_ref().unwrap();
    let mut spread = 0.0f64;
    for point in &band[0] {
        for &[m, lo, med, hi] in point {
            assert!(lo <= med && med <= hi && lo <= m + 1e-15 && m <= hi + 1e-15);
            spread = spread.max(hi - lo);
        }
    }
    assert!(spread > 0.0, "members differ somewhere");
    let visits = grid.visits.as_ref().unwrap();
    let total: usize = visits.iter().sum();
    let train = run.summary.train.trials;
    assert!(
        total > 0 && total <= train,
        "{total} visits of {train} trials"
    );
    let csv_path = tmp.path().join("grid.csv");
    grid.write_csv(&csv_path).unwrap();
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.contains("dw_stim_q025") && header.ends_with("visits"));
}

/// A gated, input-dropped DNN is stored and read back with its structure: labelled as
/// such, and its read-out is exactly 0 after every error trial.
#[test]
fn a_structural_variant_is_stored_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = cohort(tmp.path());
    let mut model = ModelSpec::dnn();
    model.gate = Gate::CorrectOnly;
    model.drop_input = vec![RuleInput::SessionStart];
    let spec = spec(&data, model);
    let toml = spec.to_toml().unwrap();
    assert!(toml.contains("gate = \"correct-only\""), "{toml}");
    assert_eq!(FitSpec::from_toml(&toml).unwrap(), spec);
    let dir = tmp.path().join("gated");
    RunDir::save(&dir, &fit(&spec).unwrap(), false).unwrap();
    let run = RunDir::load(&dir).unwrap();
    assert_eq!(run.label(), "dnn[gate=correct-only,drop=session-start]");
    let Model::Dnn(rule) = &run.rule else {
        panic!("a dnn run")
    };
    assert_eq!(rule.structure, spec.model.structure());
    let grid = RuleGrid::of_run(&run, 0);
    let deltas = &grid.conditions[0].1;
    let (mut zero, mut moved) = (0, 0);
    for (p, d) in grid.points.iter().zip(deltas) {
        if p.correct {
            moved += usize::from(d.iter().any(|v| *v != 0.0));
        } else {
            assert!(d.iter().all(|v| *v == 0.0), "Δw after an error: {d:?}");
            zero += 1;
        }
    }
    assert!(zero > 0 && moved > 0);
    // Gates and dropped inputs are refused for models without a network.
    let mut bad = spec.clone();
    bad.model.model = denovo_study::ModelKind::Parametric(RuleKind::Reinforce);
    assert!(bad.check().unwrap_err().to_string().contains("gate"));
}

/// Known initial weights (`--w0 truth`) follow a bootstrap copy: replicate fits resample
/// the animals (a second copy is renamed `<name>#2`), and each copy starts from its
/// original animal's true w0 instead of failing on the new name.
#[test]
fn bootstrap_copies_take_their_animals_known_w0() {
    let tmp = tempfile::tempdir().unwrap();
    let data = cohort(tmp.path());
    let mut spec = spec(&data, ModelSpec::parametric(RuleKind::Reinforce));
    spec.w0 = Some("truth".into());
    let dir = tmp.path().join("run");
    RunDir::save(&dir, &fit(&spec).unwrap(), false).unwrap();
    let e = fit_ensemble(&spec, &dir, 2, Resample::Animals, &|_, _| {}).unwrap();
    let members = load_replicates(&dir).unwrap();
    let copies: Vec<&String> = (members.iter())
        .flat_map(|m| &m.summary.subjects)
        .filter(|s| s.contains('#'))
        .collect();
    assert!(!copies.is_empty(), "the bootstraps repeat an animal");
    assert_eq!(e.members.len(), 2);
    let truth = denovo_study::Truth::read(&data.with_extension("truth.json")).unwrap();
    for m in &members {
        let w0 = m.summary.w0.as_ref().expect("known w0 are stored");
        for (subject, w) in m.summary.subjects.iter().zip(w0) {
            let name = subject.split('#').next().unwrap();
            let (_, traj) = (truth.trajectories.iter())
                .find(|(s, _)| s == name)
                .unwrap();
            assert_eq!(w, &traj[0], "{subject}");
        }
    }
}

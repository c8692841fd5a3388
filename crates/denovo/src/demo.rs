//! `denovo demo`: the built-in main job.

use clap::Args;
use denovo_data::Format;
use denovo_report::text::{self, FitRow};
use denovo_rules::{RuleKind, RuleSpec};
use denovo_study::ModelKind;
use std::path::{Path, PathBuf};

/// Arguments of `denovo demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Folder for the demo's files (simulated cohort, sidecar, figures).
    #[arg(long, default_value = "denovo-demo")]
    pub out: PathBuf,
    /// The real rat's trials CSV (default: $DENOVO_DATA/rat_W053.csv, else
    /// shared/data/rat_W053.csv in this folder or the nearest above it); skipped when
    /// missing.
    #[arg(long)]
    pub rat: Option<PathBuf>,
    /// Animals in the simulated cohort.
    #[arg(long, default_value_t = 20)]
    pub animals: usize,
    /// Trials per simulated animal.
    #[arg(long, default_value_t = 2000)]
    pub trials: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folds over animals for the held-out-animal likelihood of the fits.
    #[arg(long, default_value_t = 4)]
    pub folds: usize,
    /// Training epochs of the DNN and RNN fits (`denovo fit`'s default: 300).
    #[arg(long, default_value_t = 300)]
    pub neural_epochs: usize,
    /// Worker processes of the cross-validation sweep [default: the CPU cores, at most 4].
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    println!("== 1. Simulate a cohort learning by REINFORCE ==");
    let sim = denovo_study::demo_cohort(&args.out, args.animals, args.trials, args.seed)?;
    let (spec, data_path) = (sim.rule, sim.data);
    println!(
        "{} animals × {} trials, α_stim = 2⁻⁴, α_bias = 2⁻⁶ → {} (truth in {})",
        args.animals,
        args.trials,
        data_path.display(),
        sim.sidecar.display()
    );
    println!("\n== 2. Inspect it ==");
    inspect(&data_path, &args.out.join("sim_learning_curve.png"))?;

    println!("\n== 3. The real rat ==");
    let rat = (args.rat.clone())
        .or_else(|| denovo_data::shared_data("rat_W053.csv"))
        .filter(|r| r.is_file());
    match &rat {
        Some(rat) => inspect(rat, &args.out.join("rat_learning_curve.png"))?,
        None => println!("rat_W053.csv not found: skipped (set DENOVO_DATA or pass --rat)"),
    }
    println!(
        "\n== 4. Fit every parametric rule, the DNN and the RNN rule to the simulated cohort =="
    );
    let folds = denovo_study::demo_folds(args.folds, args.animals);
    let jobs = (args.jobs)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)));
    println!(
        "held out: the last 20% of every animal's sessions{}",
        if folds >= 2 {
            format!(", and animals by {folds}-fold cross-validation (a sweep on {jobs} workers)")
        } else {
            String::new()
        }
    );
    // Every parametric rule (closed form), then the DNN and RNN rules (fused scan op); the
    // held-out animals through the sweep's local pool.
    let sweep = (folds >= 2)
        .then(|| cross_validate(args, &data_path, folds, jobs))
        .transpose()?;
    let cv = sweep.as_ref().map(|s| &s.collected);
    let (rows, sim_runs) = fit_models(args, &data_path, &ModelKind::ALL, "fit", Some(&spec), cv)?;
    print!("{}", text::fit_table(&rows));
    if let Some(sweep) = &sweep {
        println!(
            "\nAcross the {} held-out animals ({} tasks: {}):",
            args.animals,
            sweep.tasks,
            sweep.dir.display()
        );
        print!("{}", sweep.collected.comparison_table());
    }
    let mut reports = vec![report(&args.out.join("report_sim"), &sim_runs)?];
    if let Some(rat) = &rat {
        println!("\n== 5. Fit REINFORCE (+ baseline), DNN, RNN and PsyTrack to the rat ==");
        println!("held out: the last 20% of its sessions; inputs s1, s2, bias");
        let models = denovo_study::DEMO_RAT_MODELS;
        let (rows, rat_runs) = fit_models(args, rat, &models, "rat", None, None)?;
        print!("{}", text::fit_table(&rows));
        reports.push(report(&args.out.join("report_rat"), &rat_runs)?);
    }
    println!(
        "\nRun directories (summary.json, weights.csv, model.mpk): {}/",
        args.out.display()
    );
    for r in &reports {
        println!("Open the report in a browser: {}", r.display());
    }
    Ok(())
}

/// `denovo inspect DATA --plot PLOT`.
fn inspect(data: &Path, plot: &Path) -> anyhow::Result<()> {
    let data = denovo_data::load(data, Format::Auto)?;
    print!("{}", text::summary_text(&data.summary()));
    denovo_report::learning_curve(&data, plot)?;
    println!("learning curve: {}", plot.display());
    Ok(())
}

/// `denovo report` of `runs` into `out`; returns the HTML's path.
fn report(out: &Path, runs: &[PathBuf]) -> anyhow::Result<PathBuf> {
    let options = denovo_report::ReportOptions::default();
    Ok(denovo_report::write_report(runs, out, &options)?.html)
}

/// The simulated cohort's models by `folds`-fold cross-validation over animals: a sweep
/// (`<out>/sweep_sim.toml`, `<out>/sweep_sim/`) run on `jobs` worker processes of this
/// binary, with a progress bar.
fn cross_validate(
    args: &DemoArgs,
    data: &Path,
    folds: usize,
    jobs: usize,
) -> anyhow::Result<denovo_sweep::DemoSweep> {
    let worker = denovo_sweep::Worker {
        program: std::env::current_exe()?,
        args: vec!["sweep".into()],
    };
    let bar = indicatif::ProgressBar::new(0).with_message("held-out animals");
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{msg}: {pos}/{len} tasks {wide_bar}",
    )?);
    let sweep = denovo_sweep::run_demo_sweep(
        &args.out,
        "sweep_sim",
        data,
        &ModelKind::ALL,
        folds,
        args.seed,
        args.neural_epochs,
        jobs,
        &worker,
        &mut |e| match e {
            denovo_sweep::LocalEvent::Start { pending, .. } => bar.set_length(*pending as u64),
            denovo_sweep::LocalEvent::Finished { .. } => bar.inc(1),
        },
    );
    bar.finish_and_clear();
    Ok(sweep?)
}

/// Fits `models` to `data` (the last 20% of sessions held out) into
/// `<out>/<prefix>_<model>`; returns the table rows (with the true rule's scores when
/// `truth` is given, the held-out animals' LL from the sweep `cv`) and the run directories.
fn fit_models(
    args: &DemoArgs,
    data: &Path,
    models: &[ModelKind],
    prefix: &str,
    truth: Option<&RuleSpec>,
    cv: Option<&denovo_sweep::Collected>,
) -> anyhow::Result<(Vec<FitRow>, Vec<PathBuf>)> {
    let mut rows = Vec::new();
    let mut dirs = Vec::new();
    for &model in models {
        let out = args.out.join(format!("{prefix}_{}", model.name()));
        let spec = denovo_study::demo_fit_spec(data, model, 0, args.seed, args.neural_epochs);
        let s = crate::fit::fit_to_dir(&spec, &out)?;
        dirs.push(out);
        if let (Some(truth), ModelKind::Parametric(RuleKind::Reinforce)) = (truth, model) {
            let (train, held) = denovo_study::score_rule_spec(&spec, truth)?;
            rows.push(FitRow {
                name: "reinforce (true rule)".into(),
                train: train.ll_per_trial,
                sessions: held.map_or(f64::NAN, |h| h.ll_per_trial),
                animals: f64::NAN,
                params: text::describe_rule(truth),
                seconds: f64::NAN,
            });
        }
        let mut row = FitRow::of_summary(&s);
        if let Some(cv) = cv {
            row.animals = cv.pooled_ll(model.name());
        }
        rows.push(row);
    }
    Ok((rows, dirs))
}

//! `denovo demo`: the built-in main job.

use crate::fit::{BackendChoice, FitArgs, ModelKind};
use clap::Args;
use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::CohortConfig;
use std::path::{Path, PathBuf};

/// Arguments of `denovo demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Folder for the demo's files (simulated cohort, sidecar, figures).
    #[arg(long, default_value = "denovo-demo")]
    pub out: PathBuf,
    /// The real rat's trials CSV (default: $DENOVO_DATA/rat_W053.csv, else
    /// ../shared/data/rat_W053.csv); skipped when missing.
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
}

/// One line of the demo's comparison table.
struct Row {
    name: String,
    train: f64,
    sessions: f64,
    animals: f64,
    params: String,
    seconds: f64,
}

/// α (and β, τ) in a short form.
fn describe(spec: &RuleSpec) -> String {
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!("α = [{}]", list(&spec.alpha));
    if !spec.beta.is_empty() {
        out.push_str(&format!("  β = [{}]", list(&spec.beta)));
    }
    if let Some(t) = spec.inverse_temperature {
        out.push_str(&format!("  τ = {t:.3}"));
    }
    out
}

/// Where the real rat's data is looked for.
pub fn rat_path(explicit: Option<&PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p.clone();
    }
    match std::env::var_os("DENOVO_DATA") {
        Some(dir) => PathBuf::from(dir).join("rat_W053.csv"),
        None => PathBuf::from("../shared/data/rat_W053.csv"),
    }
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    println!("== 1. Simulate a cohort learning by REINFORCE ==");
    let spec = RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![1.0 / 16.0, 1.0 / 64.0],
        beta: vec![],
        inverse_temperature: None,
    };
    let config = CohortConfig {
        animals: args.animals,
        trials: args.trials,
        seed: args.seed,
        ..CohortConfig::default()
    };
    let cohort = denovo_sim::simulate(&spec, &config)?;
    let data_path = args.out.join("sim_reinforce.csv");
    let sidecar = denovo_sim::write_cohort(&cohort, &data_path, Format::TrialsCsv)?;
    println!(
        "{} animals × {} trials, α_stim = 2⁻⁴, α_bias = 2⁻⁶ → {} (truth in {})",
        config.animals,
        config.trials,
        data_path.display(),
        sidecar.display()
    );
    println!("\n== 2. Inspect it ==");
    let loaded = denovo_data::load(&data_path, Format::Auto)?;
    crate::inspect::print_summary(&loaded);
    let plot = args.out.join("sim_learning_curve.png");
    crate::plot::learning_curve(&loaded, &plot)?;
    println!("learning curve: {}", plot.display());

    println!("\n== 3. The real rat ==");
    let rat = rat_path(args.rat.as_ref());
    if rat.is_file() {
        let data = denovo_data::load(&rat, Format::Auto)?;
        crate::inspect::print_summary(&data);
        let plot = args.out.join("rat_learning_curve.png");
        crate::plot::learning_curve(&data, &plot)?;
        println!("learning curve: {}", plot.display());
    } else {
        println!(
            "{} not found: skipped (set DENOVO_DATA or pass --rat to point at it)",
            rat.display()
        );
    }
    println!(
        "\n== 4. Fit every parametric rule, the DNN and the RNN rule to the simulated cohort =="
    );
    // Cross-validation needs at least two animals per split.
    let folds = if args.folds.min(args.animals) >= 2 {
        args.folds.min(args.animals)
    } else {
        0
    };
    println!(
        "held out: the last 20% of every animal's sessions{}",
        if folds >= 2 {
            format!(", and animals by {folds}-fold cross-validation")
        } else {
            String::new()
        }
    );
    // Every parametric rule (closed form), then the DNN and RNN rules (fused scan op).
    let models: Vec<ModelKind> = RuleKind::ALL
        .into_iter()
        .map(ModelKind::Parametric)
        .chain([ModelKind::Dnn, ModelKind::Rnn])
        .collect();
    let (rows, sim_runs) = fit_models(args, &data_path, &models, folds, "fit", Some(&spec))?;
    print_table(&rows);
    let mut reports = vec![report(&args.out.join("report_sim"), &sim_runs)?];
    if rat.is_file() {
        println!("\n== 5. Fit REINFORCE (+ baseline), the DNN and the RNN rule to the rat ==");
        println!("held out: the last 20% of its sessions; inputs s1, s2, bias");
        let models = [
            ModelKind::Parametric(RuleKind::Reinforce),
            ModelKind::Parametric(RuleKind::ReinforceBaseline),
            ModelKind::Dnn,
            ModelKind::Rnn,
        ];
        let (rows, rat_runs) = fit_models(args, &rat, &models, 0, "rat", None)?;
        print_table(&rows);
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

/// `denovo report` of `runs` into `out`; returns the HTML's path.
fn report(out: &Path, runs: &[PathBuf]) -> anyhow::Result<PathBuf> {
    crate::report::run(&crate::report::ReportArgs {
        runs: runs.to_vec(),
        out: out.to_path_buf(),
        history: 3,
        animals: 6,
    })?;
    Ok(out.join("report.html"))
}

/// Fits `models` to `data` (last 20% of sessions held out, `folds`-fold CV over animals)
/// into `<out>/<prefix>_<model>`; returns the table rows (with the true rule's scores
/// when `truth` is given) and the run directories.
fn fit_models(
    args: &DemoArgs,
    data: &Path,
    models: &[ModelKind],
    folds: usize,
    prefix: &str,
    truth: Option<&RuleSpec>,
) -> anyhow::Result<(Vec<Row>, Vec<PathBuf>)> {
    let mut rows = Vec::new();
    let mut dirs = Vec::new();
    for &model in models {
        let out = args.out.join(format!("{prefix}_{}", model.name()));
        let fit_args = FitArgs {
            data: Some(data.to_path_buf()),
            model: Some(model),
            out: Some(out.clone()),
            config: None,
            resume: None,
            checkpoint_every: 0,
            interrupt_after: None,
            folds,
            holdout_sessions: 0.2,
            seed: args.seed,
            epochs: matches!(model, ModelKind::Dnn | ModelKind::Rnn).then_some(args.neural_epochs),
            lr: None,
            lr_step: None,
            lbfgs: None,
            bptt: None,
            early_stop: None,
            validation_animals: 0.1,
            hidden: vec![32, 32],
            gru_hidden: 32,
            gamma_init: 1e-3,
            generic: false,
            init_alpha: 0.01,
            fit_w0: false,
            regressors: vec![],
            first_trials: None,
            format: Format::Auto,
            backend: BackendChoice::Ndarray,
            quiet: false,
        };
        let s = crate::fit::fit_to_dir(&fit_args)?;
        dirs.push(out);
        if let (Some(spec), ModelKind::Parametric(RuleKind::Reinforce)) = (truth, model) {
            let (train, held) = crate::fit::score_spec(&fit_args, spec)?;
            rows.push(Row {
                name: "reinforce (true rule)".into(),
                train: train.ll_per_trial,
                sessions: held.map_or(f64::NAN, |h| h.ll_per_trial),
                animals: f64::NAN,
                params: describe(spec),
                seconds: f64::NAN,
            });
        }
        rows.push(Row {
            name: model.name().into(),
            train: s.train.ll_per_trial,
            sessions: s
                .heldout_sessions
                .as_ref()
                .map_or(f64::NAN, |h| h.ll_per_trial),
            animals: s
                .heldout_animals
                .as_ref()
                .map_or(f64::NAN, |h| h.ll_per_trial),
            params: serde_json::from_value::<RuleSpec>(s.parameters.clone())
                .map(|p| describe(&p))
                .unwrap_or_else(|_| {
                    let gamma: Vec<f64> =
                        serde_json::from_value(s.parameters["gamma"].clone()).unwrap_or_default();
                    let list: Vec<String> = gamma.iter().map(|g| format!("{g:.4}")).collect();
                    format!("γ = [{}] (MLP 32×32 in model.mpk)", list.join(", "))
                }),
            seconds: s.seconds,
        });
    }
    Ok((rows, dirs))
}

/// Prints the comparison table.
fn print_table(rows: &[Row]) {
    println!(
        "\n{:<22} {:>10} {:>12} {:>12} {:>8}  parameters",
        "rule", "train LL", "held-out", "held-out", "seconds"
    );
    println!(
        "{:<22} {:>10} {:>12} {:>12} {:>8}",
        "", "(nats/tr)", "sessions", "animals", ""
    );
    for r in rows {
        let num = |v: f64| {
            if v.is_nan() {
                "—".to_string()
            } else {
                format!("{v:.4}")
            }
        };
        let secs = if r.seconds.is_nan() {
            "—".to_string()
        } else {
            format!("{:.1}", r.seconds)
        };
        println!(
            "{:<22} {:>10} {:>12} {:>12} {:>8}  {}",
            r.name,
            num(r.train),
            num(r.sessions),
            num(r.animals),
            secs,
            r.params
        );
    }
}

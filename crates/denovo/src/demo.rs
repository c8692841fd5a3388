//! `denovo demo`: the built-in main job.

use clap::Args;
use denovo_data::Format;
use denovo_rules::{RuleKind, RuleSpec};
use denovo_sim::CohortConfig;
use std::path::PathBuf;

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
        w0_sd: vec![0.0, 0.5],
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
    println!("\nFitting learning rules to these data comes with `denovo fit` (next release).");
    Ok(())
}

//! `denovo evaluate`: score a saved rule on new data.

use crate::run_dir::{ReadBackend, read_run, with_rule};
use clap::Args;
use denovo_data::{DesignOptions, Format, SubjectDesign};
use denovo_glm::float_tensor;
use denovo_train::SequenceBatch;
use std::path::PathBuf;

/// Arguments of `denovo evaluate`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo evaluate runs/rat_reinforce ../shared/data/rat_W053.csv
  denovo evaluate runs/cv new_animals.csv --json

Runs the fitted rule through every animal of DATA from w0 = 0 (or the mean fitted w0 of
the run) with the run's regressors, and reports the log-likelihood per trial and the
accuracy, overall and per animal.")]
pub struct EvaluateArgs {
    /// The run directory of `denovo fit`.
    pub run: PathBuf,
    /// The behaviour to score.
    pub data: PathBuf,
    /// The data format.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Print JSON (the `SplitScore` document of docs/cli.md) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `denovo evaluate`.
pub fn run(args: &EvaluateArgs) -> anyhow::Result<()> {
    let run = read_run(&args.run)?;
    let data = denovo_data::load(&args.data, args.format)?;
    let names: Vec<&str> = run.regressors.iter().map(String::as_str).collect();
    let design = data.design(&DesignOptions::from_names(&names)?)?;
    let subjects: Vec<&SubjectDesign> = design.subjects.iter().collect();
    let k = names.len();
    let n = subjects.len();
    let device = Default::default();
    let w0 = float_tensor::<ReadBackend, 2>(run.mean_w0().repeat(n), [n, k], &device);
    let batch = SequenceBatch::<ReadBackend>::whole(&design.subjects, &device);
    let eval = with_rule!(&run.rule, r => denovo_train::evaluate(r, &batch, w0.clone()));
    let subject_names: Vec<&str> = subjects.iter().map(|s| s.subject.as_str()).collect();
    let score = crate::fit::score(&eval, &subject_names);
    if args.json {
        let doc = serde_json::json!({
            "schema": "denovo.evaluate/1",
            "run": args.run.display().to_string(),
            "model": run.model,
            "data": args.data.display().to_string(),
            "score": score,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{} on {}: LL {:.4} nats/trial, accuracy {:.4} over {} trials of {} animals",
            run.model,
            args.data.display(),
            score.ll_per_trial,
            score.accuracy,
            score.trials,
            n
        );
        for a in &score.per_animal {
            println!(
                "  {:<12} LL {:.4}  accuracy {:.4}  ({} trials)",
                a.subject, a.ll_per_trial, a.accuracy, a.trials
            );
        }
    }
    Ok(())
}

//! `denovo rule`: the fitted learning rule read out on a grid.

use crate::run_dir::{ReadBackend, read_run, with_rule};
use anyhow::Context;
use clap::Args;
use denovo_train::readout::{grid, read_out};
use std::path::PathBuf;

/// Arguments of `denovo rule`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo rule runs/dnn --out runs/dnn/grid.csv
  denovo rule runs/rnn --history 3 --out grid.csv

The grid: every weight w_j on −2, −1.5, …, 2 (the bias weight on −1, 0, 1), every
non-bias regressor x_j on its typical values (stim: the signed IBL contrasts through
tanh(5c)/tanh(5); others −1, −0.5, 0, 0.5, 1), choice left/right and the trial correct or
not (the correct side follows). Each row gives Δw = w_{t+1} − w_t after that trial. The
same grid for every model, so parametric and neural rules compare row by row. For rnn
runs, --history K adds the read-out after K rewarded and after K unrewarded trials.")]
pub struct RuleArgs {
    /// The run directory of `denovo fit`.
    pub run: PathBuf,
    /// Output CSV.
    #[arg(long)]
    pub out: PathBuf,
    /// For rnn runs: also condition on the previous K trials all rewarded / all unrewarded.
    #[arg(long, default_value_t = 0)]
    pub history: usize,
}

/// Runs `denovo rule`.
pub fn run(args: &RuleArgs) -> anyhow::Result<()> {
    let run = read_run(&args.run)?;
    let k = run.regressors.len();
    let points = grid(&run.regressors);
    let mut conditions: Vec<(String, Option<(usize, bool)>)> = vec![("none".into(), None)];
    if args.history > 0 {
        if run.has_history() {
            conditions.push((
                format!("{} rewarded", args.history),
                Some((args.history, true)),
            ));
            conditions.push((
                format!("{} unrewarded", args.history),
                Some((args.history, false)),
            ));
        } else {
            eprintln!(
                "note: --history is ignored for {} (the rule has no memory)",
                run.model
            );
        }
    }
    let mut out = csv::Writer::from_path(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let mut header = vec!["model".to_string(), "history".into()];
    header.extend(run.regressors.iter().map(|r| format!("w_{r}")));
    header.extend(run.regressors.iter().map(|r| format!("x_{r}")));
    header.extend(["choice".into(), "reward".into(), "answer".into()]);
    header.extend(run.regressors.iter().map(|r| format!("dw_{r}")));
    out.write_record(&header)?;
    for (label, history) in &conditions {
        let deltas =
            with_rule!(&run.rule, r => read_out::<ReadBackend, _>(r, &points, k, *history));
        for (p, d) in points.iter().zip(deltas) {
            let mut row = vec![run.model.clone(), label.clone()];
            row.extend(p.w.iter().chain(&p.x).map(|v| format!("{v}")));
            let answer = p.answer();
            row.extend([
                format!("{}", p.choice),
                format!("{}", u8::from(p.correct)),
                format!("{answer}"),
            ]);
            row.extend(d.iter().map(|v| format!("{v}")));
            out.write_record(&row)?;
        }
    }
    out.flush()?;
    println!(
        "{}: Δw of the {} rule on {} grid points × {} condition(s) → {}",
        run.dir.display(),
        run.model,
        points.len(),
        conditions.len(),
        args.out.display()
    );
    Ok(())
}

//! `denovo report`: figures (PNG + SVG) and one self-contained `report.html` for one or
//! more run directories.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `denovo report`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo report runs/reinforce runs/dnn runs/rnn --out report/
  denovo report denovo-demo/fit_* --out denovo-demo/report --history 5
  denovo report runs/cv --out runs/cv/report        a sweep directory (all tasks done)

Writes, for every run: learning_curves_<run> (observed fraction correct per session vs the
model's predicted fraction, mean p(correct), pooled and per animal) and weights_<run> (the
weight trajectories w_t, sessions marked, held-out trials shaded); for all runs together:
rule (Δw of the stimulus weight against the stimulus, correct vs error trials, at several
weights — the same grid for every run), rule_history (RNN runs: after K rewarded vs K
unrewarded trials) and comparison (held-out log-likelihood per animal with the paired
differences to the first run: mean, 95% CI, paired t-test and Wilcoxon signed-rank test,
two- and one-sided; runs that share a single animal are paired across its held-out
sessions instead). The comparison is printed and written as comparison.md and
comparison.csv.
Simulated data (a truth sidecar of `denovo simulate` beside the data): the true rule and
the true w_t are drawn beneath the fits.
Each figure comes as PNG and SVG; report.html embeds the PNGs and opens in any browser.
A sweep directory (`denovo sweep`): the cross-validated comparison (per-animal held-out LL
averaged over seeds, every model vs the reference of the last `denovo sweep --collect`
(else the sweep's): mean difference, CI, one-sided paired
t-test and Wilcoxon), every animal's held-out LL per model × fold × seed, and the figures
of one task run per model (fold 0 of the first seed).")]
pub struct ReportArgs {
    /// Run directories of `denovo fit` (the first is the reference of the comparison), or
    /// one sweep directory.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// RNN read-out after this many rewarded / unrewarded trials.
    #[arg(long, default_value_t = 3)]
    pub history: usize,
    /// At most this many animals get their own panels.
    #[arg(long, default_value_t = 6)]
    pub animals: usize,
}

/// Runs `denovo report`.
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let options = denovo_report::ReportOptions {
        history: args.history,
        animals: args.animals,
    };
    let r = match args.runs.as_slice() {
        [dir] if dir.join("tasks.json").is_file() => {
            // The reference of the last --collect (comparison.csv's), else the sweep's.
            let reference = denovo_sweep::collected_reference(dir)?;
            let cv = denovo_sweep::results(dir, reference.as_deref())?;
            let (labels, runs): (Vec<String>, Vec<_>) =
                denovo_sweep::task_runs(dir)?.into_iter().unzip();
            print!("{}", cv.comparison_table());
            denovo_report::write_sweep_report(&cv, dir, &runs, &labels, &args.out, &options)?
        }
        runs => denovo_report::write_report(runs, &args.out, &options)?,
    };
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(c) = &r.comparison {
        println!("{c}");
    }
    println!(
        "report of {} run(s): {} figures (PNG + SVG) → {}",
        r.runs,
        r.figures,
        r.html.display()
    );
    for t in &r.truth {
        println!("simulated data: the truth drawn from {}", t.display());
    }
    Ok(())
}

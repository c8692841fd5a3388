//! `denovo sweep`: parses the flags and prints; denovo_sweep does the work.

use anyhow::{Context, bail};
use clap::Args;
use denovo_sweep::{LocalEvent, SlurmOptions, Worker};
use std::path::PathBuf;

/// Arguments of `denovo sweep`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo sweep sweep.toml --out runs/cv --local 2     expand, run on 2 workers (re-run resumes)
  denovo sweep runs/cv --status                       done / running / failed / pending, log tails
  denovo sweep runs/cv --collect                      results.csv, comparison.csv, the paired table
  denovo sweep sweep.toml --out runs/cv --slurm --max-parallel 20 --slurm-args \"--time=2:00:00 --mem=4G\"
  denovo sweep runs/cv --slurm --dry-run              print the array job script
  denovo sweep runs/cv --task 7                       one task (what each array task runs)

sweep.toml: data, folds, fold_seed, seeds, replicates, reference, [defaults] and [[models]]
(fit.toml keys per model; docs/cli.md). Layout of DIR: docs/run-dir.md.")]
pub struct SweepArgs {
    /// A sweep.toml (with --out) or a sweep directory.
    pub input: PathBuf,
    /// The sweep directory to create or resume (with a sweep.toml).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only task I (its id in DIR/tasks.json).
    #[arg(long, value_name = "I")]
    pub task: Option<usize>,
    /// Run the pending tasks on J local worker processes.
    #[arg(long, value_name = "J")]
    pub local: Option<usize>,
    /// Submit the pending tasks as one SLURM array job (sbatch).
    #[arg(long)]
    pub slurm: bool,
    /// sbatch options passed through (partition, time, memory, cpus-per-task).
    #[arg(long, allow_hyphen_values = true, default_value = "")]
    pub slurm_args: String,
    /// At most K array tasks at once (--array=…%K).
    #[arg(long, value_name = "K")]
    pub max_parallel: Option<usize>,
    /// With --slurm: print the script instead of submitting it.
    #[arg(long)]
    pub dry_run: bool,
    /// List done / running / failed / pending tasks, with the tail of failed tasks' logs.
    #[arg(long)]
    pub status: bool,
    /// Merge the results: results.csv/.json, comparison.csv and the paired table.
    #[arg(long)]
    pub collect: bool,
    /// The reference model of --collect [default: the sweep's, reinforce-baseline].
    #[arg(long)]
    pub reference: Option<String>,
}

/// Runs `denovo sweep`.
pub fn run(a: &SweepArgs) -> anyhow::Result<()> {
    let dir = match (&a.out, a.input.is_file()) {
        (Some(out), true) => {
            let plan = denovo_sweep::prepare(&a.input, out)?;
            eprintln!("{} tasks in {}", plan.tasks.len(), out.display());
            out.clone()
        }
        (None, true) => bail!("{}: a new sweep needs --out DIR", a.input.display()),
        (_, false) => a.input.clone(),
    };
    let worker = Worker {
        program: std::env::current_exe().context("the path of this denovo binary")?,
        args: vec!["sweep".into()],
    };
    if let Some(id) = a.task {
        denovo_sweep::run_task(&dir, id)?;
    } else if let Some(jobs) = a.local {
        let bar = indicatif::ProgressBar::new(0);
        let report = denovo_sweep::run_local(&dir, jobs, &worker, &mut |e| match e {
            LocalEvent::Start { pending, .. } => bar.set_length(*pending as u64),
            LocalEvent::Finished { id, name, ok } => {
                bar.inc(1);
                bar.println(format!(
                    "task {id} {name}: {}",
                    if *ok { "done" } else { "FAILED" }
                ));
            }
        })?;
        bar.finish_and_clear();
        eprintln!(
            "{} run, {} done before, {} failed",
            report.ran,
            report.skipped,
            report.failed.len()
        );
        if !report.failed.is_empty() {
            bail!(
                "tasks {:?} failed; see `denovo sweep {} --status`",
                report.failed,
                dir.display()
            );
        }
    } else if a.slurm {
        let options = SlurmOptions {
            max_parallel: a.max_parallel,
            args: a.slurm_args.clone(),
        };
        if a.dry_run {
            print!(
                "{}",
                denovo_sweep::slurm::script(&dir, &worker, &options)?.unwrap_or_default()
            );
        } else if let Some((script, job)) = denovo_sweep::slurm::submit(&dir, &worker, &options)? {
            println!("submitted job {job} ({})", script.display());
        }
    } else if a.status {
        for t in denovo_sweep::status(&dir, 5)? {
            println!("{:>4} {:<28} {:?}", t.id, t.name, t.state);
            t.log_tail.iter().for_each(|l| println!("       | {l}"));
        }
    }
    if a.collect {
        print!(
            "{}",
            denovo_sweep::collect(&dir, a.reference.as_deref())?.table()
        );
    }
    Ok(())
}

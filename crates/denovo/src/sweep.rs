//! `denovo sweep`: parses the flags and prints; denovo_sweep does the work.

use anyhow::{Context, bail};
use clap::Args;
use denovo_sweep::{LocalEvent, SlurmOptions, Worker};
use std::path::PathBuf;

/// Arguments of `denovo sweep` (sweep.toml and DIR: docs/cli.md, docs/run-dir.md).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:
  denovo sweep sweep.toml --out runs/cv --local 2   expand, run on 2 workers (re-run resumes)
  denovo sweep runs/cv --status                     done / running / failed / pending
  denovo sweep runs/cv --collect                    results.csv, comparison.csv, paired table
  denovo sweep runs/cv --slurm --max-parallel 20 --slurm-args \"--time=2:00:00 --mem=4G\"
  denovo sweep runs/cv --slurm --dry-run            write and print the array job script
  denovo sweep runs/cv --task 7                     one task (what each worker runs)",
    after_long_help = "Examples:
  denovo sweep sweep.toml --out runs/cv --local 2   expand, run on 2 workers (re-run resumes)
  denovo sweep runs/cv --status                     done / running / failed / pending
                                                    (exit status 1 when a task failed)
  denovo sweep runs/cv --collect                    results.csv, comparison.csv, paired table
  denovo sweep runs/cv --slurm --max-parallel 20 --slurm-args \"--time=2:00:00 --mem=4G\"
  denovo sweep runs/cv --slurm --dry-run            write and print the array job script
  denovo sweep runs/cv --task 7                     one task (what each worker runs)

sweep.toml (paths relative to it; the full format in docs/cli.md, `denovo sweep`):
  data = \"cohort.csv\"                # the behaviour file or ALF folder
  folds = 5                          # folds over animals (default 5)
  seeds = [0, 1, 2]                  # fit seeds, each once (default [0])
  replicates = 1                     # fits per model x seed x fold (default 1)
  reference = \"reinforce-baseline\"   # the default if it is a model, else the first model
  [defaults]                         # fit.toml keys for every model
  lbfgs = 0
  [[models]]                         # fit.toml keys of one model (`denovo fit --help`)
  model = \"reinforce-baseline\"
  [[models]]
  model = \"dnn\"
  epochs = 300
  [[models]]
  name = \"rnn-small\"                 # optional: tells two entries of one model apart
  model = \"rnn\"
  gru_hidden = 16
  w0 = \"w0.csv\"                      # a path option: relative to sweep.toml

Every model entry is checked when the sweep is expanded (keys, ranges, regressors, files)."
)]
pub struct SweepArgs {
    /// A sweep.toml (with --out) or a sweep directory.
    pub input: PathBuf,
    /// The sweep directory to create or reopen (with a sweep.toml).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only task I (its id in DIR/tasks.json).
    #[arg(long, value_name = "I", conflicts_with_all = ["local", "slurm", "status", "collect"])]
    pub task: Option<usize>,
    /// Run the pending tasks on J local worker processes (J ≥ 1).
    #[arg(long, value_name = "J", conflicts_with_all = ["slurm", "status"],
          value_parser = clap::value_parser!(u16).range(1..))]
    pub local: Option<u16>,
    /// Submit the pending tasks as one SLURM array job (sbatch).
    #[arg(long, conflicts_with_all = ["status", "collect"])]
    pub slurm: bool,
    /// sbatch options passed through (partition, time, memory, cpus-per-task).
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value = "",
        requires = "slurm"
    )]
    pub slurm_args: String,
    /// At most K array tasks at once (--array=…%K).
    #[arg(long, value_name = "K", requires = "slurm",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: Option<u32>,
    /// With --slurm: write DIR/slurm/array.sh and print it instead of submitting it.
    #[arg(long, requires = "slurm")]
    pub dry_run: bool,
    /// List done / running / failed / pending tasks, with the tails of their logs (exit
    /// status 1 when a task failed).
    #[arg(long, conflicts_with = "collect")]
    pub status: bool,
    /// Merge the results (results.csv/.json, comparison.csv) and print the paired table.
    #[arg(long)]
    pub collect: bool,
    /// The reference model of --collect [default: the sweep's: reinforce-baseline when it
    /// is among the models, else the first model].
    #[arg(long, requires = "collect")]
    pub reference: Option<String>,
}

/// Runs `denovo sweep`.
pub fn run(a: &SweepArgs) -> anyhow::Result<()> {
    let dir = match (&a.out, a.input.is_file()) {
        (Some(out), true) => {
            let plan = denovo_sweep::prepare(&a.input, out)?;
            eprintln!(
                "{} tasks in {}; {}",
                plan.tasks.len(),
                out.display(),
                plan.reference_line()
            );
            out.clone()
        }
        (None, true) => bail!("{}: a new sweep needs --out DIR", a.input.display()),
        (_, false) => a.input.clone(),
    };
    let exe = std::env::current_exe().context("the path of this denovo binary")?;
    let worker = Worker {
        program: exe,
        args: vec!["sweep".into()],
    };
    let slurm = SlurmOptions {
        max_parallel: a.max_parallel.map(|k| k as usize),
        args: a.slurm_args.clone(),
    };
    if let Some(id) = a.task {
        denovo_sweep::run_task(&dir, id)?;
    } else if let Some(jobs) = a.local {
        let bar = indicatif::ProgressBar::new(0);
        let report = denovo_sweep::run_local(&dir, jobs.into(), &worker, &mut |e| match e {
            LocalEvent::Start { pending, .. } => bar.set_length(*pending as u64),
            LocalEvent::Finished { .. } => {
                bar.println(e.to_string());
                bar.inc(1);
            }
        })?;
        bar.finish_and_clear();
        eprintln!("{report}");
        if !report.failed.is_empty() {
            bail!(
                "tasks {:?} failed: `denovo sweep {} --status`",
                report.failed,
                dir.display()
            );
        }
    } else if a.slurm && a.dry_run {
        match denovo_sweep::slurm::write_script(&dir, &worker, &slurm)? {
            Some((path, script)) => {
                print!("{script}");
                eprintln!("written to {} (submit it with `sbatch`)", path.display());
            }
            None => eprintln!("nothing to submit: every task of {} is done", dir.display()),
        }
    } else if a.slurm {
        match denovo_sweep::slurm::submit(&dir, &worker, &slurm)? {
            Some((script, job)) => println!("submitted job {job} ({})", script.display()),
            None => eprintln!("nothing to submit: every task of {} is done", dir.display()),
        }
    } else if a.status {
        let tasks = denovo_sweep::status(&dir, 5)?;
        tasks.iter().for_each(|t| print!("{t}"));
        let failed = denovo_sweep::failed(&tasks);
        if !failed.is_empty() {
            bail!(
                "{} of {} tasks failed ({failed:?}; their logs' tails above); the same \
                 --local or --slurm command again reruns them",
                failed.len(),
                tasks.len()
            );
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

//! One task: fit the training folds' animals, score the held-out fold's, and put the
//! result in place atomically (`DIR/tasks/<name>/`).

use crate::{Plan, SweepError, Task, TaskKey};
use denovo_study::{FitOptions, FitSpec, Progress, RunDir, RunWriter, SplitScore};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `DIR/tasks/<name>/heldout.json`: what one task produced. Its presence (inside the
/// renamed folder) is what makes a task done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task (`id`, `name`, `model`, `fold`, `seed`, `replicate` in the JSON).
    #[serde(flatten)]
    pub key: TaskKey,
    /// LL per trial (nats) of the fit on its training animals.
    pub train_ll_per_trial: f64,
    /// The held-out fold's animals, each scored on all its trials by the rule fitted to
    /// the other folds (starting from the training animals' mean w0): LL per trial (nats),
    /// accuracy, trials, overall and per animal.
    pub heldout: SplitScore,
    /// Wall time of the task, seconds.
    pub seconds: f64,
}

/// What [`run_task`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// The task was done before: nothing was run.
    AlreadyDone,
    /// The task ran and its result is in place.
    Ran(TaskResult),
}

/// The environment variable that caps the threads of a task's kernels (set by
/// [`crate::run_local`] to cores / workers; unset: every core).
pub const KERNEL_THREADS_ENV: &str = "DENOVO_KERNEL_THREADS";

/// `DIR/tasks/<name>`: the finished task's folder.
pub fn task_dir(dir: &Path, task: &Task) -> PathBuf {
    dir.join("tasks").join(&task.key.name)
}

/// `DIR/logs/task-<id>.log`: the log of a task's worker (local and SLURM alike).
pub fn log_path(dir: &Path, id: usize) -> PathBuf {
    dir.join("logs").join(format!("task-{id}.log"))
}

/// One finished task's run directory per model, `DIR/tasks/<name>/run` (the model's first
/// task that has one: fold 0 of the first seed and replicate when it is done), with the
/// task's name, in the order of the models. The runs of one fold were fitted to the same
/// animals, so their figures compare like with like.
///
/// Errors: [`SweepError::SweepDir`], [`SweepError::Format`] (`tasks.json`).
pub fn task_runs(dir: &Path) -> Result<Vec<(String, PathBuf)>, SweepError> {
    let plan = Plan::read(dir)?;
    let mut out = Vec::new();
    for model in &plan.models {
        let first = (plan.tasks.iter())
            .filter(|t| t.key.model == *model && is_done(dir, t))
            .map(|t| (t.key.name.clone(), task_dir(dir, t).join("run")))
            .find(|(_, run)| run.join("summary.json").is_file());
        out.extend(first);
    }
    Ok(out)
}

/// Whether `task` is done: its folder holds `heldout.json`.
pub fn is_done(dir: &Path, task: &Task) -> bool {
    task_dir(dir, task).join("heldout.json").is_file()
}

/// An exclusive `flock` on `path` (created), or `None` when another process holds it.
pub(crate) fn try_lock(path: &Path) -> Result<Option<File>, SweepError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(SweepError::io(parent))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(SweepError::io(path))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(SweepError::io(path)(e)),
    }
}

/// `DIR/tasks/.<name>.lock`, held while the task runs.
pub(crate) fn lock_path(dir: &Path, task: &Task) -> PathBuf {
    dir.join("tasks").join(format!(".{}.lock", task.key.name))
}

/// Runs task `id` of the sweep in `dir` (`denovo sweep DIR --task I`): takes the task's
/// lock, fits the model to the animals of the other folds through
/// [`denovo_study::fit_with`] (the data loaded once, the held-out fold removed), scores
/// the held-out animals with [`denovo_study::evaluate`], and writes everything into
/// `DIR/tasks/.<name>.partial/`, renamed to `DIR/tasks/<name>/` on success — a killed task
/// leaves only the partial folder, which the next run of the task removes. Progress lines
/// go to stderr (the task's log). The fit's kernels use at most `DENOVO_KERNEL_THREADS`
/// threads when that is set ([`KERNEL_THREADS_ENV`]).
///
/// Errors: [`SweepError::TaskOutOfRange`], [`SweepError::Busy`] (the task is running
/// elsewhere), the fit's and the data's errors, [`SweepError::Io`].
pub fn run_task(dir: &Path, id: usize) -> Result<TaskOutcome, SweepError> {
    let plan = Plan::read(dir)?;
    let task = plan.task(dir, id)?;
    let lock = lock_path(dir, task);
    // `--status` probes the lock for an instant: a few retries tell that from a worker.
    let mut held = try_lock(&lock)?;
    for _ in 0..20 {
        if held.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
        held = try_lock(&lock)?;
    }
    let Some(_lock) = held else {
        return Err(SweepError::Busy(lock));
    };
    if is_done(dir, task) {
        return Ok(TaskOutcome::AlreadyDone);
    }
    let start = Instant::now();
    let partial = dir
        .join("tasks")
        .join(format!(".{}.partial", task.key.name));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(SweepError::io(&partial))?;
    }
    std::fs::create_dir_all(&partial).map_err(SweepError::io(&partial))?;

    let mut spec = FitSpec::from_toml(&task.fit_toml)?;
    spec.data = plan.data.clone();
    spec.check()?;
    let spec = spec.resolved();
    eprintln!("task {id} ({}): {}", task.key.name, spec.training_line());
    let mut data = denovo_data::load_with(&spec.data, &spec.load_options())?;
    if let Some(n) = spec.first_trials {
        data = data.first_trials(n);
    }
    let held_out = &plan.fold_subjects[task.key.fold];
    let (mut train, mut test) = (data.clone(), data);
    train.subjects.retain(|s| !held_out.contains(&s.name));
    test.subjects.retain(|s| held_out.contains(&s.name));
    if test.subjects.len() != held_out.len() {
        return Err(SweepError::SweepDir {
            dir: dir.to_path_buf(),
            message: format!(
                "the data {} no longer holds the animals of fold {} ({})",
                plan.data.display(),
                task.key.fold,
                held_out.join(", ")
            ),
        });
    }

    let run_dir = partial.join("run");
    let writer = RunWriter::begin(&run_dir, &spec, true)?;
    let mut progress = LogProgress::default();
    let options = FitOptions {
        progress: Some(&mut progress),
        dataset: Some(&train),
        ..Default::default()
    };
    let threads = std::env::var(KERNEL_THREADS_ENV).ok();
    let result = match threads.and_then(|t| t.parse::<usize>().ok()) {
        Some(t) => denovo_rules::threads::with_kernel_threads(t, || {
            denovo_study::fit_with(&spec, options)
        })?,
        None => denovo_study::fit_with(&spec, options)?,
    };
    writer.commit(&result)?;
    let run = RunDir::load(&run_dir)?;
    let heldout = denovo_study::evaluate_fitted(&run, &test)?;
    let result = TaskResult {
        key: task.key.clone(),
        train_ll_per_trial: run.summary.train.ll_per_trial,
        heldout,
        seconds: start.elapsed().as_secs_f64(),
    };
    let path = partial.join("heldout.json");
    let text = serde_json::to_string_pretty(&result).map_err(|e| SweepError::format(&path, e))?;
    std::fs::write(&path, text).map_err(SweepError::io(&path))?;
    let done = task_dir(dir, task);
    if done.exists() {
        // A folder without heldout.json (not a result): replaced.
        std::fs::remove_dir_all(&done).map_err(SweepError::io(&done))?;
    }
    std::fs::rename(&partial, &done).map_err(SweepError::io(&partial))?;
    eprintln!(
        "task {id} ({}) done in {:.1} s: held-out LL {:.5} nats/trial on {} animals",
        task.key.name,
        result.seconds,
        result.heldout.ll_per_trial,
        result.heldout.per_animal.len()
    );
    Ok(TaskOutcome::Ran(result))
}

/// Progress of a task's fit as plain lines (about ten per fit) for its log.
#[derive(Default)]
struct LogProgress {
    steps: usize,
}

impl Progress for LogProgress {
    fn start(&mut self, label: &str, steps: usize) {
        self.steps = steps.max(1);
        eprintln!("{label}: {steps} steps");
    }
    fn epoch(&mut self, label: &str, r: &denovo_train::EpochReport, _: Option<f64>) {
        if r.epoch.is_multiple_of(self.steps.div_ceil(10)) {
            eprintln!(
                "{label}: epoch {}/{} loss {:.5} nats/trial",
                r.epoch, self.steps, r.loss
            );
        }
    }
    fn warning(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }
}

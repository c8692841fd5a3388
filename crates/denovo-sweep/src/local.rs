//! `--local J`: the pending tasks on J worker processes; `--status`.

use crate::task::{is_done, lock_path, log_path, try_lock};
use crate::{Plan, SweepError, Task};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The command line that runs one task, without `DIR --task I` (which the pool appends):
/// e.g. the `denovo` binary ([`std::env::current_exe`]) and `sweep`.
#[derive(Debug, Clone)]
pub struct Worker {
    /// The program.
    pub program: PathBuf,
    /// Its first arguments.
    pub args: Vec<OsString>,
}

impl Worker {
    /// The command for task `id` of the sweep in `dir`.
    fn command(&self, dir: &Path, id: usize) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .arg(dir)
            .arg("--task")
            .arg(id.to_string());
        cmd
    }
}

/// What happened to a task in [`run_local`], for progress reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalEvent {
    /// The pool starts: this many tasks pending (of `total`).
    Start {
        /// Tasks to run.
        pending: usize,
        /// Tasks in the sweep.
        total: usize,
    },
    /// A task's worker finished; `ok` is its exit status' success.
    Finished {
        /// The task.
        id: usize,
        /// Its name.
        name: String,
        /// Whether it succeeded.
        ok: bool,
    },
}

/// What [`run_local`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReport {
    /// Tasks run to success.
    pub ran: usize,
    /// Tasks that failed (ids; their logs say why).
    pub failed: Vec<usize>,
    /// Tasks that were done before.
    pub skipped: usize,
}

/// Runs the pending tasks of the sweep in `dir` on `jobs` worker processes (`worker` plus
/// `DIR --task I`, stdout and stderr to `DIR/logs/task-I.log`), at most `jobs` at once, in
/// id order, each worker's kernels on cores / `jobs` threads (`DENOVO_KERNEL_THREADS`); finished tasks are skipped, so re-running resumes. On Linux every worker is
/// killed with the pool (`PR_SET_PDEATHSIG`), so `kill -9` of the pool leaves no fit
/// running. `on_event` hears of every finished task.
///
/// Errors: [`SweepError::Busy`] when another pool runs this sweep, [`SweepError::Io`].
pub fn run_local(
    dir: &Path,
    jobs: usize,
    worker: &Worker,
    on_event: &mut dyn FnMut(&LocalEvent),
) -> Result<LocalReport, SweepError> {
    let plan = Plan::read(dir)?;
    let pool_lock = dir.join(".local.lock");
    let Some(_lock) = try_lock(&pool_lock)? else {
        return Err(SweepError::Busy(pool_lock));
    };
    let mut queue: Vec<&Task> = plan.tasks.iter().filter(|t| !is_done(dir, t)).collect();
    let skipped = plan.tasks.len() - queue.len();
    on_event(&LocalEvent::Start {
        pending: queue.len(),
        total: plan.tasks.len(),
    });
    queue.reverse();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(SweepError::io(&logs))?;
    let mut running: Vec<(&Task, Child)> = Vec::new();
    // The cores split between the workers, so that J fits side by side do not
    // oversubscribe them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / jobs.clamp(1, cores)).max(1);
    let mut report = LocalReport {
        ran: 0,
        failed: Vec::new(),
        skipped,
    };
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1) {
            let Some(task) = queue.pop() else { break };
            let path = log_path(dir, task.key.id);
            let mut log = std::fs::File::create(&path).map_err(SweepError::io(&path))?;
            // The log's lock is shared with the worker through its stdout and stderr (one
            // open file description): it is held exactly while the worker lives, so that
            // `--status` sees a starting worker as running.
            log.try_lock()
                .map_err(|e| SweepError::io(&path)(e.into()))?;
            use std::io::Write as _;
            writeln!(
                log,
                "denovo sweep: task {} ({}) started by the --local pool",
                task.key.id, task.key.name
            )
            .map_err(SweepError::io(&path))?;
            let err = log.try_clone().map_err(SweepError::io(&path))?;
            let mut cmd = worker.command(dir, task.key.id);
            cmd.stdin(Stdio::null()).stdout(log).stderr(err);
            cmd.env(crate::task::KERNEL_THREADS_ENV, threads.to_string());
            die_with_parent(&mut cmd);
            let child = cmd.spawn().map_err(SweepError::io(&worker.program))?;
            running.push((task, child));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut i = 0;
        while i < running.len() {
            let status = running[i]
                .1
                .try_wait()
                .map_err(SweepError::io(&worker.program))?;
            if let Some(status) = status {
                let (task, _) = running.swap_remove(i);
                let ok = status.success() && is_done(dir, task);
                if ok {
                    report.ran += 1;
                } else {
                    report.failed.push(task.key.id);
                }
                on_event(&LocalEvent::Finished {
                    id: task.key.id,
                    name: task.key.name.clone(),
                    ok,
                });
            } else {
                i += 1;
            }
        }
    }
    report.failed.sort_unstable();
    Ok(report)
}

/// On Linux: the worker gets SIGKILL when the pool's thread that spawned it dies.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

/// The state of a task in `--status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    /// Its result is in place.
    Done,
    /// A live worker runs it: a process holds its lock or its log's (a `--local` worker
    /// from its start).
    Running,
    /// It started (a partial folder, or a log with lines) but has no result and no live
    /// worker: it failed or was killed; the log's tail says which.
    Failed,
    /// It never started (or its SLURM worker has only just begun: an empty log).
    Pending,
}

/// One line of `--status`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskStatus {
    /// The task id.
    pub id: usize,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: TaskState,
    /// Its log, `DIR/logs/task-<id>.log`, when it has one.
    pub log: Option<PathBuf>,
    /// The last lines of the log (failed and running tasks).
    pub log_tail: Vec<String>,
}

/// The state of every task of the sweep in `dir`, with the last `tail` lines of the logs
/// of failed and running tasks.
///
/// Errors: [`SweepError::SweepDir`], [`SweepError::Io`].
pub fn status(dir: &Path, tail: usize) -> Result<Vec<TaskStatus>, SweepError> {
    let plan = Plan::read(dir)?;
    let mut out = Vec::new();
    for task in &plan.tasks {
        let log = log_path(dir, task.key.id);
        let log = log.is_file().then_some(log);
        let partial = dir
            .join("tasks")
            .join(format!(".{}.partial", task.key.name));
        let state = if is_done(dir, task) {
            TaskState::Done
        } else if is_locked(&lock_path(dir, task))? || is_locked(&log_path(dir, task.key.id))? {
            TaskState::Running
        } else if partial.exists()
            || log
                .as_ref()
                .is_some_and(|l| l.metadata().is_ok_and(|m| m.len() > 0))
        {
            TaskState::Failed
        } else {
            TaskState::Pending
        };
        let log_tail = match (&log, state) {
            (Some(path), TaskState::Failed | TaskState::Running) => {
                let text = std::fs::read_to_string(path).map_err(SweepError::io(path))?;
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(tail);
                lines[from..].iter().map(|s| s.to_string()).collect()
            }
            _ => Vec::new(),
        };
        out.push(TaskStatus {
            id: task.key.id,
            name: task.key.name.clone(),
            state,
            log,
            log_tail,
        });
    }
    Ok(out)
}

/// The ids of the failed tasks of a [`status`] (`--status` exits non-zero when there are
/// any).
pub fn failed(tasks: &[TaskStatus]) -> Vec<usize> {
    (tasks.iter())
        .filter(|t| t.state == TaskState::Failed)
        .map(|t| t.id)
        .collect()
}

/// Whether another process holds the `flock` of the existing file `path` (false when it
/// does not exist). The probe holds the lock for an instant only; [`crate::run_task`] waits
/// that long for its lock.
fn is_locked(path: &Path) -> Result<bool, SweepError> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(false);
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(e)) => Err(SweepError::io(path)(e)),
    }
}

impl std::fmt::Display for LocalEvent {
    /// `task 3 dnn.s0.r0.f3: done` (or `FAILED`); the start as `N of M tasks pending`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalEvent::Start { pending, total } => write!(f, "{pending} of {total} tasks pending"),
            LocalEvent::Finished { id, name, ok } => {
                write!(
                    f,
                    "task {id} {name}: {}",
                    if *ok { "done" } else { "FAILED" }
                )
            }
        }
    }
}

impl std::fmt::Display for LocalReport {
    /// `N fitted, M done before, K failed`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} fitted, {} done before, {} failed",
            self.ran,
            self.skipped,
            self.failed.len()
        )
    }
}

impl std::fmt::Display for TaskStatus {
    /// One line `  id name State`, then the log's tail lines indented with `| `.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:>4} {:<28} {:?}", self.id, self.name, self.state)?;
        for line in &self.log_tail {
            writeln!(f, "       | {line}")?;
        }
        Ok(())
    }
}

//! `--slurm`: the pending tasks as one SLURM array job.

use crate::local::Worker;
use crate::task::{is_done, log_path};
use crate::{Plan, SweepError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Settings of the array job.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// At most this many array tasks at once (`%K` of `--array`); `None`: SLURM's limit.
    pub max_parallel: Option<usize>,
    /// sbatch options passed through, e.g. `--partition=cpu --time=2:00:00 --mem=4G
    /// --cpus-per-task=2`: each option (with the words after it that do not start with
    /// `-`) becomes one `#SBATCH` line.
    pub args: String,
}

/// `0-2,5,7-8` for ids 0, 1, 2, 5, 7, 8 (sorted).
fn ranges(ids: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            ids[i].to_string()
        } else {
            format!("{}-{}", ids[i], ids[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// `s` single-quoted for bash.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The options of `args` grouped: `--time 1:00 -p cpu --mem=4G` → `--time 1:00`, `-p cpu`,
/// `--mem=4G`.
fn option_lines(args: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in args.split_whitespace() {
        match lines.last_mut() {
            Some(last) if !word.starts_with('-') => {
                last.push(' ');
                last.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The array job script for the pending tasks of the sweep in `dir` (`None` when every task
/// is done): `#SBATCH --array=<pending ids>%K`, each array task's output to
/// `DIR/logs/task-%a.log` (the same logs as `--local`, so `--status` reads both), the
/// `slurm` options, `export DENOVO_KERNEL_THREADS=${SLURM_CPUS_PER_TASK:-1}` (the task's
/// kernels on its own CPUs), then `worker DIR --task $SLURM_ARRAY_TASK_ID`. Paths are absolute:
/// the binary and the sweep directory must be on a file system the nodes share.
///
/// Errors: [`SweepError::SweepDir`], [`SweepError::Io`].
pub fn script(
    dir: &Path,
    worker: &Worker,
    slurm: &SlurmOptions,
) -> Result<Option<String>, SweepError> {
    let plan = Plan::read(dir)?;
    let dir = std::path::absolute(dir).map_err(SweepError::io(dir))?;
    let pending: Vec<usize> = plan
        .tasks
        .iter()
        .filter(|t| !is_done(&dir, t))
        .map(|t| t.key.id)
        .collect();
    if pending.is_empty() {
        return Ok(None);
    }
    let limit = slurm
        .max_parallel
        .map(|k| format!("%{k}"))
        .unwrap_or_default();
    let log = log_path(&dir, 0).with_file_name("task-%a.log");
    let mut s = format!(
        "#!/bin/bash\n\
         # denovo sweep {dir}: {n} of {total} tasks as one SLURM array job (array index =\n\
         # task id in tasks.json; `denovo sweep DIR --status` / `--collect` afterwards).\n\
         #SBATCH --job-name=denovo-sweep\n\
         #SBATCH --array={ids}{limit}\n\
         #SBATCH --output={log}\n",
        dir = dir.display(),
        n = pending.len(),
        total = plan.tasks.len(),
        ids = ranges(&pending),
        log = log.display(),
    );
    for line in option_lines(&slurm.args) {
        s.push_str(&format!("#SBATCH {line}\n"));
    }
    // The task's kernels on the CPUs SLURM gave it (`--cpus-per-task`, default 1), not on
    // every core of the node it shares with other array tasks.
    s.push_str(&format!(
        "export {}=${{SLURM_CPUS_PER_TASK:-1}}\n",
        crate::KERNEL_THREADS_ENV
    ));
    let mut words = vec![quote(&worker.program.to_string_lossy())];
    words.extend(worker.args.iter().map(|a| quote(&a.to_string_lossy())));
    words.push(quote(&dir.to_string_lossy()));
    s.push_str(&format!(
        "exec {} --task \"$SLURM_ARRAY_TASK_ID\"\n",
        words.join(" ")
    ));
    Ok(Some(s))
}

/// Writes [`script`] to `DIR/slurm/array.sh` (and creates `DIR/logs/` for its output);
/// returns the script's absolute path and text (`None` when every task is done). What
/// `--slurm --dry-run` does: the script can be inspected, edited and submitted by hand.
///
/// Errors: those of [`script`]; [`SweepError::Io`].
pub fn write_script(
    dir: &Path,
    worker: &Worker,
    slurm: &SlurmOptions,
) -> Result<Option<(PathBuf, String)>, SweepError> {
    let Some(text) = script(dir, worker, slurm)? else {
        return Ok(None);
    };
    let folder = dir.join("slurm");
    let logs = dir.join("logs");
    for d in [&folder, &logs] {
        std::fs::create_dir_all(d).map_err(SweepError::io(d))?;
    }
    let path = std::path::absolute(folder.join("array.sh")).map_err(SweepError::io(&folder))?;
    crate::write_atomic(&path, text.as_bytes())?;
    Ok(Some((path, text)))
}

/// Writes the script ([`write_script`]) and submits it with `sbatch --parsable`; returns
/// the script's path and the job id (`None` when every task is done). The job id is also
/// written to `DIR/slurm/job_id`.
///
/// Errors: those of [`write_script`]; [`SweepError::Slurm`] when sbatch cannot be run or
/// refuses the job (its stderr).
pub fn submit(
    dir: &Path,
    worker: &Worker,
    slurm: &SlurmOptions,
) -> Result<Option<(PathBuf, String)>, SweepError> {
    let Some((path, _)) = write_script(dir, worker, slurm)? else {
        return Ok(None);
    };
    let folder = dir.join("slurm");
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| SweepError::Slurm(format!("cannot run sbatch ({e}); is SLURM installed?")))?;
    if !out.status.success() {
        return Err(SweepError::Slurm(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let job = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let id_path = folder.join("job_id");
    std::fs::write(&id_path, format!("{job}\n")).map_err(SweepError::io(&id_path))?;
    Ok(Some((path, job)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_ranges_and_option_lines() {
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(ranges(&[3]), "3");
        assert_eq!(
            option_lines("--time 1:00:00 -p cpu --mem=4G"),
            ["--time 1:00:00", "-p cpu", "--mem=4G"]
        );
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}

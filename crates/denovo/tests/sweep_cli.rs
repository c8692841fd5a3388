//! `denovo sweep` end to end through the binary: crash safety (`kill -9` of a local pool,
//! then the same command: finished tasks are not redone and the collected table equals an
//! uninterrupted run's), the SLURM array script, and — where a SLURM cluster answers — the
//! same sweep through SLURM.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

fn denovo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(args)
        .output()
        .expect("the denovo binary runs")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// A 6-animal simulated cohort and a sweep of 2 models × 2 seeds × 3 folds (12 tasks of
/// well under a second each) in `dir`; returns the sweep file.
fn small_sweep(dir: &Path) -> PathBuf {
    let data = dir.join("cohort.csv");
    ok(denovo(&[
        "simulate",
        "--rule",
        "reinforce",
        "--alpha",
        "0.0625,0.015625",
        "--animals",
        "6",
        "--trials",
        "300",
        "--seed",
        "1",
        "--out",
        data.to_str().unwrap(),
    ]));
    let path = dir.join("sweep.toml");
    std::fs::write(
        &path,
        "data = \"cohort.csv\"\nfolds = 3\nseeds = [0, 1]\n[defaults]\nlbfgs = 0\n\
         [[models]]\nmodel = \"reinforce-baseline\"\nepochs = 40\n\
         [[models]]\nmodel = \"dnn\"\nepochs = 4\nhidden = [8]\n",
    )
    .unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Modification times of the finished tasks' results.
fn finished(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("tasks"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("heldout.json"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let t = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, t)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn kill_9_then_rerun_redoes_nothing_and_collects_the_same_table() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = small_sweep(tmp.path());
    let whole = tmp.path().join("whole");
    ok(denovo(&[
        "sweep",
        s(&toml),
        "--out",
        s(&whole),
        "--local",
        "2",
        "--collect",
    ]));

    let cut = tmp.path().join("cut");
    let mut pool = Command::new(env!("CARGO_BIN_EXE_denovo"))
        .args(["sweep", s(&toml), "--out", s(&cut), "--local", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while finished(&cut).len() < 3 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    pool.kill().unwrap(); // SIGKILL
    pool.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the worker dies with the pool
    let before = finished(&cut);
    assert!(
        before.len() >= 3 && before.len() < 12,
        "killed mid-run: {}",
        before.len()
    );
    // Nothing the collection could mistake for a result.
    let o = denovo(&["sweep", s(&cut), "--collect"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("tasks are done"));
    // (--status exits 1 when the killed task shows as failed.)
    let status = denovo(&["sweep", s(&cut), "--status"]).stdout;
    let status = String::from_utf8_lossy(&status);
    assert_eq!(status.matches(" Done").count(), before.len(), "{status}");

    ok(denovo(&[
        "sweep",
        s(&toml),
        "--out",
        s(&cut),
        "--local",
        "2",
        "--collect",
    ]));
    let after = finished(&cut);
    assert_eq!(after.len(), 12);
    for (path, time) in &before {
        assert!(
            after.contains(&(path.clone(), *time)),
            "{} was redone",
            path.display()
        );
    }
    let table = |d: &Path| std::fs::read_to_string(d.join("results.csv")).unwrap();
    assert_eq!(table(&cut), table(&whole));
    assert_eq!(
        std::fs::read_to_string(cut.join("comparison.csv")).unwrap(),
        std::fs::read_to_string(whole.join("comparison.csv")).unwrap()
    );
    // Every task done: --slurm (dry run or not) says there is nothing to submit.
    let o = denovo(&["sweep", s(&cut), "--slurm", "--dry-run"]);
    assert!(o.status.success() && o.stdout.is_empty());
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("nothing to submit: every task"), "{said}");
}

#[test]
fn slurm_dry_run_writes_and_prints_the_array_script() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = small_sweep(tmp.path());
    let dir = tmp.path().join("sweep");
    ok(denovo(&["sweep", s(&toml), "--out", s(&dir)]));
    ok(denovo(&["sweep", s(&dir), "--task", "0"]));
    let script = ok(denovo(&[
        "sweep",
        s(&dir),
        "--slurm",
        "--dry-run",
        "--max-parallel",
        "4",
        "--slurm-args",
        "--time=0:10:00 --mem 2G",
    ]));
    assert!(script.starts_with("#!/bin/bash\n"), "{script}");
    // Task 0 is done: the array holds the other 11.
    assert!(script.contains("#SBATCH --array=1-11%4\n"), "{script}");
    assert!(
        script.contains("#SBATCH --time=0:10:00\n#SBATCH --mem 2G\n"),
        "{script}"
    );
    assert!(script.contains("logs/task-%a.log"));
    // Each array task's kernels on its own CPUs, not every core of a shared node.
    assert!(
        script.contains("\nexport DENOVO_KERNEL_THREADS=${SLURM_CPUS_PER_TASK:-1}\nexec "),
        "{script}"
    );
    assert!(script.contains("'sweep'") && script.contains("--task \"$SLURM_ARRAY_TASK_ID\""));
    // --dry-run writes the script it prints (and says where), and submits nothing.
    let written = std::fs::read_to_string(dir.join("slurm/array.sh")).unwrap();
    assert_eq!(written, script);
    assert!(
        !dir.join("slurm/job_id").exists(),
        "--dry-run submits nothing"
    );
    let o = denovo(&["sweep", s(&dir), "--task", "12"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("task 12 is out of range"));
}

/// Why the SLURM test cannot run here, or `None` when it can: it runs when `DENOVO_SLURM=1`
/// (then a missing cluster is a failure) or when `sbatch` is present and `sinfo` answers.
fn slurm_missing() -> Option<String> {
    if std::env::var("DENOVO_SLURM").as_deref() == Ok("1") {
        return None;
    }
    match Command::new("sinfo").args(["-h", "-o", "%T"]).output() {
        Err(e) => Some(format!(
            "no SLURM here (sinfo: {e}); `just slurm-up` starts one"
        )),
        Ok(o) if !o.status.success() || o.stdout.is_empty() => Some(format!(
            "the SLURM cluster does not answer ({}); `just slurm-up` starts one",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    }
}

#[test]
fn slurm_array_job_collects_the_same_table_as_local() {
    if let Some(why) = slurm_missing() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let toml = small_sweep(tmp.path());
    let local = tmp.path().join("local");
    ok(denovo(&[
        "sweep",
        s(&toml),
        "--out",
        s(&local),
        "--local",
        "2",
        "--collect",
    ]));
    let slurm = tmp.path().join("slurm");
    let out = ok(denovo(&[
        "sweep",
        s(&toml),
        "--out",
        s(&slurm),
        "--slurm",
        "--max-parallel",
        "2",
        "--slurm-args",
        "--time=0:10:00 --cpus-per-task=1",
    ]));
    assert!(out.contains("submitted job"), "{out}");
    let job = std::fs::read_to_string(slurm.join("slurm/job_id")).unwrap();
    let start = Instant::now();
    loop {
        let queued = Command::new("squeue")
            .args(["-h", "-j", job.trim()])
            .output()
            .unwrap();
        if queued.stdout.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "SLURM did not finish in 10 min"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = ok(denovo(&["sweep", s(&slurm), "--status"]));
    assert_eq!(finished(&slurm).len(), 12, "{status}");
    ok(denovo(&["sweep", s(&slurm), "--collect"]));
    let table = |d: &Path| std::fs::read_to_string(d.join("results.csv")).unwrap();
    assert_eq!(table(&slurm), table(&local));
}

/// `denovo report DIR` of a sweep: the paired table (the reference's own row, the other
/// model's mean difference as --collect computed it), every animal's held-out LL per model
/// × seed with its fold, and the figures of one task run per model.
#[test]
fn report_reads_a_sweep_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = small_sweep(tmp.path());
    let dir = tmp.path().join("sweep");
    let o = denovo(&["sweep", s(&toml), "--out", s(&dir), "--local", "2"]);
    let said = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("12 fitted, 0 done before, 0 failed"),
        "{said}"
    );
    assert!(
        said.contains("the comparison's reference: reinforce-baseline"),
        "{said}"
    );
    // Before --collect: report reads the tasks' results itself.
    let report = tmp.path().join("report");
    let printed = ok(denovo(&["report", s(&dir), "--out", s(&report)]));
    assert!(printed.contains("(reference)"), "{printed}");
    ok(denovo(&["sweep", s(&dir), "--collect"]));
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("Sweep: cross-validated comparison"));
    let csv = std::fs::read_to_string(dir.join("comparison.csv")).unwrap();
    let dnn: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
    assert_eq!(dnn[0], "dnn");
    let (mean, diff): (f64, f64) = (dnn[3].parse().unwrap(), dnn[4].parse().unwrap());
    assert!(
        html.contains(&format!(
            "<td>dnn</td><td>6</td><td>{mean:.5}</td><td>{diff:+.5}</td>"
        )),
        "{html}"
    );
    assert!(html.contains("<td>reinforce-baseline</td><td>6</td>"));
    // Per animal: 6 animals × (2 models × 2 seeds) values, each under its fold.
    let results = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let row = results.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split(',').collect();
    let ll: f64 = cells[6].parse().unwrap();
    assert!(html.contains(&format!("<td>{:.5}</td>", ll)), "{row}");
    let animals = html
        .split("<table class=\"sweep-animals\">")
        .nth(1)
        .unwrap();
    let animals = animals.split("</table>").next().unwrap();
    assert_eq!(animals.matches("<tr>").count(), 1 + 6);
    assert!(animals.contains("<th>dnn s1</th>"));
    // Figures of fold 0's runs, one per model.
    assert!(report.join("learning_curves_dnn_s0_r0_f0.png").is_file());
    assert!(
        report
            .join("learning_curves_reinforce-baseline_s0_r0_f0.png")
            .is_file()
    );
    assert!(html.contains("data:image/png;base64,"));
    // No second comparison of fold 0's runs on their training trials: the figure is the
    // sweep's held-out one.
    assert!(!html.contains("<h2>Model comparison</h2>"), "{html}");
    assert!(html.contains("held-out LL (the sweep's folds"), "{html}");

    // The report compares against the reference of the last --collect.
    ok(denovo(&[
        "sweep",
        s(&dir),
        "--collect",
        "--reference",
        "dnn",
    ]));
    let report2 = tmp.path().join("report2");
    let printed = ok(denovo(&["report", s(&dir), "--out", s(&report2)]));
    let html = std::fs::read_to_string(report2.join("report.html")).unwrap();
    assert!(
        html.contains("minus <b>dnn</b>") && html.contains("<td>dnn</td><td>6</td>"),
        "{html}"
    );
    assert!(
        html.contains("</td><td>(reference)</td>")
            && html
                .split("(reference)")
                .next()
                .unwrap()
                .ends_with(&format!("<td>dnn</td><td>6</td><td>{mean:.5}</td><td>")),
        "{html}"
    );
    assert!(printed.contains("dnn"), "{printed}");
}

/// Flags that conflict or mean nothing are refused by the parser (exit status 2), before
/// anything runs.
#[test]
fn conflicting_flags_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = s(tmp.path());
    for args in [
        vec!["sweep", dir, "--dry-run"],
        vec!["sweep", dir, "--local", "0"],
        vec!["sweep", dir, "--local", "2", "--slurm"],
        vec!["sweep", dir, "--status", "--collect"],
        vec!["sweep", dir, "--max-parallel", "4"],
        vec!["sweep", dir, "--reference", "dnn"],
        vec!["sweep", dir, "--task", "0", "--local", "2"],
    ] {
        let o = denovo(&args);
        let said = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("error:"), "{args:?}: {said}");
    }
}

/// `--help` teaches the sweep.toml format and points to docs/cli.md.
#[test]
fn long_help_shows_an_annotated_sweep_toml() {
    let help = ok(denovo(&["sweep", "--help"]));
    for want in [
        "[[models]]",
        "[defaults]",
        "seeds = [0, 1, 2]",
        "docs/cli.md",
        "relative to sweep.toml",
        "exit status 1",
    ] {
        assert!(help.contains(want), "{want}: {help}");
    }
}

/// `--status` exits non-zero when a task failed (here: a worker that died without a
/// result), and zero while tasks are only pending.
#[test]
fn status_exits_non_zero_when_a_task_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = small_sweep(tmp.path());
    let dir = tmp.path().join("sweep");
    ok(denovo(&["sweep", s(&toml), "--out", s(&dir)]));
    let status = ok(denovo(&["sweep", s(&dir), "--status"]));
    assert_eq!(status.matches(" Pending").count(), 12, "{status}");
    // Task 3's worker died mid-fit: a partial folder and a log, no live lock.
    std::fs::create_dir_all(dir.join("tasks/.reinforce-baseline.s1.r0.f0.partial")).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs/task-3.log"), "killed\n").unwrap();
    let o = denovo(&["sweep", s(&dir), "--status"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("reinforce-baseline.s1.r0.f0") && out.contains(" Failed"),
        "{out}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 of 12 tasks failed"));
}

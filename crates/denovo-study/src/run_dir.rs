//! Run directories: a fit stored on disk (`summary.json`, `weights.csv`, `model.mpk`,
//! `fit.toml`, `checkpoints/`), written so that a reader never sees a mix of two runs, and
//! read back. The format is documented in `docs/run-dir.md`.

use crate::fit::{AnimalWeights, FitResult, ReadBackend, SUMMARY_SCHEMAS_READ};
use crate::model::{Model, ModelKind, ModelSpec};
use crate::{FitSpec, FitSummary, StudyError};
use denovo_nn::{DnnConfig, RnnConfig};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A run directory: where [`RunDir::save`] stores a [`FitResult`] and [`RunDir::load`]
/// reads it back.
///
/// Layout (version [`SUMMARY_SCHEMA`](crate::SUMMARY_SCHEMA)): `summary.json` ([`FitSummary`]), `weights.csv`
/// (subject, session, date, number, index, trial, split, `w_<regressor>`…: w_t before
/// every trial),
/// `model.mpk` (the fitted rule as a burn record, named MessagePack, full precision),
/// `fit.toml` ([`FitSpec`] plus the `out` folder), `checkpoints/` (when checkpointing).
///
/// Writes go to a staging folder beside the run (`.<name>.partial`) under a lock file
/// (`.<name>.lock`, an advisory `flock`), and the staging folder is renamed into place
/// when the run is complete: two fits into one directory never mix, a directory holding a
/// run is replaced only when asked (`force`), and a fit killed at any point leaves the
/// previous state plus a staging folder that [`RunWriter::resume`] continues from.
pub struct RunDir;

impl RunDir {
    /// Stores a finished fit in `dir` in one step (staging folder, then rename).
    ///
    /// Errors: [`StudyError::RunDir`] when `dir` holds files and `force` is false, or
    /// another process is writing it; [`StudyError::Io`].
    pub fn save<R>(
        dir: impl AsRef<Path>,
        result: &FitResult<R>,
        force: bool,
    ) -> Result<(), StudyError> {
        let writer = RunWriter::begin(dir.as_ref(), &result.spec, force)?;
        writer.commit(result)
    }

    /// Reads a run directory back: its summary, fit.toml (when present) and the fitted rule
    /// on the f64 read backend.
    ///
    /// Errors: [`StudyError::RunDir`] (no readable summary.json: not a run directory, or a
    /// failed or unfinished fit), [`StudyError::Format`] (unknown schema, a damaged file,
    /// a custom rule's run, which only [`RunDir::load_record`] can read).
    pub fn load(dir: impl AsRef<Path>) -> Result<Run, StudyError> {
        let dir = dir.as_ref();
        let path = dir.join("summary.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            let staging = beside(dir, "partial")?;
            let reason = if staging.join("fit.toml").is_file() {
                format!(
                    "an unfinished fit (interrupted, or still running): its work is in {}; \
                     continue it with `denovo fit --resume {}` (RunWriter::resume)",
                    staging.display(),
                    dir.display()
                )
            } else if dir.join("last_good_parameters.json").is_file() {
                "a failed fit (no summary.json; its last good parameters are in last_good_parameters.json)".into()
            } else {
                "not a denovo run directory (no readable summary.json)".into()
            };
            return Err(StudyError::run_dir(dir, reason));
        };
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| StudyError::format(&path, format!("invalid JSON: {e}")))?;
        if !SUMMARY_SCHEMAS_READ.iter().any(|s| value["schema"] == *s) {
            return Err(StudyError::format(
                &path,
                format!(
                    "unknown schema {} (expected {})",
                    value["schema"],
                    SUMMARY_SCHEMAS_READ.join(" or ")
                ),
            ));
        }
        let summary: FitSummary =
            serde_json::from_value(value).map_err(|e| StudyError::format(&path, e))?;
        let kind: ModelKind = summary.model.parse().map_err(|_| {
            StudyError::format(
                &path,
                format!(
                    "`{}` is not a built-in model; read its record with RunDir::load_record",
                    summary.model
                ),
            )
        })?;
        let model = model_spec(kind, &summary).map_err(|e| StudyError::format(&path, e))?;
        let record = if kind.is_neural() {
            Self::load_record(dir)?
        } else {
            Vec::new()
        };
        let k = summary.regressors.len();
        let rule = crate::fit::read_model(&model, k, &summary.parameters, &record, dir)?;
        let spec_path = dir.join("fit.toml");
        let spec = spec_path
            .is_file()
            .then(|| FitSpec::read(&spec_path))
            .transpose()?;
        Ok(Run {
            dir: dir.to_path_buf(),
            summary,
            spec,
            rule,
        })
    }

    /// The bytes of `dir/model.mpk` (a burn record: load it into your own rule's module
    /// with `NamedMpkBytesRecorder::<FullPrecisionSettings>`).
    ///
    /// Errors: [`StudyError::Io`].
    pub fn load_record(dir: &Path) -> Result<Vec<u8>, StudyError> {
        let path = dir.join("model.mpk");
        std::fs::read(&path).map_err(StudyError::io(&path))
    }
}

/// The model options a summary's `architecture` records.
fn model_spec(kind: ModelKind, summary: &FitSummary) -> Result<ModelSpec, String> {
    let mut spec = ModelSpec::new(kind);
    let arch = summary.architecture.clone().unwrap_or_default();
    match kind {
        ModelKind::Dnn | ModelKind::DnnNoise => {
            let c: DnnConfig = serde_json::from_value(arch["dnn"].clone())
                .map_err(|e| format!("`architecture.dnn`: {e}"))?;
            spec.hidden = c.hidden;
            spec.gamma_init = c.gamma_init;
            (spec.gate, spec.drop_input) = (c.structure.gate, c.structure.drop);
        }
        ModelKind::Rnn | ModelKind::RnnNoise => {
            let c: RnnConfig = serde_json::from_value(arch["rnn"].clone())
                .map_err(|e| format!("`architecture.rnn`: {e}"))?;
            spec.gru_hidden = c.hidden;
            spec.hidden = c.head;
            spec.gamma_init = c.gamma_init;
            (spec.gate, spec.drop_input) = (c.structure.gate, c.structure.drop);
        }
        ModelKind::Parametric(_) | ModelKind::Psytrack | ModelKind::Noisy(_) => {}
    }
    Ok(spec)
}

/// A run directory read back.
#[derive(Debug)]
pub struct Run {
    /// Where it is.
    pub dir: PathBuf,
    /// `summary.json`.
    pub summary: FitSummary,
    /// `fit.toml`, when present.
    pub spec: Option<FitSpec>,
    /// The fitted rule, on the f64 read backend.
    pub rule: Model<ReadBackend>,
}

impl Run {
    /// The model's name (`reinforce`, …, `dnn`, `rnn`).
    pub fn model(&self) -> &str {
        &self.summary.model
    }
    /// The model's name with its structural hypothesis, e.g. `dnn[gate=correct-only]`
    /// (the name alone for a free rule or a parametric one).
    pub fn label(&self) -> String {
        match &self.rule {
            Model::Dnn(r) if !r.structure.is_free() => {
                format!("{}[{}]", self.model(), r.structure.label())
            }
            Model::Rnn(r) if !r.structure.is_free() => {
                format!("{}[{}]", self.model(), r.structure.label())
            }
            _ => self.model().to_string(),
        }
    }
    /// The regressors, in order.
    pub fn regressors(&self) -> &[String] {
        &self.summary.regressors
    }
    /// Initial weights for new animals, `[features]`: the mean fitted w0, else 0.
    pub fn mean_w0(&self) -> Vec<f64> {
        self.summary.mean_w0()
    }
    /// Checks that the run holds a learning rule, which `what` (e.g. `denovo rule`) reads
    /// out or runs. Errors: [`StudyError::RunDir`] for a psytrack run, a random walk whose
    /// mean step Δw is 0 on every trial (its weights and their posterior SDs are in
    /// `weights.csv`).
    pub fn require_learning_rule(&self, what: &str) -> Result<(), StudyError> {
        match self.rule.kind().has_learning_rule() {
            false => Err(StudyError::run_dir(
                &self.dir,
                format!(
                    "{what} needs a learning rule; a psytrack run is a random walk (w_t = \
                     w_t−1 + noise: its mean Δw is 0 whatever happened on the trial), so it has \
                     no rule to read out, simulate or recover. Its weights, with their posterior \
                     SDs, are in weights.csv; `denovo report` draws them"
                ),
            )),
            true => Ok(()),
        }
    }
}

/// Writes `weights.csv`: subject; session (its unique key, `<date>/<number>` such as
/// `2019-08-05/001` for IBL data, else the file's session value), date (empty without
/// one), number (of the day, or the file's session value), index (1-based in training
/// order); trial (1-based within the session), split (`train` / `heldout`), then
/// `w_<regressor>` per regressor.
pub fn write_weights(
    path: &Path,
    regressors: &[String],
    weights: &[AnimalWeights],
) -> Result<(), StudyError> {
    let io = |e: csv::Error| StudyError::format(path, e);
    let mut out = csv::Writer::from_path(path).map_err(io)?;
    let mut header: Vec<String> = [
        "subject", "session", "date", "number", "index", "trial", "split",
    ]
    .map(String::from)
    .to_vec();
    header.extend(regressors.iter().map(|n| format!("w_{n}")));
    let with_sd = weights.iter().any(|a| a.sd.is_some());
    if with_sd {
        header.extend(regressors.iter().map(|n| format!("sd_{n}")));
    }
    out.write_record(&header).map_err(io)?;
    for a in weights {
        let mut t = 0;
        for (k, session) in a.sessions.iter().enumerate() {
            for j in 0..session.trials {
                let mut row = vec![
                    a.subject.clone(),
                    session.key.clone(),
                    session.date.clone().unwrap_or_default(),
                    session.number.clone(),
                    (k + 1).to_string(),
                    (j + 1).to_string(),
                    if t < a.train_end { "train" } else { "heldout" }.to_string(),
                ];
                row.extend(a.w[t].iter().map(|w| format!("{w}")));
                if with_sd {
                    let sd = a.sd.as_ref().map(|s| s[t].clone());
                    let sd = sd.unwrap_or_else(|| vec![f64::NAN; regressors.len()]);
                    row.extend(sd.iter().map(|v| format!("{v}")));
                }
                out.write_record(&row).map_err(io)?;
                t += 1;
            }
        }
    }
    out.flush().map_err(StudyError::io(path))
}

/// Writes one run directory: holds its lock from [`RunWriter::begin`] (or
/// [`RunWriter::resume`]) until [`RunWriter::commit`] renames the staging folder into place
/// (or [`RunWriter::fail`] stores a failed fit). Dropping it without committing leaves the
/// staging folder for a later resume.
pub struct RunWriter {
    dir: PathBuf,
    staging: PathBuf,
    _lock: LockFile,
    force: bool,
}

/// The lock file beside a run directory, held (`flock`) while alive; removed when dropped,
/// before it is unlocked (see [`RunWriter::lock`]).
struct LockFile {
    path: PathBuf,
    _file: File,
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `parent/.<name>.<suffix>` for a run directory `parent/name`.
fn beside(dir: &Path, suffix: &str) -> Result<PathBuf, StudyError> {
    let name = dir
        .file_name()
        .ok_or_else(|| StudyError::run_dir(dir, "a run directory needs a folder name"))?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let file = format!(".{}.{suffix}", name.to_string_lossy());
    Ok(parent.map_or_else(|| PathBuf::from(&file), |p| p.join(&file)))
}

/// Whether `dir` exists and holds anything.
fn holds_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

impl RunWriter {
    /// Takes the lock of `dir`.
    fn lock(dir: &Path) -> Result<LockFile, StudyError> {
        let lock_path = beside(dir, "lock")?;
        if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(StudyError::io(parent))?;
        }
        loop {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(StudyError::io(&lock_path))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StudyError::run_dir(
                        dir,
                        format!(
                            "another denovo fit is writing this run directory (it holds {}); \
                             wait for it to finish or choose another output folder",
                            lock_path.display()
                        ),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StudyError::Io {
                        path: lock_path,
                        source: e,
                    });
                }
            }
            // The holder before us may have removed the file after we opened it: the lock
            // counts only if it is still the file at `lock_path`.
            if same_file(&file, &lock_path) {
                return Ok(LockFile {
                    path: lock_path,
                    _file: file,
                });
            }
        }
    }

    /// Starts writing a new run into `dir`: takes its lock, refuses a directory that holds
    /// files unless `force`, refuses when an interrupted fit's staging folder is there
    /// (resume it, or `force` to start over), and writes `fit.toml` into a fresh staging
    /// folder. Nothing in `dir` changes until [`RunWriter::commit`].
    ///
    /// Errors: [`StudyError::RunDir`] (busy, holds a run, interrupted fit), [`StudyError::Io`].
    pub fn begin(dir: &Path, spec: &FitSpec, force: bool) -> Result<Self, StudyError> {
        let lock = Self::lock(dir)?;
        if holds_files(dir) && !force {
            let what = match std::fs::read_to_string(dir.join("summary.json")) {
                Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["model"].as_str().map(|m| format!("an earlier {m} run")))
                    .unwrap_or_else(|| "an earlier run".into()),
                Err(_) => "files".into(),
            };
            return Err(StudyError::run_dir(
                dir,
                format!(
                    "already holds {what}; refused without `force` (--force), or choose \
                     another output folder (--out)"
                ),
            ));
        }
        let staging = beside(dir, "partial")?;
        if staging.exists() {
            if !force {
                return Err(StudyError::run_dir(
                    dir,
                    format!(
                        "an interrupted fit of this run directory is in {}; continue it \
                         (`denovo fit --resume {}`, RunWriter::resume) or start over with \
                         `force` (--force)",
                        staging.display(),
                        dir.display()
                    ),
                ));
            }
            std::fs::remove_dir_all(&staging).map_err(StudyError::io(&staging))?;
        }
        std::fs::create_dir_all(&staging).map_err(StudyError::io(&staging))?;
        let writer = RunWriter {
            dir: dir.to_path_buf(),
            staging,
            _lock: lock,
            force,
        };
        writer.write_spec(spec)?;
        Ok(writer)
    }

    /// Continues an interrupted fit of `dir`: takes its lock and returns the writer and
    /// the `fit.toml` of the staging folder (or of `dir` itself when it holds a fit
    /// without a summary, e.g. one written before staging folders existed).
    ///
    /// Errors: [`StudyError::RunDir`] when there is nothing to resume (the run finished,
    /// or never started), or another process is writing it.
    pub fn resume(dir: &Path) -> Result<(Self, FitSpec), StudyError> {
        let lock = Self::lock(dir)?;
        let staging = beside(dir, "partial")?;
        if !staging.join("fit.toml").is_file() {
            if dir.join("summary.json").is_file() {
                return Err(StudyError::run_dir(
                    dir,
                    "holds a finished run: nothing to resume (refit with --force to redo it)",
                ));
            }
            if !dir.join("fit.toml").is_file() {
                return Err(StudyError::run_dir(
                    dir,
                    "nothing to resume: no interrupted fit of this run directory was found",
                ));
            }
            // An unfinished fit written in place: continue it in a staging folder.
            if staging.exists() {
                std::fs::remove_dir_all(&staging).map_err(StudyError::io(&staging))?;
            }
            std::fs::rename(dir, &staging).map_err(StudyError::io(dir))?;
        }
        let spec = FitSpec::read(&staging.join("fit.toml"))?;
        let writer = RunWriter {
            dir: dir.to_path_buf(),
            staging,
            _lock: lock,
            force: true,
        };
        Ok((writer, spec))
    }

    /// Writes `fit.toml` (the spec and `out`, the run directory) into the staging folder.
    fn write_spec(&self, spec: &FitSpec) -> Result<(), StudyError> {
        let out = toml::Value::String(self.dir.display().to_string());
        let text = format!("out = {out}\n{}", spec.to_toml()?);
        let path = self.staging.join("fit.toml");
        std::fs::write(&path, text).map_err(StudyError::io(&path))
    }

    /// The checkpoint folder inside the staging folder (for
    /// [`FitOptions::checkpoints`](crate::FitOptions)).
    pub fn checkpoints(&self) -> PathBuf {
        self.staging.join("checkpoints")
    }

    /// The staging folder (the run directory to be).
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Writes the finished fit (summary.json, weights.csv, model.mpk) into the staging
    /// folder and renames it into place, replacing what `dir` held (only with `force`).
    ///
    /// Errors: [`StudyError::Io`], [`StudyError::RunDir`].
    pub fn commit<R>(self, result: &FitResult<R>) -> Result<(), StudyError> {
        let s = &self.staging;
        let summary = serde_json::to_string_pretty(&result.summary)
            .map_err(|e| StudyError::format(s.join("summary.json"), e))?;
        write_weights(
            &s.join("weights.csv"),
            &result.summary.regressors,
            &result.weights,
        )?;
        std::fs::write(s.join("model.mpk"), &result.record)
            .map_err(StudyError::io(s.join("model.mpk")))?;
        // summary.json last: a staging folder with it is complete.
        std::fs::write(s.join("summary.json"), summary)
            .map_err(StudyError::io(s.join("summary.json")))?;
        self.put_in_place()
    }

    /// Stores a failed fit: `last_good_parameters.json` (the parameters of the last epoch
    /// with a finite loss) beside fit.toml and the checkpoints, renamed into place as the
    /// run directory (it has no summary.json, so no reader mistakes it for a run). Returns
    /// the path of `last_good_parameters.json`.
    ///
    /// Errors: [`StudyError::Io`], [`StudyError::RunDir`].
    pub fn fail(self, last_good: &serde_json::Value) -> Result<PathBuf, StudyError> {
        let path = self.staging.join("last_good_parameters.json");
        let text = serde_json::to_string_pretty(last_good).unwrap_or_default();
        std::fs::write(&path, text).map_err(StudyError::io(&path))?;
        let out = self.dir.join("last_good_parameters.json");
        self.put_in_place()?;
        Ok(out)
    }

    /// Gives up a run that failed before fitting (bad data, a bad setting): removes the
    /// staging folder, leaving the run directory as it was.
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }

    /// Renames the staging folder to the run directory (the old one moved aside first and
    /// removed after).
    fn put_in_place(self) -> Result<(), StudyError> {
        if self.dir.exists() {
            if holds_files(&self.dir) && !self.force {
                return Err(StudyError::run_dir(
                    &self.dir,
                    "was filled by another program during the fit; the new run stays in the staging folder",
                ));
            }
            let old = beside(&self.dir, "old")?;
            if old.exists() {
                std::fs::remove_dir_all(&old).map_err(StudyError::io(&old))?;
            }
            std::fs::rename(&self.dir, &old).map_err(StudyError::io(&self.dir))?;
            std::fs::rename(&self.staging, &self.dir).map_err(StudyError::io(&self.staging))?;
            std::fs::remove_dir_all(&old).map_err(StudyError::io(&old))?;
        } else {
            std::fs::rename(&self.staging, &self.dir).map_err(StudyError::io(&self.staging))?;
        }
        // The lock file goes and the lock is released when `self` drops.
        Ok(())
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, path: &Path) -> bool {
    path.exists()
}

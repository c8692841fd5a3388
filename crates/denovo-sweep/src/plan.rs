//! `sweep.toml` → [`Plan`]: the grid of fits expanded into tasks with stable ids
//! (`DIR/tasks.json`).

use crate::SweepError;
use denovo_study::{FitSpec, ModelKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `schema` of `tasks.json`.
pub const PLAN_SCHEMA: &str = "denovo.sweep/1";

/// The default reference model of the comparison (the paper's baseline: REINFORCE with a
/// baseline, Liu, Geadah & Pillow, arXiv 2509.04661).
pub const DEFAULT_REFERENCE: &str = "reinforce-baseline";

fn five() -> usize {
    5
}
fn seed_zero() -> Vec<u64> {
    vec![0]
}
fn one() -> usize {
    1
}

/// `sweep.toml` as written by the user (docs/cli.md, `denovo sweep`). Unknown keys are
/// refused with their line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The behaviour file or ALF folder, relative to the sweep file.
    pub data: PathBuf,
    /// Folds over animals (≥ 2, ≤ the number of animals; default 5): each task fits the
    /// other folds' animals and scores this fold's.
    #[serde(default = "five")]
    pub folds: usize,
    /// Seed of the assignment of animals to folds (the same for every seed, so that every
    /// animal is held out once per seed; default 0).
    #[serde(default)]
    pub fold_seed: u64,
    /// Seeds of the fits (initialisation, validation animals; default `[0]`; no seed
    /// twice).
    #[serde(default = "seed_zero")]
    pub seeds: Vec<u64>,
    /// Fits per model × fold × seed (default 1); replicate r fits with seed
    /// `seed + 1000·r`.
    #[serde(default = "one")]
    pub replicates: usize,
    /// The model the others are compared with (a `[[models]]` name; default
    /// `reinforce-baseline` when it is one of the models, else the first model).
    #[serde(default)]
    pub reference: Option<String>,
    /// `fit.toml` keys shared by every model (e.g. `first_trials`, `regressors`).
    #[serde(default)]
    pub defaults: toml::Table,
    /// The models: each a table of `fit.toml` keys (`model` required; `name` optional,
    /// default the model, to tell two entries of one model apart).
    pub models: Vec<toml::Table>,
    /// The text the sweep was read from ([`SweepSpec::read`]): model errors cite its
    /// lines and columns. Empty for a sweep built in code.
    #[serde(skip)]
    pub source: String,
}

/// Who a task is: its id, name, model entry, fold, seed and replicate (shared by [`Task`]
/// and [`crate::TaskResult`], flattened into their JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskKey {
    /// Stable id: the index in `tasks.json` (model-major, then seed, replicate, fold).
    pub id: usize,
    /// File-safe name, `<model>.s<seed>.r<replicate>.f<fold>`: the task's folder under
    /// `DIR/tasks/`.
    pub name: String,
    /// The model entry's name.
    pub model: String,
    /// The fold held out (0-based).
    pub fold: usize,
    /// The sweep seed.
    pub seed: u64,
    /// The replicate (0-based).
    pub replicate: usize,
}

/// One fit of the sweep: a model entry × seed × replicate × fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Who the task is (`id`, `name`, `model`, `fold`, `seed`, `replicate` in the JSON).
    #[serde(flatten)]
    pub key: TaskKey,
    /// The fit's `fit.toml` (the model's keys, `[defaults]`, `data`, `seed`; no folds: the
    /// task splits the animals itself).
    pub fit_toml: String,
}

/// `DIR/tasks.json`: the expanded sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_SCHEMA`].
    pub schema: String,
    /// The data, absolute.
    pub data: PathBuf,
    /// Number of folds.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub fold_seed: u64,
    /// The animals of each fold (`[folds][animals]`, names).
    pub fold_subjects: Vec<Vec<String>>,
    /// The model entries' names, in order.
    pub models: Vec<String>,
    /// The reference model of the comparison.
    pub reference: String,
    /// The tasks, by id.
    pub tasks: Vec<Task>,
}

impl SweepSpec {
    /// Reads and checks `path`.
    ///
    /// Errors: [`SweepError::Io`], [`SweepError::Toml`] (syntax, wrong type or unknown key,
    /// with line and column).
    pub fn read(path: &Path) -> Result<SweepSpec, SweepError> {
        let text = std::fs::read_to_string(path).map_err(SweepError::io(path))?;
        let mut spec: SweepSpec = toml::from_str(&text).map_err(|e| SweepError::Toml {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        spec.source = text;
        Ok(spec)
    }

    /// The text whose spans model errors cite: the file read, else (a sweep built in
    /// code) `[defaults]` and `[[models]]` written out.
    fn source_text(&self) -> String {
        if !self.source.is_empty() {
            return self.source.clone();
        }
        let mut doc = toml::Table::new();
        doc.insert("defaults".into(), self.defaults.clone().into());
        let models = self.models.iter().cloned().map(toml::Value::Table);
        doc.insert("models".into(), toml::Value::Array(models.collect()));
        toml::to_string(&doc).expect("a TOML table serialises")
    }

    /// Expands the sweep read from `path` into its tasks: loads the data (to assign the
    /// animals to folds) and checks every model entry as a fit.
    ///
    /// Errors: [`SweepError::MissingData`], [`SweepError::UnknownModel`],
    /// [`SweepError::ModelOptions`], [`SweepError::Setting`], [`SweepError::Data`].
    pub fn plan(&self, path: &Path) -> Result<Plan, SweepError> {
        let setting = |setting, message: String| SweepError::Setting {
            path: path.to_path_buf(),
            setting,
            message,
        };
        let base = path.parent().unwrap_or(Path::new(""));
        let data =
            std::path::absolute(base.join(&self.data)).map_err(SweepError::io(&self.data))?;
        if !data.exists() {
            return Err(SweepError::MissingData(data));
        }
        if self.models.is_empty() {
            return Err(setting(
                "models",
                "lists no model ([[models]] model = …)".into(),
            ));
        }
        if self.seeds.is_empty() || self.replicates == 0 {
            return Err(setting(
                "seeds",
                "needs at least one seed and replicate".into(),
            ));
        }
        for (i, seed) in self.seeds.iter().enumerate() {
            if self.seeds[..i].contains(seed) {
                return Err(setting(
                    "seeds",
                    format!(
                        "seed {seed} is listed twice (each seed is one fit per model and fold)"
                    ),
                ));
            }
        }
        let mut specs = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let source = self.source_text();
        for (index, entry) in self.models.iter().enumerate() {
            let (name, spec) = self.model_spec(path, &source, index, entry, &data)?;
            if names.contains(&name) {
                return Err(setting(
                    "models",
                    format!("two entries are named `{name}`; give one a `name`"),
                ));
            }
            names.push(name);
            specs.push(spec);
        }
        let reference = match &self.reference {
            Some(r) if !names.contains(r) => {
                return Err(setting(
                    "reference",
                    format!("`{r}` is not one of the models ({})", names.join(", ")),
                ));
            }
            Some(r) => r.clone(),
            None if names.iter().any(|n| n == DEFAULT_REFERENCE) => DEFAULT_REFERENCE.into(),
            None => names[0].clone(),
        };
        let spec0 = &specs[0];
        let mut dataset = denovo_data::load_with(&data, &spec0.load_options())?;
        // Every model's regressors exist in the data: a typo fails here, once, not in
        // every task.
        for (index, (name, spec)) in names.iter().zip(&specs).enumerate() {
            spec.design(dataset.clone())
                .map_err(|source| SweepError::ModelOptions {
                    path: path.to_path_buf(),
                    at: self.at(index, "regressors"),
                    index,
                    model: name.clone(),
                    source: Box::new(source),
                })?;
        }
        if let Some(n) = spec0.first_trials {
            dataset = dataset.first_trials(n);
        }
        let folds =
            denovo_data::kfold_by_subject(dataset.subjects.len(), self.folds, self.fold_seed)
                .map_err(|e| setting("folds", e.to_string()))?;
        let fold_subjects = folds
            .iter()
            .map(|f| {
                f.test
                    .iter()
                    .map(|&i| dataset.subjects[i].name.clone())
                    .collect()
            })
            .collect();
        let mut tasks = Vec::new();
        for (name, spec) in names.iter().zip(&specs) {
            for &seed in &self.seeds {
                for replicate in 0..self.replicates {
                    for fold in 0..self.folds {
                        let mut spec = spec.clone();
                        spec.seed = seed + 1000 * replicate as u64;
                        tasks.push(Task {
                            key: TaskKey {
                                id: tasks.len(),
                                name: format!("{name}.s{seed}.r{replicate}.f{fold}"),
                                model: name.clone(),
                                fold,
                                seed,
                                replicate,
                            },
                            fit_toml: spec.to_toml()?,
                        });
                    }
                }
            }
        }
        Ok(Plan {
            schema: PLAN_SCHEMA.into(),
            data,
            folds: self.folds,
            fold_seed: self.fold_seed,
            fold_subjects,
            models: names,
            reference,
            tasks,
        })
    }

    /// `:line:column` of `key` in model entry `index` (else in `[defaults]`), or empty.
    fn at(&self, index: usize, key: &str) -> String {
        key_position(&self.source_text(), index, key)
            .map(|(line, column)| format!(":{line}:{column}"))
            .unwrap_or_default()
    }

    /// The name and fit of model entry `index` (`[defaults]` overlaid by the entry); its
    /// path options (`w0 = "FILE"`) made absolute from the sweep file's folder and checked
    /// to exist.
    /// The fit is read from the spans of `source` (the sweep's text), so that a key of the
    /// wrong type or an unknown key is reported at its line and column in the user's file.
    fn model_spec(
        &self,
        path: &Path,
        source_text: &str,
        index: usize,
        entry: &toml::Table,
        data: &Path,
    ) -> Result<(String, FitSpec), SweepError> {
        let mut table = self.defaults.clone();
        table.extend(entry.clone());
        let kind = table.get("model").and_then(|m| m.as_str()).unwrap_or("");
        let kind: ModelKind = kind.parse().map_err(|source| SweepError::UnknownModel {
            path: path.to_path_buf(),
            index,
            source: Box::new(source),
        })?;
        let name = match table.remove("name") {
            Some(toml::Value::String(n)) if is_file_safe(&n) => n,
            Some(other) => {
                return Err(SweepError::Setting {
                    path: path.to_path_buf(),
                    setting: "name",
                    message: format!(
                        "models[{index}]: `{other}` must be a string of letters, digits, - and _"
                    ),
                });
            }
            None => kind.name().to_string(),
        };
        let fail = |source: denovo_study::StudyError| SweepError::ModelOptions {
            path: path.to_path_buf(),
            at: match &source {
                denovo_study::StudyError::Setting { setting, .. } => {
                    key_position(source_text, index, setting)
                        .map(|(line, column)| format!(":{line}:{column}"))
                        .unwrap_or_default()
                }
                _ => String::new(),
            },
            index,
            model: name.clone(),
            source: Box::new(source),
        };
        for key in ["data", "seed", "folds", "out"] {
            if table.contains_key(key) {
                return Err(SweepError::Setting {
                    path: path.to_path_buf(),
                    setting: "models",
                    message: format!(
                        "models[{index}] ({name}): `{key}` is set by the sweep, not per model"
                    ),
                });
            }
        }
        let spec = fit_from_source(source_text, index, data).map_err(|mut e| {
            e.set_input(Some(source_text));
            SweepError::ModelToml {
                path: path.to_path_buf(),
                index,
                model: name.clone(),
                source: Box::new(e),
            }
        })?;
        let mut spec = spec;
        spec.check().map_err(fail)?;
        if let Some(w0) = spec.w0.as_deref().filter(|w| *w != "truth") {
            let base = path.parent().unwrap_or(Path::new(""));
            let file = std::path::absolute(base.join(w0)).map_err(SweepError::io(w0))?;
            if !file.is_file() {
                return Err(SweepError::ModelOptions {
                    path: path.to_path_buf(),
                    at: self.at(index, "w0"),
                    index,
                    model: name.clone(),
                    source: Box::new(denovo_study::StudyError::Setting {
                        setting: "w0",
                        expected: "`truth` or a CSV file (relative to the sweep file)",
                        got: format!("{} (no such file)", file.display()),
                    }),
                });
            }
            spec.w0 = Some(file.display().to_string());
        }
        Ok((name, spec))
    }
}

/// The fit of `[[models]]` entry `index` of the sweep `source`: `[defaults]` overlaid by
/// the entry, without `name`, with `data`; deserialised from the parsed document so that
/// errors carry spans into `source`.
fn fit_from_source(source: &str, index: usize, data: &Path) -> Result<FitSpec, toml::de::Error> {
    use serde::Deserialize as _;
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(source)?;
    let span = doc.span();
    let doc = doc.into_inner();
    fn table_of<'i>(v: Option<&toml::Spanned<DeValue<'i>>>) -> DeTable<'i> {
        match v.map(|v| v.get_ref()) {
            Some(DeValue::Table(t)) => t.clone(),
            _ => DeTable::new(),
        }
    }
    let mut merged = table_of(doc.get("defaults"));
    let entry = match doc.get("models").map(|v| v.get_ref()) {
        Some(DeValue::Array(a)) => table_of(a.get(index)),
        _ => DeTable::new(),
    };
    for (key, value) in entry {
        let name: &str = key.get_ref();
        merged.remove(name);
        merged.insert(key, value);
    }
    merged.remove("name");
    merged.insert(
        toml::Spanned::new(0..0, "data".into()),
        toml::Spanned::new(0..0, DeValue::String(data.display().to_string().into())),
    );
    FitSpec::deserialize(toml::de::Deserializer::from(toml::Spanned::new(
        span, merged,
    )))
}

/// Line and column (1-based) of `key` in `[[models]]` entry `index` of the sweep
/// `source`, else in its `[defaults]`; `None` when neither sets it.
fn key_position(source: &str, index: usize, key: &str) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(source).ok()?.into_inner();
    let span_in = |v: Option<&toml::Spanned<DeValue<'_>>>| match v.map(|v| v.get_ref()) {
        Some(DeValue::Table(t)) => t.get_key_value(key).map(|(k, _)| k.span()),
        _ => None,
    };
    let entry = match doc.get("models").map(|v| v.get_ref()) {
        Some(DeValue::Array(a)) => span_in(a.get(index)),
        _ => None,
    };
    let start = entry.or_else(|| span_in(doc.get("defaults")))?.start;
    let before = &source[..start.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

/// Letters, digits, `-` and `_`: a name that is safe in file names and in `tasks.json`.
fn is_file_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Plan {
    /// `the comparison's reference: M`, with why when it is the first model by default
    /// (no `reference` and no `reinforce-baseline` among the models).
    pub fn reference_line(&self) -> String {
        let why = if self.models.iter().all(|m| m != DEFAULT_REFERENCE) {
            format!(" (the first model: {DEFAULT_REFERENCE} is not in the sweep)")
        } else {
            String::new()
        };
        let why = if self.models.first() == Some(&self.reference) {
            why
        } else {
            String::new()
        };
        format!("the comparison's reference: {}{why}", self.reference)
    }

    /// Reads `DIR/tasks.json`.
    ///
    /// Errors: [`SweepError::SweepDir`] (no `tasks.json`), [`SweepError::Format`].
    pub fn read(dir: &Path) -> Result<Plan, SweepError> {
        let path = dir.join("tasks.json");
        let text = std::fs::read_to_string(&path).map_err(|e| SweepError::SweepDir {
            dir: dir.to_path_buf(),
            message: format!("not a sweep directory (tasks.json: {e}); start one with `denovo sweep sweep.toml --out DIR`"),
        })?;
        serde_json::from_str(&text).map_err(|e| SweepError::format(&path, e))
    }

    /// Task `id`. Errors: [`SweepError::TaskOutOfRange`].
    pub fn task(&self, dir: &Path, id: usize) -> Result<&Task, SweepError> {
        self.tasks
            .get(id)
            .ok_or_else(|| SweepError::TaskOutOfRange {
                id,
                tasks: self.tasks.len(),
                dir: dir.to_path_buf(),
            })
    }
}

/// Starts (or reopens) the sweep of `sweep_toml` in `dir`: writes `DIR/tasks.json` and a
/// copy of the file as `DIR/sweep.toml`. A directory that already holds a sweep is kept
/// when its tasks are the same (re-running resumes), refused when they differ.
///
/// Errors: those of [`SweepSpec::read`] and [`SweepSpec::plan`]; [`SweepError::SweepDir`]
/// when `dir` holds another sweep.
pub fn prepare(sweep_toml: &Path, dir: &Path) -> Result<Plan, SweepError> {
    let plan = SweepSpec::read(sweep_toml)?.plan(sweep_toml)?;
    if dir.join("tasks.json").is_file() {
        let old = Plan::read(dir)?;
        if old != plan {
            return Err(SweepError::SweepDir {
                dir: dir.to_path_buf(),
                message: format!(
                    "holds a sweep with other tasks than {} describes; choose another --out \
                     (or remove the directory to start over)",
                    sweep_toml.display()
                ),
            });
        }
        return Ok(old);
    }
    std::fs::create_dir_all(dir).map_err(SweepError::io(dir))?;
    std::fs::copy(sweep_toml, dir.join("sweep.toml")).map_err(SweepError::io(sweep_toml))?;
    let path = dir.join("tasks.json");
    let text = serde_json::to_string_pretty(&plan).map_err(|e| SweepError::format(&path, e))?;
    crate::write_atomic(&path, text.as_bytes())?;
    Ok(plan)
}

//! Reading a run directory back: the fitted rule, its regressors and settings.

use anyhow::{Context, bail};
use burn::module::Module;
use burn::record::DefaultRecorder;
use denovo_nn::{DnnConfig, DnnRule, RnnConfig, RnnRule, cast_to_backend_precision};
use denovo_rules::{
    Parametric, PredictMax, QLearning, Reinforce, ReinforceBaseline, RewardMax, RuleKind, RuleSpec,
};
use std::path::{Path, PathBuf};

/// The backend fitted rules are read into: CPU, f64 (exact read-outs).
pub type ReadBackend = burn::backend::NdArray<f64>;

/// A fitted rule of any kind.
pub enum AnyRule {
    /// REINFORCE.
    Reinforce(Reinforce<ReadBackend>),
    /// REINFORCE with baseline.
    ReinforceBaseline(ReinforceBaseline<ReadBackend>),
    /// RewardMax.
    RewardMax(RewardMax<ReadBackend>),
    /// PredictMax.
    PredictMax(PredictMax<ReadBackend>),
    /// Q-learning.
    QLearning(QLearning<ReadBackend>),
    /// The DNN rule.
    Dnn(Box<DnnRule<ReadBackend>>),
    /// The RNN rule.
    Rnn(Box<RnnRule<ReadBackend>>),
}

impl AnyRule {
    /// A parametric rule of `kind` with the parameters of `spec`.
    pub fn from_spec(
        kind: RuleKind,
        spec: &RuleSpec,
        device: &burn::tensor::Device<ReadBackend>,
    ) -> AnyRule {
        match kind {
            RuleKind::Reinforce => AnyRule::Reinforce(Reinforce::from_spec(spec, device)),
            RuleKind::ReinforceBaseline => {
                AnyRule::ReinforceBaseline(ReinforceBaseline::from_spec(spec, device))
            }
            RuleKind::Rewardmax => AnyRule::RewardMax(RewardMax::from_spec(spec, device)),
            RuleKind::Predictmax => AnyRule::PredictMax(PredictMax::from_spec(spec, device)),
            RuleKind::Qlearning => AnyRule::QLearning(QLearning::from_spec(spec, device)),
        }
    }
}

/// Runs `$body` with `$r` bound to the concrete rule inside an [`AnyRule`].
macro_rules! with_rule {
    ($any:expr, $r:ident => $body:expr) => {
        match $any {
            $crate::run_dir::AnyRule::Reinforce($r) => $body,
            $crate::run_dir::AnyRule::ReinforceBaseline($r) => $body,
            $crate::run_dir::AnyRule::RewardMax($r) => $body,
            $crate::run_dir::AnyRule::PredictMax($r) => $body,
            $crate::run_dir::AnyRule::QLearning($r) => $body,
            $crate::run_dir::AnyRule::Dnn($r) => {
                let $r = &**$r;
                $body
            }
            $crate::run_dir::AnyRule::Rnn($r) => {
                let $r = &**$r;
                $body
            }
        }
    };
}
pub(crate) use with_rule;

/// A run directory read back.
pub struct Run {
    /// Where it is.
    pub dir: PathBuf,
    /// The model's name (`reinforce`, …, `dnn`, `rnn`).
    pub model: String,
    /// The regressors, in order.
    pub regressors: Vec<String>,
    /// The whole summary.json.
    pub summary: serde_json::Value,
    /// The fitted rule.
    pub rule: AnyRule,
}

impl Run {
    /// Whether the rule carries a trial history (the RNN).
    pub fn has_history(&self) -> bool {
        matches!(self.rule, AnyRule::Rnn(_))
    }

    /// Initial weights for new animals: the mean fitted w0 when the run fitted w0, else 0.
    pub fn mean_w0(&self) -> Vec<f64> {
        let k = self.regressors.len();
        match self.summary["w0"].as_array() {
            Some(rows) if !rows.is_empty() => (0..k)
                .map(|j| rows.iter().filter_map(|r| r[j].as_f64()).sum::<f64>() / rows.len() as f64)
                .collect(),
            _ => vec![0.0; k],
        }
    }
}

/// Reads `dir/summary.json` and `dir/model.mpk`.
pub fn read_run(dir: &Path) -> anyhow::Result<Run> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: not a denovo run directory (no readable summary.json)",
            dir.display()
        )
    })?;
    let summary: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    if summary["schema"] != "denovo.fit/1" {
        bail!(
            "{}: unknown schema {} (expected denovo.fit/1)",
            path.display(),
            summary["schema"]
        );
    }
    let model = summary["model"].as_str().unwrap_or_default().to_string();
    let regressors: Vec<String> = serde_json::from_value(summary["regressors"].clone())
        .with_context(|| format!("{}: `regressors` missing", path.display()))?;
    let k = regressors.len();
    let device = Default::default();
    let record = dir.join("model.mpk");
    let load = |what: &str| format!("{}: loading the {what} record", record.display());
    let rule = match model.as_str() {
        "dnn" => {
            let config: DnnConfig = serde_json::from_value(summary["architecture"]["dnn"].clone())
                .with_context(|| format!("{}: `architecture.dnn` missing", path.display()))?;
            let rule = config.init::<ReadBackend>(k, &device);
            // Loaded values take burn's process-wide default float type, which an f32 fit
            // earlier in the same process (the demo) sets: cast back to the read precision.
            AnyRule::Dnn(Box::new(cast_to_backend_precision(
                rule.load_file(dir.join("model"), &DefaultRecorder::new(), &device)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))
                    .with_context(|| load("dnn"))?,
            )))
        }
        "rnn" => {
            let config: RnnConfig = serde_json::from_value(summary["architecture"]["rnn"].clone())
                .with_context(|| format!("{}: `architecture.rnn` missing", path.display()))?;
            let rule = config.init::<ReadBackend>(k, &device);
            AnyRule::Rnn(Box::new(cast_to_backend_precision(
                rule.load_file(dir.join("model"), &DefaultRecorder::new(), &device)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))
                    .with_context(|| load("rnn"))?,
            )))
        }
        other => {
            let kind: RuleKind = other
                .parse()
                .with_context(|| format!("{}: unknown model `{other}`", path.display()))?;
            let spec: RuleSpec = serde_json::from_value(summary["parameters"].clone())
                .with_context(|| format!("{}: `parameters` unreadable", path.display()))?;
            AnyRule::from_spec(kind, &spec, &device)
        }
    };
    Ok(Run {
        dir: dir.to_path_buf(),
        model,
        regressors,
        summary,
        rule,
    })
}

//! Models by name: [`ModelKind`], [`ModelSpec`] (name + options) and [`Model`], the one
//! place where a model's name becomes a rule.

use crate::StudyError;
use burn::tensor::backend::Backend;
use denovo_nn::{DnnConfig, DnnRule, Gate, RnnConfig, RnnRule, RuleInput, Structure};
use denovo_rules::{
    ParametricRule, PredictMax, QLearning, Reinforce, ReinforceBaseline, ReinforceStreak,
    RewardMax, RuleKind, RuleSpec,
};
use serde::{Deserialize, Serialize};

/// The models denovo fits by name: a parametric rule or a neural one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A parametric rule (closed-form Δw; Ashwood et al. 2020).
    Parametric(RuleKind),
    /// The DNN rule: Δw = γ ⊙ MLP([w, x, y, r, a, s]) (Liu, Geadah & Pillow 2025).
    Dnn,
    /// The RNN rule: a GRU over the trial history, Δw = γ ⊙ MLP(h) (same paper).
    Rnn,
    /// PsyTrack's random walk w_t = w_{t−1} + ε_t, σ by the Laplace evidence (Roy et al.
    /// 2021; [`denovo_walk`]).
    Psytrack,
    /// A parametric rule with noise: the rule's step as the drift of the walk,
    /// w_t = w_{t−1} + Δw_rule(t−1) + ε_t, the rule's parameters and σ by the Laplace
    /// evidence (Ashwood et al. 2020; [`denovo_walk::optimise_rule`]). Named
    /// `<rule>-noise`; every parametric rule but `reinforce-streak`.
    Noisy(RuleKind),
    /// The DNN rule with noise: the DNN fitted as usual, then its step as the drift of the
    /// walk, w_t = w_{t−1} + Δw_DNN(t−1) + ε_t, with σ by the Laplace evidence on the
    /// training trials and the network fixed ([`denovo_walk::optimise_drift`]); scored one
    /// step ahead by the filter.
    DnnNoise,
    /// The RNN rule with noise: as [`ModelKind::DnnNoise`] with the RNN, its GRU run along
    /// the MAP weights (the hidden trajectory held fixed while σ is fitted, then recomputed
    /// along the new MAP path, until it settles; see `crate::noisy_net`).
    RnnNoise,
}

impl ModelKind {
    /// The standard models (what `denovo demo` fits), parametric rules first, in a stable
    /// order. The history-dependent test rule `reinforce-streak` is not listed (it is a
    /// simulation truth, fitted only on request) but parses like every other name.
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Parametric(RuleKind::Reinforce),
        ModelKind::Parametric(RuleKind::ReinforceBaseline),
        ModelKind::Parametric(RuleKind::Rewardmax),
        ModelKind::Parametric(RuleKind::Predictmax),
        ModelKind::Parametric(RuleKind::Qlearning),
        ModelKind::Dnn,
        ModelKind::Rnn,
    ];

    /// The name used on the command line, in `fit.toml` and in `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Parametric(k) => k.name(),
            ModelKind::Dnn => "dnn",
            ModelKind::Rnn => "rnn",
            ModelKind::Psytrack => "psytrack",
            ModelKind::DnnNoise => "dnn-noise",
            ModelKind::RnnNoise => "rnn-noise",
            ModelKind::Noisy(k) => match k {
                RuleKind::Reinforce => "reinforce-noise",
                RuleKind::ReinforceBaseline => "reinforce-baseline-noise",
                RuleKind::Rewardmax => "rewardmax-noise",
                RuleKind::Predictmax => "predictmax-noise",
                RuleKind::Qlearning => "qlearning-noise",
                RuleKind::ReinforceStreak => "reinforce-streak-noise",
            },
        }
    }

    /// The rules with noise, in a stable order (every parametric rule of [`ModelKind::ALL`]).
    pub const NOISY: [ModelKind; 5] = [
        ModelKind::Noisy(RuleKind::Reinforce),
        ModelKind::Noisy(RuleKind::ReinforceBaseline),
        ModelKind::Noisy(RuleKind::Rewardmax),
        ModelKind::Noisy(RuleKind::Predictmax),
        ModelKind::Noisy(RuleKind::Qlearning),
    ];

    /// The neural rules with noise, in a stable order.
    pub const NOISY_NETS: [ModelKind; 2] = [ModelKind::DnnNoise, ModelKind::RnnNoise];

    /// The network of a neural rule with noise (`dnn` for `dnn-noise`, `rnn` for
    /// `rnn-noise`); `None` for every other model.
    pub fn network(self) -> Option<ModelKind> {
        match self {
            ModelKind::DnnNoise => Some(ModelKind::Dnn),
            ModelKind::RnnNoise => Some(ModelKind::Rnn),
            _ => None,
        }
    }

    /// Whether the model has weight noise with σ fitted by the Laplace evidence and is
    /// scored one step ahead by a filter: psytrack, the parametric rules with noise and
    /// the neural rules with noise.
    pub fn has_noise(self) -> bool {
        self.is_walk() || self.network().is_some()
    }

    /// Whether the model is a random walk fitted entirely by the Laplace evidence (psytrack
    /// or a parametric rule with noise; [`denovo_walk`]). The neural rules with noise are
    /// not: their network is trained as usual first.
    pub fn is_walk(self) -> bool {
        matches!(self, ModelKind::Psytrack | ModelKind::Noisy(_))
    }

    /// Whether the model has a learning rule to read out, simulate or recover: every model
    /// but psytrack, a random walk whose expected step Δw is 0 whatever happened.
    pub fn has_learning_rule(self) -> bool {
        self != ModelKind::Psytrack
    }

    /// Whether the model is a neural network (different training defaults).
    pub fn is_neural(self) -> bool {
        matches!(
            self,
            ModelKind::Dnn | ModelKind::Rnn | ModelKind::DnnNoise | ModelKind::RnnNoise
        )
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = StudyError;
    /// Parses a model name; errors: [`StudyError::UnknownModel`].
    fn from_str(s: &str) -> Result<Self, StudyError> {
        ModelKind::ALL
            .into_iter()
            .chain([
                ModelKind::Parametric(RuleKind::ReinforceStreak),
                ModelKind::Psytrack,
            ])
            .chain(ModelKind::NOISY)
            .chain(ModelKind::NOISY_NETS)
            .find(|k| k.name() == s)
            .ok_or_else(|| StudyError::UnknownModel(s.to_string()))
    }
}

impl Serialize for ModelKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ModelKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn default_hidden() -> Vec<usize> {
    vec![32, 32]
}
pub(crate) fn default_gru_hidden() -> usize {
    32
}
pub(crate) fn default_gamma_init() -> f64 {
    1e-3
}
pub(crate) fn default_init_alpha() -> f64 {
    0.01
}
pub(crate) fn default_sigma_init() -> f64 {
    denovo_walk::SIGMA_INIT
}

/// A model by name with its options: what [`FitSpec`](crate::FitSpec) fits. Serialised
/// flat into `fit.toml` (`model`, `hidden`, `gru_hidden`, `gamma_init`, `init_alpha`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Which model.
    pub model: ModelKind,
    /// Hidden layer widths of the DNN rule's MLP and of the RNN rule's read-out MLP
    /// (default 32, 32 as in the reference code).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// Hidden size of the RNN rule's GRU (default 32).
    #[serde(default = "default_gru_hidden")]
    pub gru_hidden: usize,
    /// Initial γ, the per-weight output scale of the neural rules (default 1e-3).
    #[serde(default = "default_gamma_init")]
    pub gamma_init: f64,
    /// Starting learning rate α of every weight of a parametric rule, with or without noise
    /// (default 0.01).
    #[serde(default = "default_init_alpha")]
    pub init_alpha: f64,
    /// psytrack and the rules with noise: the prior SD σ_init of the first trial's weights (default 2⁴ = 16).
    #[serde(default = "default_sigma_init")]
    pub sigma_init: f64,
    /// psytrack and the rules with noise: also fit σ_day, the SD of the step into a session's first trial (default:
    /// no σ_day, every step has SD σ).
    #[serde(default)]
    pub sigma_day: bool,
    /// psytrack and the rules with noise: how trials after the training data are predicted (default one step
    /// ahead; `last-weights` carries the last fitted weights forward).
    #[serde(default)]
    pub scoring: crate::walk::Scoring,
    /// dnn/rnn: a structural hypothesis — only rewarded (`correct-only`) or only
    /// unrewarded (`error-only`) trials move the weights (default `none`).
    #[serde(default, skip_serializing_if = "is_no_gate")]
    pub gate: Gate,
    /// dnn/rnn: inputs the network does not see (held at 0): `reward`, `choice`,
    /// `answer`, `session-start`, `weights` (default: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_input: Vec<RuleInput>,
}

fn is_no_gate(g: &Gate) -> bool {
    *g == Gate::None
}

impl ModelSpec {
    /// `model` with the default options.
    pub fn new(model: ModelKind) -> Self {
        ModelSpec {
            model,
            hidden: default_hidden(),
            gru_hidden: default_gru_hidden(),
            gamma_init: default_gamma_init(),
            init_alpha: default_init_alpha(),
            sigma_init: default_sigma_init(),
            sigma_day: false,
            scoring: Default::default(),
            gate: Gate::None,
            drop_input: Vec::new(),
        }
    }

    /// The neural rule's structural hypothesis (gate, dropped inputs).
    pub fn structure(&self) -> Structure {
        Structure::new(self.gate, self.drop_input.clone())
    }

    /// The model's name with its structure, e.g. `dnn` or `dnn[gate=correct-only]` (for
    /// tables and figures that compare nested variants).
    pub fn label(&self) -> String {
        let structure = self.structure().label();
        if structure.is_empty() {
            self.model.name().to_string()
        } else {
            format!("{}[{structure}]", self.model.name())
        }
    }
    /// The DNN rule with the default options.
    pub fn dnn() -> Self {
        Self::new(ModelKind::Dnn)
    }
    /// The RNN rule with the default options.
    pub fn rnn() -> Self {
        Self::new(ModelKind::Rnn)
    }
    /// A parametric rule with the default starting values.
    pub fn parametric(kind: RuleKind) -> Self {
        Self::new(ModelKind::Parametric(kind))
    }

    /// Checks the options. Errors: [`StudyError::Setting`] naming the option.
    pub fn check(&self) -> Result<(), StudyError> {
        if self.hidden.contains(&0) || self.gru_hidden == 0 {
            return Err(StudyError::Setting {
                setting: "hidden and gru_hidden sizes",
                expected: "at least 1",
                got: format!("{:?} and {}", self.hidden, self.gru_hidden),
            });
        }
        if !self.gamma_init.is_finite() {
            return Err(StudyError::Setting {
                setting: "gamma_init",
                expected: "a finite number",
                got: self.gamma_init.to_string(),
            });
        }
        if !(self.sigma_init > 0.0 && self.sigma_init.is_finite()) {
            return Err(StudyError::Setting {
                setting: "sigma_init",
                expected: "> 0",
                got: self.sigma_init.to_string(),
            });
        }
        if !self.model.is_neural() && !self.structure().is_free() {
            return Err(StudyError::Setting {
                setting: "gate and drop_input",
                expected: "only with the dnn or rnn model",
                got: format!("{} with {}", self.model, self.structure().label()),
            });
        }
        if !(self.init_alpha > 0.0 && self.init_alpha.is_finite()) {
            return Err(StudyError::Setting {
                setting: "init_alpha",
                expected: "> 0",
                got: self.init_alpha.to_string(),
            });
        }
        Ok(())
    }

    /// The DNN rule's configuration.
    pub fn dnn_config(&self) -> DnnConfig {
        DnnConfig {
            hidden: self.hidden.clone(),
            gamma_init: self.gamma_init,
            structure: self.structure(),
        }
    }

    /// The RNN rule's configuration.
    pub fn rnn_config(&self) -> RnnConfig {
        RnnConfig {
            hidden: self.gru_hidden,
            head: self.hidden.clone(),
            gamma_init: self.gamma_init,
            structure: self.structure(),
        }
    }

    /// The sizes of a neural rule as `summary.json` records them (`None` for parametric
    /// rules).
    pub fn architecture(&self) -> Option<serde_json::Value> {
        let inputs = ["w…", "x…", "choice", "reward", "answer", "session_start"];
        match self.model {
            ModelKind::Parametric(_) | ModelKind::Psytrack | ModelKind::Noisy(_) => None,
            ModelKind::Dnn | ModelKind::DnnNoise => {
                Some(serde_json::json!({ "dnn": self.dnn_config(), "inputs": inputs }))
            }
            ModelKind::Rnn | ModelKind::RnnNoise => {
                Some(serde_json::json!({ "rnn": self.rnn_config(), "inputs": inputs }))
            }
        }
    }

    /// The model's starting point for `n_features` regressors: a parametric rule with every
    /// α = `init_alpha` (β = 0, inverse temperature 1), or a freshly initialised network
    /// (burn's initialisers; seed them with `B::seed`).
    pub fn init<B: Backend>(&self, n_features: usize, device: &B::Device) -> Model<B> {
        match self.model {
            ModelKind::Parametric(kind) => Model::Parametric(ParametricRule::from_spec(
                &RuleSpec::initial(kind, n_features, self.init_alpha),
                device,
            )),
            ModelKind::Dnn | ModelKind::DnnNoise => {
                Model::Dnn(Box::new(self.dnn_config().init(n_features, device)))
            }
            ModelKind::Rnn | ModelKind::RnnNoise => {
                Model::Rnn(Box::new(self.rnn_config().init(n_features, device)))
            }
            ModelKind::Psytrack | ModelKind::Noisy(_) => Model::Walk(crate::walk::WalkRule::new(
                crate::walk::WalkParameters::start(n_features, self),
                device,
            )),
        }
    }
}

/// A built-in rule of any kind, on backend `B`. Generic code reaches the concrete rule
/// through [`with_model!`](crate::with_model).
// The parametric rules are a few tensors; a `Model` is built once per fit or read-out.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Model<B: Backend> {
    /// A parametric rule.
    Parametric(ParametricRule<B>),
    /// The DNN rule.
    Dnn(Box<DnnRule<B>>),
    /// The RNN rule.
    Rnn(Box<RnnRule<B>>),
    /// PsyTrack's random walk (the rule that carries the weights forward) or a rule with
    /// noise (the rule).
    Walk(crate::walk::WalkRule<B>),
}

impl<B: Backend> Model<B> {
    /// A parametric rule with known parameters (e.g. a simulation's truth).
    pub fn from_rule_spec(spec: &RuleSpec, device: &B::Device) -> Self {
        Model::Parametric(ParametricRule::from_spec(spec, device))
    }
    /// Which model this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Parametric(p) => ModelKind::Parametric(p.spec().kind),
            Model::Dnn(_) => ModelKind::Dnn,
            Model::Rnn(_) => ModelKind::Rnn,
            Model::Walk(w) => w.fitted.kind(),
        }
    }
    /// Whether the rule carries a trial history (the RNN, and `reinforce-streak` whose
    /// step depends on the preceding rewarded trials): its read-outs may be conditioned on
    /// one.
    pub fn has_history(&self) -> bool {
        matches!(
            self,
            Model::Rnn(_) | Model::Parametric(ParametricRule::ReinforceStreak(_))
        )
    }
}

/// Runs `$body` with `$r` bound to a reference to the concrete rule inside a
/// [`Model`](crate::Model) (one `match` arm per rule type, so `$body` may call generic
/// functions that need the concrete type).
///
/// ```
/// use denovo_study::{ModelSpec, with_model};
/// use denovo_rules::LearningRule;
/// type B = burn::backend::NdArray<f64>;
/// let model = ModelSpec::dnn().init::<B>(2, &Default::default());
/// assert_eq!(with_model!(&model, r => r.name()), "dnn");
/// ```
#[macro_export]
macro_rules! with_model {
    ($model:expr, $r:ident => $body:expr) => {
        match $model {
            $crate::Model::Parametric(p) => $crate::__rules::with_parametric!(p, $r => $body),
            $crate::Model::Dnn(b) => {
                let $r = &**b;
                $body
            }
            $crate::Model::Rnn(b) => {
                let $r = &**b;
                $body
            }
            $crate::Model::Walk(w) => {
                let $r = w;
                $body
            }
        }
    };
}

/// The parameters of a fitted rule as `summary.json` records them. Implemented by every
/// built-in rule; implement it for your own rule to fit it with
/// [`fit_rule`](crate::fit_rule).
pub trait Describe {
    /// The parameters (α, β, τ of a parametric rule; γ of a neural one), as JSON.
    fn parameters(&self) -> serde_json::Value;
}

macro_rules! describe_parametric {
    ($($t:ident),*) => {$(
        impl<B: Backend> Describe for $t<B> {
            fn parameters(&self) -> serde_json::Value {
                serde_json::to_value(denovo_rules::Parametric::spec(self)).unwrap_or_default()
            }
        }
    )*};
}
describe_parametric!(
    Reinforce,
    ReinforceBaseline,
    RewardMax,
    PredictMax,
    QLearning,
    ReinforceStreak
);

impl<B: Backend> Describe for DnnRule<B> {
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({ "gamma": denovo_glm::to_f64_vec(self.gamma.val()) })
    }
}

impl<B: Backend> Describe for RnnRule<B> {
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({ "gamma": denovo_glm::to_f64_vec(self.gamma.val()) })
    }
}

impl<B: Backend> Describe for Model<B> {
    fn parameters(&self) -> serde_json::Value {
        with_model!(self, r => r.parameters())
    }
}

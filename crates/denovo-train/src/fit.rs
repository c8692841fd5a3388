//! Maximum-likelihood fitting with burn autodiff and Adam.

use crate::SequenceBatch;
use burn::module::{AutodiffModule, Module, ModuleDisplay, Param};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{Adam, AdamConfig, GradientsParams, LBFGSConfig, LineSearchFn, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use denovo_glm::float_tensor;
use denovo_rules::{ClosedForm, FusedGradient, LearningRule};
use serde::{Deserialize, Serialize};

/// A rule together with what else is fitted: the per-animal initial weights, when they are
/// free parameters (`None` when they are fixed and passed in).
#[derive(Module, Debug)]
pub struct RuleFit<B: Backend, R: Module<B>> {
    /// The learning rule (its parameters are shared by all animals).
    pub rule: R,
    /// Fitted initial weights w0, `[animals, features]`, or `None` for fixed w0.
    pub w0: Option<Param<Tensor<B, 2>>>,
}

impl<B: Backend, R: Module<B>> RuleFit<B, R> {
    /// A rule with fixed initial weights.
    pub fn fixed_w0(rule: R) -> Self {
        RuleFit { rule, w0: None }
    }
    /// A rule with fitted initial weights, starting from `w0`.
    pub fn fitted_w0(rule: R, w0: Tensor<B, 2>) -> Self {
        RuleFit {
            rule,
            w0: Some(Param::from_tensor(w0)),
        }
    }
    /// The initial weights to use: the fitted ones, or `fixed`.
    pub fn initial_weights(&self, fixed: &Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.w0 {
            Some(p) => p.val(),
            None => fixed.clone(),
        }
    }
}

/// The log-likelihood of every animal's scored choices, `[animals]`: the rule is stepped
/// through the batch from `w0` (`[animals, features]`); trial t is predicted from the
/// weights before it. Padded and unscored trials contribute nothing. Runs the rule's fused
/// op when it has one (the built-in neural rules), else the per-trial tensor loop.
pub fn sequence_log_likelihood<B: Backend, R: LearningRule<B>>(
    rule: &R,
    batch: &SequenceBatch<B>,
    w0: Tensor<B, 2>,
) -> Tensor<B, 1> {
    if let Some(ll) = rule.fused_log_likelihood(&batch.host, w0.clone()) {
        return ll;
    }
    truncated_log_likelihood(rule, batch, w0, None)
}

/// [`sequence_log_likelihood`] with truncated backpropagation through time: every `window`
/// trials the state is cut from the autodiff graph (`None` = full BPTT). The value is the
/// same; only gradients change (they ignore effects reaching further back than `window`).
pub fn truncated_log_likelihood<B: Backend, R: LearningRule<B>>(
    rule: &R,
    batch: &SequenceBatch<B>,
    w0: Tensor<B, 2>,
    window: Option<usize>,
) -> Tensor<B, 1> {
    let device = w0.device();
    let mut total = Tensor::<B, 1>::zeros([batch.n_animals()], (&device, w0.dtype()));
    let mut state = rule.initial_state(w0);
    let last = batch.n_steps().saturating_sub(1);
    for (t, (trial, ignore)) in batch.steps().iter().zip(batch.ignore()).enumerate() {
        let z = denovo_glm::logits(rule.policy_weights(&state), trial.x.clone());
        let ll = denovo_glm::log_likelihood(z, trial.choice.clone());
        total = total + ll.mask_fill(ignore.clone(), 0.0);
        if t < last {
            state = rule.step(state, trial);
            if window.is_some_and(|w| w > 0 && (t + 1) % w == 0) {
                state = rule.detach(state);
            }
        }
    }
    total
}

/// How to fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// Number of full-batch Adam steps.
    pub epochs: usize,
    /// Initial learning rate.
    pub learning_rate: f64,
    /// The learning rate is multiplied by `lr_decay` every `lr_step` epochs.
    pub lr_step: usize,
    /// Decay factor of the step schedule.
    pub lr_decay: f64,
    /// Clip each parameter's gradient to this norm (none if `None`; Adam only).
    pub clip_norm: Option<f64>,
    /// After the Adam epochs, this many L-BFGS iterations (strong-Wolfe line search)
    /// polish the optimum: learning-rule likelihoods have long flat ridges (a learning
    /// rate against a baseline) where first-order steps crawl.
    #[serde(default)]
    pub lbfgs_iterations: usize,
    /// How gradients are computed.
    #[serde(default)]
    pub path: GradientPath,
    /// Truncated BPTT: cut the graph every this many trials (generic path only; `None` =
    /// full backpropagation through the whole trajectory).
    #[serde(default)]
    pub bptt_window: Option<usize>,
    /// Early stopping: with validation data, stop when its log-likelihood has not improved
    /// for this many epochs, and keep the best model (`None` = run every epoch).
    #[serde(default)]
    pub patience: Option<usize>,
    /// Score the validation data every this many epochs.
    #[serde(default = "one")]
    pub validate_every: usize,
    /// Hand a checkpoint to [`FitHooks::checkpoint`] every this many epochs (0 = never).
    #[serde(default)]
    pub checkpoint_every: usize,
    /// L2 penalty of Adam's weight decay on every parameter (`None`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Average the parameters of the last N epochs into the fitted model (Polyak / SWA;
    /// 0 = off, the last epoch's model). Not with early stopping, which keeps its best
    /// epoch.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub average_epochs: usize,
    /// Minibatches of animals: each epoch visits the animals once, in a shuffled order, and
    /// takes one Adam step per this many animals (`None`: one full-batch step per epoch).
    /// The loss an epoch reports is then the mean over its minibatches, each at the
    /// parameters it was taken at. Needs fixed initial weights (no fitted w0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minibatch: Option<usize>,
    /// Seed of the minibatches' shuffled order (the order of epoch e depends on it and e
    /// alone, so a resumed fit takes the same minibatches).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub shuffle_seed: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn one() -> usize {
    1
}

/// Adam's state for a model `M`: what a checkpoint must keep, besides the model, for a
/// resumed fit to continue exactly where it stopped.
pub type AdamState<B, M> = <OptimizerAdaptor<Adam, M, B> as Optimizer<M, B>>::Record;

/// Where a resumed fit starts: the epochs already run, their losses and Adam's state.
pub struct Resume<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// Epochs completed before the checkpoint.
    pub epoch: usize,
    /// Their losses.
    pub history: Vec<f64>,
    /// Adam's moments at the checkpoint.
    pub optimizer: AdamState<B, M>,
}

/// Receives checkpoints during a fit (every [`FitConfig::checkpoint_every`] epochs):
/// the model after `epoch` epochs, Adam's state and the losses so far. The trainer knows
/// no files; the caller decides where checkpoints go.
pub trait Checkpoint<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// Stores one checkpoint; an error stops the fit.
    fn save(
        &mut self,
        epoch: usize,
        model: &M,
        optimizer: AdamState<B, M>,
        history: &[f64],
    ) -> Result<(), String>;
}

/// Optional parts of a fit: validation data, a checkpoint to resume from, a checkpoint sink.
pub struct FitHooks<'a, B: AutodiffBackend, M: AutodiffModule<B>> {
    /// Held-out data scored during the fit.
    pub validation: Option<Validation<'a, B>>,
    /// Continue a fit from a checkpoint (the model passed to [`fit`] must be its model).
    pub resume: Option<Resume<B, M>>,
    /// Where checkpoints go.
    pub checkpoint: Option<&'a mut dyn Checkpoint<B, M>>,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> Default for FitHooks<'_, B, M> {
    fn default() -> Self {
        FitHooks {
            validation: None,
            resume: None,
            checkpoint: None,
        }
    }
}

/// Held-out data scored during a fit (progress, early stopping, best-model selection).
pub struct Validation<'a, B: AutodiffBackend> {
    /// The held-out trials (validation animals, or the fitted animals' validation
    /// sessions), on the inner backend.
    pub batch: &'a SequenceBatch<B::InnerBackend>,
    /// Their initial weights, `[animals, features]` (used unless `same_animals` and the
    /// model fits w0).
    pub w0: Tensor<B::InnerBackend, 2>,
    /// The batch holds the fitted animals themselves, in the fit's order (validation
    /// sessions): a model with fitted w0 is scored from its own w0.
    pub same_animals: bool,
}

/// How the trainer computes the loss gradient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GradientPath {
    /// The rule's closed form (hand-written forward mode) when it has one, else autodiff.
    #[default]
    Fast,
    /// burn autodiff through the per-trial tensor graph, always (the reference).
    Generic,
}

impl Default for FitConfig {
    /// 200 epochs, learning rate 0.05 halved every 60 epochs, gradients clipped to norm 1.
    fn default() -> Self {
        FitConfig {
            epochs: 200,
            learning_rate: 0.05,
            lr_step: 60,
            lr_decay: 0.5,
            clip_norm: Some(1.0),
            lbfgs_iterations: 0,
            path: GradientPath::Fast,
            bptt_window: None,
            patience: None,
            validate_every: 1,
            checkpoint_every: 0,
            weight_decay: None,
            average_epochs: 0,
            minibatch: None,
            shuffle_seed: 0,
        }
    }
}

impl FitConfig {
    /// The learning rate of `epoch` (0-based) under the step schedule.
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        let steps = epoch.checked_div(self.lr_step).unwrap_or(0);
        self.learning_rate * self.lr_decay.powi(steps as i32)
    }
}

/// What the progress callback sees after each epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Number of epochs planned.
    pub epochs: usize,
    /// Negative log-likelihood per scored trial (nats) before this epoch's step.
    pub loss: f64,
    /// Learning rate used for the step.
    pub learning_rate: f64,
    /// Log-likelihood per trial of the validation data, when it was scored this epoch.
    pub validation_ll: Option<f64>,
}

/// A finished fit.
#[derive(Debug, Clone)]
pub struct Fitted<M> {
    /// The fitted model.
    pub model: M,
    /// Loss (negative log-likelihood per trial) of each epoch.
    pub history: Vec<f64>,
    /// With early stopping: the epoch (1-based) of the kept model and its validation LL
    /// (nats/trial).
    pub best: Option<(usize, f64)>,
}

/// The outcome of [`fit`]: the fitted model, or why and where it stopped.
pub type FitResult<M> = Result<Fitted<M>, Box<FitFailure<M>>>;

/// A fit that stopped before its end: a non-finite loss (then `last_good` holds the last
/// parameters whose loss was finite) or a checkpoint that could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("{reason} at epoch {epoch}; stopped and kept the parameters of epoch {last_good_epoch}")]
pub struct FitFailure<M: std::fmt::Debug> {
    /// Why the fit stopped.
    pub reason: String,
    /// 1-based epoch whose loss was not finite.
    pub epoch: usize,
    /// The loss value.
    pub loss: f64,
    /// The epoch whose parameters are kept (0 = the initial parameters).
    pub last_good_epoch: usize,
    /// The last parameters with a finite loss.
    pub last_good: M,
    /// The losses up to the failure.
    pub history: Vec<f64>,
}

/// Fits `model` to the scored choices of `batch` by Adam on the negative log-likelihood per
/// trial (full batch, or minibatches of animals with [`FitConfig::minibatch`]),
/// backpropagating through the whole trajectory. `w0_fixed` is
/// used when the model's w0 is not fitted. `on_epoch` is called after every epoch with the
/// updated model (to score validation data, show progress, checkpoint) and may return
/// `false` to stop early.
pub fn fit<B, R>(
    mut model: RuleFit<B, R>,
    batch: &SequenceBatch<B>,
    w0_fixed: &Tensor<B, 2>,
    config: &FitConfig,
    hooks: FitHooks<'_, B, RuleFit<B, R>>,
    on_epoch: &mut dyn FnMut(&EpochReport, &RuleFit<B, R>) -> bool,
) -> FitResult<RuleFit<B, R>>
where
    B: AutodiffBackend,
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: ModuleDisplay + LearningRule<B::InnerBackend>,
{
    // Losses are per-trial means, so gradients can be small: a small epsilon keeps Adam's
    // steps scale-free.
    let mut optim_config = AdamConfig::new().with_epsilon(1e-10).with_weight_decay(
        config
            .weight_decay
            .map(|p| burn::optim::decay::WeightDecayConfig::new(p as f32)),
    );
    if let Some(norm) = config.clip_norm {
        optim_config =
            optim_config.with_grad_clipping(Some(GradientClippingConfig::Norm(norm as f32)));
    }
    let mut optim = optim_config.init::<B, RuleFit<B, R>>();
    let n = batch.n_scored().max(1) as f64;
    let FitHooks {
        validation,
        resume,
        mut checkpoint,
    } = hooks;
    let mut history = Vec::with_capacity(config.epochs);
    let mut first_epoch = 0;
    if let Some(r) = resume {
        optim = optim.load_record(r.optimizer);
        first_epoch = r.epoch;
        history = r.history;
    }
    let mut averaged = crate::average::ParamSums::default();
    let average_from = config.epochs.saturating_sub(config.average_epochs);
    // (validation LL, epoch, model) of the best validation score so far.
    let mut best: Option<(f64, usize, RuleFit<B, R>)> = None;
    let minibatches = config.minibatch.filter(|&m| m > 0 && m < batch.n_animals());
    if minibatches.is_some() && model.w0.is_some() {
        return Err(Box::new(FitFailure {
            epoch: first_epoch + 1,
            loss: f64::NAN,
            last_good_epoch: first_epoch,
            last_good: model,
            history,
            reason: "minibatches of animals need fixed initial weights (w0 is fitted)".into(),
        }));
    }
    // The latest parameters whose loss was finite (kept when a later one is not).
    let mut last_good = model.clone();
    for epoch in first_epoch..config.epochs {
        let lr = config.learning_rate_at(epoch);
        let non_finite = |value: f64, history: Vec<f64>, last_good: RuleFit<B, R>| {
            Box::new(FitFailure {
                epoch: epoch + 1,
                loss: value,
                last_good_epoch: epoch,
                last_good,
                history,
                reason: format!(
                    "the training loss became non-finite ({value}); try a smaller --lr"
                ),
            })
        };
        let value = match minibatches {
            None => {
                let (value, grads) = loss_and_gradients(&model, batch, w0_fixed, n, config);
                if !value.is_finite() {
                    return Err(non_finite(value, history, last_good));
                }
                // The parameters just scored finite: the last good ones until the next step.
                last_good = model.clone();
                model = optim.step(lr, model, grads);
                value
            }
            Some(size) => {
                let mut total = 0.0;
                for animals in crate::batch::shuffled_chunks(
                    batch.n_animals(),
                    size,
                    config.shuffle_seed,
                    epoch,
                ) {
                    let sub = batch.select(&animals);
                    let w0 = select_rows(w0_fixed, &animals);
                    let n_sub = sub.n_scored().max(1) as f64;
                    let (value, grads) = loss_and_gradients(&model, &sub, &w0, n_sub, config);
                    if !value.is_finite() {
                        return Err(non_finite(value, history, last_good));
                    }
                    last_good = model.clone();
                    total += value * n_sub;
                    model = optim.step(lr, model, grads);
                }
                total / n
            }
        };
        history.push(value);
        if config.average_epochs > 0 && epoch >= average_from {
            averaged.add(&model);
        }
        let due = config.checkpoint_every > 0 && (epoch + 1) % config.checkpoint_every == 0;
        let saved = match checkpoint.as_mut().filter(|_| due) {
            Some(sink) => sink.save(epoch + 1, &model, optim.to_record(), &history),
            None => Ok(()),
        };
        if let Err(message) = saved {
            return Err(Box::new(FitFailure {
                epoch: epoch + 1,
                loss: f64::NAN,
                last_good_epoch: epoch + 1,
                last_good: model,
                history,
                reason: message,
            }));
        }
        let mut validation_ll = None;
        if let Some(v) = validation
            .as_ref()
            .filter(|_| (epoch + 1) % config.validate_every.max(1) == 0)
        {
            let inner = model.valid();
            let w0 = if v.same_animals {
                inner.initial_weights(&v.w0)
            } else {
                v.w0.clone()
            };
            let ll = crate::evaluate(&inner.rule, v.batch, w0).ll_per_trial;
            validation_ll = Some(ll);
            let since_best = best.as_ref().map(|(b, at, _)| (ll > *b, epoch + 1 - at));
            match (since_best, config.patience) {
                (None | Some((true, _)), _) => best = Some((ll, epoch + 1, model.clone())),
                (Some((false, waited)), Some(p)) if waited >= p => {
                    let report = EpochReport {
                        epoch: epoch + 1,
                        epochs: config.epochs,
                        loss: value,
                        learning_rate: lr,
                        validation_ll,
                    };
                    on_epoch(&report, &model);
                    let (ll, at, m) = best.expect("a best model exists once one was scored");
                    return Ok(Fitted {
                        model: m,
                        history,
                        best: Some((at, ll)),
                    });
                }
                _ => {}
            }
        }
        let report = EpochReport {
            epoch: epoch + 1,
            epochs: config.epochs,
            loss: value,
            learning_rate: lr,
            validation_ll,
        };
        if !on_epoch(&report, &model) {
            return Ok(Fitted {
                model,
                history,
                best: None,
            });
        }
    }
    let mut kept = None;
    if averaged.count() > 0 && config.patience.is_none() {
        model = averaged.average(model);
    }
    if let (Some(_), Some((ll, at, m))) = (config.patience, best) {
        // Early stopping keeps the best validated model.
        model = m;
        kept = Some((at, ll));
    }
    if config.lbfgs_iterations > 0 {
        // One iteration per call (so every iteration is reported and guarded), with a
        // line-search budget of its own. The loss is a mean per trial, so its gradients are
        // small (≪ 1e-7 near an optimum) and the directional derivative −|g|² smaller still:
        // burn's defaults (PyTorch's) would take those for convergence and never move.
        let mut lbfgs = LBFGSConfig::new()
            .with_max_iter(1)
            .with_max_eval(Some(25))
            .with_tolerance_grad(0.0)
            .with_tolerance_change(1e-30)
            .with_history_size(20)
            .with_line_search_fn(LineSearchFn::StrongWolfe)
            .init::<B>();
        // The polish refines a finished fit: a line search that strays into a non-finite
        // loss ends it and keeps the latest parameters known to be finite (`step` returns
        // the loss of the parameters it started from).
        let mut good = model.clone();
        for i in 0..config.lbfgs_iterations {
            let start = model;
            let (next, loss) = lbfgs.step(1.0, start.clone(), |m: RuleFit<B, R>| {
                loss_and_gradients(&m, batch, w0_fixed, n, config)
            });
            if !loss.is_finite() {
                model = good.clone();
                break;
            }
            good = start;
            model = next;
            history.push(loss);
            let report = EpochReport {
                epoch: config.epochs + i + 1,
                epochs: config.epochs + config.lbfgs_iterations,
                loss,
                learning_rate: 1.0,
                validation_ll: None,
            };
            if !on_epoch(&report, &model) {
                break;
            }
        }
        if !loss_and_gradients(&model, batch, w0_fixed, n, config)
            .0
            .is_finite()
        {
            model = good;
        }
    }
    Ok(Fitted {
        model,
        history,
        best: kept,
    })
}

/// The loss (negative log-likelihood per scored trial) of `model` and its gradients: by a
/// hand-written pass when the rule has one — its closed form (parametric rules) or a fused
/// kernel (the DNN) — else by burn autodiff through the per-trial graph.
pub fn loss_and_gradients<B, R>(
    model: &RuleFit<B, R>,
    batch: &SequenceBatch<B>,
    w0_fixed: &Tensor<B, 2>,
    n: f64,
    config: &FitConfig,
) -> (f64, GradientsParams)
where
    B: AutodiffBackend,
    R: LearningRule<B> + AutodiffModule<B> + ModuleDisplay,
    R::InnerModule: ModuleDisplay,
{
    let w0 = model.initial_weights(w0_fixed);
    if config.path == GradientPath::Fast {
        if let Some(form) = model.rule.closed_form() {
            let w0_values = denovo_glm::to_f64_vec(w0.clone());
            let g = closed_form_gradient(&form, batch, &w0_values);
            return register_gradients::<B, R>(model, g, batch, n, &w0.device());
        }
        if config.bptt_window.is_none()
            && let Some(ll) = model.rule.fused_log_likelihood(&batch.host, w0.clone())
        {
            let loss = ll.sum().neg().div_scalar(n);
            let value: f64 = loss.clone().into_scalar().elem();
            return (value, GradientsParams::from_grads(loss.backward(), model));
        }
    }
    let loss = truncated_log_likelihood(&model.rule, batch, w0, config.bptt_window)
        .sum()
        .neg()
        .div_scalar(n);
    let value: f64 = loss.clone().into_scalar().elem();
    (value, GradientsParams::from_grads(loss.backward(), model))
}

/// The closed-form pass's result in the fused-kernel form (one gradient per parameter).
fn closed_form_gradient<B: Backend>(
    form: &ClosedForm,
    batch: &SequenceBatch<B>,
    w0: &[f64],
) -> FusedGradient {
    let value = crate::closed_form_value(form, &batch.host, w0, batch.n_features);
    let mut offset = 0;
    let params = form
        .params
        .iter()
        .map(|p| {
            let g = value.d_theta[offset..offset + p.values.len()].to_vec();
            offset += p.values.len();
            (p.id, vec![g.len()], g)
        })
        .collect();
    FusedGradient {
        log_likelihood: value.log_likelihood,
        params,
        d_w0: value.d_w0,
    }
}

/// Turns a hand-computed log-likelihood gradient into the loss (−LL/n) and burn gradients.
fn register_gradients<B, R>(
    model: &RuleFit<B, R>,
    g: FusedGradient,
    batch: &SequenceBatch<B>,
    n: f64,
    device: &B::Device,
) -> (f64, GradientsParams)
where
    B: AutodiffBackend,
    R: AutodiffModule<B>,
{
    let mut grads = GradientsParams::new();
    let scale = |v: &[f64]| v.iter().map(|x| -x / n).collect::<Vec<f64>>();
    for (id, shape, values) in &g.params {
        match shape.as_slice() {
            [a] => grads.register(
                *id,
                float_tensor::<B::InnerBackend, 1>(scale(values), [*a], device),
            ),
            [a, b] => grads.register(
                *id,
                float_tensor::<B::InnerBackend, 2>(scale(values), [*a, *b], device),
            ),
            _ => unreachable!("hand-written gradients are of rank-1 and rank-2 parameters"),
        }
    }
    if let Some(p) = &model.w0 {
        let dims = [batch.n_animals(), batch.n_features];
        grads.register(
            p.id,
            float_tensor::<B::InnerBackend, 2>(scale(&g.d_w0), dims, device),
        );
    }
    (-g.log_likelihood / n, grads)
}

/// Rows `idx` of `[animals, features]` initial weights.
fn select_rows<B: Backend>(w0: &Tensor<B, 2>, idx: &[usize]) -> Tensor<B, 2> {
    let device = w0.device();
    let ids: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    let ids = Tensor::<B, 1, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(ids, [idx.len()]),
        &device,
    );
    w0.clone().select(0, ids)
}

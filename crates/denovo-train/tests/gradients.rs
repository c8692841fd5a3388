//! Autodiff gradients of every rule's log-likelihood against central finite differences
//! (f64), masks, and the non-finite-loss guard.

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, Param};
use burn::tensor::Tensor;
use denovo_data::SubjectDesign;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::{
    LearningRule, Parametric, PredictMax, QLearning, Reinforce, ReinforceBaseline, RewardMax,
    RuleKind, RuleSpec,
};
use denovo_train::{
    FitConfig, GradientPath, RuleFit, SequenceBatch, SubjectWindow, fit, loss_and_gradients,
    sequence_log_likelihood,
};

type B = Autodiff<NdArray<f64>>;
type Inner = NdArray<f64>;
type Grads = <B as burn::tensor::backend::AutodiffBackend>::Gradients;

/// A small cohort with animals of unequal length and varied initial weights.
fn designs(kind: RuleKind) -> Vec<SubjectDesign> {
    let mut spec = RuleSpec::initial(kind, 2, 0.1);
    spec.beta = if kind == RuleKind::ReinforceBaseline {
        vec![0.3, -0.2]
    } else {
        vec![]
    };
    let config = denovo_sim::CohortConfig {
        animals: 3,
        trials: 70,
        session_min: 20,
        session_max: 30,
        w0_sd: vec![0.5, 0.5],
        seed: 11,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&spec, &config).unwrap();
    let mut d = cohort.dataset.design(&Default::default()).unwrap().subjects;
    // Unequal lengths: the second animal stops early, the third earlier still.
    for (s, n) in d.iter_mut().zip([70, 55, 40]) {
        s.x.truncate(n * 2);
        for v in [&mut s.choice, &mut s.reward, &mut s.answer] {
            v.truncate(n);
        }
        s.session_start.truncate(n);
        s.session.truncate(n);
    }
    d
}

fn batch(d: &[SubjectDesign]) -> SequenceBatch<B> {
    let subjects: Vec<&SubjectDesign> = d.iter().collect();
    // Score a sub-range of each animal, as the held-out-session evaluation does.
    let windows = vec![
        SubjectWindow::all(70),
        SubjectWindow::from(10, 55),
        SubjectWindow::until(40),
    ];
    SequenceBatch::new(&subjects, &windows, &Default::default())
}

fn w0() -> Tensor<B, 2> {
    float_tensor(
        vec![0.2, -0.3, -0.1, 0.4, 0.0, 0.1],
        [3, 2],
        &Default::default(),
    )
}

/// Total log-likelihood of the rule built from `spec` with initial weights `w0`.
fn total_ll<R: Parametric<B>>(spec: &RuleSpec, w0: &[f64], batch: &SequenceBatch<B>) -> f64 {
    let dev = Default::default();
    let rule = R::from_spec(spec, &dev);
    let ll = sequence_log_likelihood(&rule, batch, float_tensor(w0.to_vec(), [3, 2], &dev));
    to_f64_vec(ll.sum())[0]
}

fn assert_close(ad: f64, fd: f64, what: &str) {
    let rel = (ad - fd).abs() / fd.abs().max(1e-3);
    assert!(
        rel < 1e-5,
        "{what}: autodiff {ad} vs finite differences {fd} (relative error {rel:e})"
    );
}

/// Checks d LL / d log α_j, d LL / d β_j, d LL / d log τ and d LL / d w0 against central
/// differences of the same parameters.
fn check_rule<R>(kind: RuleKind, grads_of: impl Fn(&R, &Grads) -> Vec<(String, Vec<f64>)>)
where
    R: Parametric<B>,
{
    let d = designs(kind);
    let batch = batch(&d);
    let mut spec = RuleSpec::initial(kind, 2, 0.0);
    spec.alpha = vec![0.15, 0.05];
    if kind == RuleKind::ReinforceBaseline {
        spec.beta = vec![0.4, -0.1];
    }
    if kind == RuleKind::Qlearning {
        spec.inverse_temperature = Some(1.7);
    }
    let dev = Default::default();
    let rule = R::from_spec(&spec, &dev);
    let w0_param = Param::from_tensor(w0());
    let ll = sequence_log_likelihood(&rule, &batch, w0_param.val()).sum();
    let grads = ll.backward();
    let ad = grads_of(&rule, &grads);
    let w0_grad = to_f64_vec(w0_param.grad(&grads).expect("w0 gradient"));
    let w0v = to_f64_vec(w0());
    let h = 1e-5;
    let f = |s: &RuleSpec, w: &[f64]| total_ll::<R>(s, w, &batch);
    for (name, g) in ad {
        for (j, gj) in g.iter().enumerate() {
            let (mut up, mut down) = (spec.clone(), spec.clone());
            match name.as_str() {
                "log_alpha" => {
                    up.alpha[j] = (spec.alpha[j].ln() + h).exp();
                    down.alpha[j] = (spec.alpha[j].ln() - h).exp();
                }
                "beta" => {
                    up.beta[j] += h;
                    down.beta[j] -= h;
                }
                "log_inverse_temperature" => {
                    let t = spec.inverse_temperature.unwrap();
                    up.inverse_temperature = Some((t.ln() + h).exp());
                    down.inverse_temperature = Some((t.ln() - h).exp());
                }
                other => panic!("unknown parameter {other}"),
            }
            let fd = (f(&up, &w0v) - f(&down, &w0v)) / (2.0 * h);
            assert_close(*gj, fd, &format!("{kind:?} {name}[{j}]"));
        }
    }
    for (i, gi) in w0_grad.iter().enumerate() {
        let (mut up, mut down) = (w0v.clone(), w0v.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (f(&spec, &up) - f(&spec, &down)) / (2.0 * h);
        assert_close(*gi, fd, &format!("{kind:?} w0[{i}]"));
    }
}

fn grad(p: &Param<Tensor<B, 1>>, g: &Grads) -> Vec<f64> {
    to_f64_vec::<Inner, 1>(p.grad(g).expect("gradient"))
}

#[test]
fn reinforce_gradient_matches_finite_differences() {
    check_rule::<Reinforce<B>>(RuleKind::Reinforce, |r, g| {
        vec![("log_alpha".into(), grad(&r.log_alpha, g))]
    });
}

#[test]
fn reinforce_baseline_gradient_matches_finite_differences() {
    check_rule::<ReinforceBaseline<B>>(RuleKind::ReinforceBaseline, |r, g| {
        vec![
            ("log_alpha".into(), grad(&r.log_alpha, g)),
            ("beta".into(), grad(&r.beta, g)),
        ]
    });
}

#[test]
fn rewardmax_gradient_matches_finite_differences() {
    check_rule::<RewardMax<B>>(RuleKind::Rewardmax, |r, g| {
        vec![("log_alpha".into(), grad(&r.log_alpha, g))]
    });
}

#[test]
fn predictmax_gradient_matches_finite_differences() {
    check_rule::<PredictMax<B>>(RuleKind::Predictmax, |r, g| {
        vec![("log_alpha".into(), grad(&r.log_alpha, g))]
    });
}

#[test]
fn qlearning_gradient_matches_finite_differences() {
    check_rule::<QLearning<B>>(RuleKind::Qlearning, |r, g| {
        vec![
            ("log_alpha".into(), grad(&r.log_alpha, g)),
            (
                "log_inverse_temperature".into(),
                grad(&r.log_inverse_temperature, g),
            ),
        ]
    });
}

#[test]
fn padding_does_not_change_any_animal_s_likelihood() {
    let d = designs(RuleKind::Reinforce);
    let dev = Default::default();
    let rule = Reinforce::<B>::new(&[0.1, 0.05], &dev);
    let together = to_f64_vec(sequence_log_likelihood(&rule, &batch(&d), w0()));
    let w0v = to_f64_vec(w0());
    let windows = [
        SubjectWindow::all(70),
        SubjectWindow::from(10, 55),
        SubjectWindow::until(40),
    ];
    for (i, (s, w)) in d.iter().zip(windows).enumerate() {
        let alone = SequenceBatch::<B>::new(&[s], &[w], &dev);
        let w0i = float_tensor(w0v[i * 2..i * 2 + 2].to_vec(), [1, 2], &dev);
        let ll = to_f64_vec(sequence_log_likelihood(&rule, &alone, w0i))[0];
        assert!(
            (ll - together[i]).abs() < 1e-9,
            "animal {i}: {ll} alone vs {} in a batch",
            together[i]
        );
    }
}

#[test]
fn qlearning_initial_state_reproduces_w0() {
    let dev = Default::default();
    let rule = QLearning::<B>::new(&[0.1, 0.1], 2.5, &dev);
    let state = rule.initial_state(w0());
    let w = to_f64_vec(rule.policy_weights(&state));
    for (a, b) in w.iter().zip(to_f64_vec(w0())) {
        assert!((a - b).abs() < 1e-12);
    }
}

#[test]
fn non_finite_loss_stops_with_the_last_good_parameters() {
    let d = designs(RuleKind::Reinforce);
    let batch = batch(&d);
    let dev = Default::default();
    let model = RuleFit::fixed_w0(Reinforce::<B>::new(&[0.1, 0.1], &dev));
    // A learning rate so large that α overflows after a step or two.
    let config = FitConfig {
        epochs: 50,
        learning_rate: 800.0,
        clip_norm: None,
        ..FitConfig::default()
    };
    let err = fit(
        model,
        &batch,
        &w0(),
        &config,
        denovo_train::FitHooks::default(),
        &mut |_, _| true,
    )
    .expect_err("must stop");
    assert!(err.epoch >= 2, "epoch {}", err.epoch);
    assert_eq!(err.last_good_epoch, err.epoch - 1);
    assert!(!err.loss.is_finite());
    assert_eq!(err.history.len(), err.epoch - 1);
    let alpha = to_f64_vec(err.last_good.rule.alpha());
    assert!(alpha.iter().all(|a| a.is_finite()), "{alpha:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("epoch {}", err.epoch)), "{msg}");
    // The kept parameters really give a finite loss.
    let ll = to_f64_vec(sequence_log_likelihood(&err.last_good.rule, &batch, w0()).sum())[0];
    assert!(ll.is_finite());
}

/// The closed-form fast path gives the generic path's loss (1e-12) and gradients (f64,
/// relative 1e-7: burn's autodiff differs from exact f64 arithmetic at the 1e-8 level, e.g.
/// 0.03447221949 vs 0.03447221896, while the losses agree to the last digits).
fn check_fast_equals_generic<R>(kind: RuleKind)
where
    R: Parametric<B> + burn::module::AutodiffModule<B> + burn::module::ModuleDisplay,
    R::InnerModule: burn::module::ModuleDisplay,
{
    use burn::module::Module;
    let d = designs(kind);
    let batch = batch(&d);
    let mut spec = RuleSpec::initial(kind, 2, 0.0);
    spec.alpha = vec![0.15, 0.05];
    if kind == RuleKind::ReinforceBaseline {
        spec.beta = vec![0.4, -0.1];
    }
    if kind == RuleKind::Qlearning {
        spec.inverse_temperature = Some(1.7);
    }
    let dev = Default::default();
    let model = RuleFit::fitted_w0(R::from_spec(&spec, &dev), w0());
    assert!(
        model.rule.closed_form().is_some(),
        "{kind:?} has a closed form"
    );
    let n = batch.n_scored() as f64;
    let (fast, mut g_fast) = loss_and_gradients(&model, &batch, &w0(), n, &FitConfig::default());
    let (generic, mut g_generic) = loss_and_gradients(
        &model,
        &batch,
        &w0(),
        n,
        &FitConfig {
            path: GradientPath::Generic,
            ..FitConfig::default()
        },
    );
    assert!(
        (fast - generic).abs() < 1e-12 * generic.abs().max(1.0),
        "{kind:?}: loss {fast} vs {generic}"
    );
    let mut ids = Vec::new();
    model.visit(&mut IdCollector(&mut ids));
    assert!(ids.len() >= 2);
    for (id, dims) in ids {
        let (a, b) = match dims {
            1 => (
                to_f64_vec(g_fast.remove::<Inner, 1>(id).expect("fast gradient")),
                to_f64_vec(g_generic.remove::<Inner, 1>(id).expect("generic gradient")),
            ),
            _ => (
                to_f64_vec(g_fast.remove::<Inner, 2>(id).expect("fast gradient")),
                to_f64_vec(g_generic.remove::<Inner, 2>(id).expect("generic gradient")),
            ),
        };
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-7 * y.abs().max(1e-3),
                "{kind:?}: gradient {a:?} vs {b:?}"
            );
        }
    }
}

/// Collects (id, rank) of every parameter of a module.
struct IdCollector<'a>(&'a mut Vec<(burn::module::ParamId, usize)>);

impl burn::module::ModuleVisitor<B> for IdCollector<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push((param.id, D));
    }
}

#[test]
fn fast_path_equals_generic_path_for_every_closed_form_rule() {
    check_fast_equals_generic::<Reinforce<B>>(RuleKind::Reinforce);
    check_fast_equals_generic::<ReinforceBaseline<B>>(RuleKind::ReinforceBaseline);
    check_fast_equals_generic::<RewardMax<B>>(RuleKind::Rewardmax);
    check_fast_equals_generic::<PredictMax<B>>(RuleKind::Predictmax);
    check_fast_equals_generic::<QLearning<B>>(RuleKind::Qlearning);
}

#[test]
fn truncated_bptt_keeps_the_value_and_cuts_long_range_gradients() {
    let d = designs(RuleKind::Reinforce);
    let batch = batch(&d);
    let dev = Default::default();
    let model = RuleFit::fitted_w0(Reinforce::<B>::new(&[0.15, 0.05], &dev), w0());
    let n = batch.n_scored() as f64;
    let generic = |window: Option<usize>| FitConfig {
        path: GradientPath::Generic,
        bptt_window: window,
        ..FitConfig::default()
    };
    let w0_grad = |window| {
        let (loss, mut g) = loss_and_gradients(&model, &batch, &w0(), n, &generic(window));
        let id = model.w0.as_ref().unwrap().id;
        (loss, to_f64_vec(g.remove::<Inner, 2>(id).unwrap()))
    };
    let (full, g_full) = w0_grad(None);
    let (long, g_long) = w0_grad(Some(1000));
    let (short, g_short) = w0_grad(Some(5));
    assert!(
        (full - long).abs() < 1e-14 && (full - short).abs() < 1e-14,
        "the value does not change"
    );
    assert_eq!(g_full, g_long, "a window longer than the data is full BPTT");
    // w0 influences every later trial; with a 5-trial window only the first 5 reach it.
    assert_ne!(g_full, g_short);
}

#[test]
fn early_stopping_returns_the_best_validated_model() {
    let d = designs(RuleKind::Reinforce);
    let train = SequenceBatch::<B>::new(
        &[&d[0], &d[1]],
        &[SubjectWindow::all(70), SubjectWindow::all(55)],
        &Default::default(),
    );
    let valid =
        SequenceBatch::<Inner>::new(&[&d[2]], &[SubjectWindow::all(40)], &Default::default());
    let dev = Default::default();
    let config = FitConfig {
        epochs: 300,
        learning_rate: 0.3,
        patience: Some(5),
        ..FitConfig::default()
    };
    let w0t = float_tensor::<B, 2>(vec![0.0; 4], [2, 2], &dev);
    let w0v = float_tensor::<Inner, 2>(vec![0.0; 2], [1, 2], &dev);
    let mut seen = Vec::new();
    let fitted = fit(
        RuleFit::fixed_w0(Reinforce::<B>::new(&[0.01, 0.01], &dev)),
        &train,
        &w0t,
        &config,
        denovo_train::FitHooks {
            validation: Some(denovo_train::Validation {
                batch: &valid,
                w0: w0v.clone(),
                same_animals: false,
            }),
            ..Default::default()
        },
        &mut |r, _| {
            seen.push(r.validation_ll.expect("validated every epoch"));
            true
        },
    )
    .unwrap();
    assert!(
        seen.len() < 300,
        "stopped early after {} epochs",
        seen.len()
    );
    let best = seen.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let kept = denovo_train::evaluate(&fitted.model.valid().rule, &valid, w0v).ll_per_trial;
    assert!((kept - best).abs() < 1e-12, "kept {kept} vs best {best}");
}

//! `reinforce-streak` in the trainer: the generic (autodiff) gradient against central
//! finite differences, and the closed-form fast path against the generic path.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::Tensor;
use denovo_data::SubjectDesign;
use denovo_glm::{float_tensor, to_f64_vec};
use denovo_rules::{ReinforceStreak, RuleKind, RuleSpec};
use denovo_train::{
    FitConfig, GradientPath, RuleFit, SequenceBatch, SubjectWindow, loss_and_gradients,
};

type B = Autodiff<NdArray<f64>>;
type Inner = NdArray<f64>;

/// Three animals of the paper's setting learning by the streak rule (K = 3).
fn designs() -> Vec<SubjectDesign> {
    let mut spec = RuleSpec::initial(RuleKind::ReinforceStreak, 2, 0.1);
    spec.alpha = vec![0.1, 0.05];
    let config = denovo_sim::CohortConfig {
        animals: 3,
        trials: 60,
        session_min: 20,
        session_max: 30,
        stimuli: "-2:0.25:2".parse().unwrap(),
        w0_sd: vec![0.5, 0.5],
        seed: 11,
        ..Default::default()
    };
    let cohort = denovo_sim::simulate(&spec, &config).unwrap();
    cohort.dataset.design(&Default::default()).unwrap().subjects
}

fn w0() -> Tensor<B, 2> {
    float_tensor(
        vec![0.2, -0.3, -0.1, 0.4, 0.0, 0.1],
        [3, 2],
        &Default::default(),
    )
}

fn loss(alpha: &[f64], batch: &SequenceBatch<B>, path: GradientPath) -> (f64, Vec<f64>, Vec<f64>) {
    let rule = ReinforceStreak::<B>::new(alpha, 3, &Default::default());
    let id = rule.log_alpha.id;
    let model = RuleFit::fitted_w0(rule, w0());
    let n = batch.n_scored() as f64;
    let config = FitConfig {
        path,
        ..FitConfig::default()
    };
    let (value, mut g) = loss_and_gradients(&model, batch, &w0(), n, &config);
    let w0_id = model.w0.as_ref().unwrap().id;
    let d_alpha = to_f64_vec(g.remove::<Inner, 1>(id).expect("log α gradient"));
    let d_w0 = to_f64_vec(g.remove::<Inner, 2>(w0_id).expect("w0 gradient"));
    (value, d_alpha, d_w0)
}

#[test]
fn streak_gradients_match_finite_differences_and_the_fast_path() {
    let d = designs();
    let subjects: Vec<&SubjectDesign> = d.iter().collect();
    let windows = vec![
        SubjectWindow::all(60),
        SubjectWindow::from(10, 60),
        SubjectWindow::until(40),
    ];
    let batch = SequenceBatch::<B>::new(&subjects, &windows, &Default::default());
    let alpha = [0.15, 0.05];
    let (generic, g_alpha, g_w0) = loss(&alpha, &batch, GradientPath::Generic);
    let (fast, f_alpha, f_w0) = loss(&alpha, &batch, GradientPath::Fast);
    assert!((fast - generic).abs() < 1e-12, "loss {fast} vs {generic}");
    for (a, b) in f_alpha.iter().chain(&f_w0).zip(g_alpha.iter().chain(&g_w0)) {
        assert!((a - b).abs() <= 1e-7 * b.abs().max(1e-3), "{a} vs {b}");
    }
    // d loss / d log α_j by central differences of the generic loss.
    let h = 1e-5;
    for j in 0..2 {
        let (mut up, mut down) = (alpha, alpha);
        up[j] = (alpha[j].ln() + h).exp();
        down[j] = (alpha[j].ln() - h).exp();
        let fd = (loss(&up, &batch, GradientPath::Generic).0
            - loss(&down, &batch, GradientPath::Generic).0)
            / (2.0 * h);
        let rel = (g_alpha[j] - fd).abs() / fd.abs().max(1e-3);
        assert!(rel < 1e-5, "log α[{j}]: autodiff {} vs {fd}", g_alpha[j]);
    }
}

use burn::backend::{Autodiff, NdArray};
use burn::tensor::Tensor;
use denovo_rules::{Reinforce, RuleKind, RuleSpec};
use denovo_train::*;
type B = Autodiff<NdArray<f32>>;
fn main() {
    dt();
    let animals: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(20);
    let trials: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1000);
    let spec = RuleSpec {
        kind: RuleKind::Reinforce,
        alpha: vec![0.0625, 0.015625],
        beta: vec![],
        inverse_temperature: None,
    };
    let cfg = denovo_sim::CohortConfig {
        animals,
        trials,
        ..Default::default()
    };
    let c = denovo_sim::simulate(&spec, &cfg).unwrap();
    let d = c.dataset.design(&Default::default()).unwrap();
    let subs: Vec<_> = d.subjects.iter().collect();
    let wins: Vec<_> = subs
        .iter()
        .map(|s| SubjectWindow::all(s.n_trials()))
        .collect();
    let dev = Default::default();
    let t0 = std::time::Instant::now();
    let batch = SequenceBatch::<B>::new(&subs, &wins, &dev);
    println!("batch {:?}", t0.elapsed());
    let w0 = Tensor::<B, 2>::zeros([animals, 2], &dev);
    let model = RuleFit::fixed_w0(Reinforce::<B>::new(&[0.03, 0.03], &dev));
    let t0 = std::time::Instant::now();
    let cfgf = FitConfig {
        epochs: 5,
        ..Default::default()
    };
    let f = fit(model, &batch, &w0, &cfgf, &mut |r| {
        println!("{:?} {:?}", r, t0.elapsed());
        true
    })
    .unwrap();
    println!(
        "{:?} per epoch; alpha {:?} {:?}",
        t0.elapsed() / 5,
        f.model.rule.alpha().dtype(),
        denovo_glm::to_f64_vec(f.model.rule.alpha())
    );
}
#[allow(dead_code)]
fn dt() {
    let dev = Default::default();
    let t = denovo_glm::float_tensor::<B, 1>(vec![0.1], [1], &dev);
    println!("float_tensor dtype {:?}", t.dtype());
    let r = Reinforce::<B>::new(&[0.03, 0.03], &dev);
    println!(
        "param {:?} alpha {:?}",
        r.log_alpha.val().dtype(),
        r.alpha().dtype()
    );
}

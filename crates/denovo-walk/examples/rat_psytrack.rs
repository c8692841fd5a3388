//! PsyTrack on the real rat: σ by the evidence on sessions 1–64, sessions 65–80 scored one
//! step ahead and with the last weights. `cargo run --release -p denovo-walk --example
//! rat_psytrack [rat_W053.csv]`.

use denovo_data::{DesignOptions, Format, load, shared_data};
use denovo_walk::{
    Gaussian, Hyper, OptimiseOptions, SIGMA_INIT, SIGMA_START, Start, filter, optimise, series,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(Into::into)
        .or_else(|| shared_data("rat_W053.csv"))
        .ok_or("no rat_W053.csv")?;
    let started = std::time::Instant::now();
    let data = load(&path, Format::Auto)?;
    let design = data.design(&DesignOptions::from_names(&["bias", "s1", "s2"])?)?;
    let d = &design.subjects[0];
    let end = d.first_holdout_trial(0.2);
    let train = series(d, 0..end);
    let start = Hyper {
        sigma: vec![SIGMA_START; 3],
        sigma_init: SIGMA_INIT,
        sigma_day: None,
    };
    let fit = optimise(&[train], &start, OptimiseOptions::default())?;
    let map = &fit.maps[0];
    println!(
        "σ {:?} log evidence {:.4} ({} iterations, {} evaluations)",
        fit.hyper.sigma, fit.log_evidence, fit.iterations, fit.evaluations
    );
    let (diag, _) = map.covariance_blocks();
    let k = 3;
    let last = Gaussian {
        mean: map.w[(end - 1) * k..end * k].to_vec(),
        cov: diag[(end - 1) * k * k..end * k * k].to_vec(),
    };
    let test = series(d, end..d.n_trials());
    let pred = filter(&test, &fit.hyper, &Start::After(last.clone()))?;
    let ll: f64 = pred.log_likelihoods(test.y).iter().sum::<f64>() / test.n() as f64;
    let mut lw = 0.0;
    for t in 0..test.n() {
        let z: f64 = (0..k).map(|j| test.x[t * k + j] * last.mean[j]).sum();
        lw += test.y[t] * z - (1.0 + z.exp()).ln();
    }
    println!(
        "held-out {} trials: one-step LL {:.5}, last-weights LL {:.5}; sd at last train trial {:?}; w {:?}",
        test.n(),
        ll,
        lw / test.n() as f64,
        map.posterior_sd()[(end - 1) * k..end * k].to_vec(),
        last.mean
    );
    println!("{:.3} s", started.elapsed().as_secs_f64());
    Ok(())
}

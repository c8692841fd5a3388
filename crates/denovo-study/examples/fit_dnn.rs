//! Fit the DNN learning rule to a behaviour CSV and print its held-out log-likelihood.
//!
//! ```sh
//! cargo run --release -p denovo-study --example fit_dnn -- [DATA.csv] [EPOCHS]
//! ```
//! DATA defaults to the real rat, `../shared/data/rat_W053.csv`; the last 20% of every
//! animal's sessions are held out and predicted by the fitted rule.

use denovo_study::{FitSpec, ModelSpec, fit};

fn main() -> Result<(), denovo_study::StudyError> {
    let mut args = std::env::args().skip(1);
    let data: std::path::PathBuf = match args.next() {
        Some(path) => path.into(),
        None => denovo_data::shared_data("rat_W053.csv").expect("no DATA.csv and no rat"),
    };
    let epochs = args.next().map(|e| e.parse().expect("EPOCHS is a number"));

    let mut spec = FitSpec::new(data, ModelSpec::dnn());
    spec.split.holdout_sessions = 0.2;
    spec.training.epochs = epochs; // None: the default, 300
    spec.seed = 1;
    let result = fit(&spec)?;

    let s = &result.summary;
    println!("chance      {:.4} nats/trial (ln ½)", 0.5f64.ln());
    println!("train LL    {:.4} nats/trial", s.train.ll_per_trial);
    if let Some(held) = &s.heldout_sessions {
        println!(
            "held-out LL {:.4} nats/trial over {} trials ({:.1} s)",
            held.ll_per_trial, held.trials, s.seconds
        );
    }
    Ok(())
}

//! The validation and held-out log-likelihood of a neural fit of one animal, epoch by
//! epoch (issue: neural fits that do not overfit a single animal).
//!
//! `cargo run --release -p denovo-experiments --bin validation_curve -- MODEL EPOCHS SEED
//! VALIDATION_SESSIONS [LR]` on `../shared/data/rat_W053.csv`, the last 20% of sessions
//! held out, without early stopping (patience > epochs) so the whole curve shows.

use denovo_study::{FitOptions, FitSpec, ModelKind, ModelSpec, Progress, fit_with};
use denovo_train::EpochReport;

struct Curve;

impl Progress for Curve {
    fn epoch(&mut self, _: &str, r: &EpochReport, heldout: Option<f64>) {
        if let (Some(v), Some(h)) = (r.validation_ll, heldout) {
            println!(
                "{:5} loss {:.5} validation {:.5} held-out {:.5}",
                r.epoch, r.loss, v, h
            );
        }
    }
    fn wants_heldout(&self) -> bool {
        true
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model: ModelKind = args[0].parse()?;
    let (epochs, seed, val): (usize, u64, f64) =
        (args[1].parse()?, args[2].parse()?, args[3].parse()?);
    let rat = denovo_data::shared_data("rat_W053.csv").ok_or("no rat_W053.csv")?;
    let mut spec = FitSpec::new(rat, ModelSpec::new(model));
    spec.split.holdout_sessions = 0.2;
    spec.split.validation_sessions = Some(val);
    (spec.seed, spec.training.epochs) = (seed, Some(epochs));
    spec.training.early_stop = Some(epochs + 1);
    spec.training.lr = args.get(4).map(|l| l.parse()).transpose()?;
    let mut curve = Curve;
    let options = FitOptions {
        progress: Some(&mut curve),
        ..Default::default()
    };
    let s = fit_with(&spec, options)?.summary;
    println!(
        "kept {:?}; held-out LL {:.5}",
        s.early_stopping,
        s.heldout_sessions.unwrap().ll_per_trial
    );
    Ok(())
}

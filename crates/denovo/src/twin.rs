//! `denovo twin`: virtual animals that learn by a fitted rule under a training protocol.

use crate::run_dir::{ReadBackend, read_run, with_rule};
use anyhow::Context;
use clap::Args;
use denovo_data::Format;
use denovo_sim::{Protocol, ProtocolOutcome};
use plotters::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `denovo twin`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo twin runs/reinforce --protocol datasets/protocols/ibl_training.toml --animals 200
  denovo twin runs/dnn --protocol datasets/protocols/ibl_training.toml \\
              --compare datasets/protocols/easy_first.toml --out twin/
  denovo twin runs/reinforce --protocol p.toml --observed cohort.csv

Virtual animals start from the run's initial weights (the mean fitted w0, else 0), choose
by p(right) = σ(w·x) and learn by the fitted rule, session by session, under the
protocol's contrast stages (protocol TOML: session_trials, sessions_per_day, max_sessions,
easy_contrast, [[stage]] contrasts / advance_accuracy / advance_sessions, [criterion]).
Reported: trials and sessions to the IBL \"trained 1a\" criterion, as implemented: over 3
consecutive sessions pooled, ≥ 80% correct on easy trials (|contrast| ≥ easy_contrast), at
least 4 distinct contrasts shown, and a psychometric fit p(right) = λ + (1 − 2λ)Φ((c − μ)/σ)
(c in % contrast; maximum likelihood on a grid) with |μ| < 16, σ < 19 and λ < 0.2 (one
lapse rate for both sides; IBL fits two). --observed computes the same for real (or
simulated) animals whose data has contrastLeft/contrastRight inputs.")]
pub struct TwinArgs {
    /// The run directory of `denovo fit` (its regressors: stim, bias, prev_*).
    pub run: PathBuf,
    /// The training protocol (TOML; see datasets/protocols/).
    #[arg(long)]
    pub protocol: PathBuf,
    /// A second protocol to simulate side by side.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Number of virtual animals per protocol.
    #[arg(long, default_value_t = 200)]
    pub animals: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Behaviour of real (or simulated) animals to score by the same criterion.
    #[arg(long)]
    pub observed: Option<PathBuf>,
    /// Write the virtual animals' behaviour and the figure (twin.png/svg) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print JSON (schema `denovo.twin/1`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The distribution of trials to criterion of one group of animals.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    /// What the group is.
    pub label: String,
    /// Animals in the group.
    pub animals: usize,
    /// Animals that reached the criterion.
    pub trained: usize,
    /// Trials to criterion of each trained animal, sorted.
    pub trials_to_trained: Vec<usize>,
    /// Sessions to criterion of each trained animal, sorted.
    pub sessions_to_trained: Vec<usize>,
    /// Mean trials to criterion of the trained animals.
    pub mean_trials: f64,
    /// Its standard error.
    pub se_trials: f64,
    /// Median, 25th and 75th percentile of trials to criterion.
    pub quartiles: [f64; 3],
}

fn quantile(sorted: &[usize], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] as f64 + (pos - lo as f64) * (sorted[hi] as f64 - sorted[lo] as f64)
}

/// Summarises (trials, sessions) to criterion per animal (`None` = never).
pub fn distribution(label: &str, outcomes: &[Option<(usize, usize)>]) -> Distribution {
    let mut trials: Vec<usize> = outcomes.iter().flatten().map(|o| o.0).collect();
    let mut sessions: Vec<usize> = outcomes.iter().flatten().map(|o| o.1).collect();
    trials.sort_unstable();
    sessions.sort_unstable();
    let n = trials.len();
    let mean = trials.iter().sum::<usize>() as f64 / n.max(1) as f64;
    let var = trials
        .iter()
        .map(|&t| (t as f64 - mean).powi(2))
        .sum::<f64>()
        / (n.max(2) - 1) as f64;
    Distribution {
        label: label.to_string(),
        animals: outcomes.len(),
        trained: n,
        mean_trials: if n == 0 { f64::NAN } else { mean },
        se_trials: if n < 2 {
            f64::NAN
        } else {
            (var / n as f64).sqrt()
        },
        quartiles: [
            quantile(&trials, 0.5),
            quantile(&trials, 0.25),
            quantile(&trials, 0.75),
        ],
        trials_to_trained: trials,
        sessions_to_trained: sessions,
    }
}

/// Runs `denovo twin`.
pub fn run(args: &TwinArgs) -> anyhow::Result<()> {
    let run = read_run(&args.run)?;
    let w0 = run.mean_w0();
    let mut protocols = vec![Protocol::from_file(&args.protocol)?];
    if let Some(p) = &args.compare {
        protocols.push(Protocol::from_file(p)?);
    }
    let mut groups = Vec::new();
    if let Some(path) = &args.observed {
        let data = denovo_data::load(path, Format::Auto)?;
        if data.input_index("contrastLeft").is_none() || data.input_index("contrastRight").is_none()
        {
            anyhow::bail!(
                "{}: --observed needs contrastLeft and contrastRight inputs",
                path.display()
            );
        }
        let p = &protocols[0];
        let outcomes: Vec<Option<(usize, usize)>> = data
            .subjects
            .iter()
            .map(|s| {
                denovo_sim::trained_at(&data, s, &p.criterion, p.easy_contrast)
                    .map(|(last, trials)| (trials, last + 1))
            })
            .collect();
        groups.push(distribution(
            &format!("observed ({})", path.display()),
            &outcomes,
        ));
    }
    let device = Default::default();
    for (i, p) in protocols.iter().enumerate() {
        let (data, outcomes) =
            with_rule!(&run.rule, r => denovo_sim::simulate_protocol::<ReadBackend, _>(
                r, &run.regressors, &w0, p, args.animals, args.seed + i as u64, &device,
            ))
            .with_context(|| format!("simulating {} under {}", run.model, p.name))?;
        if let Some(out) = &args.out {
            std::fs::create_dir_all(out)?;
            let path = out.join(format!("twin_{}.csv", p.name));
            denovo_data::save(&data, &path, Format::TrialsCsv)?;
        }
        groups.push(distribution(
            &format!("twin {} under {}", run.model, p.name),
            &outcome_pairs(&outcomes),
        ));
    }
    if let Some(out) = &args.out {
        let png = out.join("twin.png");
        draw(
            BitMapBackend::new(&png, (900, 520)).into_drawing_area(),
            &groups,
        )?;
        let svg = out.join("twin.svg");
        draw(
            SVGBackend::new(&svg, (900, 520)).into_drawing_area(),
            &groups,
        )?;
    }
    if args.json {
        let doc = serde_json::json!({
            "schema": "denovo.twin/1",
            "run": args.run.display().to_string(),
            "model": run.model,
            "protocols": protocols,
            "groups": groups,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{:<48} {:>8} {:>10} {:>10} {:>16} {:>10}",
        "group", "trained", "median", "IQR", "mean ± SE", "sessions"
    );
    for g in &groups {
        println!(
            "{:<48} {:>8} {:>10.0} {:>10} {:>16} {:>10}",
            g.label,
            format!("{}/{}", g.trained, g.animals),
            g.quartiles[0],
            format!("{:.0}–{:.0}", g.quartiles[1], g.quartiles[2]),
            format!("{:.0} ± {:.0}", g.mean_trials, g.se_trials),
            format!("{:.0}", quantile(&g.sessions_to_trained, 0.5)),
        );
    }
    println!("(trials and sessions to the trained-1a criterion; median over trained animals)");
    if let Some(out) = &args.out {
        println!("figure and virtual behaviour: {}", out.display());
    }
    Ok(())
}

fn outcome_pairs(outcomes: &[ProtocolOutcome]) -> Vec<Option<(usize, usize)>> {
    outcomes
        .iter()
        .map(|o| o.trials_to_trained.zip(o.sessions_to_trained))
        .collect()
}

/// Empirical CDFs of trials to criterion, one line per group.
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    groups: &[Distribution],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("plotting failed: {e}");
    root.fill(&WHITE).map_err(err)?;
    let max = groups
        .iter()
        .flat_map(|g| g.trials_to_trained.last())
        .max()
        .copied()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Trials to the trained-1a criterion (cumulative fraction of animals)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max * 1.05, 0f64..1f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("trials since the start of training")
        .y_desc("fraction of animals trained")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(BLACK.mix(0.04))
        .draw()
        .map_err(err)?;
    for (i, g) in groups.iter().enumerate() {
        let color = Palette99::pick(i + 1).to_rgba();
        let n = g.animals.max(1) as f64;
        let mut pts = vec![(0.0, 0.0)];
        for (j, &t) in g.trials_to_trained.iter().enumerate() {
            pts.push((t as f64, j as f64 / n));
            pts.push((t as f64, (j + 1) as f64 / n));
        }
        pts.push((max * 1.05, g.trained as f64 / n));
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(err)?
            .label(format!("{} (n = {})", g.label, g.animals))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Simulates a cohort by a known rule under a protocol (`denovo simulate --protocol`);
/// returns the data and the outcomes.
pub fn simulate_under(
    spec: &denovo_rules::RuleSpec,
    protocol: &Path,
    animals: usize,
    seed: u64,
    w0: &[f64],
) -> anyhow::Result<(denovo_data::Dataset, Vec<ProtocolOutcome>)> {
    let p = Protocol::from_file(protocol)?;
    let device = Default::default();
    let rule = crate::run_dir::AnyRule::from_spec(spec.kind, spec, &device);
    let regressors = vec!["stim".to_string(), "bias".to_string()];
    Ok(
        with_rule!(&rule, r => denovo_sim::simulate_protocol::<ReadBackend, _>(
            r, &regressors, w0, &p, animals, seed, &device,
        ))?,
    )
}

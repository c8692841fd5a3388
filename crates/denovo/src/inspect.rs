//! `denovo inspect`.

use anyhow::Context;
use clap::Args;
use denovo_data::{Dataset, DatasetSummary, Format};
use std::path::PathBuf;

/// Arguments of `denovo inspect`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo inspect ../shared/data/rat_W053.csv
  denovo inspect ibl_processed.csv --json > summary.json
  denovo inspect alf_root/ --plot curve.svg

Formats: trials-csv (subject, session, choice, answer [, trial, reward, inputs…]),
ibl-csv (the literature's ibl_processed.csv), ibl-alf (<subject>/<date>/<number>/alf/
_ibl_trials.*.npy). `auto` reads a folder as ALF and tells the CSVs apart by their header.
The --json document is described in docs/cli.md.")]
pub struct InspectArgs {
    /// The behaviour file (CSV) or ALF folder.
    pub data: PathBuf,
    /// The file format.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Print the summary as JSON (stable; see docs/cli.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also draw the learning curve (accuracy per session) to this .png or .svg file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

/// Version of the `inspect --json` document.
pub const INSPECT_SCHEMA: &str = "denovo.inspect/1";

pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let data = denovo_data::load(&args.data, args.format)?;
    let summary = data.summary();
    if args.json {
        let mut doc = serde_json::to_value(&summary)?;
        doc["schema"] = INSPECT_SCHEMA.into();
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", render_text(&summary));
    }
    if let Some(plot) = &args.plot {
        crate::plot::learning_curve(&data, plot)
            .with_context(|| format!("drawing the learning curve to {}", plot.display()))?;
        if !args.json {
            println!("learning curve written to {}", plot.display());
        }
    }
    Ok(())
}

/// Loads and prints a dataset summary (used by the demo).
pub fn print_summary(data: &Dataset) {
    print!("{}", render_text(&data.summary()));
}

/// A terminal sparkline of values in [`lo`, `hi`] (clamped), at most `width` characters
/// (values averaged into bins when there are more).
pub fn sparkline(values: &[f64], lo: f64, hi: f64, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let bins = values.len().min(width);
    (0..bins)
        .map(|b| {
            let start = b * values.len() / bins;
            let end = ((b + 1) * values.len() / bins).max(start + 1);
            let v = values[start..end].iter().sum::<f64>() / (end - start) as f64;
            let scaled = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
            let level = (scaled * (BARS.len() - 1) as f64).round() as usize;
            BARS[level]
        })
        .collect()
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The text report of `inspect`.
pub fn render_text(s: &DatasetSummary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", s.source, s.format.name());
    let _ = writeln!(
        out,
        "  {} subjects · {} sessions · {} trials · {} dropped · accuracy {:.4}",
        s.subjects,
        thousands(s.sessions),
        thousands(s.trials),
        thousands(s.dropped_trials),
        s.accuracy
    );
    if !s.inputs.is_empty() {
        let _ = writeln!(out, "  inputs: {}", s.inputs.join(", "));
    }
    if !s.ignored_columns.is_empty() {
        let _ = writeln!(
            out,
            "  ignored non-numeric columns: {}",
            s.ignored_columns.join(", ")
        );
    }
    let name_width = s
        .per_subject
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
        "  {:<name_width$} {:>8} {:>8} {:>7} {:>6} {:>6}  accuracy per session (≤0.5 ▁ … █ 1)",
        "subject", "sessions", "trials", "dropped", "first", "last"
    );
    for p in &s.per_subject {
        let first = p.session_accuracy.first().copied().unwrap_or(f64::NAN);
        let last = p.session_accuracy.last().copied().unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "  {:<name_width$} {:>8} {:>8} {:>7} {:>6.3} {:>6.3}  {}",
            p.name,
            p.sessions,
            p.trials,
            p.dropped_trials,
            first,
            last,
            sparkline(&p.session_accuracy, 0.5, 1.0, 60)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_maps_extremes_and_bins() {
        assert_eq!(sparkline(&[0.0, 1.0], 0.0, 1.0, 10), "▁█");
        assert_eq!(sparkline(&[0.0, 0.0, 1.0, 1.0], 0.0, 1.0, 2), "▁█");
        assert_eq!(sparkline(&[0.3, 0.75, 1.0], 0.5, 1.0, 3), "▁▅█");
        assert_eq!(sparkline(&[], 0.0, 1.0, 5), "");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(20000), "20,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

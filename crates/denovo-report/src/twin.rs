//! The digital twins' figure: trials to the trained criterion, one empirical CDF per group.

use crate::ReportError;
use crate::panels::plot_err;
use denovo_study::Distribution;
use plotters::prelude::*;
use std::path::Path;

/// Draws the distributions of trials to the trained-1a criterion of `groups` (twins under
/// a protocol, observed animals) to `out_dir/twin.png` and `out_dir/twin.svg`, 900 × 520
/// pixels: one empirical CDF per group — the fraction of the group's animals trained (y,
/// 0–1; animals that never reached the criterion keep it below 1) against trials since the
/// start of training (x) — labelled `<label> (n = <animals>)`.
///
/// `out_dir` must exist. Errors: [`ReportError::Plot`] naming the file that could not be
/// drawn or written.
pub fn twin_figure(groups: &[Distribution], out_dir: &Path) -> Result<(), ReportError> {
    let png = out_dir.join("twin.png");
    draw(
        BitMapBackend::new(&png, (900, 520)).into_drawing_area(),
        groups,
    )
    .map_err(|e| ReportError::plot(&png, e))?;
    let svg = out_dir.join("twin.svg");
    draw(
        SVGBackend::new(&svg, (900, 520)).into_drawing_area(),
        groups,
    )
    .map_err(|e| ReportError::plot(&svg, e))
}

/// Empirical CDFs of trials to criterion, one line per group.
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    groups: &[Distribution],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(plot_err)?;
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
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("trials since the start of training")
        .y_desc("fraction of animals trained")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(BLACK.mix(0.04))
        .draw()
        .map_err(plot_err)?;
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
            .map_err(plot_err)?
            .label(format!("{} (n = {})", g.label, g.animals))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

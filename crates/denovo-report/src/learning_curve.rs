//! The learning curve of a data set: fraction correct per session of every subject.

use crate::ReportError;
use crate::panels::plot_err;
use denovo_data::Dataset;
use plotters::prelude::*;
use std::path::Path;

/// Draws the learning curve of `data` to `path`, a PNG or SVG file of 900 × 560 pixels
/// (the format from the extension): the fraction of correct choices per session (y, 0–1)
/// against the session number in training order (x), one thin line per subject (labelled
/// up to 10 subjects), their mean per session as a thick black line, and chance (0.5).
///
/// Errors: [`ReportError::Extension`] when `path` ends in neither `.png` nor `.svg`;
/// [`ReportError::Plot`] naming `path` when it cannot be drawn or written (e.g. its folder
/// does not exist).
pub fn learning_curve(data: &Dataset, path: &Path) -> Result<(), ReportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "png" => draw(
            data,
            BitMapBackend::new(path, (900, 560)).into_drawing_area(),
        ),
        "svg" => draw(data, SVGBackend::new(path, (900, 560)).into_drawing_area()),
        _ => {
            return Err(ReportError::Extension {
                path: path.to_path_buf(),
            });
        }
    }
    .map_err(|e| ReportError::plot(path, e))
}

fn draw<DB: DrawingBackend>(
    data: &Dataset,
    root: DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let curves: Vec<Vec<f64>> = data
        .subjects
        .iter()
        .map(|s| s.sessions.iter().map(|x| x.accuracy()).collect())
        .collect();
    let max_sessions = curves.iter().map(Vec::len).max().unwrap_or(1).max(2);
    root.fill(&WHITE).map_err(plot_err)?;
    let title = format!(
        "Learning curve: {} ({} subject{})",
        data.source
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_else(|| "data".into()),
        data.subjects.len(),
        if data.subjects.len() == 1 { "" } else { "s" }
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(1i64..max_sessions as i64, 0f64..1f64)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("session (training order)")
        .x_labels(max_sessions.min(16))
        .light_line_style(BLACK.mix(0.04))
        .y_desc("fraction correct")
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series(LineSeries::new(
            [(1, 0.5), (max_sessions as i64, 0.5)],
            BLACK.mix(0.45),
        ))
        .map_err(plot_err)?
        .label("chance")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK.mix(0.45)));
    let many = curves.len() > 10;
    for (i, curve) in curves.iter().enumerate() {
        let color = Palette99::pick(i + 1).mix(if many { 0.35 } else { 0.9 });
        let series = chart
            .draw_series(LineSeries::new(
                curve.iter().enumerate().map(|(k, &a)| ((k + 1) as i64, a)),
                color.stroke_width(1),
            ))
            .map_err(plot_err)?;
        if !many {
            series
                .label(data.subjects[i].name.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
    }
    if curves.len() > 1 {
        let mean: Vec<(i64, f64)> = (0..max_sessions)
            .filter_map(|k| {
                let vals: Vec<f64> = curves.iter().filter_map(|c| c.get(k).copied()).collect();
                (!vals.is_empty())
                    .then(|| ((k + 1) as i64, vals.iter().sum::<f64>() / vals.len() as f64))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(mean, BLACK.stroke_width(3)))
            .map_err(plot_err)?
            .label("mean over subjects")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(plot_err)?;
    root.present()
        .map_err(|e| format!("writing the figure: {}", plot_err(e)))?;
    Ok(())
}

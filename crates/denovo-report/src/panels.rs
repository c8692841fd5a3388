//! Figures of several panels on a grid, drawn the same way to PNG and SVG: the layout
//! every figure of the report shares.

use plotters::coord::Shift;
use plotters::prelude::*;

/// A plotters drawing error as the text of a [`ReportError::Plot`](crate::ReportError).
pub(crate) fn plot_err<E: std::error::Error + Send + Sync + 'static>(
    e: DrawingAreaErrorKind<E>,
) -> String {
    format!("plotting failed: {e}")
}

/// A chart's worth of curves: (label, colour index, dashed, points).
pub(crate) type Curves = Vec<(String, usize, bool, Vec<(f64, f64)>)>;

/// Shaded ranges: (colour index, [(x, low, high)]).
pub(crate) type Ranges = Vec<(usize, Vec<(f64, f64, f64)>)>;

/// One panel: title, x/y labels, curves, optional vertical markers and shaded x-range.
pub(crate) struct Panel {
    pub(crate) title: String,
    pub(crate) x_desc: String,
    pub(crate) y_desc: String,
    pub(crate) curves: Curves,
    pub(crate) markers: Vec<f64>,
    pub(crate) shaded: Option<(f64, f64)>,
    /// Draw points (circles) instead of lines for curves whose label starts with this.
    pub(crate) dots_for: Option<String>,
    /// Draw curves whose label starts with this as wide translucent bands (a truth drawn
    /// beneath the fits), solid or dashed as the curve says.
    pub(crate) bands_for: Option<String>,
    /// Put the legend in a strip under the panels even when it is short (a legend box
    /// inside a panel hides the curves beneath it).
    pub(crate) legend_below: bool,
    /// How x tick labels read.
    pub(crate) x_ticks: XTicks,
    /// Shaded ranges beneath the curves, (colour index, [(x, low, high)]): an ensemble's
    /// 95% band around a fitted curve.
    pub(crate) ranges: Ranges,
    /// Points drawn as hollow grey circles over the curves: read-outs in cells the data
    /// never visit.
    pub(crate) unvisited: Vec<(f64, f64)>,
}

/// X tick labels.
pub(crate) enum XTicks {
    /// Numbers as plotters formats them.
    Auto,
    /// Whole numbers (sessions, trials).
    Integer,
    /// Names at x = 1, 2, … (runs); nothing between.
    Names(Vec<String>),
}

impl XTicks {
    fn label(&self, x: f64) -> String {
        match self {
            XTicks::Auto => format!("{x}"),
            XTicks::Integer => format!("{x:.0}"),
            XTicks::Names(names) => {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 1.0 && (i as usize) <= names.len() {
                    names[i as usize - 1].clone()
                } else {
                    String::new()
                }
            }
        }
    }
}

fn bounds(panel: &Panel) -> ((f64, f64), (f64, f64)) {
    let ranges = panel
        .ranges
        .iter()
        .flat_map(|r| r.1.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]));
    let ranges: Vec<(f64, f64)> = ranges.collect();
    let pts = panel.curves.iter().flat_map(|c| c.3.iter()).chain(&ranges);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let pad = |a: f64, b: f64| {
        let span = (b - a).abs().max(1e-9);
        (a - 0.05 * span, b + 0.05 * span)
    };
    (pad(x0, x1), pad(y0, y1))
}

/// Draws `panels` on a grid with `cols` columns under `title`.
pub(crate) fn draw_panels<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
    cols: usize,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(plot_err)?;
    let root = root.titled(title, ("sans-serif", 24)).map_err(plot_err)?;
    // Many curves: one legend strip under the panels instead of a box inside each.
    let mut entries: Vec<(&str, usize, bool, bool)> = Vec::new();
    for panel in panels {
        for (label, color, dashed, _) in &panel.curves {
            if !label.is_empty() && !entries.iter().any(|e| e.0 == label) {
                entries.push((label, *color, *dashed, is_band(panel, label)));
            }
        }
    }
    // Bands (a truth) add entries: always in the strip, so that no legend box hides them.
    let shared =
        entries.len() > 4 || entries.iter().any(|e| e.3) || panels.iter().any(|p| p.legend_below);
    let root = if shared {
        let (w, h) = root.dim_in_pixel();
        let per_row = (w as usize / 330).max(1);
        let strip = 12 + 22 * entries.len().div_ceil(per_row) as u32;
        let (top, bottom) = root.split_vertically(h.saturating_sub(strip));
        for (i, (label, color, dashed, band)) in entries.iter().enumerate() {
            let c = colour(*color);
            let x = 20 + 330 * (i % per_row) as i32;
            let y = 12 + 22 * (i / per_row) as i32;
            let style = if *band {
                band_style(c)
            } else {
                c.stroke_width(3)
            };
            // Dashed: two dashes, so that the sample reads as dashed.
            let segments: &[(i32, i32)] = if *dashed {
                &[(0, 10), (16, 26)]
            } else {
                &[(0, 26)]
            };
            for &(a, b) in segments {
                bottom
                    .draw(&PathElement::new([(x + a, y), (x + b, y)], style))
                    .map_err(plot_err)?;
            }
            bottom
                .draw(&Text::new(
                    label.to_string(),
                    (x + 34, y - 7),
                    ("sans-serif", 13),
                ))
                .map_err(plot_err)?;
        }
        top
    } else {
        root
    };
    let rows = panels.len().div_ceil(cols).max(1);
    let areas = root.split_evenly((rows, cols));
    for (panel, area) in panels.iter().zip(areas) {
        let ((x0, x1), (y0, y1)) = bounds(panel);
        let mut chart = ChartBuilder::on(&area)
            .caption(&panel.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        let x_label = |x: &f64| panel.x_ticks.label(*x);
        let x_labels = match &panel.x_ticks {
            XTicks::Names(n) => 2 * n.len() + 1,
            _ => 6,
        };
        chart
            .configure_mesh()
            .x_desc(panel.x_desc.as_str())
            .y_desc(panel.y_desc.as_str())
            .x_label_formatter(&x_label)
            .x_labels(x_labels)
            .y_labels(6)
            .light_line_style(BLACK.mix(0.04))
            .draw()
            .map_err(plot_err)?;
        if let Some((a, b)) = panel.shaded {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, y0), (b, y1)],
                    BLACK.mix(0.07).filled(),
                )))
                .map_err(plot_err)?
                .label("held out")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], BLACK.mix(0.15).filled())
                });
        }
        for &m in &panel.markers {
            chart
                .draw_series(LineSeries::new([(m, y0), (m, y1)], BLACK.mix(0.2)))
                .map_err(plot_err)?;
        }
        for (color, range) in &panel.ranges {
            let outline: Vec<(f64, f64)> = (range.iter().map(|&(x, lo, _)| (x, lo)))
                .chain(range.iter().rev().map(|&(x, _, hi)| (x, hi)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    colour(*color).mix(0.18).filled(),
                )))
                .map_err(plot_err)?;
        }
        for (label, color, dashed, points) in &panel.curves {
            let c = colour(*color);
            let band = is_band(panel, label);
            let style = if band {
                band_style(c)
            } else {
                c.stroke_width(2)
            };
            let dots = panel
                .dots_for
                .as_ref()
                .is_some_and(|p| label.starts_with(p.as_str()));
            let series = if dots {
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(plot_err)?
            } else if *dashed && band {
                chart
                    .draw_series(DashedLineSeries::new(points.iter().copied(), 12, 8, style))
                    .map_err(plot_err)?
            } else if *dashed {
                chart
                    .draw_series(DashedLineSeries::new(points.iter().copied(), 6, 4, style))
                    .map_err(plot_err)?
            } else {
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), style))
                    .map_err(plot_err)?
            };
            if !label.is_empty() && !shared {
                let d = *dashed;
                series.label(label.clone()).legend(
                    move |(x, y)| -> DynElement<'static, DB, (i32, i32)> {
                        if dots {
                            Circle::new((x + 9, y), 3, c.filled()).into_dyn()
                        } else if band {
                            let end = if d { x + 10 } else { x + 18 };
                            PathElement::new([(x, y), (end, y)], style).into_dyn()
                        } else if d {
                            // A short dash.
                            PathElement::new([(x + 4, y), (x + 12, y)], c.stroke_width(2))
                                .into_dyn()
                        } else {
                            PathElement::new([(x, y), (x + 18, y)], c.stroke_width(2)).into_dyn()
                        }
                    },
                );
            }
        }
        chart
            .draw_series(
                (panel.unvisited.iter())
                    .map(|&p| Circle::new(p, 4, RGBColor(150, 150, 150).stroke_width(2))),
            )
            .map_err(plot_err)?;
        if !shared && panel.curves.iter().any(|c| !c.0.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(plot_err)?;
        }
    }
    root.present().map_err(plot_err)?;
    Ok(())
}

/// The colour index of a curve the data do not determine (`denovo check`'s verdict "not
/// identified"): light grey.
pub(crate) const GREY: usize = usize::MAX;

/// Colour index 0 is black, [`GREY`] light grey, the others Palette99's.
fn colour(index: usize) -> RGBAColor {
    match index {
        0 => BLACK.to_rgba(),
        GREY => RGBColor(170, 170, 170).to_rgba(),
        _ => Palette99::pick(index).to_rgba(),
    }
}

/// Whether `label` is drawn as a band in `panel` (see [`Panel::bands_for`]).
fn is_band(panel: &Panel, label: &str) -> bool {
    (panel.bands_for.as_ref()).is_some_and(|p| !label.is_empty() && label.starts_with(p.as_str()))
}

/// A band: the colour darkened, translucent and wide, for a reference drawn beneath other
/// curves (darkened so that a pale colour's band still shows on white).
fn band_style(c: RGBAColor) -> ShapeStyle {
    let dark = |v: u8| (f64::from(v) * 0.7) as u8;
    RGBColor(dark(c.0), dark(c.1), dark(c.2))
        .mix(0.35)
        .stroke_width(7)
}

/// Canvas size (pixels) and columns of a grid of `panels` panels.
pub(crate) fn grid_size(panels: usize) -> ((u32, u32), usize) {
    let cols = panels.clamp(1, 3);
    let rows = panels.div_ceil(cols) as u32;
    ((420 * cols as u32, 60 + 320 * rows), cols)
}

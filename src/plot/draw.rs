//! Drawing a [`Chart`] on any plotters backend: one function per kind of marks, sharing the
//! frame (white background, title, axes with their labels, a legend where there is more than
//! one kind of mark).

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Chart, Marks, Point, Series};
use crate::error::{Error, Result};

/// The series colours (Okabe and Ito's colour-blind-safe palette, 2008).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
];
/// Points off the Pareto front, and on it.
pub const OFF_FRONT: RGBColor = RGBColor(0, 114, 178);
pub const ON_FRONT: RGBColor = RGBColor(213, 94, 0);
/// Pixel height of a line of point labels.
const LABEL_HEIGHT: i32 = 14;
/// Bars above and below zero.
const GAIN: RGBColor = RGBColor(0, 158, 115);
const LOSS: RGBColor = RGBColor(213, 94, 0);

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Plot {
        message: e.to_string(),
    }
}

/// Draws `chart` on `backend`; for a scatter chart, returns each point's pixel position.
pub fn draw<DB: DrawingBackend>(chart: &Chart, backend: DB) -> Result<Vec<(i32, i32)>> {
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let at = match &chart.marks {
        Marks::Scatter(points) => scatter(chart, &root, points)?,
        Marks::Bars(bars) => {
            self::bars(chart, &root, bars)?;
            Vec::new()
        }
        Marks::Lines(series) => {
            lines(chart, &root, series)?;
            Vec::new()
        }
        Marks::Heatmap {
            columns,
            rows,
            values,
        } => {
            heatmap(chart, &root, columns, rows, values)?;
            Vec::new()
        }
        Marks::Histogram { edges, series } => {
            histogram(chart, &root, edges, series)?;
            Vec::new()
        }
    };
    root.present().map_err(plot_error)?;
    Ok(at)
}

/// `[lo, hi]` of `values`, widened by 5% on each side (and to a unit range when flat).
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        0.5f64.max(lo.abs() * 0.05)
    };
    (lo - pad, hi + pad)
}

/// The legend of a chart's labelled series, boxed on a light background.
fn legend<'a, DB: DrawingBackend + 'a>(
    c: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Result<()> {
    c.configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

/// Width of the y label area for numeric ticks.
const NUMBER_LABELS: u32 = 64;

/// The frame every chart shares: caption, margin and label areas (`y_labels` wide).
fn builder<'a, 'b, DB: DrawingBackend>(
    chart: &Chart,
    root: &'a DrawingArea<DB, Shift>,
    y_labels: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.caption(&chart.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(y_labels);
    b
}

/// Whether the x values of a scatter chart are drawn on a log scale: all positive and
/// spanning at least two decades (latencies of BM25 and of an encoder, say).
fn log_x(points: &[Point]) -> bool {
    let (lo, hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
        (a.min(p.x), b.max(p.x))
    });
    lo > 0.0 && hi / lo >= 100.0
}

/// A tick label of a log-scale axis drawn at `log10(value)`: the value to three significant
/// digits, without trailing zeros.
fn power_label(v: &f64) -> String {
    let x = 10f64.powf(*v);
    let decimals = (2 - x.log10().floor() as i32).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn scatter<DB: DrawingBackend>(
    chart: &Chart,
    root: &DrawingArea<DB, Shift>,
    points: &[Point],
) -> Result<Vec<(i32, i32)>> {
    // On a log scale, points are drawn at log10(x) and the ticks say the value.
    let log = log_x(points);
    let points: Vec<Point> = points
        .iter()
        .map(|p| Point {
            x: if log { p.x.log10() } else { p.x },
            ..p.clone()
        })
        .collect();
    let points = &points[..];
    let (x0, x1) = span(points.iter().map(|p| p.x));
    let (y0, y1) = span(points.iter().map(|p| p.y));
    // Room on the right for the front's labels, and a band at the top for the legend.
    let x1 = x1 + (x1 - x0) * 0.5;
    let y1 = y1 + (y1 - y0) * 0.22;
    let mut c = builder(chart, root, NUMBER_LABELS)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_error)?;
    let x_desc = if log {
        format!("{} (log scale)", chart.x_label)
    } else {
        chart.x_label.clone()
    };
    let mut mesh = c.configure_mesh();
    mesh.x_desc(x_desc)
        .y_desc(&chart.y_label)
        .light_line_style(WHITE.mix(0.0));
    if log {
        mesh.x_label_formatter(&power_label);
    }
    mesh.draw().map_err(plot_error)?;
    let mut front: Vec<&Point> = points.iter().filter(|p| p.front).collect();
    front.sort_by(|a, b| a.x.total_cmp(&b.x));
    c.draw_series(LineSeries::new(
        front.iter().map(|p| (p.x, p.y)),
        ON_FRONT.stroke_width(2),
    ))
    .map_err(plot_error)?;
    c.draw_series(
        points
            .iter()
            .filter(|p| !p.front)
            .map(|p| Circle::new((p.x, p.y), 5, OFF_FRONT.filled())),
    )
    .map_err(plot_error)?
    .label("configuration")
    .legend(|(x, y)| Circle::new((x, y), 5, OFF_FRONT.filled()));
    c.draw_series(
        front
            .iter()
            .map(|p| Circle::new((p.x, p.y), 6, ON_FRONT.filled())),
    )
    .map_err(plot_error)?
    .label("Pareto front")
    .legend(|(x, y)| Circle::new((x, y), 6, ON_FRONT.filled()));
    label_front(&c, root, &front)?;
    // In the band above every point.
    legend(&mut c, SeriesLabelPosition::UpperLeft)?;
    Ok(points
        .iter()
        .map(|p| c.backend_coord(&(p.x, p.y)))
        .collect())
}

/// The front's labels, right of their point, each moved down below any label it would
/// overlap.
fn label_front<'a, DB: DrawingBackend + 'a>(
    c: &ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    root: &DrawingArea<DB, Shift>,
    front: &[&Point],
) -> Result<()> {
    let label_style = ("sans-serif", 12).into_font().color(&BLACK);
    let mut placed: Vec<(i32, i32, i32)> = Vec::new(); // left, right, top
    for p in front {
        let (px, py) = c.backend_coord(&(p.x, p.y));
        let (w, _) = root
            .estimate_text_size(&p.label, &label_style)
            .map_err(plot_error)?;
        let (left, right) = (px + 9, px + 9 + w as i32);
        let mut top = py - 12;
        while placed
            .iter()
            .any(|&(l, r, t)| left < r && l < right && (top - t).abs() < LABEL_HEIGHT)
        {
            top += LABEL_HEIGHT;
        }
        placed.push((left, right, top));
        root.draw(&Text::new(
            p.label.clone(),
            (left, top),
            label_style.clone(),
        ))
        .map_err(plot_error)?;
    }
    Ok(())
}

fn bars<DB: DrawingBackend>(
    chart: &Chart,
    root: &DrawingArea<DB, Shift>,
    bars: &[(String, f64)],
) -> Result<()> {
    let (y0, y1) = span(bars.iter().map(|b| b.1).chain([0.0]));
    let n = bars.len().max(1) as f64;
    let mut c = builder(chart, root, NUMBER_LABELS)
        .build_cartesian_2d(0.0..n, y0..y1)
        .map_err(plot_error)?;
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .disable_x_mesh()
        .x_labels(0)
        .draw()
        .map_err(plot_error)?;
    let wins = bars.iter().filter(|b| b.1 > 0.0).count();
    let losses = bars.iter().filter(|b| b.1 < 0.0).count();
    let bar = |i: usize, v: f64, color: RGBColor| {
        Rectangle::new([(i as f64 + 0.1, 0.0), (i as f64 + 0.9, v)], color.filled())
    };
    c.draw_series(
        bars.iter()
            .enumerate()
            .filter(|(_, b)| b.1 > 0.0)
            .map(|(i, b)| bar(i, b.1, GAIN)),
    )
    .map_err(plot_error)?
    .label(format!("wins ({wins})"))
    .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], GAIN.filled()));
    c.draw_series(
        bars.iter()
            .enumerate()
            .filter(|(_, b)| b.1 < 0.0)
            .map(|(i, b)| bar(i, b.1, LOSS)),
    )
    .map_err(plot_error)?
    .label(format!("losses ({losses})"))
    .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], LOSS.filled()));
    c.draw_series(LineSeries::new([(0.0, 0.0), (n, 0.0)], BLACK))
        .map_err(plot_error)?;
    legend(&mut c, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

fn lines<DB: DrawingBackend>(
    chart: &Chart,
    root: &DrawingArea<DB, Shift>,
    series: &[Series],
) -> Result<()> {
    let all = || series.iter().flat_map(|s| s.values.iter());
    let (x0, x1) = span(all().map(|v| v.0));
    let (y0, y1) = span(all().map(|v| v.1));
    let mut c = builder(chart, root, NUMBER_LABELS)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_error)?;
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .draw()
        .map_err(plot_error)?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        c.draw_series(LineSeries::new(
            s.values.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(plot_error)?
        .label(s.name.clone())
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        c.draw_series(s.values.iter().map(|&v| Circle::new(v, 3, color.filled())))
            .map_err(plot_error)?;
    }
    legend(&mut c, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// A colour for `t` in [0, 1]: from pale yellow to dark blue.
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(mix(255, 8), mix(247, 48), mix(188, 107))
}

fn heatmap<DB: DrawingBackend>(
    chart: &Chart,
    root: &DrawingArea<DB, Shift>,
    columns: &[String],
    rows: &[String],
    values: &[Vec<Option<f64>>],
) -> Result<()> {
    let (lo, hi) = values
        .iter()
        .flatten()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (nx, ny) = (columns.len() as f64, rows.len() as f64);
    let mut c = builder(chart, root, 160)
        .build_cartesian_2d(0.0..nx, 0.0..ny)
        .map_err(plot_error)?;
    let col_label = |x: &f64| columns.get(x.floor() as usize).cloned().unwrap_or_default();
    let row_label = |y: &f64| rows.get(y.floor() as usize).cloned().unwrap_or_default();
    c.configure_mesh()
        .disable_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(columns.len() * 2 + 1)
        .y_labels(rows.len() * 2 + 1)
        .x_label_formatter(&|x| {
            if x.fract() == 0.5 {
                col_label(x)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| {
            if y.fract() == 0.5 {
                row_label(y)
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(plot_error)?;
    let range = if hi > lo { hi - lo } else { 1.0 };
    for (r, row) in values.iter().enumerate() {
        for (col, v) in row.iter().enumerate() {
            let (x, y) = (col as f64, r as f64);
            let color = v.map_or(RGBColor(230, 230, 230), |v| shade((v - lo) / range));
            c.draw_series([Rectangle::new([(x, y), (x + 1.0, y + 1.0)], color.filled())])
                .map_err(plot_error)?;
            let text = v.map_or("none".to_owned(), |v| format!("{v:.3}"));
            let ink = if v.is_some_and(|v| (v - lo) / range > 0.55) {
                WHITE
            } else {
                BLACK
            };
            let style = ("sans-serif", 14).into_font().color(&ink).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ),
            );
            c.draw_series([Text::new(text, (x + 0.5, y + 0.5), style)])
                .map_err(plot_error)?;
        }
    }
    Ok(())
}

fn histogram<DB: DrawingBackend>(
    chart: &Chart,
    root: &DrawingArea<DB, Shift>,
    edges: &[f64],
    series: &[Series],
) -> Result<()> {
    let (x0, x1) = (
        edges.first().copied().unwrap_or(0.0),
        edges.last().copied().unwrap_or(1.0),
    );
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().map(|v| v.1))
        .fold(0.0f64, f64::max);
    let mut c = builder(chart, root, NUMBER_LABELS)
        .build_cartesian_2d(x0..x1.max(x0 + 1e-9), 0.0..(top * 1.1).max(1e-9))
        .map_err(plot_error)?;
    c.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .draw()
        .map_err(plot_error)?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        c.draw_series(s.values.iter().enumerate().map(|(b, &(_, share))| {
            Rectangle::new(
                [(edges[b], 0.0), (edges[b + 1], share)],
                color.mix(0.45).filled(),
            )
        }))
        .map_err(plot_error)?
        .label(s.name.clone())
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.mix(0.45).filled())
        });
    }
    legend(&mut c, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

//! The sweep's figures, each as PNG and SVG (plotters): accuracy bars beside the paper's values
//! (Fig. 2, Fig. 4a), accuracy against a level (Fig. 3a/3b, Fig. 5), learning curves with a
//! ± std band, and per-layer histograms of a relaxed model's learned z (Fig. 4b).

use anyhow::Context;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// DejaVu Sans, vendored so that no system font library is needed (assets/fonts).
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            tracing::warn!("the vendored font did not load: figures will have no text");
        }
    });
}

const SIZE: (u32, u32) = (900, 560);

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    COLORS[i % COLORS.len()]
}

/// Runs `$body` (which draws on `$root`) once for `stem.png` and once for `stem.svg`, and
/// evaluates to both paths: plotters' backends are different types, so the body is expanded for
/// each.
macro_rules! render {
    ($stem:expr, |$root:ident| $body:block) => {{
        let stem: &Path = $stem;
        register_font();
        if let Some(dir) = stem.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        // plotters writes to the path itself: the same rule as every other write.
        for path in [&png, &svg] {
            neuropos_models::checkpoint::check_replaceable(path)?;
        }
        {
            let $root = BitMapBackend::new(&png, SIZE).into_drawing_area();
            $root.fill(&WHITE)?;
            let drawn: anyhow::Result<()> = (|| $body)();
            drawn?;
            $root
                .present()
                .with_context(|| format!("writing {}", png.display()))?;
        }
        {
            let $root = SVGBackend::new(&svg, SIZE).into_drawing_area();
            $root.fill(&WHITE)?;
            let drawn: anyhow::Result<()> = (|| $body)();
            drawn?;
            $root
                .present()
                .with_context(|| format!("writing {}", svg.display()))?;
        }
        Ok(vec![png, svg])
    }};
}

/// A bar: our mean ± std over seeds, and the paper's where it gives one.
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub std: f64,
    pub paper: Option<(f64, f64)>,
}

/// Accuracy bars with error bars; the paper's values as black dots with theirs. The key goes
/// under the axis: in the title it pushed long spec titles past the image's edges.
pub fn bars(stem: &Path, title: &str, bars: &[Bar]) -> anyhow::Result<Vec<PathBuf>> {
    let low = bars
        .iter()
        .flat_map(|b| [b.mean - b.std, b.paper.map_or(1.0, |p| p.0 - p.1)])
        .fold(1.0f64, f64::min);
    let y0 = ((low - 0.02) * 50.0).floor() / 50.0;
    // The labels shrink to fit their slot: Fig. 5's ten "MLP Baseline 117"-long labels ran
    // into each other at 12 px (a glyph is ~half the font size wide).
    let n = bars.len();
    // Neighbours share the space between their centres: the widest pair sets the size.
    let chars: Vec<f64> = bars
        .iter()
        .map(|b| b.label.chars().count() as f64)
        .collect();
    let widest = chars
        .windows(2)
        .map(|w| (w[0] + w[1]) / 2.0)
        .chain(chars.first().copied().filter(|_| n == 1))
        .fold(1.0, f64::max);
    let slot = (SIZE.0 as f64 - 100.0) / n.max(1) as f64;
    let label_px = (0.9 * slot / (0.5 * widest)).clamp(7.0, 12.0);
    // Fashion-MNIST's specs have no paper value: a key promising its dots would mislead.
    let key = if bars.iter().any(|b| b.paper.is_some()) {
        "bars: ours, mean ± std over the seeds; dots: the paper, mean ± std"
    } else {
        "bars: ours, mean ± std over the seeds (no paper value to compare)"
    };
    render!(stem, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y0.max(0.0)..1.0f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(1))
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                if (x - i as f64).abs() < 1e-6 && i < n {
                    bars[i].label.clone()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", label_px))
            .axis_desc_style(("sans-serif", 12))
            .x_desc(key)
            .y_desc("test accuracy")
            .draw()?;
        for (i, b) in bars.iter().enumerate() {
            let x = i as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x - 0.3, y0.max(0.0)), (x + 0.3, b.mean)],
                color(i).mix(0.8).filled(),
            )))?;
            chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                x,
                b.mean - b.std,
                b.mean,
                b.mean + b.std,
                BLACK.stroke_width(2),
                10,
            )))?;
            if let Some((pm, ps)) = b.paper {
                chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                    x + 0.38,
                    pm - ps,
                    pm,
                    pm + ps,
                    BLACK.stroke_width(1),
                    6,
                )))?;
                chart.draw_series(std::iter::once(Circle::new(
                    (x + 0.38, pm),
                    4,
                    BLACK.filled(),
                )))?;
            }
        }
        Ok(())
    })
}

/// A line of points `(x, mean, std)`.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64, f64)>,
}

/// An accuracy axis bound rounded (`round`: floor or ceil) to a multiple of 0.05 within [0, 1].
fn to_twentieth(v: f64, round: fn(f64) -> f64) -> f64 {
    round(v * 20.0).clamp(0.0, 20.0) / 20.0
}

/// Lines with error bars: accuracy against a level (pruning %, dimension, parameters).
pub fn curves(
    stem: &Path,
    title: &str,
    x_desc: &str,
    series: &[Series],
    log_x: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (x0, x1) = if x0.is_finite() { (x0, x1) } else { (0.0, 1.0) };
    // The y-axis spans the data (error bars included) to the next 0.05, not 0..1: Fig. 5's rows
    // differ by tenths of a point, invisible on a full-range axis.
    let (low, high) = series
        .iter()
        .flat_map(|s| s.points.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1 - p.2), b.max(p.1 + p.2))
        });
    let (y0, y1) = if low.is_finite() {
        (
            to_twentieth(low - 0.01, f64::floor),
            to_twentieth(high + 0.01, f64::ceil),
        )
    } else {
        (0.0, 1.0)
    };
    render!(stem, |root| {
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .y_desc("test accuracy")
                    // Parameter counts as "90k": full numbers collide on a log axis, and so
                    // did "90k" and "100k": a log axis labels 1, 2, 3 and 5 of each decade.
                    .x_label_formatter(&|x| {
                        let lead = x.abs() / 10f64.powf(x.abs().log10().floor());
                        if log_x && ![1.0, 2.0, 3.0, 5.0].iter().any(|d| (lead - d).abs() < 1e-6) {
                            String::new()
                        } else if x.abs() >= 1000.0 {
                            format!("{}k", (x / 1000.0 * 10.0).round() / 10.0)
                        } else {
                            format!("{}", (x * 100.0).round() / 100.0)
                        }
                    })
                    .draw()?;
                for (i, s) in series.iter().enumerate() {
                    let c = color(i);
                    chart
                        .draw_series(LineSeries::new(
                            s.points.iter().map(|p| (p.0, p.1)),
                            c.stroke_width(2),
                        ))?
                        .label(s.label.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                        });
                    chart.draw_series(s.points.iter().map(|&(x, m, sd)| {
                        ErrorBar::new_vertical(x, m - sd, m, m + sd, c.stroke_width(1), 6)
                    }))?;
                    chart.draw_series(
                        s.points
                            .iter()
                            .map(|&(x, m, _)| Circle::new((x, m), 3, c.filled())),
                    )?;
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .position(SeriesLabelPosition::LowerLeft)
                    .draw()?;
            }};
        }
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60);
        if log_x {
            body!(builder.build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), y0..y1)?);
        } else {
            let pad = (x1 - x0).max(1.0) * 0.03;
            body!(builder.build_cartesian_2d(x0 - pad..x1 + pad, y0..y1)?);
        }
        Ok(())
    })
}

/// Learning curves: accuracy (`y_desc` says on which images) against epoch, the mean over
/// seeds with a ± std band.
pub fn learning(
    stem: &Path,
    title: &str,
    y_desc: &str,
    series: &[Series],
) -> anyhow::Result<Vec<PathBuf>> {
    let epochs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let low = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1 - p.2))
        .fold(1.0f64, f64::min);
    let y0 = to_twentieth(low - 0.02, f64::floor);
    render!(stem, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0f64..epochs, y0..1.0f64)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(y_desc)
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            let band: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|p| (p.0, p.1 + p.2))
                .chain(s.points.iter().rev().map(|p| (p.0, p.1 - p.2)))
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.2).filled())))?;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().map(|p| (p.0, p.1)),
                    c.stroke_width(2),
                ))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
        Ok(())
    })
}

/// Per-layer histograms of a relaxed model's learned z, one colour per layer, on one axis.
pub fn z_histograms(
    stem: &Path,
    title: &str,
    layers: &[(String, Vec<f64>)],
) -> anyhow::Result<Vec<PathBuf>> {
    let all = layers.iter().flat_map(|(_, z)| z.iter().copied());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), z| {
        (a.min(z), b.max(z))
    });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    const BINS: usize = 60;
    let width = (hi - lo) / BINS as f64;
    // Densities (fraction of the layer's neurons per bin) so the 10 output neurons show beside
    // the 2048 hidden ones.
    let counts: Vec<Vec<f64>> = layers
        .iter()
        .map(|(_, z)| {
            let mut c = vec![0.0; BINS];
            for &v in z {
                let b = (((v - lo) / width) as usize).min(BINS - 1);
                c[b] += 1.0 / z.len().max(1) as f64;
            }
            c
        })
        .collect();
    let top = counts.iter().flatten().fold(0.0f64, |a, &b| a.max(b)) * 1.1;
    render!(stem, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0.0f64..top.max(1e-3))?;
        chart
            .configure_mesh()
            .x_desc("learned z (layer axis)")
            .y_desc("fraction of the layer's neurons")
            .draw()?;
        for (i, ((label, _), c)) in layers.iter().zip(&counts).enumerate() {
            let col = color(i);
            chart
                .draw_series(c.iter().enumerate().map(|(b, &h)| {
                    let x = lo + b as f64 * width;
                    Rectangle::new([(x, 0.0), (x + width, h)], col.mix(0.45).filled())
                }))?
                .label(label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], col.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

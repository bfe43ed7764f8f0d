//! `neuropos viz`: the paper's Fig. 6 — every layer's neurons at their free coordinates,
//! coloured by their activity for the average test image of one digit — and Fig. 4b, the
//! learned z of a relaxed model per layer. PNG or SVG (plotters).
//!
//! Colour: a diverging scale, blue negative, white zero, red positive, each panel scaled to its
//! largest magnitude. A neuron that sends synapses shows its activity times its inhibition mask
//! m = 2σ(kv) − 1 — what it passes on, negative for inhibitory neurons, as the paper colours
//! them; the output layer shows its logits (MLPs) or spike counts (SNNs, whose other layers show
//! spike counts too). The output neurons are drawn on every panel as labelled reference points.
//! For d > 3 the d − 1 free coordinates are projected on their first two principal components,
//! computed over all neurons of all layers so that the panels share one plane; d = 2 (one free
//! coordinate) puts the neurons on a line.

use anyhow::{bail, Context};
use candle_core::{DType, Device};
use clap::Args;
use neuropos_models::checkpoint;
use neuropos_models::hub::CheckpointSource;
use neuropos_models::inspect::{self, layer_positions, project};
use neuropos_models::prune::levels::StoredPruning;
use neuropos_models::Network;
use plotters::prelude::*;
use std::path::PathBuf;

use crate::common::{DataArgs, Percentages};

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["out", "html"])))]
pub struct VizArgs {
    /// Checkpoint directory, .safetensors file or hf://owner/repo[@revision][/subdir]
    /// (embedded kinds: a baseline has no positions).
    #[arg(value_parser = CheckpointSource::parse)]
    checkpoint: CheckpointSource,
    /// The digit whose average test image drives the colours (the page's first view).
    #[arg(long, default_value_t = 0)]
    digit: u32,
    /// The picture to write: FILE.png or FILE.svg.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also draw the K longest and K shortest connections of every pair of layers.
    #[arg(long, default_value_t = 0, conflicts_with = "html")]
    wires: usize,
    /// Draw the per-layer histograms of the learned z instead (relaxed kinds; Fig. 4b).
    #[arg(long, conflicts_with = "html")]
    z_hist: bool,
    /// Instead, write the interactive viewer: one self-contained HTML page (docs/cli.md).
    #[arg(long, value_name = "FILE.html")]
    html: Option<PathBuf>,
    /// The viewer's single test images: the first N of the test set, besides the ten digits'
    /// averages [default: 100].
    #[arg(long, value_name = "N")]
    images: Option<usize>,
    /// The viewer's pruning levels (its slider's stops), each scored on the test set with both
    /// rankings [default: 0,10,20,30,40,50,60,70,80,90,95,99].
    #[arg(long)]
    levels: Option<Percentages>,
    /// Score the viewer's levels on the first N test images only (quick looks).
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    #[command(flatten)]
    data: DataArgs,
}

/// A layer as drawn: 2-D points, the value each is coloured by, and its name.
struct Panel {
    title: String,
    points: Vec<(f64, f64)>,
    values: Vec<f64>,
}

/// Blue (−1) – white (0) – red (+1).
fn diverging(v: f64) -> RGBColor {
    let t = v.clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, s: f64| (a as f64 + (b as f64 - a as f64) * s).round() as u8;
    if t < 0.0 {
        let s = -t;
        RGBColor(mix(255, 33, s), mix(255, 102, s), mix(255, 172, s))
    } else {
        RGBColor(mix(255, 178, t), mix(255, 24, t), mix(255, 43, t))
    }
}

pub fn run(args: VizArgs) -> anyhow::Result<()> {
    if args.digit > 9 {
        bail!("--digit must be 0 to 9, got {}", args.digit);
    }
    if let Some(html) = &args.html {
        return run_viewer(&args, html);
    }
    if args.images.is_some() || args.levels.is_some() || args.test_limit.is_some() {
        bail!("--images, --levels and --test-limit shape the viewer: they go with --html");
    }
    let out = args.out.clone().expect("clap requires --out or --html");
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("png" | "svg")) {
        bail!("--out {}: write a .png or an .svg", out.display());
    }
    let path = args.checkpoint.resolve()?;
    if let Some(commit) = args.checkpoint.revision(&path) {
        tracing::info!("{} resolved to commit {commit}", args.checkpoint);
    }
    let loaded = checkpoint::load(&path, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading {}", args.checkpoint))?;
    let network = &loaded.network;
    if network.embedding().is_none() {
        bail!(
            "{}: {} is a baseline without neuron positions; viz draws embedded kinds",
            args.checkpoint,
            network.config().describe()
        );
    }
    if args.z_hist {
        z_histograms(&args, network, &out)?;
    } else {
        activity_figure(
            &args,
            &loaded.info,
            network,
            &out,
            ext.as_deref() == Some("svg"),
        )?;
    }
    println!("{}", out.display());
    Ok(())
}

/// Fig. 4b: the learned z of every layer, as histograms.
fn z_histograms(args: &VizArgs, network: &Network, out: &std::path::Path) -> anyhow::Result<()> {
    let config = network.config();
    let z: Vec<(String, Vec<f64>)> = inspect::layer_z(network)?
        .into_iter()
        .enumerate()
        .map(|(l, z)| (format!("layer {l} ({} neurons)", z.len()), z))
        .collect();
    if !config.kind.to_string().ends_with("-relaxed") {
        tracing::warn!(
            "{} has its layers at fixed z (or learned gaps): each histogram is one bar",
            config.describe()
        );
    }
    let title = format!("{}: learned z per layer", args.checkpoint);
    let written = crate::figures::z_histograms(&out.with_extension(""), &title, &z)?;
    // figures writes both formats; keep the one asked for.
    for f in written {
        if f != out {
            let _ = std::fs::remove_file(f);
        }
    }
    Ok(())
}

/// Fig. 6: every layer's neurons at their free coordinates, coloured by what each passes on
/// for the average test image of `--digit`, with the longest and shortest wires.
fn activity_figure(
    args: &VizArgs,
    info: &neuropos_models::checkpoint::CheckpointInfo,
    network: &Network,
    out: &std::path::Path,
    svg: bool,
) -> anyhow::Result<()> {
    let config = network.config().clone();
    let neurons = network.embedding().expect("checked by run").neurons();
    let (mnist, _) = args.data.load_for(info, &args.checkpoint.to_string())?;
    let (image, images) = inspect::average_image(&mnist, args.digit)?;
    let (activity, predicted) = inspect::passed_on(network, &image)?;
    let depth = neurons.len();
    // Positions: free coordinates (projected for d > 3) and full positions for the wires.
    let (full, free, plane) = layer_positions(neurons, config.dim)?;
    let panels: Vec<Panel> = (0..depth)
        .map(|l| Panel {
            title: match l {
                0 => format!("input ({} pixels)", full[l].len()),
                l if l == depth - 1 => format!(
                    "output ({}; predicted {predicted})",
                    if config.lif.is_some() {
                        "spike counts"
                    } else {
                        "logits"
                    }
                ),
                l => format!("hidden {l} ({} neurons)", full[l].len()),
            },
            points: project(&free[l], &plane),
            values: activity[l].clone(),
        })
        .collect();
    let mut wires: Vec<Wire> = Vec::new();
    for c in 0..depth - 1 {
        let (pre, post) = (&panels[c].points, &panels[c + 1].points);
        for (i, j, long) in inspect::extreme_wires(&full[c], &full[c + 1], args.wires) {
            wires.push((c, pre[i], post[j], long));
        }
    }
    let outputs = panels[depth - 1].points.clone();
    let title = format!(
        "{} — average test image of digit {} ({images} images)",
        config.describe(),
        args.digit,
    );
    // plotters writes to the path itself: the same rule as every other write.
    neuropos_models::checkpoint::check_replaceable(out)?;
    let size = (520 * depth as u32, 560);
    if svg {
        let root = SVGBackend::new(out, size).into_drawing_area();
        draw(&root, &title, &panels, &outputs, &wires)?;
        root.present()
            .with_context(|| format!("writing {}", out.display()))?;
    } else {
        let root = BitMapBackend::new(out, size).into_drawing_area();
        draw(&root, &title, &panels, &outputs, &wires)?;
        root.present()
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn run_viewer(args: &VizArgs, html: &std::path::Path) -> anyhow::Result<()> {
    if !html
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
    {
        bail!("--html {}: write an .html file", html.display());
    }
    crate::common::check_limit("--test-limit", args.test_limit)?;
    let mut levels = match &args.levels {
        Some(l) => l.0.clone(),
        None => vec![
            0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0,
        ],
    };
    let path = args.checkpoint.resolve()?;
    if let Some(commit) = args.checkpoint.revision(&path) {
        tracing::info!("{} resolved to commit {commit}", args.checkpoint);
    }
    let mut loaded = checkpoint::load(&path, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading {}", args.checkpoint))?;
    // A checkpoint that prunes itself starts the slider at its own share (the model as stored);
    // levels asked for explicitly below it are refused by the pruning loop, naming it.
    if let (None, Some(stored)) = (&args.levels, StoredPruning::of(&loaded)) {
        levels.retain(|&p| p > stored.percent);
        levels.push(stored.percent);
    }
    levels.sort_by(f64::total_cmp);
    let (mut mnist, _) = args
        .data
        .load_for(&loaded.info, &args.checkpoint.to_string())?;
    if let Some(n) = args.test_limit {
        mnist = mnist.limit_test(n)?;
    }
    let source = args.checkpoint.to_string();
    let settings = crate::viewer::ViewerSettings {
        source: &source,
        images: args.images.unwrap_or(100),
        levels: &levels,
        first_digit: args.digit,
    };
    let bytes = crate::viewer::write(&mut loaded, &mnist, &settings, html)?;
    tracing::info!("{}: {:.0} KiB", html.display(), bytes as f64 / 1024.0);
    println!("{}", html.display());
    Ok(())
}

type Wire = (usize, (f64, f64), (f64, f64), bool);

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    panels: &[Panel],
    outputs: &[(f64, f64)],
    wires: &[Wire],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    crate::figures::register_font();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let areas = root.split_evenly((1, panels.len()));
    let all = panels.iter().flat_map(|p| p.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let pad = |a: f64, b: f64| ((b - a).abs() * 0.05).max(0.5);
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    for (l, (area, panel)) in areas.iter().zip(panels).enumerate() {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(x0 - px..x1 + px, y0 - py..y1 + py)?;
        chart.configure_mesh().disable_mesh().draw()?;
        for &(_, a, b, long) in wires.iter().filter(|w| w.0 == l) {
            let style = if long {
                RGBColor(120, 120, 120).mix(0.5).stroke_width(1)
            } else {
                RGBColor(20, 140, 60).mix(0.7).stroke_width(1)
            };
            chart.draw_series(std::iter::once(PathElement::new(vec![a, b], style)))?;
        }
        let scale = panel.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let size = if panel.points.len() > 500 { 2 } else { 4 };
        chart.draw_series(panel.points.iter().zip(&panel.values).map(|(&p, &v)| {
            let c = diverging(if scale > 0.0 { v / scale } else { 0.0 });
            Circle::new(p, size, c.filled())
        }))?;
        // The output neurons as reference points on every panel.
        chart.draw_series(outputs.iter().enumerate().map(|(k, &p)| {
            EmptyElement::at(p)
                + Cross::new((0, 0), 4, BLACK.stroke_width(2))
                + Text::new(k.to_string(), (5, -12), ("sans-serif", 13).into_font())
        }))?;
    }
    Ok(())
}

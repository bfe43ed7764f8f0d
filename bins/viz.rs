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
use candle_core::{DType, Device, Tensor};
use clap::Args;
use neuropos_models::checkpoint;
use neuropos_models::hub::CheckpointSource;
use neuropos_models::inspect::{layer_activity, layer_positions, project};
use neuropos_models::prune::levels::StoredPruning;
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
    let loaded = checkpoint::load(&path, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading {}", args.checkpoint))?;
    let network = &loaded.network;
    let config = network.config().clone();
    let Some(embedding) = network.embedding() else {
        bail!(
            "{}: {} is a baseline without neuron positions; viz draws embedded kinds",
            args.checkpoint,
            config.describe()
        );
    };
    let neurons = embedding.neurons();
    if args.z_hist {
        let z: Vec<(String, Vec<f64>)> = neurons
            .iter()
            .enumerate()
            .map(|(l, n)| {
                let p = n.positions()?;
                let d = p.dim(1)?;
                let z = p.narrow(1, d - 1, 1)?.flatten_all()?;
                Ok((
                    format!("layer {l} ({} neurons)", n.len()),
                    neuropos_models::device::host_f64(&z)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        if !config.kind.to_string().ends_with("-relaxed") {
            tracing::warn!(
                "{} has its layers at fixed z (or learned gaps): each histogram is one bar",
                config.describe()
            );
        }
        let stem = out.with_extension("");
        let written = crate::figures::z_histograms(
            &stem,
            &format!("{}: learned z per layer", args.checkpoint),
            &z,
        )?;
        // figures writes both formats; keep the one asked for.
        for f in written {
            if f != out {
                let _ = std::fs::remove_file(f);
            }
        }
        println!("{}", out.display());
        return Ok(());
    }

    // The average test image of the digit.
    let (mnist, _) = args.data.load()?;
    let labels = mnist.test_labels.to_vec1::<u32>()?;
    let picked: Vec<u32> = (0..labels.len() as u32)
        .filter(|&i| labels[i as usize] == args.digit)
        .collect();
    let idx = Tensor::from_vec(picked.clone(), picked.len(), &Device::Cpu)?;
    let image = mnist.test_images.index_select(&idx, 0)?.mean_keepdim(0)?;

    // Activity per layer: what each neuron passes on (activity × mask), the output's logits
    // or spike counts.
    let depth = neurons.len();
    let mut activity: Vec<Vec<f64>> = layer_activity(network, &image)?
        .iter()
        .map(|a| Ok(neuropos_models::device::host_f64(a)?))
        .collect::<anyhow::Result<_>>()?;
    let predicted = activity[depth - 1]
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    for (c, n) in neurons.iter().enumerate().take(depth - 1) {
        if let Some(inhibition) = &n.inhibition {
            let m = neuropos_models::device::host_f64(
                &neuropos_models::geometry::inhibition_mask(inhibition, config.steepness)?,
            )?;
            activity[c].iter_mut().zip(&m).for_each(|(a, m)| *a *= m);
        }
    }

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

    // The K longest and shortest wires of each pair of layers, by full distance.
    let mut wires: Vec<Wire> = Vec::new();
    if args.wires > 0 {
        for c in 0..depth - 1 {
            let mut d: Vec<(f64, usize, usize)> = Vec::new();
            for (i, p) in full[c].iter().enumerate() {
                for (j, q) in full[c + 1].iter().enumerate() {
                    let dist: f64 = p.iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum();
                    d.push((dist, i, j));
                }
            }
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            let k = args.wires.min(d.len() / 2);
            let pre = &panels[c].points;
            let post = project(&free[c + 1], &plane);
            for (&(_, i, j), long) in d[..k]
                .iter()
                .map(|w| (w, false))
                .chain(d[d.len() - k..].iter().map(|w| (w, true)))
            {
                wires.push((c, pre[i], post[j], long));
            }
        }
    }
    let outputs = panels[depth - 1].points.clone();
    let title = format!(
        "{} — average test image of digit {} ({} images)",
        config.describe(),
        args.digit,
        picked.len()
    );
    // plotters writes to the path itself: the same rule as every other write.
    neuropos_models::checkpoint::check_replaceable(&out)?;
    if ext.as_deref() == Some("svg") {
        let root = SVGBackend::new(&out, (520 * depth as u32, 560)).into_drawing_area();
        draw(&root, &title, &panels, &outputs, &wires)?;
        root.present()
            .with_context(|| format!("writing {}", out.display()))?;
    } else {
        let root = BitMapBackend::new(&out, (520 * depth as u32, 560)).into_drawing_area();
        draw(&root, &title, &panels, &outputs, &wires)?;
        root.present()
            .with_context(|| format!("writing {}", out.display()))?;
    }
    println!("{}", out.display());
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
    let mut loaded = checkpoint::load(&path, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading {}", args.checkpoint))?;
    // A checkpoint that prunes itself starts the slider at its own share (the model as stored);
    // levels asked for explicitly below it are refused by the pruning loop, naming it.
    if let (None, Some(stored)) = (&args.levels, StoredPruning::of(&loaded)) {
        levels.retain(|&p| p > stored.percent);
        levels.push(stored.percent);
    }
    levels.sort_by(f64::total_cmp);
    let (mut mnist, _) = args.data.load()?;
    mnist.check_fits(&loaded.info.model, &args.checkpoint.to_string())?;
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

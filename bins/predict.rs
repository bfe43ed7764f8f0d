//! `neuropos predict`: classifies digit images with a checkpoint.

use anyhow::Context;
use candle_core::{DType, Device, Tensor, D};
use clap::Args;
use image::imageops::FilterType;
use neuropos_models::checkpoint;
use neuropos_models::hub::CheckpointSource;
use neuropos_models::network::NetworkOutput;
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::common::DeviceArgs;

/// MNIST's side.
const SIDE: u32 = 28;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Checkpoint directory, .safetensors file or hf://owner/repo[@revision][/subdir].
    #[arg(value_parser = CheckpointSource::parse)]
    checkpoint: CheckpointSource,
    /// Grayscale digit images (PNG or JPEG): a white digit on black, as MNIST. Other sizes are
    /// resized to 28×28 with a triangle (bilinear) filter; colour images are converted to luma.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// The images are a dark digit on a light background: invert them first.
    #[arg(long)]
    invert: bool,
    /// table (markdown) or json.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Debug, Serialize)]
struct Prediction {
    image: String,
    class: u32,
    /// MLPs: the softmax of the logits. SNNs: each output neuron's spike count over T steps.
    scores: Vec<f32>,
    score_kind: &'static str,
}

/// `[784]` pixels in [0, 1] from an image file.
fn pixels(path: &Path, invert: bool) -> anyhow::Result<Vec<f32>> {
    let unreadable = || format!("{}: not a readable PNG or JPEG image", path.display());
    // The format from the file's first bytes, not its name: a JPEG called .png is a JPEG.
    let decoded = image::ImageReader::open(path)
        .with_context(unreadable)?
        .with_guessed_format()
        .with_context(unreadable)?
        .decode()
        .with_context(unreadable)?;
    let img = flatten_alpha(&decoded.to_luma_alpha8());
    let img = if img.dimensions() == (SIDE, SIDE) {
        img
    } else {
        image::imageops::resize(&img, SIDE, SIDE, FilterType::Triangle)
    };
    Ok(img
        .pixels()
        .map(|p| {
            let v = p.0[0] as f32 / 255.0;
            if invert {
                1.0 - v
            } else {
                v
            }
        })
        .collect())
}

/// Grey levels with any transparency composited onto the background the image implies: the
/// opposite of its ink, the mean of its opaque pixels (a black digit on a transparent
/// background becomes black on white, which --invert turns into MNIST's white on black; dropping
/// the alpha made it black on black, a blank image).
fn flatten_alpha(img: &image::GrayAlphaImage) -> image::GrayImage {
    let (mut ink, mut weight) = (0.0f64, 0.0f64);
    for p in img.pixels() {
        let a = p.0[1] as f64 / 255.0;
        ink += a * p.0[0] as f64;
        weight += a;
    }
    let background = if weight > 0.0 && ink / weight < 128.0 {
        255.0
    } else {
        0.0
    };
    image::GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let [v, a] = img.get_pixel(x, y).0;
        let a = a as f64 / 255.0;
        image::Luma([(a * v as f64 + (1.0 - a) * background).round() as u8])
    })
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let device = args.device.device()?;
    let path = args.checkpoint.resolve()?;
    let loaded = checkpoint::load(&path, DType::F32, &device)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint))?;
    if loaded.info.model.input_size() != (SIDE * SIDE) as usize {
        anyhow::bail!(
            "{}: the network takes {} inputs, not the {} pixels of a 28×28 image",
            args.checkpoint,
            loaded.info.model.input_size(),
            SIDE * SIDE
        );
    }
    let mut values = Vec::with_capacity(args.images.len() * (SIDE * SIDE) as usize);
    for image in &args.images {
        values.extend(pixels(image, args.invert)?);
    }
    let batch = Tensor::from_vec(
        values,
        (args.images.len(), (SIDE * SIDE) as usize),
        &Device::Cpu,
    )?
    .to_device(&device)?;
    let classes = loaded.network.predict(&batch)?;
    let (scores, score_kind) = match loaded.network.run(&batch)? {
        NetworkOutput::Logits(logits) => (
            candle_nn::ops::softmax(&logits, D::Minus1)?.to_vec2::<f32>()?,
            "probability",
        ),
        NetworkOutput::Spiking { spikes, .. } => (
            spikes.sum(0)?.to_dtype(DType::F32)?.to_vec2::<f32>()?,
            "spike count",
        ),
    };
    let predictions: Vec<Prediction> = args
        .images
        .iter()
        .zip(classes)
        .zip(scores)
        .map(|((image, class), scores)| Prediction {
            image: image.display().to_string(),
            class,
            scores,
            score_kind,
        })
        .collect();
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&predictions)?);
        return Ok(());
    }
    let n = predictions.first().map_or(0, |p| p.scores.len());
    println!(
        "| image | class | {} |",
        (0..n)
            .map(|k| format!("{score_kind} {k}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---:|{}", "---:|".repeat(n));
    for p in &predictions {
        let cells: Vec<String> = p
            .scores
            .iter()
            .map(|s| match score_kind {
                "probability" => format!("{s:.4}"),
                _ => format!("{s:.0}"),
            })
            .collect();
        println!("| {} | {} | {} |", p.image, p.class, cells.join(" | "));
    }
    Ok(())
}

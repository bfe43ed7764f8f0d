//! `neuropos predict`: classifies image files with a checkpoint, prepared as its data was
//! (the library's `images`), with the class names the checkpoint records.

use anyhow::Context;
use candle_core::{DType, Device, Tensor, D};
use clap::Args;
use neuropos_models::checkpoint;
use neuropos_models::hub::CheckpointSource;
use neuropos_models::images::{image_files, read_image, Invert, Preprocess};
use neuropos_models::network::NetworkOutput;
use serde::Serialize;
use std::path::PathBuf;

use crate::common::DeviceArgs;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Checkpoint directory, .safetensors file or hf://owner/repo[@revision][/subdir].
    #[arg(value_parser = CheckpointSource::parse)]
    checkpoint: CheckpointSource,
    /// PNG or JPEG files (the format is read from the bytes), or directories of them.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// `mnist`: remove the background, scale the ink's box to 20×20 and centre it by mass in
    /// 28×28, as MNIST's digits were made; `none`: resize the image as it is [default: mnist
    /// for a checkpoint trained on MNIST, none otherwise].
    #[arg(long)]
    preprocess: Option<Preprocess>,
    /// Turn dark ink on a light background into light ink on black: `--invert=auto` when the
    /// image's border is light, `--invert` (or `=yes`) always, `--invert=no` never.
    #[arg(
        long,
        default_value = "auto",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "yes"
    )]
    invert: Invert,
    /// Show the K most likely classes.
    #[arg(long, default_value_t = 3, value_name = "K")]
    top: usize,
    /// table (markdown) or json.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Debug, Serialize)]
struct Ranked {
    class: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    score: f32,
}

#[derive(Debug, Serialize)]
struct Prediction {
    image: String,
    class: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    scores: Vec<f32>,
    score_kind: &'static str,
    top: Vec<Ranked>,
    /// What was done to the image before it was classified.
    prepared: Vec<String>,
    /// A spiking network whose most spiking classes tied: the membrane decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    tie: Option<String>,
    /// The Hub commit an hf:// checkpoint resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    if args.top == 0 {
        anyhow::bail!("--top must be at least 1");
    }
    let device = args.device.device()?;
    let path = args.checkpoint.resolve()?;
    let loaded = checkpoint::load(&path, DType::F32, &device)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint))?;
    let revision = args.checkpoint.revision(&path);
    if let Some(commit) = &revision {
        tracing::info!("{} resolved to commit {commit}", args.checkpoint);
    }
    let record = loaded
        .info
        .training
        .as_ref()
        .and_then(|t| t.dataset.clone());
    let shape = record
        .as_ref()
        .map_or(neuropos_models::data::MNIST_SHAPE.to_vec(), |r| {
            r.shape.clone()
        });
    let inputs: usize = shape.iter().product();
    if loaded.info.model.input_size() != inputs {
        anyhow::bail!(
            "{}: the network takes {} inputs, not the {inputs} pixels of a {shape:?} image",
            args.checkpoint,
            loaded.info.model.input_size()
        );
    }
    let names = record.and_then(|r| r.class_names);
    let how = args.preprocess.unwrap_or(match names {
        // MNIST (no record) is the data this preparation was made for.
        None if shape == neuropos_models::data::MNIST_SHAPE => Preprocess::Mnist,
        _ => Preprocess::None,
    });
    let files = image_files(&args.images)?;
    let mut values = Vec::with_capacity(files.len() * inputs);
    let mut prepared = Vec::with_capacity(files.len());
    for file in &files {
        let p = read_image(file, &shape, how, args.invert)?;
        values.extend(p.pixels);
        prepared.push(p.notes);
    }
    let batch =
        Tensor::from_vec(values, (files.len(), inputs), &Device::Cpu)?.to_device(&device)?;
    let classes = loaded.network.predict(&batch)?;
    let (scores, score_kind, ties) = scores(loaded.network.run(&batch)?)?;
    let name = |c: usize| names.as_ref().and_then(|n| n.get(c).cloned());
    let predictions: Vec<Prediction> = files
        .iter()
        .zip(classes)
        .zip(scores)
        .zip(prepared.into_iter().zip(ties))
        .map(|(((file, class), scores), (prepared, tie))| {
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            let top = order
                .iter()
                .take(args.top)
                .map(|&c| Ranked {
                    class: c as u32,
                    name: name(c),
                    score: scores[c],
                })
                .collect();
            Prediction {
                image: file.display().to_string(),
                class,
                name: name(class as usize),
                scores,
                score_kind,
                top,
                prepared,
                tie,
                revision: revision.clone(),
            }
        })
        .collect();
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&predictions)?);
    } else {
        print!("{}", table(&predictions, how));
    }
    Ok(())
}

/// Per image: the scores (probabilities, or spike counts), their kind, and for a spiking network
/// whether its most spiking classes tied (the summed membrane then decided).
#[allow(clippy::type_complexity)]
fn scores(
    out: NetworkOutput,
) -> anyhow::Result<(Vec<Vec<f32>>, &'static str, Vec<Option<String>>)> {
    Ok(match out {
        NetworkOutput::Logits(logits) => {
            let p = candle_nn::ops::softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
            let none = vec![None; p.len()];
            (p, "probability", none)
        }
        NetworkOutput::Spiking { spikes, .. } => {
            let counts = spikes.sum(0)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            let ties = counts
                .iter()
                .map(|c| {
                    let most = c.iter().copied().fold(f32::MIN, f32::max);
                    let tied: Vec<String> = (0..c.len())
                        .filter(|&k| c[k] == most)
                        .map(|k| k.to_string())
                        .collect();
                    (tied.len() > 1).then(|| {
                        format!(
                            "classes {} tied on {most} spikes; the summed membrane decided",
                            tied.join(", ")
                        )
                    })
                })
                .collect();
            (counts, "spike count", ties)
        }
    })
}

fn table(predictions: &[Prediction], how: Preprocess) -> String {
    let mut out =
        format!("| image | class | top (preprocessing: {how}) | prepared |\n|---|---|---|---|\n");
    for p in predictions {
        let label = |class: u32, name: &Option<String>| match name {
            Some(n) => format!("{class} {n}"),
            None => class.to_string(),
        };
        let top: Vec<String> = p
            .top
            .iter()
            .map(|r| {
                let score = match p.score_kind {
                    "probability" => format!("{:.4}", r.score),
                    _ => format!("{:.0} spikes", r.score),
                };
                format!("{} ({score})", label(r.class, &r.name))
            })
            .collect();
        let mut notes = p.prepared.clone();
        notes.extend(p.tie.clone());
        out += &format!(
            "| {} | {} | {} | {} |\n",
            p.image,
            label(p.class, &p.name),
            top.join(", "),
            if notes.is_empty() {
                "—".into()
            } else {
                notes.join("; ")
            }
        );
    }
    out
}

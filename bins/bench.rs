//! `neuropos bench`: training-step or inference throughput on real batches (MNIST unless
//! `--data`), one JSON line.

use anyhow::bail;
use candle_core::{DType, Device};
use candle_nn::VarMap;
use clap::{Args, ValueEnum};
use neuropos_models::config::DEFAULT_BATCH_SIZE;
use neuropos_models::layers::embedded::{CurrentOptions, ProductPath, DEFAULT_TILE};
use neuropos_models::training::{adam, train_epoch};
use neuropos_models::Network;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::time::Instant;

use crate::common::{DataArgs, DeviceArgs, ModelArgs};
use neuropos_models::run::PruneDuringChoices;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Product {
    Auto,
    Sparse,
    Dense,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    architecture: ModelArgs,
    /// SNN simulation steps.
    /// Simulation steps of a spiking kind [default: the paper's].
    #[arg(long)]
    time_steps: Option<usize>,
    /// Timed training steps (after 2 warm-up steps).
    #[arg(long, default_value_t = 20)]
    steps: usize,
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// CPU threads (Candle's matmuls and neuropos' kernels) [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Time inference over the 10,000 test images instead of training steps.
    #[arg(long)]
    inference: bool,
    /// How embedded layers form their current on the CPU: `auto` (event-driven for sparse
    /// input, dense otherwise), `sparse` (event-driven, weights synthesised tile by tile:
    /// the O(n)-memory path) or `dense` (whole weight matrix, then a GEMM) [default: auto].
    #[arg(long, value_enum)]
    product: Option<Product>,
    /// Postsynaptic neurons per weight tile on the event-driven path [default: 256].
    #[arg(long)]
    tile: Option<usize>,
    #[command(flatten)]
    pruning: PruneDuringChoices,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        if n == 0 {
            bail!("--threads must be positive");
        }
        // Candle sizes its matmul parallelism from RAYON_NUM_THREADS; the kernels use the
        // global rayon pool. Both are set before any tensor work.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()?;
    }
    let (product, tile) = (
        args.product.unwrap_or(Product::Auto),
        args.tile.unwrap_or(DEFAULT_TILE),
    );
    if args.steps == 0 || args.batch_size == 0 || tile == 0 {
        bail!("--steps, --batch-size and --tile must be positive");
    }
    check_flags_apply(&args)?;
    let current = CurrentOptions {
        path: match product {
            Product::Auto => ProductPath::Auto,
            Product::Sparse => ProductPath::Sparse,
            Product::Dense => ProductPath::Dense,
        },
        tile,
    };
    let mut config = args.architecture.config();
    if let (Some(lif), Some(steps)) = (config.lif.as_mut(), args.time_steps) {
        lif.time_steps = steps;
    }
    config.pruning = args.pruning.pruning();
    config.validate()?;
    let device = args.device.device()?;
    let (mnist, _) = args.data.load()?;
    let vars = VarMap::new();
    let mut network = Network::seeded(&config, &vars, 0, DType::F32, &device)?;
    network.set_current_options(current);
    let params = config.parameter_count();
    let threads = candle_core::utils::get_num_threads();

    let mut line = if args.inference {
        time_inference(&network, &mnist, &device)?
    } else {
        time_training(&args, &network, &vars, mnist, &device)?
    };
    line["model"] = config.describe().into();
    line["params"] = params.into();
    line["threads"] = threads.into();
    line["product"] = format!("{product:?}").to_lowercase().into();
    if args.inference {
        line["tile"] = tile.into();
        line["weight_bytes"] = network.weight_working_set_bytes(current, threads).into();
    }
    println!("{line}");
    Ok(())
}

/// As train does: a flag the kind has no use for is refused, never ignored.
fn check_flags_apply(args: &BenchArgs) -> anyhow::Result<()> {
    let kind = args.architecture.model;
    let mut pointless = Vec::new();
    if !kind.is_spiking() && args.time_steps.is_some() {
        pointless.push("--time-steps (only spiking kinds simulate LIF neurons)");
    }
    if !kind.is_embedded() {
        for (flag, given) in [
            (
                "--dim (a baseline has no positions)",
                args.architecture.dim.is_some(),
            ),
            (
                "--product (a baseline has no positions to form a current from)",
                args.product.is_some(),
            ),
            (
                "--tile (a baseline has no positions to form a current from)",
                args.tile.is_some(),
            ),
        ] {
            if given {
                pointless.push(flag);
            }
        }
    }
    if pointless.is_empty() {
        return Ok(());
    }
    bail!(
        "--model {kind}: these flags do not apply to it: {}",
        pointless.join("; ")
    )
}

/// Inference over the test set after a warm-up: the time per 10,000 images.
fn time_inference(
    network: &Network,
    mnist: &neuropos_models::data::Mnist,
    device: &Device,
) -> anyhow::Result<serde_json::Value> {
    let images = mnist.test_images.to_device(device)?;
    let labels = mnist.test_labels.to_device(device)?;
    let warm = (images.narrow(0, 0, 1000)?, labels.narrow(0, 0, 1000)?);
    neuropos_models::training::accuracy(network, &warm.0, &warm.1)?;
    synchronize(device)?;
    let started = Instant::now();
    let accuracy = neuropos_models::training::accuracy(network, &images, &labels)?;
    synchronize(device)?;
    let seconds = started.elapsed().as_secs_f64();
    let n = images.dim(0)?;
    Ok(serde_json::json!({
        "ms_per_10k_images": 1000.0 * seconds * 10_000.0 / n as f64,
        "samples_per_s": n as f64 / seconds,
        "accuracy_untrained": accuracy,
    }))
}

/// `--steps` training steps after two warm-up steps: the time per step.
fn time_training(
    args: &BenchArgs,
    network: &Network,
    vars: &VarMap,
    mnist: neuropos_models::data::Mnist,
    device: &Device,
) -> anyhow::Result<serde_json::Value> {
    let needed = (args.steps + 2) * args.batch_size;
    let train = mnist.limit_train(needed)?;
    if train.train_images.dim(0)? < needed {
        bail!(
            "{needed} training images needed for {} steps",
            args.steps + 2
        );
    }
    let images = train.train_images.to_device(device)?;
    let labels = train.train_labels.to_device(device)?;
    let mut optimizer = adam(vars, args.architecture.model.paper_learning_rate())?;
    let mut rng = StdRng::seed_from_u64(0);
    let warm = 2 * args.batch_size;
    let timed = args.steps * args.batch_size;
    let mut seconds = 0.0;
    for (start, len) in [(0, warm), (warm, timed)] {
        synchronize(device)?;
        let started = Instant::now();
        train_epoch(
            network,
            &mut optimizer,
            &images.narrow(0, start, len)?,
            &labels.narrow(0, start, len)?,
            args.batch_size,
            &mut rng,
            |_, _| true,
        )?;
        synchronize(device)?;
        seconds = started.elapsed().as_secs_f64();
    }
    Ok(serde_json::json!({
        "batch_size": args.batch_size, "steps": args.steps,
        "ms_per_step": 1000.0 * seconds / args.steps as f64,
        "samples_per_s": timed as f64 / seconds,
    }))
}

fn synchronize(device: &Device) -> anyhow::Result<()> {
    Ok(device.synchronize()?)
}

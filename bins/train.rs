//! `neuropos train`: the flags of a run ([`neuropos_models::run`] declares them), Ctrl-C and a
//! progress bar; the run itself is the library's.

use clap::Args;
use neuropos_models::checkpoint;
use neuropos_models::optimizer::{Fault, FaultTarget};
use neuropos_models::run::{Choices, Hooks, Resumed, Run, RunSettings, Start};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::common::{DataArgs, DeviceArgs, Progress};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    choices: Choices,
    /// Run directory: model.safetensors, config.json, metrics.jsonl, run.json (the settings,
    /// written before the first step) and optimizer.safetensors (the state a resume needs;
    /// removed when the run completes).
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the interrupted run in DIR where its last save left it; the result is
    /// bit-identical to an uninterrupted run on the CPU. Takes its settings from DIR/run.json:
    /// architecture flags may be given only if they agree, training flags not at all.
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "out", "force", "TrainingChoices", "PruneDuringChoices", "DataArgs",
    ])]
    resume: Option<PathBuf>,
    /// Replace the run an --out directory already holds (without it, `train` refuses).
    #[arg(long)]
    force: bool,
    /// Testing only: `grad|param:STEP:NAME` fills that parameter's gradient (or the parameter,
    /// after the update) with NaN at global step STEP; `loss:STEP` makes that step's loss NaN.
    #[arg(long, hide = true, value_name = "FAULT", value_parser = parse_fault)]
    debug_fault: Option<Fault>,
    /// Testing only: sleep this long in the middle of writing every file of a save.
    #[arg(long, hide = true, value_name = "MS")]
    debug_save_delay_ms: Option<u64>,
    /// Testing only: act as if Ctrl-C came after this many batches of this process.
    #[arg(long, hide = true, value_name = "BATCHES")]
    debug_stop_after: Option<usize>,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    data: DataArgs,
}

/// A `--debug-fault grad|param:STEP:NAME` or `loss:STEP`.
fn parse_fault(spec: &str) -> Result<Fault, String> {
    let mut parts = spec.splitn(3, ':');
    let (Some(target), Some(step)) = (parts.next(), parts.next()) else {
        return Err("expected grad|param:STEP:NAME or loss:STEP".into());
    };
    let target = match target {
        "grad" => FaultTarget::Gradient,
        "param" => FaultTarget::Parameter,
        "loss" => FaultTarget::Loss,
        other => return Err(format!("`{other}` is not grad, param or loss")),
    };
    let step = step
        .parse()
        .map_err(|_| format!("`{step}` is not a step"))?;
    Ok(Fault {
        step,
        param: parts.next().unwrap_or_default().to_string(),
        target,
    })
}

/// [`Progress`], and stopping on Ctrl-C (or `--debug-stop-after`).
struct Terminal {
    stop: Arc<AtomicBool>,
    stop_after: Option<usize>,
    batches: usize,
    progress: Progress,
}

impl Hooks for Terminal {
    fn training_starts(&mut self) -> neuropos_models::Result<()> {
        let stop = self.stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing this batch, then saving (Ctrl-C again to abort)");
        })
        .map_err(|e| neuropos_models::Error::Run(format!("installing the Ctrl-C handler: {e}")))
    }

    fn epoch_starts(&mut self, epoch: usize, epochs: usize, batches: usize, done: usize) {
        self.progress.epoch_starts(epoch, epochs, batches, done);
    }

    fn batch_finished(&mut self, loss: f32) {
        self.progress.batch_finished(loss);
        self.batches += 1;
        if self.stop_after == Some(self.batches) {
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    fn should_stop(&mut self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn epoch_finished(&mut self, metrics: &serde_json::Value) {
        self.progress.epoch_finished(metrics);
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    checkpoint::set_debug_write_delay(std::time::Duration::from_millis(
        args.debug_save_delay_ms.unwrap_or(0),
    ));
    let mut run = match &args.resume {
        Some(dir) => match Run::resume(dir, &args.choices.architecture)? {
            Resumed::Run(run) => *run,
            Resumed::Complete(done) => {
                println!(
                    "{}: the run is complete ({} epochs, test accuracy {}); nothing to resume",
                    dir.display(),
                    done.epochs_completed,
                    done.final_test_accuracy
                        .map_or("none".to_string(), |a| format!("{a:.4}"))
                );
                return Ok(());
            }
        },
        None => {
            let out = args
                .out
                .as_ref()
                .expect("clap requires --out without --resume");
            let start = args
                .choices
                .training
                .init_from
                .as_ref()
                .map(Start::open)
                .transpose()?;
            let data = (args.data.data.as_deref(), args.data.data_dir.as_deref());
            let settings = RunSettings::resolve(&args.choices, data, start.as_ref())?;
            Run::create(out, settings, start, args.force)?
        }
    };
    if let Some(fault) = args.debug_fault.clone() {
        run.inject_fault(fault);
    }
    let device = args.device.device()?;
    let mut hooks = Terminal {
        stop: Arc::new(AtomicBool::new(false)),
        stop_after: args.debug_stop_after,
        batches: 0,
        progress: Progress::default(),
    };
    run.execute(&device, &mut hooks)?;
    Ok(())
}

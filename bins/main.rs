//! `neuropos`: train and evaluate spatially embedded networks.

mod bench;
mod common;
mod eval;
mod export;
mod figures;
mod predict;
mod prune;
mod pull;
mod push;
mod sweep;
mod train;
mod viewer;
mod viz;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "neuropos",
    version,
    about = "Spatially embedded neural networks: train neuron positions, not weight matrices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (on MNIST, or on any `--data`) and write a checkpoint directory.
    Train(Box<train::TrainArgs>),
    /// Score checkpoints on the test set of the data they were trained on (or `--data` of the
    /// same shape), optionally across pruning levels.
    Eval(eval::EvalArgs),
    /// Time training steps (or inference) on real batches (MNIST, or `--data`); prints one
    /// JSON line.
    Bench(bench::BenchArgs),
    /// Copy a checkpoint from the Hugging Face Hub (hf://owner/repo[@revision][/subdir]) into a
    /// directory, validated first.
    Pull(pull::PullArgs),
    /// Publish a checkpoint directory to a Hugging Face Hub model repository in one commit
    /// (config.json, model.safetensors, its model card README.md, metrics.jsonl and, where
    /// present, pruning.json and model.nir).
    Push(push::PushArgs),
    /// Classify images (PNG, JPEG, or a directory of them) with a checkpoint, shaped to its
    /// input and named by its classes.
    Predict(predict::PredictArgs),
    /// Write a checkpoint in another form: dense weight matrices (safetensors, Linear's layout),
    /// C source for a microcontroller, or a NIR graph (spiking networks).
    Export(export::ExportArgs),
    /// Write a pruned copy of a checkpoint (its mask stored), optionally compensated and
    /// fine-tuned with the mask fixed.
    Prune(Box<prune::PruneArgs>),
    /// Run a spec of trainings (a table or figure of the paper) over seeds, locally, as a
    /// Slurm job array or through GNU parallel, and summarise them beside the paper.
    Sweep(Box<sweep::SweepArgs>),
    /// Draw a network: its neurons at their positions, coloured by their activity for one
    /// digit (the paper's Fig. 6), or the learned z per layer (Fig. 4b).
    Viz(viz::VizArgs),
}

fn main() -> std::process::ExitCode {
    common::init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("{}", common::shortened_words(&e.render().to_string()));
            return std::process::ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Pull(args) => pull::run(args),
        Command::Push(args) => push::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Export(args) => export::run(args),
        Command::Prune(args) => prune::run(*args),
        Command::Sweep(args) => sweep::run(*args),
        Command::Viz(args) => viz::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A message and its causes, never a backtrace: RUST_BACKTRACE in the user's
            // environment is for panics, and a user error is not one.
            eprintln!("Error: {}", common::shortened_words(&e.to_string()));
            let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
            if !causes.is_empty() {
                eprintln!("\nCaused by:");
                for (i, c) in causes.iter().enumerate() {
                    eprintln!("    {i}: {}", common::shortened_words(c));
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}

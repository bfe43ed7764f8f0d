//! A card's reproduce command: the architecture flags written for a checkpoint's configuration
//! parse, through `train`'s own clap flags, back into that configuration — for every choice that
//! differs from its default, not only the zoo's.

use clap::Parser;
use neuropos_models::config::{Activation, CoordLayout, WeightScale};
use neuropos_models::encoder::Encoder;
use neuropos_models::layers::lif::{Readout, Reset, Surrogate};
use neuropos_models::run::{architecture_flags, config_from_choices};
use neuropos_models::run::{ArchitectureChoices, TrainingChoices};
use neuropos_models::{Config, ModelKind};

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    architecture: ArchitectureChoices,
    #[command(flatten)]
    training: TrainingChoices,
}

fn rebuilt(config: &Config, initialisation: bool) -> (Vec<String>, Config) {
    let flags = architecture_flags(config, initialisation);
    let parsed = Flags::try_parse_from(std::iter::once("train".to_string()).chain(flags.clone()))
        .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
    let config = config_from_choices(&parsed.architecture, &parsed.training, &[28, 28], 10)
        .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
    (flags, config)
}

/// Baselines carry `train`'s dim of 3 (unused by them), as the zoo's do.
fn configs() -> Vec<Config> {
    let mut out = vec![
        Config::mnist(ModelKind::Mlp3d, &[2048], 3),
        Config::mnist(ModelKind::Mlp, &[14], 3),
        Config::mnist(ModelKind::Snn3d, &[2048], 3),
    ];
    let mut gaps = Config::mnist(ModelKind::Mlp3dGaps, &[64, 32], 5);
    gaps.weight_scale = WeightScale::Learned;
    gaps.steepness = 7.5;
    gaps.init.coord_half_width = 3.25;
    gaps.init.inhibition_half_width = 0.2;
    gaps.init.layout = CoordLayout::Grid;
    gaps.activation = Activation::Tanh;
    out.push(gaps);
    let mut mlp = Config::mnist(ModelKind::Mlp, &[17], 3);
    mlp.activation = Activation::Sigmoid;
    out.push(mlp);
    let mut snn = Config::mnist(ModelKind::Snn3dRelaxed, &[100], 4);
    let lif = snn.lif.as_mut().unwrap();
    lif.time_steps = 10;
    lif.encoder = Encoder::Rate { gain: 2.5 };
    lif.readout = Readout::Membrane;
    lif.reset = Reset::Zero;
    lif.beta = 0.9;
    lif.threshold = 0.75;
    lif.surrogate = Surrogate::FastSigmoid { slope: 30.0 };
    out.push(snn);
    let mut snn = Config::mnist(ModelKind::Snn, &[14], 3);
    let lif = snn.lif.as_mut().unwrap();
    lif.surrogate = Surrogate::Arctan { alpha: 3.0 };
    lif.encoder = Encoder::Latency {
        threshold: 0.05,
        linear: true,
    };
    out.push(snn);
    out
}

#[test]
fn architecture_flags_build_the_same_configuration_again() {
    for config in configs() {
        let (flags, again) = rebuilt(&config, true);
        assert_eq!(again, config, "{flags:?}");
        // Only what differs from a default is written: the paper's 3D MLP is `--model mlp3d`.
        if config == Config::mnist(ModelKind::Mlp3d, &[2048], 3) {
            assert_eq!(flags, ["--model", "mlp3d"]);
        }
    }
}

#[test]
fn beside_init_from_the_flags_leave_the_starting_positions_out() {
    let gaps = &configs()[3];
    let (flags, again) = rebuilt(gaps, false);
    for refused in ["--coord-init", "--inhibition-init", "--coord-layout"] {
        assert!(!flags.iter().any(|f| f == refused), "{flags:?}");
    }
    // Everything else still says what the checkpoint is.
    assert_eq!(again.weight_scale, WeightScale::Learned);
    assert_eq!(again.steepness, 7.5);
    assert_eq!(again.hidden(), [64, 32]);
}

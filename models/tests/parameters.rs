//! Parameter counts: the paper's eq. (4) and its tables, counted from the built variables.

use candle_core::{DType, Device};
use candle_nn::VarMap;
use neuropos_models::{Config, ModelKind, Network};

fn built_count(cfg: &Config) -> usize {
    let vars = VarMap::new();
    Network::seeded(cfg, &vars, 0, DType::F32, &Device::Cpu).unwrap();
    vars.all_vars().iter().map(|v| v.elem_count()).sum()
}

#[test]
fn paper_table_parameter_counts() {
    let cases = [
        (ModelKind::Mlp3d, vec![2048], 10_574),
        (ModelKind::Mlp3dGaps, vec![2048], 10_576),
        (ModelKind::Mlp3dRelaxed, vec![2048], 13_416),
        (ModelKind::Mlp, vec![14], 11_140),
        (ModelKind::Mlp, vec![17], 13_525),
        (ModelKind::Mlp, vec![2048], 1_628_170),
        (ModelKind::Snn3d, vec![2048], 10_574),
        (ModelKind::Snn3dGaps, vec![2048], 10_576),
        (ModelKind::Snn3dRelaxed, vec![2048], 13_416),
        (ModelKind::Snn, vec![14], 11_140),
        (ModelKind::Snn, vec![2048], 1_628_170),
    ];
    for (kind, hidden, expected) in cases {
        let cfg = Config::mnist(kind, &hidden, 3);
        assert_eq!(
            cfg.parameter_count(),
            expected,
            "{} formula",
            cfg.describe()
        );
        assert_eq!(built_count(&cfg), expected, "{} built", cfg.describe());
    }
}

#[test]
fn deep_higher_dimensional_counts_follow_eq_4() {
    let hidden = [512, 512, 256];
    let n = [784usize, 512, 512, 256, 10];
    let all: usize = n.iter().sum();
    let biases: usize = n[1..].iter().sum();
    let inhibition: usize = n[..4].iter().sum();
    for dim in [2, 5, 8, 16, 32] {
        let base = (dim - 1) * all + biases + inhibition;
        for (kind, expected) in [
            (ModelKind::Mlp3d, base),
            (ModelKind::Mlp3dGaps, base + 4),
            (ModelKind::Mlp3dRelaxed, base + all),
        ] {
            let cfg = Config::mnist(kind, &hidden, dim);
            assert_eq!(
                cfg.parameter_count(),
                expected,
                "{} formula",
                cfg.describe()
            );
            assert_eq!(built_count(&cfg), expected, "{} built", cfg.describe());
        }
    }
    let baseline = Config::mnist(ModelKind::Mlp, &hidden, 3);
    let expected = 784 * 512 + 512 * 512 + 512 * 256 + 256 * 10 + biases;
    assert_eq!(baseline.parameter_count(), expected);
    assert_eq!(built_count(&baseline), expected);
}

#[test]
fn invalid_configurations_are_errors() {
    let mut cfg = Config::mnist(ModelKind::Mlp3d, &[16], 1);
    assert!(cfg.validate().is_err(), "d = 1 has no free coordinate");
    cfg.dim = 3;
    cfg.layers = vec![784];
    assert!(cfg.validate().is_err());
    cfg.layers = vec![784, 0, 10];
    assert!(cfg.validate().is_err());
    cfg.layers = vec![784, 8, 10];
    cfg.steepness = f64::NAN;
    assert!(cfg.validate().is_err());
    let vars = VarMap::new();
    assert!(Network::seeded(&cfg, &vars, 0, DType::F32, &Device::Cpu).is_err());
}

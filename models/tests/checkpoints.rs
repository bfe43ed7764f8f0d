//! Checkpoint round trips are bit-exact; corrupted files are errors, never panics.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use neuropos_models::checkpoint::{self, CheckpointInfo, MODEL_FILE};
use neuropos_models::{Config, ModelKind, Network};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;

fn saved(dir: &Path, kind: ModelKind) -> (Network, VarMap) {
    let cfg = Config::mnist(kind, &[24, 12], 4);
    let vars = VarMap::new();
    let net = Network::seeded(&cfg, &vars, 11, DType::F32, &Device::Cpu).unwrap();
    checkpoint::save(dir, &vars, &CheckpointInfo::new(&cfg, None)).unwrap();
    (net, vars)
}

fn sorted_values(vars: &VarMap) -> Vec<(String, Vec<u32>)> {
    let data = vars.data().lock().unwrap();
    let mut out: Vec<_> = data
        .iter()
        .map(|(k, v)| {
            let bits = v
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect();
            (k.clone(), bits)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn round_trip_is_bit_exact_with_identical_logits() {
    for kind in [
        ModelKind::Mlp3d,
        ModelKind::Mlp3dGaps,
        ModelKind::Mlp3dRelaxed,
        ModelKind::Mlp,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (net, vars) = saved(dir.path(), kind);
        let loaded = checkpoint::load(dir.path(), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(sorted_values(&vars), sorted_values(&loaded.vars), "{kind}");
        assert_eq!(&loaded.info.model, net.config());
        let x = Tensor::rand(0f32, 1.0, (5, 784), &Device::Cpu).unwrap();
        let a = net
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = loaded
            .network
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b, "{kind}: logits differ after the round trip");
        // The lone .safetensors file describes itself, and config.json says the same.
        let lone = checkpoint::read(&dir.path().join(MODEL_FILE)).unwrap();
        let json: CheckpointInfo =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(lone.info, json);
        // Saving again over it gives the same bytes.
        let before = std::fs::read(dir.path().join(MODEL_FILE)).unwrap();
        checkpoint::save(dir.path(), &loaded.vars, &loaded.info).unwrap();
        assert_eq!(before, std::fs::read(dir.path().join(MODEL_FILE)).unwrap());
    }
}

/// Loads `bytes` as a checkpoint and reports whether it failed; a panic fails the test.
fn load_fails(dir: &Path, bytes: &[u8]) -> bool {
    let file = dir.join("probe.safetensors");
    std::fs::write(&file, bytes).unwrap();
    let result =
        std::panic::catch_unwind(|| checkpoint::load(&file, DType::F32, &Device::Cpu).map(|_| ()));
    match result {
        Ok(r) => {
            if let Err(e) = &r {
                let msg = e.to_string();
                assert!(
                    msg.contains("probe.safetensors"),
                    "error does not name the file: {msg}"
                );
            }
            r.is_err()
        }
        Err(_) => panic!("loading a corrupted checkpoint panicked"),
    }
}

fn rewrite(dir: &Path, edit: impl FnOnce(&mut HashMap<String, Tensor>)) -> Vec<u8> {
    let ckpt = checkpoint::read(dir).unwrap();
    let mut tensors = ckpt.tensors.clone();
    edit(&mut tensors);
    let meta = HashMap::from([(
        checkpoint::METADATA_KEY.to_string(),
        serde_json::to_string(&ckpt.info).unwrap(),
    )]);
    safetensors::serialize(&tensors, Some(meta)).unwrap()
}

#[test]
fn corrupted_checkpoints_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path(), ModelKind::Mlp3dRelaxed);
    let good = std::fs::read(dir.path().join(MODEL_FILE)).unwrap();
    assert!(!load_fails(dir.path(), &good), "the intact file must load");

    for cut in [0, 4, 8, 20, good.len() / 2, good.len() - 1] {
        assert!(
            load_fails(dir.path(), &good[..cut]),
            "truncated to {cut} bytes"
        );
    }
    let missing = rewrite(dir.path(), |t| {
        t.remove("layers.1.z");
    });
    assert!(load_fails(dir.path(), &missing), "missing tensor");
    let wrong_shape = rewrite(dir.path(), |t| {
        t.insert(
            "layers.0.coords".into(),
            Tensor::zeros((784, 2), DType::F32, &Device::Cpu).unwrap(),
        );
    });
    assert!(load_fails(dir.path(), &wrong_shape), "wrong shape");
    let nan = rewrite(dir.path(), |t| {
        let mut v = t["layers.2.bias"].to_vec1::<f32>().unwrap();
        v[3] = f32::NAN;
        t.insert(
            "layers.2.bias".into(),
            Tensor::new(v, &Device::Cpu).unwrap(),
        );
    });
    assert!(load_fails(dir.path(), &nan), "NaN value");
    let extra = rewrite(dir.path(), |t| {
        t.insert(
            "stray".into(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
        );
    });
    assert!(load_fails(dir.path(), &extra), "unexpected tensor");

    // Random mutations of the header (its length prefix and JSON) must never panic; most
    // must fail, and any that still loads must have passed every validation.
    let header_len = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut rng = StdRng::seed_from_u64(1);
    let mut failures = 0;
    for _ in 0..300 {
        let mut bytes = good.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..header_len);
            bytes[at] = rng.random();
        }
        if load_fails(dir.path(), &bytes) {
            failures += 1;
        }
    }
    assert!(
        failures > 200,
        "only {failures}/300 header mutations were rejected"
    );
}

#[test]
fn a_completed_save_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path(), ModelKind::Mlp3d);
    saved(dir.path(), ModelKind::Mlp3d);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

/// Where [`save_forever`] writes, set only when [`a_save_killed_midway_leaves_a_whole_checkpoint`]
/// runs this test binary as its child.
const SAVE_DIR: &str = "NEUROPOS_TEST_SAVE_FOREVER_DIR";

/// Two checkpoints of one 784-2048-10 baseline (6.5 MB, so a save takes a while) that differ in
/// every tensor: seeds 1 and 2.
fn alternating_checkpoint(seed: u64) -> (Config, VarMap) {
    let cfg = Config::mnist(ModelKind::Mlp, &[2048], 3);
    let vars = VarMap::new();
    Network::seeded(&cfg, &vars, seed, DType::F32, &Device::Cpu).unwrap();
    (cfg, vars)
}

/// The child: saves the two checkpoints in turn into one directory until it is killed.
#[test]
#[ignore = "runs only as the child process of a_save_killed_midway_leaves_a_whole_checkpoint"]
fn save_forever() {
    let Some(dir) = std::env::var_os(SAVE_DIR) else {
        return;
    };
    let both = [alternating_checkpoint(1), alternating_checkpoint(2)];
    for round in 0.. {
        let (cfg, vars) = &both[round % 2];
        checkpoint::save(Path::new(&dir), vars, &CheckpointInfo::new(cfg, None)).unwrap();
    }
}

#[test]
fn a_save_killed_midway_leaves_a_whole_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let both = [alternating_checkpoint(1), alternating_checkpoint(2)];
    let expected: Vec<_> = both.iter().map(|(_, vars)| sorted_values(vars)).collect();
    // A checkpoint to start from, as a training run has after its first epoch.
    checkpoint::save(
        dir.path(),
        &both[0].1,
        &CheckpointInfo::new(&both[0].0, None),
    )
    .unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let mut seen = [false; 2];
    for kill in 0..12 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "save_forever",
                "--exact",
                "--ignored",
                "--test-threads",
                "1",
            ])
            .env(SAVE_DIR, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Long enough for the child to start and be anywhere in a save (writing, syncing,
        // renaming) when it is killed.
        std::thread::sleep(std::time::Duration::from_millis(rng.random_range(150..900)));
        child.kill().unwrap(); // SIGKILL on Unix: no destructor, no cleanup runs.
        child.wait().unwrap();
        let loaded = checkpoint::load(dir.path(), DType::F32, &Device::Cpu)
            .unwrap_or_else(|e| panic!("kill {kill}: the checkpoint does not load: {e}"));
        let values = sorted_values(&loaded.vars);
        let which = expected.iter().position(|e| *e == values);
        let which = which.unwrap_or_else(|| panic!("kill {kill}: neither checkpoint survived"));
        seen[which] = true;
    }
    // The kills landed at different points of the alternation, or this proved little.
    assert!(
        seen[0] && seen[1],
        "only one of the checkpoints was ever found: {seen:?}"
    );
}

/// The metadata of `dir`'s checkpoint with its model's layers replaced, over the same tensors.
fn with_layers(dir: &Path, layers: Vec<usize>) -> Vec<u8> {
    let ckpt = checkpoint::read(dir).unwrap();
    let mut info = ckpt.info.clone();
    info.model.layers = layers;
    info.params = info.model.parameter_count();
    let meta = HashMap::from([(
        checkpoint::METADATA_KEY.to_string(),
        serde_json::to_string(&info).unwrap(),
    )]);
    safetensors::serialize(&ckpt.tensors, Some(meta)).unwrap()
}

#[test]
fn a_configuration_claiming_more_than_the_file_holds_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path(), ModelKind::Mlp3d);
    let file = dir.path().join("probe.safetensors");
    // 16M hidden neurons would take ~200 MB of positions to instantiate; the file holds a few
    // kilobytes, which the loader sees first.
    std::fs::write(&file, with_layers(dir.path(), vec![784, 1 << 24, 10])).unwrap();
    let err = checkpoint::load(&file, DType::F32, &Device::Cpu)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("probe.safetensors") && err.contains("hold"),
        "{err}"
    );
    // 10^12 neurons: refused by the configuration's own bounds (no overflow on the way).
    std::fs::write(&file, {
        let ckpt = checkpoint::read(dir.path()).unwrap();
        let mut info = serde_json::to_value(&ckpt.info).unwrap();
        info["model"]["layers"] = serde_json::json!([784, 1_000_000_000_000u64, 10]);
        let meta = HashMap::from([(checkpoint::METADATA_KEY.to_string(), info.to_string())]);
        safetensors::serialize(&ckpt.tensors, Some(meta)).unwrap()
    })
    .unwrap();
    let err = checkpoint::load(&file, DType::F32, &Device::Cpu)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("at most"), "{err}");
}

#[test]
fn a_config_json_that_disagrees_with_the_metadata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path(), ModelKind::Mlp3d);
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"steepness\": 10.0", "\"steepness\": 3.0"),
    )
    .unwrap();
    let err = checkpoint::load(dir.path(), DType::F32, &Device::Cpu)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("disagrees"),
        "{err}"
    );
    std::fs::write(&path, "{ not json").unwrap();
    let err = checkpoint::load(dir.path(), DType::F32, &Device::Cpu)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("not a valid"),
        "{err}"
    );
    // The lone .safetensors file still loads: it describes itself.
    checkpoint::load(&dir.path().join(MODEL_FILE), DType::F32, &Device::Cpu).unwrap();
}

/// A save killed mid-write leaves its temporary; the next write into the directory removes it
/// once its writer is gone, and never one whose writer still runs.
#[cfg(target_os = "linux")]
#[test]
fn temporaries_of_killed_saves_are_removed_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let orphan = dir.path().join(".tmp-999999999-abc");
    let live = dir.path().join(format!(".tmp-{}-xyz", std::process::id()));
    std::fs::write(&orphan, b"half a checkpoint").unwrap();
    std::fs::write(&live, b"being written").unwrap();
    neuropos_models::checkpoint::write_atomically(&dir.path().join("f.json"), b"{}").unwrap();
    assert!(!orphan.exists(), "the killed save's temporary stayed");
    assert!(live.exists(), "a running writer's temporary was removed");
}

//! A spiking network as a NIR graph (github.com/neuromorphs/NIR), the exchange format snnTorch,
//! Norse, Sinabs, Rockpool, Spyx, Lava-DL and SpiNNaker2's tools read: an `Input` node, per
//! synapse layer an `Affine` (the synthesised dense weights `[out, in]` with the inhibition
//! mask folded in and pruned weights 0, and the bias), per LIF layer a `LIF`, an `Output`, the
//! edges, and the conventions in the graph's metadata.
//!
//! Our neurons run in discrete time, `m ← β·m + I`; NIR's LIF is continuous,
//! `τ·dv/dt = (v_leak − v) + R·I`. As snnTorch's own exporter maps them: `dt = 1e-4`,
//! `τ = dt/(1 − β)`, `R = τ/dt` (so the input enters unscaled), `v_leak = 0`, `v_threshold` the
//! threshold, `v_reset = 0`. NIR's LIF resets to `v_reset` at the step it spikes — our
//! `--reset zero`; a network trained with the default subtraction runs differently there
//! ([`NirExport::warning`]).

use candle_core::Tensor;
use hdf5_pure::FileBuilder;

use crate::checkpoint::Loaded;
use crate::layers::lif::{Readout, Reset};
use crate::{Error, Result};

/// The time step the graph's time constants are written for (snnTorch's exporter and importer
/// use it; only `dt/τ` matters).
pub const DT: f64 = 1e-4;

/// The NIR format version the file follows.
const NIR_VERSION: &str = "1.0";

/// A NIR file's bytes, and what a user should know about it.
#[derive(Debug, Clone)]
pub struct NirExport {
    pub bytes: Vec<u8>,
    /// Set when the graph will not run as the network does (the subtract reset).
    pub warning: Option<String>,
}

/// One node of the graph.
enum Node {
    Input(usize),
    Affine {
        weight: Vec<f32>,
        shape: [usize; 2],
        bias: Vec<f32>,
    },
    Lif {
        n: usize,
        beta: f64,
        threshold: f64,
    },
    Output(usize),
}

fn host_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(crate::device::host_f64(&t.flatten_all()?)?
        .into_iter()
        .map(|x| x as f32)
        .collect())
}

/// `loaded` (a spiking network of any kind) as a NIR graph.
pub fn export_nir(loaded: &Loaded) -> Result<NirExport> {
    let network = &loaded.network;
    let config = network.config();
    let Some(lif) = config.lif else {
        return Err(Error::Config(format!(
            "{}: NIR export writes spiking networks; an MLP has no LIF layers to write",
            config.describe()
        )));
    };
    let layers = &config.layers;
    let mut nodes = vec![("input".to_string(), Node::Input(layers[0]))];
    let weights = network.effective_weights()?;
    let vars = loaded
        .vars
        .data()
        .lock()
        .map_err(|_| Error::Config("variable map poisoned".into()))?;
    for (c, w) in weights.iter().enumerate() {
        let (out, inp) = w.dims2()?;
        let bias_name = network.bias_name(c);
        let bias = vars
            .get(&bias_name)
            .ok_or_else(|| Error::Config(format!("no variable {bias_name}")))?;
        nodes.push((
            format!("affine{c}"),
            Node::Affine {
                weight: host_f32(w)?,
                shape: [out, inp],
                bias: host_f32(bias.as_tensor())?,
            },
        ));
        nodes.push((
            format!("lif{}", c + 1),
            Node::Lif {
                n: out,
                beta: lif.beta,
                threshold: lif.threshold,
            },
        ));
    }
    nodes.push(("output".into(), Node::Output(layers[layers.len() - 1])));
    let edges: Vec<[&str; 2]> = nodes
        .windows(2)
        .map(|pair| [pair[0].0.as_str(), pair[1].0.as_str()])
        .collect();
    let readout = match lif.readout {
        Readout::Count => {
            "count: the class with the most output spikes over the time steps, a tie to the \
             larger summed output membrane (after each step's reset)"
        }
        Readout::Membrane => "membrane: the class with the largest summed output membrane",
    };
    let reset = match lif.reset {
        Reset::Zero => "zero: the membrane is set to 0 at the step it spikes, as NIR's LIF",
        Reset::Subtract => {
            "subtract: trained with the threshold subtracted at the next step (snnTorch's \
             Leaky default); NIR's LIF resets to v_reset = 0, so this graph does not run as \
             the network was trained"
        }
    };
    let metadata = [
        ("source", format!("neuropos {}", env!("CARGO_PKG_VERSION"))),
        ("network", config.describe()),
        ("dt", DT.to_string()),
        ("time_steps", lif.time_steps.to_string()),
        (
            "input_encoding",
            format!(
                "{}: feed the image (pixels in [0, 1], flattened) as the input at every one of \
                 the time steps{}",
                lif.encoder,
                if lif.encoder.is_direct() {
                    ""
                } else {
                    ", after encoding it as neuropos's encoder does"
                }
            ),
        ),
        ("readout", readout.to_string()),
        ("reset", reset.to_string()),
    ];
    let bytes = write(&nodes, &edges, &metadata)?;
    let warning = lif.reset.is_subtract().then(|| {
        format!(
            "{} resets its neurons by subtracting the threshold; NIR's LIF (and snnTorch's \
             importer) resets them to 0, so the exported graph will not score as the network \
             does (see docs/interop.md for the measured gap); train with --reset zero for a \
             graph that runs the same",
            config.describe()
        )
    });
    Ok(NirExport { bytes, warning })
}

fn nir_error(e: hdf5_pure::Error) -> Error {
    Error::Config(format!("writing the NIR file: {e}"))
}

fn format_error(e: hdf5_pure::FormatError) -> Error {
    Error::Config(format!("writing the NIR file: {e}"))
}

/// The graph as NIR's HDF5 layout: `/version`, and under `/node` the graph's `type`, its
/// `nodes` (a group each), `edges` (`[E, 2]` strings) and `metadata`.
fn write(
    nodes: &[(String, Node)],
    edges: &[[&str; 2]],
    metadata: &[(&str, String)],
) -> Result<Vec<u8>> {
    let mut file = FileBuilder::new();
    file.create_dataset("version")
        .with_strings(&[NIR_VERSION])
        .map_err(format_error)?
        .with_shape(&[]);
    let mut graph = file.create_group("node");
    graph
        .create_dataset("type")
        .with_strings(&["NIRGraph"])
        .map_err(format_error)?
        .with_shape(&[]);
    let mut group = graph.create_group("nodes");
    for (name, node) in nodes {
        let mut g = group.create_group(name);
        let kind = match node {
            Node::Input(_) => "Input",
            Node::Affine { .. } => "Affine",
            Node::Lif { .. } => "LIF",
            Node::Output(_) => "Output",
        };
        g.create_dataset("type")
            .with_strings(&[kind])
            .map_err(format_error)?
            .with_shape(&[]);
        match node {
            Node::Input(n) | Node::Output(n) => {
                g.create_dataset("shape").with_i64_data(&[*n as i64]);
            }
            Node::Affine {
                weight,
                shape,
                bias,
            } => {
                g.create_dataset("weight")
                    .with_f32_data(weight)
                    .with_shape(&[shape[0] as u64, shape[1] as u64]);
                g.create_dataset("bias").with_f32_data(bias);
            }
            Node::Lif { n, beta, threshold } => {
                let tau = DT / (1.0 - beta);
                let constant = |v: f64| vec![v as f32; *n];
                g.create_dataset("tau").with_f32_data(&constant(tau));
                g.create_dataset("r").with_f32_data(&constant(tau / DT));
                g.create_dataset("v_leak").with_f32_data(&constant(0.0));
                g.create_dataset("v_threshold")
                    .with_f32_data(&constant(*threshold));
                g.create_dataset("v_reset").with_f32_data(&constant(0.0));
            }
        }
        group.add_group(g.finish());
    }
    graph.add_group(group.finish());
    let flat: Vec<&str> = edges.iter().flatten().copied().collect();
    graph
        .create_dataset("edges")
        .with_strings(&flat)
        .map_err(format_error)?
        .with_shape(&[edges.len() as u64, 2]);
    let mut meta = graph.create_group("metadata");
    for (key, value) in metadata {
        meta.create_dataset(key)
            .with_strings(&[value.as_str()])
            .map_err(format_error)?
            .with_shape(&[]);
    }
    graph.add_group(meta.finish());
    file.add_group(graph.finish());
    file.finish().map_err(nir_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_holds_the_graph_nir_reads() {
        let nodes = vec![
            ("input".to_string(), Node::Input(3)),
            (
                "affine0".to_string(),
                Node::Affine {
                    weight: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                    shape: [2, 3],
                    bias: vec![0.5, -0.5],
                },
            ),
            (
                "lif1".to_string(),
                Node::Lif {
                    n: 2,
                    beta: 0.95,
                    threshold: 1.0,
                },
            ),
            ("output".to_string(), Node::Output(2)),
        ];
        let edges = [
            ["input", "affine0"],
            ["affine0", "lif1"],
            ["lif1", "output"],
        ];
        let bytes = write(&nodes, &edges, &[("dt", "0.0001".into())]).unwrap();
        let file = hdf5_pure::File::from_bytes(bytes).unwrap();
        let weight = file.dataset("node/nodes/affine0/weight").unwrap();
        assert_eq!(weight.shape().unwrap(), vec![2, 3]);
        assert_eq!(
            weight.read_f32().unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        let tau = file
            .dataset("node/nodes/lif1/tau")
            .unwrap()
            .read_f32()
            .unwrap();
        assert!((tau[0] as f64 - 0.002).abs() < 1e-9, "{tau:?}");
        assert_eq!(
            file.dataset("node/edges").unwrap().shape().unwrap(),
            vec![3, 2]
        );
    }
}

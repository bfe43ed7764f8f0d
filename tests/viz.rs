//! `neuropos viz`: the paper's Fig. 6 and Fig. 4b from shipped checkpoints, and its refusals.

mod support;
use support::neuropos;

#[test]
fn viz_draws_every_layer_of_an_embedded_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| neuropos(args);
    let zoo = concat!(env!("CARGO_MANIFEST_DIR"), "/checkpoints");
    for (ckpt, file, extra) in [
        ("mlp3d", "mlp3d.png", vec!["--wires", "10"]),
        ("mlp5d", "mlp5d.svg", vec![]),
        ("snn3d", "snn3d.png", vec![]),
        ("mlp3d-relaxed", "z.png", vec!["--z-hist"]),
    ] {
        let out = tmp.path().join(file);
        let mut args = vec![
            "viz".to_string(),
            format!("{zoo}/{ckpt}"),
            "--digit".into(),
            "3".into(),
            "--out".into(),
            out.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if file.ends_with(".png") {
            let img = image::open(&out).unwrap().to_rgb8();
            let coloured = img
                .pixels()
                .filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 60)
                .count();
            assert!(coloured > 1000, "{file}: {coloured} coloured pixels");
        } else {
            let svg = std::fs::read_to_string(&out).unwrap();
            // 784 + 2048 + 10 neurons, each a circle.
            assert!(svg.matches("<circle").count() >= 2842, "{file}");
            assert!(svg.contains("predicted"), "{file}");
        }
    }
    for (args, says) in [
        (
            vec!["viz", &format!("{zoo}/mlp-h14"), "--out", "x.png"],
            "baseline",
        ),
        (
            vec![
                "viz",
                &format!("{zoo}/mlp3d"),
                "--digit",
                "12",
                "--out",
                "x.png",
            ],
            "0 to 9",
        ),
        (
            vec!["viz", &format!("{zoo}/mlp3d"), "--out", "x.gif"],
            ".png or an .svg",
        ),
    ] {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(says), "{args:?}: {err}");
    }
}

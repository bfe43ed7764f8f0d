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

/// The page's inlined data, parsed.
fn page_data(html: &str) -> serde_json::Value {
    let open = r#"<script id="neuropos-data" type="application/json">"#;
    let start = html.find(open).expect("the data element") + open.len();
    let end = start + html[start..].find("</script>").expect("its end");
    serde_json::from_str(&html[start..end]).expect("JSON data")
}

#[test]
fn viewer_page_is_self_contained_and_carries_evals_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let zoo = concat!(env!("CARGO_MANIFEST_DIR"), "/checkpoints");
    // d = 5: the free coordinates are drawn on their principal plane.
    let ckpt = format!("{zoo}/mlp5d");
    let page = tmp.path().join("mlp5d.html");
    let o = neuropos(&[
        "viz",
        &ckpt,
        "--html",
        page.to_str().unwrap(),
        "--images",
        "5",
        "--levels",
        "50,0",
        "--test-limit",
        "500",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    // Nothing to fetch when it opens: no external script, style, image or font.
    for needle in [
        "src=\"http",
        "href=\"http",
        "<link",
        "@import",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!html.contains(needle), "the page refers to {needle}");
    }
    assert!(html.len() < 400_000, "{} bytes", html.len());
    let data = page_data(&html);
    assert_eq!(data["projection"], "pca");
    let layers = data["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    use base64::Engine;
    let decode = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let inputs = 10 + 5;
    for (layer, n) in layers.iter().zip([784usize, 2048, 10]) {
        assert_eq!(layer["n"], n);
        assert_eq!(decode(&layer["positions"]).len(), n * 5 * 4);
        assert_eq!(decode(&layer["view"]).len(), n * 3 * 4);
        if n != 784 {
            assert_eq!(decode(&layer["activity"]).len(), n * inputs);
            assert_eq!(decode(&layer["bias"]).len(), n * 4);
        }
        if n != 10 {
            assert_eq!(decode(&layer["mask"]).len(), n * 4);
        }
    }
    assert_eq!(decode(&data["inputs"]["pixels"]).len(), inputs * 784);
    // The levels sorted; the accuracies are eval's, for both rankings.
    let pruning = &data["pruning"];
    assert_eq!(pruning["levels"], serde_json::json!([0.0, 50.0]));
    for (k, rank) in ["distance", "effective"].iter().enumerate() {
        let o = neuropos(&[
            "eval",
            &ckpt,
            "--prune",
            "0,50",
            "--rank",
            rank,
            "--test-limit",
            "500",
            "--format",
            "json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let r = &pruning["ranks"][k];
        assert_eq!(r["rank"], *rank);
        for level in 0..2 {
            assert_eq!(
                r["accuracy"][level], rows[level]["accuracy"],
                "{rank} {level}"
            );
            assert_eq!(
                r["kept"][level], rows[level]["kept_weights"],
                "{rank} {level}"
            );
        }
        assert_eq!(r["predicted"][0].as_array().unwrap().len(), inputs);
    }
    // The ranking thresholds grow with the level.
    let t = &pruning["ranks"][0]["thresholds"];
    assert!(t[1][0].as_f64().unwrap() > t[0][0].as_f64().unwrap());

    for (args, says) in [
        (
            vec!["viz", &format!("{zoo}/mlp-h14"), "--html", "x.html"],
            "baseline",
        ),
        (vec!["viz", &ckpt, "--html", "x.txt"], ".html"),
        (
            vec!["viz", &ckpt, "--html", "x.html", "--wires", "3"],
            "cannot be used with",
        ),
        (
            vec!["viz", &ckpt, "--out", "x.png", "--images", "3"],
            "--html",
        ),
        (vec!["viz", &ckpt], "--out"),
    ] {
        let o = neuropos(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(says), "{args:?}: {err}");
    }
}

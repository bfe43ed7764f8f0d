//! Image files to network inputs (`neuropos predict`, or a library user of
//! `Network::from_pretrained`): decoded by their bytes (PNG, JPEG), transparency composited, and
//! either resized to the input shape as they are, or prepared as MNIST prepared its digits —
//! the background removed, the ink's bounding box scaled to 20 × 20 (aspect kept) and centred by
//! its centre of mass in 28 × 28. A light background is detected and inverted (MNIST has light
//! ink on black). What was done is said, so a surprising class can be explained.

use image::imageops::FilterType;
use image::{GrayImage, Luma};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// How an image is brought to the network's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preprocess {
    /// MNIST's own: background removed, the ink scaled into 20 × 20, centred by mass in 28 × 28.
    Mnist,
    /// Resized to the input shape as it is.
    None,
}
crate::names::serde_named!(
    Preprocess,
    "preprocessing",
    [Preprocess::Mnist, Preprocess::None]
);

/// Whether to turn dark ink on a light background into light ink on black.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Invert {
    /// When the image's border is light.
    Auto,
    Yes,
    No,
}
crate::names::serde_named!(Invert, "inversion", [Invert::Auto, Invert::Yes, Invert::No]);

/// An image as the network's input, and what was done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `H·W·C` values in [0, 1], row-major, channels last.
    pub pixels: Vec<f32>,
    pub inverted: bool,
    /// In words: "inverted (light background)", "ink box 120×180 scaled to 13×20, centred by
    /// mass", …
    pub notes: Vec<String>,
}

/// The MNIST digit box and frame.
const BOX: u32 = 20;
const FRAME: u32 = 28;

/// The image files `paths` name: files as given, directories' PNG and JPEG files in name order.
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
            })
            .collect();
        if found.is_empty() {
            return Err(Error::data(path, "no PNG or JPEG image in this directory"));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// `path` as the input of a network that takes images of `shape` (`[H, W]` or `[H, W, C]`).
pub fn read_image(
    path: &Path,
    shape: &[usize],
    how: Preprocess,
    invert: Invert,
) -> Result<Prepared> {
    let unreadable =
        |e: String| Error::data(path, format!("not a readable PNG or JPEG image ({e})"));
    // The format from the file's first bytes, not its name: a JPEG called .png is a JPEG.
    let decoded = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| unreadable(e.to_string()))?
        .decode()
        .map_err(|e| unreadable(e.to_string()))?;
    let (h, w, c) = match shape {
        [h, w] => (*h as u32, *w as u32, 1),
        [h, w, c] => (*h as u32, *w as u32, *c),
        _ => return Err(Error::Config(format!("an input shape of {shape:?}"))),
    };
    if c == 3 {
        if how == Preprocess::Mnist {
            return Err(Error::Config(
                "MNIST's preprocessing is for one-channel digits; use --preprocess none".into(),
            ));
        }
        let rgb = image::imageops::resize(&decoded.to_rgb8(), w, h, FilterType::Triangle);
        let inverted = invert == Invert::Yes;
        let pixels = rgb
            .pixels()
            .flat_map(|p| p.0)
            .map(|v| {
                if inverted {
                    1.0 - v as f32 / 255.0
                } else {
                    v as f32 / 255.0
                }
            })
            .collect();
        return Ok(Prepared {
            pixels,
            inverted,
            notes: vec![format!("resized to {w}×{h}")],
        });
    }
    if c != 1 {
        return Err(Error::Config(format!(
            "images of {c} channels: only 1 or 3 are read"
        )));
    }
    let gray = flatten_alpha(&decoded.to_luma_alpha8());
    let mut notes = Vec::new();
    let inverted = match invert {
        Invert::Yes => true,
        Invert::No => false,
        Invert::Auto => border_median(&gray) > 127,
    };
    let gray = if inverted {
        notes.push(match invert {
            Invert::Auto => "inverted (light background)".to_string(),
            _ => "inverted".to_string(),
        });
        GrayImage::from_fn(gray.width(), gray.height(), |x, y| {
            Luma([255 - gray.get_pixel(x, y).0[0]])
        })
    } else {
        gray
    };
    let ready = match how {
        Preprocess::Mnist if (h, w) == (FRAME, FRAME) => mnist_style(&gray, path, &mut notes)?,
        Preprocess::Mnist => {
            return Err(Error::Config(format!(
                "MNIST's preprocessing makes 28×28 digits; this network takes {w}×{h}: use \
                 --preprocess none"
            )))
        }
        Preprocess::None if gray.dimensions() == (w, h) => gray,
        Preprocess::None => {
            notes.push(format!(
                "resized {}×{} to {w}×{h}",
                gray.width(),
                gray.height()
            ));
            image::imageops::resize(&gray, w, h, FilterType::Triangle)
        }
    };
    let pixels = ready.pixels().map(|p| p.0[0] as f32 / 255.0).collect();
    Ok(Prepared {
        pixels,
        inverted,
        notes,
    })
}

/// Transparent pixels composited onto the background that contrasts with the ink: white under
/// dark ink, black under light ink.
fn flatten_alpha(img: &image::GrayAlphaImage) -> GrayImage {
    let (mut ink, mut weight) = (0.0f64, 0.0f64);
    for p in img.pixels() {
        let a = p.0[1] as f64 / 255.0;
        ink += a * p.0[0] as f64;
        weight += a;
    }
    let background = if weight > 0.0 && ink / weight < 128.0 {
        255.0
    } else {
        0.0
    };
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let [v, a] = img.get_pixel(x, y).0;
        let a = a as f64 / 255.0;
        Luma([(a * v as f64 + (1.0 - a) * background).round() as u8])
    })
}

/// The median of the image's outermost pixels: its background.
fn border_median(img: &GrayImage) -> u8 {
    let (w, h) = img.dimensions();
    let mut border: Vec<u8> = img
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x + 1 == w || *y + 1 == h)
        .map(|(_, _, p)| p.0[0])
        .collect();
    border.sort_unstable();
    border.get(border.len() / 2).copied().unwrap_or(0)
}

/// MNIST's preparation of light ink on a dark background: the background level subtracted and
/// faint noise dropped, the ink's bounding box scaled so its longer side is 20 pixels, then
/// placed in 28 × 28 with its centre of mass at the centre.
fn mnist_style(gray: &GrayImage, path: &Path, notes: &mut Vec<String>) -> Result<GrayImage> {
    let background = border_median(gray) as f32;
    let peak = gray.pixels().map(|p| p.0[0]).max().unwrap_or(0) as f32;
    if peak <= background + 16.0 {
        return Err(Error::data(
            path,
            "no ink stands out from the background: no digit to read",
        ));
    }
    let level = |v: u8| ((v as f32 - background) / (peak - background)).clamp(0.0, 1.0);
    // Noise below a fifth of the ink's range is background.
    let clean = GrayImage::from_fn(gray.width(), gray.height(), |x, y| {
        let v = level(gray.get_pixel(x, y).0[0]);
        Luma([if v < 0.2 {
            0
        } else {
            (v * 255.0).round() as u8
        }])
    });
    let ink: Vec<(u32, u32)> = clean
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0[0] > 0)
        .map(|(x, y, _)| (x, y))
        .collect();
    let (x0, x1) = (
        ink.iter().map(|p| p.0).min().unwrap_or(0),
        ink.iter().map(|p| p.0).max().unwrap_or(0),
    );
    let (y0, y1) = (
        ink.iter().map(|p| p.1).min().unwrap_or(0),
        ink.iter().map(|p| p.1).max().unwrap_or(0),
    );
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = BOX as f64 / bw.max(bh) as f64;
    let (sw, sh) = (
        ((bw as f64 * scale).round() as u32).clamp(1, BOX),
        ((bh as f64 * scale).round() as u32).clamp(1, BOX),
    );
    let cropped = image::imageops::crop_imm(&clean, x0, y0, bw, bh).to_image();
    let scaled = image::imageops::resize(&cropped, sw, sh, FilterType::Lanczos3);
    // The centre of mass of the scaled ink, put at the frame's centre (kept inside the frame).
    let (mut mx, mut my, mut mass) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in scaled.enumerate_pixels() {
        let m = p.0[0] as f64;
        mx += m * (x as f64 + 0.5);
        my += m * (y as f64 + 0.5);
        mass += m;
    }
    let (cx, cy) = if mass > 0.0 {
        (mx / mass, my / mass)
    } else {
        (sw as f64 / 2.0, sh as f64 / 2.0)
    };
    let place = |centre: f64, size: u32| -> i64 {
        ((FRAME as f64 / 2.0 - centre).round() as i64).clamp(0, (FRAME - size) as i64)
    };
    let (ox, oy) = (place(cx, sw), place(cy, sh));
    let mut frame = GrayImage::new(FRAME, FRAME);
    image::imageops::overlay(&mut frame, &scaled, ox, oy);
    notes.push(format!(
        "ink box {bw}×{bh} scaled to {sw}×{sh}, centred by mass in 28×28"
    ));
    Ok(frame)
}

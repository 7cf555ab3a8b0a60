//! Measures what a person would send a photo back for, on the framed face: blur and
//! exposure.

use super::face::FaceBox;

/// Side the face region is resampled to before measuring, so that the blur figure does
/// not depend on how many pixels the face happens to have.
const PROBE: u32 = 96;

/// Variance of the Laplacian below which the face is `blurry`. Calibrated on the real
/// test faces (scripts/fetch-test-faces.sh) with `checks::tests::calibrate` (run with
/// `--nocapture`): the sharp astronaut and Tom Hanks faces measure 414 and 294 at 96 px;
/// the same faces blurred with a Gaussian of sigma 1.5 (of the 96 px face) both measure
/// 36. 60 sits well above the blurred and well below the sharp.
pub const BLURRY_BELOW: f32 = 60.0;
/// Mean luma (0-255, sRGB) of the face's centre below which the face is `dark`, and
/// above which it is `overexposed`. Well-exposed faces of every skin tone sit between
/// ~70 and ~200 (the test faces: 144 and 173).
pub const DARK_BELOW: f32 = 55.0;
pub const OVEREXPOSED_ABOVE: f32 = 215.0;

/// Sharpness and brightness of the face region of `img` (image pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceMeasure {
    /// Variance of the 4-neighbour Laplacian of the face resampled to [`PROBE`] px.
    pub sharpness: f32,
    /// Mean luma of the inner half of the face box.
    pub luma: f32,
}

pub fn measure(img: &image::RgbImage, face: &FaceBox) -> Option<FaceMeasure> {
    let (w, h) = img.dimensions();
    let x0 = (face.x.max(0.0) as u32).min(w);
    let y0 = (face.y.max(0.0) as u32).min(h);
    let x1 = ((face.x + face.width) as u32).min(w);
    let y1 = ((face.y + face.height) as u32).min(h);
    if x1 <= x0 + 4 || y1 <= y0 + 4 {
        return None;
    }
    let region = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    let gray = image::imageops::grayscale(&region);
    let probe = image::imageops::resize(&gray, PROBE, PROBE, image::imageops::FilterType::Triangle);
    let px = |x: u32, y: u32| f32::from(probe.get_pixel(x, y)[0]);
    let mut values = Vec::with_capacity((PROBE * PROBE) as usize);
    for y in 1..PROBE - 1 {
        for x in 1..PROBE - 1 {
            values.push(px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y));
        }
    }
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let sharpness = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    // The inner half: skin, not hair or background.
    let (q, e) = (PROBE / 4, PROBE * 3 / 4);
    let mut sum = 0.0;
    for y in q..e {
        for x in q..e {
            sum += px(x, y);
        }
    }
    let luma = sum / ((e - q) * (e - q)) as f32;
    Some(FaceMeasure { sharpness, luma })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::face;

    fn real(name: &str) -> Option<image::RgbImage> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".cache/faces")
            .join(name);
        let img = image::open(&path).ok().map(|i| i.to_rgb8());
        if img.is_none() {
            eprintln!(
                "skipped: {} absent (run scripts/fetch-test-faces.sh)",
                path.display()
            );
        }
        img
    }

    fn largest(img: &image::RgbImage) -> FaceBox {
        let d = face::detect(img.as_raw(), img.width(), img.height());
        *d.faces.first().expect("a face")
    }

    /// The figures behind the thresholds above; asserts they separate sharp from blurred.
    #[test]
    fn calibrate() {
        for name in ["astronaut.png", "Tom_Hanks_54745.png"] {
            let Some(img) = real(name) else { return };
            let f = largest(&img);
            let sharp = measure(&img, &f).expect("measure");
            // Blur by sigma 1.5 of a 96 px face, in this image's pixels.
            let sigma = 1.5 * f.width / PROBE as f32;
            let blurred = image::imageops::blur(&img, sigma);
            let soft = measure(&blurred, &f).expect("measure");
            eprintln!("{name}: sharp {sharp:?}, blurred {soft:?}");
            assert!(sharp.sharpness > BLURRY_BELOW, "{name}");
            assert!(soft.sharpness < BLURRY_BELOW, "{name}");
            assert!(
                (DARK_BELOW..OVEREXPOSED_ABOVE).contains(&sharp.luma),
                "{name}"
            );
            let dark = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
                image::Rgb(img.get_pixel(x, y).0.map(|v| v / 4))
            });
            assert!(measure(&dark, &f).expect("measure").luma < DARK_BELOW);
            let bright = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
                image::Rgb(img.get_pixel(x, y).0.map(|v| 255 - (255 - v) / 5))
            });
            assert!(measure(&bright, &f).expect("measure").luma > OVEREXPOSED_ABOVE);
        }
    }
}

//! Finds faces with the SeetaFace frontal detector (rustface), on a small grey copy.

use std::cell::RefCell;
use std::sync::OnceLock;

use image::RgbImage;
use rustface::{Detector, ImageData, Model};

static MODEL_BYTES: &[u8] = include_bytes!("../../models/seeta_fd_frontal_v1.0.bin");

/// Short side of the grey copy the detector looks at: a face a tenth of the photo's
/// short side is still ~36 px there, well above the detector's 20 px minimum.
pub const DETECT_SHORT_SIDE: u32 = 360;
/// Cap on the copy's long side, which bounds the cost for panoramas.
pub const DETECT_MAX_LONG_SIDE: u32 = 960;

/// A face, in the coordinates of the image given to [`detect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub score: f64,
}

fn model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| rustface::read_model(MODEL_BYTES).ok())
        .as_ref()
}

thread_local! {
    // The detector keeps scratch buffers; one per worker thread avoids locking.
    static DETECTOR: RefCell<Option<Box<dyn Detector>>> = const { RefCell::new(None) };
}

/// Detects faces, largest first.
pub fn detect(img: &RgbImage) -> Vec<Face> {
    let (w, h) = img.dimensions();
    if w < 24 || h < 24 {
        return Vec::new();
    }
    let scale = (DETECT_SHORT_SIDE as f32 / w.min(h) as f32)
        .min(DETECT_MAX_LONG_SIDE as f32 / w.max(h) as f32)
        .min(1.0);
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let gray = super::resize::gray_small(img, sw, sh);
    let Some(model) = model() else {
        return Vec::new();
    };
    let mut faces = DETECTOR
        .with(|cell| {
            let mut slot = cell.borrow_mut();
            let detector = slot.get_or_insert_with(|| {
                let mut d = rustface::create_detector_with_model(model.clone());
                d.set_min_face_size(20);
                d.set_score_thresh(2.0);
                d.set_pyramid_scale_factor(0.8);
                d.set_slide_window_step(4, 4);
                d
            });
            detector.detect(&ImageData::new(&gray, sw, sh))
        })
        .into_iter()
        .map(|f| {
            let b = f.bbox();
            Face {
                x: b.x() as f32 / scale,
                y: b.y() as f32 / scale,
                width: b.width() as f32 / scale,
                height: b.height() as f32 / scale,
                score: f.score(),
            }
        })
        .collect::<Vec<_>>();
    faces.sort_by(|a, b| (b.width * b.height).total_cmp(&(a.width * a.height)));
    faces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faces_dir() -> Option<std::path::PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/faces");
        if dir.join("astronaut.png").is_file() {
            Some(dir)
        } else {
            eprintln!("SKIPPED: no face photos in .cache/faces (run scripts/fetch-test-faces.sh)");
            None
        }
    }

    #[test]
    fn finds_the_astronaut() {
        let Some(dir) = faces_dir() else { return };
        let img = image::open(dir.join("astronaut.png")).unwrap().to_rgb8();
        let start = std::time::Instant::now();
        let faces = detect(&img);
        eprintln!("detection took {:?}", start.elapsed());
        eprintln!("{faces:?}");
        assert_eq!(faces.len(), 1, "{faces:?}");
        let f = faces[0];
        // Eileen Collins' face in scikit-image's astronaut.png.
        assert!(
            f.x > 150.0 && f.x + f.width < 300.0 && f.y > 40.0 && f.y + f.height < 220.0,
            "{f:?}"
        );
    }

    #[test]
    fn no_face_in_noise() {
        let img = RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 13 % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        });
        assert!(detect(&img).is_empty());
    }
}

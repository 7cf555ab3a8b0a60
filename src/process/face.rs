//! Finds faces with the SeetaFace frontal detector (rustface), on a small grey copy.

use std::cell::RefCell;
use std::sync::OnceLock;

use image::RgbImage;
use rustface::{Detector, ImageData, Model};

static MODEL_BYTES: &[u8] = include_bytes!("../../models/seeta_fd_frontal_v1.0.bin");

/// Long side of the grey copy the detector looks at: faces down to ~1/20 of the photo's
/// long side are found, and detection costs a few milliseconds.
pub const DETECT_LONG_SIDE: u32 = 400;

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
    let scale = (DETECT_LONG_SIDE as f32 / w.max(h) as f32).min(1.0);
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
                d.set_min_face_size(24);
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

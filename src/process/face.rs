//! Finds frontal faces in a small grayscale picture with the embedded SeetaFace model.

use std::cell::RefCell;
use std::sync::OnceLock;

use rustface::{Detector, ImageData, Model};

/// The SeetaFace frontal model (BSD-2, see models/README.md), embedded so that the
/// binary works offline and cannot lose it.
static MODEL_BYTES: &[u8] = include_bytes!("../../models/seeta_fd_frontal_v1.0.bin");

/// SeetaFace's sliding window is fixed at 40 px on the scaled image (rustface ignores
/// `set_min_face_size`): a face must be at least this big in the picture given to
/// [`detect`].
pub const MIN_FACE: u32 = 40;

/// Tuned for speed on a 320 px copy (measured on the astronaut test face, 2 loaded
/// cores): rustface's defaults (0.8 between pyramid levels, 4 px step) cost ~30 ms a
/// photo; 0.65 and a 6 px step ~11 ms and find every test face from 40 px up to the
/// whole picture. 0.65/8 px is ~7 ms but 0.6/8 px already misses one of the test faces,
/// so the coarser step is too close to the edge. The score threshold is SeetaFace's
/// usual 2.0.
const PYRAMID_SCALE: f32 = 0.65;
const WINDOW_STEP: u32 = 6;
const SCORE_THRESHOLD: f64 = 2.0;

/// A face rectangle in the coordinates of the picture given to [`detect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub score: f64,
}

fn model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| match rustface::read_model(MODEL_BYTES) {
            Ok(model) => Some(model),
            Err(err) => {
                // Only a corrupted build can get here; fall back to saliency rather
                // than failing every photo.
                tracing::error!("embedded face model cannot be read: {err}");
                None
            }
        })
        .as_ref()
}

thread_local! {
    // A detector keeps scratch buffers and is not `Sync`: one per rayon worker, built
    // once from the shared parsed model.
    static DETECTOR: RefCell<Option<Box<dyn Detector>>> = const { RefCell::new(None) };
}

fn new_detector(model: &Model) -> Box<dyn Detector> {
    let mut detector = rustface::create_detector_with_model(model.clone());
    detector.set_min_face_size(MIN_FACE);
    detector.set_pyramid_scale_factor(PYRAMID_SCALE);
    detector.set_slide_window_step(WINDOW_STEP, WINDOW_STEP);
    detector.set_score_thresh(SCORE_THRESHOLD);
    detector
}

/// Faces in an 8-bit grayscale picture (`gray.len() == width * height`), largest
/// first. Pictures too small to hold a detectable face give none.
pub fn detect(gray: &[u8], width: u32, height: u32) -> Vec<FaceBox> {
    if width < MIN_FACE || height < MIN_FACE || gray.len() != width as usize * height as usize {
        return Vec::new();
    }
    let Some(model) = model() else {
        return Vec::new();
    };
    let found = DETECTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let detector = slot.get_or_insert_with(|| new_detector(model));
        detector.detect(&ImageData::new(gray, width, height))
    });
    let mut faces: Vec<FaceBox> = found
        .iter()
        .map(|face| {
            let b = face.bbox();
            FaceBox {
                x: b.x() as f32,
                y: b.y() as f32,
                width: b.width() as f32,
                height: b.height() as f32,
                score: face.score(),
            }
        })
        .collect();
    faces.sort_by(|a, b| (b.width * b.height).total_cmp(&(a.width * a.height)));
    faces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_parses() {
        assert!(model().is_some());
    }

    #[test]
    fn flat_and_tiny_pictures_have_no_face() {
        assert!(detect(&vec![128; 200 * 150], 200, 150).is_empty());
        assert!(detect(&[0; 30 * 30], 30, 30).is_empty());
        assert!(detect(&[], 0, 0).is_empty());
        // Wrong buffer length is refused rather than handed to the detector.
        assert!(detect(&[0; 10], 100, 100).is_empty());
    }
}

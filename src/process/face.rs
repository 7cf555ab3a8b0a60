//! Finds faces, with five landmarks each, in a small RGB picture with the embedded YuNet
//! model run through tract (pure Rust, no runtime download).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tract_onnx::prelude::*;

/// YuNet-s (`onnx/yunet_s_640_640.onnx` from ShiqiYu/libfacedetection.train, the same
/// bytes as OpenCV Zoo's `face_detection_yunet_2023mar.onnx`; licence in models/),
/// embedded so that the binary works offline and cannot lose it.
static MODEL_BYTES: &[u8] = include_bytes!("../../models/yunet_s_640_640.onnx");

/// YuNet's strides: one output set per feature map, in this order.
const STRIDES: [u32; 3] = [8, 16, 32];
/// The network's input must be a multiple of its largest stride.
const PAD: u32 = 32;
/// Scores are sqrt(cls * obj). 0.8 is YuNet's own default and gave no false face on the
/// test photos; when nothing reaches it the best faces >= [`FALLBACK_SCORE`] are kept and
/// marked low-confidence (turned or dim faces score 0.6-0.8), and beside confident faces
/// those about as large as one of them are kept too (see `corroborated`).
pub const KEEP_SCORE: f32 = 0.8;
pub const FALLBACK_SCORE: f32 = 0.6;
/// Beside confident faces, a weaker face is kept from this score when it is about as
/// large as one of them: within [`CORROBORATING_SIZE`] of its width either way (see
/// [`corroborated`]). On `benches/faces.sh`'s photos and the testdata camera photos the
/// weaker faces of that size were real at 0.77 (twice) and false at 0.62-0.67 (a clock,
/// an ornament in a phone photo, twice), so 0.7.
const CORROBORATED_SCORE: f32 = 0.7;
const CORROBORATING_SIZE: f32 = 0.8;
/// Boxes overlapping more than this (intersection over union) are the same face.
const NMS_IOU: f32 = 0.3;
/// Smallest picture given to the network: YuNet's smallest anchors are 10-16 px.
pub const MIN_SIDE: u32 = 16;
/// An anchor below [`FALLBACK_SCORE`] but at least this is a near miss: a face too small
/// for the picture still scores above a face-free photo's background (calibrated on
/// `benches/faces.sh`, see the README, "Speed"). The face crop's second, finer pass looks
/// only around near misses.
pub const NEAR_MISS_SCORE: f32 = 0.2;
/// Only anchors whose box is at most this wide (picture pixels) are near misses: a finer
/// look helps faces too small for the picture (YuNet misses many natural faces under
/// ~20 px, and a tightly cropped face with no hair around it under ~37 px), not a large
/// blob that half looks like a face.
pub const NEAR_MISS_MAX_PX: f32 = 48.0;
/// At most this many near misses are kept, best first.
const NEAR_MISS_KEPT: usize = 16;

/// A face in the coordinates of the picture given to [`detect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// sqrt(cls * obj), 0-1.
    pub score: f32,
    /// Right eye, left eye (of the person: image left first), nose tip, right and left
    /// mouth corners.
    pub landmarks: [(f32, f32); 5],
}

impl FaceBox {
    /// The midpoint of the two eyes.
    pub fn eyes(&self) -> (f32, f32) {
        let [(rx, ry), (lx, ly), ..] = self.landmarks;
        ((rx + lx) / 2.0, (ry + ly) / 2.0)
    }

    /// A copy with every coordinate multiplied by `fx` horizontally and `fy` vertically.
    pub fn scaled(&self, fx: f32, fy: f32) -> FaceBox {
        FaceBox {
            x: self.x * fx,
            y: self.y * fy,
            width: self.width * fx,
            height: self.height * fy,
            score: self.score,
            landmarks: self.landmarks.map(|(x, y)| (x * fx, y * fy)),
        }
    }
}

/// What [`detect`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    /// Largest first.
    pub faces: Vec<FaceBox>,
    /// Nothing reached [`KEEP_SCORE`]; these passed only [`FALLBACK_SCORE`].
    pub low_confidence: bool,
    /// The best score of any anchor, kept or not: how near a picture with no face came
    /// to having one.
    pub best_score: f32,
    /// Small anchors that scored from [`NEAR_MISS_SCORE`] up to [`FALLBACK_SCORE`], best
    /// first (at most [`NEAR_MISS_KEPT`]): where a face too small for this picture may be.
    pub near_misses: Vec<NearMiss>,
}

/// The centre of a near-miss anchor's box, in the coordinates of the picture given to
/// [`detect`], and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearMiss {
    pub x: f32,
    pub y: f32,
    pub score: f32,
}

/// One network run's anchors before they are merged into faces.
#[derive(Debug, Default)]
struct Anchors {
    /// Boxes from [`FALLBACK_SCORE`] up.
    boxes: Vec<FaceBox>,
    best_score: f32,
    near_misses: Vec<NearMiss>,
}

type Plan = Arc<TypedRunnableModel>;

#[derive(Debug, thiserror::Error)]
enum FaceError {
    #[error("embedded face model: {0}")]
    Model(String),
    #[error("face model output {0} missing or malformed")]
    Output(&'static str),
}

impl From<TractError> for FaceError {
    fn from(err: TractError) -> Self {
        FaceError::Model(format!("{err:#}"))
    }
}

/// The parsed model and the position of each named output, parsed once.
struct Parsed {
    model: InferenceModel,
    /// Indices of cls, obj, bbox, kps outputs for each stride.
    outputs: [[usize; 4]; 3],
}

fn parsed() -> Option<&'static Parsed> {
    static PARSED: OnceLock<Option<Parsed>> = OnceLock::new();
    PARSED
        .get_or_init(|| match parse() {
            Ok(p) => Some(p),
            Err(err) => {
                // Only a corrupted build can get here; fall back to saliency rather than
                // failing every photo.
                tracing::error!("{err}");
                None
            }
        })
        .as_ref()
}

fn parse() -> Result<Parsed, FaceError> {
    // The exported graph declares 640x640 shapes on its inputs, outputs and values;
    // ignoring them lets tract plan any padded size.
    let model = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
        .model_for_read(&mut std::io::Cursor::new(MODEL_BYTES))?;
    let labels: Vec<String> = model
        .output_outlets()?
        .iter()
        .map(|o| {
            model
                .outlet_label(*o)
                .map(str::to_owned)
                .unwrap_or_else(|| model.node(o.node).name.clone())
        })
        .collect();
    let mut outputs = [[0usize; 4]; 3];
    for (s, stride) in STRIDES.iter().enumerate() {
        for (k, kind) in ["cls", "obj", "bbox", "kps"].iter().enumerate() {
            let name = format!("{kind}_{stride}");
            outputs[s][k] = labels
                .iter()
                .position(|l| *l == name)
                .ok_or(FaceError::Output("name"))?;
        }
    }
    Ok(Parsed { model, outputs })
}

/// An optimised plan per padded input size, built once: photos come in a handful of
/// aspect ratios, and optimising costs far more than running. Workers that need the
/// same size at once wait for the one planning it instead of planning it again.
fn plan(p: &Parsed, w: u32, h: u32) -> Result<Plan, FaceError> {
    type Slot = Arc<OnceLock<Option<Plan>>>;
    static PLANS: OnceLock<Mutex<HashMap<(u32, u32), Slot>>> = OnceLock::new();
    let build = || -> Result<Plan, FaceError> {
        Ok(p.model
            .clone()
            .with_input_fact(0, f32::fact([1, 3, h as usize, w as usize]).into())?
            .into_optimized()?
            .into_runnable()?)
    };
    let plans = PLANS.get_or_init(|| Mutex::new(HashMap::new()));
    let slot = plans.lock().ok().and_then(|mut m| {
        if let Some(slot) = m.get(&(w, h)) {
            return Some(slot.clone());
        }
        // Bounded: the face crop keeps to a fixed set of shapes (crop.rs), but odd sizes
        // from other callers beyond a few dozen are planned each time rather than kept.
        (m.len() < 64).then(|| m.entry((w, h)).or_default().clone())
    });
    let Some(slot) = slot else {
        return build();
    };
    let mut failed = None;
    let plan = slot.get_or_init(|| build().map_err(|e| failed = Some(e)).ok());
    match (plan, failed) {
        (Some(plan), _) => Ok(plan.clone()),
        (None, Some(err)) => Err(err),
        (None, None) => Err(FaceError::Model("planning failed before".into())),
    }
}

/// Faces in an RGB picture (`rgb.len() == width * height * 3`), largest first. The
/// picture should be about 130,000 pixels (416x312): YuNet finds faces from ~10 px.
/// Pictures too small, malformed buffers and model failures give none.
#[cfg(test)]
pub fn detect(rgb: &[u8], width: u32, height: u32) -> Detection {
    detect_padded(rgb, width, height, (width, height))
}

/// The network's input size for a `width`x`height` picture: both rounded up to a
/// multiple of its largest stride.
pub fn padded(width: u32, height: u32) -> (u32, u32) {
    (width.div_ceil(PAD) * PAD, height.div_ceil(PAD) * PAD)
}

/// [`detect`] with the picture placed at the top left of a black input of at least
/// `shape` (rounded up by [`padded`]): callers that keep to a few shapes pay tract's
/// planning (~60 ms a shape) only for those.
pub fn detect_padded(rgb: &[u8], width: u32, height: u32, shape: (u32, u32)) -> Detection {
    if width < MIN_SIDE || height < MIN_SIDE || rgb.len() != width as usize * height as usize * 3 {
        return Detection::default();
    }
    let Some(p) = parsed() else {
        return Detection::default();
    };
    let (pw, ph) = padded(shape.0.max(width), shape.1.max(height));
    match run(p, rgb, width, height, pw, ph) {
        Ok(anchors) => merge(anchors, width, height),
        Err(err) => {
            tracing::warn!("face detection failed: {err}");
            Detection::default()
        }
    }
}

/// Faces in `side`x`side` windows of an RGB picture, each window's top-left corner in
/// `corners`, merged as one detection in the whole picture's coordinates: a look at the
/// places where a face may be, for a fraction of the work of the whole picture. Windows
/// are cut to the picture; all use one network shape (one plan).
pub fn detect_windows(
    rgb: &[u8],
    width: u32,
    height: u32,
    corners: &[(u32, u32)],
    side: u32,
) -> Detection {
    if rgb.len() != width as usize * height as usize * 3 {
        return Detection::default();
    }
    let Some(p) = parsed() else {
        return Detection::default();
    };
    let (pw, ph) = padded(side, side);
    let mut all = Anchors::default();
    for &(x0, y0) in corners {
        let (ww, wh) = (
            side.min(width - x0.min(width)),
            side.min(height - y0.min(height)),
        );
        if ww < MIN_SIDE || wh < MIN_SIDE {
            continue;
        }
        let row = 3 * width as usize;
        let window: Vec<u8> = rgb
            .chunks_exact(row)
            .skip(y0 as usize)
            .take(wh as usize)
            .flat_map(|r| &r[3 * x0 as usize..3 * (x0 + ww) as usize])
            .copied()
            .collect();
        match run(p, &window, ww, wh, pw, ph) {
            Ok(found) => {
                let (dx, dy) = (x0 as f32, y0 as f32);
                all.boxes.extend(found.boxes.into_iter().map(|mut f| {
                    f.x += dx;
                    f.y += dy;
                    f.landmarks = f.landmarks.map(|(x, y)| (x + dx, y + dy));
                    f
                }));
                all.best_score = all.best_score.max(found.best_score);
            }
            Err(err) => tracing::warn!("face detection failed: {err}"),
        }
    }
    merge(all, width, height)
}

fn run(
    p: &Parsed,
    rgb: &[u8],
    width: u32,
    height: u32,
    pw: u32,
    ph: u32,
) -> Result<Anchors, FaceError> {
    if width > pw || height > ph {
        return Err(FaceError::Output("input"));
    }
    let plan = plan(p, pw, ph)?;
    let (w, pwu, phu) = (width as usize, pw as usize, ph as usize);
    // YuNet takes BGR 0-255, planar; the padding stays black. Row by row, one plane
    // slice each, so that the loop has no division and no bounds checks.
    let plane = pwu * phu;
    let mut input = vec![0f32; 3 * plane];
    let (b_plane, rest) = input.split_at_mut(plane);
    let (g_plane, r_plane) = rest.split_at_mut(plane);
    for (y, row) in rgb.chunks_exact(3 * w).enumerate() {
        let at = y * pwu..y * pwu + w;
        let planes = b_plane[at.clone()]
            .iter_mut()
            .zip(g_plane[at.clone()].iter_mut())
            .zip(r_plane[at].iter_mut());
        for (px, ((b, g), r)) in row.chunks_exact(3).zip(planes) {
            *b = f32::from(px[2]);
            *g = f32::from(px[1]);
            *r = f32::from(px[0]);
        }
    }
    let tensor = tract_ndarray::Array4::from_shape_vec((1, 3, phu, pwu), input)
        .map_err(|_| FaceError::Output("input"))?;
    let out = plan.run(tvec!(Tensor::from(tensor).into()))?;
    let view = |i: usize| -> Result<&[f32], FaceError> {
        out.get(i)
            .and_then(|t| t.as_plain_ram())
            .and_then(|v| v.as_slice::<f32>().ok())
            .ok_or(FaceError::Output("tensor"))
    };
    let mut found = Anchors::default();
    for (s, &stride) in STRIDES.iter().enumerate() {
        let [ci, oi, bi, ki] = p.outputs[s];
        let (cls, obj, bbox, kps) = (view(ci)?, view(oi)?, view(bi)?, view(ki)?);
        let cols = (pw / stride) as usize;
        let rows = (ph / stride) as usize;
        let n = cols * rows;
        if cls.len() < n || obj.len() < n || bbox.len() < n * 4 || kps.len() < n * 10 {
            return Err(FaceError::Output("size"));
        }
        let st = stride as f32;
        for idx in 0..n {
            let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
            found.best_score = found.best_score.max(score);
            if score < NEAR_MISS_SCORE {
                continue;
            }
            let (c, r) = ((idx % cols) as f32, (idx / cols) as f32);
            let b = &bbox[idx * 4..idx * 4 + 4];
            let (cx, cy) = ((c + b[0]) * st, (r + b[1]) * st);
            let (bw, bh) = (b[2].exp() * st, b[3].exp() * st);
            if score < FALLBACK_SCORE {
                if bw <= NEAR_MISS_MAX_PX {
                    found.near_misses.push(NearMiss {
                        x: cx,
                        y: cy,
                        score,
                    });
                }
                continue;
            }
            let k = &kps[idx * 10..idx * 10 + 10];
            let landmarks = std::array::from_fn(|j| ((k[2 * j] + c) * st, (k[2 * j + 1] + r) * st));
            found.boxes.push(FaceBox {
                x: cx - bw / 2.0,
                y: cy - bh / 2.0,
                width: bw,
                height: bh,
                score,
                landmarks,
            });
        }
    }
    found
        .near_misses
        .sort_by(|a, b| b.score.total_cmp(&a.score));
    found.near_misses.truncate(NEAR_MISS_KEPT);
    Ok(found)
}

/// The faces among `anchors` in a `width`x`height` picture: overlapping boxes merged,
/// weak ones dropped beside confident ones (unless [`corroborated`]), boxes kept inside
/// the picture, largest first.
fn merge(anchors: Anchors, width: u32, height: u32) -> Detection {
    let Anchors {
        boxes,
        best_score,
        near_misses,
    } = anchors;
    let mut faces = nms(boxes);
    let low_confidence = !faces.iter().any(|f| f.score >= KEEP_SCORE);
    if !low_confidence {
        let confident: Vec<f32> = faces
            .iter()
            .filter(|f| f.score >= KEEP_SCORE)
            .map(|f| f.width)
            .collect();
        faces.retain(|f| f.score >= KEEP_SCORE || corroborated(f, &confident));
    }
    // Boxes may run past the picture (a face cut by the edge): keep them inside it.
    for f in &mut faces {
        let (x2, y2) = (
            (f.x + f.width).min(width as f32),
            (f.y + f.height).min(height as f32),
        );
        f.x = f.x.max(0.0);
        f.y = f.y.max(0.0);
        f.width = (x2 - f.x).max(1.0);
        f.height = (y2 - f.y).max(1.0);
    }
    faces.sort_by(|a, b| (b.width * b.height).total_cmp(&(a.width * a.height)));
    Detection {
        low_confidence: low_confidence && !faces.is_empty(),
        faces,
        best_score,
        near_misses,
    }
}

/// A face below [`KEEP_SCORE`] is kept beside confident faces (of `confident` widths)
/// when it scores at least [`CORROBORATED_SCORE`] and is about as large as one of them:
/// people in one photo stand at similar distances. YuNet scored one face pasted three
/// times into a 2:1 photo (48 px in its 512x256 copy) 0.77 at one place and 0.83-0.88
/// at the others, so "confident faces only" dropped a real third of the group.
fn corroborated(face: &FaceBox, confident: &[f32]) -> bool {
    face.score >= CORROBORATED_SCORE
        && confident
            .iter()
            .any(|&c| face.width >= c * CORROBORATING_SIZE && face.width * CORROBORATING_SIZE <= c)
}

fn iou(a: &FaceBox, b: &FaceBox) -> f32 {
    let ix = ((a.x + a.width).min(b.x + b.width) - a.x.max(b.x)).max(0.0);
    let iy = ((a.y + a.height).min(b.y + b.height) - a.y.max(b.y)).max(0.0);
    let inter = ix * iy;
    let union = a.width * a.height + b.width * b.height - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy non-maximum suppression, best score first.
fn nms(mut boxes: Vec<FaceBox>) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::new();
    for b in boxes {
        if kept.iter().all(|k| iou(k, &b) <= NMS_IOU) {
            kept.push(b);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_parses_and_plans() {
        let p = parsed().expect("embedded model parses");
        assert!(plan(p, 416, 320).is_ok());
    }

    #[test]
    fn flat_and_tiny_pictures_have_no_face() {
        assert!(detect(&vec![128; 200 * 150 * 3], 200, 150).faces.is_empty());
        assert!(detect(&[0; 10 * 10 * 3], 10, 10).faces.is_empty());
        assert!(detect(&[], 0, 0).faces.is_empty());
        // Wrong buffer length is refused rather than handed to the network.
        assert!(detect(&[0; 10], 100, 100).faces.is_empty());
    }

    #[test]
    fn weaker_faces_need_a_confident_face_of_their_size() {
        let f = |width: f32, score: f32| FaceBox {
            x: 0.0,
            y: 0.0,
            width,
            height: width,
            score,
            landmarks: [(0.0, 0.0); 5],
        };
        let confident = [177.0, 167.0];
        // The 2:1 photo's third face, 168 px at 0.77, beside 177 and 167 px at >= 0.83.
        assert!(corroborated(&f(168.0, 0.77), &confident));
        // The ornament's 0.62-0.67 boxes of about the face's size are not faces.
        assert!(!corroborated(&f(170.0, 0.67), &confident));
        // A box of another size is not corroborated, smaller or larger.
        assert!(!corroborated(&f(120.0, 0.77), &confident));
        assert!(!corroborated(&f(230.0, 0.77), &confident));
        assert!(!corroborated(&f(168.0, 0.77), &[]));
    }

    #[test]
    fn overlapping_boxes_merge() {
        let f = |x: f32, score: f32| FaceBox {
            x,
            y: 0.0,
            width: 10.0,
            height: 10.0,
            score,
            landmarks: [(0.0, 0.0); 5],
        };
        let kept = nms(vec![f(0.0, 0.7), f(1.0, 0.9), f(50.0, 0.8)]);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
    }
}

//! Chooses where the square goes in an oriented photo: around the face, by saliency,
//! biased to the top (portrait) or in the centre.

use std::borrow::Cow;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::CropNote;
use super::face::{self, FaceBox};
use super::saliency;
use crate::config::{CropMode, Framing};

/// The square to cut: `side` in image pixels (the short side unless a face crop zoomed
/// in), `x`/`y` its top-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub x: u32,
    pub y: u32,
    pub side: u32,
    pub note: CropNote,
    /// The framed face, in image pixels.
    pub face: Option<FaceBox>,
    /// The framed face passed only the fallback score.
    pub low_confidence: bool,
    /// Several faces were about as large as the largest: the framed one is the one
    /// nearest the centre, not simply the largest.
    pub nearest_centre: bool,
}

impl Placement {
    fn plain(x: u32, y: u32, side: u32, note: CropNote) -> Placement {
        Placement {
            x,
            y,
            side,
            note,
            face: None,
            low_confidence: false,
            nearest_centre: false,
        }
    }

    /// The same placement on a copy of the image `factor` times as large.
    pub fn scaled(&self, factor: f32, w: u32, h: u32) -> Placement {
        let side = ((self.side as f32 * factor).round() as u32).clamp(1, w.min(h).max(1));
        let x = ((self.x as f32 * factor).round() as u32).min(w.saturating_sub(side));
        let y = ((self.y as f32 * factor).round() as u32).min(h.saturating_sub(side));
        Placement {
            x,
            y,
            side,
            face: self.face.map(|f| f.scaled(factor, factor)),
            ..*self
        }
    }
}

/// The network input shapes (width, height) of the first pass, landscape; portrait
/// photos use the same turned. An analysis copy is the photo shrunk to fit the shape
/// that holds most of it (about 130,000 pixels, as a 4:3 photo at 416x312: YuNet finds
/// faces from ~10 px, so down to ~1/40 of a 4:3 photo's long side), padded with black to
/// it. Sized by pixels rather than by the long side, a 2.3:1 panorama gets 576x247, not
/// 416x178. A fixed set keeps tract's planning (~60 ms a shape, see face.rs) to at most
/// these shapes however the photos are cropped; each is chosen for a common aspect ratio
/// (1:1, 4:3, 3:2, 16:9, 2:1, 2.3:1, 3:1, 4:1) so that little of it is padding.
const SHAPES: [(u32, u32); 8] = [
    (384, 384),
    (416, 320),
    (448, 288),
    (512, 288),
    (512, 256),
    (576, 256),
    (640, 224),
    (736, 192),
];

/// When the first pass finds no face but came near one (small anchors that scored at
/// least [`face::NEAR_MISS_SCORE`]: a face too small for it), a second pass looks again
/// around those places in a copy this many times finer (up to the decoded photo's own
/// pixels): a face 6% of a photo's short side is ~19 px in the first pass and often
/// missed. Photos with a face found on the first pass, or no near miss, never pay for it.
/// `benches/faces.sh`'s pasted small faces: 43 of 43 found at 2 and at 1.5, the second
/// pass's faces all confident but one at 2 (scores 0.77-0.92), four low-confidence at 1.5
/// (0.76-0.89); the windows cost the same at either.
pub const FINE_FACTOR: f32 = 2.0;
/// The second pass runs only if its copy is at least this much finer than the first's.
const FINE_MIN_GAIN: f32 = 1.25;
/// The second pass looks at square windows of this side (in the finer copy's pixels)
/// around the near misses rather than at the whole finer copy: a near miss's box is at
/// most [`face::NEAR_MISS_MAX_PX`] x [`FINE_FACTOR`] = 96 px there (most are 25-40),
/// so a window holds it with its surroundings, each for a fourteenth of the whole
/// copy's work (a 4:3 photo's is 832x624), and every window has the one network shape
/// (one plan).
const WINDOW: u32 = 192;
/// At most this many windows: near misses cluster on the one place that looks like a
/// face (on the test photos, one place in 13 of 14 photos that ran the second pass).
const MAX_WINDOWS: usize = 3;

/// Where the eyes sit in the square, from the top: upper middle, with room above the
/// hair.
const EYES_FROM_TOP: f32 = 0.40;
/// Faces narrower than this share of the largest one are ignored when counting
/// (passers-by, pictures on the wall, false positives in the background).
const COUNTED_FACE_SHARE: f32 = 1.0 / 3.0;
/// Faces whose width is within this share of the largest one's, or within
/// [`SAME_SIZE_PX`] pixels of the analysis copy, are "the same size": among them the one
/// nearest the centre is framed (the photographer put the subject there).
const SAME_SIZE: f32 = 0.05;
/// YuNet's boxes of one face pasted three times into one picture came out 28.7, 28.7
/// and 30.8 px wide in the analysis copy (7% apart): at the sizes of a group photo the
/// box jitters by a few pixels, which a share alone would read as a size difference.
const SAME_SIZE_PX: f32 = 3.0;

/// Places the square for `mode` (see [`CropMode`]). `min_side` is the smallest square a
/// face crop may zoom to, in image pixels (the output size, so nothing is upscaled).
/// Never fails: a photo without a face gets the saliency crop and [`CropNote::NoFace`].
pub fn place_square(
    img: &image::RgbImage,
    mode: CropMode,
    framing: Framing,
    min_side: u32,
) -> Placement {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    match mode {
        CropMode::Centre => {
            Placement::plain((w - side) / 2, (h - side) / 2, side, CropNote::Centre)
        }
        CropMode::Portrait => Placement::plain(
            (w - side) / 2,
            portrait_y(h, side),
            side,
            CropNote::Portrait,
        ),
        CropMode::Face => place_by_content(img, framing, min_side),
    }
}

/// Portrait photos have the head in the top third and the body below: keep one sixth of
/// the spare height above the square and five sixths below. For a 3:4 photo that moves
/// the square up by a third of the way from centre to top, enough to keep hair in
/// without cutting the chin of someone standing lower in the frame.
fn portrait_y(h: u32, side: u32) -> u32 {
    (h - side) / 6
}

/// The face [`choose`] picked, how many faces count, and whether it won by being
/// nearest the centre among faces of the same size.
struct Chosen {
    face: FaceBox,
    counted: usize,
    nearest_centre: bool,
}

/// The face to frame: the largest, or among faces of the same size (within
/// [`SAME_SIZE`] or [`SAME_SIZE_PX`]) the one nearest the centre. Also how many faces
/// count. `same_px` is [`SAME_SIZE_PX`] in the pixels of `faces`, `w` and `h`.
fn choose(faces: &[FaceBox], w: f32, h: f32, same_px: f32) -> Option<Chosen> {
    let largest = faces.iter().map(|f| f.width).fold(0.0f32, f32::max);
    let counted = faces
        .iter()
        .filter(|f| f.width >= largest * COUNTED_FACE_SHARE)
        .count();
    let off_centre = |f: &FaceBox| {
        let (cx, cy) = (
            f.x + f.width / 2.0 - w / 2.0,
            f.y + f.height / 2.0 - h / 2.0,
        );
        cx * cx + cy * cy
    };
    let same = largest - (largest * SAME_SIZE).max(same_px);
    let same_size: Vec<&FaceBox> = faces.iter().filter(|f| f.width >= same).collect();
    same_size
        .iter()
        .min_by(|a, b| off_centre(a).total_cmp(&off_centre(b)))
        .map(|f| Chosen {
            face: **f,
            counted,
            nearest_centre: same_size.len() > 1,
        })
}

/// Faces found in a photo, in its pixels, and how many of its pixels make one pixel of
/// the analysis copy they were found in.
struct Found {
    detection: face::Detection,
    per_px: f32,
}

/// Detection on `small`, the faces scaled to the `w`x`h` photo.
fn detect_on(small: &Small<'_>, w: u32, h: u32) -> Found {
    let detection = face::detect_padded(&small.rgb, small.width, small.height, small.shape);
    in_photo(detection, small, w, h)
}

/// `detection`, made on `small`, with its faces scaled to the `w`x`h` photo.
fn in_photo(mut detection: face::Detection, small: &Small<'_>, w: u32, h: u32) -> Found {
    let (fx, fy) = (
        w as f32 / small.width as f32,
        h as f32 / small.height as f32,
    );
    for f in &mut detection.faces {
        *f = f.scaled(fx, fy);
    }
    Found {
        detection,
        per_px: fx,
    }
}

/// The faces in `img` (first pass on `first`, its analysis copy), and when it finds none
/// but came near ([`face::NEAR_MISS_SCORE`]) the second pass's: windows of a finer copy
/// around the near misses. Also says how it went, for evaluation.
fn find(img: &image::RgbImage, first: &Small<'_>) -> (Found, Passes) {
    let (w, h) = img.dimensions();
    let found = detect_on(first, w, h);
    let mut passes = Passes {
        first_best: found.detection.best_score,
        windows: 0,
    };
    if !found.detection.faces.is_empty() || found.detection.near_misses.is_empty() {
        return (found, passes);
    }
    let (sw, sh) = first.shape;
    let fine_shape = |v: u32| (v as f32 * FINE_FACTOR).round() as u32;
    let fine = analysis_copy(img, (fine_shape(sw), fine_shape(sh)));
    if (fine.width as f32) < first.width as f32 * FINE_MIN_GAIN {
        return (found, passes);
    }
    let corners = windows(
        &found.detection.near_misses,
        fine.width as f32 / first.width as f32,
        fine.height as f32 / first.height as f32,
        (fine.width, fine.height),
    );
    passes.windows = corners.len();
    let detection = face::detect_windows(&fine.rgb, fine.width, fine.height, &corners, WINDOW);
    if detection.faces.is_empty() {
        (found, passes)
    } else {
        (in_photo(detection, &fine, w, h), passes)
    }
}

/// The top-left corners of the second pass's windows (at most [`MAX_WINDOWS`], each
/// [`WINDOW`] square, inside a `size` copy) centred on the near misses, best first,
/// scaled by `fx`/`fy` into that copy. A near miss in the middle half of a window
/// already taken needs none of its own.
fn windows(near: &[face::NearMiss], fx: f32, fy: f32, (fw, fh): (u32, u32)) -> Vec<(u32, u32)> {
    let mut centres: Vec<(f32, f32)> = Vec::new();
    let reach = WINDOW as f32 / 4.0;
    for m in near {
        let (x, y) = (m.x * fx, m.y * fy);
        if centres
            .iter()
            .any(|&(cx, cy)| (x - cx).abs() <= reach && (y - cy).abs() <= reach)
        {
            continue;
        }
        centres.push((x, y));
        if centres.len() == MAX_WINDOWS {
            break;
        }
    }
    let corner = |c: f32, size: u32| {
        ((c - WINDOW as f32 / 2.0).round().max(0.0) as u32).min(size.saturating_sub(WINDOW))
    };
    centres
        .into_iter()
        .map(|(x, y)| (corner(x, fw), corner(y, fh)))
        .collect()
}

/// How [`find`] searched a photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Passes {
    /// The first pass's best anchor score, kept or not.
    pub first_best: f32,
    /// Windows the second, finer pass looked at (0: it did not run).
    pub windows: usize,
}

/// Every face the face crop chooses from in `img`, in `img`'s pixels, largest first (the
/// same analysis copies and detector as [`place_square`]; for evaluation), and how the
/// search went.
pub fn faces_in(img: &image::RgbImage) -> (face::Detection, Passes) {
    let (w, h) = img.dimensions();
    if w.min(h) == 0 {
        return (
            face::Detection::default(),
            Passes {
                first_best: 0.0,
                windows: 0,
            },
        );
    }
    let first = analysis_copy(img, first_shape(w, h));
    let (found, passes) = find(img, &first);
    (found.detection, passes)
}

fn place_by_content(img: &image::RgbImage, framing: Framing, min_side: u32) -> Placement {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    if side == 0 {
        return Placement::plain(0, 0, side, CropNote::NoFace);
    }
    let small = analysis_copy(img, first_shape(w, h));
    let (sw, sh) = (small.width, small.height);
    let (Found { detection, per_px }, _) = find(img, &small);
    if let Some(Chosen {
        face: chosen,
        counted,
        nearest_centre,
    }) = choose(&detection.faces, w as f32, h as f32, SAME_SIZE_PX * per_px)
    {
        let (x, y, side) = frame_face(w, h, &chosen, framing.face_share(), min_side);
        return Placement {
            x,
            y,
            side,
            note: if counted > 1 {
                CropNote::SeveralFaces(counted)
            } else {
                CropNote::Face
            },
            face: Some(chosen),
            // Said of the framed face: beside confident faces it may be a weaker one
            // kept for being as large as they are (face.rs, `corroborated`).
            low_confidence: chosen.score < face::KEEP_SCORE,
            nearest_centre,
        };
    }
    let (fx, fy) = (w as f32 / sw as f32, h as f32 / sh as f32);
    let small_side = sw.min(sh);
    let interest = saliency::interest_map(&small.rgb, sw, sh);
    let (sx, sy) = saliency::best_window(&interest, sw, sh, small_side);
    let mut y = ((sy as f32 * fy).round() as u32).min(h - side);
    if h > w {
        // Without a face, saliency may prefer a bright shirt to the head; in a tall staff
        // photo the head is at the top, so the square never sits lower than the portrait
        // crop's (it may still go higher).
        y = y.min(portrait_y(h, side));
    }
    Placement::plain(
        ((sx as f32 * fx).round() as u32).min(w - side),
        y,
        side,
        CropNote::NoFace,
    )
}

/// The square (x, y, side) that frames `face` (image coordinates) head-and-shoulders:
/// the face `share` of the side, but never smaller than `min_side` nor larger than the
/// short side (a face already large keeps the short-side square); eyes horizontally
/// centred and at [`EYES_FROM_TOP`]; the whole box inside whenever it fits; clamped to
/// the image.
pub fn frame_face(w: u32, h: u32, face: &FaceBox, share: f32, min_side: u32) -> (u32, u32, u32) {
    let short = w.min(h);
    let wanted = (face.width.max(face.height / 1.3) / share).round() as u32;
    let side_px = wanted.max(min_side).min(short).max(1);
    let side = side_px as f32;
    let (eye_x, eye_y) = face.eyes();
    // Landmarks that fell off a cut face are unreliable: fall back to the box.
    let eye_x = if (face.x..=face.x + face.width).contains(&eye_x) {
        eye_x
    } else {
        face.x + face.width / 2.0
    };
    let eye_y = if (face.y..=face.y + face.height).contains(&eye_y) {
        eye_y
    } else {
        face.y + face.height * 0.4
    };
    let x = eye_x - side / 2.0;
    let mut y = eye_y - side * EYES_FROM_TOP;
    // Keep the chin in, then (winning if the face is taller than the square) the top.
    y = y.max(face.y + face.height - side);
    y = y.min(face.y);

    let clamp = |v: f32, max: u32| (v.round().max(0.0) as u32).min(max);
    (clamp(x, w - side_px), clamp(y, h - side_px), side_px)
}

struct Small<'a> {
    rgb: Cow<'a, [u8]>,
    width: u32,
    height: u32,
    /// The network input it is padded to.
    shape: (u32, u32),
}

/// The first pass's input shape for a `w`x`h` photo: of [`SHAPES`] (and their turned
/// versions), the one the photo, shrunk to fit, fills most; of equals, the smallest.
fn first_shape(w: u32, h: u32) -> (u32, u32) {
    let (w, h) = (w.max(1) as f32, h.max(1) as f32);
    let fill = |&(sw, sh): &(u32, u32)| {
        let s = (sw as f32 / w).min(sh as f32 / h);
        (s * w).floor() * (s * h).floor()
    };
    SHAPES
        .iter()
        .flat_map(|&(a, b)| [(a, b), (b, a)])
        .max_by(|a, b| {
            fill(a)
                .total_cmp(&fill(b))
                .then((b.0 * b.1).cmp(&(a.0 * a.1)))
        })
        .unwrap_or((416, 320))
}

/// The photo shrunk to fit `shape` (box filter: averaging is what a detector trained
/// on downscaled faces expects, and it is the cheapest), or the photo itself when it
/// already fits.
fn analysis_copy(img: &image::RgbImage, shape: (u32, u32)) -> Small<'_> {
    let (w, h) = img.dimensions();
    let whole = || Small {
        rgb: Cow::Borrowed(img.as_raw().as_slice()),
        width: w,
        height: h,
        shape,
    };
    let scale = (shape.0 as f32 / w.max(1) as f32).min(shape.1 as f32 / h.max(1) as f32);
    if scale >= 1.0 {
        return whole();
    }
    let sw = ((w as f32 * scale).round() as u32).clamp(1, shape.0);
    let sh = ((h as f32 * scale).round() as u32).clamp(1, shape.1);
    let Ok(src) = ImageRef::new(w, h, img.as_raw(), PixelType::U8x3) else {
        return whole();
    };
    let mut dst = Image::new(sw, sh, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box));
    if Resizer::new().resize(&src, &mut dst, &options).is_err() {
        return whole();
    }
    Small {
        rgb: Cow::Owned(dst.into_vec()),
        width: sw,
        height: sh,
        shape,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32) -> FaceBox {
        // Eyes 40% down a square box, a third in from each side.
        let (ey, l, r) = (y + size * 0.4, x + size / 3.0, x + size * 2.0 / 3.0);
        FaceBox {
            x,
            y,
            width: size,
            height: size,
            score: 0.9,
            landmarks: [
                (l, ey),
                (r, ey),
                (x + size / 2.0, y + size * 0.6),
                (l, y + size * 0.8),
                (r, y + size * 0.8),
            ],
        }
    }

    fn inside(p: (u32, u32, u32), f: &FaceBox) -> bool {
        let (x, y, side) = (p.0 as f32, p.1 as f32, p.2 as f32);
        f.x >= x && f.y >= y && f.x + f.width <= x + side && f.y + f.height <= y + side
    }

    /// The old behaviour: a share so large that the square is always the short side.
    const SHORT: f32 = 0.01;

    #[test]
    fn wide_face_at_left_edge_is_whole_and_clamped() {
        let f = face(10.0, 300.0, 200.0);
        let p = frame_face(1600, 648, &f, SHORT, 648);
        assert_eq!((p.0, p.2), (0, 648));
        assert!(inside(p, &f));
    }

    #[test]
    fn wide_face_in_middle_is_horizontally_centred() {
        let f = face(700.0, 100.0, 200.0);
        assert_eq!(frame_face(1600, 648, &f, SHORT, 648), (800 - 324, 0, 648));
    }

    #[test]
    fn tall_face_low_down_is_whole_with_eyes_in_upper_middle() {
        let f = face(200.0, 700.0, 150.0);
        let p = frame_face(648, 1400, &f, SHORT, 0);
        assert!(inside(p, &f));
        let eyes = f.eyes().1 - p.1 as f32;
        assert!(
            (eyes / 648.0 - EYES_FROM_TOP).abs() < 0.01,
            "eyes at {eyes}"
        );
        assert!(700 - p.1 > 150);
    }

    #[test]
    fn tall_face_at_bottom_edge_is_whole() {
        let f = face(480.0, 1240.0, 150.0);
        let p = frame_face(648, 1400, &f, SHORT, 0);
        assert_eq!(p, (0, 752, 648));
        assert!(inside(p, &f));
    }

    #[test]
    fn big_face_keeps_its_chin_and_the_short_side() {
        let f = face(20.0, 400.0, 580.0);
        let p = frame_face(648, 1200, &f, 0.42, 100);
        assert_eq!(p.2, 648);
        assert!(inside(p, &f), "{p:?}");
    }

    #[test]
    fn small_face_zooms_to_the_share_with_eyes_centred() {
        let f = face(1000.0, 600.0, 120.0);
        let p = frame_face(3000, 2000, &f, 0.42, 100);
        assert_eq!(p.2, (120.0f32 / 0.42).round() as u32);
        assert!(inside(p, &f));
        let centre = p.0 as f32 + p.2 as f32 / 2.0;
        assert!((centre - f.eyes().0).abs() <= 1.0);
    }

    #[test]
    fn zoom_stops_at_the_minimum_side_and_at_the_photo() {
        let f = face(1000.0, 600.0, 120.0);
        assert_eq!(frame_face(3000, 2000, &f, 0.42, 648).2, 648);
        // A face in a corner: the square is clamped inside, the face still whole.
        let f = face(2900.0, 1920.0, 80.0);
        let p = frame_face(3000, 2000, &f, 0.42, 0);
        assert!(p.0 + p.2 <= 3000 && p.1 + p.2 <= 2000);
        assert!(inside(p, &f), "{p:?}");
    }

    #[test]
    fn same_size_faces_prefer_the_centre() {
        let faces = [
            face(10.0, 10.0, 100.0),
            face(450.0, 250.0, 97.0),
            face(800.0, 10.0, 40.0),
        ];
        let c = choose(&faces, 1000.0, 600.0, SAME_SIZE_PX).expect("a face");
        assert_eq!(c.face.x, 450.0);
        assert_eq!(c.counted, 3);
        assert!(c.nearest_centre);
        // A clearly larger face wins even off centre.
        let faces = [face(10.0, 10.0, 140.0), face(450.0, 250.0, 100.0)];
        let c = choose(&faces, 1000.0, 600.0, SAME_SIZE_PX).expect("a face");
        assert_eq!((c.face.x, c.nearest_centre), (10.0, false));
        // Small faces: 3 px of box jitter is the same size, even at 7%.
        let faces = [face(10.0, 10.0, 30.8), face(190.0, 90.0, 28.7)];
        let c = choose(&faces, 416.0, 208.0, SAME_SIZE_PX).expect("a face");
        assert_eq!((c.face.x, c.nearest_centre), (190.0, true));
        let faces = [face(10.0, 10.0, 30.8), face(190.0, 90.0, 27.0)];
        assert_eq!(
            choose(&faces, 416.0, 208.0, SAME_SIZE_PX).map(|c| c.face.x),
            Some(10.0)
        );
    }

    #[test]
    fn centre_and_portrait_geometry() {
        let wide = image::RgbImage::new(1000, 600);
        let tall = image::RgbImage::new(600, 1200);
        let sq = image::RgbImage::new(300, 300);
        let place = |img, mode| place_square(img, mode, Framing::Standard, 0);
        let c = place(&wide, CropMode::Centre);
        assert_eq!((c.x, c.y, c.side, c.note), (200, 0, 600, CropNote::Centre));
        let c = place(&tall, CropMode::Centre);
        assert_eq!((c.x, c.y, c.side), (0, 300, 600));
        let p = place(&tall, CropMode::Portrait);
        assert_eq!(
            (p.x, p.y, p.side, p.note),
            (0, 100, 600, CropNote::Portrait)
        );
        let p = place(&wide, CropMode::Portrait);
        assert_eq!((p.x, p.y), (200, 0));
        let p = place(&sq, CropMode::Portrait);
        assert_eq!((p.x, p.y, p.side), (0, 0, 300));
    }

    #[test]
    fn tiny_and_empty_images_do_not_panic() {
        for (w, h) in [(0, 0), (1, 1), (3, 1), (1, 7), (39, 60), (50, 50)] {
            let img = image::RgbImage::new(w, h);
            for mode in [CropMode::Face, CropMode::Portrait, CropMode::Centre] {
                let p = place_square(&img, mode, Framing::Standard, 0);
                assert_eq!(p.side, w.min(h));
                assert!(p.x + p.side <= w && p.y + p.side <= h);
            }
        }
    }

    #[test]
    fn faceless_tall_picture_keeps_the_top_over_a_busy_shirt() {
        let (w, h) = (600, 900);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            if y > 500 {
                let v = if (x / 4 + y / 4) % 2 == 0 { 20 } else { 250 };
                image::Rgb([v, 30, 255 - v])
            } else if (200..400).contains(&x) && (60..300).contains(&y) {
                image::Rgb([200, 160, 130])
            } else {
                image::Rgb([120, 120, 120])
            }
        });
        let p = place_square(&img, CropMode::Face, Framing::Standard, 0);
        assert_eq!(p.note, CropNote::NoFace);
        assert!(p.y <= portrait_y(h, w), "{p:?}");
        assert!(p.y <= 60, "the head must stay inside: {p:?}");
    }

    #[test]
    fn faceless_picture_uses_saliency_towards_the_busy_side() {
        let (w, h) = (1200, 648);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            if x > 950 && (200..400).contains(&y) {
                let v = if (x / 3 + y / 3) % 2 == 0 { 10 } else { 240 };
                image::Rgb([v, 255 - v, v / 2])
            } else {
                image::Rgb([90, 100, 110])
            }
        });
        let p = place_square(&img, CropMode::Face, Framing::Standard, 0);
        assert_eq!(p.note, CropNote::NoFace);
        assert!(p.x + p.side >= 1150, "{p:?}");
    }

    // Real faces, fetched by scripts/fetch-test-faces.sh into the ignored .cache/faces
    // (never committed): the tests say so and pass when they are absent.

    fn real(name: &str) -> Option<image::RgbImage> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".cache/faces")
            .join(name);
        match image::open(&path) {
            Ok(img) => Some(img.to_rgb8()),
            Err(_) => {
                eprintln!(
                    "skipped: {} absent (run scripts/fetch-test-faces.sh)",
                    path.display()
                );
                None
            }
        }
    }

    /// `face` shrunk to `scale` and pasted at (x, y) into a plain `w`x`h` picture.
    fn pasted(
        face: &image::RgbImage,
        scale: f32,
        w: u32,
        h: u32,
        at: &[(i64, i64)],
    ) -> image::RgbImage {
        let small = image::imageops::resize(
            face,
            (face.width() as f32 * scale) as u32,
            (face.height() as f32 * scale) as u32,
            image::imageops::FilterType::Triangle,
        );
        let mut big = image::RgbImage::from_pixel(w, h, image::Rgb([110, 120, 115]));
        for &(x, y) in at {
            image::imageops::overlay(&mut big, &small, x, y);
        }
        big
    }

    fn share(p: &Placement) -> f32 {
        p.face.map_or(0.0, |f| f.width / p.side as f32)
    }

    #[test]
    fn real_face_small_in_a_large_picture_is_found_and_framed() {
        let Some(astronaut) = real("astronaut.png") else {
            return;
        };
        // 512 px photo at 1.5: the face is ~135 px, 7% of the 2000 px short side (a
        // full-length or event photo), ~19 px in the analysis copy.
        let img = pasted(&astronaut, 1.5, 3000, 2000, &[(1300, 700)]);
        for framing in [Framing::Tight, Framing::Standard, Framing::Loose] {
            let p = place_square(&img, CropMode::Face, framing, 100);
            assert_eq!(p.note, CropNote::Face, "{framing:?}");
            let f = p.face.expect("face");
            assert!(f.x > 1300.0 && f.x + f.width < 1300.0 + 768.0, "{f:?}");
            let got = share(&p);
            assert!(
                (got - framing.face_share()).abs() < 0.06,
                "{framing:?}: share {got}"
            );
            assert!(inside((p.x, p.y, p.side), &f));
            // Eyes in the upper middle.
            let eyes = (f.eyes().1 - p.y as f32) / p.side as f32;
            assert!((0.3..0.5).contains(&eyes), "eyes at {eyes}");
        }
        // Zoom never goes below the minimum side (no upscaling).
        let p = place_square(&img, CropMode::Face, Framing::Tight, 648);
        assert_eq!(p.side, 648);
    }

    #[test]
    fn real_face_too_small_for_the_first_pass_is_found_by_the_second() {
        let Some(hanks) = real("Tom_Hanks_54745.png") else {
            return;
        };
        // The 112 px aligned face at 3.1x: ~347 px, 12% of the 3000 px short side, ~36 px
        // in the first pass's 416x312 copy (this tightly cropped face, with no hair or
        // background around it, is found only from ~37 px), ~72 px in the second's. Its
        // first-pass best score, 0.45, is a near miss (at 2.2x, 0.13 is not: see the
        // README on NEAR_MISS_SCORE); the second pass finds it in a window around it.
        let (x0, fw) = (2100.0, 112.0 * 3.1);
        let img = pasted(&hanks, 3.1, 4000, 3000, &[(2100, 1200)]);
        let first = analysis_copy(&img, first_shape(4000, 3000));
        assert_eq!(
            (first.width, first.height, first.shape),
            (416, 312, (416, 320))
        );
        assert!(
            detect_on(&first, 4000, 3000).detection.faces.is_empty(),
            "the first pass alone must miss this face, or the test proves nothing"
        );
        let p = place_square(&img, CropMode::Face, Framing::Standard, 100);
        assert_eq!(p.note, CropNote::Face);
        let f = p.face.expect("face");
        assert!(f.x >= x0 - 20.0 && f.x + f.width <= x0 + fw + 20.0, "{f:?}");
        assert!((1150.0..1350.0).contains(&f.y), "{f:?}");
        assert!(inside((p.x, p.y, p.side), &f), "{p:?}");
        let got = share(&p);
        assert!(
            (got - Framing::Standard.face_share()).abs() < 0.06,
            "share {got}"
        );
        // Found on the finer copy, so "the same size" is 3 px of that copy.
        assert!(faces_in(&img).0.faces.len() == 1);
    }

    #[test]
    fn second_pass_windows_sit_on_the_near_misses() {
        let m = |x: f32, y: f32, score: f32| face::NearMiss { x, y, score };
        // Best first; one cluster of three, two places of their own, and more than
        // MAX_WINDOWS places: the best places win.
        let near = [
            m(100.0, 100.0, 0.5),
            m(110.0, 95.0, 0.45),
            m(300.0, 200.0, 0.4),
            m(90.0, 120.0, 0.35),
            m(20.0, 300.0, 0.3),
            m(400.0, 20.0, 0.25),
        ];
        // Scaled 1.5x into a 624x468 copy; windows centred, cut to the copy.
        let got = windows(&near, 1.5, 1.5, (624, 468));
        assert_eq!(got, vec![(54, 54), (354, 204), (0, 276)]);
        for &(x, y) in &got {
            assert!(x + WINDOW <= 624 && y + WINDOW <= 468);
        }
        // A copy smaller than a window: the window starts at its corner.
        assert_eq!(windows(&near[..1], 1.0, 1.0, (150, 120)), vec![(0, 0)]);
        assert!(windows(&[], 1.5, 1.5, (624, 468)).is_empty());
    }

    #[test]
    fn analysis_shapes_follow_the_aspect_ratio() {
        for ((w, h), shape, copy) in [
            ((4000, 3000), (416, 320), (416, 312)),
            ((3000, 4000), (320, 416), (312, 416)),
            ((4608, 1976), (576, 256), (576, 247)),
            ((6000, 4000), (448, 288), (432, 288)),
            ((1920, 1080), (512, 288), (512, 288)),
            ((1000, 1000), (384, 384), (384, 384)),
            ((2000, 1000), (512, 256), (512, 256)),
        ] {
            assert_eq!(first_shape(w, h), shape, "{w}x{h}");
            let img = image::RgbImage::new(w, h);
            let small = analysis_copy(&img, shape);
            assert_eq!((small.width, small.height), copy, "{w}x{h}");
            // The second pass's copy: twice as fine, never finer than the photo.
            let fine = analysis_copy(&img, (2 * shape.0, 2 * shape.1));
            assert_eq!(
                (fine.width, fine.height),
                (2 * copy.0, 2 * copy.1),
                "{w}x{h}"
            );
        }
        // A photo already smaller than the shape is used as it is.
        let img = image::RgbImage::new(300, 200);
        let small = analysis_copy(&img, first_shape(300, 200));
        assert_eq!((small.width, small.height), (300, 200));
    }

    #[test]
    fn real_face_at_the_edge_stays_whole_inside_the_photo() {
        let Some(hanks) = real("Tom_Hanks_54745.png") else {
            return;
        };
        // The 112 px aligned face, doubled, against the right edge and the top.
        let img = pasted(
            &hanks,
            2.0,
            1600,
            900,
            &[(1600 - 2 * hanks.width() as i64, 0)],
        );
        let p = place_square(&img, CropMode::Face, Framing::Standard, 100);
        assert_eq!(p.note, CropNote::Face);
        let f = p.face.expect("face");
        assert!(p.x + p.side <= 1600 && p.y + p.side <= 900);
        assert!(inside((p.x, p.y, p.side), &f), "{p:?}");
    }

    #[test]
    fn several_real_faces_prefer_the_centre_and_say_so() {
        let Some(hanks) = real("Tom_Hanks_54745.png") else {
            return;
        };
        let (w, h) = (2400, 1200);
        let fw = 2 * hanks.width() as i64;
        let centre = (w as i64 / 2 - fw / 2, 400);
        let img = pasted(
            &hanks,
            2.0,
            w,
            h,
            &[(50, 100), centre, (w as i64 - fw - 50, 700)],
        );
        let p = place_square(&img, CropMode::Face, Framing::Standard, 100);
        assert_eq!(p.note, CropNote::SeveralFaces(3));
        let f = p.face.expect("face");
        assert!((f.x - centre.0 as f32).abs() < fw as f32, "{f:?}");

        // The integration test's layout: in the 512x256 copy the centre face scores
        // below KEEP_SCORE and the other two above; it is kept for being as large as they
        // are, framed, and said to be low-confidence.
        let centre = (1200 - fw / 2, 450);
        let img = pasted(
            &hanks,
            2.0,
            w,
            h,
            &[(60, 100), centre, (w as i64 - fw - 60, 800)],
        );
        let (found, _) = faces_in(&img);
        let weak: Vec<&FaceBox> = found
            .faces
            .iter()
            .filter(|f| f.score < face::KEEP_SCORE)
            .collect();
        assert_eq!(
            (found.faces.len(), weak.len()),
            (3, 1),
            "one face must score below KEEP_SCORE, or this proves nothing: {found:?}"
        );
        let p = place_square(&img, CropMode::Face, Framing::Standard, 100);
        assert_eq!(p.note, CropNote::SeveralFaces(3));
        let f = p.face.expect("face");
        assert!((f.x - centre.0 as f32).abs() < fw as f32, "{f:?}");
        assert_eq!(p.low_confidence, f.score < face::KEEP_SCORE, "{p:?}");

        let Some(group) = real("t1.jpg") else { return };
        let p = place_square(&group, CropMode::Face, Framing::Standard, 100);
        assert!(
            matches!(p.note, CropNote::SeveralFaces(n) if n >= 4),
            "{:?}",
            p.note
        );
    }

    #[test]
    fn real_photos_without_a_face_fall_back() {
        for name in ["mask_white.jpg", "mask_blue.jpg"] {
            let Some(img) = real(name) else { return };
            let p = place_square(&img, CropMode::Face, Framing::Standard, 100);
            assert_eq!(p.note, CropNote::NoFace, "{name}");
            assert!(p.face.is_none());
        }
    }

    #[test]
    fn a_photo_with_nothing_like_a_face_skips_the_second_pass() {
        // Large enough for a finer copy, and nothing in it near a face.
        let img = image::RgbImage::from_fn(4000, 3000, |x, y| {
            image::Rgb([(x / 16) as u8, (y / 12) as u8, 120])
        });
        let (found, passes) = faces_in(&img);
        assert!(found.faces.is_empty());
        assert!(passes.first_best < face::NEAR_MISS_SCORE, "{passes:?}");
        assert_eq!(passes.windows, 0, "{passes:?}");
        // A face too small for the first pass is a near miss there, so the second pass
        // runs (and finds it: real_face_too_small_for_the_first_pass_...).
        let Some(hanks) = real("Tom_Hanks_54745.png") else {
            return;
        };
        let img = pasted(&hanks, 3.1, 4000, 3000, &[(2100, 1200)]);
        let (found, passes) = faces_in(&img);
        assert!(passes.first_best >= face::NEAR_MISS_SCORE, "{passes:?}");
        // The near misses are all on the one face: one window.
        assert_eq!(passes.windows, 1, "{passes:?}");
        assert_eq!(found.faces.len(), 1);
    }
}

/// Detection rate and time on the fetched real faces, for the README:
/// `cargo test --lib measure_detection -- --ignored --nocapture`.
#[cfg(test)]
mod measure {
    use super::*;
    use std::time::Instant;

    #[test]
    #[ignore = "a measurement, not a check"]
    fn measure_detection() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/faces");
        let open = |n: &str| image::open(dir.join(n)).ok().map(|i| i.to_rgb8());
        let (Some(astro), Some(hanks), Some(group)) = (
            open("astronaut.png"),
            open("Tom_Hanks_54745.png"),
            open("t1.jpg"),
        ) else {
            eprintln!("skipped: run scripts/fetch-test-faces.sh");
            return;
        };
        let mut cases: Vec<(String, image::RgbImage, usize)> = vec![
            ("astronaut".into(), astro.clone(), 1),
            ("Tom Hanks".into(), hanks.clone(), 1),
            ("t1 group".into(), group, 6),
        ];
        for (name, img) in [("astronaut", &astro), ("Tom Hanks", &hanks)] {
            // The face's own width in this photo, as the detector boxes it (the
            // astronaut's face is a sixth of her photo's width, Tom Hanks's aligned crop
            // is nearly all face): the pasted face is scaled from that.
            let own = face::detect(img.as_raw(), img.width(), img.height())
                .faces
                .first()
                .map(|f| f.width)
                .expect("the unscaled photo's face");
            eprintln!(
                "{name}: the face is {own:.0} px wide in the {} px photo",
                img.width()
            );
            for share in [0.02f32, 0.03, 0.05, 0.08, 0.12] {
                // The face `share` of the 3000 px short side of a 4000x3000 photo.
                let scale = share * 3000.0 / own;
                let small = image::imageops::resize(
                    img,
                    (img.width() as f32 * scale) as u32,
                    (img.height() as f32 * scale) as u32,
                    image::imageops::FilterType::Triangle,
                );
                let mut big = image::RgbImage::from_pixel(4000, 3000, image::Rgb([100, 110, 105]));
                image::imageops::overlay(&mut big, &small, 2100, 1200);
                let px = share * 3000.0;
                cases.push((
                    format!(
                        "{name} face {:.0}% of the short side ({px:.0} px of 4000x3000, {:.0} px in the analysis copy)",
                        share * 100.0,
                        px * 416.0 / 4000.0
                    ),
                    big,
                    1,
                ));
            }
        }
        let (mut found, mut wanted) = (0, 0);
        for (name, img, n) in &cases {
            let (w, h) = img.dimensions();
            let small = analysis_copy(img, first_shape(w, h));
            let _ = find(img, &small); // plan once
            let runs = 5;
            let start = Instant::now();
            let mut d = face::Detection::default();
            for _ in 0..runs {
                d = detect_on(&small, w, h).detection;
            }
            let per = start.elapsed() / runs;
            let first_got = d.faces.len();
            let start = Instant::now();
            for _ in 0..runs {
                d = find(img, &small).0.detection;
            }
            let both = start.elapsed() / runs;
            let got = d.faces.len().min(*n);
            found += got;
            wanted += n;
            eprintln!(
                "{name}: {got}/{n} faces ({first_got} on the first pass; scores {:?}), {}x{} copy in {:?}, {per:?} the first pass, {both:?} both",
                d.faces
                    .iter()
                    .map(|f| (f.score * 100.0).round() / 100.0)
                    .collect::<Vec<_>>(),
                small.width,
                small.height,
                small.shape,
            );
        }
        eprintln!("found {found} of {wanted} faces");
    }
}

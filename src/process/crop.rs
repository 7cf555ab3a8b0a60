//! Chooses where the square goes in an oriented photo: around the face, by saliency,
//! biased to the top (portrait) or in the centre.

use std::borrow::Cow;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::CropNote;
use super::face::{self, FaceBox};
use super::saliency;
use crate::config::CropMode;

/// The square to cut: `side` is the short side of the image, `x`/`y` its top-left corner
/// in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: u32,
    pub y: u32,
    pub side: u32,
    pub note: CropNote,
}

/// Short side of the copy that detection and saliency look at. SeetaFace's window is
/// 40 px, so faces down to 1/10 of the photo's short side are found; a headshot's face is
/// 1/4 to 2/3 of it. Bigger copies find smaller faces but cost quadratically more.
pub const ANALYSIS_SHORT_SIDE: u32 = 400;

/// Where the eyes sit in the square, from the top: upper middle, with room above
/// the hair (SeetaFace boxes run from the eyebrows to the chin, so the hair is above).
const EYES_FROM_TOP: f32 = 0.40;
/// Eyes in a SeetaFace box, from its top.
const EYES_IN_BOX: f32 = 0.38;
/// Faces narrower than this share of the largest one are ignored when counting
/// (passers-by, pictures on the wall, false positives in the background).
const COUNTED_FACE_SHARE: f32 = 1.0 / 3.0;

/// Places the square for `mode` (see [`CropMode`]). Never fails: a photo without a
/// face gets the saliency crop and [`CropNote::NoFace`].
pub fn place_square(img: &image::RgbImage, mode: CropMode) -> Placement {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    match mode {
        CropMode::Centre => Placement {
            x: (w - side) / 2,
            y: (h - side) / 2,
            side,
            note: CropNote::Centre,
        },
        CropMode::Portrait => Placement {
            x: (w - side) / 2,
            y: portrait_y(h, side),
            side,
            note: CropNote::Portrait,
        },
        CropMode::Face => place_by_content(img),
    }
}

/// Portrait photos have the head in the top third and the body below: keep one sixth of
/// the spare height above the square and five sixths below. For a 3:4 photo that moves
/// the square up by a third of the way from centre to top, enough to keep hair in
/// without cutting the chin of someone standing lower in the frame.
fn portrait_y(h: u32, side: u32) -> u32 {
    (h - side) / 6
}

fn place_by_content(img: &image::RgbImage) -> Placement {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    if side == 0 {
        return Placement {
            x: 0,
            y: 0,
            side,
            note: CropNote::NoFace,
        };
    }
    let small = analysis_copy(img);
    let (sw, sh) = (small.width, small.height);
    let gray: Vec<u8> = small
        .rgb
        .chunks_exact(3)
        .map(|p| ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32) >> 8) as u8)
        .collect();
    let faces = face::detect(&gray, sw, sh);
    let (fx, fy) = (w as f32 / sw as f32, h as f32 / sh as f32);
    if let Some(largest) = faces.first() {
        let counted = faces
            .iter()
            .filter(|f| f.width >= largest.width * COUNTED_FACE_SHARE)
            .count();
        let scaled = FaceBox {
            x: largest.x * fx,
            y: largest.y * fy,
            width: largest.width * fx,
            height: largest.height * fy,
            score: largest.score,
        };
        let (x, y) = frame_face(w, h, &scaled);
        return Placement {
            x,
            y,
            side,
            note: if counted > 1 {
                CropNote::SeveralFaces(counted)
            } else {
                CropNote::Face
            },
        };
    }
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
    Placement {
        x: ((sx as f32 * fx).round() as u32).min(w - side),
        y,
        side,
        note: CropNote::NoFace,
    }
}

/// Top-left corner of the `min(w, h)` square that frames `face` (image coordinates):
/// horizontally centred on it, eyes at [`EYES_FROM_TOP`], the whole box inside whenever
/// it fits, clamped to the image.
pub fn frame_face(w: u32, h: u32, face: &FaceBox) -> (u32, u32) {
    let side = w.min(h) as f32;
    let centre_x = face.x + face.width / 2.0;
    let x = centre_x - side / 2.0;

    let eyes = face.y + face.height * EYES_IN_BOX;
    let mut y = eyes - side * EYES_FROM_TOP;
    // Keep the chin in, then (winning if the face is taller than the square) the top.
    y = y.max(face.y + face.height - side);
    y = y.min(face.y);

    let clamp = |v: f32, max: u32| (v.round().max(0.0) as u32).min(max);
    (clamp(x, w - w.min(h)), clamp(y, h - w.min(h)))
}

struct Small<'a> {
    rgb: Cow<'a, [u8]>,
    width: u32,
    height: u32,
}

/// The photo shrunk to [`ANALYSIS_SHORT_SIDE`] (box filter: averaging is what a
/// detector trained on downscaled faces expects, and it is the cheapest), or the photo
/// itself when it is already that small.
fn analysis_copy(img: &image::RgbImage) -> Small<'_> {
    let (w, h) = img.dimensions();
    let short = w.min(h);
    let whole = || Small {
        rgb: Cow::Borrowed(img.as_raw().as_slice()),
        width: w,
        height: h,
    };
    if short <= ANALYSIS_SHORT_SIDE {
        return whole();
    }
    let scale = ANALYSIS_SHORT_SIDE as f32 / short as f32;
    let sw = ((w as f32 * scale).round() as u32).max(1);
    let sh = ((h as f32 * scale).round() as u32).max(1);
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32) -> FaceBox {
        FaceBox {
            x,
            y,
            width: size,
            height: size,
            score: 10.0,
        }
    }

    fn inside(p: (u32, u32), side: u32, f: &FaceBox) -> bool {
        let (x, y) = (p.0 as f32, p.1 as f32);
        f.x >= x
            && f.y >= y
            && f.x + f.width <= x + side as f32
            && f.y + f.height <= y + side as f32
    }

    #[test]
    fn wide_face_at_left_edge_is_whole_and_clamped() {
        let f = face(10.0, 300.0, 200.0);
        let p = frame_face(1600, 648, &f);
        assert_eq!(p.0, 0);
        assert!(inside(p, 648, &f));
    }

    #[test]
    fn wide_face_in_middle_is_horizontally_centred() {
        let f = face(700.0, 100.0, 200.0);
        let p = frame_face(1600, 648, &f);
        assert_eq!(p, (800 - 324, 0));
    }

    #[test]
    fn tall_face_low_down_is_whole_with_eyes_in_upper_middle() {
        let f = face(200.0, 700.0, 150.0);
        let p = frame_face(648, 1400, &f);
        assert!(inside(p, 648, &f));
        let eyes = 700.0 + 150.0 * EYES_IN_BOX - p.1 as f32;
        assert!(
            (eyes / 648.0 - EYES_FROM_TOP).abs() < 0.01,
            "eyes at {eyes}"
        );
        // Headroom: the box top is well below the square's top.
        assert!(700 - p.1 > 150);
    }

    #[test]
    fn tall_face_at_bottom_edge_is_whole() {
        let f = face(480.0, 1240.0, 150.0);
        let p = frame_face(648, 1400, &f);
        assert_eq!(p, (0, 752));
        assert!(inside(p, 648, &f));
    }

    #[test]
    fn tall_face_near_top_is_clamped() {
        let f = face(250.0, 5.0, 150.0);
        assert_eq!(frame_face(648, 1400, &f), (0, 0));
    }

    #[test]
    fn big_face_keeps_its_chin() {
        // Box 90% of the square: eyes-at-40% would cut the chin, so it moves down.
        let f = face(20.0, 400.0, 580.0);
        let p = frame_face(648, 1200, &f);
        assert!(inside(p, 648, &f), "{p:?}");
    }

    #[test]
    fn square_image_stays_put() {
        let f = face(500.0, 500.0, 100.0);
        assert_eq!(frame_face(648, 648, &f), (0, 0));
    }

    #[test]
    fn centre_and_portrait_geometry() {
        let wide = image::RgbImage::new(1000, 600);
        let tall = image::RgbImage::new(600, 1200);
        let sq = image::RgbImage::new(300, 300);
        let c = place_square(&wide, CropMode::Centre);
        assert_eq!((c.x, c.y, c.side, c.note), (200, 0, 600, CropNote::Centre));
        let c = place_square(&tall, CropMode::Centre);
        assert_eq!((c.x, c.y, c.side), (0, 300, 600));
        let p = place_square(&tall, CropMode::Portrait);
        assert_eq!(
            (p.x, p.y, p.side, p.note),
            (0, 100, 600, CropNote::Portrait)
        );
        let p = place_square(&wide, CropMode::Portrait);
        assert_eq!((p.x, p.y), (200, 0));
        let p = place_square(&sq, CropMode::Portrait);
        assert_eq!((p.x, p.y, p.side), (0, 0, 300));
    }

    #[test]
    fn tiny_and_empty_images_do_not_panic() {
        for (w, h) in [(0, 0), (1, 1), (3, 1), (1, 7), (39, 60), (50, 50)] {
            let img = image::RgbImage::new(w, h);
            for mode in [CropMode::Face, CropMode::Portrait, CropMode::Centre] {
                let p = place_square(&img, mode);
                assert_eq!(p.side, w.min(h));
                assert!(p.x + p.side <= w && p.y + p.side <= h);
            }
        }
    }

    #[test]
    fn faceless_tall_picture_keeps_the_top_over_a_busy_shirt() {
        // A plain head-sized patch at the top, a loud striped shirt filling the bottom.
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
        let p = place_square(&img, CropMode::Face);
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
        let p = place_square(&img, CropMode::Face);
        assert_eq!(p.note, CropNote::NoFace);
        assert!(p.x + p.side >= 1150, "{p:?}");
    }
}

//! Places the square on the photo: around the largest face, else on the most interesting
//! region (saliency, as libvips' `attention` does), or top third / centre when asked.

use image::RgbImage;

use super::CropNote;
use super::face;
use crate::options::CropMode;

/// Where the square goes, in the coordinates of the image given to [`place_square`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub x: u32,
    pub y: u32,
    pub side: u32,
    pub note: CropNote,
}

/// Where the face centre sits, from the top of the square: upper middle, which leaves
/// room above for hair and below for shoulders.
const FACE_CENTRE_FROM_TOP: f32 = 0.42;

/// A second face counts when it is at least this share of the largest face's area
/// (smaller detections are background people or false alarms).
const SECOND_FACE_AREA: f32 = 0.3;

pub fn place_square(img: &RgbImage, mode: CropMode) -> Placement {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    let centre = |note| Placement {
        x: (w - side) / 2,
        y: (h - side) / 2,
        side,
        note,
    };
    if w == h {
        return match mode {
            CropMode::Face => {
                let faces = face::detect(img);
                Placement {
                    x: 0,
                    y: 0,
                    side,
                    note: face_note(&faces),
                }
            }
            CropMode::Portrait => Placement {
                note: CropNote::Portrait,
                ..centre(CropNote::Portrait)
            },
            CropMode::Centre => centre(CropNote::Centre),
        };
    }
    match mode {
        CropMode::Centre => centre(CropNote::Centre),
        CropMode::Portrait => Placement {
            x: (w - side) / 2,
            // Top third: heads are near the top of staff portraits.
            y: (h - side) / 6,
            side,
            note: CropNote::Portrait,
        },
        CropMode::Face => {
            let faces = face::detect(img);
            match faces.first() {
                Some(f) => {
                    let cx = f.x + f.width / 2.0;
                    let cy = f.y + f.height / 2.0;
                    Placement {
                        x: clamp(cx - side as f32 / 2.0, w - side),
                        y: clamp(cy - side as f32 * FACE_CENTRE_FROM_TOP, h - side),
                        side,
                        note: face_note(&faces),
                    }
                }
                None => {
                    let (x, y) = saliency(img, side);
                    Placement {
                        x,
                        y,
                        side,
                        note: CropNote::NoFace,
                    }
                }
            }
        }
    }
}

fn face_note(faces: &[face::Face]) -> CropNote {
    match faces.first() {
        None => CropNote::NoFace,
        Some(big) => {
            let area = big.width * big.height;
            let n = faces
                .iter()
                .filter(|f| f.width * f.height >= area * SECOND_FACE_AREA)
                .count();
            if n > 1 {
                CropNote::SeveralFaces(n)
            } else {
                CropNote::Face
            }
        }
    }
}

fn clamp(v: f32, max: u32) -> u32 {
    (v.round().max(0.0) as u32).min(max)
}

/// Long side of the copy the saliency map is computed on.
const SALIENCY_LONG_SIDE: u32 = 128;

/// The square window with the most "interest": edges, skin tones and saturation, each
/// as libvips' attention crop weighs them. Returns the window's top-left corner.
fn saliency(img: &RgbImage, side: u32) -> (u32, u32) {
    let (w, h) = img.dimensions();
    let scale = SALIENCY_LONG_SIDE as f32 / w.max(h) as f32;
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(3),
        ((h as f32 * scale).round() as u32).max(3),
    );
    let small = super::resize::rgb_small(img, sw, sh);
    let luma: Vec<f32> = small
        .pixels()
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    let idx = |x: u32, y: u32| (y * sw + x) as usize;
    // Interest per column (wide photos) or per row (tall photos): the window only slides
    // along the long axis.
    let horizontal = w > h;
    let mut profile = vec![0f32; if horizontal { sw } else { sh } as usize];
    for y in 1..sh - 1 {
        for x in 1..sw - 1 {
            let gx = luma[idx(x + 1, y)] - luma[idx(x - 1, y)];
            let gy = luma[idx(x, y + 1)] - luma[idx(x, y - 1)];
            let edge = (gx * gx + gy * gy).sqrt() / 255.0;
            let p = small.get_pixel(x, y);
            let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
            let max = r.max(g).max(b);
            let min = r.min(g).min(b);
            let saturation = if max > 0.0 { (max - min) / max } else { 0.0 };
            let skin = skin_score(r, g, b);
            let interest = edge + 4.0 * skin + 0.2 * saturation;
            let slot = if horizontal { x } else { y };
            // In a tall photo the person's head is near the top far more often than
            // not; a gentle prior keeps a bright shirt from winning over the face.
            let prior = if horizontal {
                1.0
            } else {
                1.0 + 0.8 * (1.0 - y as f32 / sh as f32)
            };
            profile[slot as usize] += interest * prior;
        }
    }
    let win = ((side as f32 * scale).round() as usize).clamp(1, profile.len());
    let mut best = (0usize, f32::MIN);
    let mut sum: f32 = profile[..win].iter().sum();
    for start in 0..=profile.len() - win {
        if start > 0 {
            sum += profile[start + win - 1] - profile[start - 1];
        }
        if sum > best.1 {
            best = (start, sum);
        }
    }
    let offset = (best.0 as f32 / scale).round() as u32;
    if horizontal {
        (offset.min(w - side), 0)
    } else {
        (0, offset.min(h - side))
    }
}

/// How much a colour looks like skin (0-1), across skin tones: a ratio test in
/// normalised rg space, as in the classic skin-detection rules libvips also uses.
fn skin_score(r: f32, g: f32, b: f32) -> f32 {
    let sum = r + g + b;
    if sum < 60.0 {
        return 0.0;
    }
    let (nr, ng) = (r / sum, g / sum);
    // Centre of the skin cluster in normalised rg, with a soft fall-off.
    let d = ((nr - 0.46).powi(2) / 0.004 + (ng - 0.32).powi(2) / 0.002).sqrt();
    (1.0 - d).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_and_portrait_geometry() {
        let wide = RgbImage::new(300, 100);
        assert_eq!(
            place_square(&wide, CropMode::Centre),
            Placement {
                x: 100,
                y: 0,
                side: 100,
                note: CropNote::Centre
            }
        );
        let tall = RgbImage::new(100, 400);
        let p = place_square(&tall, CropMode::Portrait);
        assert_eq!((p.x, p.y, p.side), (0, 50, 100));
    }

    #[test]
    fn saliency_finds_the_busy_region() {
        let mut img = RgbImage::from_pixel(600, 200, image::Rgb([90, 110, 130]));
        for y in 0..200 {
            for x in 440..560 {
                let v = if (x / 6 + y / 6) % 2 == 0 { 20 } else { 240 };
                img.put_pixel(x, y, image::Rgb([v, v / 2, 255 - v]));
            }
        }
        let p = place_square(&img, CropMode::Face);
        assert_eq!(p.note, CropNote::NoFace);
        assert!(p.x >= 360 && p.x + p.side >= 560, "{p:?}");
    }

    #[test]
    fn tiny_images_do_not_panic() {
        for (w, h) in [(1, 1), (1, 5), (5, 1), (30, 2)] {
            let p = place_square(&RgbImage::new(w, h), CropMode::Face);
            assert!(p.x + p.side <= w && p.y + p.side <= h);
        }
    }
}

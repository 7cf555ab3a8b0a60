//! Encodes the final square as a baseline, 4:2:0, Huffman-optimised JPEG with no metadata,
//! at the highest quality that fits the byte budget (libjpeg-turbo).

use std::cell::RefCell;

use image::RgbImage;
use turbojpeg::{Compressor, PixelFormat, Subsamp};

use super::ProcessError;

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor>> = const { RefCell::new(None) };
}

/// An encoded JPEG and the quality it was made at.
#[derive(Debug)]
pub struct Encoded {
    pub jpeg: Vec<u8>,
    pub quality: u8,
}

fn encode_err(e: turbojpeg::Error) -> ProcessError {
    ProcessError::Encode(e.to_string())
}

/// Encodes once at `quality`.
pub fn encode(img: &RgbImage, quality: u8) -> Result<Vec<u8>, ProcessError> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut c = Compressor::new().map_err(encode_err)?;
            c.set_subsamp(Subsamp::Sub2x2).map_err(encode_err)?;
            c.set_optimize(true).map_err(encode_err)?;
            c.set_progressive(false).map_err(encode_err)?;
            *slot = Some(c);
        }
        let Some(c) = slot.as_mut() else {
            return Err(ProcessError::Encode("libjpeg-turbo could not start".into()));
        };
        c.set_quality(i32::from(quality)).map_err(encode_err)?;
        let (w, h) = img.dimensions();
        let image = turbojpeg::Image {
            pixels: img.as_raw().as_slice(),
            width: w as usize,
            pitch: w as usize * 3,
            height: h as usize,
            format: PixelFormat::RGB,
        };
        c.compress_to_vec(image).map_err(encode_err)
    })
}

/// libjpeg's quality scaling: the percentage its quantisation tables are scaled by.
fn table_scale(q: f64) -> f64 {
    let q = q.clamp(1.0, 100.0);
    let s = if q < 50.0 {
        5000.0 / q
    } else {
        200.0 - 2.0 * q
    };
    s.max(1.0)
}

/// The quality whose table scale is `s` (the inverse of [`table_scale`]).
fn quality_for_scale(s: f64) -> f64 {
    if s > 100.0 {
        5000.0 / s
    } else {
        (200.0 - s) / 2.0
    }
}

/// How fast a photo's JPEG size falls as the quantisation tables grow: ln(bytes) is close
/// to linear in ln(table scale) with this slope for camera and phone photos (measured).
const SIZE_SLOPE: f64 = 0.6;

/// Finds the highest quality in `min..=max` whose JPEG fits `max_bytes`.
///
/// Most photos fit at `max` (one encode). Otherwise the size is modelled as a straight
/// line in log-log space (ln bytes against ln of libjpeg's table scale): the first guess
/// uses the typical slope, later ones the line through the two closest measurements, each
/// kept strictly inside the bracket (highest quality known to fit, lowest known not to),
/// so the answer is found and proven (the next quality up does not fit) in about three
/// encodes. After three model guesses it falls back to halving the bracket.
pub fn encode_within(
    img: &RgbImage,
    max: u8,
    min: u8,
    max_bytes: usize,
) -> Result<Encoded, ProcessError> {
    let first = encode(img, max)?;
    if first.len() <= max_bytes {
        return Ok(Encoded {
            jpeg: first,
            quality: max,
        });
    }
    let mut encodes = 1;
    // Highest quality known to fit (with its bytes), lowest known not to (with its size).
    let mut fits: Option<(u8, Vec<u8>)> = None;
    let (mut hi, mut hi_len) = (max, first.len());
    let target = (max_bytes as f64 * 0.995).ln();
    let point = |q: u8, len: usize| (table_scale(f64::from(q)).ln(), (len as f64).ln());
    loop {
        let lo = fits
            .as_ref()
            .map_or(i32::from(min) - 1, |(q, _)| i32::from(*q));
        if i32::from(hi) - lo <= 1 {
            break;
        }
        let (x_hi, y_hi) = point(hi, hi_len);
        let guess = if encodes > 3 {
            (f64::from(hi) + lo as f64) / 2.0
        } else {
            let x = match &fits {
                Some((q, bytes)) => {
                    let (x_lo, y_lo) = point(*q, bytes.len());
                    if (y_lo - y_hi).abs() > 1e-9 {
                        x_hi + (target - y_hi) * (x_lo - x_hi) / (y_lo - y_hi)
                    } else {
                        (x_lo + x_hi) / 2.0
                    }
                }
                None => x_hi + (y_hi - target) / SIZE_SLOPE,
            };
            quality_for_scale(x.exp())
        };
        let q = (guess.floor() as i32).clamp(lo + 1, i32::from(hi) - 1);
        let q = u8::try_from(q).unwrap_or(min);
        let jpeg = encode(img, q)?;
        encodes += 1;
        if jpeg.len() <= max_bytes {
            fits = Some((q, jpeg));
        } else {
            hi = q;
            hi_len = jpeg.len();
        }
    }
    match fits {
        Some((quality, jpeg)) => {
            tracing::debug!(quality, bytes = jpeg.len(), encodes, "quality search");
            Ok(Encoded { jpeg, quality })
        }
        None => Err(ProcessError::OverBudget {
            max_bytes,
            floor: min,
            smallest: hi_len,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(side: u32) -> RgbImage {
        let mut seed = 12345u32;
        RgbImage::from_fn(side, side, |_, _| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (seed >> 16) as u8;
            image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(90)])
        })
    }

    #[test]
    fn finds_the_highest_quality_that_fits() {
        let img = noisy(200);
        let budget = 30_000;
        let enc = encode_within(&img, 95, 20, budget).unwrap();
        assert!(enc.jpeg.len() <= budget);
        assert!(encode(&img, enc.quality + 1).unwrap().len() > budget);
    }

    #[test]
    fn search_agrees_with_trying_every_quality() {
        let img = noisy(160);
        let sizes: Vec<usize> = (40..=90).map(|q| encode(&img, q).unwrap().len()).collect();
        for budget in [
            sizes[0],
            sizes[5] + 1,
            sizes[20],
            sizes[37] - 1,
            sizes[49],
            sizes[50],
        ] {
            let want = (40..=90u8)
                .rev()
                .find(|q| sizes[usize::from(q - 40)] <= budget)
                .unwrap();
            let got = encode_within(&img, 90, 40, budget).unwrap();
            assert_eq!(got.quality, want, "budget {budget}");
            assert!(got.jpeg.len() <= budget);
        }
    }

    #[test]
    fn over_budget_is_an_error_not_a_bad_photo() {
        let img = noisy(300);
        assert!(matches!(
            encode_within(&img, 90, 40, 3_000),
            Err(ProcessError::OverBudget { .. })
        ));
    }

    #[test]
    fn output_has_no_metadata_segments() {
        let jpeg = encode(&noisy(64), 80).unwrap();
        let markers = super::super::tests::markers(&jpeg);
        assert!(
            !markers
                .iter()
                .any(|m| (0xE1..=0xEF).contains(m) || *m == 0xFE),
            "{markers:x?}"
        );
        assert!(
            markers.contains(&0xC0),
            "baseline SOF0 expected: {markers:x?}"
        );
    }
}

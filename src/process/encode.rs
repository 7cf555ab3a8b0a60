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

/// Finds the highest quality in `min..=max` whose JPEG fits `max_bytes`.
///
/// Size grows monotonically with quality for a given picture, so this is a bisection;
/// it starts with `max` (most photos fit at once) and then narrows with an estimate
/// from the size measured so far, so it usually needs two to four encodes.
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
    let floor = encode(img, min)?;
    if floor.len() > max_bytes {
        return Err(ProcessError::OverBudget {
            max_bytes,
            floor: min,
            smallest: floor.len(),
        });
    }
    // Invariant: `lo` fits (its bytes in `best`), `hi` does not.
    let (mut lo, mut hi) = (min, max);
    let (mut lo_len, mut hi_len) = (floor.len(), first.len());
    let mut best = floor;
    while hi - lo > 1 {
        // Interpolate on size, then keep strictly inside (lo, hi).
        let t = (max_bytes - lo_len) as f64 / (hi_len - lo_len).max(1) as f64;
        let guess = lo as f64 + t * f64::from(hi - lo);
        let q = (guess.floor() as u8).clamp(lo + 1, hi - 1);
        let jpeg = encode(img, q)?;
        if jpeg.len() <= max_bytes {
            lo = q;
            lo_len = jpeg.len();
            best = jpeg;
        } else {
            hi = q;
            hi_len = jpeg.len();
        }
    }
    Ok(Encoded {
        jpeg: best,
        quality: lo,
    })
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

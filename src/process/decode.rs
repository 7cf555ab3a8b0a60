//! Decodes a source file into pixels, at reduced scale where the format allows it
//! (JPEG: DCT-domain scaling through libjpeg-turbo), refusing decompression bombs first.

use std::cell::RefCell;
use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader};
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

use super::format::SourceFormat;
use super::{Decoded, ProcessError, SourceColor};

thread_local! {
    // Setting up a libjpeg-turbo handle per photo costs more than decoding a small one.
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// Decodes `bytes` so that the oriented short side is at least `target_short` where the
/// format can decode at reduced scale.
pub fn decode(
    path: &Path,
    bytes: &[u8],
    format: &SourceFormat,
    max_pixels: u64,
    target_short: u32,
) -> Result<Decoded, ProcessError> {
    match format {
        SourceFormat::Jpeg => decode_jpeg(bytes, max_pixels, target_short),
        SourceFormat::Png
        | SourceFormat::Tiff
        | SourceFormat::Webp
        | SourceFormat::Bmp
        | SourceFormat::Gif => decode_generic(bytes, format, max_pixels),
        SourceFormat::Heif => decode_heif(path, max_pixels),
        other => Err(unusable(other)),
    }
}

#[cfg(feature = "heic")]
fn decode_heif(path: &Path, max_pixels: u64) -> Result<Decoded, ProcessError> {
    super::heic::decode(path, max_pixels)
}

#[cfg(not(feature = "heic"))]
fn decode_heif(_path: &Path, _max_pixels: u64) -> Result<Decoded, ProcessError> {
    Err(ProcessError::Unsupported {
        format: "HEIC (support not built in)".into(),
    })
}

/// The error for a file that is not a decodable photo at all.
pub fn unusable(format: &SourceFormat) -> ProcessError {
    match format {
        SourceFormat::Empty => ProcessError::Empty,
        SourceFormat::Unknown => ProcessError::NotAnImage,
        SourceFormat::Unreadable(reason) => ProcessError::Decode {
            format: "file".into(),
            reason: reason.clone(),
        },
        other => ProcessError::Unsupported {
            format: other.name().to_string(),
        },
    }
}

/// What the JPEG markers before the image data say.
#[derive(Debug, Default)]
pub struct JpegMeta {
    pub orientation: u8,
    pub icc: Option<Vec<u8>>,
    /// Adobe APP14 present: CMYK data is stored inverted (Photoshop).
    pub adobe: bool,
}

/// Reads EXIF orientation, ICC profile chunks and the Adobe marker, stopping at the scan.
/// A malformed EXIF block is ignored (orientation 1): a broken tag is not a broken photo.
pub fn jpeg_meta(bytes: &[u8]) -> JpegMeta {
    let mut meta = JpegMeta {
        orientation: 1,
        ..JpegMeta::default()
    };
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            break;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            i += 2;
            continue;
        }
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
        let end = (i + 2 + len).min(bytes.len());
        if len < 2 {
            break;
        }
        let data = &bytes[i + 4..end];
        match marker {
            0xE1 if data.starts_with(b"Exif\0\0") => {
                if let Ok(exif) = exif::Reader::new().read_raw(data[6..].to_vec())
                    && let Some(field) = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
                    && let Some(v) = field.value.get_uint(0)
                    && (1..=8).contains(&v)
                {
                    meta.orientation = v as u8;
                }
            }
            0xE2 if data.starts_with(b"ICC_PROFILE\0") && data.len() > 14 => {
                icc_chunks.push((data[12], &data[14..]));
            }
            0xEE if data.starts_with(b"Adobe") => meta.adobe = true,
            _ => {}
        }
        i = end;
    }
    if !icc_chunks.is_empty() {
        icc_chunks.sort_by_key(|(seq, _)| *seq);
        meta.icc = Some(
            icc_chunks
                .iter()
                .flat_map(|(_, d)| d.iter().copied())
                .collect(),
        );
    }
    meta
}

fn tj_error(e: turbojpeg::Error) -> ProcessError {
    let reason = e.to_string();
    let reason = reason
        .strip_prefix("TurboJPEG error: ")
        .unwrap_or(&reason)
        .to_string();
    ProcessError::Decode {
        format: "JPEG".into(),
        reason,
    }
}

fn with_decompressor<T>(
    f: impl FnOnce(&mut Decompressor) -> Result<T, ProcessError>,
) -> Result<T, ProcessError> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Decompressor::new().map_err(tj_error)?);
        }
        let result = match slot.as_mut() {
            Some(d) => f(d),
            None => Err(ProcessError::Decode {
                format: "JPEG".into(),
                reason: "libjpeg-turbo could not start".into(),
            }),
        };
        if result.is_err() {
            // tj3DecompressHeader returns from a libjpeg error without aborting, leaving
            // the handle mid-header: reused, it fails every later photo on this thread.
            *slot = None;
        }
        result
    })
}

fn check_pixels(width: u32, height: u32, limit: u64) -> Result<(), ProcessError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limit {
        return Err(ProcessError::TooManyPixels {
            width,
            height,
            pixels,
            limit,
        });
    }
    if width == 0 || height == 0 {
        return Err(ProcessError::Decode {
            format: "image".into(),
            reason: format!("{width}x{height} has no pixels"),
        });
    }
    Ok(())
}

fn power_of_two(f: ScalingFactor) -> bool {
    let (n, d) = (f.num(), f.denom());
    n > 0 && d % n == 0 && (d / n).is_power_of_two()
}

/// The smallest power-of-two DCT scaling (1/2, 1/4, 1/8) that keeps the short side at or
/// above `target_short`. libjpeg-turbo's 3/8, 5/8, 6/8 and 7/8 inverse DCTs have no SIMD
/// version and cost more than the pixels they save (measured in `benches/bench.sh`).
fn pick_scale(short: usize, target_short: u32) -> ScalingFactor {
    let mut best = ScalingFactor::ONE;
    for factor in Decompressor::supported_scaling_factors() {
        if factor.num() > factor.denom() || !power_of_two(factor) {
            continue;
        }
        let scaled = factor.scale(short);
        let best_scaled = best.scale(short);
        if scaled >= target_short as usize && scaled < best_scaled {
            best = factor;
        }
    }
    best
}

fn decode_jpeg(bytes: &[u8], max_pixels: u64, target_short: u32) -> Result<Decoded, ProcessError> {
    let meta = jpeg_meta(bytes);
    with_decompressor(|d| {
        let header = d.read_header(bytes).map_err(tj_error)?;
        let (w, h) = (header.width as u32, header.height as u32);
        check_pixels(w, h, max_pixels)?;
        let factor = pick_scale(header.width.min(header.height), target_short);
        d.set_scaling_factor(factor).map_err(tj_error)?;
        let scaled = header.scaled(factor);
        let (format, channels) = match header.colorspace {
            Colorspace::Gray => (PixelFormat::GRAY, 1),
            Colorspace::CMYK | Colorspace::YCCK => (PixelFormat::CMYK, 4),
            _ => (PixelFormat::RGB, 3),
        };
        let mut pixels = vec![0u8; scaled.width * scaled.height * channels];
        let image = turbojpeg::Image {
            pixels: pixels.as_mut_slice(),
            width: scaled.width,
            pitch: scaled.width * channels,
            height: scaled.height,
            format,
        };
        d.decompress(bytes, image).map_err(tj_error)?;
        let (sw, sh) = (scaled.width as u32, scaled.height as u32);
        let bad = || ProcessError::Decode {
            format: "JPEG".into(),
            reason: "decoded buffer has the wrong size".into(),
        };
        let mut color = meta.icc.clone().map_or(SourceColor::Srgb, SourceColor::Icc);
        let image = match channels {
            1 => DynamicImage::ImageLuma8(
                image::GrayImage::from_raw(sw, sh, pixels).ok_or_else(bad)?,
            ),
            3 => {
                DynamicImage::ImageRgb8(image::RgbImage::from_raw(sw, sh, pixels).ok_or_else(bad)?)
            }
            _ => {
                let rgb = super::color::cmyk_to_rgb(&pixels, meta.adobe);
                // The CMYK profile has been used up by the conversion.
                color = SourceColor::Srgb;
                DynamicImage::ImageRgb8(image::RgbImage::from_raw(sw, sh, rgb).ok_or_else(bad)?)
            }
        };
        let (fw, fh) = if meta.orientation >= 5 {
            (h, w)
        } else {
            (w, h)
        };
        Ok(Decoded {
            image,
            color,
            orientation: meta.orientation,
            full_width: fw,
            full_height: fh,
        })
    })
}

fn image_format(format: &SourceFormat) -> Option<image::ImageFormat> {
    Some(match format {
        SourceFormat::Png => image::ImageFormat::Png,
        SourceFormat::Tiff => image::ImageFormat::Tiff,
        SourceFormat::Webp => image::ImageFormat::WebP,
        SourceFormat::Bmp => image::ImageFormat::Bmp,
        SourceFormat::Gif => image::ImageFormat::Gif,
        SourceFormat::Jpeg => image::ImageFormat::Jpeg,
        _ => return None,
    })
}

fn image_error(format: &SourceFormat, e: image::ImageError) -> ProcessError {
    let reason = match &e {
        image::ImageError::Limits(_) => {
            format!(
                "{e}: needs more decode memory than the limit (4 bytes a pixel at --max-pixels)"
            )
        }
        _ => e.to_string(),
    };
    ProcessError::Decode {
        format: format.name().to_string(),
        reason,
    }
}

/// Opens a decoder for a non-JPEG format with memory limits in place.
fn generic_decoder<'a>(
    bytes: &'a [u8],
    format: &SourceFormat,
    max_pixels: u64,
) -> Result<Box<dyn ImageDecoder + 'a>, ProcessError> {
    let fmt = image_format(format).ok_or_else(|| unusable(format))?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), fmt);
    let budget = decode_budget(max_pixels);
    let mut limits = image::Limits::default();
    // Bounds the decoders' own buffers (png, tiff); the output buffer is checked below,
    // as `image` allocates it without consulting the limit.
    limits.max_alloc = Some(budget);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|e| image_error(format, e))?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, max_pixels)?;
    let needed = decoder.total_bytes();
    if needed > budget {
        return Err(ProcessError::TooMuchMemory {
            width: w,
            height: h,
            layout: format!("{:?}", decoder.color_type()),
            needed,
            limit: budget,
        });
    }
    Ok(Box::new(decoder))
}

/// Decode memory allowed for one photo in one worker: 4 bytes (8-bit RGBA) for each
/// pixel `--max-pixels` allows, so 16-bit and float images get half as many or fewer.
/// These formats cannot decode at reduced scale, so this is what a worker holds.
pub fn decode_budget(max_pixels: u64) -> u64 {
    max_pixels.saturating_mul(4).max(64 << 20)
}

fn decode_generic(
    bytes: &[u8],
    format: &SourceFormat,
    max_pixels: u64,
) -> Result<Decoded, ProcessError> {
    let mut decoder = generic_decoder(bytes, format, max_pixels)?;
    let orientation = decoder.orientation().map(orientation_number).unwrap_or(1);
    let icc = decoder.icc_profile().ok().flatten();
    let (w, h) = decoder.dimensions();
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(format, e))?;
    let (fw, fh) = if orientation >= 5 { (h, w) } else { (w, h) };
    Ok(Decoded {
        image,
        color: icc.map_or(SourceColor::Srgb, SourceColor::Icc),
        orientation,
        full_width: fw,
        full_height: fh,
    })
}

fn orientation_number(o: image::metadata::Orientation) -> u8 {
    use image::metadata::Orientation::*;
    match o {
        NoTransforms => 1,
        FlipHorizontal => 2,
        Rotate180 => 3,
        FlipVertical => 4,
        Rotate90FlipH => 5,
        Rotate90 => 6,
        Rotate270FlipH => 7,
        Rotate270 => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_keeps_target() {
        assert_eq!(pick_scale(3000, 648).scale(3000), 750);
        assert_eq!(pick_scale(600, 648).scale(600), 600);
        assert!(pick_scale(1300, 648).scale(1300) >= 648);
    }

    #[test]
    fn malformed_exif_means_upright() {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10];
        jpeg.extend_from_slice(b"Exif\0\0garbage!!");
        jpeg.extend_from_slice(&[0xFF, 0xDA]);
        assert_eq!(jpeg_meta(&jpeg).orientation, 1);
    }
}

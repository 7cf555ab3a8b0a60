//! Turns one source photo into a Microsoft 365 photo: decode (at reduced scale), apply
//! orientation, convert to sRGB, crop square around the face, resize, encode under the
//! byte budget.

mod checks;
mod color;
mod crop;
mod decode;
mod encode;
mod face;
pub mod format;
#[cfg(feature = "heic")]
pub mod heic;
mod resize;
mod saliency;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use crop::{Passes, Placement, place_square};
pub use face::FaceBox;

use crate::config::ImageOptions;
use format::SourceFormat;

/// Colour space the decoder's pixels are in.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceColor {
    /// Already sRGB (or untagged, which the web treats as sRGB).
    Srgb,
    /// An embedded ICC profile (Adobe RGB, Display P3, CMYK, ...).
    Icc(Vec<u8>),
    /// HEIF nclx description of Display P3 primaries with the sRGB transfer curve.
    DisplayP3,
}

/// Pixels as a decoder hands them over, before orientation and colour conversion.
#[derive(Debug)]
pub struct Decoded {
    /// May be decoded at a reduced scale (JPEG DCT scaling); 8 or 16 bit, any layout.
    pub image: image::DynamicImage,
    pub color: SourceColor,
    /// EXIF orientation still to apply, 1-8 (1 = nothing to do; HEIF decoders apply
    /// `irot`/`imir` themselves and report 1 here).
    pub orientation: u8,
    /// Size of the source as stored, before any reduced-scale decode, after orientation.
    pub full_width: u32,
    pub full_height: u32,
}

/// What the header (or the decode) told us about a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub format: SourceFormat,
    /// Width and height after orientation is applied (as a person sees it).
    pub width: u32,
    pub height: u32,
    /// EXIF orientation 1-8 (1 when absent).
    pub orientation: u8,
}

/// How the square was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropNote {
    /// One face found and framed.
    Face,
    /// No face found; the saliency crop was used.
    NoFace,
    /// Several faces found; the largest was framed.
    SeveralFaces(usize),
    Portrait,
    Centre,
}

/// The framed face and what a person would check about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceSummary {
    /// The face box in the oriented source's full-size pixels: (x, y, width, height).
    pub rect: (u32, u32, u32, u32),
    /// Detector confidence, 0-1.
    pub score: f32,
    /// The face box's width as a share of the square's side.
    pub share: f32,
    /// Variance of the Laplacian of the face (see `checks`), when measurable.
    pub sharpness: Option<f32>,
    /// Mean luma of the face's centre, 0-255.
    pub luma: Option<f32>,
    /// Nothing reached the detector's usual score; this face passed only the fallback.
    pub low_confidence: bool,
    /// Several faces were about as large: this one was framed as the one nearest the
    /// centre.
    pub nearest_centre: bool,
}

/// Below this share of the square the face is `small-face`: at a 48 px avatar that is a
/// face of under 12 px. It happens when zooming in would mean upscaling (a small source)
/// or leaving the photo.
pub const SMALL_FACE_SHARE: f32 = 0.25;

impl FaceSummary {
    /// The notes a person would send the photo back for, each with what it means for
    /// this photo (for the report's detail).
    pub fn notes(&self) -> Vec<(&'static str, String)> {
        let mut notes = Vec::new();
        if self.share < SMALL_FACE_SHARE {
            notes.push((
                "small-face",
                format!(
                    "the face fills only {:.0}% of the square (the photo has too few pixels to zoom closer without upscaling): a closer photo would be better",
                    self.share * 100.0
                ),
            ));
        }
        if let Some(s) = self.sharpness.filter(|&s| s < checks::BLURRY_BELOW) {
            notes.push((
                "blurry",
                format!(
                    "the face looks blurred (sharpness {s:.0}, below {:.0})",
                    checks::BLURRY_BELOW
                ),
            ));
        }
        match self.luma {
            Some(l) if l < checks::DARK_BELOW => notes.push((
                "dark",
                format!("the face is dark (brightness {l:.0} of 255)"),
            )),
            Some(l) if l > checks::OVEREXPOSED_ABOVE => notes.push((
                "overexposed",
                format!("the face is overexposed (brightness {l:.0} of 255)"),
            )),
            _ => {}
        }
        if self.low_confidence {
            notes.push((
                "low-confidence",
                format!(
                    "the face detector is unsure (confidence {:.2}): check that the square holds a face",
                    self.score
                ),
            ));
        }
        notes
    }
}

/// A finished Microsoft 365 photo, in memory.
#[derive(Debug, Clone)]
pub struct ProcessedPhoto {
    pub jpeg: Vec<u8>,
    /// Side of the square in pixels (smaller than asked when the source is too small).
    pub side: u32,
    /// JPEG quality that fitted the byte budget.
    pub quality: u8,
    pub source: SourceInfo,
    pub crop: CropNote,
    /// The square taken from the oriented source, in its full-size pixels: (x, y, side).
    pub crop_rect: (u32, u32, u32),
    /// The source's short side is below the requested size (output not upscaled).
    pub too_small: bool,
    /// The framed face (face crops that found one).
    pub face: Option<FaceSummary>,
    /// Small JPEG of the whole oriented source, for the HTML page, when asked for.
    pub source_thumb: Option<Vec<u8>>,
    /// The made square, small, for the same page.
    pub output_thumb: Option<Vec<u8>>,
}

/// Why one photo could not be made; reported on its row, never fatal to the batch.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{format} is not a supported photo format (use JPEG, PNG, TIFF, WebP, BMP, GIF or HEIC)"
    )]
    Unsupported { format: String },
    #[error("the file is empty (0 bytes)")]
    Empty,
    #[error("not an image (content is not any known photo format)")]
    NotAnImage,
    #[error("{format} could not be decoded: {reason}")]
    Decode { format: String, reason: String },
    #[error(
        "{width}x{height} is {pixels} pixels, more than the limit of {limit}: refused before decoding"
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        limit: u64,
    },
    #[error(
        "does not fit {max_bytes} bytes even at JPEG quality {floor} ({smallest} bytes); raise --max-bytes"
    )]
    OverBudget {
        max_bytes: usize,
        floor: u8,
        smallest: usize,
    },
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("not a regular file (a FIFO, socket or device is never a photo): not read")]
    NotAFile,
    #[error(
        "the file is {bytes} bytes, more than --max-file-size {limit} ({mib} MiB): not read",
        mib = limit / (1024 * 1024)
    )]
    TooLarge { bytes: u64, limit: u64 },
    #[error(
        "{width}x{height} {layout} needs {needed} bytes of decode memory, more than the limit of {limit} (4 bytes a pixel at --max-pixels): refused before decoding"
    )]
    TooMuchMemory {
        width: u32,
        height: u32,
        layout: String,
        needed: u64,
        limit: u64,
    },
    #[error("too small to use ({short} px; at least {min})")]
    TooSmallToUse { short: u32, min: u32 },
}

/// Short side below which a source is refused: nobody is recognisable in fewer pixels.
pub const MIN_SHORT_SIDE: u32 = 96;

fn io_error(path: &Path, source: std::io::Error) -> ProcessError {
    ProcessError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses, from metadata alone, what must never be read as a photo: anything but a
/// regular file (a FIFO would block forever) and files over `--max-file-size`.
fn check_file(path: &Path, opts: &ImageOptions) -> Result<(), ProcessError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(ProcessError::NotAFile);
    }
    if meta.len() > opts.max_file_size {
        return Err(ProcessError::TooLarge {
            bytes: meta.len(),
            limit: opts.max_file_size,
        });
    }
    Ok(())
}

/// Reads a whole source after [`check_file`], never more than `--max-file-size` bytes
/// (the file may grow after the check).
fn read_source(path: &Path, opts: &ImageOptions) -> Result<Vec<u8>, ProcessError> {
    check_file(path, opts)?;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(opts.max_file_size.saturating_add(1))
                .read_to_end(&mut buf)
        })
        .map_err(|e| io_error(path, e))?;
    if buf.len() as u64 > opts.max_file_size {
        return Err(ProcessError::TooLarge {
            bytes: buf.len() as u64,
            limit: opts.max_file_size,
        });
    }
    Ok(buf)
}

/// Refuses a source too small to be anybody's photo (asking for a smaller `--size`
/// lowers the bar with it).
fn check_usable(width: u32, height: u32, opts: &ImageOptions) -> Result<(), ProcessError> {
    let min = MIN_SHORT_SIDE.min(opts.size);
    let short = width.min(height);
    if short < min {
        return Err(ProcessError::TooSmallToUse { short, min });
    }
    Ok(())
}

/// Learns what `plan` promises: that `process` can decode the source, and its oriented
/// size. JPEG is decoded at 1/8 scale, which still runs every byte of the scan through
/// the decoder `process` uses (a corrupt or truncated file fails here too) for a
/// fraction of a full decode; formats without reduced-scale decoding are decoded in
/// full; HEIC is checked by libheif's header parse only.
pub fn probe(
    path: &Path,
    format: &SourceFormat,
    opts: &ImageOptions,
) -> Result<SourceInfo, ProcessError> {
    let (width, height, orientation) = match format {
        SourceFormat::Heif => {
            check_file(path, opts)?;
            heif_dims(path)?
        }
        f if f.is_image() => {
            let bytes = read_source(path, opts)?;
            let decoded = decode::decode(path, &bytes, format, opts.max_pixels, 1)?;
            (decoded.full_width, decoded.full_height, decoded.orientation)
        }
        other => return Err(decode::unusable(other)),
    };
    let pixels = u64::from(width) * u64::from(height);
    if pixels > opts.max_pixels {
        return Err(ProcessError::TooManyPixels {
            width,
            height,
            pixels,
            limit: opts.max_pixels,
        });
    }
    check_usable(width, height, opts)?;
    Ok(SourceInfo {
        format: format.clone(),
        width,
        height,
        orientation,
    })
}

#[cfg(feature = "heic")]
fn heif_dims(path: &Path) -> Result<(u32, u32, u8), ProcessError> {
    heic::probe(path).map(|(w, h)| (w, h, 1))
}

#[cfg(not(feature = "heic"))]
fn heif_dims(_path: &Path) -> Result<(u32, u32, u8), ProcessError> {
    Err(ProcessError::Unsupported {
        format: "HEIC (support not built in)".into(),
    })
}

/// Decodes a source (at reduced scale where possible), oriented and in 8-bit sRGB.
fn load(
    path: &Path,
    format: &SourceFormat,
    opts: &ImageOptions,
    target_short: u32,
) -> Result<(image::RgbImage, SourceInfo), ProcessError> {
    if !format.is_image() {
        return Err(decode::unusable(format));
    }
    let bytes = read_source(path, opts)?;
    let decoded = decode::decode(path, &bytes, format, opts.max_pixels, target_short)?;
    drop(bytes);
    check_usable(decoded.full_width, decoded.full_height, opts)?;
    let info = SourceInfo {
        format: format.clone(),
        width: decoded.full_width,
        height: decoded.full_height,
        orientation: decoded.orientation,
    };
    let mut image = decoded.image;
    if let Some(o) = image::metadata::Orientation::from_exif(decoded.orientation) {
        // Where a photo is turned the right way up (all eight EXIF orientations).
        image.apply_orientation(o);
    }
    Ok((color::to_srgb8(image, &decoded.color), info))
}

/// Makes the Microsoft 365 photo for one source file.
pub fn process(
    path: &Path,
    format: &SourceFormat,
    opts: &ImageOptions,
    source_thumb: Option<u32>,
) -> Result<ProcessedPhoto, ProcessError> {
    let (mut rgb, source) = load(path, format, opts, opts.size)?;
    // "Never smaller than --size source pixels": in the decoded copy's pixels.
    let min_side =
        (opts.size as f32 * rgb.width() as f32 / source.width.max(1) as f32).ceil() as u32;
    let mut placement = crop::place_square(&rgb, opts.crop, opts.framing, min_side);
    if placement.side < opts.size && rgb.width() < source.width {
        // The face crop zoomed in on a reduced-scale decode: decode again with enough
        // pixels for the square to hold --size (only these photos pay for it).
        let short = u64::from(rgb.width().min(rgb.height()));
        let want = (u64::from(opts.size) * short).div_ceil(u64::from(placement.side.max(1)));
        let (bigger, _) = load(path, format, opts, u32::try_from(want).unwrap_or(u32::MAX))?;
        let factor = bigger.width() as f32 / rgb.width().max(1) as f32;
        placement = placement.scaled(factor, bigger.width(), bigger.height());
        rgb = bigger;
    }
    let too_small = source.width.min(source.height) < opts.size;
    if !too_small && placement.side < opts.size {
        // Rounding in the rescale can leave the square a pixel short of --size: grow it
        // about its centre rather than upscale.
        let (w, h) = rgb.dimensions();
        let grown = opts.size.min(w.min(h));
        let half = (grown - placement.side) / 2;
        placement.x = placement.x.saturating_sub(half).min(w - grown);
        placement.y = placement.y.saturating_sub(half).min(h - grown);
        placement.side = grown;
    }
    // Never upscale: a small source keeps its own size (it was decoded at full scale).
    let side = if too_small { placement.side } else { opts.size };
    let square = resize::crop_resize(&rgb, placement.x, placement.y, placement.side, side);
    let encoded = encode::encode_within(&square, opts.quality, opts.min_quality, opts.max_bytes)?;
    // The decode may have been at reduced scale: report the crop in source pixels.
    let scale = source.width as f32 / rgb.width().max(1) as f32;
    let full = |v: f32| (v * scale).round().max(0.0) as u32;
    let crop_rect = (
        full(placement.x as f32),
        full(placement.y as f32),
        full(placement.side as f32),
    );
    let face = placement.face.map(|f| {
        let measured = checks::measure(&rgb, &f);
        FaceSummary {
            rect: (full(f.x), full(f.y), full(f.width), full(f.height)),
            score: f.score,
            share: f.width / placement.side.max(1) as f32,
            sharpness: measured.map(|m| m.sharpness),
            luma: measured.map(|m| m.luma),
            low_confidence: placement.low_confidence,
            nearest_centre: placement.nearest_centre,
        }
    });
    let (source_thumb, output_thumb) = match source_thumb {
        // The face box on the source thumbnail, for the person checking the sheet.
        Some(n) => (
            Some(thumbnail_marked(&rgb, n, placement.face.as_ref())?),
            Some(thumbnail_of(&square, n)?),
        ),
        None => (None, None),
    };
    Ok(ProcessedPhoto {
        jpeg: encoded.jpeg,
        side,
        quality: encoded.quality,
        source,
        crop: placement.note,
        crop_rect,
        too_small,
        face,
        source_thumb,
        output_thumb,
    })
}

/// What [`find_faces`] found in a photo, for evaluating detection (`benches/faces.sh`).
#[derive(Debug, Clone, PartialEq)]
pub struct FoundFaces {
    /// Every face `--crop face` chooses from, in the oriented source's full-size pixels,
    /// largest first.
    pub faces: Vec<FaceBox>,
    /// They passed only the fallback score.
    pub low_confidence: bool,
    /// How the search went: the first pass's best score, the second pass's windows.
    pub passes: Passes,
}

/// Every face `--crop face` chooses from in a photo, decoded as [`process`] decodes it.
pub fn find_faces(
    path: &Path,
    format: &SourceFormat,
    opts: &ImageOptions,
) -> Result<FoundFaces, ProcessError> {
    let (rgb, source) = load(path, format, opts, opts.size)?;
    let (found, passes) = crop::faces_in(&rgb);
    let f = source.width as f32 / rgb.width().max(1) as f32;
    Ok(FoundFaces {
        faces: found.faces.iter().map(|b| b.scaled(f, f)).collect(),
        low_confidence: found.low_confidence,
        passes,
    })
}

/// Draws `face`'s box (in `img`'s pixels) in green, two pixels wide.
fn draw_box(img: &mut image::RgbImage, face: &face::FaceBox) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return;
    }
    let t = 2;
    let x0 = (face.x.max(0.0) as u32).min(w - 1);
    let y0 = (face.y.max(0.0) as u32).min(h - 1);
    let x1 = ((face.x + face.width) as u32).min(w - 1);
    let y1 = ((face.y + face.height) as u32).min(h - 1);
    let green = image::Rgb([0, 230, 60]);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let edge = x < x0 + t || x + t > x1 || y < y0 + t || y + t > y1;
            if edge {
                img.put_pixel(x, y, green);
            }
        }
    }
}

/// [`thumbnail_of`] with `face` (in `rgb`'s pixels) boxed on it, drawn after the
/// shrink so that the line stays sharp and the full-size picture is never copied.
fn thumbnail_marked(
    rgb: &image::RgbImage,
    max_side: u32,
    face: Option<&face::FaceBox>,
) -> Result<Vec<u8>, ProcessError> {
    let Some(face) = face else {
        return thumbnail_of(rgb, max_side);
    };
    let mut small = thumbnail_pixels(rgb, max_side);
    let f = small.width() as f32 / rgb.width().max(1) as f32;
    draw_box(&mut small, &face.scaled(f, f));
    encode::encode(&small, 75)
}

/// A small JPEG of the whole oriented source (long side `max_side`), for the HTML page.
pub fn source_thumbnail(
    path: &Path,
    format: &SourceFormat,
    max_side: u32,
    opts: &ImageOptions,
) -> Result<Vec<u8>, ProcessError> {
    let (rgb, _) = load(path, format, opts, max_side)?;
    thumbnail_of(&rgb, max_side)
}

/// Scales `rgb` so its long side is `max_side` (never up) and encodes it for a page.
pub fn thumbnail_of(rgb: &image::RgbImage, max_side: u32) -> Result<Vec<u8>, ProcessError> {
    encode::encode(&thumbnail_pixels(rgb, max_side), 75)
}

/// `rgb` scaled so its long side is `max_side` (never up).
fn thumbnail_pixels(rgb: &image::RgbImage, max_side: u32) -> image::RgbImage {
    let (w, h) = rgb.dimensions();
    let scale = (max_side as f32 / w.max(h) as f32).min(1.0);
    let (tw, th) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    resize::rgb_small_smooth(rgb, tw, th)
}

#[cfg(test)]
pub(crate) mod tests {
    /// The marker bytes of a JPEG's segments up to the scan.
    pub fn markers(jpeg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 2;
        while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
            let m = jpeg[i + 1];
            out.push(m);
            if m == 0xDA {
                break;
            }
            let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
            i += 2 + len;
        }
        out
    }
}

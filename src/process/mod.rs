//! Turns one source photo into a Microsoft 365 photo: decode (at reduced scale), apply
//! orientation, convert to sRGB, crop square around the face, resize, encode under the
//! byte budget.

pub mod format;

use std::path::{Path, PathBuf};

use crate::options::ImageOptions;
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
    /// The source's short side is below the requested size (output not upscaled).
    pub too_small: bool,
    /// Small JPEG of the whole oriented source, for the HTML page, when asked for.
    pub source_thumb: Option<Vec<u8>>,
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
}

fn not_built(format: &SourceFormat) -> ProcessError {
    ProcessError::Unsupported {
        format: format.name().to_string(),
    }
}

/// Reads only what is needed to know a source's oriented size (no pixel decode).
pub fn probe(
    path: &Path,
    format: &SourceFormat,
    opts: &ImageOptions,
) -> Result<SourceInfo, ProcessError> {
    let _ = (path, opts);
    Err(not_built(format))
}

/// Makes the Microsoft 365 photo for one source file.
pub fn process(
    path: &Path,
    format: &SourceFormat,
    opts: &ImageOptions,
    source_thumb: Option<u32>,
) -> Result<ProcessedPhoto, ProcessError> {
    let _ = (path, opts, source_thumb);
    Err(not_built(format))
}

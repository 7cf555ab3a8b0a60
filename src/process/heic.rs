//! Reads HEIC/HEIF stills through libheif: oriented size from the container, and the
//! primary image decoded to 8-bit RGB with its colour description.

use std::path::Path;

use image::{DynamicImage, RgbImage};
use libheif_rs::{
    ColorPrimaries, ColorSpace, DecodingOptions, HeifContext, HeifError, ImageHandle, LibHeif,
    RgbChroma, StreamReader,
};

use super::{Decoded, ProcessError, SourceColor};

const FORMAT: &str = "HEIC";

fn decode_error(err: &HeifError) -> ProcessError {
    // libheif's message is the useful part ("Unexpected end of file", ...); the codes
    // only add noise when it is present.
    let reason = if err.message.trim().is_empty() {
        err.to_string()
    } else {
        err.message.clone()
    };
    ProcessError::Decode {
        format: FORMAT.into(),
        reason,
    }
}

/// Opens the container through a file reader: libheif pulls boxes on demand, so probing
/// a large photo does not read its image data, and any file name works (libheif's own
/// file API wants a UTF-8 C string).
fn open(path: &Path) -> Result<HeifContext<'static>, ProcessError> {
    let io = |source| ProcessError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    HeifContext::read_from_reader(Box::new(StreamReader::new(file, len)))
        .map_err(|e| decode_error(&e))
}

fn primary(ctx: &HeifContext<'_>) -> Result<ImageHandle, ProcessError> {
    ctx.primary_image_handle().map_err(|e| decode_error(&e))
}

/// Oriented width/height from the container (ispe + irot), no decode.
pub fn probe(path: &Path) -> Result<(u32, u32), ProcessError> {
    let ctx = open(path)?;
    let handle = primary(&ctx)?;
    // libheif reports the size after its transformations (irot swaps the sides).
    Ok((handle.width(), handle.height()))
}

fn color_of(handle: &ImageHandle) -> SourceColor {
    if let Some(icc) = handle.color_profile_raw()
        && !icc.data.is_empty()
    {
        return SourceColor::Icc(icc.data);
    }
    match handle.color_profile_nclx().map(|n| n.color_primaries()) {
        // SMPTE EG 432-1 is Display P3 (what iPhones write); the transfer curve of such
        // files is the sRGB one, which SourceColor::DisplayP3 assumes.
        Some(ColorPrimaries::SMPTE_EG_432_1) => SourceColor::DisplayP3,
        _ => SourceColor::Srgb,
    }
}

/// Decodes the primary image with `irot`/`imir` applied by libheif (so the result has
/// orientation 1 and nothing rotates twice), refusing more than `max_pixels` before
/// decoding. Tiled "grid" images are assembled by libheif; 10-bit ones are reduced to
/// 8 bit, which is all a 648-pixel JPEG can carry.
pub fn decode(path: &Path, max_pixels: u64) -> Result<Decoded, ProcessError> {
    let ctx = open(path)?;
    let handle = primary(&ctx)?;
    let (width, height) = (handle.width(), handle.height());
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ProcessError::TooManyPixels {
            width,
            height,
            pixels,
            limit: max_pixels,
        });
    }
    if pixels == 0 {
        return Err(ProcessError::Decode {
            format: FORMAT.into(),
            reason: "the primary image has no pixels".into(),
        });
    }
    let color = color_of(&handle);

    let mut options = DecodingOptions::new();
    if let Some(opts) = options.as_mut() {
        opts.set_convert_hdr_to_8bit(true);
        // Without this libheif fills the tiles of a truncated grid image with flat
        // green and reports success; a half photo must be an error, not an upload.
        opts.set_strict_decoding(true);
    }
    let lib = LibHeif::new();
    let image = lib
        .decode(&handle, ColorSpace::Rgb(RgbChroma::Rgb), options)
        .map_err(|e| decode_error(&e))?;

    let planes = image.planes();
    let plane = planes.interleaved.ok_or_else(|| ProcessError::Decode {
        format: FORMAT.into(),
        reason: "libheif returned no interleaved RGB plane".into(),
    })?;
    if plane.storage_bits_per_pixel != 24 {
        return Err(ProcessError::Decode {
            format: FORMAT.into(),
            reason: format!(
                "libheif returned {} bits per pixel, expected 8-bit RGB",
                plane.storage_bits_per_pixel
            ),
        });
    }
    let (w, h) = (plane.width, plane.height);
    let row = w as usize * 3;
    let mut rgb = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        let start = y * plane.stride;
        let line = plane
            .data
            .get(start..start + row)
            .ok_or_else(|| ProcessError::Decode {
                format: FORMAT.into(),
                reason: "libheif returned a short RGB plane".into(),
            })?;
        rgb.extend_from_slice(line);
    }
    let rgb = RgbImage::from_raw(w, h, rgb).ok_or_else(|| ProcessError::Decode {
        format: FORMAT.into(),
        reason: "RGB plane does not match its size".into(),
    })?;

    Ok(Decoded {
        image: DynamicImage::ImageRgb8(rgb),
        color,
        orientation: 1,
        full_width: w,
        full_height: h,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn heic_dir() -> Option<PathBuf> {
        let root = std::env::var_os("M365_TESTDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata")
            });
        let dir = root.join("heic");
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!("skipping: no HEIC test data at {}", dir.display());
            None
        }
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn every_file_probes_and_decodes_to_its_probed_size() {
        let Some(dir) = heic_dir() else { return };
        let files = files(&dir);
        assert!(!files.is_empty());
        for path in files {
            let (w, h) = probe(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(w >= 64 && h >= 64, "{}: {w}x{h}", path.display());
            let d =
                decode(&path, 100_000_000).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(d.orientation, 1);
            assert_eq!(
                (d.image.width(), d.image.height()),
                (w, h),
                "{}",
                path.display()
            );
            assert_eq!((d.full_width, d.full_height), (w, h));
            // A real photo is not one flat colour.
            let rgb = d.image.to_rgb8();
            let first = *rgb.get_pixel(0, 0);
            assert!(rgb.pixels().any(|p| *p != first), "{}", path.display());
            eprintln!(
                "{}: {w}x{h} {:?}",
                path.display(),
                std::mem::discriminant(&d.color)
            );
        }
    }

    #[test]
    fn pixel_limit_refuses_before_decoding() {
        let Some(dir) = heic_dir() else { return };
        let path = &files(&dir)[0];
        match decode(path, 1000) {
            Err(ProcessError::TooManyPixels { limit: 1000, .. }) => {}
            other => panic!("expected TooManyPixels, got {other:?}"),
        }
    }

    #[test]
    fn truncated_file_is_a_decode_error() {
        let Some(dir) = heic_dir() else { return };
        let tmp = tempfile::tempdir().unwrap();
        for path in files(&dir) {
            let bytes = std::fs::read(&path).unwrap();
            let cut = tmp.path().join(path.file_name().unwrap());
            std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
            match decode(&cut, 100_000_000) {
                Err(ProcessError::Decode { format, reason }) => {
                    assert_eq!(format, "HEIC");
                    assert!(!reason.is_empty());
                }
                Err(other) => panic!("{}: expected Decode error, got {other}", path.display()),
                Ok(_) => panic!("{}: a truncated file decoded", path.display()),
            }
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        match probe(Path::new("/nonexistent/x.heic")) {
            Err(ProcessError::Io { .. }) => {}
            other => panic!("expected Io, got {other:?}"),
        }
    }
}

//! A matched photo made into its Microsoft 365 photo on a rayon worker: checked from its
//! header (`plan`), written to a folder (`process`), or handed to the uploader.

use std::path::Path;

use super::guard;
use super::matching::MatchedPhoto;
use super::rows::{self, matched_row};
use crate::config::ImageOptions;
use crate::process::{self, ProcessedPhoto};
use crate::report::{Row, Status, Thumb, Thumbs};

/// Long side of the source thumbnail on the HTML page.
pub const SOURCE_THUMB_PX: u32 = 160;

/// `plan`: the photo's size from its header; a cheap reduced-scale thumbnail for the page.
pub fn check(m: &MatchedPhoto, image: &ImageOptions, thumbs: bool) -> Row {
    let mut row = matched_row(m);
    match process::probe(&m.file.path, &m.file.format, image) {
        Ok(info) => {
            row.source_width = Some(info.width);
            row.source_height = Some(info.height);
            let short = info.width.min(info.height);
            if short < image.size {
                rows::set(
                    &mut row,
                    Status::TooSmall,
                    format!(
                        "{}x{} is smaller than {} px on its short side; it would be made at {short} px (ask for a larger photo)",
                        info.width, info.height, image.size
                    ),
                );
            } else {
                row.status = Some(Status::Matched);
            }
        }
        Err(e) => rows::set(&mut row, Status::InvalidImage, e.to_string()),
    }
    if thumbs && row.status != Some(Status::InvalidImage) {
        let thumb = process::source_thumbnail(&m.file.path, &m.file.format, SOURCE_THUMB_PX, image);
        row.thumbs = thumb.ok().map(|source| Thumbs {
            source: Some(source.into()),
            output: None,
        });
    }
    row
}

/// Makes the photo and fills its row; `Err` carries the final row of a photo that could
/// not be made.
pub fn made(
    m: &MatchedPhoto,
    mut row: Row,
    image: &ImageOptions,
    thumbs: bool,
) -> Result<(ProcessedPhoto, Row), Row> {
    let thumb = thumbs.then_some(SOURCE_THUMB_PX);
    // The user's CSV `crop` / `framing` cells win over the run's flags.
    let image = &m.user.image_options(image);
    match process::process(&m.file.path, &m.file.format, image, thumb) {
        Ok(mut photo) => {
            rows::processed(&mut row, &photo, image.size);
            if thumbs {
                row.thumbs = Some(Thumbs {
                    source: photo.source_thumb.take().map(Thumb::new),
                    output: photo.output_thumb.take().map(Thumb::new),
                });
            }
            Ok((photo, row))
        }
        Err(e) => {
            rows::not_processed(&mut row, &e);
            Err(row)
        }
    }
}

/// One file made as `upload` makes a matched photo (format from its first bytes), for a
/// test upload (`doctor --canary-write`). `Err` says why, naming the file.
pub fn one_file(path: &Path, image: &ImageOptions) -> Result<ProcessedPhoto, String> {
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let format = process::format::sniff(&head[..n]);
    process::process(path, &format, image, None).map_err(|e| format!("{}: {e}", path.display()))
}

/// `process`: makes the photo into `out_dir/name`.
pub fn to_folder(
    m: &MatchedPhoto,
    name: &str,
    image: &ImageOptions,
    out_dir: &Path,
    thumbs: bool,
) -> Row {
    let (photo, mut row) = match made(m, matched_row(m), image, thumbs) {
        Ok(made) => made,
        Err(row) => return row,
    };
    let path = out_dir.join(name);
    // Belt and braces: whatever the folders, a source is never written over.
    let written = if guard::resolved(&path) == guard::resolved(&m.file.path) {
        Err(format!(
            "{} would replace its own source photo: not written",
            path.display()
        ))
    } else {
        crate::util::fs::write_atomically(&path, &photo.jpeg)
            .map_err(|e| format!("writing {}: {e}", path.display()))
    };
    match written {
        Ok(()) => row.output_file = Some(name.to_string()),
        Err(e) => rows::set(&mut row, Status::Failed, e),
    }
    row
}

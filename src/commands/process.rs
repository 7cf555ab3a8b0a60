//! `process`: make every matched photo into `--out/<user>.jpg`, in parallel, offline.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rayon::prelude::*;

use super::prepare::{self, matched_row, safe_file_name};
use crate::error::ConfigError;
use crate::matching::MatchedPhoto;
use crate::options::Options;
use crate::output::Output;
use crate::process::{self, CropNote, ProcessedPhoto};
use crate::report::{Report, Row, Status, Thumbs};

/// Long side of the source thumbnail on the HTML page.
pub const SOURCE_THUMB_PX: u32 = 160;

pub fn run(opts: &Options, out: &Output) -> anyhow::Result<i32> {
    let out_dir = opts.out.clone().ok_or(ConfigError::Invalid {
        flag: "--out",
        reason: "process needs an output folder".into(),
    })?;
    super::guard::check_out_folder(&opts.photos, &out_dir)?;
    fs::create_dir_all(&out_dir).map_err(|e| ConfigError::Output {
        path: out_dir.clone(),
        reason: format!("cannot create the output folder: {e}"),
    })?;
    let prepared = prepare::prepare(opts)?;
    let pool = prepare::thread_pool(opts.jobs);
    let bar = out.bar(prepared.matched.len() as u64, "processing");
    let want_thumbs = opts.html.is_some();
    let names = output_names(&prepared.matched);
    // Each worker holds one decoded photo at a time and keeps only its small row, so
    // memory does not grow with the batch.
    let rows: Vec<Row> = pool.install(|| {
        prepared
            .matched
            .par_iter()
            .zip(names.par_iter())
            .map(|(m, name)| {
                let row = process_one(m, name, opts, &out_dir, want_thumbs);
                bar.inc(1);
                row
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut report = Report::new("process");
    report.rows = rows;
    report.rows.extend(prepared.rows);
    prepare::write_reports(opts, &report)?;
    for line in report.summary_lines() {
        out.result(&line);
    }
    out.result(&format!("photos: {}", out_dir.display()));
    for path in opts.report.iter().chain(opts.html.iter()) {
        out.result(&format!("report: {}", path.display()));
    }
    Ok(report.exit_code())
}

/// One output file name per matched photo, distinct even where users only differ in
/// characters a file name cannot hold (`a/b`, `a?b`, `a_b`) or in letter case (Windows
/// and macOS folders ignore case), so one person's photo never lands in another's file.
/// A user whose name is already a safe file name keeps it (the first of a case-blind
/// clash does); every other name gets a short hash of the whole user.
fn output_names(matched: &[MatchedPhoto]) -> Vec<String> {
    use sha2::Digest;
    use std::collections::HashSet;
    let mut taken: HashSet<String> = HashSet::new();
    matched
        .iter()
        .map(|m| {
            let user = m.user.user.trim();
            let name = safe_file_name(user);
            if name == user && taken.insert(name.to_lowercase()) {
                format!("{name}.jpg")
            } else {
                let hash = hex::encode(sha2::Sha256::digest(user.as_bytes()));
                // Within the same byte budget as any other name (long CJK names).
                let cut = name.floor_char_boundary(super::prepare::MAX_NAME_BYTES - 9);
                format!("{}-{}.jpg", &name[..cut], &hash[..8])
            }
        })
        .collect()
}

fn process_one(
    m: &MatchedPhoto,
    name: &str,
    opts: &Options,
    out_dir: &Path,
    want_thumbs: bool,
) -> Row {
    let mut row = matched_row(m);
    let thumb = want_thumbs.then_some(SOURCE_THUMB_PX);
    match process::process(&m.file.path, &m.file.format, &opts.image, thumb) {
        Ok(photo) => {
            let path = out_dir.join(name);
            // Belt and braces: whatever the folders, a source is never written over.
            let written = if super::guard::resolved(&path) == super::guard::resolved(&m.file.path) {
                Err(anyhow::anyhow!(
                    "{} would replace its own source photo: not written",
                    path.display()
                ))
            } else {
                write_atomically(&path, &photo.jpeg)
            };
            match written {
                Ok(()) => {
                    fill_processed(&mut row, &photo, opts.image.size);
                    row.output_file = Some(name.to_string());
                }
                Err(e) => {
                    row.status = Some(Status::Failed);
                    row.detail = format!("{e:#}");
                }
            }
            if want_thumbs {
                row.thumbs = Some(Thumbs {
                    source: photo.source_thumb.clone(),
                    output: photo.output_thumb.clone(),
                });
            }
        }
        Err(e) => {
            row.status = Some(match e {
                process::ProcessError::OverBudget { .. } | process::ProcessError::Encode(_) => {
                    Status::Failed
                }
                _ => Status::InvalidImage,
            });
            row.detail = e.to_string();
        }
    }
    row
}

/// Records a made photo on its row: status, sizes, quality and crop remarks.
pub fn fill_processed(row: &mut Row, photo: &ProcessedPhoto, size: u32) {
    row.source_width = Some(photo.source.width);
    row.source_height = Some(photo.source.height);
    row.output_bytes = Some(photo.jpeg.len() as u64);
    row.output_side = Some(photo.side);
    let (x, y, side) = photo.crop_rect;
    row.crop = Some(format!("{x},{y},{side}"));
    row.quality = Some(photo.quality);
    match photo.crop {
        CropNote::NoFace => {
            row.notes.push("no-face".into());
        }
        CropNote::SeveralFaces(n) => {
            row.notes.push("several-faces".into());
            row.detail = format!("{n} faces found; framed the largest");
        }
        _ => {}
    }
    if photo.too_small {
        row.notes.push("too-small".into());
        row.status = Some(Status::TooSmall);
        row.detail = format!(
            "source is {}x{}, smaller than {size} px: made at {} px, not upscaled (ask for a larger photo)",
            photo.source.width, photo.source.height, photo.side
        );
    } else {
        row.status = Some(Status::Processed);
        if photo.crop == CropNote::NoFace {
            row.detail = "no face found: cropped to the most interesting part".into();
        }
    }
}

/// Writes a file so that readers see either the old or the new bytes, never half.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".m365-photos-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| crate::report::make_readable(tmp.as_file()))
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

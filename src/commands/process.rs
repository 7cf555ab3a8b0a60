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
    fs::create_dir_all(&out_dir).map_err(|e| ConfigError::Output {
        path: out_dir.clone(),
        reason: format!("cannot create the output folder: {e}"),
    })?;
    let prepared = prepare::prepare(opts)?;
    let pool = prepare::thread_pool(opts.jobs);
    let bar = out.bar(prepared.matched.len() as u64, "processing");
    let want_thumbs = opts.html.is_some();
    // Each worker holds one decoded photo at a time and keeps only its small row, so
    // memory does not grow with the batch.
    let rows: Vec<Row> = pool.install(|| {
        prepared
            .matched
            .par_iter()
            .map(|m| {
                let row = process_one(m, opts, &out_dir, want_thumbs);
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
    if let Some(path) = &opts.report {
        out.result(&format!("report: {}", path.display()));
    }
    Ok(report.exit_code())
}

fn process_one(m: &MatchedPhoto, opts: &Options, out_dir: &Path, want_thumbs: bool) -> Row {
    let mut row = matched_row(m);
    let thumb = want_thumbs.then_some(SOURCE_THUMB_PX);
    match process::process(&m.file.path, &m.file.format, &opts.image, thumb) {
        Ok(photo) => {
            let name = format!("{}.jpg", safe_file_name(&m.user.user));
            let path = out_dir.join(&name);
            match write_atomically(&path, &photo.jpeg) {
                Ok(()) => {
                    fill_processed(&mut row, &photo, opts.image.size);
                    row.output_file = Some(name);
                }
                Err(e) => {
                    row.status = Some(Status::Failed);
                    row.detail = format!("{e:#}");
                }
            }
            if want_thumbs {
                row.thumbs = Some(Thumbs {
                    source: photo.source_thumb,
                    output: Some(photo.jpeg),
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
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

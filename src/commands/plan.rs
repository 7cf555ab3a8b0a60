//! `plan`: match and check every photo from its header; writes nothing but the report.

use rayon::prelude::*;

use super::prepare::{self, matched_row};
use crate::options::Options;
use crate::output::Output;
use crate::process;
use crate::report::{Report, Row, Status};

pub fn run(opts: &Options, out: &Output) -> anyhow::Result<i32> {
    let prepared = prepare::prepare(opts)?;
    let pool = prepare::thread_pool(opts.jobs);
    let bar = out.bar(prepared.matched.len() as u64, "checking");
    let checked: Vec<Row> = pool.install(|| {
        prepared
            .matched
            .par_iter()
            .map(|m| {
                let mut row = matched_row(m);
                match process::probe(&m.file.path, &m.file.format, &opts.image) {
                    Ok(info) => {
                        row.source_width = Some(info.width);
                        row.source_height = Some(info.height);
                        let short = info.width.min(info.height);
                        if short < opts.image.size {
                            row.status = Some(Status::TooSmall);
                            row.detail = format!(
                                "{}x{} is smaller than {} px on its short side; it would be made at {short} px (ask for a larger photo)",
                                info.width, info.height, opts.image.size
                            );
                        } else {
                            row.status = Some(Status::Matched);
                        }
                    }
                    Err(e) => {
                        row.status = Some(Status::InvalidImage);
                        row.detail = e.to_string();
                    }
                }
                if opts.html.is_some() && row.status != Some(Status::InvalidImage) {
                    // Only the page needs pixels; a cheap reduced-scale decode.
                    let thumb = process::source_thumbnail(
                        &m.file.path,
                        &m.file.format,
                        super::process::SOURCE_THUMB_PX,
                        &opts.image,
                    );
                    row.thumbs = thumb.ok().map(|source| crate::report::Thumbs {
                        source: Some(source),
                        output: None,
                    });
                }
                bar.inc(1);
                row
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut report = Report::new("plan");
    report.rows = checked;
    report.rows.extend(prepared.rows);
    prepare::write_reports(opts, &report)?;
    for line in report.summary_lines() {
        out.result(&line);
    }
    for path in opts.report.iter().chain(opts.html.iter()) {
        out.result(&format!("report: {}", path.display()));
    }
    Ok(report.exit_code())
}

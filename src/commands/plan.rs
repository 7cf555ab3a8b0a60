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
    if let Some(path) = &opts.report {
        out.result(&format!("report: {}", path.display()));
    }
    Ok(report.exit_code())
}

//! `plan`: match and check every photo from its header; writes nothing but the report.

use rayon::prelude::*;

use super::{Done, RunError};
use crate::config::Options;
use crate::output::Output;
use crate::pipeline::{make, prepare};
use crate::report::{Report, Row};

pub(crate) fn run(opts: &Options, out: &Output) -> Result<Done, RunError> {
    let prepared = prepare::prepare(opts)?;
    let pool = prepare::thread_pool(opts.jobs);
    let bar = out.bar(prepared.matched.len() as u64, "checking");
    let checked: Vec<Row> = pool.install(|| {
        prepared
            .matched
            .par_iter()
            .map(|m| {
                let row = make::check(m, &opts.image, opts.html.is_some());
                bar.inc(1);
                row
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut report = Report::new("plan");
    report.extend(checked);
    report.extend(prepared.rows);
    Ok(Done::new(report))
}

//! `plan`: match and check every photo from its header; writes nothing but the report.

use rayon::prelude::*;

use super::{Done, RunError};
use crate::config::Options;
use crate::output::Output;
use crate::pipeline::{make, prepare, same};
use crate::report::{Report, Row};

pub(crate) fn run(opts: &Options, out: &Output) -> Result<Done, RunError> {
    let prepared = prepare::prepare(opts)?;
    let pool = prepare::thread_pool(opts.jobs);
    let bar = out.bar(prepared.matched.len() as u64, "checking");
    let shared = pool.install(|| same::shared_sources(&prepared.matched));
    let checked: Vec<Row> = pool.install(|| {
        prepared
            .matched
            .par_iter()
            .zip(shared.par_iter())
            .map(|(m, others)| {
                let mut row = make::check(m, &opts.image, opts.html.is_some());
                same::note(&mut row, others.as_deref(), &m.user.user);
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

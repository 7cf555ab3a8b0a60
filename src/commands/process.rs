//! `process`: make every matched photo into `--out/<user>.jpg`, in parallel, offline.

use rayon::prelude::*;

use super::{Done, RunError};
use crate::config::{ConfigError, Options};
use crate::output::Output;
use crate::pipeline::{guard, make, prepare, same};
use crate::report::{Place, Report};

pub(crate) fn run(opts: &Options, out: &Output) -> Result<Done, RunError> {
    let out_dir = opts.out.clone().ok_or(ConfigError::Invalid {
        flag: "--out",
        reason: "process needs an output folder".into(),
    })?;
    guard::check_out_folder(&opts.photos, &out_dir)?;
    std::fs::create_dir_all(&out_dir).map_err(|e| ConfigError::Output {
        path: out_dir.clone(),
        reason: format!("cannot create the output folder: {e}"),
    })?;
    let prepared = prepare::prepare(opts)?;
    let pool = prepare::thread_pool(opts.jobs);
    let bar = out.bar(prepared.matched.len() as u64, "processing");
    let users: Vec<&str> = prepared
        .matched
        .iter()
        .map(|m| m.user.user.as_str())
        .collect();
    let names = crate::util::names::unique_photo_names(&users);
    let shared = pool.install(|| same::shared_sources(&prepared.matched));
    // Each worker holds one decoded photo at a time and hands its row straight to the
    // report's spool, so memory does not grow with the batch.
    let report = std::sync::Mutex::new(Report::new("process"));
    pool.install(|| {
        prepared
            .matched
            .par_iter()
            .zip(names.par_iter())
            .zip(shared.par_iter())
            .enumerate()
            .for_each(|(i, ((m, name), others))| {
                let mut row = make::to_folder(m, name, &opts.image, &out_dir, opts.html.is_some());
                same::note(&mut row, others.as_deref(), &m.user.user);
                bar.inc(1);
                lock(&report).push_at(Place::Body(i as u64), row);
            });
    });
    bar.finish_and_clear();
    let mut report = report.into_inner().unwrap_or_else(|e| e.into_inner());
    report.extend(prepared.rows);
    let mut done = Done::new(report);
    done.after.push(format!("photos: {}", out_dir.display()));
    Ok(done)
}

fn lock(report: &std::sync::Mutex<Report>) -> std::sync::MutexGuard<'_, Report> {
    report.lock().unwrap_or_else(|e| e.into_inner())
}

//! `upload`: the main job — process every matched photo and put it on its user.

use std::sync::Arc;

use crate::graph::{GraphClient, GraphOptions};
use crate::options::Options;
use crate::output::Output;
use crate::report::Report;
use crate::upload::{self, UploadOptions};

use super::prepare;

pub fn run(
    opts: &Options,
    upload_opts: &UploadOptions,
    graph: GraphOptions,
    out: &Output,
) -> anyhow::Result<i32> {
    let client = Arc::new(GraphClient::new(graph).map_err(|e| anyhow::anyhow!(e))?);
    let runtime = super::backup::runtime()?;
    let mut report = runtime.block_on(upload::run(opts, upload_opts, Arc::clone(&client), out))?;
    // Tenant hook (issue 5): `--lock` after the upload phase, only when it went cleanly,
    // with the same client (and token).
    let lock_code = match &upload_opts.lock {
        Some(roles) => super::lock::after_upload(
            &mut report,
            roles,
            upload_opts.dry_run,
            &client,
            &runtime,
            out,
        )?,
        None => crate::error::exit::OK,
    };
    finish(opts, &report, out)?;
    resume_hints(&report, upload_opts, out);
    if let Some(dir) = &upload_opts.backup {
        out.result(&format!(
            "previous photos backed up to {} (undo with `m365-photos restore --from {}`)",
            dir.path().display(),
            dir.path().display()
        ));
    }
    Ok(report.exit_code().max(lock_code))
}

/// Tells what the state database did for this run and how to go on.
pub fn resume_hints(report: &Report, upload_opts: &UploadOptions, out: &Output) {
    use crate::report::Status;
    let Some(state) = &upload_opts.state else {
        return;
    };
    if upload_opts.dry_run {
        return;
    }
    let skipped = report.count(Status::SkippedUnchanged);
    if skipped > 0 {
        out.result(&format!(
            "{skipped} users skipped: photo, settings and last upload unchanged (--force sends them again)"
        ));
    }
    if report.interrupted {
        out.result(&format!(
            "interrupted: {} users not done yet. Run the same command again to resume; users already uploaded are skipped. (`m365-photos status --state {}` shows where it stands.)",
            report.count(Status::Pending),
            state.display()
        ));
    } else {
        out.result(&format!("state: {}", state.display()));
    }
}

/// Runs the upload on its own runtime and returns the report (the demo uses this too).
pub fn run_report(
    opts: &Options,
    upload_opts: &UploadOptions,
    graph: GraphOptions,
    out: &Output,
) -> anyhow::Result<Report> {
    let client = Arc::new(GraphClient::new(graph).map_err(|e| anyhow::anyhow!(e))?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(upload::run(opts, upload_opts, client, out))
}

/// Writes the report files and prints the summary.
pub fn finish(opts: &Options, report: &Report, out: &Output) -> anyhow::Result<()> {
    prepare::write_reports(opts, report)?;
    for line in report.summary_lines() {
        out.result(&line);
    }
    for path in opts.report.iter().chain(opts.html.iter()) {
        out.result(&format!("report: {}", path.display()));
    }
    Ok(())
}

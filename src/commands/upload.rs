//! `upload`: the main job — process every matched photo and put it on its user, then
//! `--lock` when it went cleanly.

use std::sync::Arc;

use super::{Done, RunError, session};
use crate::config::{UploadConfig, UploadOptions, exit};
use crate::output::Output;
use crate::pipeline::upload::{self, Uploaded};
use crate::report::{Report, Status};

pub(crate) fn run(c: &UploadConfig, out: &Output) -> Result<Done, RunError> {
    let client = Arc::new(session::client(c.graph.clone())?);
    let runtime = session::runtime()?;
    let Uploaded {
        mut report,
        backup_dir,
        stopped,
    } = runtime.block_on(upload::run(&c.opts, &c.upload, Arc::clone(&client), out))?;
    // After the upload phase, only when it went cleanly, with the same client (and token).
    let lock_code = match &c.upload.lock {
        Some(roles) => {
            super::lock::after_upload(&mut report, roles, c.upload.dry_run, &client, &runtime, out)
        }
        None => exit::OK,
    };
    let after = resume_hints(&report, &c.upload);
    let mut done = Done::new(report);
    done.after = after;
    done.code = lock_code;
    // The breaker's stop is the admin's to fix, like a failed preflight (exit 2).
    if let Some(why) = stopped {
        out.error(&why);
        done.after.push(why);
        done.code = exit::USAGE;
    }
    if let Some(dir) = backup_dir {
        done.after.push(format!(
            "previous photos backed up to {} (undo with `m365-photos restore --from {}`)",
            dir.display(),
            dir.display()
        ));
    }
    Ok(done)
}

/// What the state database did for this run and how to go on.
pub(crate) fn resume_hints(report: &Report, upload: &UploadOptions) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(state) = &upload.state else {
        return lines;
    };
    if upload.dry_run {
        return lines;
    }
    let skipped = report.count(Status::SkippedUnchanged);
    if skipped > 0 {
        lines.push(format!(
            "{skipped} users skipped: photo, settings and last upload unchanged (--force sends them again)"
        ));
    }
    if report.interrupted {
        lines.push(format!(
            "interrupted: {} users not done yet. Run the same command again to resume; users already uploaded are skipped. (`m365-photos status --state {}` shows where it stands.)",
            report.count(Status::Pending),
            state.display()
        ));
    } else {
        lines.push(format!("state: {}", state.display()));
    }
    lines
}

/// Runs the upload on its own runtime and returns what it did (the demo uses this).
pub(crate) fn run_report(c: &UploadConfig, out: &Output) -> Result<Uploaded, RunError> {
    let client = Arc::new(session::client(c.graph.clone())?);
    let runtime = session::runtime()?;
    Ok(runtime.block_on(upload::run(&c.opts, &c.upload, client, out))?)
}

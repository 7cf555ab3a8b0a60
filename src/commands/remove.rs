//! `remove`: deletes users' photos, each one backed up first; `--dry-run` only looks.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Done, RunError, session};
use crate::config::RemoveConfig;
use crate::graph::claims;
use crate::output::Output;
use crate::report::Report;
use crate::tenant::backup::{BackupDir, timestamped_name};
use crate::tenant::{run, users};

pub(crate) fn run(c: &RemoveConfig, out: &Output) -> Result<Done, RunError> {
    let db = session::open_state(c.state.as_deref(), c.dry_run)?;
    let rt = session::runtime()?;
    let needs: &[claims::Need] = if c.dry_run {
        &[claims::LOOK_UP, claims::READ_PHOTOS]
    } else {
        &[claims::LOOK_UP, claims::READ_PHOTOS, claims::WRITE_PHOTOS]
    };
    let tenant = Arc::new(session::connect(&rt, c.graph.clone(), needs, out)?);
    let scopes = (tenant.scope(), tenant.legacy_scope());
    let (targets, mut rows) =
        rt.block_on(users::from_csv(tenant.as_ref(), &c.users, &c.user_column))?;
    let dir = if c.dry_run || targets.is_empty() {
        None
    } else {
        let path = c
            .backup_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(timestamped_name()));
        Some(Arc::new(BackupDir::create(&path)?))
    };
    rows.extend(rt.block_on(run::remove_all(tenant, dir.clone(), targets, c.dry_run)));
    let mut report = Report::new(if c.dry_run {
        "remove (dry run)"
    } else {
        "remove"
    });
    report.extend(rows);
    session::record_state(db, "remove", &scopes, &report, c.dry_run, out);
    let mut done = Done::new(report);
    if let Some(dir) = &dir {
        done.before.push(format!(
            "backup folder: {} (put the photos back with `m365-photos restore --from {}`)",
            dir.path().display(),
            dir.path().display()
        ));
    }
    Ok(done)
}

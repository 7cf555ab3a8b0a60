//! `backup`: saves users' current photos to a folder with a manifest.

use std::sync::Arc;

use super::{Done, RunError, session};
use crate::config::{BackupConfig, UserSource};
use crate::graph::claims;
use crate::output::Output;
use crate::report::Report;
use crate::tenant::backup::{BackupDir, MANIFEST};
use crate::tenant::{run, users};

pub(crate) fn run(c: &BackupConfig, out: &Output) -> Result<Done, RunError> {
    let dir = Arc::new(BackupDir::create(&c.out)?);
    let rt = session::runtime()?;
    let needs = [claims::LOOK_UP, claims::READ_PHOTOS];
    let tenant = Arc::new(session::connect(&rt, c.graph.clone(), &needs, out)?);
    let rows = rt.block_on(async {
        let (targets, mut rows) = match &c.users {
            UserSource::All => (users::whole_tenant(tenant.as_ref()).await?, Vec::new()),
            UserSource::Csv { path, column } => {
                users::from_csv(tenant.as_ref(), path, column).await?
            }
        };
        rows.extend(run::backup_all(tenant, Arc::clone(&dir), targets).await);
        Ok::<_, users::TargetsError>(rows)
    })?;
    let mut report = Report::new("backup");
    report.extend(rows);
    let mut done = Done::new(report);
    done.before.push(format!(
        "backup folder: {} (manifest: {})",
        dir.path().display(),
        dir.path().join(MANIFEST).display()
    ));
    Ok(done)
}

//! `restore`: puts the photos of a backup folder back on their users (its manifest says who).

use std::sync::Arc;

use super::{Done, RunError, session};
use crate::config::RestoreConfig;
use crate::graph::claims;
use crate::output::Output;
use crate::report::Report;
use crate::tenant::{backup, run};

pub(crate) fn run(c: &RestoreConfig, out: &Output) -> Result<Done, RunError> {
    let entries = backup::read_manifest(&c.from)?;
    let db = session::open_state(c.state.as_deref(), c.dry_run)?;
    let rt = session::runtime()?;
    let needs: &[claims::Need] = if c.dry_run {
        &[]
    } else {
        &[claims::WRITE_PHOTOS]
    };
    let tenant = Arc::new(session::connect(&rt, c.graph.clone(), needs, out)?);
    let scopes = (tenant.scope(), tenant.legacy_scope());
    let rows = rt.block_on(run::restore_all(tenant, &c.from, entries, c.dry_run));
    let mut report = Report::new(if c.dry_run {
        "restore (dry run)"
    } else {
        "restore"
    });
    report.extend(rows);
    session::record_state(db, "restore", &scopes, &report, c.dry_run, out);
    Ok(Done::new(report))
}

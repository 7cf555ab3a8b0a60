//! `restore`: puts the photos of a backup folder back on their users (its manifest says who).

use crate::graph::claims;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::cli::GraphArgs;
use crate::output::Output;
use crate::report::Report;
use crate::tenant::{backup, run};

use super::backup::{TenantStateArgs, check_report, connect, finish, runtime};

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A folder made by `backup`, `remove` or `upload` (holds manifest.csv).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Check the backup and list what would be restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub state: TenantStateArgs,
    #[command(flatten)]
    pub graph: GraphArgs,
}

pub fn run(args: &RestoreArgs, out: &Output) -> anyhow::Result<i32> {
    check_report(args.report.as_deref())?;
    let entries = backup::read_manifest(&args.from)?;
    let graph = args.graph.to_options()?;
    let scope = graph.scope();
    let db = args.state.open(args.dry_run)?;
    let rt = runtime()?;
    let needs: &[claims::Need] = if args.dry_run {
        &[]
    } else {
        &[claims::WRITE_PHOTOS]
    };
    let tenant = Arc::new(connect(&rt, graph, needs)?);
    let rows = rt.block_on(run::restore_all(tenant, &args.from, entries, args.dry_run));
    let mut report = Report::new(if args.dry_run {
        "restore (dry run)"
    } else {
        "restore"
    });
    report.rows = rows;
    TenantStateArgs::record(db, "restore", &scope, &report, args.dry_run, out);
    finish(&report, args.report.as_deref(), out)
}

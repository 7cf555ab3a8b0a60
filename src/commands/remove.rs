//! `remove`: deletes users' photos, each one backed up first; `--dry-run` only looks.

use crate::graph::claims;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::cli::GraphArgs;
use crate::output::Output;
use crate::report::Report;
use crate::tenant::backup::{BackupDir, timestamped_name};
use crate::tenant::run;

use super::backup::{TenantStateArgs, check_report, connect, finish, runtime, targets};

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Users whose photos go (CSV).
    #[arg(long, value_name = "FILE.csv")]
    pub users: PathBuf,
    /// CSV column naming the user (UPN, object id, mail or employeeId).
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub user_column: String,
    /// Where the photos are saved before removal [default: ./photo-backup-<time>].
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// List what would be removed; change nothing.
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

pub fn run(args: &RemoveArgs, out: &Output) -> anyhow::Result<i32> {
    check_report(args.report.as_deref())?;
    let graph = args.graph.to_options()?;
    let scope = graph.scope();
    let db = args.state.open(args.dry_run)?;
    let rt = runtime()?;
    let needs: &[claims::Need] = if args.dry_run {
        &[claims::LOOK_UP, claims::READ_PHOTOS]
    } else {
        &[claims::LOOK_UP, claims::READ_PHOTOS, claims::WRITE_PHOTOS]
    };
    let tenant = Arc::new(connect(&rt, graph, needs)?);
    let dir = if args.dry_run {
        None
    } else {
        let path = args
            .backup_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(timestamped_name()));
        Some(Arc::new(BackupDir::create(&path)?))
    };
    let rows = rt.block_on(async {
        let (targets, mut rows) =
            targets(tenant.as_ref(), Some(&args.users), &args.user_column).await?;
        rows.extend(run::remove_all(tenant, dir.clone(), targets, args.dry_run).await);
        anyhow::Ok(rows)
    })?;
    let mut report = Report::new(if args.dry_run {
        "remove (dry run)"
    } else {
        "remove"
    });
    report.rows = rows;
    TenantStateArgs::record(db, "remove", &scope, &report, args.dry_run, out);
    if let Some(dir) = &dir {
        out.result(&format!(
            "backup folder: {} (put the photos back with `m365-photos restore --from {}`)",
            dir.path().display(),
            dir.path().display()
        ));
    }
    finish(&report, args.report.as_deref(), out)
}

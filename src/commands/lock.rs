//! `lock`, `unlock` and `lock-status`: the tenant's photo update settings, read first,
//! shown before and after, and verified by reading them back.

use crate::graph::claims;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::cli::GraphArgs;
use crate::error::{ConfigError, exit};
use crate::graph::{GraphClient, PhotoApi};
use crate::output::Output;
use crate::tenant::lock::{self, CAVEATS, Desired, LOCK_ORDER_NOTE, LockKind, ON_PREMISES_TEXT};
use crate::tenant::{owa, roles};

use super::backup::{connect, runtime};

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Roles that may still change photos: global-admin, user-admin, people-admin,
    /// exchange-admin, or role template ids, comma-separated [default: global-admin,user-admin].
    #[arg(long, value_name = "LIST")]
    pub roles: Option<String>,
    /// Change the settings even when the tenant's photo source is onPremises.
    #[arg(long)]
    pub force: bool,
    /// Also write an Exchange Online PowerShell script (Outlook on the web policy route).
    #[arg(long, value_name = "FILE.ps1")]
    pub owa_script: Option<PathBuf>,
    /// With --owa-script: a new policy for these users only (default: the default policy, everyone).
    #[arg(long, value_name = "FILE.csv", requires = "owa_script")]
    pub users: Option<PathBuf>,
    /// CSV column naming the users for --users.
    #[arg(long, value_name = "COL", default_value = "userPrincipalName")]
    pub user_column: String,
    /// Also set the photo source to `cloud` on a tenant where it was never set. That
    /// stops photos synced from on-premises Active Directory (hybrid tenants).
    #[arg(long, value_name = "cloud", value_parser = ["cloud"])]
    pub source: Option<String>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Change the settings even when the tenant's photo source is onPremises.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub graph: GraphArgs,
}

#[derive(Debug, Args)]
pub struct LockStatusArgs {
    /// Print the settings as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub graph: GraphArgs,
}

/// `lock`.
pub fn run_lock(args: &LockArgs, out: &Output) -> anyhow::Result<i32> {
    let roles = match &args.roles {
        Some(list) => roles::parse_roles(list).map_err(|e| ConfigError::Invalid {
            flag: "--roles",
            reason: e.to_string(),
        })?,
        None => roles::default_roles(),
    };
    let graph = args.graph.to_options()?;
    // The script needs no sign-in: write it first so it exists whatever Graph says.
    if let Some(path) = &args.owa_script {
        write_owa_script(path, args.users.as_deref(), &args.user_column, out)?;
    }
    let want_cloud = args.source.is_some();
    apply(graph, &Desired::Lock(roles), args.force, want_cloud, out)
}

/// `unlock`.
pub fn run_unlock(args: &UnlockArgs, out: &Output) -> anyhow::Result<i32> {
    let graph = args.graph.to_options()?;
    apply(graph, &Desired::Unlock, args.force, false, out)
}

/// `lock-status`.
pub fn run_status(args: &LockStatusArgs, out: &Output) -> anyhow::Result<i32> {
    let graph = args.graph.to_options()?;
    let rt = runtime()?;
    let tenant = connect(&rt, graph, &[claims::READ_SETTINGS])?;
    let (settings, _) = rt.block_on(lock::read(&tenant))?;
    if args.json {
        out.result(&serde_json::to_string_pretty(&settings.to_json())?);
    } else {
        out.result("photo update settings:");
        for l in settings.describe() {
            out.result(&format!("  {l}"));
        }
        for c in CAVEATS {
            out.result(&format!("note: {c}"));
        }
    }
    Ok(exit::OK)
}

/// Locks or unlocks with an already-built client (also used by `upload --lock`).
pub async fn apply_with<G: PhotoApi>(
    tenant: &G,
    desired: &Desired,
    force: bool,
    want_cloud: bool,
    out: &Output,
) -> anyhow::Result<i32> {
    let outcome = lock::apply(tenant, desired, force, want_cloud).await?;
    out.result("photo update settings before:");
    for l in outcome.before.describe() {
        out.result(&format!("  {l}"));
    }
    if outcome.before.source == lock::Source::NotSet && !want_cloud {
        out.result("note: the photo source is not set (photos may come from the cloud and from on-premises sync): only allowedRoles is changed. `--source cloud` would also set it, which stops photos synced from on-premises Active Directory.");
    }
    let code = match outcome.kind {
        LockKind::RefusedOnPremises => {
            out.result(ON_PREMISES_TEXT);
            exit::SOME_FAILED
        }
        LockKind::AlreadySet => {
            out.result("already as asked: nothing changed.");
            exit::OK
        }
        LockKind::Changed | LockKind::NotVerified => {
            out.result("photo update settings after (read back):");
            for l in outcome.after.describe() {
                out.result(&format!("  {l}"));
            }
            if outcome.kind == LockKind::Changed {
                out.result("changed and verified.");
                exit::OK
            } else {
                out.error("Graph accepted the change but reading it back shows something else; check with `m365-photos lock-status` later");
                exit::SOME_FAILED
            }
        }
    };
    for c in CAVEATS {
        out.result(&format!("note: {c}"));
    }
    if matches!(desired, Desired::Lock(_)) {
        out.result(&format!("note: {LOCK_ORDER_NOTE}"));
    }
    Ok(code)
}

fn apply(
    graph: crate::graph::GraphOptions,
    desired: &Desired,
    force: bool,
    want_cloud: bool,
    out: &Output,
) -> anyhow::Result<i32> {
    let rt = runtime()?;
    let tenant = connect(&rt, graph, &[claims::WRITE_SETTINGS])?;
    rt.block_on(apply_with(&tenant, desired, force, want_cloud, out))
}

fn write_owa_script(
    path: &std::path::Path,
    users: Option<&std::path::Path>,
    column: &str,
    out: &Output,
) -> anyhow::Result<()> {
    let list = match users {
        Some(csv) => {
            let (users, issues) = super::backup::read_user_column(csv, column)?;
            for i in issues {
                out.note(&format!("{}: line {}: {}", csv.display(), i.0, i.1));
            }
            Some(users.into_iter().map(|(u, _)| u).collect::<Vec<_>>())
        }
        None => None,
    };
    let text = owa::script(list.as_deref(), &crate::tenant::backup::now_rfc3339());
    super::prepare::ensure_parent(path)?;
    super::process::write_atomically(path, text.as_bytes())
        .with_context(|| format!("writing --owa-script {}", path.display()))?;
    out.result(&format!(
        "Exchange Online script written to {} ({}); read it, then run it in PowerShell",
        path.display(),
        match &list {
            Some(l) => format!("a new policy for {} users", l.len()),
            None => "the default policy: everyone".into(),
        }
    ));
    Ok(())
}

/// `upload --lock`: locks after the upload phase, only when it finished cleanly; otherwise
/// a report row says why not. Returns the exit code the lock itself deserves. Reuses the
/// upload's client and runtime: no second sign-in.
pub fn after_upload(
    report: &mut crate::report::Report,
    roles: &[crate::tenant::roles::RoleId],
    dry_run: bool,
    client: &GraphClient,
    rt: &tokio::runtime::Runtime,
    out: &Output,
) -> anyhow::Result<i32> {
    use crate::report::{Row, Severity, Status};
    let why_not = if dry_run {
        Some("dry run: photo changes would be locked after a clean upload".to_string())
    } else if report.worst() == Severity::Failure {
        let bad = report
            .rows
            .iter()
            .filter(|r| r.status().severity() == Severity::Failure)
            .count();
        Some(format!(
            "photo changes NOT locked: {bad} item(s) did not upload cleanly (see the report); fix them, then run `m365-photos lock`"
        ))
    } else {
        None
    };
    if let Some(why) = why_not {
        out.result(&why);
        report.rows.push(Row {
            status: Some(Status::Skipped),
            detail: why,
            ..Row::default()
        });
        return Ok(exit::OK);
    }
    out.result("upload finished cleanly: locking photo changes");
    match rt.block_on(apply_with(
        client,
        &Desired::Lock(roles.to_vec()),
        false,
        false,
        out,
    )) {
        Ok(code) if code != exit::OK => {
            report.rows.push(Row {
                status: Some(Status::Failed),
                detail: "photos uploaded, but photo changes were not locked (the tenant's photo source is onPremises, or the setting did not read back as asked): see `m365-photos lock-status`".into(),
                ..Row::default()
            });
            Ok(code)
        }
        Ok(code) => Ok(code),
        Err(e) => {
            let why = format!("photos uploaded, but locking failed: {e:#}");
            out.error(&why);
            report.rows.push(Row {
                status: Some(Status::Failed),
                detail: why,
                ..Row::default()
            });
            Ok(exit::SOME_FAILED)
        }
    }
}

//! `lock`, `unlock` and `lock-status`: the tenant's photo update settings, read first,
//! shown before and after, and verified by reading them back.

use super::{RunError, session};
use crate::config::{LockConfig, LockStatusConfig, OwaScript, exit};
use crate::graph::{GraphClient, PhotoApi, claims};
use crate::output::Output;
use crate::tenant::lock::{self, CAVEATS, Desired, LOCK_ORDER_NOTE, LockKind, ON_PREMISES_TEXT};
use crate::tenant::{owa, users};

/// `lock` and `unlock`.
pub(crate) fn run_lock(c: &LockConfig, out: &Output) -> Result<i32, RunError> {
    // The script needs no sign-in: write it first so it exists whatever Graph says.
    if let Some(script) = &c.owa_script {
        write_owa_script(script, out)?;
    }
    let desired = match &c.roles {
        Some(roles) => Desired::Lock(roles.clone()),
        None => Desired::Unlock,
    };
    let rt = session::runtime()?;
    let tenant = session::connect(&rt, c.graph.clone(), &[claims::WRITE_SETTINGS], out)?;
    Ok(rt.block_on(apply_with(&tenant, &desired, c.force, c.source_cloud, out))?)
}

/// `lock-status`.
pub(crate) fn run_status(c: &LockStatusConfig, out: &Output) -> Result<i32, RunError> {
    let rt = session::runtime()?;
    let tenant = session::connect(&rt, c.graph.clone(), &[claims::READ_SETTINGS], out)?;
    let (settings, _) = rt.block_on(lock::read(&tenant)).map_err(RunError::failed)?;
    if c.json {
        let text = serde_json::to_string_pretty(&settings.to_json()).map_err(RunError::failed)?;
        out.result(&text);
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
pub(crate) async fn apply_with<G: PhotoApi>(
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

fn write_owa_script(script: &OwaScript, out: &Output) -> Result<(), RunError> {
    let list = match &script.users {
        Some((csv, column)) => {
            let (users, issues) = users::read_user_column(csv, column)?;
            for i in issues {
                out.note(&format!("{}: line {}: {}", csv.display(), i.0, i.1));
            }
            Some(users.into_iter().map(|(u, _)| u).collect::<Vec<_>>())
        }
        None => None,
    };
    let text = owa::script(list.as_deref(), &crate::util::time::now_rfc3339());
    let path = &script.path;
    crate::util::fs::ensure_parent(path)
        .and_then(|()| crate::util::fs::write_atomically(path, text.as_bytes()))
        .map_err(|e| RunError::failed(format!("writing --owa-script {}: {e}", path.display())))?;
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
pub(crate) fn after_upload(
    report: &mut crate::report::Report,
    roles: &[crate::tenant::roles::RoleId],
    dry_run: bool,
    client: &GraphClient,
    rt: &tokio::runtime::Runtime,
    out: &Output,
) -> i32 {
    use crate::report::{Row, Severity, Status};
    let why_not = if dry_run {
        Some("dry run: photo changes would be locked after a clean upload".to_string())
    } else if report.worst() == Severity::Failure {
        let bad: usize = report
            .counts()
            .iter()
            .filter(|(s, _)| s.severity() == Severity::Failure)
            .map(|(_, n)| n)
            .sum();
        Some(format!(
            "photo changes NOT locked: {bad} item(s) did not upload cleanly (see the report); fix them, then run `m365-photos lock`"
        ))
    } else {
        None
    };
    if let Some(why) = why_not {
        out.result(&why);
        report.push(Row {
            status: Some(Status::Skipped),
            detail: why,
            ..Row::default()
        });
        return exit::OK;
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
            report.push(Row {
                status: Some(Status::Failed),
                detail: "photos uploaded, but photo changes were not locked (the tenant's photo source is onPremises, or the setting did not read back as asked): see `m365-photos lock-status`".into(),
                ..Row::default()
            });
            code
        }
        Ok(code) => code,
        Err(e) => {
            let why = format!("photos uploaded, but locking failed: {e:#}");
            out.error(&why);
            report.push(Row {
                status: Some(Status::Failed),
                detail: why,
                ..Row::default()
            });
            exit::SOME_FAILED
        }
    }
}

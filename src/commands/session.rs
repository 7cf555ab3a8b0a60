//! The one place that builds the runtime and signs in, so bad credentials or a missing
//! permission stop a command before any work.

use crate::graph::claims::Need;
use crate::graph::{GraphClient, GraphOptions, PreflightError};

use super::RunError;

/// The runtime for Graph work.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, RunError> {
    crate::util::runtime::build()
        .map_err(|e| RunError::failed(format!("cannot start the runtime: {e}")))
}

/// The Graph client, not yet signed in.
pub(crate) fn client(graph: GraphOptions) -> Result<GraphClient, RunError> {
    GraphClient::new(graph).map_err(RunError::failed)
}

/// Builds the one Graph client, signs in and checks the token grants `needs`.
pub(crate) fn connect(
    rt: &tokio::runtime::Runtime,
    graph: GraphOptions,
    needs: &[Need],
    out: &crate::output::Output,
) -> Result<GraphClient, RunError> {
    let client = client(graph)?;
    rt.block_on(client.check_sign_in())
        .map_err(|e| PreflightError::SignIn(e.detail()))?;
    out.note(&signed_in(&client));
    rt.block_on(client.preflight(needs))?;
    Ok(client)
}

/// The note saying which sign-in was used: with several configured, an admin must be
/// able to tell which one the run took.
pub(crate) fn signed_in(client: &GraphClient) -> String {
    format!("signed in with {}", client.sign_in_method())
}

/// Opens `--state` of a tenant command that changes photos, before any work (a run
/// holding it stops this one); a dry run records nothing.
pub(crate) fn open_state(
    state: Option<&std::path::Path>,
    dry_run: bool,
) -> Result<Option<crate::state::StateDb>, crate::state::StateError> {
    match state {
        Some(path) if !dry_run => crate::state::StateDb::open(path).map(Some),
        _ => Ok(None),
    }
}

/// Records a finished tenant run, so users whose photo it changed are no longer skipped
/// by the next upload; without a state database, says what that means.
pub(crate) fn record_state(
    db: Option<crate::state::StateDb>,
    command: &str,
    (scope, legacy): &(String, String),
    report: &crate::report::Report,
    dry_run: bool,
    out: &crate::output::Output,
) {
    use crate::report::Status;
    let changed = [Status::Removed, Status::Restored];
    match db {
        Some(mut db) => {
            let path = db.path().to_path_buf();
            // The users an older release recorded under the `--tenant` text must be
            // forgotten too.
            let recorded = db
                .adopt_scope(legacy, scope)
                .map_err(|e| e.to_string())
                .and_then(|_| db.record_run(command, scope, report, &changed));
            if let Err(e) = recorded {
                out.error(&format!("state database {}: {e}", path.display()));
            }
        }
        None if !dry_run && changed.iter().any(|s| report.count(*s) > 0) => {
            out.note("note: no --state given, so a later `upload` with an unchanged photo may skip these users; use `upload --force` for them, or pass --state next time");
        }
        None => {}
    }
}

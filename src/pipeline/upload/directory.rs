//! `upload` without a CSV: the tenant's own directory is the user list. One paged listing
//! (999 users a request: about 100 requests for 100,000 users, instead of 6,667 look-ups)
//! is matched against the photo names by the chosen property, with the CSV's rules.

use std::collections::HashSet;

use super::UploadError;
use crate::config::{DirectoryKey, Options};
use crate::graph::{GraphClient, PhotoApi, Resolved, UserKey};
use crate::output::Output;
use crate::pipeline::matching::{UserIndex, normalise};
use crate::pipeline::prepare::{self, Prepared};

/// Lists the tenant, matches the photos, and returns the work list with the matched users
/// already resolved (by lower-cased UPN).
pub(super) async fn prepare(
    opts: &Options,
    client: &GraphClient,
    key: DirectoryKey,
    out: &Output,
) -> Result<(Prepared, Resolved), UploadError> {
    let property = UserKey::of_directory(key);
    let listing = out.spinner("listing the tenant's users");
    let users = client.list_users().await.map_err(|e| {
        UploadError::Failed(format!("listing the tenant's users failed: {}", e.detail()))
    })?;
    listing.finish_and_clear();
    tracing::info!(
        users = users.len(),
        property = property.property(),
        "matching photo names against the directory (no --users CSV)"
    );
    let index = UserIndex::from_directory(users.iter().filter_map(|u| {
        let value = property.value_of(u)?.to_string();
        Some((value, u.upn.clone().filter(|n| !n.is_empty())?))
    }));
    let prepared = prepare::prepare_with(opts, index)?;
    // Only the users that got a photo stay in memory for the run.
    let wanted: HashSet<String> = prepared
        .matched
        .iter()
        .map(|m| normalise(&m.user.user))
        .collect();
    let mut known = Resolved::default();
    for u in users {
        let Some(upn) = u.upn.as_deref().map(normalise) else {
            continue;
        };
        if wanted.contains(&upn) {
            known.found.entry(upn).or_default().push(u);
        }
    }
    Ok((prepared, known))
}

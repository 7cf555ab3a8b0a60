//! The directory as the user list: without a CSV, one paged listing (999 users a
//! request: about 100 requests for 100,000 users, instead of 6,667 look-ups) is matched
//! against the photo names by the chosen property, with the CSV's rules; with a CSV, the
//! same listing replaces the look-ups when the counts say it takes far fewer requests.

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
            known.found.entry(upn).or_default().push(u.slim());
        }
    }
    Ok((prepared, known))
}

/// Users a filtered look-up asks for at once (Graph's limit on `in (...)` values).
const PER_LOOKUP: u64 = crate::graph::FILTER_IN_MAX as u64;
/// Below this many users the look-ups are few and run alongside the uploads: not worth
/// even the request that counts the tenant.
const COUNT_FROM: u64 = 1000;

/// How a CSV upload finds its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Finding {
    /// Filtered look-ups, 15 users a request, alongside the uploads.
    LookUps,
    /// One paged listing of the whole directory first.
    Listing,
}

/// Requests each way: (filtered look-ups, directory pages).
fn requests(targets: u64, tenant: u64) -> (u64, u64) {
    (
        targets.div_ceil(PER_LOOKUP),
        tenant.div_ceil(crate::graph::LIST_PAGE).max(1),
    )
}

/// Page the directory when that takes at most half the requests of the look-ups: the
/// listing has to finish before the first upload, the look-ups do not.
pub(super) fn choose(targets: u64, tenant: u64) -> Finding {
    let (lookups, pages) = requests(targets, tenant);
    if pages * 2 <= lookups {
        Finding::Listing
    } else {
        Finding::LookUps
    }
}

/// With a CSV: the users of `prepared`, from one listing of the directory, when the
/// counts make that much cheaper than look-ups (`None`: look them up). Says which under
/// `-v`; any failure here falls back to the look-ups.
pub(super) async fn listing_if_cheaper(
    client: &GraphClient,
    prepared: &Prepared,
    key: UserKey,
) -> Option<Resolved> {
    let targets = prepared.matched.len() as u64;
    if targets < COUNT_FROM {
        tracing::info!(
            targets,
            "finding users with filtered look-ups (a few requests)"
        );
        return None;
    }
    let tenant = match client.count_users().await {
        Ok(n) => n,
        Err(e) => {
            tracing::info!(error = %e.detail(), "cannot count the tenant's users: finding users with filtered look-ups");
            return None;
        }
    };
    let (lookups, pages) = requests(targets, tenant);
    if choose(targets, tenant) == Finding::LookUps {
        tracing::info!(
            targets,
            tenant,
            lookups,
            pages,
            "finding users with filtered look-ups alongside the uploads (fewer requests than paging the directory)"
        );
        return None;
    }
    tracing::info!(
        targets,
        tenant,
        lookups,
        pages,
        "finding users by paging the directory (fewer requests than look-ups)"
    );
    let wanted: HashSet<String> = prepared
        .matched
        .iter()
        .map(|m| m.user.user.trim().to_lowercase())
        .collect();
    let mut known = Resolved::default();
    // Matched as the pages come: the rest of the tenant is never held.
    let listed = client
        .list_users_where(|u| {
            let value = key.value_of(&u).map(|v| v.trim().to_lowercase())?;
            if wanted.contains(&value) {
                // Nearly every value has one user: a default Vec's first push makes room
                // for four (500 bytes a user, 10 MB of a 20,000-user run's peak).
                known
                    .found
                    .entry(value)
                    .or_insert_with(|| Vec::with_capacity(1))
                    .push(u.slim());
            }
            None
        })
        .await;
    if let Err(e) = listed {
        tracing::warn!(error = %e.detail(), "listing the directory failed: finding users with filtered look-ups instead");
        return None;
    }
    Some(known)
}

#[cfg(test)]
mod tests {
    use super::{Finding, choose};

    #[test]
    fn pages_the_directory_only_when_it_takes_half_the_requests_or_fewer() {
        // A tenant-wide refresh: 100 pages instead of 6,667 look-ups.
        assert_eq!(choose(100_000, 100_000), Finding::Listing);
        // An onboarding batch in a large tenant: 4 look-ups, not 101 pages.
        assert_eq!(choose(50, 100_000), Finding::LookUps);
        // 10% of a 100,000-user tenant: 667 look-ups against 101 pages.
        assert_eq!(choose(10_000, 100_000), Finding::Listing);
        // 2% of it: 134 look-ups against 101 pages: not worth waiting for the listing.
        assert_eq!(choose(2_000, 100_000), Finding::LookUps);
        assert_eq!(choose(3_030, 100_000), Finding::Listing);
    }
}

//! Reading the database: the users a re-run may skip, and the runs and rows `status`
//! shows. Status lists in SQL come from the status enum, never typed in by hand.

use std::collections::HashMap;

use rusqlite::params;

use super::{ItemInfo, Landed, RunInfo, SourceId, StateDb, StateError};
use crate::report::{Severity, Status};

/// Whether a user's last outcome leaves the photo this tool sent in place (so an
/// unchanged re-run may skip them). Exhaustive on purpose: a new status must decide.
pub(crate) fn keeps_our_photo(status: Status) -> bool {
    match status {
        Status::Uploaded | Status::SkippedUnchanged => true,
        Status::Matched
        | Status::Processed
        | Status::TooSmall
        | Status::WouldUpload
        | Status::BackedUp
        | Status::Removed
        | Status::WouldRemove
        | Status::Restored
        | Status::NoTenantPhoto
        | Status::NoUser
        | Status::NoPhoto
        | Status::Skipped
        | Status::Ambiguous
        | Status::BadRow
        | Status::InvalidImage
        | Status::UserNotFound
        | Status::Failed
        | Status::Pending => false,
    }
}

/// Whether a user's last attempt failed (what `status` counts). Pending is never a
/// user's last status: the recorder keeps the previous one until the user is done.
pub(crate) fn last_attempt_failed(status: Status) -> bool {
    status.severity() == Severity::Failure && status != Status::Pending
}

/// The SQL list (`'a', 'b'`) of the statuses `pick` selects. The words are the enum's
/// own kebab-case constants, so quoting them is safe.
pub(crate) fn status_list(pick: impl Fn(Status) -> bool) -> String {
    let words: Vec<String> = Status::ALL
        .into_iter()
        .filter(|s| pick(*s))
        .map(|s| {
            debug_assert!(
                s.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-')
            );
            format!("'{}'", s.as_str())
        })
        .collect();
    if words.is_empty() {
        // `IN ()` is not SQL; NULL matches nothing.
        return "NULL".into();
    }
    words.join(", ")
}

impl StateDb {
    /// Every user of `scopes` whose last attempt confirmed (or kept) an upload, by user
    /// key: the users a re-run may skip. A user whose last attempt failed is never here.
    /// A user recorded under several scopes (the `tid` one and a legacy `--tenant` one,
    /// read without migrating by a dry run) counts as the first scope says.
    pub fn landed(&self, scopes: &[&str]) -> Result<HashMap<String, Landed>, StateError> {
        let mut map = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for scope in scopes.iter().rev() {
            if seen.insert(*scope) {
                map.extend(self.landed_in(scope)?);
            }
        }
        Ok(map)
    }

    fn landed_in(&self, scope: &str) -> Result<HashMap<String, Landed>, StateError> {
        let sql = format!(
            "SELECT user_key, landed_source_path, landed_source_size, landed_source_mtime_ns,
                    landed_source_hash, landed_settings_hash, landed_output_hash, landed_at
             FROM users WHERE scope = ?1 AND landed_at IS NOT NULL
               AND last_status IN ({})",
            status_list(keeps_our_photo)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![scope], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Landed {
                        source: SourceId {
                            path: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                            size: r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
                            mtime_ns: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                            hash: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                        },
                        settings_hash: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                        output_hash: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                        at: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                    },
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut map = HashMap::new();
        for row in rows {
            let (k, v) = row.map_err(|e| self.sql(e))?;
            map.insert(k, v);
        }
        Ok(map)
    }

    /// The latest `limit` runs, newest first, with their counts per status.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunInfo>, StateError> {
        self.select_runs("ORDER BY id DESC LIMIT ?1", limit as i64)
    }

    /// One run by id, with its counts per status.
    pub fn run(&self, id: i64) -> Result<Option<RunInfo>, StateError> {
        Ok(self.select_runs("WHERE id = ?1", id)?.into_iter().next())
    }

    fn select_runs(&self, tail: &str, arg: i64) -> Result<Vec<RunInfo>, StateError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT id, command, scope, started_at, finished_at, state, photos, settings
                 FROM runs {tail}"
            ))
            .map_err(|e| self.sql(e))?;
        let runs = stmt
            .query_map(params![arg], |r| {
                Ok(RunInfo {
                    id: r.get(0)?,
                    command: r.get(1)?,
                    scope: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    state: r.get(5)?,
                    photos: r.get(6)?,
                    settings: r.get(7)?,
                    counts: Vec::new(),
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sql(e))?;
        let mut count = self
            .conn
            .prepare(
                "SELECT status, COUNT(*) FROM run_items WHERE run_id = ?1
                 GROUP BY status ORDER BY status",
            )
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::with_capacity(runs.len());
        for mut run in runs {
            run.counts = count
                .query_map(params![run.id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })
                .map_err(|e| self.sql(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.sql(e))?;
            out.push(run);
        }
        Ok(out)
    }

    /// Every stored row of one run, in report order.
    pub fn items(&self, run_id: i64) -> Result<Vec<ItemInfo>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT file, user, status, detail, http_status, graph_code, updated_at, request_id
                 FROM run_items WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.sql(e))?;
        stmt.query_map(params![run_id], |r| {
            Ok(ItemInfo {
                file: r.get(0)?,
                user: r.get(1)?,
                status: r.get(2)?,
                detail: r.get(3)?,
                http_status: r.get(4)?,
                graph_code: r.get(5)?,
                updated_at: r.get(6)?,
                request_id: r.get(7)?,
            })
        })
        .map_err(|e| self.sql(e))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| self.sql(e))
    }

    /// Users of every scope with a confirmed upload, and with a failed last attempt.
    pub fn user_totals(&self) -> Result<(u64, u64), StateError> {
        let sql = format!(
            "SELECT COALESCE(SUM(landed_at IS NOT NULL), 0),
                    COALESCE(SUM(last_status IN ({})), 0)
             FROM users",
            status_list(last_attempt_failed)
        );
        self.conn
            .query_row(&sql, [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| self.sql(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_come_from_the_enum() {
        assert_eq!(
            status_list(keeps_our_photo),
            "'uploaded', 'skipped-unchanged'"
        );
        let failed = status_list(last_attempt_failed);
        for word in ["'failed'", "'user-not-found'", "'invalid-image'"] {
            assert!(failed.contains(word), "{failed}");
        }
        assert!(!failed.contains("pending") && !failed.contains("uploaded"));
        assert_eq!(status_list(|_| false), "NULL");
    }
}

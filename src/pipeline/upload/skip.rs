//! Which matched photos need no upload: the state database says the same photo went up
//! with the same settings, or `--limit` leaves them for a later run.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::pipeline::matching::MatchedPhoto;
use crate::pipeline::rows::{self, matched_row};
use crate::report::{Row, Status};
use crate::state::{Landed, SourceId};

/// A matched photo after the state database was asked about it.
pub(super) enum Decided {
    /// Photo, settings and last upload unchanged: nothing to do.
    Skip(String, Row),
    Todo(MatchedPhoto, Option<SourceId>),
}

/// Whether a user's photo can be skipped: same content (by hash) and settings as their
/// last confirmed upload, and no failed attempt since.
fn decide(m: MatchedPhoto, landed: &HashMap<String, Landed>, settings_hash: &str) -> Decided {
    let key = m.user.user.to_lowercase();
    let Some(l) = landed.get(&key) else {
        return Decided::Todo(m, None);
    };
    let Ok(source) = SourceId::of(&m.file.path, Some(l)) else {
        // Unreadable now: processing reports why.
        return Decided::Todo(m, None);
    };
    if l.source.hash == source.hash && l.settings_hash == settings_hash {
        let mut row = matched_row(&m);
        rows::set(
            &mut row,
            Status::SkippedUnchanged,
            format!(
                "photo and settings unchanged since its upload at {} (--force sends it again)",
                l.at
            ),
        );
        Decided::Skip(key, row)
    } else {
        Decided::Todo(m, Some(source))
    }
}

/// Splits the matched photos into those skipped as unchanged (with their rows) and
/// those to do (with the source identity already read, where it was).
pub(super) type Split = (Vec<(String, Row)>, Vec<(MatchedPhoto, Option<SourceId>)>);

/// Skips are decided first: a user with nothing new costs no look-up, decode or upload,
/// so next month's re-run of 100,000 users only touches the new photos.
pub(super) fn split(
    matched: Vec<MatchedPhoto>,
    landed: &HashMap<String, Landed>,
    settings_hash: &str,
    pool: &rayon::ThreadPool,
) -> Split {
    let decided: Vec<Decided> = if landed.is_empty() {
        matched
            .into_iter()
            .map(|m| Decided::Todo(m, None))
            .collect()
    } else {
        pool.install(|| {
            matched
                .into_par_iter()
                .map(|m| decide(m, landed, settings_hash))
                .collect()
        })
    };
    let mut skipped = Vec::new();
    let mut todo = Vec::new();
    for d in decided {
        match d {
            Decided::Skip(key, row) => skipped.push((key, row)),
            Decided::Todo(m, source) => todo.push((m, source)),
        }
    }
    (skipped, todo)
}

/// A staged roll-out (10, then 100, then all): the users past `limit` wait for a later
/// run, and are neither looked up nor recorded as done.
pub(super) fn beyond_limit<T>(todo: &mut Vec<(MatchedPhoto, T)>, limit: usize) -> Vec<Row> {
    todo.split_off(limit.min(todo.len()))
        .into_iter()
        .map(|(m, _)| {
            let mut row = matched_row(&m);
            rows::set(
                &mut row,
                Status::Skipped,
                format!(
                    "not in this run (--limit {limit}); a later run with a higher limit, or none, does it"
                ),
            );
            row
        })
        .collect()
}

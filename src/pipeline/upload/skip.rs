//! Which matched photos need no upload: the state database says the same photo went up
//! with the same settings, or `--limit` leaves them for a later run.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::resolve::Target;
use crate::config::ImageOptions;
use crate::pipeline::matching::MatchedPhoto;
use crate::pipeline::rows::{self, matched_row};
use crate::pipeline::same;
use crate::report::{Row, Status};
use crate::state::{self, Landed, SourceId};

/// A matched photo after the state database was asked about it.
pub(super) enum Decided {
    /// Photo, settings and last upload unchanged: nothing to do (the row boxed: it is
    /// twice the size of a target); with the source's content hash.
    Skip(u64, String, Box<Row>, String),
    Todo(Target),
}

impl Decided {
    /// Rank, user and content hash, where the source was identified.
    fn hashed(&self) -> Option<(usize, &str, &str)> {
        let (rank, user, hash) = match self {
            Decided::Skip(rank, _, row, hash) => (*rank, row.user.as_deref()?, hash.as_str()),
            Decided::Todo(t) => (
                t.rank,
                t.photo.user.user.as_str(),
                t.source.as_ref()?.hash.as_str(),
            ),
        };
        Some((usize::try_from(rank).ok()?, user, hash))
    }
}

/// Whether a user's photo can be skipped: same content (by hash) and settings as their
/// last confirmed upload, and no failed attempt since.
fn decide(
    rank: u64,
    m: MatchedPhoto,
    landed: &HashMap<String, Landed>,
    image: &ImageOptions,
    may_repeat: bool,
) -> Decided {
    // Per user: a CSV `crop`/`framing` cell is part of what made their photo.
    let settings_hash = state::settings_hash(&m.user.image_options(image));
    let todo = |photo, source| {
        Decided::Todo(Target {
            rank,
            photo,
            source,
        })
    };
    let key = m.user.user.to_lowercase();
    let Some(l) = landed.get(&key) else {
        // Identified now only when another photo of the batch may have the same content;
        // the upload then reuses the identity instead of hashing again.
        let source = may_repeat
            .then(|| SourceId::of(&m.file.path, None).ok())
            .flatten();
        return todo(m, source);
    };
    let Ok(source) = SourceId::of(&m.file.path, Some(l)) else {
        // Unreadable now: processing reports why.
        return todo(m, None);
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
        Decided::Skip(rank, key, Box::new(row), source.hash)
    } else {
        todo(m, Some(source))
    }
}

/// The matched photos skipped as unchanged (rank, state key, row), those to do (with
/// the source identity already read, where it was), and by rank the other users whose
/// source has the same content (only ranks that have some); ranks are file order.
pub(super) type Split = (
    Vec<(u64, String, Row)>,
    Vec<Target>,
    HashMap<u64, Arc<same::Group>>,
);

/// Skips are decided first: a user with nothing new costs no look-up, decode or upload,
/// so next month's re-run of 100,000 users only touches the new photos.
pub(super) fn split(
    mut matched: Vec<MatchedPhoto>,
    landed: &HashMap<String, Landed>,
    image: &ImageOptions,
    pool: &rayon::ThreadPool,
) -> Split {
    // The report lists users in file order, whatever order their uploads finish in.
    matched.sort_by(|a, b| a.file.rel.cmp(&b.file.rel));
    // A source read for the skip check (or trusted from the database) is not read
    // again to find repeats.
    let sizes = same::size_counts(&matched);
    let decided: Vec<Decided> = pool.install(|| {
        matched
            .into_par_iter()
            .enumerate()
            .map(|(i, m)| {
                let may_repeat = same::may_repeat(&sizes, &m);
                decide(i as u64, m, landed, image, may_repeat)
            })
            .collect()
    });
    let shared: HashMap<u64, Arc<same::Group>> =
        same::groups(decided.iter().filter_map(Decided::hashed))
            .into_iter()
            .map(|(i, group)| (i as u64, group))
            .collect();
    // Sized exactly: grown by doubling, a 20,000-user list peaked at 32,768 places (3 MB
    // more) while `decided`'s own buffer was still held.
    let todos = decided
        .iter()
        .filter(|d| matches!(d, Decided::Todo(_)))
        .count();
    let mut skipped = Vec::with_capacity(decided.len() - todos);
    let mut todo = Vec::with_capacity(todos);
    for d in decided {
        match d {
            Decided::Skip(rank, key, row, _) => skipped.push((rank, key, *row)),
            Decided::Todo(t) => todo.push(t),
        }
    }
    (skipped, todo, shared)
}

/// A staged roll-out (10, then 100, then all): the users past `limit` wait for a later
/// run, and are neither looked up nor recorded as done.
pub(super) fn beyond_limit(todo: &mut Vec<Target>, limit: usize) -> Vec<Row> {
    todo.split_off(limit.min(todo.len()))
        .into_iter()
        .map(|t| {
            let mut row = matched_row(&t.photo);
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

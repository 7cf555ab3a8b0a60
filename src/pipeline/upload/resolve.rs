//! Target resolution: every user to upload is looked up once, in growing batches that
//! run alongside the uploads (the first photo goes up within seconds even at 100,000
//! users); unknown, ambiguous or unreachable users cost no decode and no photo write.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::graph::{GraphClient, Lookup, PhotoApi, Resolved, UserKey};
use crate::pipeline::matching::MatchedPhoto;
use crate::pipeline::rows;
use crate::report::Row;
use crate::state::{Effect, Outcome, Recorder, SourceId};
use crate::util::signals::Stop;

/// One user to upload: the matched photo, the Graph id and the state key.
pub(super) struct Work {
    pub photo: MatchedPhoto,
    pub user_id: String,
    pub key: String,
    /// A remark on the target account (disabled, guest): uploaded, but worth a look.
    pub note: Option<&'static str>,
    /// Already identified while deciding skips.
    pub source: Option<SourceId>,
}

/// The first batch is small so that uploads start at once; later ones grow to keep
/// the throttle's window busy with look-ups while the photos are made and sent.
const FIRST_BATCH: usize = 30;
const MAX_BATCH: usize = 480;

/// What the look-up task needs besides the users.
pub(super) struct Lookups {
    pub client: Arc<GraphClient>,
    pub key: UserKey,
    /// Users known from a directory listing: no look-up requests are sent.
    pub known: Option<Resolved>,
    pub recorder: Option<Arc<Recorder>>,
    /// Told of every user that will not be processed.
    pub processing: indicatif::ProgressBar,
    pub uploading: indicatif::ProgressBar,
}

/// Looks the users of `todo` up and sends those found as exactly one account on `tx`;
/// returns the final rows of the others (recorded in the state database as they come).
/// A stop ends it between batches: the users not yet looked up stay pending.
pub(super) async fn stream(
    l: Lookups,
    mut todo: Vec<(MatchedPhoto, Option<SourceId>)>,
    tx: mpsc::Sender<Work>,
    stop: Stop,
) -> Vec<(String, Row)> {
    let mut unresolved = Vec::new();
    let mut batch = FIRST_BATCH;
    // Taken from the front, so users are looked up (and mostly uploaded) in file order.
    todo.reverse();
    while !todo.is_empty() && !stop.requested() {
        let take: Vec<_> = todo.split_off(todo.len().saturating_sub(batch));
        batch = (batch * 2).min(MAX_BATCH);
        let values: Vec<String> = take.iter().map(|(m, _)| m.user.user.clone()).collect();
        let fetched;
        let known = match &l.known {
            Some(known) => known,
            None => {
                fetched = l.client.resolve_users(l.key, &values).await;
                &fetched
            }
        };
        for (m, source) in take.into_iter().rev() {
            let user_key = m.user.user.to_lowercase();
            match known.get(&user_key) {
                Lookup::One(u) => {
                    let work = Work {
                        user_id: u.id.clone(),
                        note: u.note(),
                        photo: m,
                        key: user_key,
                        source,
                    };
                    if tx.send(work).await.is_err() {
                        // The uploader has stopped taking work.
                        return unresolved;
                    }
                }
                other => {
                    let row = rows::unresolved(&m, l.key, &other);
                    if let Some(rec) = &l.recorder {
                        let mut o = Outcome::from_row(&user_key, &row, Effect::None);
                        o.source = source;
                        rec.outcome(o);
                    }
                    l.processing.dec_length(1);
                    l.uploading.inc(1);
                    unresolved.push((user_key, row));
                }
            }
        }
    }
    unresolved
}

//! Target resolution: every user to upload is looked up once, in growing batches that
//! run alongside the uploads (the first photo goes up within seconds even at 100,000
//! users); unknown, ambiguous or unreachable users cost no decode and no photo write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::graph::{GraphClient, Lookup, PhotoApi, Resolved, UserKey};
use crate::pipeline::matching::MatchedPhoto;
use crate::pipeline::{rows, same};
use crate::report::{Place, Report, Row};
use crate::state::{Effect, Outcome, Recorder, SourceId};
use crate::util::signals::Stop;

/// One user to upload, as the work list holds it: its place in the report (file order),
/// the matched photo, and the source identity when the skip check already read it.
pub(super) struct Target {
    pub rank: u64,
    pub photo: MatchedPhoto,
    pub source: Option<SourceId>,
}

/// One user to upload: the matched photo, the Graph id and the state key.
pub(super) struct Work {
    pub rank: u64,
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
    /// Users known from a directory listing: no look-ups are sent.
    pub known: Option<Resolved>,
    pub recorder: Option<Arc<Recorder>>,
    /// Where the rows of users not found go.
    pub report: Sink,
    /// Told of every user that will not be processed.
    pub processing: indicatif::ProgressBar,
    pub uploading: indicatif::ProgressBar,
}

/// Looks the users of `todo` up, in file order, and sends those found as exactly one
/// account on `tx`; the rows of the others go to the report (and the state database) as
/// they come. A stop ends it between batches. Returns the users it never handed on (a
/// stop, or the uploader no longer taking work): they stay pending.
pub(super) async fn stream(
    mut l: Lookups,
    mut todo: Vec<Target>,
    tx: mpsc::Sender<Work>,
    stop: Stop,
) -> Vec<Target> {
    // Taken from the back and shrunk as it empties, the work list gives its memory back
    // as the run goes instead of holding 100,000 users to the end.
    todo.reverse();
    let mut batch = FIRST_BATCH;
    while !todo.is_empty() && !stop.requested() {
        let mut take = todo.split_off(todo.len().saturating_sub(batch));
        take.reverse();
        if todo.len() < todo.capacity() / 2 {
            todo.shrink_to_fit();
        }
        batch = (batch * 2).min(MAX_BATCH);
        let fetched;
        let known = match &l.known {
            Some(known) => known,
            None => {
                let values: Vec<String> = take.iter().map(|t| t.photo.user.user.clone()).collect();
                fetched = l.client.resolve_users(l.key, &values).await;
                &fetched
            }
        };
        let mut done = Vec::new();
        let mut take = take.into_iter();
        while let Some(t) = take.next() {
            let user_key = t.photo.user.user.to_lowercase();
            match known.get(&user_key) {
                Lookup::One(u) => {
                    l.report.started(t.rank, &t.photo);
                    let work = Work {
                        rank: t.rank,
                        user_id: u.id.clone(),
                        note: u.note(),
                        photo: t.photo,
                        key: user_key.clone(),
                        source: t.source,
                    };
                    if tx.send(work).await.is_err() {
                        // The uploader has stopped taking work.
                        let mut rest: Vec<Target> = take.collect();
                        todo.reverse();
                        rest.append(&mut todo);
                        return rest;
                    }
                }
                other => {
                    let row = rows::unresolved(&t.photo, l.key, &other);
                    if let Some(rec) = &l.recorder {
                        let mut o = Outcome::from_row(&user_key, &row, Effect::None);
                        o.source = t.source.clone();
                        rec.outcome(o);
                    }
                    l.processing.dec_length(1);
                    l.uploading.inc(1);
                    l.report.push(t.rank, row);
                }
            }
            done.push(user_key);
        }
        // A directory listing's users are needed once: memory shrinks as the run goes.
        if let Some(known) = l.known.as_mut() {
            for key in done {
                known.found.remove(key.trim());
            }
        }
    }
    todo.reverse();
    todo
}

/// The report, shared by the tasks that finish users; which ranks share their source
/// photo with other users (a `same-photo` note on each of their rows); and the users
/// handed on to be made and uploaded that have no row yet (at most the queues and
/// uploads in flight).
#[derive(Clone)]
pub(super) struct Sink {
    report: Arc<Mutex<Report>>,
    shared: Arc<HashMap<u64, Arc<same::Group>>>,
    in_flight: Arc<Mutex<HashMap<u64, MatchedPhoto>>>,
}

impl Sink {
    pub(super) fn new(report: Report, shared: HashMap<u64, Arc<same::Group>>) -> Sink {
        Sink {
            report: Arc::new(Mutex::new(report)),
            shared: Arc::new(shared),
            in_flight: Arc::default(),
        }
    }

    /// The user at `rank` is on its way to the workers: until its row comes, a stop
    /// leaves it pending.
    pub(super) fn started(&self, rank: u64, photo: &MatchedPhoto) {
        self.flying().insert(rank, photo.clone());
    }

    /// Adds the final row of the user at `rank` in the work list.
    pub(super) fn push(&self, rank: u64, row: Row) {
        let row = self.noted(rank, row);
        self.lock().push_at(Place::Body(rank), row);
        self.flying().remove(&rank);
    }

    /// The users started and never finished (a stop, the breaker), by rank.
    pub(super) fn unfinished(&self) -> Vec<(u64, MatchedPhoto)> {
        self.flying().drain().collect()
    }

    fn flying(&self) -> std::sync::MutexGuard<'_, HashMap<u64, MatchedPhoto>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `row` with the `same-photo` note when the user at `rank` shares their source.
    pub(super) fn noted(&self, rank: u64, mut row: Row) -> Row {
        if let Some(group) = self.shared.get(&rank) {
            let user = row.user.clone().unwrap_or_default();
            same::note(&mut row, Some(group), &user);
        }
        row
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Report> {
        self.report.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The report, once every task is done with it.
    pub(super) fn into_report(self) -> Report {
        match Arc::try_unwrap(self.report) {
            Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
            // A task still holds it (it cannot, after the stage): take the rows anyway.
            Err(shared) => std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }
}

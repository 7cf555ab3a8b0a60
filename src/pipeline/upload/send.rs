//! Sending: processed photos stream from the rayon workers through a bounded queue into
//! concurrent Graph writes (the throttle's window limits them); each outcome is recorded
//! in the state database as it lands, and a stop lets the writes in flight finish.

use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;
use tokio::sync::mpsc;

use super::UploadError;
use super::breaker::Breaker;
use super::resolve::{self, Sink, Target, Work};
use crate::config::{ConfigError, ImageOptions};
use crate::graph::{GraphClient, PhotoApi, UserKey};
use crate::output::Output;
use crate::pipeline::make;
use crate::pipeline::matching::MatchedPhoto;
use crate::pipeline::rows::{self, matched_row};
use crate::report::{Row, Status};
use crate::state::{self, Effect, Outcome, Recorder, SourceId};
use crate::tenant::backup::BackupDir;
use crate::util::signals::Stop;

/// What a processing worker hands the uploader.
enum Made {
    /// Ready to upload.
    Ready(Ready),
    /// Could not be made, or need not be; its row is final.
    Done(Unsent),
}

/// A user whose photo could not be made.
struct Unsent {
    rank: u64,
    key: String,
    row: Row,
    source: Option<SourceId>,
}

/// A photo made and waiting for its upload.
struct Ready {
    rank: u64,
    key: String,
    row: Row,
    user_id: String,
    jpeg: Vec<u8>,
    source: SourceId,
    output_hash: String,
    /// The settings that made this user's photo (the run's, with their CSV overrides).
    settings_hash: String,
}

/// What the sending stage shares with the run.
pub(super) struct Sending {
    pub client: Arc<GraphClient>,
    pub dry_run: bool,
    pub backup: BackupSlot,
    pub recorder: Option<Arc<Recorder>>,
    pub image: ImageOptions,
    pub thumbs: bool,
    pub grace: Duration,
    /// Stops the run when every write fails the same way.
    pub breaker: Arc<Breaker>,
}

type OpenBackup = dyn Fn() -> Result<Arc<BackupDir>, ConfigError> + Send + Sync;

/// The backup folder, made when the first photo is ready to go up (a run that stops
/// earlier leaves no empty folder behind).
pub(super) struct BackupSlot {
    open: Option<Box<OpenBackup>>,
    dir: std::sync::OnceLock<Arc<BackupDir>>,
}

impl BackupSlot {
    /// No backups (`--no-backup`, a dry run).
    pub(super) fn none() -> BackupSlot {
        BackupSlot {
            open: None,
            dir: std::sync::OnceLock::new(),
        }
    }

    /// Backups into the folder `open` makes.
    pub(super) fn lazy(
        open: impl Fn() -> Result<Arc<BackupDir>, ConfigError> + Send + Sync + 'static,
    ) -> BackupSlot {
        BackupSlot {
            open: Some(Box::new(open)),
            dir: std::sync::OnceLock::new(),
        }
    }

    /// Makes the folder if it is wanted and not made yet.
    fn ensure(&self) -> Result<(), ConfigError> {
        if let (Some(open), None) = (&self.open, self.dir.get()) {
            let dir = open()?;
            let _ = self.dir.set(dir);
        }
        Ok(())
    }

    pub(super) fn get(&self) -> Option<&Arc<BackupDir>> {
        self.dir.get()
    }
}

/// Every user to do, for the look-up task.
pub(super) struct Todo {
    pub key: UserKey,
    /// In file order; handed to the look-ups, which give back what a stop left.
    pub users: Vec<Target>,
    /// The users already known from the directory listing (no look-ups then).
    pub known: Option<crate::graph::Resolved>,
}

/// A user the breaker kept from being sent.
const HELD_BACK: &str = "not sent: the run was stopped because every photo write failed the same way (see the message); fix it and run the same command again";

/// Looks the users up, makes their photos and uploads them, all at once: look-ups feed
/// the rayon workers, which feed the uploads through a bounded queue. Every user of
/// `todo` ends with one row in `report`: done, or pending when a stop or the breaker
/// left it undone. Returns the backup folder when one was made.
pub(super) async fn all(
    send: Sending,
    todo: Todo,
    report: &Sink,
    pool: rayon::ThreadPool,
    out: &Output,
) -> Result<Option<std::path::PathBuf>, UploadError> {
    let stop = Stop::global();
    let _armed = stop.arm();
    let total = todo.users.len() as u64;
    let processing = out.bar(total, "processing");
    let label = if send.dry_run {
        "checking"
    } else {
        "uploading"
    };
    let uploading = out.bar(total, label);
    // Bounded: look-ups wait while the workers are busy, and the workers stop making
    // photos while the uploads catch up, so memory stays flat however many users.
    let (work_tx, work_rx) = mpsc::channel::<Work>(64);
    let lookups = resolve::Lookups {
        client: Arc::clone(&send.client),
        key: todo.key,
        known: todo.known,
        recorder: send.recorder.clone(),
        report: report.clone(),
        processing: processing.clone(),
        uploading: uploading.clone(),
    };
    let looking = tokio::spawn(resolve::stream(lookups, todo.users, work_tx, stop.clone()));
    let (tx, rx) = mpsc::channel::<Made>(64);
    let producer = produce(work_rx, pool, tx, &send, processing, stop.clone());
    let ticker = throttle_ticker(Arc::clone(&send.client), uploading.clone(), out.verbose());
    let grace = send.grace;
    let breaker = Arc::clone(&send.breaker);
    let job = Arc::new(Job {
        send,
        stop: stop.clone(),
        report: report.clone(),
    });
    let consumed = consume(rx, &job, &stop, &uploading, grace).await;
    ticker.abort();
    uploading.finish_and_clear();
    let never_sent = looking.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "the look-up task failed: the users it still held have no row");
        Vec::new()
    });
    let _ = tokio::task::spawn_blocking(move || producer.join()).await;
    let backup_dir = job.send.backup.get().map(|d| d.path().to_path_buf());
    consumed?;
    let unfinished = report.unfinished();
    let undone = never_sent
        .into_iter()
        .map(|t| (t.rank, t.photo))
        .chain(unfinished);
    left_undone(undone, report, breaker.tripped().is_some());
    Ok(backup_dir)
}

/// The users with no row yet (a stop or the breaker came first) get a pending one: a
/// re-run does them.
fn left_undone(users: impl Iterator<Item = (u64, MatchedPhoto)>, report: &Sink, tripped: bool) {
    for (rank, photo) in users {
        let mut row = matched_row(&photo);
        if tripped {
            rows::set(&mut row, Status::Pending, HELD_BACK);
        } else {
            rows::pending(&mut row);
        }
        report.push(rank, row);
    }
}

/// Starts the rayon workers that make the photos of the users the look-ups found.
fn produce(
    work: mpsc::Receiver<Work>,
    pool: rayon::ThreadPool,
    tx: mpsc::Sender<Made>,
    send: &Sending,
    bar: indicatif::ProgressBar,
    stop: Stop,
) -> std::thread::JoinHandle<()> {
    let image = send.image.clone();
    let thumbs = send.thumbs;
    std::thread::spawn(move || {
        // Once the uploader stops taking photos, stop taking work: dropping the receiver
        // ends the look-ups too.
        let mut work = work;
        let probe = tx.clone();
        let incoming = std::iter::from_fn(move || {
            if probe.is_closed() {
                None
            } else {
                work.blocking_recv()
            }
        });
        pool.install(|| {
            incoming.par_bridge().for_each_with(tx, |tx, w| {
                if stop.requested() {
                    return;
                }
                let item = make_one(w, &image, thumbs);
                bar.inc(1);
                let _ = tx.blocking_send(item);
            });
        });
        // No stale "0/N processing" line once the photos are made.
        bar.finish_and_clear();
    })
}

/// Takes made photos off the queue and starts their uploads until the queue ends or a
/// stop comes; then waits for the uploads (a stop: at most `grace`).
async fn consume(
    mut rx: mpsc::Receiver<Made>,
    job: &Arc<Job>,
    stop: &Stop,
    bar: &indicatif::ProgressBar,
    grace: Duration,
) -> Result<(), UploadError> {
    let mut tasks = tokio::task::JoinSet::new();
    // Enough tasks to keep the throttle's window full; the window itself limits requests.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(
        job.send.client.throttle().ceiling().max(64),
    ));
    let mut failed = None;
    let breaker = &job.send.breaker;
    loop {
        let item = tokio::select! {
            biased;
            () = stop.wait() => break,
            () = breaker.wait() => break,
            item = rx.recv() => match item {
                Some(item) => item,
                None => break,
            },
        };
        let ready = match item {
            Made::Ready(r) => r,
            Made::Done(unsent) => {
                bar.inc(1);
                job.record_unsent(&unsent);
                job.report.push(unsent.rank, unsent.row);
                continue;
            }
        };
        if let Err(e) = job.send.backup.ensure() {
            failed = Some(UploadError::Config(e));
            break;
        }
        let permit = tokio::select! {
            biased;
            () = stop.wait() => break,
            () = breaker.wait() => break,
            permit = Arc::clone(&in_flight).acquire_owned() => match permit {
                Ok(p) => p,
                Err(e) => { failed = Some(UploadError::Failed(e.to_string())); break; }
            },
        };
        let (job, bar) = (Arc::clone(job), bar.clone());
        tasks.spawn(async move {
            let rank = ready.rank;
            let row = job.send(ready).await;
            bar.inc(1);
            job.report.push(rank, row);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    // Closing the queue stops the workers: nothing new is made after a stop.
    drop(rx);
    drain(tasks, stop, bar, grace).await;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Without a stop, waits for every upload; a stop (also one that comes meanwhile) gives
/// them `grace` to finish. Those that do not stay pending: the next run redoes them.
async fn drain(
    mut tasks: tokio::task::JoinSet<()>,
    stop: &Stop,
    bar: &indicatif::ProgressBar,
    grace: Duration,
) {
    if !stop.requested() {
        loop {
            tokio::select! {
                biased;
                () = stop.wait() => break,
                next = tasks.join_next() => if next.is_none() { break },
            }
        }
    }
    if stop.requested() {
        let n = tasks.len();
        if n > 0 {
            bar.set_message(format!("stopping: {n} uploads finishing"));
        }
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }
}

/// Makes one photo on a rayon worker.
fn make_one(w: Work, image: &ImageOptions, thumbs: bool) -> Made {
    let mut row = matched_row(&w.photo);
    row.notes.extend(w.note.map(str::to_string));
    let source = match w.source {
        Some(s) => s,
        None => match SourceId::of(&w.photo.file.path, None) {
            Ok(s) => s,
            Err(e) => {
                let why = format!("cannot read {}: {e}", w.photo.file.path.display());
                rows::set(&mut row, Status::InvalidImage, why);
                return Made::Done(Unsent {
                    rank: w.rank,
                    key: w.key,
                    row,
                    source: None,
                });
            }
        },
    };
    match make::made(&w.photo, row, image, thumbs) {
        Ok((photo, row)) => Made::Ready(Ready {
            output_hash: state::hash_bytes(&photo.jpeg),
            settings_hash: state::settings_hash(&w.photo.user.image_options(image)),
            rank: w.rank,
            key: w.key,
            row,
            user_id: w.user_id,
            jpeg: photo.jpeg,
            source,
        }),
        Err(row) => Made::Done(Unsent {
            rank: w.rank,
            key: w.key,
            row,
            source: Some(source),
        }),
    }
}

/// One upload task's view of the run.
struct Job {
    send: Sending,
    stop: Stop,
    report: Sink,
}

impl Job {
    /// Uploads one photo, records the outcome and turns it into its row.
    async fn send(&self, ready: Ready) -> Row {
        let Ready {
            rank: _,
            key,
            mut row,
            user_id,
            jpeg,
            source,
            output_hash,
            settings_hash,
        } = ready;
        let remark =
            (row.status == Some(Status::TooSmall)).then(|| std::mem::take(&mut row.detail));
        if self.send.dry_run {
            let detail =
                remark.unwrap_or_else(|| "would be uploaded (dry run: nothing sent)".into());
            rows::set(&mut row, Status::WouldUpload, detail);
            return row;
        }
        if self.stop.requested() {
            rows::pending(&mut row);
            return row;
        }
        if self.send.breaker.tripped().is_some() {
            rows::set(&mut row, Status::Pending, HELD_BACK);
            return row;
        }
        // Nothing that was in the tenant is replaced without a copy.
        if let Some(dir) = self.send.backup.get() {
            let user = row.user.clone().unwrap_or_else(|| user_id.clone());
            let client = self.send.client.as_ref();
            match crate::tenant::backup::before_replace(dir, client, &user, &user_id).await {
                Ok(saved) => row.notes.extend(saved.note()),
                Err(why) if self.stop.requested() => rows::set(&mut row, Status::Pending, why),
                Err(why) => rows::set(&mut row, Status::Failed, why),
            }
        }
        // A stop while the backup was read: this user's photo is left as it is.
        if row.status != Some(Status::Failed) && row.status != Some(Status::Pending) {
            if self.stop.requested() {
                rows::pending(&mut row);
            } else {
                self.put(&mut row, &user_id, jpeg, remark).await;
            }
        }
        self.record(&key, &row, &user_id, &source, &output_hash, settings_hash);
        row
    }

    /// The photo write, abandoned (pending: a re-run sends it) when the breaker trips
    /// while it waits for its turn; its outcome feeds the breaker.
    async fn put(&self, row: &mut Row, user_id: &str, jpeg: Vec<u8>, remark: Option<String>) {
        let breaker = &self.send.breaker;
        let answer = tokio::select! {
            biased;
            () = breaker.wait() => {
                rows::set(row, Status::Pending, HELD_BACK);
                return;
            }
            answer = self.send.client.put_photo(user_id, jpeg) => answer,
        };
        match answer {
            Ok(r) => {
                breaker.observe(Ok(()));
                rows::set(row, Status::Uploaded, remark.unwrap_or_default());
                row.attempts = Some(r.attempts);
                row.http_status = Some(r.status);
            }
            Err(e) => {
                breaker.observe(Err(&e));
                rows::upload_failed(row, &e);
            }
        }
    }

    /// Records a photo that never reached Graph (could not be made).
    fn record_unsent(&self, unsent: &Unsent) {
        if let Some(rec) = &self.send.recorder {
            let mut o = Outcome::from_row(&unsent.key, &unsent.row, Effect::None);
            o.source = unsent.source.clone();
            rec.outcome(o);
        }
    }

    fn record(
        &self,
        key: &str,
        row: &Row,
        user_id: &str,
        source: &SourceId,
        output_hash: &str,
        settings_hash: String,
    ) {
        let Some(rec) = &self.send.recorder else {
            return;
        };
        let effect = if row.status == Some(Status::Uploaded) {
            Effect::Landed
        } else {
            Effect::None
        };
        let mut o = Outcome::from_row(key, row, effect);
        o.user_id = Some(user_id.to_string());
        o.source = Some(source.clone());
        o.settings_hash = Some(settings_hash);
        o.output_hash = Some(output_hash.to_string());
        rec.outcome(o);
    }
}

/// Shows "throttled by Graph, resuming in N s" on the upload bar while the gate is shut;
/// under `-v` the window (requests in flight allowed) and rate the throttle runs at.
fn throttle_ticker(
    client: Arc<GraphClient>,
    bar: indicatif::ProgressBar,
    verbose: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut shown = false;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let throttle = client.throttle();
            match throttle.paused_for() {
                Some(left) => {
                    bar.set_message(format!(
                        "throttled by Graph, resuming in {} s",
                        left.as_secs() + 1
                    ));
                    shown = true;
                }
                None if verbose => {
                    bar.set_message(format!(
                        "window {}, {:.1} req/s",
                        throttle.window(),
                        throttle.current_rate()
                    ));
                }
                None if shown => {
                    bar.set_message(format!("{:.1} req/s", throttle.current_rate()));
                    shown = false;
                }
                None => {}
            }
        }
    })
}

//! Sending: processed photos stream from the rayon workers through a bounded queue into
//! concurrent Graph writes (the throttle's window limits them); each outcome is recorded
//! in the state database as it lands, and a stop lets the writes in flight finish.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rayon::prelude::*;
use tokio::sync::mpsc;

use super::breaker::Breaker;
use super::resolve::Work;
use crate::config::ImageOptions;
use crate::graph::{GraphClient, PhotoApi};
use crate::output::Output;
use crate::pipeline::make;
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
    Done(String, Row, Option<SourceId>),
}

/// A photo made and waiting for its upload.
struct Ready {
    key: String,
    row: Row,
    user_id: String,
    jpeg: Vec<u8>,
    source: SourceId,
    output_hash: String,
}

/// What the sending stage shares with the run.
pub(super) struct Sending {
    pub client: Arc<GraphClient>,
    pub dry_run: bool,
    pub backup: Option<Arc<BackupDir>>,
    pub recorder: Option<Arc<Recorder>>,
    pub settings_hash: String,
    pub image: ImageOptions,
    pub thumbs: bool,
    pub grace: Duration,
    /// Stops the run when every write fails the same way.
    pub breaker: Arc<Breaker>,
}

/// A user the breaker kept from being sent.
const HELD_BACK: &str = "not sent: the run was stopped because every photo write failed the same way (see the message); fix it and run the same command again";

/// The rows of every user in `work`, keyed by user; those a stop left undone are
/// pending.
pub(super) async fn all(
    send: Sending,
    work: Vec<Work>,
    pool: rayon::ThreadPool,
    out: &Output,
) -> Result<Vec<(String, Row)>, tokio::sync::AcquireError> {
    // Rows for whatever an interruption leaves undone.
    let mut waiting: HashMap<String, Row> = work
        .iter()
        .map(|w| (w.key.clone(), matched_row(&w.photo)))
        .collect();
    let stop = Stop::global();
    let _armed = stop.arm();
    let total = work.len() as u64;
    let processing = out.bar(total, "processing");
    let label = if send.dry_run {
        "checking"
    } else {
        "uploading"
    };
    let uploading = out.bar(total, label);
    // Bounded: the workers stop making photos while the uploads catch up, so memory stays
    // flat however many users there are.
    let (tx, rx) = mpsc::channel::<Made>(64);
    let producer = produce(work, pool, tx, &send, processing, stop.clone());
    let ticker = throttle_ticker(Arc::clone(&send.client), uploading.clone());
    let grace = send.grace;
    let breaker = Arc::clone(&send.breaker);
    let job = Arc::new(Job {
        send,
        stop: stop.clone(),
    });
    let rows = consume(rx, &job, &stop, &uploading, grace).await?;
    ticker.abort();
    uploading.finish_and_clear();
    let _ = tokio::task::spawn_blocking(move || producer.join()).await;
    let mut done = std::mem::take(&mut *rows.lock().unwrap_or_else(|e| e.into_inner()));
    for (key, _) in &done {
        waiting.remove(key);
    }
    let tripped = breaker.tripped().is_some();
    for (key, mut row) in waiting {
        if tripped {
            rows::set(&mut row, Status::Pending, HELD_BACK);
        } else {
            rows::pending(&mut row);
        }
        done.push((key, row));
    }
    Ok(done)
}

/// Starts the rayon workers that make the photos into the queue.
fn produce(
    work: Vec<Work>,
    pool: rayon::ThreadPool,
    tx: mpsc::Sender<Made>,
    send: &Sending,
    bar: indicatif::ProgressBar,
    stop: Stop,
) -> std::thread::JoinHandle<()> {
    let image = send.image.clone();
    let thumbs = send.thumbs;
    std::thread::spawn(move || {
        pool.install(|| {
            work.into_par_iter().for_each_with(tx, |tx, w| {
                if stop.requested() {
                    return;
                }
                let item = make_one(w, &image, thumbs);
                bar.inc(1);
                let _ = tx.blocking_send(item);
            });
        });
        bar.finish_and_clear();
    })
}

type Rows = Arc<Mutex<Vec<(String, Row)>>>;

/// Takes made photos off the queue and starts their uploads until the queue ends or a
/// stop comes; then waits for the uploads (a stop: at most `grace`).
async fn consume(
    mut rx: mpsc::Receiver<Made>,
    job: &Arc<Job>,
    stop: &Stop,
    bar: &indicatif::ProgressBar,
    grace: Duration,
) -> Result<Rows, tokio::sync::AcquireError> {
    let rows: Rows = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    // Enough tasks to keep the throttle's window full; the window itself limits requests.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(
        job.send.client.throttle().ceiling().max(64),
    ));
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
            Made::Done(key, row, source) => {
                bar.inc(1);
                job.record_unsent(&key, &row, source);
                push(&rows, key, row);
                continue;
            }
        };
        let permit = tokio::select! {
            biased;
            () = stop.wait() => break,
            () = breaker.wait() => break,
            permit = Arc::clone(&in_flight).acquire_owned() => permit?,
        };
        let (job, rows, bar) = (Arc::clone(job), Arc::clone(&rows), bar.clone());
        tasks.spawn(async move {
            let key = ready.key.clone();
            let row = job.send(ready).await;
            bar.inc(1);
            push(&rows, key, row);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    // Closing the queue stops the workers: nothing new is made after a stop.
    drop(rx);
    drain(tasks, stop, bar, grace).await;
    Ok(rows)
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

fn push(rows: &Mutex<Vec<(String, Row)>>, key: String, row: Row) {
    rows.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key, row));
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
                return Made::Done(w.key, row, None);
            }
        },
    };
    match make::made(&w.photo, row, image, thumbs) {
        Ok((photo, row)) => Made::Ready(Ready {
            output_hash: state::hash_bytes(&photo.jpeg),
            key: w.key,
            row,
            user_id: w.user_id,
            jpeg: photo.jpeg,
            source,
        }),
        Err(row) => Made::Done(w.key, row, Some(source)),
    }
}

/// One upload task's view of the run.
struct Job {
    send: Sending,
    stop: Stop,
}

impl Job {
    /// Uploads one photo, records the outcome and turns it into its row.
    async fn send(&self, ready: Ready) -> Row {
        let Ready {
            key,
            mut row,
            user_id,
            jpeg,
            source,
            output_hash,
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
        if let Some(dir) = &self.send.backup {
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
        self.record(&key, &row, &user_id, &source, &output_hash);
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
    fn record_unsent(&self, key: &str, row: &Row, source: Option<SourceId>) {
        if let Some(rec) = &self.send.recorder {
            let mut o = Outcome::from_row(key, row, Effect::None);
            o.source = source;
            rec.outcome(o);
        }
    }

    fn record(&self, key: &str, row: &Row, user_id: &str, source: &SourceId, output_hash: &str) {
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
        o.settings_hash = Some(self.send.settings_hash.clone());
        o.output_hash = Some(output_hash.to_string());
        rec.outcome(o);
    }
}

/// Shows "throttled by Graph, resuming in N s" on the upload bar while the gate is shut.
fn throttle_ticker(
    client: Arc<GraphClient>,
    bar: indicatif::ProgressBar,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut shown = false;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match client.throttle().paused_for() {
                Some(left) => {
                    bar.set_message(format!(
                        "throttled by Graph, resuming in {} s",
                        left.as_secs() + 1
                    ));
                    shown = true;
                }
                None if shown => {
                    bar.set_message(format!("{:.1} req/s", client.throttle().current_rate()));
                    shown = false;
                }
                None => {}
            }
        }
    })
}

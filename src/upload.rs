//! The upload stage: resolves every target user once, then streams processed photos from
//! the rayon workers through a bounded queue into concurrent Graph uploads, recording
//! each outcome in the state database and stopping cleanly on Ctrl-C.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rayon::prelude::*;
use tokio::sync::mpsc;

use crate::commands::prepare::{self, matched_row};
use crate::commands::process::fill_processed;
use crate::graph::{GraphClient, GraphError, GraphUser, Kind, Lookup, PhotoApi, UserKey, claims};
use crate::interrupt::Stop;
use crate::matching::MatchedPhoto;
use crate::options::Options;
use crate::output::Output;
use crate::process;
use crate::report::{Report, Row, Status, Thumbs};
use crate::state::{self, Effect, ItemStart, Landed, Outcome, Recorder, RunEnd, SourceId};

/// What `upload` does beyond the photo options.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Sign in and resolve users, but write nothing.
    pub dry_run: bool,
    /// Tenant hook (issue 5): each user's current photo is saved here before it is
    /// replaced; `None` with `--no-backup`.
    pub backup: Option<Arc<crate::tenant::backup::BackupDir>>,
    /// Tenant hook (issue 5): lock photo changes to these roles after a clean upload.
    pub lock: Option<Vec<crate::tenant::roles::RoleId>>,
    /// The state database; `None` records nothing and skips nothing.
    pub state: Option<PathBuf>,
    /// Upload even users whose photo, settings and last upload are unchanged.
    pub force: bool,
    /// After Ctrl-C, how long uploads already in flight may take to finish.
    pub grace: Duration,
    /// Staged roll-outs: do only the first N users that need an upload.
    pub limit: Option<usize>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            dry_run: false,
            backup: None,
            lock: None,
            state: None,
            force: false,
            grace: Duration::from_secs(30),
            limit: None,
        }
    }
}

/// Why a user was not done when the run was interrupted.
const PENDING: &str =
    "not uploaded: the run was interrupted before this user; run the same command again to resume";

/// One user to upload: the matched photo, the Graph id and the state key.
struct Work {
    photo: MatchedPhoto,
    user_id: String,
    key: String,
    /// A remark on the target account (disabled, guest): uploaded, but worth a look.
    note: Option<&'static str>,
    /// Already identified while deciding skips.
    source: Option<SourceId>,
}

/// A matched photo after the state database was asked about it.
enum Decided {
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
        row.status = Some(Status::SkippedUnchanged);
        row.detail = format!(
            "photo and settings unchanged since its upload at {} (--force sends it again)",
            l.at
        );
        Decided::Skip(key, row)
    } else {
        Decided::Todo(m, Some(source))
    }
}

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

/// Runs discover -> match -> resolve -> process | upload and returns the report.
pub async fn run(
    opts: &Options,
    upload: &UploadOptions,
    client: Arc<GraphClient>,
    out: &Output,
) -> anyhow::Result<Report> {
    let prepared = prepare::prepare(opts)?;
    // Opened before any network work: a state file in use by another run stops this one.
    let db = match &upload.state {
        Some(path) if upload.dry_run => state::StateDb::open_read_only(path)?,
        Some(path) => Some(state::StateDb::open(path)?),
        None => None,
    };
    client
        .check_sign_in()
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.detail()))?;
    client.preflight(&needs(upload)).await?;

    let scope = client.scope();
    let settings_hash = state::settings_hash(&opts.image);
    let landed = match (&db, upload.force) {
        (Some(db), false) => db.landed(&scope)?,
        _ => HashMap::new(),
    };
    let pool = prepare::thread_pool(opts.jobs);
    // Skips are decided first: a user with nothing new costs no look-up, decode or upload,
    // so next month's re-run of 100,000 users only touches the new photos.
    let checking = out.spinner("comparing photos with the state database");
    let decided: Vec<Decided> = if landed.is_empty() {
        prepared
            .matched
            .into_iter()
            .map(|m| Decided::Todo(m, None))
            .collect()
    } else {
        pool.install(|| {
            prepared
                .matched
                .into_par_iter()
                .map(|m| decide(m, &landed, &settings_hash))
                .collect()
        })
    };
    checking.finish_and_clear();
    drop(landed);
    let mut report = Report::new("upload");
    let mut skipped: Vec<(String, Row)> = Vec::new();
    let mut todo = Vec::new();
    for d in decided {
        match d {
            Decided::Skip(key, row) => skipped.push((key, row)),
            Decided::Todo(m, source) => todo.push((m, source)),
        }
    }

    // A staged roll-out (10, then 100, then all): the rest wait for a later run, and are
    // neither looked up nor recorded as done.
    if let Some(limit) = upload.limit {
        for (m, _) in todo.split_off(limit.min(todo.len())) {
            let mut row = matched_row(&m);
            row.status = Some(Status::Skipped);
            row.detail = format!(
                "not in this run (--limit {limit}); a later run with a higher limit, or none, does it"
            );
            report.rows.push(row);
        }
    }

    // Resolve every target user once: unknown users cost no photo upload.
    let key = UserKey::from_column(&opts.matching.user_column);
    let values: Vec<String> = todo.iter().map(|(m, _)| m.user.user.clone()).collect();
    let known = if values.is_empty() {
        crate::graph::Resolved::default()
    } else {
        let resolving = out.spinner(&format!("looking up {} users", values.len()));
        let known = client.resolve_users(key, &values).await;
        resolving.finish_and_clear();
        known
    };

    let mut work: Vec<Work> = Vec::new();
    for (m, source) in todo {
        let user_key = m.user.user.to_lowercase();
        match known.get(&user_key) {
            Lookup::One(u) => work.push(Work {
                user_id: u.id.clone(),
                note: u.note(),
                photo: m,
                key: user_key,
                source,
            }),
            other => report.rows.push(unresolved_row(&m, key, &other)),
        }
    }

    let recorder = match db {
        Some(mut db) if !upload.dry_run => {
            let items: Vec<ItemStart> = work
                .iter()
                .map(|w| ItemStart {
                    user_key: Some(w.key.clone()),
                    row: matched_row(&w.photo),
                })
                .chain(skipped.iter().map(|(k, r)| ItemStart {
                    user_key: Some(k.clone()),
                    row: r.clone(),
                }))
                .chain(
                    report
                        .rows
                        .iter()
                        .chain(prepared.rows.iter())
                        .map(|r| ItemStart {
                            user_key: None,
                            row: r.clone(),
                        }),
                )
                .collect();
            let run_id = db.begin_run(
                "upload",
                &scope,
                Some(&opts.photos),
                Some(&opts.users),
                Some(&state::settings_text(&opts.image)),
                &items,
            )?;
            Some(Arc::new(db.recorder(run_id, &scope)))
        }
        _ => None,
    };
    // Rows for whatever an interruption leaves undone.
    let mut waiting: HashMap<String, Row> = work
        .iter()
        .map(|w| (w.key.clone(), matched_row(&w.photo)))
        .collect();

    let stop = Stop::global();
    let _armed = stop.arm();
    let total = work.len() as u64;
    let processing = out.bar(total, "processing");
    let uploading = out.bar(
        total,
        if upload.dry_run {
            "checking"
        } else {
            "uploading"
        },
    );
    let make_opts = MakeOptions {
        image: opts.image.clone(),
        thumbs: opts.html.is_some(),
    };
    // Bounded: the workers stop making photos while the uploads catch up, so memory stays
    // flat however many users there are.
    let (tx, mut rx) = mpsc::channel::<Made>(64);
    let processing_bar = processing.clone();
    let producer_stop = stop.clone();
    let producer = std::thread::spawn(move || {
        pool.install(|| {
            work.into_par_iter().for_each_with(tx, |tx, w| {
                if producer_stop.requested() {
                    return;
                }
                let item = make(w, &make_opts);
                processing_bar.inc(1);
                let _ = tx.blocking_send(item);
            });
        });
        processing_bar.finish_and_clear();
    });

    let rows: Arc<Mutex<Vec<(String, Row)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    // Enough tasks to keep the throttle's window full; the window itself limits requests.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(
        client.throttle().ceiling().max(64),
    ));
    let ticker = throttle_ticker(Arc::clone(&client), uploading.clone());
    loop {
        let item = tokio::select! {
            biased;
            () = stop.wait() => break,
            item = rx.recv() => match item {
                Some(item) => item,
                None => break,
            },
        };
        let ready = match item {
            Made::Ready(r) => r,
            Made::Done(key, row, source) => {
                uploading.inc(1);
                if let Some(rec) = &recorder {
                    let mut o = Outcome::from_row(&key, &row, Effect::None);
                    o.source = source;
                    rec.outcome(o);
                }
                push(&rows, key, row);
                continue;
            }
        };
        let permit = tokio::select! {
            biased;
            () = stop.wait() => break,
            permit = Arc::clone(&in_flight).acquire_owned() => permit?,
        };
        let job = Job {
            client: Arc::clone(&client),
            dry_run: upload.dry_run,
            backup: upload.backup.clone(),
            recorder: recorder.clone(),
            settings_hash: settings_hash.clone(),
            stop: stop.clone(),
        };
        let rows = Arc::clone(&rows);
        let bar = uploading.clone();
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
    // Without a stop, wait for every upload; a stop that comes meanwhile gets the same
    // grace as one that came earlier.
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
            uploading.set_message(format!("stopping: {n} uploads finishing"));
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(upload.grace, drain).await.is_err() {
            // Their outcome is unknown: they stay pending and the next run redoes them.
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }
    ticker.abort();
    uploading.finish_and_clear();
    let _ = tokio::task::spawn_blocking(move || producer.join()).await;
    let mut done = std::mem::take(&mut *rows.lock().unwrap_or_else(|e| e.into_inner()));
    for (key, _) in &done {
        waiting.remove(key);
    }
    let interrupted = stop.requested();
    for (key, mut row) in waiting {
        row.status = Some(Status::Pending);
        row.detail = PENDING.into();
        done.push((key, row));
    }
    let mut done: Vec<Row> = done
        .into_iter()
        .chain(skipped)
        .map(|(_, row)| row)
        .collect();
    done.sort_by(|a, b| a.file.cmp(&b.file));
    report.rows.extend(done);
    report.rows.extend(prepared.rows);
    report.interrupted = interrupted;
    if let Some(rec) = recorder {
        let end = if interrupted {
            RunEnd::Interrupted
        } else {
            RunEnd::Finished
        };
        let rec = Arc::try_unwrap(rec)
            .map_err(|_| anyhow::anyhow!("state recorder still in use at the end of the run"))?;
        if let Err(e) = rec.finish(end) {
            out.error(&format!("state database: {e}"));
        }
    }
    Ok(report)
}

fn push(rows: &Mutex<Vec<(String, Row)>>, key: String, row: Row) {
    rows.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key, row));
}

/// What every worker needs to make a photo.
struct MakeOptions {
    image: crate::options::ImageOptions,
    thumbs: bool,
}

/// Makes one photo on a rayon worker.
fn make(w: Work, opts: &MakeOptions) -> Made {
    let mut row = matched_row(&w.photo);
    row.notes.extend(w.note.map(str::to_string));
    let source = match w.source {
        Some(s) => s,
        None => match SourceId::of(&w.photo.file.path, None) {
            Ok(s) => s,
            Err(e) => {
                row.status = Some(Status::InvalidImage);
                row.detail = format!("cannot read {}: {e}", w.photo.file.path.display());
                return Made::Done(w.key, row, None);
            }
        },
    };
    let thumb = opts
        .thumbs
        .then_some(crate::commands::process::SOURCE_THUMB_PX);
    match process::process(&w.photo.file.path, &w.photo.file.format, &opts.image, thumb) {
        Ok(photo) => {
            fill_processed(&mut row, &photo, opts.image.size);
            if opts.thumbs {
                row.thumbs = Some(Thumbs {
                    source: photo.source_thumb.clone(),
                    output: photo.output_thumb.clone(),
                });
            }
            let output_hash = state::hash_bytes(&photo.jpeg);
            Made::Ready(Ready {
                key: w.key,
                row,
                user_id: w.user_id,
                jpeg: photo.jpeg,
                source,
                output_hash,
            })
        }
        Err(e) => {
            row.status = Some(match e {
                process::ProcessError::OverBudget { .. } | process::ProcessError::Encode(_) => {
                    Status::Failed
                }
                _ => Status::InvalidImage,
            });
            row.detail = e.to_string();
            Made::Done(w.key, row, Some(source))
        }
    }
}

/// The row of a matched photo whose user the look-up did not pin down to one account:
/// nothing is uploaded for it.
fn unresolved_row(m: &MatchedPhoto, key: UserKey, lookup: &Lookup<'_>) -> Row {
    let mut row = matched_row(m);
    match lookup {
        Lookup::One(_) => {}
        Lookup::NotFound => {
            row.status = Some(Status::UserNotFound);
            row.detail = format!(
                "no user with {} {:?} in the tenant; nothing was sent",
                key.property(),
                m.user.user
            );
        }
        Lookup::Several(users) => {
            let names: Vec<String> = users.iter().map(GraphUser::describe).collect();
            row.status = Some(Status::Ambiguous);
            row.detail = format!(
                "{} users in the tenant have {} {:?}: {}; nothing was sent (make the CSV name one, e.g. by userPrincipalName)",
                users.len(),
                key.property(),
                m.user.user,
                names.join(", ")
            );
        }
        Lookup::Failed(e) => {
            row.status = Some(match e.kind {
                Kind::Invalid => Status::UserNotFound,
                Kind::Transient | Kind::Throttled | Kind::Interrupted => Status::Pending,
                _ => Status::Failed,
            });
            row.http_status = e.status;
            row.graph_code = e.code.clone();
            row.detail = if row.status == Some(Status::Pending) {
                format!(
                    "looking the user up failed: {}; run the same command again",
                    e.detail()
                )
            } else {
                format!("looking the user up failed: {}", e.detail())
            };
        }
    }
    row
}

/// The application permissions this upload needs, for the preflight.
fn needs(upload: &UploadOptions) -> Vec<claims::Need> {
    let mut needs = vec![claims::LOOK_UP];
    if !upload.dry_run {
        needs.push(claims::WRITE_PHOTOS);
        if upload.backup.is_some() {
            needs.push(claims::READ_PHOTOS);
        }
        if upload.lock.is_some() {
            needs.push(claims::WRITE_SETTINGS);
        }
    }
    needs
}

/// What an upload task shares with the run.
struct Job {
    client: Arc<GraphClient>,
    dry_run: bool,
    backup: Option<Arc<crate::tenant::backup::BackupDir>>,
    recorder: Option<Arc<Recorder>>,
    settings_hash: String,
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
        let remark = if row.status == Some(Status::TooSmall) {
            Some(std::mem::take(&mut row.detail))
        } else {
            None
        };
        if self.dry_run {
            row.status = Some(Status::WouldUpload);
            row.detail =
                remark.unwrap_or_else(|| "would be uploaded (dry run: nothing sent)".into());
            return row;
        }
        if self.stop.requested() {
            row.status = Some(Status::Pending);
            row.detail = PENDING.into();
            return row;
        }
        // Tenant hook (issue 5): nothing that was in the tenant is replaced without a copy.
        if let Some(dir) = &self.backup {
            let user = row.user.clone().unwrap_or_else(|| user_id.clone());
            match crate::tenant::backup::before_replace(dir, self.client.as_ref(), &user, &user_id)
                .await
            {
                Ok(saved) => row.notes.extend(saved.note()),
                Err(why) => {
                    row.status = Some(if self.stop.requested() {
                        Status::Pending
                    } else {
                        Status::Failed
                    });
                    row.detail = why;
                    self.record(&key, &row, &user_id, &source, &output_hash);
                    return row;
                }
            }
        }
        // A stop while the backup was read: this user's photo is left as it is.
        if self.stop.requested() {
            row.status = Some(Status::Pending);
            row.detail = PENDING.into();
            self.record(&key, &row, &user_id, &source, &output_hash);
            return row;
        }
        match self.client.put_photo(&user_id, jpeg).await {
            Ok(r) => {
                row.status = Some(Status::Uploaded);
                row.attempts = Some(r.attempts);
                row.http_status = Some(r.status);
                row.detail = remark.unwrap_or_default();
            }
            Err(e) => fail(&mut row, &e),
        }
        self.record(&key, &row, &user_id, &source, &output_hash);
        row
    }

    fn record(&self, key: &str, row: &Row, user_id: &str, source: &SourceId, output_hash: &str) {
        let Some(rec) = &self.recorder else { return };
        let effect = if row.status == Some(Status::Uploaded) {
            Effect::Landed
        } else {
            Effect::None
        };
        let mut o = Outcome::from_row(key, row, effect);
        o.user_id = Some(user_id.to_string());
        o.source = Some(source.clone());
        o.settings_hash = Some(self.settings_hash.clone());
        o.output_hash = Some(output_hash.to_string());
        rec.outcome(o);
    }
}

fn fail(row: &mut Row, e: &GraphError) {
    // The user was just resolved by id: a 404 here is never "no such user".
    row.status = Some(if e.kind == Kind::Interrupted {
        Status::Pending
    } else {
        Status::Failed
    });
    row.attempts = Some(e.attempts);
    row.http_status = e.status;
    row.graph_code = e.code.clone();
    row.detail = e.detail();
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
                    bar.set_message(format!("{:.0} req/s", client.throttle().current_rate()));
                    shown = false;
                }
                None => {}
            }
        }
    })
}

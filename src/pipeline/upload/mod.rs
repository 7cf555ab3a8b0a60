//! The upload stage, in sequence: prepare the work list, open the state database, sign
//! in and check permissions, [`skip`] what is unchanged, [`resolve`] every target user
//! once, then [`send`] the photos (made on rayon, written on tokio) and record each
//! outcome; a Ctrl-C stops it cleanly.

mod breaker;
mod directory;
mod resolve;
mod send;
mod skip;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{BackupPlan, ConfigError, Options, UploadOptions, exit};
use crate::graph::{GraphClient, PreflightError, UserKey, claims};
use crate::output::Output;
use crate::pipeline::prepare::{self, Prepared};
use crate::pipeline::rows::matched_row;
use crate::report::{Place, Report, Row};
use crate::state::{self, ItemStart, Recorder, RunEnd, StateDb, StateError};
use crate::tenant::backup::{self, BackupDir};
use crate::util::signals::Stop;
use resolve::Target;

/// Why an upload stopped before its report.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error("{0}")]
    Failed(String),
}

impl UploadError {
    pub fn exit_code(&self) -> i32 {
        match self {
            UploadError::Config(e) => e.exit_code(),
            UploadError::State(e) => e.exit_code(),
            UploadError::Preflight(e) => e.exit_code(),
            UploadError::Failed(_) => exit::SOME_FAILED,
        }
    }
}

/// What an upload did: its report, and the backup folder when it made one.
#[derive(Debug)]
pub struct Uploaded {
    pub report: Report,
    pub backup_dir: Option<PathBuf>,
    /// What stopped the run early (the circuit breaker): the admin's to fix (exit 2).
    pub stopped: Option<String>,
}

/// Runs discover -> match -> skip -> (resolve | process | upload) and returns the report.
pub async fn run(
    opts: &Options,
    upload: &UploadOptions,
    client: Arc<GraphClient>,
    out: &Output,
) -> Result<Uploaded, UploadError> {
    let (mut db, prepared, known) = start(opts, upload, &client, out).await?;
    let Prepared {
        matched,
        rows: prepared,
        ..
    } = prepared;

    let scope = client.scope();
    let legacy = client.legacy_scope();
    // A dry run reads the file as it is; a writer moves the old history over first.
    let scopes: Vec<&str> = if upload.dry_run {
        vec![&scope, &legacy]
    } else {
        if let Some(db) = db.as_mut() {
            db.adopt_scope(&legacy, &scope)?;
        }
        vec![&scope]
    };
    let pool = prepare::thread_pool(opts.jobs);
    let landed = match (&db, upload.force) {
        (Some(db), false) => db.landed(&scopes)?,
        _ => HashMap::new(),
    };
    let checking = out.spinner("comparing photos with the state database");
    let (skipped, mut todo, shared) = skip::split(matched, &landed, &opts.image, &pool);
    checking.finish_and_clear();
    drop(landed);
    let later = match upload.limit {
        Some(limit) => skip::beyond_limit(&mut todo, limit),
        None => Vec::new(),
    };
    let start = Start {
        todo: &todo,
        skipped: &skipped,
        later: &later,
        prepared: &prepared,
    };
    let recorder = match db {
        Some(db) if !upload.dry_run => Some(Arc::new(begin_run(db, opts, &scope, &start)?)),
        _ => None,
    };
    // From here on the rows live in the report's spool, not in memory.
    let report = resolve::Sink::new(Report::new("upload"), shared);
    for (rank, _, row) in skipped {
        report.push(rank, row);
    }
    {
        let mut r = report.lock();
        for row in later {
            r.push_at(Place::Head, row);
        }
        r.extend(prepared);
    }
    let backup = if upload.dry_run || todo.is_empty() || upload.backup == BackupPlan::Off {
        send::BackupSlot::none()
    } else {
        let (upload, opts) = (upload.clone(), opts.clone());
        send::BackupSlot::lazy(move || open_backup(&upload, &opts))
    };
    let breaker = Arc::new(breaker::Breaker::new(breaker::DEFAULT_LIMIT));
    let sending = send::Sending {
        client: Arc::clone(&client),
        dry_run: upload.dry_run,
        backup,
        recorder: recorder.clone(),
        image: opts.image.clone(),
        thumbs: opts.html.is_some(),
        grace: upload.grace,
        breaker: Arc::clone(&breaker),
    };
    let todo = send::Todo {
        key: match opts.directory {
            Some(_) => UserKey::Upn,
            None => UserKey::from_column(&opts.matching.user_column),
        },
        users: todo,
        known,
    };
    let sent = send::all(sending, todo, &report, pool, out).await;
    let backup_dir = match sent {
        Ok(dir) => dir,
        Err(e) => {
            if let Some(rec) = recorder {
                finish_run(rec, RunEnd::Interrupted, out)?;
            }
            return Err(e);
        }
    };
    let interrupted = Stop::global().requested();
    let stopped = breaker.tripped().map(|t| t.message());
    let mut report = report.into_report();
    report.interrupted = interrupted;
    if let Some(rec) = recorder {
        let end = match (interrupted, stopped.is_some()) {
            (true, _) => RunEnd::Interrupted,
            (false, true) => RunEnd::Stopped,
            (false, false) => RunEnd::Finished,
        };
        finish_run(rec, end, out)?;
    }
    Ok(Uploaded {
        report,
        backup_dir,
        stopped,
    })
}

/// The work list, the state database and a checked sign-in, in the order that costs the
/// least when something is wrong: the CSV and the folder first, then the database (held
/// by another run?), then Graph; without a CSV the directory listing comes after sign-in.
async fn start(
    opts: &Options,
    upload: &UploadOptions,
    client: &GraphClient,
    out: &Output,
) -> Result<(Option<StateDb>, Prepared, Option<crate::graph::Resolved>), UploadError> {
    let csv = match opts.directory {
        None => Some(prepare::prepare(opts)?),
        Some(_) => None,
    };
    // Opened before any network work: a state file in use by another run stops this one.
    let db = match &upload.state {
        Some(path) if upload.dry_run => StateDb::open_read_only(path)?,
        Some(path) => Some(StateDb::open(path)?),
        None => None,
    };
    client
        .check_sign_in()
        .await
        .map_err(|e| PreflightError::SignIn(e.detail()))?;
    out.note(&format!("signed in with {}", client.sign_in_method()));
    client.preflight(&needs(upload)).await?;
    let (prepared, known) = match (csv, opts.directory) {
        (Some(p), _) => {
            let key = UserKey::from_column(&opts.matching.user_column);
            let known = directory::listing_if_cheaper(client, &p, key).await;
            (p, known)
        }
        (None, None) => (prepare::prepare(opts)?, None),
        (None, Some(key)) => {
            let (p, known) = directory::prepare(opts, client, key, out).await?;
            (p, Some(known))
        }
    };
    Ok((db, prepared, known))
}

/// The backup folder of `upload.backup`: `--backup-dir`, else the one the state database
/// remembers (so resumed runs share one folder), else a new one beside the report.
fn open_backup(upload: &UploadOptions, opts: &Options) -> Result<Arc<BackupDir>, ConfigError> {
    let state = upload.state.as_deref();
    let dir = backup::planned_dir(&upload.backup, opts.report.as_deref(), state).ok_or(
        ConfigError::Invalid {
            flag: "--backup-dir",
            reason: "no backup folder planned".into(),
        },
    )?;
    let made = BackupDir::create(&dir).map_err(|e| ConfigError::Output {
        path: dir.clone(),
        reason: format!("cannot make the backup folder (--backup-dir): {e}"),
    })?;
    if let Some(state) = state {
        backup::remember_dir(state, &dir).map_err(|e| ConfigError::Output {
            path: backup::remembered_file(state),
            reason: format!("cannot record the backup folder beside the state database: {e}"),
        })?;
    }
    Ok(Arc::new(made.once_per_user()))
}

/// Everything a run starts with, for the state database's first write.
struct Start<'a> {
    todo: &'a [Target],
    skipped: &'a [(u64, String, Row)],
    later: &'a [Row],
    prepared: &'a [Row],
}

/// Records the run and every item it will decide, so that a crash at any moment leaves
/// each user either done or pending.
fn begin_run(
    mut db: StateDb,
    opts: &Options,
    scope: &str,
    start: &Start<'_>,
) -> Result<Recorder, StateError> {
    // Made one at a time as they are written: 100,000 rows are never all in memory.
    let items = start
        .todo
        .iter()
        .map(|t| ItemStart {
            user_key: Some(t.photo.user.user.to_lowercase()),
            row: matched_row(&t.photo),
        })
        .chain(start.skipped.iter().map(|(_, k, r)| ItemStart {
            user_key: Some(k.clone()),
            row: r.clone(),
        }))
        .chain(start.later.iter().chain(start.prepared).map(|r| ItemStart {
            user_key: None,
            row: r.clone(),
        }));
    let run_id = db.begin_run(
        "upload",
        scope,
        Some(&opts.photos),
        opts.directory.is_none().then_some(opts.users.as_path()),
        Some(&state::settings_text(&opts.image)),
        items,
    )?;
    Ok(db.recorder(run_id, scope))
}

fn finish_run(rec: Arc<Recorder>, end: RunEnd, out: &Output) -> Result<(), UploadError> {
    let rec = Arc::try_unwrap(rec).map_err(|_| {
        UploadError::Failed("state recorder still in use at the end of the run".into())
    })?;
    if let Err(e) = rec.finish(end) {
        out.error(&format!("state database: {e}"));
    }
    Ok(())
}

/// The application permissions this upload needs, for the preflight.
fn needs(upload: &UploadOptions) -> Vec<claims::Need> {
    let mut needs = vec![claims::LOOK_UP];
    if !upload.dry_run {
        needs.push(claims::WRITE_PHOTOS);
        if upload.backup != BackupPlan::Off {
            needs.push(claims::READ_PHOTOS);
        }
        if upload.lock.is_some() {
            needs.push(claims::WRITE_SETTINGS);
        }
    }
    needs
}

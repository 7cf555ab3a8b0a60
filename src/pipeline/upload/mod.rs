//! The upload stage, in sequence: prepare the work list, open the state database, sign
//! in and check permissions, [`skip`] what is unchanged, [`resolve`] every target user
//! once, then [`send`] the photos (made on rayon, written on tokio) and record each
//! outcome; a Ctrl-C stops it cleanly.

mod resolve;
mod send;
mod skip;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{ConfigError, Options, UploadOptions, exit};
use crate::graph::{GraphClient, PreflightError, claims};
use crate::output::Output;
use crate::pipeline::prepare::{self, Prepared};
use crate::pipeline::rows::matched_row;
use crate::report::{Report, Row};
use crate::state::{self, ItemStart, Recorder, RunEnd, StateDb, StateError};
use crate::tenant::backup::{self, BackupDir};
use crate::util::signals::Stop;

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
}

/// Runs discover -> match -> skip -> resolve -> process | upload and returns the report.
pub async fn run(
    opts: &Options,
    upload: &UploadOptions,
    client: Arc<GraphClient>,
    out: &Output,
) -> Result<Uploaded, UploadError> {
    let Prepared {
        matched,
        rows: prepared,
        ..
    } = prepare::prepare(opts)?;
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

    let scope = client.scope();
    let settings_hash = state::settings_hash(&opts.image);
    let pool = prepare::thread_pool(opts.jobs);
    let landed = match (&db, upload.force) {
        (Some(db), false) => db.landed(&scope)?,
        _ => HashMap::new(),
    };
    let checking = out.spinner("comparing photos with the state database");
    let (skipped, mut todo) = skip::split(matched, &landed, &settings_hash, &pool);
    checking.finish_and_clear();
    drop(landed);
    let mut rows: Vec<Row> = Vec::new();
    if let Some(limit) = upload.limit {
        rows.extend(skip::beyond_limit(&mut todo, limit));
    }
    let column = &opts.matching.user_column;
    let work = resolve::targets(&client, column, todo, &mut rows, out).await;
    // Made only now, when there is something to upload: a run that stops earlier leaves
    // no empty backup folder behind.
    let backup = match (upload.dry_run, work.is_empty()) {
        (false, false) => open_backup(upload, opts)?,
        _ => None,
    };
    let start = Start {
        work: &work,
        skipped: &skipped,
        rows: &rows,
        prepared: &prepared,
    };
    let recorder = match db {
        Some(db) if !upload.dry_run => Some(Arc::new(begin_run(db, opts, &scope, &start)?)),
        _ => None,
    };
    let sending = send::Sending {
        client: Arc::clone(&client),
        dry_run: upload.dry_run,
        backup: backup.clone(),
        recorder: recorder.clone(),
        settings_hash,
        image: opts.image.clone(),
        thumbs: opts.html.is_some(),
        grace: upload.grace,
    };
    let sent = send::all(sending, work, pool, out)
        .await
        .map_err(|e| UploadError::Failed(e.to_string()))?;
    let interrupted = Stop::global().requested();
    let report = assemble(rows, sent, skipped, prepared, interrupted);
    if let Some(rec) = recorder {
        finish_run(rec, interrupted, out)?;
    }
    Ok(Uploaded {
        report,
        backup_dir: backup.map(|b| b.path().to_path_buf()),
    })
}

/// The report's rows: those decided before the upload, then the users in file order,
/// then discovery's.
fn assemble(
    mut rows: Vec<Row>,
    sent: Vec<(String, Row)>,
    skipped: Vec<(String, Row)>,
    prepared: Vec<Row>,
    interrupted: bool,
) -> Report {
    let mut done: Vec<Row> = sent
        .into_iter()
        .chain(skipped)
        .map(|(_, row)| row)
        .collect();
    done.sort_by(|a, b| a.file.cmp(&b.file));
    rows.extend(done);
    rows.extend(prepared);
    let mut report = Report::new("upload");
    report.rows = rows;
    report.interrupted = interrupted;
    report
}

/// The backup folder of `upload.backup`: `--backup-dir`, else the one the state database
/// remembers (so resumed runs share one folder), else a new one beside the report.
fn open_backup(
    upload: &UploadOptions,
    opts: &Options,
) -> Result<Option<Arc<BackupDir>>, ConfigError> {
    let state = upload.state.as_deref();
    let Some(dir) = backup::planned_dir(&upload.backup, opts.report.as_deref(), state) else {
        return Ok(None);
    };
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
    Ok(Some(Arc::new(made.once_per_user())))
}

/// Everything a run starts with, for the state database's first write.
struct Start<'a> {
    work: &'a [resolve::Work],
    skipped: &'a [(String, Row)],
    rows: &'a [Row],
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
    let items: Vec<ItemStart> = start
        .work
        .iter()
        .map(|w| ItemStart {
            user_key: Some(w.key.clone()),
            row: matched_row(&w.photo),
        })
        .chain(start.skipped.iter().map(|(k, r)| ItemStart {
            user_key: Some(k.clone()),
            row: r.clone(),
        }))
        .chain(start.rows.iter().chain(start.prepared).map(|r| ItemStart {
            user_key: None,
            row: r.clone(),
        }))
        .collect();
    let run_id = db.begin_run(
        "upload",
        scope,
        Some(&opts.photos),
        Some(&opts.users),
        Some(&state::settings_text(&opts.image)),
        &items,
    )?;
    Ok(db.recorder(run_id, scope))
}

fn finish_run(rec: Arc<Recorder>, interrupted: bool, out: &Output) -> Result<(), UploadError> {
    let end = if interrupted {
        RunEnd::Interrupted
    } else {
        RunEnd::Finished
    };
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
        if upload.backup != crate::config::BackupPlan::Off {
            needs.push(claims::READ_PHOTOS);
        }
        if upload.lock.is_some() {
            needs.push(claims::WRITE_SETTINGS);
        }
    }
    needs
}

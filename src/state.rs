//! The state database (SQLite): what every Graph-writing run did to each user, so that a
//! re-run, or a run after a crash or Ctrl-C, does only what is left.
//!
//! Tables: `runs` (one row per run), `run_items` (one row per report row of a run; work
//! items start `pending` and are updated as outcomes arrive) and `users` (per tenant scope
//! and user: the last confirmed upload, which decides `skipped-unchanged`, and the last
//! attempt). Outcomes are written by one thread in small transactions as they happen; WAL
//! mode keeps the file consistent whenever the process dies.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, params};
use sha2::{Digest, Sha256};

use crate::options::ImageOptions;
use crate::report::{Row, Status};

const SCHEMA_VERSION: i64 = 1;

/// A state database that cannot be used; the run stops before it writes anything.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database {path}: {source} (choose another place with --state FILE)")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "state database {path} is in use by another m365-photos run; wait for it to finish (or pass a different --state)"
    )]
    Locked { path: PathBuf },
    #[error("state database {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state database {path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "state database {path} was written by a newer m365-photos (schema {found}); upgrade, or pass a different --state"
    )]
    Newer { path: PathBuf, found: i64 },
}

/// Where `upload` keeps its state when `--state` is not given: beside the photos folder,
/// named after it (`/hr/photos` -> `/hr/photos.m365-photos.db`).
pub fn default_path(photos: &Path) -> PathBuf {
    let abs = std::path::absolute(photos).unwrap_or_else(|_| photos.to_path_buf());
    let abs: PathBuf = abs.components().collect();
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "photos".into());
    let parent = abs.parent().unwrap_or(Path::new("."));
    parent.join(format!("{name}.m365-photos.db"))
}

/// A digest of the settings that shape the output photo: change any of them and every
/// photo is made and uploaded again.
pub fn settings_hash(opts: &ImageOptions) -> String {
    let text = format!(
        "size={};max_bytes={};quality={};min_quality={};crop={}",
        opts.size,
        opts.max_bytes,
        opts.quality,
        opts.min_quality,
        opts.crop.as_str()
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The settings as people read them (stored with each run).
pub fn settings_text(opts: &ImageOptions) -> String {
    format!(
        "size {} px, budget {} bytes, quality <= {}, crop {}",
        opts.size,
        opts.max_bytes,
        opts.quality,
        opts.crop.as_str()
    )
}

/// SHA-256 of some bytes, hex.
pub fn hash_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Which source file a photo came from, and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceId {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    /// SHA-256 of the file's bytes, hex.
    pub hash: String,
}

impl SourceId {
    /// Identifies a source file. When path, size and modification time are those of
    /// `known`, its recorded hash is trusted (as git and rsync do) and the file is not
    /// read; otherwise the file is hashed.
    pub fn of(path: &Path, known: Option<&Landed>) -> std::io::Result<SourceId> {
        let meta = std::fs::metadata(path)?;
        let size = meta.len();
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let path_text = path.to_string_lossy().to_string();
        if let Some(k) = known
            && k.source.path == path_text
            && k.source.size == size
            && k.source.mtime_ns == mtime_ns
            && mtime_ns != 0
        {
            return Ok(SourceId {
                path: path_text,
                size,
                mtime_ns,
                hash: k.source.hash.clone(),
            });
        }
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(SourceId {
            path: path_text,
            size,
            mtime_ns,
            hash: hex::encode(hasher.finalize()),
        })
    }
}

/// A user's last confirmed upload.
#[derive(Debug, Clone)]
pub struct Landed {
    pub source: SourceId,
    pub settings_hash: String,
    pub output_hash: String,
    /// When it was confirmed (RFC 3339, UTC).
    pub at: String,
}

/// What became of one user in a run, as the recorder stores it.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Lower-cased user value (the key the run matched on).
    pub user_key: String,
    pub user: String,
    pub user_id: Option<String>,
    pub status: Option<Status>,
    pub detail: String,
    pub http_status: Option<u16>,
    pub graph_code: Option<String>,
    pub attempts: Option<u32>,
    pub source: Option<SourceId>,
    /// Digest of the settings the photo was made with ([`settings_hash`]).
    pub settings_hash: Option<String>,
    pub output_hash: Option<String>,
    pub output_bytes: Option<u64>,
    pub quality: Option<u8>,
    pub effect: Effect,
}

/// What an outcome means for the user's last confirmed upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed in the tenant (failed, skipped, dry run...).
    #[default]
    None,
    /// Graph confirmed the photo: it becomes the user's last confirmed upload.
    Landed,
    /// The tenant's photo was removed or replaced by something else (remove, restore): the
    /// next upload must not skip this user.
    Forget,
}

impl Outcome {
    /// The outcome a report row describes.
    pub fn from_row(user_key: &str, row: &Row, effect: Effect) -> Outcome {
        Outcome {
            user_key: user_key.to_string(),
            user: row.user.clone().unwrap_or_else(|| user_key.to_string()),
            status: row.status,
            detail: row.detail.clone(),
            http_status: row.http_status,
            graph_code: row.graph_code.clone(),
            attempts: row.attempts,
            output_bytes: row.output_bytes,
            quality: row.quality,
            effect,
            ..Outcome::default()
        }
    }
}

/// One row of a run as it is stored: a work item (with a user key, updated later) or a
/// row whose outcome is already final.
#[derive(Debug, Clone)]
pub struct ItemStart {
    pub user_key: Option<String>,
    pub row: Row,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Finished,
    /// Stopped by Ctrl-C / SIGTERM; what was not done is still `pending`.
    Interrupted,
}

impl RunEnd {
    fn as_str(self) -> &'static str {
        match self {
            RunEnd::Finished => "finished",
            RunEnd::Interrupted => "interrupted",
        }
    }
}

/// A run as `status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    pub id: i64,
    pub command: String,
    pub scope: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running` (or killed before it could say otherwise), `finished`, `interrupted`.
    pub state: String,
    pub photos: Option<String>,
    pub settings: Option<String>,
    /// Rows per status.
    pub counts: Vec<(String, u64)>,
}

/// One stored row of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ItemInfo {
    pub file: Option<String>,
    pub user: Option<String>,
    pub status: String,
    pub detail: String,
    pub http_status: Option<u16>,
    pub graph_code: Option<String>,
    pub updated_at: String,
}

/// An open state database.
#[derive(Debug)]
pub struct StateDb {
    conn: Connection,
    path: PathBuf,
    /// Held for as long as a writing run lasts, so two runs never share a state file.
    _lock: Option<std::fs::File>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl StateDb {
    /// Opens (creating if needed) the database for a run that writes, and takes its lock.
    pub fn open(path: &Path) -> Result<StateDb, StateError> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StateError::Io {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StateError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let conn = Connection::open(path).map_err(|source| StateError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut db = StateDb {
            conn,
            path: path.to_path_buf(),
            _lock: Some(lock),
        };
        db.setup()?;
        Ok(db)
    }

    /// Opens an existing database to read (status, dry run); `None` when there is none.
    pub fn open_read_only(path: &Path) -> Result<Option<StateDb>, StateError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StateError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let db = StateDb {
            conn,
            path: path.to_path_buf(),
            _lock: None,
        };
        db.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| db.sql(e))?;
        let version: i64 = db
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db.sql(e))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::Newer {
                path: path.to_path_buf(),
                found: version,
            });
        }
        if version == 0 {
            // Created but never set up: nothing recorded yet.
            return Ok(None);
        }
        Ok(Some(db))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, source: rusqlite::Error) -> StateError {
        StateError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn setup(&mut self) -> Result<(), StateError> {
        let conn = &self.conn;
        let r: rusqlite::Result<()> = (|| {
            conn.busy_timeout(Duration::from_secs(5))?;
            // WAL: a transaction is either wholly in the file or not at all, whenever the
            // process dies; NORMAL sync is durable against a crashed or killed process (a
            // power cut may lose the last few outcomes, which are then simply redone).
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            Ok(())
        })();
        r.map_err(|e| self.sql(e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.sql(e))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::Newer {
                path: self.path.clone(),
                found: version,
            });
        }
        if version < 1 {
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS runs (
                     id INTEGER PRIMARY KEY,
                     command TEXT NOT NULL,
                     scope TEXT NOT NULL,
                     started_at TEXT NOT NULL,
                     finished_at TEXT,
                     state TEXT NOT NULL,
                     photos TEXT,
                     users_csv TEXT,
                     settings TEXT
                 );
                 CREATE TABLE IF NOT EXISTS run_items (
                     run_id INTEGER NOT NULL REFERENCES runs(id),
                     seq INTEGER NOT NULL,
                     user_key TEXT,
                     file TEXT,
                     user TEXT,
                     status TEXT NOT NULL,
                     detail TEXT NOT NULL DEFAULT '',
                     http_status INTEGER,
                     graph_code TEXT,
                     updated_at TEXT NOT NULL,
                     PRIMARY KEY (run_id, seq)
                 );
                 CREATE INDEX IF NOT EXISTS run_items_user ON run_items(run_id, user_key);
                 CREATE TABLE IF NOT EXISTS users (
                     scope TEXT NOT NULL,
                     user_key TEXT NOT NULL,
                     user TEXT NOT NULL,
                     user_id TEXT,
                     landed_source_path TEXT,
                     landed_source_size INTEGER,
                     landed_source_mtime_ns INTEGER,
                     landed_source_hash TEXT,
                     landed_settings_hash TEXT,
                     landed_output_hash TEXT,
                     landed_output_bytes INTEGER,
                     landed_quality INTEGER,
                     landed_at TEXT,
                     last_run INTEGER,
                     last_status TEXT,
                     last_detail TEXT,
                     last_source_hash TEXT,
                     last_http_status INTEGER,
                     last_graph_code TEXT,
                     last_attempts INTEGER,
                     updated_at TEXT NOT NULL,
                     PRIMARY KEY (scope, user_key)
                 );
                 PRAGMA user_version = 1;
                 COMMIT;",
            )
            .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    /// Every user of `scope` whose last attempt confirmed (or kept) an upload, by user
    /// key: the users a re-run may skip. A user whose last attempt failed is never here.
    pub fn landed(&self, scope: &str) -> Result<HashMap<String, Landed>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT user_key, landed_source_path, landed_source_size, landed_source_mtime_ns,
                        landed_source_hash, landed_settings_hash, landed_output_hash, landed_at
                 FROM users WHERE scope = ?1 AND landed_at IS NOT NULL
                   AND last_status IN ('uploaded', 'skipped-unchanged')",
            )
            .map_err(|e| self.sql(e))?;
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

    /// Records the start of a run with every row it will report: work items as `pending`
    /// (updated as they are done), the rest with their final status. Returns the run id.
    pub fn begin_run(
        &mut self,
        command: &str,
        scope: &str,
        photos: Option<&Path>,
        users_csv: Option<&Path>,
        settings: Option<&str>,
        items: &[ItemStart],
    ) -> Result<i64, StateError> {
        let path = self.path.clone();
        let sql = |source| StateError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let at = now();
        tx.execute(
            "INSERT INTO runs (command, scope, started_at, state, photos, users_csv, settings)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
            params![
                command,
                scope,
                at,
                photos.map(|p| p.display().to_string()),
                users_csv.map(|p| p.display().to_string()),
                settings
            ],
        )
        .map_err(sql)?;
        let run_id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO run_items (run_id, seq, user_key, file, user, status, detail,
                                            http_status, graph_code, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(sql)?;
            for (seq, item) in items.iter().enumerate() {
                // Work items start pending; rows already decided keep their status.
                let status = item.row.status.map_or("pending", Status::as_str);
                ins.execute(params![
                    run_id,
                    seq as i64,
                    item.user_key,
                    item.row.file,
                    item.row.user,
                    status,
                    item.row.detail,
                    item.row.http_status,
                    item.row.graph_code,
                    at
                ])
                .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
        Ok(run_id)
    }

    /// Records a whole run at once (the tenant commands, which are short): its rows, and
    /// for users whose photo it removed or replaced, that the next upload must not skip
    /// them.
    pub fn record_run(
        mut self,
        command: &str,
        scope: &str,
        rows: &[Row],
        forget: &[Status],
    ) -> Result<(), String> {
        let items: Vec<ItemStart> = rows
            .iter()
            .map(|r| ItemStart {
                user_key: r.user.as_ref().map(|u| u.to_lowercase()),
                row: r.clone(),
            })
            .collect();
        let run_id = self
            .begin_run(command, scope, None, None, None, &items)
            .map_err(|e| e.to_string())?;
        let rec = self.recorder(run_id, scope);
        for (item, row) in items.iter().zip(rows) {
            let Some(key) = &item.user_key else { continue };
            let effect = if forget.contains(&row.status()) {
                Effect::Forget
            } else {
                Effect::None
            };
            let mut o = Outcome::from_row(key, row, effect);
            o.user_id = row.graph_id.clone();
            rec.outcome(o);
        }
        rec.finish(RunEnd::Finished)
    }

    /// Whether a run holds the database's lock right now.
    pub fn in_use(path: &Path) -> bool {
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        match std::fs::OpenOptions::new().write(true).open(lock_path) {
            Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// Hands the database to a writer thread that records outcomes as they come.
    pub fn recorder(self, run_id: i64, scope: &str) -> Recorder {
        let (tx, rx) = mpsc::channel::<Msg>();
        let scope = scope.to_string();
        let handle = std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer(self, run_id, &scope, rx))
            .map_err(|e| e.to_string());
        Recorder { tx, handle }
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
                "SELECT file, user, status, detail, http_status, graph_code, updated_at
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
            })
        })
        .map_err(|e| self.sql(e))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| self.sql(e))
    }

    /// Users of every scope with a confirmed upload, and with a failed last attempt.
    pub fn user_totals(&self) -> Result<(u64, u64), StateError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(landed_at IS NOT NULL), 0),
                        COALESCE(SUM(last_status IN ('failed', 'user-not-found', 'invalid-image')), 0)
                 FROM users",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(|e| self.sql(e))
    }

    fn apply(&mut self, run_id: i64, scope: &str, batch: &[Outcome]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        let at = now();
        {
            let mut item = tx.prepare(
                "UPDATE run_items SET status = ?3, detail = ?4, http_status = ?5,
                        graph_code = ?6, updated_at = ?7
                 WHERE run_id = ?1 AND user_key = ?2",
            )?;
            let mut user = tx.prepare(
                "INSERT INTO users (scope, user_key, user, user_id, last_run, last_status,
                                    last_detail, last_source_hash, last_http_status,
                                    last_graph_code, last_attempts, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (scope, user_key) DO UPDATE SET
                     user = excluded.user,
                     user_id = COALESCE(excluded.user_id, users.user_id),
                     last_run = excluded.last_run,
                     last_status = excluded.last_status,
                     last_detail = excluded.last_detail,
                     last_source_hash = COALESCE(excluded.last_source_hash, users.last_source_hash),
                     last_http_status = excluded.last_http_status,
                     last_graph_code = excluded.last_graph_code,
                     last_attempts = excluded.last_attempts,
                     updated_at = excluded.updated_at",
            )?;
            let mut landed = tx.prepare(
                "UPDATE users SET landed_source_path = ?3, landed_source_size = ?4,
                        landed_source_mtime_ns = ?5, landed_source_hash = ?6,
                        landed_settings_hash = ?7, landed_output_hash = ?8,
                        landed_output_bytes = ?9, landed_quality = ?10, landed_at = ?11
                 WHERE scope = ?1 AND user_key = ?2",
            )?;
            let mut forget = tx.prepare(
                "UPDATE users SET landed_source_path = NULL, landed_source_size = NULL,
                        landed_source_mtime_ns = NULL, landed_source_hash = NULL,
                        landed_settings_hash = NULL, landed_output_hash = NULL,
                        landed_output_bytes = NULL, landed_quality = NULL, landed_at = NULL
                 WHERE scope = ?1 AND (user_key = ?2 OR user_id = ?3)",
            )?;
            for o in batch {
                let status = o.status.unwrap_or(Status::Failed).as_str();
                item.execute(params![
                    run_id,
                    o.user_key,
                    status,
                    o.detail,
                    o.http_status,
                    o.graph_code,
                    at
                ])?;
                if o.status == Some(Status::Pending) {
                    continue;
                }
                user.execute(params![
                    scope,
                    o.user_key,
                    o.user,
                    o.user_id,
                    run_id,
                    status,
                    o.detail,
                    o.source.as_ref().map(|s| s.hash.clone()),
                    o.http_status,
                    o.graph_code,
                    o.attempts,
                    at
                ])?;
                match o.effect {
                    Effect::None => {}
                    Effect::Landed => {
                        let src = o.source.clone().unwrap_or(SourceId {
                            path: String::new(),
                            size: 0,
                            mtime_ns: 0,
                            hash: String::new(),
                        });
                        landed.execute(params![
                            scope,
                            o.user_key,
                            src.path,
                            src.size as i64,
                            src.mtime_ns,
                            src.hash,
                            o.settings_hash,
                            o.output_hash,
                            o.output_bytes.map(|b| b as i64),
                            o.quality,
                            at
                        ])?;
                    }
                    Effect::Forget => {
                        forget.execute(params![scope, o.user_key, o.user_id])?;
                    }
                }
            }
        }
        tx.commit()
    }

    fn end_run(&mut self, run_id: i64, end: RunEnd) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, state = ?3 WHERE id = ?1",
            params![run_id, now(), end.as_str()],
        )?;
        // Leave a tidy file behind: fold the WAL back in.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(())
    }
}

enum Msg {
    Outcome(Box<Outcome>),
    End(RunEnd),
}

/// Records outcomes from any thread; one writer thread owns the database.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    handle: Result<std::thread::JoinHandle<Result<(), String>>, String>,
}

impl Recorder {
    /// Queues an outcome; it is in the file within milliseconds.
    pub fn outcome(&self, o: Outcome) {
        let _ = self.tx.send(Msg::Outcome(Box::new(o)));
    }

    /// Writes what is queued, ends the run and closes the database. An error says the
    /// state could not be (fully) written.
    pub fn finish(self, end: RunEnd) -> Result<(), String> {
        let _ = self.tx.send(Msg::End(end));
        drop(self.tx);
        match self.handle {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| Err("the state writer stopped unexpectedly".into())),
            Err(e) => Err(format!("cannot start the state writer: {e}")),
        }
    }
}

fn writer(
    mut db: StateDb,
    run_id: i64,
    scope: &str,
    rx: mpsc::Receiver<Msg>,
) -> Result<(), String> {
    let mut first_error: Option<String> = None;
    let mut end = None;
    while end.is_none() {
        let Ok(msg) = rx.recv() else { break };
        let mut batch = Vec::new();
        let mut take = |msg: Msg, batch: &mut Vec<Outcome>| match msg {
            Msg::Outcome(o) => batch.push(*o),
            Msg::End(e) => end = Some(e),
        };
        take(msg, &mut batch);
        // Group commit: whatever queued up while the last transaction was written goes
        // into the next one.
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(msg) => take(msg, &mut batch),
                Err(_) => break,
            }
        }
        if !batch.is_empty()
            && let Err(e) = db.apply(run_id, scope, &batch)
        {
            tracing::error!(error = %e, "state database write failed");
            first_error.get_or_insert_with(|| {
                format!(
                    "{}: {e}; the next run may redo some users",
                    db.path.display()
                )
            });
        }
    }
    let end = end.unwrap_or(RunEnd::Interrupted);
    if let Err(e) = db.end_run(run_id, end) {
        first_error.get_or_insert_with(|| format!("{}: {e}", db.path.display()));
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

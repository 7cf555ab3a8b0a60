//! The state database (SQLite): what every Graph-writing run did to each user, so that a
//! re-run, or a run after a crash or Ctrl-C, does only what is left.
//!
//! Tables: `runs` (one row per run), `run_items` (one row per report row of a run; work
//! items start `pending` and are updated as outcomes arrive) and `users` (per tenant scope
//! and user: the last confirmed upload, which decides `skipped-unchanged`, and the last
//! attempt). Outcomes are written by one thread in small transactions as they happen; WAL
//! mode keeps the file consistent whenever the process dies.
//!
//! `schema` (tables, migrations, the version check), `identity` (source, settings and
//! output digests), `recorder` (the writer thread) and `queries` (what is read back).

mod identity;
mod queries;
mod recorder;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use self::identity::{SourceId, default_path, hash_bytes, settings_hash, settings_text};
pub use self::recorder::Recorder;
pub use self::schema::SCHEMA_VERSION;
use self::schema::Version;
use crate::report::{Row, Status};

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
    #[error(
        "state database {path} was written by an older m365-photos (schema {found}); run an upload with it once to bring it up to date, or pass a different --state"
    )]
    Older { path: PathBuf, found: i64 },
    #[error(
        "state database {path} has an unknown schema version {found}: not a file m365-photos wrote; pass a different --state"
    )]
    UnknownVersion { path: PathBuf, found: i64 },
}

impl StateError {
    /// A state database that cannot be used is the user's to fix (another --state, wait
    /// for the other run): nothing was done.
    pub fn exit_code(&self) -> i32 {
        crate::config::exit::USAGE
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
    /// Graph's `request-id` of a failure.
    pub request_id: Option<String>,
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
            request_id: row.request_id.clone(),
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
    /// Stopped by the upload's circuit breaker (every write failed the same way); what
    /// was not sent is still `pending`.
    Stopped,
}

impl RunEnd {
    fn as_str(self) -> &'static str {
        match self {
            RunEnd::Finished => "finished",
            RunEnd::Interrupted => "interrupted",
            RunEnd::Stopped => "stopped",
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
    pub request_id: Option<String>,
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
    crate::util::time::now_rfc3339()
}

/// The lock file beside the database (`state.db.lock`). SQLite's own locks last one
/// transaction; this one lasts the run.
/// Named from the path's own bytes (not its display form, which loses names that are not
/// valid Unicode). The lock is the OS's (`flock` on Unix, `LockFileEx` on Windows, through
/// `File::try_lock`), so it also holds on NTFS and ends with the process.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Opens the SQLite file at `path`. On Windows a path near MAX_PATH (260 characters) goes
/// to SQLite as `\\?\C:\...` through its "win32-longpath" VFS (the default one stops at
/// MAX_PATH; the standard library lifts that limit for every other file already).
fn connect(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    #[cfg(windows)]
    {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if abs.as_os_str().len() >= 200 {
            return Connection::open_with_flags_and_vfs(long_path(&abs), flags, c"win32-longpath");
        }
    }
    Connection::open_with_flags(path, flags)
}

/// `C:\a` -> `\\?\C:\a`, `\\server\share` -> `\\?\UNC\server\share`; a verbatim path as it is.
#[cfg(any(windows, test))]
fn long_path(abs: &Path) -> PathBuf {
    let s = abs.to_string_lossy();
    if s.starts_with(r"\\?\") {
        abs.to_path_buf()
    } else if let Some(unc) = s.strip_prefix(r"\\") {
        PathBuf::from(format!(r"\\?\UNC\{unc}"))
    } else {
        PathBuf::from(format!(r"\\?\{s}"))
    }
}

/// Takes the run lock of the database at `path`, or says another run holds it.
fn take_lock(path: &Path) -> Result<std::fs::File, StateError> {
    let lock_path = lock_path(path);
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
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Locked {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StateError::Io {
            path: lock_path,
            source,
        }),
    }
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
        let lock = take_lock(path)?;
        let conn = connect(path, OpenFlags::default()).map_err(|source| StateError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        schema::migrate(&conn, path)?;
        Ok(StateDb {
            conn,
            path: path.to_path_buf(),
            _lock: Some(lock),
        })
    }

    /// Opens an existing database to read (status, dry run); `None` when there is none
    /// or nothing was ever recorded in it.
    pub fn open_read_only(path: &Path) -> Result<Option<StateDb>, StateError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = connect(
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
        match schema::check(&db.conn, path)? {
            Version::Empty => Ok(None),
            // A reader cannot migrate, and must not guess at old tables.
            Version::Older(found) => Err(StateError::Older {
                path: path.to_path_buf(),
                found,
            }),
            Version::Current => Ok(Some(db)),
        }
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

    /// Moves the per-user history recorded under `from` (a scope as older releases
    /// keyed it: the `--tenant` text) to `to` (the token's `tid`), so that neither a
    /// domain nor a GUID loses the uploads made under the other. Where `to` already has
    /// the user, its newer record wins and the old one is dropped. Returns how many
    /// users moved.
    pub fn adopt_scope(&mut self, from: &str, to: &str) -> Result<usize, StateError> {
        if from == to {
            return Ok(0);
        }
        let path = self.path.clone();
        let sql = |source| StateError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let moved = tx
            .execute(
                "UPDATE OR IGNORE users SET scope = ?2 WHERE scope = ?1",
                rusqlite::params![from, to],
            )
            .map_err(sql)?;
        tx.execute(
            "DELETE FROM users WHERE scope = ?1",
            rusqlite::params![from],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(moved)
    }

    /// Whether a run holds the database's lock right now.
    pub fn in_use(path: &Path) -> bool {
        match std::fs::OpenOptions::new()
            .write(true)
            .open(lock_path(path))
        {
            Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: &str = "tenant-a";

    fn source(hash: &str) -> SourceId {
        SourceId {
            path: format!("/photos/{hash}.jpg"),
            size: 10,
            mtime_ns: 7,
            hash: hash.into(),
        }
    }

    fn work_item(user: &str) -> ItemStart {
        ItemStart {
            user_key: Some(user.to_lowercase()),
            row: Row {
                file: Some(format!("{user}.jpg")),
                user: Some(user.into()),
                ..Row::default()
            },
        }
    }

    fn outcome(user: &str, status: Status, effect: Effect) -> Outcome {
        Outcome {
            user_key: user.to_lowercase(),
            user: user.into(),
            user_id: Some(format!("id-{user}")),
            status: Some(status),
            detail: format!("{} detail", status.as_str()),
            source: Some(source(&format!("src-{user}"))),
            settings_hash: Some("settings".into()),
            output_hash: Some(format!("out-{user}")),
            output_bytes: Some(1234),
            quality: Some(85),
            effect,
            ..Outcome::default()
        }
    }

    /// One upload run of `users`, each ending as given.
    fn upload_run(path: &Path, outcomes: Vec<Outcome>, end: RunEnd) -> i64 {
        let mut db = StateDb::open(path).unwrap();
        let items: Vec<ItemStart> = outcomes.iter().map(|o| work_item(&o.user)).collect();
        let run = db
            .begin_run("upload", SCOPE, None, None, Some("size 648"), items)
            .unwrap();
        let rec = db.recorder(run, SCOPE);
        for o in outcomes {
            rec.outcome(o);
        }
        rec.finish(end).unwrap();
        run
    }

    #[test]
    fn open_creates_a_current_database_and_reading_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        assert!(StateDb::open_read_only(&path).unwrap().is_none());
        let db = StateDb::open(&path).unwrap();
        assert_eq!(db.path(), path);
        let v: i64 = db
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        drop(db);
        let read = StateDb::open_read_only(&path).unwrap().unwrap();
        assert!(read.runs(5).unwrap().is_empty());
        assert_eq!(read.user_totals().unwrap(), (0, 0));
    }

    #[test]
    fn an_empty_file_reads_as_nothing_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(StateDb::open_read_only(&path).unwrap().is_none());
    }

    #[test]
    fn a_newer_or_older_database_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 3)
            .unwrap();
        for err in [
            StateDb::open(&path).unwrap_err(),
            StateDb::open_read_only(&path).unwrap_err(),
        ] {
            assert!(matches!(err, StateError::Newer { .. }), "{err}");
            assert!(err.to_string().contains("other.db"), "{err}");
        }
        let older = StateError::Older {
            path: path.clone(),
            found: 1,
        };
        assert!(older.to_string().contains("other.db") && older.to_string().contains("older"));
    }

    #[test]
    fn long_windows_paths_go_to_sqlite_verbatim() {
        assert_eq!(
            long_path(Path::new(r"C:\a\b.db")),
            PathBuf::from(r"\\?\C:\a\b.db")
        );
        assert_eq!(
            long_path(Path::new(r"\\srv\share\b.db")),
            PathBuf::from(r"\\?\UNC\srv\share\b.db")
        );
        assert_eq!(
            long_path(Path::new(r"\\?\C:\b.db")),
            PathBuf::from(r"\\?\C:\b.db")
        );
    }

    /// A state database deeper than MAX_PATH (260 characters) opens, locks and records.
    #[test]
    fn a_database_beyond_max_path_works() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_path_buf();
        for i in 0..8 {
            deep.push(format!("{i}-{}", "long-folder-name".repeat(2)));
        }
        let path = deep.join("state.db");
        assert!(path.as_os_str().len() > 260, "{}", path.display());
        drop(StateDb::open(&path).unwrap());
        assert!(StateDb::open_read_only(&path).is_ok());
        assert!(path.exists());
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        assert!(!StateDb::in_use(&path));
        let first = StateDb::open(&path).unwrap();
        assert!(StateDb::in_use(&path));
        let err = StateDb::open(&path).unwrap_err();
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another"), "{err}");
        // Readers are not writers: status works during a run.
        assert!(StateDb::open_read_only(&path).unwrap().is_some());
        drop(first);
        assert!(!StateDb::in_use(&path));
        StateDb::open(&path).unwrap();
    }

    #[test]
    fn a_run_is_recorded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut db = StateDb::open(&path).unwrap();
        let decided = ItemStart {
            user_key: None,
            row: Row {
                file: Some("stray.jpg".into()),
                status: Some(Status::NoUser),
                detail: "no such user in the CSV".into(),
                ..Row::default()
            },
        };
        let items = [work_item("A@x.test"), work_item("b@x.test"), decided];
        let run = db
            .begin_run(
                "upload",
                SCOPE,
                Some(Path::new("/photos")),
                Some(Path::new("/staff.csv")),
                Some("size 648"),
                items,
            )
            .unwrap();
        let rec = db.recorder(run, SCOPE);
        let mut failed = outcome("b@x.test", Status::Failed, Effect::None);
        failed.http_status = Some(503);
        failed.graph_code = Some("ServiceUnavailable".into());
        failed.request_id = Some("rid-503".into());
        rec.outcome(outcome("A@x.test", Status::Uploaded, Effect::Landed));
        rec.outcome(failed);
        rec.finish(RunEnd::Finished).unwrap();

        let db = StateDb::open_read_only(&path).unwrap().unwrap();
        let runs = db.runs(10).unwrap();
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!(
            (r.id, r.command.as_str(), r.scope.as_str()),
            (run, "upload", SCOPE)
        );
        assert_eq!(r.state, "finished");
        assert!(r.finished_at.is_some());
        assert_eq!(r.photos.as_deref(), Some("/photos"));
        assert_eq!(r.settings.as_deref(), Some("size 648"));
        let counts: Vec<(&str, u64)> = r.counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        assert_eq!(counts, [("failed", 1), ("no-user", 1), ("uploaded", 1)]);
        assert_eq!(db.run(run).unwrap().unwrap().id, run);
        assert!(db.run(run + 1).unwrap().is_none());

        let rows = db.items(run).unwrap();
        let seen: Vec<(&str, &str)> = rows
            .iter()
            .map(|i| (i.file.as_deref().unwrap(), i.status.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("A@x.test.jpg", "uploaded"),
                ("b@x.test.jpg", "failed"),
                ("stray.jpg", "no-user")
            ],
            "report order kept"
        );
        assert_eq!(rows[1].http_status, Some(503));
        assert_eq!(rows[1].graph_code.as_deref(), Some("ServiceUnavailable"));
        assert_eq!(rows[1].request_id.as_deref(), Some("rid-503"));
        assert_eq!(rows[0].request_id, None);
        let last: Option<String> = db
            .conn
            .query_row(
                "SELECT last_request_id FROM users WHERE user_key = 'b@x.test'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(last.as_deref(), Some("rid-503"));
        assert_eq!(rows[2].detail, "no such user in the CSV");
        assert_eq!(db.user_totals().unwrap(), (1, 1));
    }

    #[test]
    fn history_under_the_old_tenant_text_is_adopted_by_the_tid_scope() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        // SCOPE stands for the old `--tenant contoso.com @ graph` key.
        upload_run(
            &path,
            vec![
                outcome("a@x.test", Status::Uploaded, Effect::Landed),
                outcome("b@x.test", Status::Uploaded, Effect::Landed),
            ],
            RunEnd::Finished,
        );
        let tid = "tid-guid @ graph";
        let read = StateDb::open_read_only(&path).unwrap().unwrap();
        assert!(read.landed(&[tid]).unwrap().is_empty());
        assert_eq!(
            read.landed(&[tid, SCOPE]).unwrap().len(),
            2,
            "a dry run reads both"
        );
        drop(read);
        let mut db = StateDb::open(&path).unwrap();
        assert_eq!(db.adopt_scope(SCOPE, tid).unwrap(), 2);
        assert_eq!(db.adopt_scope(SCOPE, tid).unwrap(), 0, "once");
        assert_eq!(db.adopt_scope(tid, tid).unwrap(), 0);
        let landed = db.landed(&[tid]).unwrap();
        assert_eq!(landed.len(), 2);
        assert_eq!(landed["a@x.test"].source.hash, "src-a@x.test");
        assert!(db.landed(&[SCOPE]).unwrap().is_empty());
    }

    #[test]
    fn an_interrupted_run_keeps_undone_users_pending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut db = StateDb::open(&path).unwrap();
        let items = [work_item("a@x.test"), work_item("b@x.test")];
        let run = db
            .begin_run("upload", SCOPE, None, None, None, items)
            .unwrap();
        let rec = db.recorder(run, SCOPE);
        rec.outcome(outcome("a@x.test", Status::Uploaded, Effect::Landed));
        rec.finish(RunEnd::Interrupted).unwrap();
        let db = StateDb::open_read_only(&path).unwrap().unwrap();
        assert_eq!(db.runs(1).unwrap()[0].state, "interrupted");
        let statuses: Vec<String> = db
            .items(run)
            .unwrap()
            .into_iter()
            .map(|i| i.status)
            .collect();
        assert_eq!(statuses, ["uploaded", "pending"]);
    }

    #[test]
    fn the_skip_decision_sees_only_users_whose_photo_is_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        upload_run(
            &path,
            vec![
                outcome("kept@x.test", Status::Uploaded, Effect::Landed),
                outcome("later-failed@x.test", Status::Uploaded, Effect::Landed),
                outcome("removed@x.test", Status::Uploaded, Effect::Landed),
                outcome("never@x.test", Status::Failed, Effect::None),
            ],
            RunEnd::Finished,
        );
        // A second run: one user skipped, one now fails (their record stays but the last
        // attempt failed), one still pending when the run ends.
        upload_run(
            &path,
            vec![
                outcome("kept@x.test", Status::SkippedUnchanged, Effect::None),
                outcome("later-failed@x.test", Status::InvalidImage, Effect::None),
                outcome("removed@x.test", Status::Pending, Effect::None),
            ],
            RunEnd::Interrupted,
        );
        // A tenant command removed a photo: the next upload must send it again.
        StateDb::open(&path)
            .unwrap()
            .record_run(
                "remove",
                SCOPE,
                &report_of(Row {
                    user: Some("Removed@x.test".into()),
                    status: Some(Status::Removed),
                    ..Row::default()
                }),
                &[Status::Removed],
            )
            .unwrap();

        let db = StateDb::open_read_only(&path).unwrap().unwrap();
        let landed = db.landed(&[SCOPE]).unwrap();
        let mut keys: Vec<&str> = landed.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["kept@x.test"]);
        let kept = &landed["kept@x.test"];
        assert_eq!(kept.source, source("src-kept@x.test"));
        assert_eq!(kept.settings_hash, "settings");
        assert_eq!(kept.output_hash, "out-kept@x.test");
        assert!(!kept.at.is_empty());
        assert!(db.landed(&["another-tenant"]).unwrap().is_empty(), "scoped");
        // Confirmed: kept and later-failed (its photo is still there); failed last: two.
        assert_eq!(db.user_totals().unwrap(), (2, 2));
        assert_eq!(db.runs(5).unwrap()[0].command, "remove");
    }

    fn report_of(row: Row) -> crate::report::Report {
        let mut report = crate::report::Report::new("tenant");
        report.push(row);
        report
    }

    #[test]
    fn forgetting_matches_the_graph_id_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        upload_run(
            &path,
            vec![outcome("a@x.test", Status::Uploaded, Effect::Landed)],
            RunEnd::Finished,
        );
        // A restore names the user by another spelling but the same object id.
        StateDb::open(&path)
            .unwrap()
            .record_run(
                "restore",
                SCOPE,
                &report_of(Row {
                    user: Some("alias@x.test".into()),
                    status: Some(Status::Restored),
                    graph_id: Some("id-a@x.test".into()),
                    ..Row::default()
                }),
                &[Status::Restored],
            )
            .unwrap();
        let db = StateDb::open_read_only(&path).unwrap().unwrap();
        assert!(db.landed(&[SCOPE]).unwrap().is_empty());
    }
}

//! The database's tables and their migrations, behind one version check (`PRAGMA
//! user_version`): a writer brings an older file up to date, nobody touches a newer one.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::StateError;

/// The schema as of version 1: runs, their rows, and the per-user record.
const V1: &str = "
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
    );";

/// Version 2: Graph's `request-id` of each failure, per run row and per user (Microsoft
/// support asks for it).
const V2: &str = "
    ALTER TABLE run_items ADD COLUMN request_id TEXT;
    ALTER TABLE users ADD COLUMN last_request_id TEXT;";

/// `MIGRATIONS[i]` takes a file from version `i` to `i + 1`. Append, never edit: a file
/// written by this release must open in every later one.
const MIGRATIONS: &[&str] = &[V1, V2];

/// The version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What a file's version means for this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Never set up (a new or empty file): nothing recorded.
    Empty,
    /// Written by an older release; a writer migrates it.
    Older(i64),
    Current,
}

/// The one version check, for readers and writers alike. A file from a newer release is
/// refused: its meaning is unknown here, and an older build must not damage it.
pub fn check(conn: &Connection, path: &Path) -> Result<Version, StateError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| StateError::Sql {
            path: path.to_path_buf(),
            source,
        })?;
    classify(found, path)
}

fn classify(found: i64, path: &Path) -> Result<Version, StateError> {
    match found {
        0 => Ok(Version::Empty),
        v if v == SCHEMA_VERSION => Ok(Version::Current),
        v if (1..SCHEMA_VERSION).contains(&v) => Ok(Version::Older(v)),
        v if v < 0 => Err(StateError::UnknownVersion {
            path: path.to_path_buf(),
            found: v,
        }),
        v => Err(StateError::Newer {
            path: path.to_path_buf(),
            found: v,
        }),
    }
}

/// Sets a writer's connection up and brings the file to [`SCHEMA_VERSION`], one
/// transaction per step so that a crash mid-way leaves a file of a known version.
pub fn migrate(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let sql = |source| StateError::Sql {
        path: path.to_path_buf(),
        source,
    };
    conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
    // Checked before anything is set: a newer release's file is left exactly as it is.
    let from = match check(conn, path)? {
        Version::Current => None,
        Version::Empty => Some(0),
        Version::Older(v) => Some(v),
    };
    // WAL: a transaction is either wholly in the file or not at all, whenever the
    // process dies; NORMAL sync is durable against a crashed or killed process (a
    // power cut may lose the last few outcomes, which are then simply redone).
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql)?;
    let Some(from) = from else {
        return Ok(());
    };
    for (i, step) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let to = i + 1;
        conn.execute_batch(&format!(
            "BEGIN; {step}\n PRAGMA user_version = {to}; COMMIT;"
        ))
        .map_err(sql)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_new_file_is_migrated_to_the_current_version_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(check(&conn, &path).unwrap(), Version::Empty);
        migrate(&conn, &path).unwrap();
        assert_eq!(check(&conn, &path).unwrap(), Version::Current);
        assert_eq!(tables(&conn), ["run_items", "runs", "users"]);
        // Again: nothing to do, nothing fails.
        migrate(&conn, &path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_newer_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&conn, &path).unwrap_err();
        assert!(matches!(err, StateError::Newer { found, .. } if found == SCHEMA_VERSION + 1));
        let text = err.to_string();
        assert!(
            text.contains("future.db") && text.contains("newer"),
            "{text}"
        );
        assert!(tables(&conn).is_empty(), "a newer file is left alone");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_ne!(mode, "wal", "not even its journal mode is changed");
    }

    #[test]
    fn a_version_1_file_gains_the_request_id_columns_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("{V1}\n PRAGMA user_version = 1;"))
            .unwrap();
        conn.execute(
            "INSERT INTO runs (command, scope, started_at, state) VALUES ('upload', 's', 't', 'finished')",
            [],
        )
        .unwrap();
        assert_eq!(check(&conn, &path).unwrap(), Version::Older(1));
        migrate(&conn, &path).unwrap();
        assert_eq!(check(&conn, &path).unwrap(), Version::Current);
        let runs: i64 = conn
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 1);
        for (table, column) in [("run_items", "request_id"), ("users", "last_request_id")] {
            let n: i64 = conn
                .query_row(
                    &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
                    [column],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "{table}.{column}");
        }
    }

    #[test]
    fn versions_are_classified() {
        let p = Path::new("x.db");
        assert_eq!(classify(0, p).unwrap(), Version::Empty);
        assert_eq!(classify(SCHEMA_VERSION, p).unwrap(), Version::Current);
        assert!(classify(SCHEMA_VERSION + 1, p).is_err());
        let err = classify(-1, p).unwrap_err().to_string();
        assert!(err.contains("x.db") && err.contains("-1"), "{err}");
        if SCHEMA_VERSION > 1 {
            assert_eq!(classify(1, p).unwrap(), Version::Older(1));
        }
    }
}

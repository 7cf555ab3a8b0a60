//! Errors that stop a whole command before any work starts (usage and configuration).
//!
//! Per-item problems are never errors of this kind: they become report rows.

use std::path::PathBuf;

/// A problem with what the user asked for; the command exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("photos folder {path}: {reason}")]
    PhotosFolder { path: PathBuf, reason: String },
    #[error("users CSV {path}: {reason}")]
    UsersCsv { path: PathBuf, reason: String },
    #[error(
        "users CSV {path} has no column named {column:?} (for {flag}); its columns are: {found}"
    )]
    MissingColumn {
        path: PathBuf,
        column: String,
        flag: &'static str,
        found: String,
    },
    #[error("{flag}: {reason}")]
    Invalid { flag: &'static str, reason: String },
    #[error("{path}: {reason}")]
    Output { path: PathBuf, reason: String },
}

/// Exit codes, oxipng-style: the worst outcome decides.
pub mod exit {
    pub const OK: i32 = 0;
    pub const SOME_FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: i32 = 130;
}

//! Saving users' current photos to a folder with a manifest, and reading a backup back:
//! the one backup code path for `backup`, `remove` and `upload` (before each replace).

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::graph::{GraphFailure, PhotoProblem, TenantGraph, TenantUser};
use crate::commands::prepare::safe_file_name;
use crate::report::{Row, Status};

/// The manifest's file name inside a backup folder.
pub const MANIFEST: &str = "manifest.csv";

/// One manifest line: a user and what was saved for them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    /// The user as the CSV (or the tenant listing) named them.
    #[serde(with = "crate::report::csv::cell")]
    pub user: String,
    /// Object id, when Graph knows the user.
    #[serde(with = "crate::report::csv::cell")]
    pub id: String,
    #[serde(with = "crate::report::csv::cell")]
    pub upn: String,
    /// `backed-up`, `no-tenant-photo`, `user-not-found` or `failed`.
    pub status: String,
    /// Photo file, relative to the backup folder (empty without a photo).
    #[serde(with = "crate::report::csv::cell")]
    pub file: String,
    pub bytes: Option<u64>,
    pub sha256: String,
    /// When the photo was read (RFC 3339, UTC).
    pub time: String,
    #[serde(with = "crate::report::csv::cell")]
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("backup manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
}

/// What happened when saving one user's photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub entry: ManifestEntry,
    pub status: Status,
    pub attempts: u32,
    pub failure: Option<GraphFailure>,
    /// The photo bytes, kept only when the caller asked for them.
    pub bytes: Option<Vec<u8>>,
}

impl Saved {
    /// True when it is safe to change the user's photo: a copy exists, or there was nothing to copy.
    pub fn safe_to_replace(&self) -> bool {
        matches!(self.status, Status::BackedUp | Status::NoTenantPhoto)
    }

    /// A remark for the row of the upload that follows the backup.
    pub fn note(&self) -> Option<String> {
        match self.status {
            Status::BackedUp => Some(format!("previous photo backed up as {}", self.entry.file)),
            Status::NoTenantPhoto => Some("no previous photo to back up".into()),
            _ => None,
        }
    }

    /// The report row for this backup.
    pub fn row(&self) -> Row {
        let f = self.failure.as_ref();
        Row {
            user: Some(self.entry.user.clone()),
            status: Some(self.status),
            detail: self.entry.detail.clone(),
            output_file: (!self.entry.file.is_empty()).then(|| self.entry.file.clone()),
            output_bytes: self.entry.bytes,
            attempts: Some(self.attempts),
            http_status: f.and_then(|f| f.http_status),
            graph_code: f.and_then(|f| f.code.clone()),
            ..Row::default()
        }
    }
}

/// A backup folder being written: photos plus a manifest appended (and flushed) line by
/// line, so an interrupted run still leaves a readable manifest.
#[derive(Debug)]
pub struct BackupDir {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    manifest: csv::Writer<File>,
    names: HashSet<String>,
}

/// Now, RFC 3339 UTC to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A folder name for a backup made now: `photo-backup-20261123T031500Z`.
pub fn timestamped_name() -> String {
    let t = now_rfc3339().replace([':', '-'], "");
    format!("photo-backup-{t}")
}

impl BackupDir {
    /// Creates the folder (and parents); appends to an existing manifest, so a resumed
    /// run adds to the same backup and never drops earlier lines.
    pub fn create(dir: &Path) -> Result<BackupDir, BackupError> {
        std::fs::create_dir_all(dir).map_err(|source| BackupError::Folder {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(MANIFEST);
        let exists = path.metadata().map(|m| m.len() > 0).unwrap_or(false);
        let mut names = HashSet::new();
        if exists {
            for e in read_manifest(dir)? {
                if !e.file.is_empty() {
                    names.insert(e.file.to_lowercase());
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| BackupError::Folder {
                path: path.clone(),
                source,
            })?;
        let manifest = csv::WriterBuilder::new()
            .has_headers(!exists)
            .from_writer(file);
        Ok(BackupDir {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner { manifest, names }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Reads `user`'s current photo and saves it with a manifest line. Never fails as a
    /// whole: every outcome (no photo, no mailbox, unknown user, errors) is in the result.
    /// `target` is the resolved user when known (its id is used), else `user` is sent as is.
    pub async fn save<G: TenantGraph>(
        &self,
        graph: &G,
        user: &str,
        target: Option<&TenantUser>,
        keep_bytes: bool,
    ) -> Saved {
        let key = target.map_or(user, |t| t.id.as_str());
        let time = now_rfc3339();
        let mut entry = ManifestEntry {
            user: user.to_string(),
            id: target.map(|t| t.id.clone()).unwrap_or_default(),
            upn: target.map(|t| t.upn.clone()).unwrap_or_default(),
            status: String::new(),
            file: String::new(),
            bytes: None,
            sha256: String::new(),
            time,
            detail: String::new(),
        };
        let (status, attempts, failure, bytes) = match graph.get_photo(key).await {
            Ok(done) => match self.write_photo(user, &done.value) {
                Ok(file) => {
                    entry.file = file;
                    entry.bytes = Some(done.value.len() as u64);
                    entry.sha256 = hex::encode(Sha256::digest(&done.value));
                    entry.detail = format!("saved to {}", self.dir.join(&entry.file).display());
                    (Status::BackedUp, done.attempts, None, Some(done.value))
                }
                Err(e) => {
                    entry.detail = format!("could not write the backup: {e}");
                    (Status::Failed, done.attempts, None, None)
                }
            },
            Err(f) => {
                let status = match f.problem() {
                    PhotoProblem::NoPhoto => {
                        entry.detail = "no photo in the tenant".into();
                        Status::NoTenantPhoto
                    }
                    PhotoProblem::NoMailbox => {
                        entry.detail = format!(
                            "no Exchange Online mailbox, so no photo Graph can read ({})",
                            f.detail()
                        );
                        Status::NoTenantPhoto
                    }
                    PhotoProblem::UnknownUser => {
                        entry.detail =
                            format!("Microsoft 365 does not know this user ({})", f.detail());
                        Status::UserNotFound
                    }
                    PhotoProblem::Other => {
                        entry.detail = format!("could not read the current photo: {}", f.detail());
                        Status::Failed
                    }
                };
                (status, f.attempts, Some(f), None)
            }
        };
        entry.status = status.as_str().to_string();
        if let Err(e) = self.append(&entry) {
            entry
                .detail
                .push_str(&format!("; manifest not written: {e}"));
            return Saved {
                entry,
                status: Status::Failed,
                attempts,
                failure,
                bytes: None,
            };
        }
        Saved {
            entry,
            status,
            attempts,
            failure,
            bytes: bytes.filter(|_| keep_bytes),
        }
    }

    /// Writes the photo under a name of its own (never over an earlier backup), atomically.
    fn write_photo(&self, user: &str, bytes: &[u8]) -> std::io::Result<String> {
        let ext = if bytes.starts_with(b"\x89PNG") {
            "png"
        } else {
            "jpg"
        };
        let base = safe_file_name(user);
        let name = {
            let mut inner = self
                .inner
                .lock()
                .map_err(|_| std::io::Error::other("backup state poisoned"))?;
            let mut n = 1;
            loop {
                let candidate = if n == 1 {
                    format!("{base}.{ext}")
                } else {
                    format!("{base}-{n}.{ext}")
                };
                let key = candidate.to_lowercase();
                if !inner.names.contains(&key) && !self.dir.join(&candidate).exists() {
                    inner.names.insert(key);
                    break candidate;
                }
                n += 1;
            }
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.dir.join(&name)).map_err(|e| e.error)?;
        Ok(name)
    }

    /// Lists a user Graph does not know, so the manifest accounts for every user asked for.
    pub fn record_unknown(&self, user: &str) {
        let entry = ManifestEntry {
            user: user.to_string(),
            id: String::new(),
            upn: String::new(),
            status: Status::UserNotFound.as_str().to_string(),
            file: String::new(),
            bytes: None,
            sha256: String::new(),
            time: now_rfc3339(),
            detail: "Microsoft 365 does not know this user".into(),
        };
        if let Err(e) = self.append(&entry) {
            tracing::warn!("backup manifest: {e}");
        }
    }

    fn append(&self, entry: &ManifestEntry) -> std::io::Result<()> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("backup state poisoned"))?;
        inner
            .manifest
            .serialize(entry)
            .map_err(std::io::Error::other)?;
        inner.manifest.flush()
    }
}

/// The upload stage's hook before each PUT: saves the user's current photo (by object
/// id). `Err` says why the photo must not be replaced (no copy could be made).
pub async fn before_replace(
    dir: &BackupDir,
    client: &std::sync::Arc<crate::graph::GraphClient>,
    user: &str,
    user_id: &str,
) -> Result<Saved, String> {
    let graph = super::client::GraphTenant::new(std::sync::Arc::clone(client), 1);
    let target = TenantUser {
        id: user_id.to_string(),
        upn: String::new(),
    };
    let saved = dir.save(&graph, user, Some(&target), false).await;
    if saved.safe_to_replace() {
        Ok(saved)
    } else {
        Err(format!(
            "not uploaded: the current photo could not be backed up first ({})",
            saved.entry.detail
        ))
    }
}

/// Reads a backup folder's manifest.
pub fn read_manifest(dir: &Path) -> Result<Vec<ManifestEntry>, BackupError> {
    let path = dir.join(MANIFEST);
    let bad = |reason: String| BackupError::Manifest {
        path: path.clone(),
        reason,
    };
    let file = File::open(&path).map_err(|e| {
        bad(format!(
            "{e} (is {} a folder made by `m365-photos backup`?)",
            dir.display()
        ))
    })?;
    let mut reader = csv::Reader::from_reader(file);
    let mut out = Vec::new();
    for (i, rec) in reader.deserialize::<ManifestEntry>().enumerate() {
        out.push(rec.map_err(|e| bad(format!("line {}: {e}", i + 2)))?);
    }
    Ok(out)
}

/// What restoring one manifest entry needs: the file's bytes, checked against the manifest.
pub fn load_backed_up(dir: &Path, e: &ManifestEntry) -> Result<Vec<u8>, String> {
    if e.file.is_empty() || e.file.contains(['/', '\\']) || e.file.starts_with('.') {
        return Err(format!("manifest names no usable file ({:?})", e.file));
    }
    let path = dir.join(&e.file);
    let bytes = std::fs::read(&path).map_err(|err| format!("{}: {err}", path.display()))?;
    let sum = hex::encode(Sha256::digest(&bytes));
    if !e.sha256.is_empty() && !sum.eq_ignore_ascii_case(&e.sha256) {
        return Err(format!(
            "{} changed since the backup (sha256 {sum}, manifest says {}); not restored",
            path.display(),
            e.sha256
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str, file: &str, sha: &str) -> ManifestEntry {
        ManifestEntry {
            user: user.into(),
            id: "id-1".into(),
            upn: user.into(),
            status: "backed-up".into(),
            file: file.into(),
            bytes: Some(3),
            sha256: sha.into(),
            time: now_rfc3339(),
            detail: String::new(),
        }
    }

    #[test]
    fn manifest_round_trip_and_append() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b = BackupDir::create(dir.path()).unwrap();
            b.append(&entry("a@x.test", "a@x.test.jpg", "")).unwrap();
            assert_eq!(b.write_photo("a/b", b"abc").unwrap(), "a_b.jpg");
            assert_eq!(b.write_photo("a/b", b"abc").unwrap(), "a_b-2.jpg");
        }
        {
            // A second run appends without a second header and keeps names taken.
            let b = BackupDir::create(dir.path()).unwrap();
            b.append(&entry("b@x.test", "", "")).unwrap();
            assert_eq!(b.write_photo("a/b", b"x").unwrap(), "a_b-3.jpg");
        }
        let all = read_manifest(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].user, "b@x.test");
        assert_eq!(all[1].bytes, Some(3));
    }

    #[test]
    fn restore_checks_sha() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("u.jpg"), b"abc").unwrap();
        let good = hex::encode(Sha256::digest(b"abc"));
        assert_eq!(
            load_backed_up(dir.path(), &entry("u", "u.jpg", &good)).unwrap(),
            b"abc"
        );
        let err = load_backed_up(dir.path(), &entry("u", "u.jpg", "00")).unwrap_err();
        assert!(err.contains("changed since the backup"));
        assert!(load_backed_up(dir.path(), &entry("u", "../u.jpg", "")).is_err());
        assert!(load_backed_up(dir.path(), &entry("u", "", "")).is_err());
        assert!(read_manifest(&dir.path().join("nope")).is_err());
    }

    #[test]
    fn timestamped() {
        let n = timestamped_name();
        assert!(n.starts_with("photo-backup-20"));
        assert!(!n.contains(':'));
    }
}

//! Saving users' current photos to a folder with a manifest, and reading a backup back:
//! the one backup code path for `backup`, `remove` and `upload` (before each replace).
//! Only a real image counts as a backup; an upload keeps one folder per state database.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::graph::{GraphError, GraphUser, Kind, PhotoApi};
use crate::report::{Row, Status};
use crate::util::names::safe_file_name;
use crate::util::time::now_rfc3339;

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

impl BackupError {
    /// A folder that cannot be made or read, or a manifest that is not one, is for the
    /// user to fix before anything can run.
    pub fn exit_code(&self) -> i32 {
        crate::config::exit::USAGE
    }
}

/// The most a backup may hold: Graph's own photo limit.
pub const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;

/// What happened when saving one user's photo.
#[derive(Debug, Clone)]
pub struct Saved {
    pub entry: ManifestEntry,
    pub status: Status,
    pub attempts: u32,
    pub failure: Option<GraphError>,
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
            Status::NoTenantPhoto if self.entry.detail.contains("earlier run") => {
                Some("no previous photo (recorded by an earlier run)".into())
            }
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
            http_status: f.and_then(|f| f.status),
            graph_code: f.and_then(|f| f.code.clone()),
            request_id: f.and_then(|f| f.request_id.clone()),
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
    /// Upload mode: a user this folder already holds (a copy, or "had no photo") is not
    /// read again, because a resumed run would otherwise save its own earlier upload.
    once_per_user: bool,
    /// The first usable manifest line per user (id, else name; lower case).
    earlier: HashMap<String, ManifestEntry>,
}

#[derive(Debug)]
struct Inner {
    manifest: csv::Writer<File>,
    names: HashSet<String>,
}

/// A folder name for a backup made now: `photo-backup-20261123T031500Z`.
pub fn timestamped_name() -> String {
    format!("photo-backup-{}", crate::util::time::now_compact())
}

/// The folder `upload` backs up into under `plan` (`None`: no backup): `--backup-dir`,
/// else the one recorded beside the state database, else a new one beside the report
/// (else in the current folder). Nothing is created.
pub fn planned_dir(
    plan: &crate::config::BackupPlan,
    report: Option<&Path>,
    state: Option<&Path>,
) -> Option<PathBuf> {
    use crate::config::BackupPlan;
    match plan {
        BackupPlan::Off => None,
        BackupPlan::Dir(d) => Some(d.clone()),
        BackupPlan::Auto => Some(state.and_then(remembered_dir).unwrap_or_else(|| {
            crate::util::fs::parent_dir(report.unwrap_or(Path::new("x"))).join(timestamped_name())
        })),
    }
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
        let mut earlier = HashMap::new();
        if exists {
            for e in read_manifest(dir)? {
                if !e.file.is_empty() {
                    names.insert(e.file.to_lowercase());
                }
                let usable = e.status == Status::BackedUp.as_str()
                    || e.status == Status::NoTenantPhoto.as_str();
                if usable {
                    earlier.entry(who(&e.id, &e.user)).or_insert(e);
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
            once_per_user: false,
            earlier,
        })
    }

    /// Upload mode (see `once_per_user`): what this folder holds for a user is theirs
    /// from before the first change, so it is never replaced by a later read.
    pub fn once_per_user(mut self) -> BackupDir {
        self.once_per_user = true;
        self
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Reads `user`'s current photo and saves it with a manifest line. Never fails as a
    /// whole: every outcome (no photo, no mailbox, unknown user, errors) is in the result.
    /// `target` is the resolved user when known (its id is used), else `user` is sent as is.
    pub async fn save<G: PhotoApi>(
        &self,
        graph: &G,
        user: &str,
        target: Option<&GraphUser>,
    ) -> Saved {
        let id = target.map(|t| t.id.clone()).unwrap_or_default();
        if self.once_per_user
            && let Some(prev) = self.earlier.get(&who(&id, user))
        {
            let status = if prev.status == Status::BackedUp.as_str() {
                Status::BackedUp
            } else {
                Status::NoTenantPhoto
            };
            let mut entry = prev.clone();
            entry.detail = match status {
                Status::BackedUp => format!(
                    "already backed up by an earlier run into this folder ({}): that copy is the original, so it is not read again",
                    entry.file
                ),
                _ => "had no photo when an earlier run into this folder looked; not read again"
                    .into(),
            };
            return Saved {
                entry,
                status,
                attempts: 0,
                failure: None,
            };
        }
        let key = target.map_or(user, |t| t.id.as_str());
        let mut entry = ManifestEntry {
            user: user.to_string(),
            id,
            upn: target.and_then(|t| t.upn.clone()).unwrap_or_default(),
            status: String::new(),
            file: String::new(),
            bytes: None,
            sha256: String::new(),
            time: now_rfc3339(),
            detail: String::new(),
        };
        let (status, attempts, failure) = match graph.get_photo(key).await {
            Ok(photo) => {
                let checked = check_content_type(photo.content_type.as_deref())
                    .and_then(|()| check_image(&photo.bytes));
                match checked {
                    Err(why) => {
                        entry.detail = format!(
                            "the current photo Graph returned is not a usable image ({why}): no backup, so the photo is left alone"
                        );
                        (Status::Failed, photo.attempts, None)
                    }
                    Ok(ext) => match self.write_photo(user, &photo.bytes, ext) {
                        Ok(file) => {
                            entry.file = file;
                            entry.bytes = Some(photo.bytes.len() as u64);
                            entry.sha256 = hex::encode(Sha256::digest(&photo.bytes));
                            entry.detail =
                                format!("saved to {}", self.dir.join(&entry.file).display());
                            (Status::BackedUp, photo.attempts, None)
                        }
                        Err(e) => {
                            entry.detail = format!("could not write the backup: {e}");
                            (Status::Failed, photo.attempts, None)
                        }
                    },
                }
            }
            Err(f) => {
                let (status, detail) = read_failure(&f, target.is_some());
                entry.detail = detail;
                (status, f.attempts, Some(f))
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
            };
        }
        Saved {
            entry,
            status,
            attempts,
            failure,
        }
    }

    /// Writes the photo under a name of its own (never over an earlier backup), atomically.
    fn write_photo(&self, user: &str, bytes: &[u8], ext: &str) -> std::io::Result<String> {
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
        crate::util::fs::write_atomically(&self.dir.join(&name), bytes)?;
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
pub async fn before_replace<G: PhotoApi>(
    dir: &BackupDir,
    graph: &G,
    user: &str,
    user_id: &str,
) -> Result<Saved, String> {
    let target = GraphUser {
        id: user_id.to_string(),
        upn: None,
        mail: None,
        employee_id: None,
        account_enabled: None,
        user_type: None,
    };
    let saved = dir.save(graph, user, Some(&target)).await;
    if saved.safe_to_replace() {
        Ok(saved)
    } else {
        Err(format!(
            "not uploaded: the current photo could not be backed up first ({})",
            saved.entry.detail
        ))
    }
}

/// A manifest's key for a user: the object id when known, else the name (lower case).
fn who(id: &str, user: &str) -> String {
    if id.is_empty() {
        user.trim().to_lowercase()
    } else {
        id.trim().to_lowercase()
    }
}

/// What a failed read of the current photo means for the backup. For a user just
/// resolved by id, any 404 means "nothing to back up" (the photo service answers 404 in
/// several shapes); 401, 403, 429 past the budget and 5xx fail closed.
pub fn read_failure(f: &GraphError, resolved: bool) -> (Status, String) {
    match f.kind {
        Kind::Interrupted => (Status::Pending, f.detail()),
        Kind::UnknownUser if !resolved => (
            Status::UserNotFound,
            format!("Microsoft 365 does not know this user ({})", f.detail()),
        ),
        Kind::NoPhoto if f.code.as_deref().is_none_or(|c| c == "ImageNotFound") => {
            (Status::NoTenantPhoto, "no photo in the tenant".into())
        }
        Kind::NoMailbox | Kind::OnPremMailbox => (
            Status::NoTenantPhoto,
            format!("no photo Graph can read: {}", f.detail()),
        ),
        _ if f.status == Some(404) => (
            Status::NoTenantPhoto,
            format!("nothing to back up: {}", f.detail()),
        ),
        _ => (
            Status::Failed,
            format!("could not read the current photo: {}", f.detail()),
        ),
    }
}

/// A backup is only as good as its Content-Type: an HTML login page is not a photo.
pub fn check_content_type(ctype: Option<&str>) -> Result<(), String> {
    match ctype {
        Some(c) if c.trim().to_ascii_lowercase().starts_with("image/") => Ok(()),
        Some(c) => Err(format!(
            "Content-Type {:?}, not an image",
            c.chars().take(60).collect::<String>()
        )),
        None => Err("no Content-Type".into()),
    }
}

/// Checks that `bytes` are one real, non-empty image within Graph's 4 MB limit (magic
/// bytes and a header decode); returns the file extension for it.
pub fn check_image(bytes: &[u8]) -> Result<&'static str, String> {
    use image::ImageFormat;
    if bytes.is_empty() {
        return Err("empty".into());
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(format!(
            "{} bytes, over Graph's 4 MB photo limit",
            bytes.len()
        ));
    }
    let (format, ext) = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        (ImageFormat::Jpeg, "jpg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        (ImageFormat::Png, "png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        (ImageFormat::Gif, "gif")
    } else if bytes.starts_with(b"BM") {
        (ImageFormat::Bmp, "bmp")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        (ImageFormat::WebP, "webp")
    } else {
        let start: String = String::from_utf8_lossy(&bytes[..bytes.len().min(16)])
            .escape_debug()
            .collect();
        return Err(format!(
            "not a JPEG, PNG, GIF, BMP or WebP image (starts with \"{start}\")"
        ));
    };
    let reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    match reader.into_dimensions() {
        Ok((w, h)) if w > 0 && h > 0 => Ok(ext),
        Ok((w, h)) => Err(format!("a {w}x{h} image")),
        Err(e) => Err(format!("its header does not decode: {e}")),
    }
}

/// Where an upload's state database remembers its backup folder: `<state>.backup-dir`,
/// a one-line text file beside the database, so that every resumed run (and `restore`)
/// uses the one folder whose copies are the originals.
pub fn remembered_file(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_os_string();
    name.push(".backup-dir");
    PathBuf::from(name)
}

/// The backup folder recorded for `state`, when it still exists.
pub fn remembered_dir(state: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(remembered_file(state)).ok()?;
    let dir = PathBuf::from(text.trim());
    (!text.trim().is_empty() && dir.is_dir()).then_some(dir)
}

/// Records `dir` as `state`'s backup folder (absolute, so a run from elsewhere finds it).
pub fn remember_dir(state: &Path, dir: &Path) -> std::io::Result<()> {
    let abs = std::fs::canonicalize(dir)?;
    let line = format!("{}\n", abs.display());
    crate::util::fs::write_atomically(&remembered_file(state), line.as_bytes())
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
    check_image(&bytes).map_err(|why| {
        format!(
            "{} is not a usable image ({why}); not restored",
            path.display()
        )
    })?;
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

    fn jpeg() -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([x as u8 * 20, y as u8 * 20, 9]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    fn png() -> Vec<u8> {
        let img = image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn manifest_round_trip_and_append() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b = BackupDir::create(dir.path()).unwrap();
            b.append(&entry("a@x.test", "a@x.test.jpg", "")).unwrap();
            assert_eq!(b.write_photo("a/b", b"abc", "jpg").unwrap(), "a_b.jpg");
            assert_eq!(b.write_photo("a/b", b"abc", "jpg").unwrap(), "a_b-2.jpg");
        }
        {
            // A second run appends without a second header and keeps names taken.
            let b = BackupDir::create(dir.path()).unwrap();
            b.append(&entry("b@x.test", "", "")).unwrap();
            assert_eq!(b.write_photo("a/b", b"x", "jpg").unwrap(), "a_b-3.jpg");
            // The first usable line per user is remembered for upload mode.
            assert_eq!(b.earlier.get("id-1").unwrap().user, "a@x.test");
        }
        let all = read_manifest(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].user, "b@x.test");
        assert_eq!(all[1].bytes, Some(3));
    }

    #[test]
    fn restore_checks_sha_and_refuses_what_is_not_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let photo = jpeg();
        std::fs::write(dir.path().join("u.jpg"), &photo).unwrap();
        let good = hex::encode(Sha256::digest(&photo));
        assert_eq!(
            load_backed_up(dir.path(), &entry("u", "u.jpg", &good)).unwrap(),
            photo
        );
        let err = load_backed_up(dir.path(), &entry("u", "u.jpg", "00")).unwrap_err();
        assert!(err.contains("changed since the backup"));
        assert!(load_backed_up(dir.path(), &entry("u", "../u.jpg", "")).is_err());
        assert!(load_backed_up(dir.path(), &entry("u", "", "")).is_err());
        assert!(read_manifest(&dir.path().join("nope")).is_err());
        // A junk backup (an HTML page saved by an older version) is never put back.
        let html = b"<html>login</html>";
        std::fs::write(dir.path().join("h.jpg"), html).unwrap();
        let sum = hex::encode(Sha256::digest(html));
        let err = load_backed_up(dir.path(), &entry("h", "h.jpg", &sum)).unwrap_err();
        assert!(err.contains("not a usable image"), "{err}");
    }

    #[test]
    fn only_real_images_count() {
        assert_eq!(check_image(&jpeg()), Ok("jpg"));
        assert_eq!(check_image(&png()), Ok("png"));
        assert!(check_image(b"").unwrap_err().contains("empty"));
        assert!(
            check_image(b"<!DOCTYPE html><html>")
                .unwrap_err()
                .contains("not a JPEG")
        );
        // JPEG magic, but no decodable header behind it.
        let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0];
        fake.extend_from_slice(&[0u8; 64]);
        assert!(
            check_image(&fake).unwrap_err().contains("header"),
            "{:?}",
            check_image(&fake)
        );
        let mut big = jpeg();
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        assert!(check_image(&big).unwrap_err().contains("4 MB"));
        assert!(check_content_type(Some("image/jpeg")).is_ok());
        assert!(check_content_type(Some("Image/PNG; charset=binary")).is_ok());
        assert!(check_content_type(Some("text/html; charset=utf-8")).is_err());
        assert!(check_content_type(None).is_err());
    }

    #[test]
    fn a_404_on_a_resolved_user_is_nothing_to_back_up_and_the_rest_fails_closed() {
        let e = |status: u16, code: &str| {
            let rule =
                crate::graph::codes::classify(crate::graph::Endpoint::PhotoGet, status, code);
            GraphError {
                status: Some(status),
                code: (!code.is_empty()).then(|| code.to_string()),
                kind: rule.kind,
                hint: rule.hint,
                ..GraphError::new(rule.kind, "x")
            }
        };
        for code in [
            "ImageNotFound",
            "ResourceNotFound",
            "ErrorItemNotFound",
            "Other",
            "",
        ] {
            assert_eq!(
                read_failure(&e(404, code), true).0,
                Status::NoTenantPhoto,
                "{code}"
            );
        }
        let (_, detail) = read_failure(&e(404, "ResourceNotFound"), true);
        assert!(detail.contains("ResourceNotFound"), "{detail}");
        for (status, code) in [
            (401, ""),
            (403, "ErrorAccessDenied"),
            (429, ""),
            (500, ""),
            (503, ""),
        ] {
            assert_eq!(
                read_failure(&e(status, code), true).0,
                Status::Failed,
                "{status}"
            );
        }
    }

    #[test]
    fn the_backup_folder_is_remembered_beside_the_state_database() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("photos.m365-photos.db");
        assert_eq!(remembered_dir(&state), None);
        let bk = dir.path().join("photo-backup-x");
        std::fs::create_dir_all(&bk).unwrap();
        remember_dir(&state, &bk).unwrap();
        assert_eq!(
            remembered_file(&state),
            dir.path().join("photos.m365-photos.db.backup-dir")
        );
        assert_eq!(
            remembered_dir(&state),
            Some(std::fs::canonicalize(&bk).unwrap())
        );
        std::fs::remove_dir(&bk).unwrap();
        assert_eq!(
            remembered_dir(&state),
            None,
            "a vanished folder is not reused"
        );
    }

    #[test]
    fn timestamped() {
        let n = timestamped_name();
        assert!(n.starts_with("photo-backup-20"));
        assert!(!n.contains(':'));
    }
}

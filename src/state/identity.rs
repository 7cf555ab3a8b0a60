//! What identifies a photo for the skip decision: the source file (path, size, mtime,
//! SHA-256), the settings digest and the output digest; and where the database lives.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use super::Landed;
use crate::config::ImageOptions;

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
    let mut text = format!(
        "size={};max_bytes={};quality={};min_quality={};crop={}",
        opts.size,
        opts.max_bytes,
        opts.quality,
        opts.min_quality,
        opts.crop.as_str()
    );
    // Only a non-default framing is in the digest, so that the state databases written
    // before framing existed still match the default settings.
    if opts.framing != crate::config::Framing::Standard {
        text.push_str(&format!(";framing={}", opts.framing.as_str()));
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The settings as people read them (stored with each run).
pub fn settings_text(opts: &ImageOptions) -> String {
    format!(
        "size {} px, budget {} bytes, quality <= {}, crop {}, framing {}",
        opts.size,
        opts.max_bytes,
        opts.quality,
        opts.crop.as_str(),
        opts.framing.as_str()
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
        // An unknown mtime (0) proves nothing: hash the file then.
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
        Ok(SourceId {
            path: path_text,
            size,
            mtime_ns,
            hash: hash_file(path)?,
        })
    }
}

/// SHA-256 of a file, hex, read in blocks so that a large file costs no memory.
fn hash_file(path: &Path) -> std::io::Result<String> {
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
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CropMode;

    fn image_opts() -> ImageOptions {
        ImageOptions {
            crop: CropMode::Face,
            ..ImageOptions::default()
        }
    }

    #[test]
    fn hash_bytes_is_sha256_hex() {
        // The SHA-256 test vector for "abc" (FIPS 180-2).
        assert_eq!(
            hash_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn every_setting_that_shapes_the_photo_changes_the_settings_hash() {
        let base = image_opts();
        let h = settings_hash(&base);
        assert_eq!(h, settings_hash(&image_opts()), "stable across calls");
        let variants = [
            ImageOptions {
                size: base.size / 2,
                ..image_opts()
            },
            ImageOptions {
                max_bytes: base.max_bytes / 2,
                ..image_opts()
            },
            ImageOptions {
                quality: base.quality - 10,
                ..image_opts()
            },
            ImageOptions {
                min_quality: base.min_quality - 5,
                ..image_opts()
            },
            ImageOptions {
                crop: CropMode::Centre,
                ..image_opts()
            },
        ];
        for v in &variants {
            assert_ne!(settings_hash(v), h, "{v:?}");
        }
        assert!(settings_text(&base).contains(&format!("{} px", base.size)));
    }

    #[test]
    fn a_known_unchanged_file_is_not_read_and_a_changed_one_is_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        std::fs::write(&path, b"abc").unwrap();
        let first = SourceId::of(&path, None).unwrap();
        assert_eq!(first.hash, hash_bytes(b"abc"));
        assert_eq!(first.size, 3);
        assert_ne!(first.mtime_ns, 0);

        // Same path, size and mtime: the recorded hash is trusted (here a fake one, which
        // proves the file was not read).
        let mut known = Landed {
            source: first.clone(),
            settings_hash: String::new(),
            output_hash: String::new(),
            at: String::new(),
        };
        known.source.hash = "recorded".into();
        assert_eq!(SourceId::of(&path, Some(&known)).unwrap().hash, "recorded");

        // Another size: hashed again.
        std::fs::write(&path, b"abcd").unwrap();
        let changed = SourceId::of(&path, Some(&known)).unwrap();
        assert_eq!(changed.hash, hash_bytes(b"abcd"));

        // A record of an unknown mtime is never trusted.
        known.source = changed.clone();
        known.source.mtime_ns = 0;
        known.source.hash = "recorded".into();
        assert_eq!(
            SourceId::of(&path, Some(&known)).unwrap().hash,
            hash_bytes(b"abcd")
        );
        assert!(SourceId::of(&dir.path().join("absent.jpg"), None).is_err());
    }

    #[test]
    fn default_path_sits_beside_the_photos_folder() {
        let p = default_path(Path::new("/hr/photos/"));
        assert_eq!(p, PathBuf::from("/hr/photos.m365-photos.db"));
        let p = default_path(Path::new("/hr/x/../photos"));
        assert!(p.ends_with("photos.m365-photos.db"), "{}", p.display());
    }
}

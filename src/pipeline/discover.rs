//! Walks the photos folder and lists every candidate photo file, with its format
//! sniffed from content.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::config::ConfigError;
use crate::process::format::{SourceFormat, sniff};

/// One file found under the photos folder.
#[derive(Debug, Clone)]
pub struct PhotoFile {
    /// Path as walked (photos folder joined with the relative path).
    pub path: PathBuf,
    /// Path relative to the photos folder, for reports.
    pub rel: String,
    /// File name without its extension: what the CSV's match column is compared to.
    pub stem: String,
    pub bytes: u64,
    /// Format from the first bytes of the file, not its extension.
    pub format: SourceFormat,
}

/// A file that was seen but deliberately left out, with the reason.
#[derive(Debug, Clone)]
pub struct SkippedFile {
    pub rel: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Discovered {
    pub photos: Vec<PhotoFile>,
    pub skipped: Vec<SkippedFile>,
    /// Folders that could not be listed: photos in them were not seen.
    pub unreadable: Vec<SkippedFile>,
}

/// Operating-system droppings that are never photos and not worth a report row.
const JUNK: &[&str] = &["thumbs.db", "desktop.ini", "ehthumbs.db"];

/// Lists photo candidates under `root`, recursively, in a stable (sorted) order.
///
/// Hidden files and folders and `exclude` (the output folder) are skipped; symbolic
/// links are followed only when they stay inside `root`, so a stray link cannot pull
/// in files from elsewhere on the disk.
pub fn discover(root: &Path, exclude: Option<&Path>) -> Result<Discovered, ConfigError> {
    let meta = fs::metadata(root).map_err(|e| ConfigError::PhotosFolder {
        path: root.to_path_buf(),
        reason: format!("{e} (check the --photos path)"),
    })?;
    if !meta.is_dir() {
        return Err(ConfigError::PhotosFolder {
            path: root.to_path_buf(),
            reason: "is not a folder".into(),
        });
    }
    // A folder that cannot be listed would otherwise look empty: every user no-photo.
    fs::read_dir(root).map_err(|e| ConfigError::PhotosFolder {
        path: root.to_path_buf(),
        reason: format!("cannot list it: {e}"),
    })?;
    let canon_root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let canon_exclude = exclude.and_then(|p| fs::canonicalize(p).ok());

    let mut found = Discovered::default();
    let walker = WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            if is_hidden(e.file_name()) {
                return false;
            }
            match (&canon_exclude, e.file_type().is_dir()) {
                (Some(ex), true) => fs::canonicalize(e.path()).map_or(true, |p| &p != ex),
                _ => true,
            }
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let rel = e
                    .path()
                    .map(|p| rel_of(root, p))
                    .unwrap_or_else(|| "?".into());
                let reason = e
                    .io_error()
                    .map_or_else(|| e.to_string(), ToString::to_string);
                found.unreadable.push(SkippedFile {
                    rel,
                    reason: format!(
                        "cannot read this folder ({reason}): photos in it were not seen"
                    ),
                });
                continue;
            }
        };
        let path = entry.path();
        let rel = rel_of(root, path);
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        // From the directory entry, without opening: opening a FIFO blocks forever.
        if !file_type.is_file() && !file_type.is_symlink() {
            found.skipped.push(SkippedFile {
                rel,
                reason: format!("{}, not a regular file; not read", special_kind(file_type)),
            });
            continue;
        }
        if file_type.is_symlink() {
            match fs::canonicalize(path) {
                Ok(target) if target.starts_with(&canon_root) && target.is_file() => {}
                Ok(_) => {
                    found.skipped.push(SkippedFile {
                        rel,
                        reason: "symbolic link to something outside the photos folder (or not a file); not followed".into(),
                    });
                    continue;
                }
                Err(e) => {
                    found.skipped.push(SkippedFile {
                        rel,
                        reason: format!("broken symbolic link: {e}"),
                    });
                    continue;
                }
            }
        }
        let name = entry.file_name().to_string_lossy().to_string();
        if JUNK.contains(&name.to_lowercase().as_str()) {
            continue;
        }
        let bytes = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let format = sniff_file(path);
        let stem = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or(name);
        found.photos.push(PhotoFile {
            path: path.to_path_buf(),
            rel,
            stem,
            bytes,
            format,
        });
    }
    Ok(found)
}

#[cfg(unix)]
fn special_kind(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_t: fs::FileType) -> &'static str {
    "a special file"
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

fn rel_of(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn sniff_file(path: &Path) -> SourceFormat {
    let mut head = [0u8; 64];
    let n = match fs::File::open(path).and_then(|mut f| read_up_to(&mut f, &mut head)) {
        Ok(n) => n,
        Err(e) => return SourceFormat::Unreadable(e.to_string()),
    };
    sniff(&head[..n])
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_hidden_and_output_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("b.jpg"), [0xFF, 0xD8, 0xFF, 0xE0]).unwrap();
        fs::write(root.join("a.png"), b"\x89PNG\r\n\x1a\n....").unwrap();
        fs::write(root.join(".hidden.jpg"), [0xFF, 0xD8, 0xFF]).unwrap();
        fs::create_dir(root.join("out")).unwrap();
        fs::write(root.join("out/x.jpg"), [0xFF, 0xD8, 0xFF]).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub/c.JPG"), [0xFF, 0xD8, 0xFF]).unwrap();
        let d = discover(root, Some(&root.join("out"))).unwrap();
        let rels: Vec<_> = d.photos.iter().map(|p| p.rel.as_str()).collect();
        assert_eq!(rels, ["a.png", "b.jpg", "sub/c.JPG"]);
        assert_eq!(d.photos[2].stem, "c");
        assert_eq!(d.photos[0].format, SourceFormat::Png);
    }

    #[cfg(unix)]
    #[test]
    fn does_not_follow_links_out_of_the_tree() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.jpg"), [0xFF, 0xD8, 0xFF]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.jpg"), dir.path().join("l.jpg"))
            .unwrap();
        let d = discover(dir.path(), None).unwrap();
        assert!(d.photos.is_empty());
        assert_eq!(d.skipped.len(), 1);
    }

    #[test]
    fn missing_folder_is_a_config_error() {
        let err = discover(Path::new("/no/such/folder"), None).unwrap_err();
        assert!(err.to_string().contains("/no/such/folder"));
    }
}

//! Atomic file writes: readers see the old bytes or the new, never half a file, and the
//! result is an ordinary readable file (0644), not the temporary file's private mode.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A path the user typed, in the platform's own separators: on Windows `/` becomes `\`
/// (both work there, but a path joined onto `out/demo` would print as `out/demo\report.csv`);
/// elsewhere it is returned as given.
pub fn native_path(path: PathBuf) -> PathBuf {
    #[cfg(windows)]
    if let Some(s) = path.to_str()
        && s.contains('/')
    {
        return PathBuf::from(s.replace('/', "\\"));
    }
    path
}

/// The folder a file lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `path` through a temporary file in the same folder and a rename, after
/// `fill` has written the contents; the folder must exist.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".m365-photos-")
        .tempfile_in(parent_dir(path))?;
    fill(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    make_readable(tmp.as_file())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_with`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, |f| f.write_all(bytes))
}

/// Makes the folder `path` goes in, when it is missing.
pub fn ensure_parent(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(parent_dir(path))
}

/// Temporary files are created private (0600); a finished report or photo is an ordinary
/// file that colleagues and other tools may read.
fn make_readable(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_in_one_style() {
        let report = native_path(PathBuf::from("out/demo")).join("report.csv");
        #[cfg(windows)]
        assert_eq!(report.display().to_string(), r"out\demo\report.csv");
        #[cfg(not(windows))]
        assert_eq!(report.display().to_string(), "out/demo/report.csv");
        // Drive letters and UNC paths keep their meaning.
        #[cfg(windows)]
        assert_eq!(
            native_path(PathBuf::from("C:/Users/Zoë/photos")),
            PathBuf::from(r"C:\Users\Zoë\photos")
        );
    }

    #[test]
    fn writes_whole_files_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_fill_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        write_atomically(&path, b"old").unwrap();
        let err = write_with(&path, |_| Err(std::io::Error::other("disk full"))).unwrap_err();
        assert!(err.to_string().contains("disk full"));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(parent_dir(Path::new("bare.csv")), Path::new("."));
    }
}

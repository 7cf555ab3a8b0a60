//! Refuses output paths that would overwrite the inputs: the photos folder, the users
//! CSV or a discovered photo are never written over (source photos are never modified).

use std::path::{Component, Path, PathBuf};

use crate::config::ConfigError;

/// `path` made absolute and free of `.`/`..` and symbolic links as far as it exists, so
/// that two spellings of one place compare equal even before the place is created.
pub fn resolved(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    // Canonicalise the longest existing prefix, then append the rest lexically.
    let mut rest: Vec<Component> = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(real) = cur.canonicalize() {
            let mut out = real;
            for c in rest.iter().rev() {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other.as_os_str()),
                }
            }
            return out;
        }
        match (cur.parent(), cur.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                cur = parent;
            }
            _ => return abs,
        }
    }
}

/// The `--out` folder of `process` may not be the photos folder nor contain it: outputs
/// are named after users, and with the default columns a name can equal a source name.
/// A folder inside the photos folder is fine: discovery skips it.
pub fn check_out_folder(photos: &Path, out: &Path) -> Result<(), ConfigError> {
    let photos_r = resolved(photos);
    let out_r = resolved(out);
    if photos_r == out_r {
        return Err(ConfigError::Invalid {
            flag: "--out",
            reason: format!(
                "{} is the photos folder: the made photos would replace the originals; choose another folder",
                out.display()
            ),
        });
    }
    if photos_r.starts_with(&out_r) {
        return Err(ConfigError::Invalid {
            flag: "--out",
            reason: format!(
                "{} contains the photos folder {}: the made photos could replace the originals; choose a folder outside it",
                out.display(),
                photos.display()
            ),
        });
    }
    Ok(())
}

/// A report file may not be the users CSV nor any photo discovery listed.
pub fn check_report_paths<'a>(
    reports: impl IntoIterator<Item = (&'static str, &'a Path)>,
    users_csv: &Path,
    photos: impl IntoIterator<Item = &'a Path> + Clone,
) -> Result<(), ConfigError> {
    let csv_r = resolved(users_csv);
    for (flag, report) in reports {
        let rep = resolved(report);
        if rep == csv_r {
            return Err(ConfigError::Invalid {
                flag,
                reason: format!(
                    "{} is the users CSV: the report would replace it; choose another file",
                    report.display()
                ),
            });
        }
        if photos.clone().into_iter().any(|p| resolved(p) == rep) {
            return Err(ConfigError::Invalid {
                flag,
                reason: format!(
                    "{} is one of the photos: the report would replace it; choose another file",
                    report.display()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn out_folder_rules() {
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("photos");
        std::fs::create_dir(&photos).unwrap();
        assert!(check_out_folder(&photos, &photos).is_err());
        assert!(check_out_folder(&photos, &photos.join("sub/..")).is_err());
        assert!(check_out_folder(&photos, dir.path()).is_err());
        assert!(check_out_folder(&photos, &photos.join("made")).is_ok());
        assert!(check_out_folder(&photos, &dir.path().join("out")).is_ok());
    }

    #[test]
    fn report_rules() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("users.csv");
        std::fs::write(&csv, "upn\n").unwrap();
        let photo = dir.path().join("a.jpg");
        std::fs::write(&photo, b"x").unwrap();
        let photos = [photo.as_path()];
        let same = dir.path().join("./users.csv");
        assert!(check_report_paths([("--report", same.as_path())], &csv, photos).is_err());
        assert!(check_report_paths([("--html", photo.as_path())], &csv, photos).is_err());
        let fine = dir.path().join("report.csv");
        assert!(check_report_paths([("--report", fine.as_path())], &csv, photos).is_ok());
    }
}

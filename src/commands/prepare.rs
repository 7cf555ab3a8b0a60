//! The first stages every photo command shares: read the CSV, walk the folder, match,
//! and turn everything that will not be processed into report rows.

use std::path::Path;

use crate::discover::{self, PhotoFile};
use crate::error::ConfigError;
use crate::matching::{MatchPlan, MatchedPhoto, UserIndex};
use crate::options::Options;
use crate::report::{Row, Status};

/// The work list of a run, plus the rows already decided.
#[derive(Debug)]
pub struct Prepared {
    pub matched: Vec<MatchedPhoto>,
    /// Rows for no-user, ambiguous, skipped files, users without photo and bad CSV rows.
    pub rows: Vec<Row>,
    pub files_seen: usize,
    pub users_in_csv: usize,
}

/// Reads the CSV, walks the photos folder and matches them. Errors here are
/// configuration errors: nothing has been done yet.
pub fn prepare(opts: &Options) -> Result<Prepared, ConfigError> {
    let index = UserIndex::load(&opts.users, &opts.matching)?;
    let found = discover::discover(&opts.photos, opts.out.as_deref())?;
    let reports = [
        ("--report", opts.report.as_deref()),
        ("--html", opts.html.as_deref()),
    ];
    super::guard::check_report_paths(
        reports.into_iter().filter_map(|(f, p)| p.map(|p| (f, p))),
        &opts.users,
        found.photos.iter().map(|p| p.path.as_path()),
    )?;
    let files_seen = found.photos.len() + found.skipped.len();
    let mut rows = Vec::new();
    // Users whose photo sits in an unlistable folder would be no-photo for no visible
    // reason: the folder gets a failed row (exit 1) and their rows say so.
    let unseen = if found.unreadable.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = found.unreadable.iter().map(|u| u.rel.as_str()).collect();
        format!(
            "; {} folder(s) could not be read, so it may be there: {}",
            names.len(),
            names.join(", ")
        )
    };
    for folder in found.unreadable {
        rows.push(Row {
            file: Some(folder.rel),
            status: Some(Status::Failed),
            detail: folder.reason,
            ..Row::default()
        });
    }
    for skipped in found.skipped {
        rows.push(Row {
            file: Some(skipped.rel),
            status: Some(Status::Skipped),
            detail: skipped.reason,
            ..Row::default()
        });
    }
    let MatchPlan {
        matched,
        no_user,
        ambiguous,
        no_photo,
    } = index.match_photos(found.photos);
    for photo in no_user {
        let detail = format!(
            "no CSV row has {} = {:?}",
            opts.matching.match_column, photo.stem
        );
        rows.push(Row {
            status: Some(Status::NoUser),
            detail,
            ..photo_row(&photo)
        });
    }
    for a in ambiguous {
        rows.push(Row {
            user: a.user,
            status: Some(Status::Ambiguous),
            detail: a.reason,
            ..photo_row(&a.file)
        });
    }
    for user in no_photo {
        rows.push(Row {
            user: Some(user.user.clone()),
            status: Some(Status::NoPhoto),
            detail: format!(
                "no photo named {:?} (any extension) in {}{unseen}",
                user.key,
                opts.photos.display()
            ),
            csv_line: Some(user.line),
            ..Row::default()
        });
    }
    for issue in index.issues {
        rows.push(Row {
            user: issue.user,
            status: Some(Status::BadRow),
            detail: format!("{}: {}", opts.users.display(), issue.reason),
            csv_line: Some(issue.line),
            ..Row::default()
        });
    }
    Ok(Prepared {
        matched,
        rows,
        files_seen,
        users_in_csv: index.users.len(),
    })
}

/// A row that names a photo file and what discovery learnt of it.
pub fn photo_row(photo: &PhotoFile) -> Row {
    Row {
        file: Some(photo.rel.clone()),
        source_format: Some(photo.format.name().to_string()),
        source_bytes: Some(photo.bytes),
        ..Row::default()
    }
}

/// A row for a matched photo, before its outcome is known.
pub fn matched_row(m: &MatchedPhoto) -> Row {
    Row {
        user: Some(m.user.user.clone()),
        csv_line: Some(m.user.line),
        ..photo_row(&m.file)
    }
}

/// A file name for a user's photo that is safe on every file system (Windows included):
/// letters, digits and `@._-+` kept, anything else becomes `_`. At most
/// [`MAX_NAME_BYTES`] bytes (file systems count bytes, and CJK letters take three): a
/// longer name is cut on a character boundary and ends in `~` and a hash of the whole
/// user, so two long names that share a beginning stay apart.
pub fn safe_file_name(user: &str) -> String {
    let mut name: String = user
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "@._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.len() > MAX_NAME_BYTES {
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(user.as_bytes()));
        let suffix = format!("~{}", &hash[..12]);
        let cut = name.floor_char_boundary(MAX_NAME_BYTES - suffix.len());
        name.truncate(cut);
        name.push_str(&suffix);
    }
    let trimmed = name.trim_matches(|c| c == '.' || c == ' ').to_string();
    name = if trimmed.is_empty() {
        "_".into()
    } else {
        trimmed
    };
    const RESERVED: &[&str] = &[
        "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
        "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
    ];
    if RESERVED.contains(&name.to_lowercase().as_str()) {
        name.push('_');
    }
    name
}

/// Longest name [`safe_file_name`] makes, leaving room for an extension and a `-N`
/// suffix under the usual 255-byte limit.
pub const MAX_NAME_BYTES: usize = 200;

/// Builds the rayon pool for `--jobs`.
pub fn thread_pool(jobs: Option<usize>) -> rayon::ThreadPool {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs {
        builder = builder.num_threads(n);
    }
    builder
        .build()
        .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
        .unwrap_or_else(|e| panic!("cannot start even one worker thread: {e}"))
}

/// Writes `report` to a `--report` path, in the format its extension names.
pub fn write_report(path: &Path, report: &crate::report::Report) -> anyhow::Result<()> {
    use anyhow::Context;
    let exporter = crate::report::exporter_for(path).ok_or_else(|| ConfigError::Invalid {
        flag: "--report",
        reason: format!("{}: use .csv or .json", path.display()),
    })?;
    crate::report::write_file(path, exporter.as_ref(), report)
        .with_context(|| format!("writing report {}", path.display()))
}

/// Writes the report file when one was asked for.
pub fn write_reports(opts: &Options, report: &crate::report::Report) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(path) = &opts.report {
        write_report(path, report)?;
    }
    if let Some(path) = &opts.html {
        crate::report::write_file(path, &crate::report::HtmlExporter, report)
            .with_context(|| format!("writing page {}", path.display()))?;
    }
    Ok(())
}

/// Checks that a path's parent folder exists or can be made.
pub fn ensure_parent(path: &Path) -> Result<(), ConfigError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ConfigError::Output {
            path: parent.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn safe_names() {
        assert_eq!(
            safe_file_name("jane.doe@contoso.com"),
            "jane.doe@contoso.com"
        );
        assert_eq!(safe_file_name("a/b\\c:d*e?\"f<g>h|"), "a_b_c_d_e__f_g_h_");
        assert_eq!(safe_file_name("CON"), "CON_");
        assert_eq!(safe_file_name(" ..."), "_");
    }

    #[test]
    fn long_names_are_cut_by_bytes_and_stay_apart() {
        let long: String = "山田太郎".repeat(40);
        let a = safe_file_name(&format!("{long}甲@contoso.com"));
        let b = safe_file_name(&format!("{long}乙@contoso.com"));
        assert!(a.len() <= super::MAX_NAME_BYTES && b.len() <= super::MAX_NAME_BYTES);
        assert_ne!(a, b);
        assert!(a.starts_with("山田太郎山田"), "{a}");
        assert_eq!(a, safe_file_name(&format!("{long}甲@contoso.com")));
        // Names that fit are as before.
        let fits = "é".repeat(100);
        assert_eq!(safe_file_name(&fits), fits);
        let ascii = safe_file_name(&"a".repeat(250));
        assert_eq!(ascii.len(), super::MAX_NAME_BYTES);
        assert!(
            ascii.starts_with(&"a".repeat(187)) && ascii.contains('~'),
            "{ascii}"
        );
    }
}

//! The first stages every photo command shares: read the CSV, walk the folder, match,
//! and turn everything that will not be processed into report rows.

use super::discover;
use super::matching::{MatchPlan, MatchedPhoto, UserIndex};
use super::rows::photo_row;
use crate::config::{ConfigError, Options};
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
    prepare_with(opts, UserIndex::load(&opts.users, &opts.matching)?)
}

/// [`prepare`] with the users already indexed (from the CSV, or the tenant's directory).
pub fn prepare_with(opts: &Options, index: UserIndex) -> Result<Prepared, ConfigError> {
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
        let detail = match opts.directory {
            Some(key) => format!(
                "no user in the tenant has {} {:?}",
                crate::graph::UserKey::of_directory(key).property(),
                photo.stem
            ),
            None => format!(
                "no CSV row has {} = {:?}",
                opts.matching.match_column, photo.stem
            ),
        };
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

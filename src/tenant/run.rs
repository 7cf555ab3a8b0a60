//! Runs backup, remove and restore over many users with bounded concurrency, one report
//! row per user; the Graph client underneath does the rate limiting and retries.

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::backup::{self, BackupDir, ManifestEntry};
use crate::graph::{GraphError, GraphUser, Kind, PhotoApi};
use crate::report::{Row, Status};

/// One user to work on: how the CSV named them and who Graph says they are.
#[derive(Debug, Clone)]
pub struct Target {
    pub user: String,
    pub csv_line: Option<u64>,
    /// `None`: Graph does not know the user.
    pub resolved: Option<GraphUser>,
}

/// Runs `f` on every item with at most `limit` in flight; results in input order.
pub async fn bounded<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(limit.max(1)));
    let f = Arc::new(f);
    let mut set = JoinSet::new();
    let n = items.len();
    for (i, item) in items.into_iter().enumerate() {
        let sem = sem.clone();
        let f = f.clone();
        set.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = sem.acquire_owned().await;
            (i, f(item).await)
        });
    }
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined {
            out[i] = Some(r);
        }
    }
    out.into_iter().flatten().collect()
}

fn unknown_row(t: &Target) -> Row {
    Row {
        user: Some(t.user.clone()),
        csv_line: t.csv_line,
        status: Some(Status::UserNotFound),
        detail: "Microsoft 365 does not know this user".into(),
        ..Row::default()
    }
}

/// Backs up every target into `dir`; unknown users get a manifest line and a row too.
pub async fn backup_all<G: PhotoApi>(
    graph: Arc<G>,
    dir: Arc<BackupDir>,
    targets: Vec<Target>,
) -> Vec<Row> {
    let limit = graph.concurrency();
    bounded(targets, limit, move |t| {
        let graph = graph.clone();
        let dir = dir.clone();
        async move {
            if t.resolved.is_none() {
                dir.record_unknown(&t.user);
                return unknown_row(&t);
            }
            let saved = dir.save(graph.as_ref(), &t.user, t.resolved.as_ref()).await;
            Row {
                csv_line: t.csv_line,
                ..saved.row()
            }
        }
    })
    .await
}

fn failure_fields(row: &mut Row, f: &GraphError) {
    row.http_status = f.status;
    row.graph_code = f.code.clone();
    row.request_id = f.request_id.clone();
}

/// Removes the targets' photos, each backed up first; `dry_run` reads only.
pub async fn remove_all<G: PhotoApi>(
    graph: Arc<G>,
    dir: Option<Arc<BackupDir>>,
    targets: Vec<Target>,
    dry_run: bool,
) -> Vec<Row> {
    let limit = graph.concurrency();
    bounded(targets, limit, move |t| {
        let graph = graph.clone();
        let dir = dir.clone();
        async move {
            let Some(user) = t.resolved.clone() else {
                return unknown_row(&t);
            };
            let mut attempts = 0;
            if dry_run || dir.is_none() {
                return match graph.get_photo(&user.id).await {
                    Ok(photo) => Row {
                        user: Some(t.user.clone()),
                        csv_line: t.csv_line,
                        status: Some(Status::WouldRemove),
                        detail: format!(
                            "has a photo ({} bytes); would be backed up and removed",
                            photo.bytes.len()
                        ),
                        attempts: Some(photo.attempts),
                        ..Row::default()
                    },
                    Err(f) => {
                        let mut row = problem_row(&t, &f);
                        row.attempts = Some(f.attempts);
                        row
                    }
                };
            }
            let Some(dir) = dir else {
                return unknown_row(&t);
            };
            let saved = dir.save(graph.as_ref(), &t.user, Some(&user)).await;
            attempts += saved.attempts;
            if saved.status != Status::BackedUp {
                // Nothing to remove, or no copy: never delete without one.
                let mut row = saved.row();
                row.csv_line = t.csv_line;
                if saved.status == Status::Failed {
                    row.detail = format!("not removed: {}", row.detail);
                }
                return row;
            }
            match graph.delete_photo(&user.id).await {
                Ok(done) => Row {
                    user: Some(t.user.clone()),
                    csv_line: t.csv_line,
                    status: Some(Status::Removed),
                    graph_id: Some(user.id.clone()),
                    detail: format!("removed; {}", saved.entry.detail),
                    output_file: Some(saved.entry.file.clone()),
                    output_bytes: saved.entry.bytes,
                    attempts: Some(attempts + done.attempts),
                    ..Row::default()
                },
                Err(f) => {
                    let mut row = Row {
                        user: Some(t.user.clone()),
                        csv_line: t.csv_line,
                        status: Some(Status::Failed),
                        detail: format!("backed up, but removing failed: {}", f.detail()),
                        output_file: Some(saved.entry.file.clone()),
                        attempts: Some(attempts + f.attempts),
                        ..Row::default()
                    };
                    failure_fields(&mut row, &f);
                    row
                }
            }
        }
    })
    .await
}

fn problem_row(t: &Target, f: &GraphError) -> Row {
    let (status, detail) = match f.kind {
        Kind::UnknownUser => (
            Status::UserNotFound,
            format!("Microsoft 365 does not know this user ({})", f.detail()),
        ),
        Kind::Interrupted => (Status::Pending, f.detail()),
        _ if t.resolved.is_some() => backup::read_failure(f, true),
        Kind::NoPhoto => (Status::NoTenantPhoto, "no photo in the tenant".to_string()),
        Kind::NoMailbox | Kind::OnPremMailbox => (
            Status::NoTenantPhoto,
            format!("no photo Graph can read: {}", f.detail()),
        ),
        _ => (Status::Failed, f.detail()),
    };
    let mut row = Row {
        user: Some(t.user.clone()),
        csv_line: t.csv_line,
        status: Some(status),
        detail,
        ..Row::default()
    };
    failure_fields(&mut row, f);
    row
}

/// Puts the photos of a backup folder back: the first `backed-up` line per user wins
/// (the state before the first change), later ones are reported and left alone.
pub async fn restore_all<G: PhotoApi>(
    graph: Arc<G>,
    dir: &Path,
    entries: Vec<ManifestEntry>,
    dry_run: bool,
) -> Vec<Row> {
    let mut seen = HashSet::new();
    let mut work = Vec::new();
    let mut rows = Vec::new();
    for e in entries {
        let who = if e.id.is_empty() {
            e.user.to_lowercase()
        } else {
            e.id.to_lowercase()
        };
        if e.status != Status::BackedUp.as_str() {
            rows.push(Row {
                user: Some(e.user.clone()),
                status: Some(Status::NoTenantPhoto),
                detail: format!(
                    "nothing to restore: the backup recorded {} ({})",
                    e.status, e.detail
                ),
                ..Row::default()
            });
            continue;
        }
        if !seen.insert(who) {
            rows.push(Row {
                user: Some(e.user.clone()),
                status: Some(Status::Skipped),
                detail: format!(
                    "a later backup of the same user ({}); the earliest one is restored",
                    e.file
                ),
                ..Row::default()
            });
            continue;
        }
        work.push(e);
    }
    let dir = dir.to_path_buf();
    let limit = graph.concurrency();
    let done = bounded(work, limit, move |e| {
        let graph = graph.clone();
        let dir = dir.clone();
        async move {
            let mut row = Row {
                user: Some(e.user.clone()),
                output_file: Some(e.file.clone()),
                ..Row::default()
            };
            let bytes = match backup::load_backed_up(&dir, &e) {
                Ok(b) => b,
                Err(reason) => {
                    row.status = Some(Status::Failed);
                    row.detail = reason;
                    return row;
                }
            };
            row.output_bytes = Some(bytes.len() as u64);
            if dry_run {
                row.status = Some(Status::Skipped);
                row.detail = "dry run: would be restored".into();
                return row;
            }
            let key = [&e.id, &e.upn, &e.user]
                .into_iter()
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_default();
            match graph.put_photo(&key, bytes).await {
                Ok(d) => {
                    row.status = Some(Status::Restored);
                    row.detail = format!("photo backed up at {} put back", e.time);
                    row.graph_id = (!e.id.is_empty()).then(|| e.id.clone());
                    row.attempts = Some(d.attempts);
                }
                Err(f) => {
                    let t = Target {
                        user: e.user.clone(),
                        csv_line: None,
                        resolved: None,
                    };
                    let mut r = problem_row(&t, &f);
                    if r.status() == Status::NoTenantPhoto {
                        r.status = Some(Status::Failed);
                    }
                    r.output_file = row.output_file;
                    r.attempts = Some(f.attempts);
                    return r;
                }
            }
            row
        }
    })
    .await;
    rows.extend(done);
    rows
}

//! The upload stage: resolves every target user once, then streams processed photos from
//! the rayon workers through a bounded queue into concurrent Graph uploads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rayon::prelude::*;
use tokio::sync::mpsc;

use crate::commands::prepare::{self, matched_row};
use crate::commands::process::fill_processed;
use crate::graph::{GraphClient, GraphError, UserKey};
use crate::matching::MatchedPhoto;
use crate::options::Options;
use crate::output::Output;
use crate::process;
use crate::report::{Report, Row, Status, Thumbs};

/// What `upload` does beyond the photo options.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// Sign in and resolve users, but write nothing.
    pub dry_run: bool,
    /// Tenant hook (issue 5): each user's current photo is saved here before it is
    /// replaced; `None` with `--no-backup`.
    pub backup: Option<Arc<crate::tenant::backup::BackupDir>>,
    /// Tenant hook (issue 5): lock photo changes to these roles after a clean upload.
    pub lock: Option<Vec<crate::tenant::roles::RoleId>>,
}

/// What a processing worker hands the uploader.
enum Made {
    /// Ready to upload.
    Ready(Ready),
    /// Could not be made; its row is final.
    Done(Row),
}

/// A photo made and waiting for its upload.
struct Ready {
    row: Row,
    user_id: String,
    jpeg: Vec<u8>,
}

/// Runs discover -> match -> resolve -> process | upload and returns the report.
pub async fn run(
    opts: &Options,
    upload: &UploadOptions,
    client: Arc<GraphClient>,
    out: &Output,
) -> anyhow::Result<Report> {
    let prepared = prepare::prepare(opts)?;
    client
        .check_sign_in()
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.detail()))?;

    // Resolve every target user once: unknown users cost no photo upload.
    let key = UserKey::from_column(&opts.matching.user_column);
    let mut values: Vec<String> = prepared
        .matched
        .iter()
        .map(|m| m.user.user.clone())
        .collect();
    values.sort_by_key(|v| v.to_lowercase());
    values.dedup_by_key(|v| v.to_lowercase());
    let resolving = out.spinner(&format!("looking up {} users", values.len()));
    let known = client
        .resolve_users(key, &values)
        .await
        .map_err(|e| anyhow::anyhow!("looking up users in the tenant failed: {}", e.detail()))?;
    resolving.finish_and_clear();

    let mut report = Report::new("upload");
    let mut work: Vec<(MatchedPhoto, String)> = Vec::new();
    for m in prepared.matched {
        match known.get(&m.user.user.to_lowercase()) {
            Some(u) => {
                let id = u.id.clone();
                work.push((m, id));
            }
            None => {
                let mut row = matched_row(&m);
                row.status = Some(Status::UserNotFound);
                row.detail = format!(
                    "no user with {} {:?} in the tenant; nothing was sent",
                    key.property(),
                    m.user.user
                );
                report.rows.push(row);
            }
        }
    }

    let total = work.len() as u64;
    let processing = out.bar(total, "processing");
    let uploading = out.bar(
        total,
        if upload.dry_run {
            "checking"
        } else {
            "uploading"
        },
    );
    let want_thumbs = opts.html.is_some();
    // Bounded: the workers stop making photos while the uploads catch up, so memory stays
    // flat however many users there are.
    let (tx, mut rx) = mpsc::channel::<Made>(64);
    let image_opts = opts.image.clone();
    let pool = prepare::thread_pool(opts.jobs);
    let processing_bar = processing.clone();
    let producer = std::thread::spawn(move || {
        pool.install(|| {
            work.into_par_iter().for_each_with(tx, |tx, (m, user_id)| {
                let item = make(&m, user_id, &image_opts, want_thumbs);
                processing_bar.inc(1);
                let _ = tx.blocking_send(item);
            });
        });
        processing_bar.finish_and_clear();
    });

    let rows = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    // Enough tasks to keep the throttle's window full; the window itself limits requests.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    let ticker = throttle_ticker(Arc::clone(&client), uploading.clone());
    while let Some(item) = rx.recv().await {
        let ready = match item {
            Made::Ready(r) => r,
            Made::Done(row) => {
                uploading.inc(1);
                push(&rows, row);
                continue;
            }
        };
        let permit = Arc::clone(&in_flight).acquire_owned().await?;
        let client = Arc::clone(&client);
        let rows = Arc::clone(&rows);
        let bar = uploading.clone();
        let dry_run = upload.dry_run;
        let backup = upload.backup.clone();
        tasks.spawn(async move {
            let row = send(&client, ready, dry_run, backup.as_deref()).await;
            bar.inc(1);
            push(&rows, row);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    ticker.abort();
    uploading.finish_and_clear();
    let _ = producer.join();
    let mut done = std::mem::take(&mut *rows.lock().unwrap_or_else(|e| e.into_inner()));
    done.sort_by(|a, b| a.file.cmp(&b.file));
    report.rows.extend(done);
    report.rows.extend(prepared.rows);
    Ok(report)
}

fn push(rows: &Mutex<Vec<Row>>, row: Row) {
    rows.lock().unwrap_or_else(|e| e.into_inner()).push(row);
}

/// Processes one photo on a rayon worker.
fn make(
    m: &MatchedPhoto,
    user_id: String,
    opts: &crate::options::ImageOptions,
    thumbs: bool,
) -> Made {
    let mut row = matched_row(m);
    let thumb = thumbs.then_some(crate::commands::process::SOURCE_THUMB_PX);
    match process::process(&m.file.path, &m.file.format, opts, thumb) {
        Ok(photo) => {
            fill_processed(&mut row, &photo, opts.size);
            if thumbs {
                row.thumbs = Some(Thumbs {
                    source: photo.source_thumb.clone(),
                    output: photo.output_thumb.clone(),
                });
            }
            Made::Ready(Ready {
                row,
                user_id,
                jpeg: photo.jpeg,
            })
        }
        Err(e) => {
            row.status = Some(match e {
                process::ProcessError::OverBudget { .. } | process::ProcessError::Encode(_) => {
                    Status::Failed
                }
                _ => Status::InvalidImage,
            });
            row.detail = e.to_string();
            Made::Done(row)
        }
    }
}

/// Uploads one photo and turns the outcome into its row.
async fn send(
    client: &Arc<GraphClient>,
    ready: Ready,
    dry_run: bool,
    backup: Option<&crate::tenant::backup::BackupDir>,
) -> Row {
    let Ready {
        mut row,
        user_id,
        jpeg,
    } = ready;
    let remark = if row.status == Some(Status::TooSmall) {
        Some(std::mem::take(&mut row.detail))
    } else {
        None
    };
    if dry_run {
        row.status = Some(Status::WouldUpload);
        row.detail = remark.unwrap_or_else(|| "would be uploaded (dry run: nothing sent)".into());
        return row;
    }
    // Tenant hook (issue 5): nothing that was in the tenant is replaced without a copy.
    if let Some(dir) = backup {
        let user = row.user.clone().unwrap_or_else(|| user_id.clone());
        match crate::tenant::backup::before_replace(dir, client, &user, &user_id).await {
            Ok(saved) => row.notes.extend(saved.note()),
            Err(why) => {
                row.status = Some(Status::Failed);
                row.detail = why;
                return row;
            }
        }
    }
    match client.put_photo(&user_id, jpeg).await {
        Ok(r) => {
            row.status = Some(Status::Uploaded);
            row.attempts = Some(r.attempts);
            row.http_status = Some(r.status);
            row.detail = remark.unwrap_or_default();
        }
        Err(e) => fail(&mut row, &e),
    }
    row
}

fn fail(row: &mut Row, e: &GraphError) {
    row.status = Some(
        if e.status == Some(404) && e.code.as_deref() == Some("Request_ResourceNotFound") {
            Status::UserNotFound
        } else {
            Status::Failed
        },
    );
    row.attempts = Some(e.attempts);
    row.http_status = e.status;
    row.graph_code = e.code.clone();
    row.detail = e.detail();
}

/// Shows "throttled by Graph, resuming in N s" on the upload bar while the gate is shut.
fn throttle_ticker(
    client: Arc<GraphClient>,
    bar: indicatif::ProgressBar,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut shown = false;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match client.throttle().paused_for() {
                Some(left) => {
                    bar.set_message(format!(
                        "throttled by Graph, resuming in {} s",
                        left.as_secs() + 1
                    ));
                    shown = true;
                }
                None if shown => {
                    bar.set_message(format!("{:.0} req/s", client.throttle().current_rate()));
                    shown = false;
                }
                None => {}
            }
        }
    })
}

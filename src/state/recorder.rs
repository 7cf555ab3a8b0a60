//! Writing a run: its rows up front, then outcomes from any thread through one writer
//! thread that commits whatever queued up together (group commit).

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Statement, Transaction, params};

use super::{Effect, ItemStart, Outcome, RunEnd, SourceId, StateDb, StateError, now};
use crate::report::{Report, Row, Status};

/// Most outcomes written in one transaction.
const MAX_BATCH: usize = 512;

impl StateDb {
    /// Records the start of a run with every row it will report: work items as `pending`
    /// (updated as they are done), the rest with their final status. Returns the run id.
    pub fn begin_run(
        &mut self,
        command: &str,
        scope: &str,
        photos: Option<&Path>,
        users_csv: Option<&Path>,
        settings: Option<&str>,
        items: impl IntoIterator<Item = ItemStart>,
    ) -> Result<i64, StateError> {
        let path = self.path.clone();
        let sql = |source| StateError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let at = now();
        tx.execute(
            "INSERT INTO runs (command, scope, started_at, state, photos, users_csv, settings)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
            params![
                command,
                scope,
                at,
                photos.map(|p| p.display().to_string()),
                users_csv.map(|p| p.display().to_string()),
                settings
            ],
        )
        .map_err(sql)?;
        let run_id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO run_items (run_id, seq, user_key, file, user, status, detail,
                                            http_status, graph_code, updated_at, request_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(sql)?;
            for (seq, item) in items.into_iter().enumerate() {
                // Work items start pending; rows already decided keep their status.
                let status = item.row.status.unwrap_or(Status::Pending).as_str();
                ins.execute(params![
                    run_id,
                    seq as i64,
                    item.user_key,
                    item.row.file,
                    item.row.user,
                    status,
                    item.row.detail,
                    item.row.http_status,
                    item.row.graph_code,
                    at,
                    item.row.request_id
                ])
                .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
        Ok(run_id)
    }

    /// Records a whole run at once (the tenant commands, which are short): its rows, and
    /// for users whose photo it removed or replaced, that the next upload must not skip
    /// them.
    pub fn record_run(
        mut self,
        command: &str,
        scope: &str,
        report: &Report,
        forget: &[Status],
    ) -> Result<(), String> {
        let key = |r: &Row| r.user.as_ref().map(|u| u.to_lowercase());
        let items = report.rows().map(|row| ItemStart {
            user_key: key(&row),
            row,
        });
        let run_id = self
            .begin_run(command, scope, None, None, None, items)
            .map_err(|e| e.to_string())?;
        let rec = self.recorder(run_id, scope);
        for row in report.rows() {
            let Some(key) = key(&row) else { continue };
            let effect = if forget.contains(&row.status()) {
                Effect::Forget
            } else {
                Effect::None
            };
            let mut o = Outcome::from_row(&key, &row, effect);
            o.user_id = row.graph_id.clone();
            rec.outcome(o);
        }
        rec.finish(RunEnd::Finished)
    }

    /// Hands the database to a writer thread that records outcomes as they come.
    pub fn recorder(self, run_id: i64, scope: &str) -> Recorder {
        let (tx, rx) = mpsc::channel::<Msg>();
        let scope = scope.to_string();
        let handle = std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer(self, run_id, &scope, rx))
            .map_err(|e| e.to_string());
        Recorder { tx, handle }
    }

    /// Writes one batch of outcomes in one transaction.
    fn apply(&mut self, run_id: i64, scope: &str, batch: &[Outcome]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut w = Writes::prepare(&tx, run_id, scope)?;
            for o in batch {
                w.outcome(o)?;
            }
        }
        tx.commit()
    }

    fn end_run(&mut self, run_id: i64, end: RunEnd) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, state = ?3 WHERE id = ?1",
            params![run_id, now(), end.as_str()],
        )?;
        // Leave a tidy file behind: fold the WAL back in.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(())
    }
}

/// The statements one batch uses, prepared once per transaction.
struct Writes<'t> {
    run_id: i64,
    scope: &'t str,
    at: String,
    item: Statement<'t>,
    user: Statement<'t>,
    landed: Statement<'t>,
    forget: Statement<'t>,
}

impl<'t> Writes<'t> {
    fn prepare(tx: &'t Transaction<'_>, run_id: i64, scope: &'t str) -> rusqlite::Result<Self> {
        Ok(Writes {
            run_id,
            scope,
            at: now(),
            item: tx.prepare(
                "UPDATE run_items SET status = ?3, detail = ?4, http_status = ?5,
                        graph_code = ?6, updated_at = ?7, request_id = ?8
                 WHERE run_id = ?1 AND user_key = ?2",
            )?,
            user: tx.prepare(
                "INSERT INTO users (scope, user_key, user, user_id, last_run, last_status,
                                    last_detail, last_source_hash, last_http_status,
                                    last_graph_code, last_attempts, updated_at,
                                    last_request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (scope, user_key) DO UPDATE SET
                     user = excluded.user,
                     user_id = COALESCE(excluded.user_id, users.user_id),
                     last_run = excluded.last_run,
                     last_status = excluded.last_status,
                     last_detail = excluded.last_detail,
                     last_source_hash = COALESCE(excluded.last_source_hash, users.last_source_hash),
                     last_http_status = excluded.last_http_status,
                     last_graph_code = excluded.last_graph_code,
                     last_attempts = excluded.last_attempts,
                     last_request_id = excluded.last_request_id,
                     updated_at = excluded.updated_at",
            )?,
            landed: tx.prepare(
                "UPDATE users SET landed_source_path = ?3, landed_source_size = ?4,
                        landed_source_mtime_ns = ?5, landed_source_hash = ?6,
                        landed_settings_hash = ?7, landed_output_hash = ?8,
                        landed_output_bytes = ?9, landed_quality = ?10, landed_at = ?11
                 WHERE scope = ?1 AND user_key = ?2",
            )?,
            forget: tx.prepare(
                "UPDATE users SET landed_source_path = NULL, landed_source_size = NULL,
                        landed_source_mtime_ns = NULL, landed_source_hash = NULL,
                        landed_settings_hash = NULL, landed_output_hash = NULL,
                        landed_output_bytes = NULL, landed_quality = NULL, landed_at = NULL
                 WHERE scope = ?1 AND (user_key = ?2 OR user_id = ?3)",
            )?,
        })
    }

    /// The run's row; then, unless the user is still pending, their per-user record and
    /// what the outcome means for their last confirmed upload.
    fn outcome(&mut self, o: &Outcome) -> rusqlite::Result<()> {
        let status = o.status.unwrap_or(Status::Failed).as_str();
        self.item.execute(params![
            self.run_id,
            o.user_key,
            status,
            o.detail,
            o.http_status,
            o.graph_code,
            self.at,
            o.request_id
        ])?;
        if o.status == Some(Status::Pending) {
            return Ok(());
        }
        self.user.execute(params![
            self.scope,
            o.user_key,
            o.user,
            o.user_id,
            self.run_id,
            status,
            o.detail,
            o.source.as_ref().map(|s| s.hash.clone()),
            o.http_status,
            o.graph_code,
            o.attempts,
            self.at,
            o.request_id
        ])?;
        match o.effect {
            Effect::None => {}
            Effect::Landed => {
                let src = o.source.clone().unwrap_or(SourceId {
                    path: String::new(),
                    size: 0,
                    mtime_ns: 0,
                    hash: String::new(),
                });
                self.landed.execute(params![
                    self.scope,
                    o.user_key,
                    src.path,
                    src.size as i64,
                    src.mtime_ns,
                    src.hash,
                    o.settings_hash,
                    o.output_hash,
                    o.output_bytes.map(|b| b as i64),
                    o.quality,
                    self.at
                ])?;
            }
            Effect::Forget => {
                self.forget
                    .execute(params![self.scope, o.user_key, o.user_id])?;
            }
        }
        Ok(())
    }
}

enum Msg {
    Outcome(Box<Outcome>),
    End(RunEnd),
}

/// Records outcomes from any thread; one writer thread owns the database.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    handle: Result<std::thread::JoinHandle<Result<(), String>>, String>,
}

impl Recorder {
    /// Queues an outcome; it is in the file within milliseconds.
    pub fn outcome(&self, o: Outcome) {
        let _ = self.tx.send(Msg::Outcome(Box::new(o)));
    }

    /// Writes what is queued, ends the run and closes the database. An error says the
    /// state could not be (fully) written.
    pub fn finish(self, end: RunEnd) -> Result<(), String> {
        let _ = self.tx.send(Msg::End(end));
        drop(self.tx);
        match self.handle {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| Err("the state writer stopped unexpectedly".into())),
            Err(e) => Err(format!("cannot start the state writer: {e}")),
        }
    }
}

/// Takes what is queued now (at least one message, waiting for it) up to
/// [`MAX_BATCH`] outcomes; `None` once every sender is gone and nothing is left.
fn next_batch(rx: &mpsc::Receiver<Msg>) -> Option<(Vec<Outcome>, Option<RunEnd>)> {
    let first = rx.recv().ok()?;
    let mut batch = Vec::new();
    let mut end = None;
    let mut take = |msg: Msg, batch: &mut Vec<Outcome>| match msg {
        Msg::Outcome(o) => batch.push(*o),
        Msg::End(e) => end = Some(e),
    };
    take(first, &mut batch);
    // Group commit: whatever queued up while the last transaction was written goes
    // into the next one.
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(msg) => take(msg, &mut batch),
            Err(_) => break,
        }
    }
    Some((batch, end))
}

fn writer(
    mut db: StateDb,
    run_id: i64,
    scope: &str,
    rx: mpsc::Receiver<Msg>,
) -> Result<(), String> {
    let mut first_error: Option<String> = None;
    let mut end = None;
    while end.is_none() {
        let Some((batch, batch_end)) = next_batch(&rx) else {
            break;
        };
        end = batch_end;
        if !batch.is_empty()
            && let Err(e) = db.apply(run_id, scope, &batch)
        {
            tracing::error!(error = %e, "state database write failed");
            first_error.get_or_insert_with(|| {
                format!(
                    "{}: {e}; the next run may redo some users",
                    db.path.display()
                )
            });
        }
    }
    // Every sender gone without an end: the run did not say it finished.
    let end = end.unwrap_or(RunEnd::Interrupted);
    if let Err(e) = db.end_run(run_id, end) {
        first_error.get_or_insert_with(|| format!("{}: {e}", db.path.display()));
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_everything_queued_and_reports_the_end() {
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            tx.send(Msg::Outcome(Box::new(Outcome {
                user_key: format!("u{i}"),
                ..Outcome::default()
            })))
            .unwrap();
        }
        tx.send(Msg::End(RunEnd::Finished)).unwrap();
        tx.send(Msg::Outcome(Box::default())).unwrap();
        let (batch, end) = next_batch(&rx).unwrap();
        // Nothing queued is dropped, not even what raced past the end.
        assert_eq!(batch.len(), 4);
        assert_eq!(end, Some(RunEnd::Finished));
        drop(tx);
        assert!(next_batch(&rx).is_none(), "every sender gone: nothing more");
    }

    #[test]
    fn a_batch_is_capped() {
        let (tx, rx) = mpsc::channel();
        for _ in 0..MAX_BATCH + 10 {
            tx.send(Msg::Outcome(Box::default())).unwrap();
        }
        assert_eq!(next_batch(&rx).unwrap().0.len(), MAX_BATCH);
        assert_eq!(next_batch(&rx).unwrap().0.len(), 10);
    }
}

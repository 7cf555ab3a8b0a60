//! `status`: what the state database says of the last runs: done, failed with reasons,
//! pending; exports one run's rows as CSV or JSON.

use super::{Done, RunError};
use crate::config::{ConfigError, StatusConfig};
use crate::output::Output;
use crate::report::{Report, Row, Severity, Status};
use crate::state::{ItemInfo, RunInfo, StateDb};

/// What the state database says; exits 1 when the detailed run left failed or pending
/// users.
pub(crate) fn run(c: &StatusConfig, _out: &Output) -> Result<Done, RunError> {
    let Some(db) = StateDb::open_read_only(&c.state)? else {
        return Err(ConfigError::Invalid {
            flag: "--state",
            reason: format!(
                "{}: no state database there yet (an upload creates it)",
                c.state.display()
            ),
        }
        .into());
    };
    let runs = db.runs(c.runs)?;
    let mut lines = vec![format!("state: {}", c.state.display())];
    let Some(latest) = runs.first() else {
        lines.push("no runs recorded yet".into());
        return Ok(quiet_done(Report::new("status"), lines));
    };
    let busy = StateDb::in_use(&c.state);
    lines.push("runs (newest first):".into());
    for (i, r) in runs.iter().enumerate() {
        lines.push(format!(
            "  #{:<4} {:<8} {}  {:<34} {}",
            r.id,
            r.command,
            r.started_at,
            state_words(r, i == 0 && busy),
            counts_text(&r.counts)
        ));
    }
    let chosen = match c.run {
        None => latest.clone(),
        Some(id) => db.run(id)?.ok_or_else(|| ConfigError::Invalid {
            flag: "--run",
            reason: format!("no run #{id} in {}", c.state.display()),
        })?,
    };
    let items = db.items(chosen.id)?;
    let latest_busy = busy && chosen.id == latest.id;
    lines.push(format!(
        "run #{} ({}, {}){}:",
        chosen.id,
        chosen.command,
        state_words(&chosen, latest_busy),
        chosen
            .settings
            .as_ref()
            .map(|s| format!(", {s}"))
            .unwrap_or_default()
    ));
    let pending = describe_items(&items, c.show_failed, &mut lines);
    let (landed, last_failed) = db.user_totals()?;
    lines.push(format!(
        "users with a confirmed upload: {landed}; whose last attempt failed: {last_failed}"
    ));
    if pending > 0 && !latest_busy {
        lines.push("to finish the pending users, run the same upload command again".into());
    }
    let mut report = Report::new(&format!("{} (run #{})", chosen.command, chosen.id));
    // Failed and pending rows make the exit code 1 (an unknown status reads as failed).
    report.extend(items.iter().map(row_of));
    Ok(quiet_done(report, lines))
}

/// `status` prints its own lines instead of a summary of rows.
fn quiet_done(report: Report, lines: Vec<String>) -> Done {
    let mut done = Done::new(report);
    done.before = lines;
    done.summary = false;
    done
}

/// The done / failed / pending / notices lines of a run's items; returns how many are
/// pending.
fn describe_items(items: &[ItemInfo], show_failed: usize, lines: &mut Vec<String>) -> usize {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut pending = 0usize;
    let mut notices = Vec::new();
    for item in items {
        match Status::parse(&item.status) {
            Some(Status::Pending) => pending += 1,
            Some(s) if s.severity() == Severity::Failure => failed.push(item),
            Some(s) if s.severity() == Severity::Notice => notices.push(s),
            Some(s) => done.push(s),
            None => failed.push(item),
        }
    }
    lines.push(format!(
        "  done     {:>7}  {}",
        done.len(),
        breakdown(&done)
    ));
    lines.push(format!("  failed   {:>7}", failed.len()));
    for item in failed.iter().take(show_failed) {
        lines.push(format!(
            "    {:<16} {}: {}",
            item.status,
            item.user
                .as_deref()
                .or(item.file.as_deref())
                .unwrap_or("(no user)"),
            item.detail
        ));
    }
    if failed.len() > show_failed {
        lines.push(format!(
            "    ... and {} more (--report FILE lists them all)",
            failed.len() - show_failed
        ));
    }
    lines.push(format!("  pending  {pending:>7}"));
    if !notices.is_empty() {
        lines.push(format!(
            "  notices  {:>7}  {}",
            notices.len(),
            breakdown(&notices)
        ));
    }
    pending
}

fn state_words(run: &RunInfo, in_use_now: bool) -> String {
    match run.state.as_str() {
        "running" if in_use_now => "running now".into(),
        "running" => "stopped without finishing (killed or crashed)".into(),
        "interrupted" => "interrupted (Ctrl-C)".into(),
        "stopped" => "stopped early: every photo write failed the same way".into(),
        other => match &run.finished_at {
            Some(at) => format!("{other} {at}"),
            None => other.to_string(),
        },
    }
}

fn counts_text(counts: &[(String, u64)]) -> String {
    counts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn breakdown(statuses: &[Status]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for s in statuses {
        *counts.entry(*s).or_insert(0usize) += 1;
    }
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{} {n}", s.as_str()))
        .collect();
    format!("({})", parts.join(", "))
}

fn row_of(item: &ItemInfo) -> Row {
    Row {
        file: item.file.clone(),
        user: item.user.clone(),
        status: Some(Status::parse(&item.status).unwrap_or(Status::Failed)),
        detail: item.detail.clone(),
        http_status: item.http_status,
        graph_code: item.graph_code.clone(),
        request_id: item.request_id.clone(),
        ..Row::default()
    }
}

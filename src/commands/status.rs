//! `status`: what the state database says of the last runs: done, failed with reasons,
//! pending; exports one run's rows as CSV or JSON.

use std::path::PathBuf;

use clap::Args;

use crate::error::{ConfigError, exit};
use crate::output::Output;
use crate::report::{Report, Row, Severity, Status};
use crate::state::{ItemInfo, RunInfo, StateDb};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The state database [default: beside --photos, PHOTOS.m365-photos.db].
    #[arg(long, value_name = "FILE", required_unless_present = "photos")]
    pub state: Option<PathBuf>,
    /// The photos folder the runs were made from (finds its state database).
    #[arg(long, value_name = "DIR")]
    pub photos: Option<PathBuf>,
    /// How many runs to list.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub runs: usize,
    /// The run to detail and export [default: the latest].
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,
    /// Write the run's rows to a report: .csv or .json, by extension.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Failed users listed with their reason (the report has them all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub show_failed: usize,
}

/// Prints the summary; exits 1 when the detailed run left failed or pending users.
pub fn run(args: &StatusArgs, out: &Output) -> anyhow::Result<i32> {
    super::backup::check_report(args.report.as_deref())?;
    let path = match (&args.state, &args.photos) {
        (Some(p), _) => p.clone(),
        (None, Some(photos)) => crate::state::default_path(photos),
        (None, None) => {
            return Err(ConfigError::Invalid {
                flag: "--state",
                reason: "name the state database, or the photos folder with --photos".into(),
            }
            .into());
        }
    };
    let Some(db) = StateDb::open_read_only(&path)? else {
        return Err(ConfigError::Invalid {
            flag: "--state",
            reason: format!(
                "{}: no state database there yet (an upload creates it)",
                path.display()
            ),
        }
        .into());
    };
    let runs = db.runs(args.runs.max(1))?;
    out.result(&format!("state: {}", path.display()));
    if runs.is_empty() {
        out.result("no runs recorded yet");
        return Ok(exit::OK);
    }
    let busy = StateDb::in_use(&path);
    out.result("runs (newest first):");
    for (i, r) in runs.iter().enumerate() {
        out.result(&format!(
            "  #{:<4} {:<8} {}  {:<34} {}",
            r.id,
            r.command,
            r.started_at,
            state_words(r, i == 0 && busy),
            counts_text(&r.counts)
        ));
    }
    let chosen = match args.run {
        None => runs[0].clone(),
        Some(id) => match db.run(id)? {
            Some(r) => r,
            None => {
                return Err(ConfigError::Invalid {
                    flag: "--run",
                    reason: format!("no run #{id} in {}", path.display()),
                }
                .into());
            }
        },
    };
    let items = db.items(chosen.id)?;
    let latest_busy = busy && chosen.id == runs[0].id;
    out.result(&format!(
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
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut pending = 0usize;
    let mut notices = Vec::new();
    for item in &items {
        match Status::parse(&item.status) {
            Some(Status::Pending) => pending += 1,
            Some(s) if s.severity() == Severity::Failure => failed.push(item),
            Some(s) if s.severity() == Severity::Notice => notices.push(s),
            Some(s) => done.push(s),
            None => failed.push(item),
        }
    }
    out.result(&format!(
        "  done     {:>7}  {}",
        done.len(),
        breakdown(&done)
    ));
    out.result(&format!("  failed   {:>7}", failed.len()));
    for item in failed.iter().take(args.show_failed) {
        out.result(&format!(
            "    {:<16} {}: {}",
            item.status,
            item.user
                .as_deref()
                .or(item.file.as_deref())
                .unwrap_or("(no user)"),
            item.detail
        ));
    }
    if failed.len() > args.show_failed {
        out.result(&format!(
            "    ... and {} more (--report FILE lists them all)",
            failed.len() - args.show_failed
        ));
    }
    out.result(&format!("  pending  {pending:>7}"));
    if !notices.is_empty() {
        out.result(&format!(
            "  notices  {:>7}  {}",
            notices.len(),
            breakdown(&notices)
        ));
    }
    let (landed, last_failed) = db.user_totals()?;
    out.result(&format!(
        "users with a confirmed upload: {landed}; whose last attempt failed: {last_failed}"
    ));
    if pending > 0 && !latest_busy {
        out.result("to finish the pending users, run the same upload command again");
    }
    if let Some(report_path) = &args.report {
        let mut report = Report::new(&format!("{} (run #{})", chosen.command, chosen.id));
        report.rows = items.iter().map(row_of).collect();
        super::prepare::write_report(report_path, &report)?;
        out.result(&format!("report: {}", report_path.display()));
    }
    Ok(if failed.is_empty() && pending == 0 {
        exit::OK
    } else {
        exit::SOME_FAILED
    })
}

fn state_words(run: &RunInfo, in_use_now: bool) -> String {
    match run.state.as_str() {
        "running" if in_use_now => "running now".into(),
        "running" => "stopped without finishing (killed or crashed)".into(),
        "interrupted" => "interrupted (Ctrl-C)".into(),
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
        ..Row::default()
    }
}

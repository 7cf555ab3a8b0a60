//! The end of every command that has a report: the report files are checked before any
//! work (as hyperfine's `ExportManager` does) and written at the end, then the summary,
//! the file names and the command's hints are printed.

use std::path::{Path, PathBuf};

use super::RunError;
use crate::config::{ConfigError, Options};
use crate::output::Output;
use crate::report::{self, Report};

/// What a command did: its rows, lines to print before and after the summary, and an
/// exit code of its own beyond the rows' (a failed `--lock`, a demo's violations).
#[derive(Debug)]
pub struct Done {
    pub report: Report,
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub code: i32,
    /// A `status` with nothing recorded prints no summary of rows.
    pub summary: bool,
}

impl Done {
    pub fn new(report: Report) -> Done {
        Done {
            report,
            before: Vec::new(),
            after: Vec::new(),
            code: crate::config::exit::OK,
            summary: true,
        }
    }
}

/// The report files a run will write, checked up front.
#[derive(Debug, Default)]
pub(crate) struct Exports {
    report: Option<PathBuf>,
    html: Option<PathBuf>,
}

impl Exports {
    /// A photo command's `--report` and `--html`.
    pub(crate) fn of(opts: &Options) -> Result<Exports, ConfigError> {
        Exports::check(opts.report.as_deref(), opts.html.as_deref())
    }

    /// A tenant command's `--report`.
    pub(crate) fn report(report: Option<&Path>) -> Result<Exports, ConfigError> {
        Exports::check(report, None)
    }

    /// Refuses a report name with no known format or pointing at a folder before any
    /// work, so that an hour's upload never ends in "cannot write the report".
    fn check(report: Option<&Path>, html: Option<&Path>) -> Result<Exports, ConfigError> {
        if let Some(p) = report
            && report::exporter_for(p).is_none()
        {
            return Err(ConfigError::Invalid {
                flag: "--report",
                reason: format!("{}: use a .csv or .json file name", p.display()),
            });
        }
        for (flag, path) in [("--report", report), ("--html", html)] {
            if let Some(path) = path
                && path.is_dir()
            {
                return Err(ConfigError::Output {
                    path: path.to_path_buf(),
                    reason: format!("cannot write {flag} here: it is a folder"),
                });
            }
        }
        Ok(Exports {
            report: report.map(Path::to_path_buf),
            html: html.map(Path::to_path_buf),
        })
    }

    /// Writes every report file asked for.
    pub(crate) fn write(&self, report: &Report) -> Result<(), RunError> {
        if let Some(path) = &self.report {
            write_report(path, report)?;
        }
        if let Some(path) = &self.html {
            report::write_file(path, &report::HtmlExporter, report)
                .map_err(|e| RunError::failed(format!("writing page {}: {e}", path.display())))?;
        }
        Ok(())
    }

    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.report.iter().chain(self.html.iter())
    }
}

/// Writes `report` to a `--report` path, in the format its extension names.
pub(crate) fn write_report(path: &Path, report: &Report) -> Result<(), RunError> {
    let exporter = report::exporter_for(path).ok_or_else(|| ConfigError::Invalid {
        flag: "--report",
        reason: format!("{}: use .csv or .json", path.display()),
    })?;
    report::write_file(path, exporter.as_ref(), report)
        .map_err(|e| RunError::failed(format!("writing report {}: {e}", path.display())))
}

/// Writes the report files, prints the summary and the hints; returns the exit code:
/// the worst row's, or the command's own when that is worse.
pub(crate) fn finish(done: Done, exports: &Exports, out: &Output) -> Result<i32, RunError> {
    for line in &done.before {
        out.result(line);
    }
    exports.write(&done.report)?;
    if done.summary {
        for line in done.report.summary_lines() {
            out.result(&line);
        }
    }
    for path in exports.paths() {
        out.result(&format!("report: {}", path.display()));
    }
    for line in &done.after {
        out.result(line);
    }
    Ok(done.report.exit_code().max(done.code))
}

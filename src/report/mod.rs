//! The per-item outcomes of a run and the files they are written to (CSV, JSON, HTML),
//! one exporter per format behind [`Exporter`].

pub(crate) mod csv;
mod html;
mod json;
mod store;
mod thumbs;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::csv::CsvExporter;
pub use self::html::HtmlExporter;
pub use self::json::JsonExporter;
pub use self::store::{Place, RowRef, Rows};
pub use self::thumbs::Thumb;

/// What happened to one photo file or one CSV user: short, stable words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Plan: photo and user paired, photo readable.
    Matched,
    /// Process: photo made.
    Processed,
    /// Source smaller than the requested size; made at its own size (never upscaled).
    TooSmall,
    /// Upload: on Graph.
    Uploaded,
    /// Dry run: would be uploaded.
    WouldUpload,
    /// Re-run: source, settings and last upload unchanged, nothing done.
    SkippedUnchanged,
    /// Backup/remove/restore outcomes.
    BackedUp,
    Removed,
    WouldRemove,
    Restored,
    /// The user has no photo in the tenant (backup, remove).
    NoTenantPhoto,
    /// Photo whose name matches no CSV row.
    NoUser,
    /// CSV user without a photo.
    NoPhoto,
    /// A file that was seen and deliberately left alone (e.g. a link out of the tree).
    Skipped,
    /// Two photos for one user, or one key on several CSV rows: nothing used.
    Ambiguous,
    /// A CSV row that cannot be used (missing key or user, duplicate key).
    BadRow,
    /// Not decodable, unsupported, truncated, too many pixels.
    InvalidImage,
    /// Graph does not know the user.
    UserNotFound,
    /// Processing or Graph failed for this item.
    Failed,
    /// The run was interrupted (Ctrl-C) before this item was done; a re-run does it.
    Pending,
}

/// How much an outcome matters for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    /// Worth a look, but the run did what it could (no-user, too-small, ...).
    Notice,
    /// An item that should have been handled was not: exit status 1.
    Failure,
}

impl Status {
    /// Every status, in order.
    pub const ALL: [Status; 20] = [
        Status::Matched,
        Status::Processed,
        Status::TooSmall,
        Status::Uploaded,
        Status::WouldUpload,
        Status::SkippedUnchanged,
        Status::BackedUp,
        Status::Removed,
        Status::WouldRemove,
        Status::Restored,
        Status::NoTenantPhoto,
        Status::NoUser,
        Status::NoPhoto,
        Status::Skipped,
        Status::Ambiguous,
        Status::BadRow,
        Status::InvalidImage,
        Status::UserNotFound,
        Status::Failed,
        Status::Pending,
    ];

    /// The status a stored word names (as written by [`Status::as_str`]).
    pub fn parse(word: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == word)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::Processed => "processed",
            Status::TooSmall => "too-small",
            Status::Uploaded => "uploaded",
            Status::WouldUpload => "would-upload",
            Status::SkippedUnchanged => "skipped-unchanged",
            Status::BackedUp => "backed-up",
            Status::Removed => "removed",
            Status::WouldRemove => "would-remove",
            Status::Restored => "restored",
            Status::NoTenantPhoto => "no-tenant-photo",
            Status::NoUser => "no-user",
            Status::NoPhoto => "no-photo",
            Status::Skipped => "skipped",
            Status::Ambiguous => "ambiguous",
            Status::BadRow => "bad-row",
            Status::InvalidImage => "invalid-image",
            Status::UserNotFound => "user-not-found",
            Status::Failed => "failed",
            Status::Pending => "pending",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Status::Matched
            | Status::Processed
            | Status::Uploaded
            | Status::WouldUpload
            | Status::SkippedUnchanged
            | Status::BackedUp
            | Status::Removed
            | Status::WouldRemove
            | Status::Restored => Severity::Ok,
            Status::TooSmall
            | Status::NoUser
            | Status::NoPhoto
            | Status::Skipped
            | Status::NoTenantPhoto
            | Status::BadRow => Severity::Notice,
            Status::Ambiguous
            | Status::InvalidImage
            | Status::UserNotFound
            | Status::Failed
            | Status::Pending => Severity::Failure,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the report: a photo file, a CSV user, or both.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Row {
    /// Photo path relative to the photos folder.
    pub file: Option<String>,
    /// Microsoft 365 user (value of the user column).
    pub user: Option<String>,
    pub status: Option<Status>,
    /// Plain-language reason or remark.
    pub detail: String,
    /// Extra remarks that do not change the status (no-face, several-faces, too-small).
    pub notes: Vec<String>,
    /// CSV line number of the user, when there is one.
    pub csv_line: Option<u64>,
    pub source_format: Option<String>,
    pub source_bytes: Option<u64>,
    pub source_width: Option<u32>,
    pub source_height: Option<u32>,
    /// Processed JPEG, when one was made.
    pub output_file: Option<String>,
    pub output_bytes: Option<u64>,
    pub output_side: Option<u32>,
    /// Square taken from the oriented source, `x,y,side` in source pixels.
    pub crop: Option<String>,
    pub quality: Option<u8>,
    /// The framed face, `x,y,width,height` in source pixels (face crops that found one).
    pub face_box: Option<String>,
    /// The face's width as a share of the square's side, 0-1.
    pub face_share: Option<f32>,
    /// The face detector's confidence, 0-1.
    pub face_confidence: Option<f32>,
    /// Graph requests made for this item (upload and tenant commands).
    pub attempts: Option<u32>,
    pub http_status: Option<u16>,
    pub graph_code: Option<String>,
    /// Graph's `request-id` of the failing answer (Microsoft support asks for it).
    pub request_id: Option<String>,
    /// Thumbnails for the HTML page (data is not written to CSV/JSON).
    #[serde(skip)]
    pub thumbs: Option<Thumbs>,
    /// Graph object id, when the command resolved the user (kept for the state database).
    #[serde(skip)]
    pub graph_id: Option<String>,
}

/// Small JPEGs shown on the HTML page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Thumbs {
    pub source: Option<Thumb>,
    pub output: Option<Thumb>,
}

impl Row {
    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Failed)
    }
}

/// All rows of one run, with what produced them. The rows live in a temporary file
/// ([`Rows`]), so a report of 100,000 rows costs a few MB of memory.
#[derive(Debug, Default)]
pub struct Report {
    /// Command that ran (`plan`, `process`, `upload`, ...).
    pub command: String,
    rows: Rows,
    /// Stopped by Ctrl-C / SIGTERM before all work was done.
    pub interrupted: bool,
}

/// Notes that make an otherwise fine photo worth a look before it goes live.
const LOOK_NOTES: &[&str] = &[
    "no-face",
    "several-faces",
    "too-small",
    "small-face",
    "blurry",
    "dark",
    "overexposed",
    "low-confidence",
    "same-photo",
];

/// Failed, a notice, or a fine photo with a remark a person should check.
pub(crate) fn needs_look(r: &Row) -> bool {
    r.status().severity() != Severity::Ok
        || r.notes.iter().any(|n| LOOK_NOTES.contains(&n.as_str()))
}

impl Report {
    pub fn new(command: &str) -> Self {
        Report {
            command: command.into(),
            ..Report::default()
        }
    }

    /// Adds a row after the others.
    pub fn push(&mut self, row: Row) {
        self.rows.push(Place::Tail, row);
    }

    /// Adds a row at `place` in the report's order.
    pub fn push_at(&mut self, place: Place, row: Row) {
        self.rows.push(place, row);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in report order, read back one at a time.
    pub fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        self.rows.iter()
    }

    /// The rows, for exporters that choose their own order.
    pub fn store(&self) -> &Rows {
        &self.rows
    }

    /// Count of rows per status, in status order.
    pub fn counts(&self) -> BTreeMap<Status, usize> {
        self.rows.counts().clone()
    }

    pub fn count(&self, status: Status) -> usize {
        self.rows.counts().get(&status).copied().unwrap_or(0)
    }

    pub fn worst(&self) -> Severity {
        self.rows
            .counts()
            .keys()
            .map(|s| s.severity())
            .max()
            .unwrap_or(Severity::Ok)
    }

    /// Exit code from the worst outcome.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            return crate::config::exit::INTERRUPTED;
        }
        match self.worst() {
            Severity::Failure => crate::config::exit::SOME_FAILED,
            _ => crate::config::exit::OK,
        }
    }
}

impl Extend<Row> for Report {
    fn extend<I: IntoIterator<Item = Row>>(&mut self, rows: I) {
        for row in rows {
            self.push(row);
        }
    }
}

/// A report file format.
pub trait Exporter {
    fn write(&self, report: &Report, out: &mut dyn Write) -> std::io::Result<()>;

    /// Writes the report to `path` (a format may write more files beside it).
    fn write_file(&self, path: &Path, report: &Report) -> std::io::Result<()> {
        write_single(path, self, report)
    }
}

/// The exporter for a report path, chosen by its extension.
pub fn exporter_for(path: &Path) -> Option<Box<dyn Exporter>> {
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .as_deref()
    {
        Some("csv") => Some(Box::new(CsvExporter)),
        Some("json") => Some(Box::new(JsonExporter)),
        Some("html" | "htm") => Some(Box::new(HtmlExporter)),
        _ => None,
    }
}

/// Writes `report` to `path` atomically (temporary file, then rename), so a reader never
/// sees half a report.
pub fn write_file(path: &Path, exporter: &dyn Exporter, report: &Report) -> std::io::Result<()> {
    exporter.write_file(path, report)
}

/// Writes `report` as one file, atomically.
fn write_single<E: Exporter + ?Sized>(
    path: &Path,
    exporter: &E,
    report: &Report,
) -> std::io::Result<()> {
    crate::util::fs::ensure_parent(path)?;
    crate::util::fs::write_with(path, |file| {
        let mut w = std::io::BufWriter::new(file);
        exporter.write(report, &mut w)?;
        w.flush()
    })
}

impl Report {
    /// A short, human summary: one line per status that occurred, with what it means.
    pub fn summary_lines(&self) -> Vec<String> {
        let counts = self.counts();
        let mut lines = vec![format!("{}: {} rows", self.command, self.len())];
        for (status, n) in counts {
            lines.push(format!(
                "  {:<18} {:>6}  {}",
                status.as_str(),
                n,
                explain(status)
            ));
        }
        lines
    }
}

/// What a status means, for the summary.
fn explain(status: Status) -> &'static str {
    match status {
        Status::Matched => "photos paired with a user and readable",
        Status::Processed => "photos made",
        Status::TooSmall => "made, but the source is smaller than the size asked for",
        Status::Uploaded => "photos uploaded",
        Status::WouldUpload => "would be uploaded (dry run)",
        Status::SkippedUnchanged => "unchanged since the last upload; not sent again",
        Status::BackedUp => "current photos saved",
        Status::Removed => "photos removed",
        Status::WouldRemove => "would be removed (dry run)",
        Status::Restored => "photos put back",
        Status::NoTenantPhoto => "users with no photo in the tenant",
        Status::NoUser => "photos without a user in the CSV",
        Status::NoPhoto => "users without a photo",
        Status::Skipped => "files left alone",
        Status::Ambiguous => "photos not used: their user is not unique",
        Status::BadRow => "CSV rows that cannot be used",
        Status::InvalidImage => "files that are not usable images",
        Status::UserNotFound => "users Microsoft 365 does not know",
        Status::Failed => "failed",
        Status::Pending => "not done: the run was interrupted; run the same command again",
    }
}

#[cfg(test)]
/// Every field set, written without `..Default::default()`: a field added to `Row`
/// must be added here, and so is checked to survive the spool.
pub(crate) fn full_row(i: u32) -> Row {
    Row {
        file: Some(format!("p{i}.jpg")),
        user: Some(format!("u{i}@contoso.com")),
        status: Some(Status::Uploaded),
        detail: "a \"quoted\"\nline".into(),
        notes: vec!["no-face".into(), "guest".into()],
        csv_line: Some(u64::from(i) + 2),
        source_format: Some("jpeg".into()),
        source_bytes: Some(123_456),
        source_width: Some(4000),
        source_height: Some(3000),
        output_file: Some(format!("out/p{i}.jpg")),
        output_bytes: Some(77_000),
        output_side: Some(648),
        crop: Some("10,20,3000".into()),
        quality: Some(85),
        attempts: Some(2),
        http_status: Some(200),
        graph_code: Some("UnknownError".into()),
        request_id: Some("rid".into()),
        face_box: Some("1,2,3,4".into()),
        face_share: Some(0.42),
        face_confidence: Some(0.93),
        thumbs: Some(Thumbs {
            source: Some(Thumb::new(vec![1, 2, 3])),
            output: Some(Thumb::new(vec![4, 5])),
        }),
        graph_id: Some("0000-1111".into()),
    }
}

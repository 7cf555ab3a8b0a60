//! Writes the report as CSV: one row per photo file or CSV user, spreadsheet-friendly.

use std::io::Write;

use super::{Exporter, Report};

pub struct CsvExporter;

const HEADER: &[&str] = &[
    "file",
    "user",
    "status",
    "detail",
    "notes",
    "csv_line",
    "source_format",
    "source_bytes",
    "source_width",
    "source_height",
    "output_file",
    "output_bytes",
    "output_side",
    "crop",
    "quality",
    "attempts",
    "http_status",
    "graph_code",
];

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl Exporter for CsvExporter {
    fn write(&self, report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(HEADER)?;
        for row in &report.rows {
            w.write_record([
                opt(&row.file),
                opt(&row.user),
                row.status().as_str().to_string(),
                row.detail.clone(),
                row.notes.join(";"),
                opt(&row.csv_line),
                opt(&row.source_format),
                opt(&row.source_bytes),
                opt(&row.source_width),
                opt(&row.source_height),
                opt(&row.output_file),
                opt(&row.output_bytes),
                opt(&row.output_side),
                opt(&row.crop),
                opt(&row.quality),
                opt(&row.attempts),
                opt(&row.http_status),
                opt(&row.graph_code),
            ])?;
        }
        w.flush()
    }
}

//! Writes the report as JSON: `{ "command", "summary", "rows": [...] }`.

use std::io::Write;

use super::{Exporter, Report};

pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn write(&self, report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        let summary: serde_json::Map<String, serde_json::Value> = report
            .counts()
            .into_iter()
            .map(|(status, n)| (status.as_str().to_string(), n.into()))
            .collect();
        let doc = serde_json::json!({
            "command": report.command,
            "summary": summary,
            "rows": report.rows,
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        out.write_all(b"\n")
    }
}

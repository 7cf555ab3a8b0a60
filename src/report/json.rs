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
        // Written a row at a time: the rows are read back from their spool, never all
        // held at once.
        write!(out, "{{\n  \"command\": ")?;
        serde_json::to_writer(&mut *out, &report.command)?;
        write!(out, ",\n  \"summary\": ")?;
        serde_json::to_writer(&mut *out, &summary)?;
        write!(out, ",\n  \"rows\": [")?;
        for (i, row) in report.rows().enumerate() {
            out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
            serde_json::to_writer(&mut *out, &row)?;
        }
        out.write_all(if report.is_empty() {
            b"]\n}\n"
        } else {
            b"\n  ]\n}\n"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Row, Status, Thumbs};

    fn written(report: &Report) -> (String, serde_json::Value) {
        let mut out = Vec::new();
        JsonExporter.write(report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let doc = serde_json::from_str(&text).unwrap();
        (text, doc)
    }

    #[test]
    fn writes_command_summary_and_every_row_in_order() {
        let mut report = Report::new("upload");
        report.push(Row {
            file: Some("a.jpg".into()),
            user: Some("a@x.test".into()),
            status: Some(Status::Uploaded),
            notes: vec!["no-face".into()],
            csv_line: Some(2),
            output_bytes: Some(9000),
            attempts: Some(3),
            http_status: Some(200),
            thumbs: Some(Thumbs {
                source: Some(vec![1, 2, 3].into()),
                output: None,
            }),
            graph_id: Some("object-id-1".into()),
            ..Row::default()
        });
        for user in ["b@x.test", "c@x.test"] {
            report.push(Row {
                user: Some(user.into()),
                status: Some(Status::UserNotFound),
                detail: "Microsoft 365 does not know \"this\" user".into(),
                graph_code: Some("Request_ResourceNotFound".into()),
                request_id: Some(format!("rid-{user}")),
                ..Row::default()
            });
        }
        let (text, doc) = written(&report);
        assert!(text.ends_with("}\n"), "one document and a newline");
        assert_eq!(doc["command"], "upload");
        assert_eq!(
            doc["summary"],
            serde_json::json!({"uploaded": 1, "user-not-found": 2})
        );
        let rows = doc["rows"].as_array().unwrap();
        let users: Vec<&str> = rows.iter().map(|r| r["user"].as_str().unwrap()).collect();
        assert_eq!(users, ["a@x.test", "b@x.test", "c@x.test"]);
        let a = &rows[0];
        assert_eq!(a["status"], "uploaded");
        assert_eq!(a["file"], "a.jpg");
        assert_eq!(a["notes"], serde_json::json!(["no-face"]));
        assert_eq!(a["csv_line"], 2);
        assert_eq!(a["output_bytes"], 9000);
        assert_eq!(a["attempts"], 3);
        assert_eq!(a["http_status"], 200);
        assert!(a["source_width"].is_null(), "absent values are null");
        // Thumbnails are for the HTML page, the object id for the state database.
        assert!(
            a.get("thumbs").is_none() && a.get("graph_id").is_none(),
            "{a}"
        );
        assert!(!text.contains("object-id-1"));
        assert_eq!(
            rows[1]["detail"],
            "Microsoft 365 does not know \"this\" user"
        );
        assert_eq!(rows[1]["graph_code"], "Request_ResourceNotFound");
        assert_eq!(rows[1]["request_id"], "rid-b@x.test");
        assert!(a["request_id"].is_null());
    }

    #[test]
    fn values_are_written_as_they_are() {
        // JSON is read by programs: nothing is neutralised or escaped beyond JSON's own.
        let mut report = Report::new("plan");
        report.push(Row {
            user: Some("=HYPERLINK(\"http://x\",\"y\")".into()),
            file: Some("<b>.jpg".into()),
            status: None,
            ..Row::default()
        });
        let (_, doc) = written(&report);
        let row = &doc["rows"][0];
        assert_eq!(row["user"], "=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(row["file"], "<b>.jpg");
        assert!(
            row["status"].is_null(),
            "a row without a status has none in JSON"
        );
        assert_eq!(doc["summary"], serde_json::json!({"failed": 1}));
    }

    #[test]
    fn an_empty_report_has_an_empty_summary_and_no_rows() {
        let (_, doc) = written(&Report::new("status"));
        assert_eq!(
            doc,
            serde_json::json!({"command": "status", "summary": {}, "rows": []})
        );
    }
}

//! Writes the report as one self-contained HTML page (inline CSS/JS, thumbnails as data
//! URIs) so HR can scroll a batch and sign it off, offline.

use std::io::Write;

use base64::Engine;
use serde::Serialize;

use super::{Exporter, Report, Severity};

pub struct HtmlExporter;

const TEMPLATE: &str = include_str!("../../templates/report.html");

#[derive(Serialize)]
struct Card<'a> {
    file: Option<&'a str>,
    user: Option<&'a str>,
    status: &'static str,
    severity: &'static str,
    detail: &'a str,
    notes: &'a [String],
    source_size: Option<String>,
    output_side: Option<u32>,
    output_bytes: Option<u64>,
    quality: Option<u8>,
    http_status: Option<u16>,
    graph_code: Option<&'a str>,
    source: Option<String>,
    output: Option<String>,
}

#[derive(Serialize)]
struct Count {
    status: &'static str,
    severity: &'static str,
    count: usize,
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Ok => "ok",
        Severity::Notice => "notice",
        Severity::Failure => "failure",
    }
}

fn b64(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes
        .as_ref()
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

impl Exporter for HtmlExporter {
    fn write(&self, report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        let mut env = minijinja::Environment::new();
        // The name ends in .html, so every value is HTML-escaped: file names are user input.
        env.add_template("report.html", TEMPLATE)
            .map_err(std::io::Error::other)?;
        // Problems first, so the page opens on what needs a decision.
        let mut rows: Vec<_> = report.rows.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.status().severity()));
        let cards: Vec<Card> = rows
            .iter()
            .map(|r| {
                let thumbs = r.thumbs.as_ref();
                Card {
                    file: r.file.as_deref(),
                    user: r.user.as_deref(),
                    status: r.status().as_str(),
                    severity: severity_class(r.status().severity()),
                    detail: &r.detail,
                    notes: &r.notes,
                    source_size: r
                        .source_width
                        .zip(r.source_height)
                        .map(|(w, h)| format!("{w}x{h}")),
                    output_side: r.output_side,
                    output_bytes: r.output_bytes,
                    quality: r.quality,
                    http_status: r.http_status,
                    graph_code: r.graph_code.as_deref(),
                    source: thumbs.and_then(|t| b64(&t.source)),
                    output: thumbs.and_then(|t| b64(&t.output)),
                }
            })
            .collect();
        let summary: Vec<Count> = report
            .counts()
            .into_iter()
            .map(|(s, count)| Count {
                status: s.as_str(),
                severity: severity_class(s.severity()),
                count,
            })
            .collect();
        let generated = crate::util::time::now_rfc3339();
        let tmpl = env
            .get_template("report.html")
            .map_err(std::io::Error::other)?;
        let html = tmpl
            .render(minijinja::context! {
                command => report.command,
                generated => generated,
                rows => cards,
                summary => summary,
            })
            .map_err(std::io::Error::other)?;
        out.write_all(html.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Row, Status, Thumbs};

    #[test]
    fn escapes_user_input_and_counts_cards() {
        let mut report = Report::new("process");
        report.rows.push(Row {
            file: Some("<script>alert(1)</script>.jpg".into()),
            user: Some("o'brien & \"co\"@x.com".into()),
            status: Some(Status::Processed),
            thumbs: Some(Thumbs {
                source: Some(vec![1, 2, 3]),
                output: None,
            }),
            ..Row::default()
        });
        report.rows.push(Row {
            user: Some("b@x.com".into()),
            status: Some(Status::NoPhoto),
            ..Row::default()
        });
        let mut out = Vec::new();
        HtmlExporter.write(&report, &mut out).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(!html.contains("<script>alert(1)"));
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;.jpg")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.jpg"),
            "{html}"
        );
        assert_eq!(html.matches("<section class=\"card").count(), 2);
        assert!(html.contains("data:image/jpeg;base64,AQID"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
    }
}

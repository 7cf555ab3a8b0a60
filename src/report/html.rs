//! Writes the report as self-contained HTML (inline CSS/JS, thumbnails as data URIs) so
//! HR can scroll a batch and sign it off, offline: one page, or for large runs an index
//! and pages of at most [`PAGE_CARDS`] cards, those that need a look first.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use serde::Serialize;

use super::{Exporter, Report, Row, RowRef, Severity, Thumb};

pub struct HtmlExporter;

const TEMPLATE: &str = include_str!("../../templates/report.html");
const INDEX: &str = include_str!("../../templates/index.html");

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
    /// "face 42% of the square, confidence 0.93".
    face: Option<String>,
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

fn b64(thumb: Option<&Thumb>) -> Option<String> {
    thumb
        .and_then(Thumb::bytes)
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

/// Cards on one page at most: a page of 1,000 cards with two thumbnails each is a few
/// MB and opens at once; 100,000 on one page is what no browser opens.
pub const PAGE_CARDS: usize = 1000;

fn card(r: &Row) -> Card<'_> {
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
        face: r.face_share.map(|share| {
            let conf = r
                .face_confidence
                .map_or(String::new(), |c| format!(", confidence {c:.2}"));
            format!("face {:.0}% of the square{conf}", share * 100.0)
        }),
        source: b64(thumbs.and_then(|t| t.source.as_ref())),
        output: b64(thumbs.and_then(|t| t.output.as_ref())),
    }
}

fn counts<'a>(rows: impl Iterator<Item = &'a Row>) -> Vec<Count> {
    let mut by: std::collections::BTreeMap<super::Status, usize> = Default::default();
    for r in rows {
        *by.entry(r.status()).or_default() += 1;
    }
    count_list(by)
}

fn summary(report: &Report) -> Vec<Count> {
    count_list(report.counts())
}

fn count_list(by: std::collections::BTreeMap<super::Status, usize>) -> Vec<Count> {
    by.into_iter()
        .map(|(s, count)| Count {
            status: s.as_str(),
            severity: severity_class(s.severity()),
            count,
        })
        .collect()
}

/// Links of a page within a paged contact sheet.
#[derive(Serialize)]
struct Nav {
    index: String,
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
    what: String,
}

fn environment() -> std::io::Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    // The names end in .html, so every value is HTML-escaped: file names are user input.
    env.add_template("report.html", TEMPLATE)
        .map_err(std::io::Error::other)?;
    env.add_template("index.html", INDEX)
        .map_err(std::io::Error::other)?;
    Ok(env)
}

/// One page of cards; only its own rows and thumbnails are read back from the spools.
fn write_page(
    env: &minijinja::Environment<'_>,
    command: &str,
    rows: &[Row],
    nav: Option<Nav>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let cards: Vec<Card> = rows.iter().map(card).collect();
    let tmpl = env
        .get_template("report.html")
        .map_err(std::io::Error::other)?;
    // Streamed: a page of 1,000 cards is about 6 MB of HTML, and a String grown to hold it
    // was the largest block of a run's peak.
    tmpl.render_captured_to(
        minijinja::context! {
            command => command,
            generated => crate::util::time::now_rfc3339(),
            rows => cards,
            summary => counts(rows.iter()),
            nav => nav,
        },
        out,
    )
    .map_err(std::io::Error::other)?;
    Ok(())
}

/// A page of the paged sheet, as the index lists it.
#[derive(Serialize)]
struct PageLink {
    href: String,
    what: String,
    cards: usize,
    summary: Vec<Count>,
}

impl HtmlExporter {
    /// Up to [`PAGE_CARDS`] cards: one page. More: an index (`path`) with the counts and
    /// a link per page, and pages of at most [`PAGE_CARDS`] cards in `<name>-pages/`
    /// beside it, those that need a look first and on pages of their own.
    fn write_paged(&self, path: &Path, report: &Report) -> std::io::Result<()> {
        // Problems first, so the sheet opens on what needs a decision.
        let (refs, split) = report.store().look_first();
        let env = environment()?;
        let (look, fine) = refs.split_at(split);
        let chunks: Vec<(&[RowRef], &str)> = look
            .chunks(PAGE_CARDS)
            .map(|c| (c, "to look at"))
            .chain(fine.chunks(PAGE_CARDS).map(|c| (c, "fine")))
            .collect();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".into());
        let dir_name = format!("{stem}-pages");
        let dir = crate::util::fs::parent_dir(path).join(&dir_name);
        std::fs::create_dir_all(&dir)?;
        // Pages of an earlier, larger run would otherwise linger behind the new index.
        for old in std::fs::read_dir(&dir)?.flatten() {
            let name = old.file_name().to_string_lossy().into_owned();
            if name.starts_with("page-") && name.ends_with(".html") {
                let _ = std::fs::remove_file(old.path());
            }
        }
        let index_name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report.html".into());
        let page_name = |i: usize| format!("page-{:03}.html", i + 1);
        let mut links = Vec::new();
        for (i, (chunk, what)) in chunks.iter().enumerate() {
            let chunk: Vec<Row> = chunk.iter().map(|&r| report.store().get(r)).collect();
            let nav = Nav {
                index: format!("../{index_name}"),
                page: i + 1,
                pages: chunks.len(),
                prev: (i > 0).then(|| page_name(i - 1)),
                next: (i + 1 < chunks.len()).then(|| page_name(i + 1)),
                what: (*what).to_string(),
            };
            crate::util::fs::write_with(&dir.join(page_name(i)), |file| {
                let mut w = std::io::BufWriter::new(file);
                write_page(&env, &report.command, &chunk, Some(nav), &mut w)?;
                w.flush()
            })?;
            links.push(PageLink {
                href: format!("{dir_name}/{}", page_name(i)),
                what: (*what).to_string(),
                cards: chunk.len(),
                summary: counts(chunk.iter()),
            });
        }
        let tmpl = env
            .get_template("index.html")
            .map_err(std::io::Error::other)?;
        let html = tmpl
            .render(minijinja::context! {
                command => report.command,
                generated => crate::util::time::now_rfc3339(),
                total => refs.len(),
                look => look.len(),
                summary => summary(report),
                pages => links,
            })
            .map_err(std::io::Error::other)?;
        crate::util::fs::write_atomically(path, html.as_bytes())
    }
}

impl Exporter for HtmlExporter {
    fn write(&self, report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        let env = environment()?;
        let (refs, _) = report.store().look_first();
        let rows: Vec<Row> = refs.into_iter().map(|r| report.store().get(r)).collect();
        write_page(&env, &report.command, &rows, None, out)
    }

    fn write_file(&self, path: &Path, report: &Report) -> std::io::Result<()> {
        if report.len() <= PAGE_CARDS {
            return super::write_single(path, self, report);
        }
        crate::util::fs::ensure_parent(path)?;
        self.write_paged(path, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Row, Status, Thumbs};

    #[test]
    fn escapes_user_input_and_counts_cards() {
        let mut report = Report::new("process");
        report.push(Row {
            file: Some("<script>alert(1)</script>.jpg".into()),
            user: Some("o'brien & \"co\"@x.com".into()),
            status: Some(Status::Processed),
            thumbs: Some(Thumbs {
                source: Some(vec![1, 2, 3].into()),
                output: None,
            }),
            ..Row::default()
        });
        report.push(Row {
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

    #[test]
    fn large_reports_are_paged_with_what_needs_a_look_first() {
        let mut report = Report::new("upload");
        let row = |i: usize, status, note: Option<&str>| Row {
            file: Some(format!("{i:05}.jpg")),
            user: Some(format!("u{i}@x.test")),
            status: Some(status),
            notes: note.map(|n| vec![n.to_string()]).unwrap_or_default(),
            ..Row::default()
        };
        for i in 0..1000 {
            report.push(row(i, Status::Uploaded, None));
        }
        for i in 1000..1100 {
            report.push(row(i, Status::Uploaded, Some("no-face")));
        }
        for i in 1100..2300 {
            report.push(row(i, Status::Failed, None));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sheet.html");
        // A stale page of an earlier, larger run must not survive.
        std::fs::create_dir_all(dir.path().join("sheet-pages")).unwrap();
        std::fs::write(dir.path().join("sheet-pages/page-009.html"), "old").unwrap();
        super::super::write_file(&path, &HtmlExporter, &report).unwrap();
        let index = std::fs::read_to_string(&path).unwrap();
        assert_eq!(index.matches("<tr class=\"page\">").count(), 3, "{index}");
        assert!(index.contains("1300 to look at"), "{index}");
        let page = |n: usize| {
            std::fs::read_to_string(dir.path().join(format!("sheet-pages/page-{n:03}.html")))
                .unwrap()
        };
        let cards = |html: &str| html.matches("<section class=\"card").count();
        let (one, two, three) = (page(1), page(2), page(3));
        assert_eq!((cards(&one), cards(&two), cards(&three)), (1000, 300, 1000));
        assert!(!one.contains("data-status=\"uploaded\""), "failures first");
        assert_eq!(two.matches("data-status=\"uploaded\"").count(), 100);
        assert!(two.contains("no-face") && !three.contains("no-face"));
        assert!(three.contains("page 3 of 3"));
        assert!(
            three.contains("sheet.html\">all pages"),
            "a way back to the index"
        );
        assert!(!dir.path().join("sheet-pages/page-009.html").exists());
        // Up to PAGE_CARDS rows stay one page, as before.
        let mut report = Report::new("upload");
        for i in 0..PAGE_CARDS {
            report.push(row(i, Status::Uploaded, None));
        }
        let small = dir.path().join("small.html");
        super::super::write_file(&small, &HtmlExporter, &report).unwrap();
        assert_eq!(cards(&std::fs::read_to_string(&small).unwrap()), PAGE_CARDS);
        assert!(!dir.path().join("small-pages").exists());
    }
}

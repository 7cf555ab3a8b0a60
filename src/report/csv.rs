//! Writes the report as CSV: one row per photo file or CSV user, spreadsheet-friendly,
//! with every cell a spreadsheet would run as a formula neutralised.

use std::borrow::Cow;
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
    "request_id",
    "face_share",
    "face_confidence",
    "face_box",
];

/// First characters that make Excel, LibreOffice or Google Sheets read a cell as a
/// formula (OWASP "CSV injection").
const FORMULA_START: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// A cell that is safe to open in a spreadsheet: one starting with `=`, `+`, `-`, `@`,
/// tab or CR gets a leading `'` (OWASP's rule), so `=HYPERLINK(...)` from a CSV value, a
/// file name or a Graph message shows as text instead of running.
///
/// Quotes already in front of such a start get one more, so [`restore`] gives back the
/// exact value: machine-read CSVs (the backup manifest) round-trip through both.
pub(crate) fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.trim_start_matches('\'').starts_with(FORMULA_START) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The value [`neutralise`] was given: a cell of quotes followed by a formula start
/// loses one quote; every other cell is returned as it is.
pub(crate) fn restore(cell: &str) -> Cow<'_, str> {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.trim_start_matches('\'').starts_with(FORMULA_START) => {
            Cow::Borrowed(rest)
        }
        _ => Cow::Borrowed(cell),
    }
}

/// `#[serde(with = "crate::report::csv::cell")]` for a string field of a CSV that people
/// open and the program reads back: neutralised when written, restored when read.
pub(crate) mod cell {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::neutralise(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let text = String::deserialize(d)?;
        Ok(super::restore(&text).into_owned())
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

impl Exporter for CsvExporter {
    fn write(&self, report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(HEADER)?;
        for row in report.rows() {
            let record = [
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
                opt(&row.request_id),
                opt(&row.face_share),
                opt(&row.face_confidence),
                opt(&row.face_box),
            ];
            // Every cell, numbers included: none of ours starts with a sign, and a rule
            // with exceptions is one that someone gets wrong later.
            let cells: Vec<Cow<'_, str>> = record.iter().map(|c| neutralise(c)).collect();
            w.write_record(cells.iter().map(|c| c.as_bytes()))?;
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Row, Status};

    fn read(bytes: &[u8]) -> Vec<csv::StringRecord> {
        csv::Reader::from_reader(bytes)
            .records()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn writes_a_header_and_one_record_per_row_with_every_column() {
        let mut report = Report::new("process");
        // Every field set (a column added to Row and not here fails), and a file name
        // that needs quoting.
        let mut first = crate::report::full_row(7);
        first.file = Some("dir/a, \"b\".jpg".into());
        report.push(first);
        report.push(Row {
            user: Some("b@x.test".into()),
            status: None,
            ..Row::default()
        });
        let mut out = Vec::new();
        CsvExporter.write(&report, &mut out).unwrap();
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), HEADER);
        let rows = read(&out);
        assert_eq!(rows.len(), 2);
        let full: Vec<&str> = rows[0].iter().collect();
        assert_eq!(
            full,
            [
                "dir/a, \"b\".jpg",
                "u7@contoso.com",
                "uploaded",
                "a \"quoted\"\nline",
                "no-face;guest",
                "9",
                "jpeg",
                "123456",
                "4000",
                "3000",
                "out/p7.jpg",
                "77000",
                "648",
                "10,20,3000",
                "85",
                "2",
                "200",
                "UnknownError",
                "rid",
                "0.42",
                "0.93",
                "1,2,3,4"
            ]
        );
        // Absent values are empty cells; a row without a status is reported failed.
        let sparse: Vec<&str> = rows[1].iter().collect();
        assert_eq!(sparse.len(), HEADER.len());
        assert_eq!(&sparse[..3], ["", "b@x.test", "failed"]);
        assert!(sparse[3..].iter().all(|c| c.is_empty()), "{sparse:?}");
    }

    #[test]
    fn an_empty_report_is_just_the_header() {
        let mut out = Vec::new();
        CsvExporter.write(&Report::new("plan"), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{}\n", HEADER.join(","))
        );
    }

    #[test]
    fn formula_cells_are_neutralised_in_every_column() {
        let mut report = Report::new("upload");
        report.push(Row {
            file: Some("=HYPERLINK(\"http://x\",\"y\").jpg".into()),
            user: Some("@SUM(A1:A9)".into()),
            status: Some(Status::Failed),
            detail: "-2+3".into(),
            notes: vec!["+cmd".into()],
            graph_code: Some("\tx".into()),
            source_format: Some("\rx".into()),
            crop: Some("'=already".into()),
            output_file: Some("plain'=not-first".into()),
            ..Row::default()
        });
        let mut out = Vec::new();
        CsvExporter.write(&report, &mut out).unwrap();
        let row = &read(&out)[0];
        assert_eq!(&row[0], "'=HYPERLINK(\"http://x\",\"y\").jpg");
        assert_eq!(&row[1], "'@SUM(A1:A9)");
        assert_eq!(&row[3], "'-2+3");
        assert_eq!(&row[4], "'+cmd");
        assert_eq!(&row[17], "'\tx");
        assert_eq!(&row[6], "'\rx");
        assert_eq!(&row[13], "''=already");
        assert_eq!(&row[10], "plain'=not-first");
        for cell in row.iter() {
            assert!(!cell.starts_with(FORMULA_START), "{cell:?}");
        }
    }

    #[test]
    fn neutralise_and_restore_round_trip() {
        for value in [
            "", "a@x.test", "=1+1", "+1", "-1", "@x", "\tx", "\rx", "'", "'a", "'=x", "''=x", "''",
            "a=b", "=",
        ] {
            let written = neutralise(value);
            assert!(
                !written.starts_with(FORMULA_START),
                "{value:?} -> {written:?}"
            );
            assert_eq!(restore(&written), value, "{value:?} -> {written:?}");
        }
        assert!(matches!(neutralise("safe"), Cow::Borrowed(_)));
        assert_eq!(neutralise("=x"), "'=x");
        // Cells written before neutralising existed read back unchanged.
        assert_eq!(restore("=x"), "=x");
        assert_eq!(restore("'a"), "'a");
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Line {
        #[serde(with = "cell")]
        name: String,
        n: u32,
    }

    #[test]
    fn serde_fields_round_trip_through_a_csv_file() {
        let lines = [
            Line {
                name: "=HYPERLINK(\"http://x\",\"y\")".into(),
                n: 1,
            },
            Line {
                name: "'=quoted".into(),
                n: 2,
            },
            Line {
                name: "plain".into(),
                n: 3,
            },
        ];
        let mut w = csv::Writer::from_writer(Vec::new());
        for l in &lines {
            w.serialize(l).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with('=')), "{text}");
        let back: Vec<Line> = csv::Reader::from_reader(bytes.as_slice())
            .deserialize()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, lines);
    }
}

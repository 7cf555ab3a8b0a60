//! Reads the staff CSV and pairs each photo with the user it belongs to.

use std::collections::HashMap;
use std::path::Path;

use unicode_normalization::UnicodeNormalization;

use crate::config::ConfigError;
use crate::config::{CropMode, Framing, ImageOptions, MatchOptions};
use crate::pipeline::discover::PhotoFile;

/// One usable CSV user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Line in the CSV file (1 = header).
    pub line: u64,
    /// Value of the match column, as written.
    pub key: String,
    /// Value of the user column: the Microsoft 365 user the photo goes to.
    pub user: String,
    /// This user's `crop` and `framing` cells, when the CSV has those columns and they
    /// are filled: HR fixes one photo without renaming files or changing the run's flags.
    pub crop: Option<CropMode>,
    pub framing: Option<Framing>,
}

impl UserRow {
    /// The run's image options with this user's overrides applied.
    pub fn image_options(&self, run: &ImageOptions) -> ImageOptions {
        ImageOptions {
            crop: self.crop.unwrap_or(run.crop),
            framing: self.framing.unwrap_or(run.framing),
            ..run.clone()
        }
    }
}

/// A CSV row that cannot be used, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvIssue {
    pub line: u64,
    /// The user column value, if the row had one.
    pub user: Option<String>,
    pub reason: String,
    /// A repeat of an earlier row (same key, same user): harmless where only the users
    /// of a column are wanted.
    pub duplicate: bool,
}

/// The users of the CSV, indexed by normalised match key.
#[derive(Debug, Default)]
pub struct UserIndex {
    pub users: Vec<UserRow>,
    pub issues: Vec<CsvIssue>,
    /// Keys that several rows name different users for: photos with them are ambiguous.
    pub conflicting: HashMap<String, Vec<u64>>,
    by_key: HashMap<String, usize>,
    /// Built from the tenant's directory: "line" n is the n-th user listed, named here,
    /// and a user without a photo is nobody's concern.
    directory: Option<HashMap<u64, String>>,
}

/// A photo and its user.
#[derive(Debug, Clone)]
pub struct MatchedPhoto {
    pub file: PhotoFile,
    pub user: UserRow,
}

/// A photo that cannot be used because its user is not unique.
#[derive(Debug, Clone)]
pub struct AmbiguousPhoto {
    pub file: PhotoFile,
    pub user: Option<String>,
    pub reason: String,
}

/// Photos and users, paired.
#[derive(Debug, Default)]
pub struct MatchPlan {
    pub matched: Vec<MatchedPhoto>,
    pub no_user: Vec<PhotoFile>,
    pub ambiguous: Vec<AmbiguousPhoto>,
    pub no_photo: Vec<UserRow>,
}

/// Normalises a key for comparison: surrounding spaces, Unicode form (macOS writes NFD
/// file names) and case do not matter.
pub fn normalise(s: &str) -> String {
    s.trim().nfc().collect::<String>().to_lowercase()
}

impl UserIndex {
    /// Reads the staff CSV the way HR systems and Excel write it: UTF-8 with or without a
    /// BOM, comma, semicolon or tab separated, quoted fields, blank lines.
    pub fn load(path: &Path, opts: &MatchOptions) -> Result<UserIndex, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::UsersCsv {
            path: path.to_path_buf(),
            reason: format!("{e} (check the --users path)"),
        })?;
        Self::parse(path, &bytes, opts)
    }

    pub fn parse(path: &Path, bytes: &[u8], opts: &MatchOptions) -> Result<UserIndex, ConfigError> {
        let utf16 = utf16_text(bytes).map(|r| {
            r.map_err(|reason| ConfigError::UsersCsv {
                path: path.to_path_buf(),
                reason,
            })
        });
        let utf16 = utf16.transpose()?;
        let text = match &utf16 {
            Some(text) => text.as_str(),
            None => {
                let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                std::str::from_utf8(bytes).map_err(|e| ConfigError::UsersCsv {
                    path: path.to_path_buf(),
                    reason: format!(
                        "is not UTF-8 ({e}); save it from Excel as \"CSV UTF-8 (Comma delimited)\""
                    ),
                })?
            }
        };
        let (text, sep) = excel_sep_line(text);
        let delimiter = sep.unwrap_or_else(|| detect_delimiter(text));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| ConfigError::UsersCsv {
                path: path.to_path_buf(),
                reason: format!("cannot read the header row: {e}"),
            })?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(ConfigError::UsersCsv {
                path: path.to_path_buf(),
                reason: "is empty: the first line must name the columns".into(),
            });
        }
        let find = |column: &str, flag: &'static str| {
            column_index(&headers, column).ok_or_else(|| ConfigError::MissingColumn {
                path: path.to_path_buf(),
                column: column.to_string(),
                flag,
                found: headers.join(", "),
            })
        };
        let key_col = find(&opts.match_column, "--match-column")?;
        let user_col = find(&opts.user_column, "--user-column")?;
        // Optional per-user overrides of --crop and --framing.
        let crop_col = column_index(&headers, "crop");
        let framing_col = column_index(&headers, "framing");

        let mut index = UserIndex::default();
        // Line numbers counted from the text itself: the csv crate's own count is off
        // after CRLF endings and a removed `sep=` line, and people look lines up in Excel.
        let mut lines = LineCounter::new(text);
        for record in reader.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                    index.issues.push(CsvIssue {
                        line,
                        user: None,
                        reason: format!("unreadable row: {e}"),
                        duplicate: false,
                    });
                    continue;
                }
            };
            let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
            if record.iter().all(str::is_empty) {
                continue;
            }
            let key = record.get(key_col).unwrap_or("").to_string();
            let user = record.get(user_col).unwrap_or("").to_string();
            if key.is_empty() {
                index.issues.push(CsvIssue {
                    line,
                    user: (!user.is_empty()).then_some(user),
                    reason: format!("no value in the {} column", opts.match_column),
                    duplicate: false,
                });
                continue;
            }
            if user.is_empty() {
                index.issues.push(CsvIssue {
                    line,
                    user: None,
                    reason: format!("no value in the {} column (key {key:?})", opts.user_column),
                    duplicate: false,
                });
                continue;
            }
            let (crop, framing) = match overrides(&record, crop_col, framing_col) {
                Ok(o) => o,
                Err(reason) => {
                    index.issues.push(CsvIssue {
                        line,
                        user: Some(user),
                        reason,
                        duplicate: false,
                    });
                    continue;
                }
            };
            index.add(UserRow {
                line,
                key,
                user,
                crop,
                framing,
            });
        }
        Ok(index)
    }

    fn add(&mut self, row: UserRow) {
        let norm = normalise(&row.key);
        if let Some(&first) = self.by_key.get(&norm) {
            let first_row = &self.users[first];
            let same_user = normalise(&first_row.user) == normalise(&row.user);
            let reason = if same_user {
                format!(
                    "duplicate of line {} (same key and user); ignored",
                    first_row.line
                )
            } else {
                format!(
                    "key {:?} is also on line {} for another user ({}); photos with this key are not used",
                    row.key, first_row.line, first_row.user
                )
            };
            if !same_user {
                self.conflicting
                    .entry(norm)
                    .or_insert_with(|| vec![first_row.line])
                    .push(row.line);
            }
            self.issues.push(CsvIssue {
                line: row.line,
                user: Some(row.user),
                reason,
                duplicate: same_user,
            });
            return;
        }
        self.by_key.insert(norm, self.users.len());
        self.users.push(row);
    }

    pub fn get(&self, key: &str) -> Option<&UserRow> {
        self.by_key.get(&normalise(key)).map(|&i| &self.users[i])
    }

    /// Pairs photos with users. A user with two photos gets neither (both ambiguous).
    /// An index of the tenant's own users: `(value of the matched property, UPN)` in
    /// directory order. Two users holding one value make photos with it ambiguous.
    pub fn from_directory(users: impl IntoIterator<Item = (String, String)>) -> UserIndex {
        let mut index = UserIndex {
            directory: Some(HashMap::new()),
            ..UserIndex::default()
        };
        for (n, (key, upn)) in users.into_iter().enumerate() {
            let line = n as u64 + 1;
            if let Some(names) = index.directory.as_mut() {
                names.insert(line, upn.clone());
            }
            if !key.trim().is_empty() {
                index.add(UserRow {
                    line,
                    key,
                    user: upn,
                    crop: None,
                    framing: None,
                });
            }
        }
        // A directory is not a list of wanted users: its repeats are not row problems.
        index.issues.clear();
        index
    }

    pub fn match_photos(&self, photos: Vec<PhotoFile>) -> MatchPlan {
        let mut plan = MatchPlan::default();
        // Grouped by the user they go to, not by CSV row: two keys (say, two employee
        // ids) naming one user with a photo each is still two photos for one user.
        let mut per_user: HashMap<String, (usize, Vec<PhotoFile>)> = HashMap::new();
        for photo in photos {
            let norm = normalise(&photo.stem);
            if let Some(lines) = self.conflicting.get(&norm) {
                let reason = match &self.directory {
                    Some(names) => {
                        let who: Vec<&str> = lines
                            .iter()
                            .filter_map(|l| names.get(l).map(String::as_str))
                            .collect();
                        format!(
                            "{} users in the tenant match its name ({}); nothing was sent to either",
                            who.len(),
                            who.join(", ")
                        )
                    }
                    None => {
                        let lines: Vec<String> = lines.iter().map(u64::to_string).collect();
                        format!(
                            "its name matches CSV lines {} which name different users",
                            lines.join(", ")
                        )
                    }
                };
                plan.ambiguous.push(AmbiguousPhoto {
                    file: photo,
                    user: None,
                    reason,
                });
                continue;
            }
            match self.by_key.get(&norm) {
                Some(&i) => per_user
                    .entry(normalise(&self.users[i].user))
                    .or_insert_with(|| (i, Vec::new()))
                    .1
                    .push(photo),
                None => plan.no_user.push(photo),
            }
        }
        let mut users: Vec<_> = per_user.into_values().collect();
        users.sort_by_key(|(i, _)| *i);
        let mut has_photo = vec![false; self.users.len()];
        for (i, mut files) in users {
            has_photo[i] = true;
            let user = &self.users[i];
            if files.len() == 1 {
                if let Some(file) = files.pop() {
                    plan.matched.push(MatchedPhoto {
                        file,
                        user: user.clone(),
                    });
                }
            } else {
                let names: Vec<String> = files.iter().map(|f| f.rel.clone()).collect();
                for file in files {
                    plan.ambiguous.push(AmbiguousPhoto {
                        file,
                        user: Some(user.user.clone()),
                        reason: format!(
                            "{} photos for this user ({}); keep one",
                            names.len(),
                            names.join(", ")
                        ),
                    });
                }
            }
        }
        if self.directory.is_none() {
            plan.no_photo = self
                .users
                .iter()
                .zip(has_photo)
                .filter(|(_, has)| !has)
                .map(|(u, _)| u.clone())
                .collect();
        }
        plan
    }
}

/// Finds a column by name, exactly first, then ignoring case and spaces.
/// A row's `crop` and `framing` cells (the per-user overrides of `--crop` and
/// `--framing`): empty or absent is `None`; a value that is neither is the row's issue.
fn overrides(
    record: &csv::StringRecord,
    crop_col: Option<usize>,
    framing_col: Option<usize>,
) -> Result<(Option<CropMode>, Option<Framing>), String> {
    let cell = |col: Option<usize>| {
        col.and_then(|c| record.get(c))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let crop = cell(crop_col)
        .map(|v| {
            CropMode::parse(v)
                .ok_or_else(|| format!("crop column: {v:?} is not face, portrait or centre"))
        })
        .transpose()?;
    let framing = cell(framing_col)
        .map(|v| {
            Framing::parse(v)
                .ok_or_else(|| format!("framing column: {v:?} is not tight, standard or loose"))
        })
        .transpose()?;
    Ok((crop, framing))
}

fn column_index(headers: &[String], name: &str) -> Option<usize> {
    headers.iter().position(|h| h == name).or_else(|| {
        let want = normalise(name);
        headers.iter().position(|h| normalise(h) == want)
    })
}

/// Excel's "Unicode text" (UTF-16 with a byte-order mark, usually tab separated) as
/// text; `None` when there is no UTF-16 byte-order mark.
fn utf16_text(bytes: &[u8]) -> Option<Result<String, String>> {
    let (rest, little) = if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        (rest, true)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        (rest, false)
    } else {
        return None;
    };
    let endian = if little { "LE" } else { "BE" };
    if rest.len() % 2 != 0 {
        return Some(Err(format!(
            "starts as UTF-16 {endian} but has an odd number of bytes (cut short?)"
        )));
    }
    let units: Vec<u16> = rest
        .chunks_exact(2)
        .map(|p| {
            if little {
                u16::from_le_bytes([p[0], p[1]])
            } else {
                u16::from_be_bytes([p[0], p[1]])
            }
        })
        .collect();
    Some(String::from_utf16(&units).map_err(|e| format!("is not valid UTF-16 {endian} ({e})")))
}

/// Excel's `sep=;` first line names the delimiter. Returns the text with that line's
/// content removed but its line break kept, so CSV line numbers stay those of the file.
/// 1-based line numbers of byte offsets, asked in increasing order (each byte is
/// scanned once, so a 100,000-row CSV costs one pass).
struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, byte: u64) -> u64 {
        let mut to = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        // After a CR, the csv crate starts the next record at the LF (or at blank lines):
        // the record itself starts after them.
        while to < self.text.len() && matches!(self.text[to], b'\r' | b'\n') {
            to += 1;
        }
        if to > self.at {
            self.line += self.text[self.at..to]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.at = to;
        }
        self.line
    }
}

fn excel_sep_line(text: &str) -> (&str, Option<u8>) {
    let end = text.find(['\r', '\n']).unwrap_or(text.len());
    // Not `trim()`: `sep=<TAB>` names the tab.
    let first = text[..end].trim_matches(' ');
    let first = first
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(first);
    match first.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("sep=") => match first.as_bytes()[4..] {
            [d] if d.is_ascii() && d != b'"' && !d.is_ascii_alphanumeric() => {
                (&text[end..], Some(d))
            }
            _ => (text, None),
        },
        _ => (text, None),
    }
}

/// Picks the delimiter from the header line: whichever of `,` `;` `\t` occurs most
/// outside quotes (Excel in many European locales writes `;`).
fn detect_delimiter(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in header.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in counts.iter_mut() {
                if *d == b {
                    *n += 1;
                }
            }
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::format::SourceFormat;
    use std::path::PathBuf;

    fn opts(m: &str, u: &str) -> MatchOptions {
        MatchOptions {
            match_column: m.into(),
            user_column: u.into(),
        }
    }

    fn photo(stem: &str) -> PhotoFile {
        PhotoFile {
            path: PathBuf::from(format!("{stem}.jpg")),
            rel: format!("{stem}.jpg"),
            stem: stem.into(),
            bytes: 1,
            format: SourceFormat::Jpeg,
        }
    }

    #[test]
    fn semicolon_bom_quotes_blank_lines() {
        let csv =
            "\u{FEFF}employeeId;\"userPrincipalName\"\n\n 10432 ;\"a@x.com\"\n10433;b@x.com\n\n";
        let idx = UserIndex::parse(
            Path::new("u.csv"),
            csv.as_bytes(),
            &opts("employeeId", "userPrincipalName"),
        )
        .unwrap();
        assert_eq!(idx.users.len(), 2);
        assert_eq!(idx.get("10432").unwrap().user, "a@x.com");
        assert!(idx.issues.is_empty());
    }

    #[test]
    fn utf16_with_bom_both_byte_orders() {
        let text = "employeeId\tuserPrincipalName\r\n1\tzoë@x.com\r\n2\t山田@x.com\r\n";
        for little in [true, false] {
            let mut bytes = if little {
                vec![0xFF, 0xFE]
            } else {
                vec![0xFE, 0xFF]
            };
            for u in text.encode_utf16() {
                bytes.extend(if little {
                    u.to_le_bytes()
                } else {
                    u.to_be_bytes()
                });
            }
            let idx = UserIndex::parse(
                Path::new("u.txt"),
                &bytes,
                &opts("employeeId", "userPrincipalName"),
            )
            .unwrap();
            assert_eq!(idx.get("1").unwrap().user, "zoë@x.com");
            assert_eq!(idx.get("2").unwrap().user, "山田@x.com");
            assert_eq!(idx.get("2").unwrap().line, 3);
            let mut odd = bytes.clone();
            odd.push(0);
            let err =
                UserIndex::parse(Path::new("u.txt"), &odd, &opts("employeeId", "x")).unwrap_err();
            assert!(err.to_string().contains("odd number of bytes"), "{err}");
        }
    }

    #[test]
    fn excel_sep_line_names_the_delimiter_and_keeps_line_numbers() {
        // The header alone would suggest ',' (two of them against one ';').
        for first in ["sep=;", "SEP=;", "\"sep=;\""] {
            let csv = format!("\u{FEFF}{first}\r\nid;upn,name,x\r\n7;a@x.com,A,1\r\n");
            let idx = UserIndex::parse(
                Path::new("u.csv"),
                csv.as_bytes(),
                &opts("id", "upn,name,x"),
            )
            .unwrap();
            let row = idx.get("7").unwrap();
            assert_eq!(row.user, "a@x.com,A,1", "{first}");
            assert_eq!(row.line, 3);
        }
        assert_eq!(excel_sep_line("sep=,\nx").1, Some(b','));
        assert_eq!(excel_sep_line("sep=\t\nx").1, Some(b'\t'));
        assert_eq!(excel_sep_line("separator\nx").1, None);
        assert_eq!(excel_sep_line("sep=a\nx").1, None);
        assert_eq!(excel_sep_line("sep=").1, None);
    }

    #[test]
    fn tab_delimited() {
        let csv = "upn\tname\nA@X.com\tA\n";
        let idx =
            UserIndex::parse(Path::new("u.csv"), csv.as_bytes(), &opts("upn", "upn")).unwrap();
        assert_eq!(idx.get("a@x.com").unwrap().user, "A@X.com");
    }

    #[test]
    fn missing_column_names_the_flag_and_columns() {
        let csv = "mail,name\n";
        let err = UserIndex::parse(
            Path::new("u.csv"),
            csv.as_bytes(),
            &opts("employeeId", "mail"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("--match-column") && msg.contains("mail, name"),
            "{msg}"
        );
    }

    #[test]
    fn duplicates_and_missing_keys_are_per_row() {
        let csv = "id,upn\n1,a@x\n,b@x\n1,c@x\n2,d@x\n2,d@x\n3,\n";
        let idx = UserIndex::parse(Path::new("u.csv"), csv.as_bytes(), &opts("id", "upn")).unwrap();
        assert_eq!(idx.users.len(), 2);
        let lines: Vec<u64> = idx.issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, [3, 4, 6, 7]);
        let plan = idx.match_photos(vec![photo("1"), photo("2")]);
        assert_eq!(plan.ambiguous.len(), 1);
        assert_eq!(plan.matched.len(), 1);
    }

    #[test]
    fn nfd_names_and_case_match_and_two_photos_are_ambiguous() {
        let csv = "upn\nrené@x.com\nzoe@x.com\nnobody@x.com\n";
        let idx =
            UserIndex::parse(Path::new("u.csv"), csv.as_bytes(), &opts("upn", "upn")).unwrap();
        let nfd: String = "RENE\u{301}@x.com".into();
        let mut z2 = photo("zoe@x.com");
        z2.rel = "sub/zoe@x.com.png".into();
        let plan = idx.match_photos(vec![photo(&nfd), photo("zoe@x.com"), z2, photo("stranger")]);
        assert_eq!(plan.matched.len(), 1);
        assert_eq!(plan.matched[0].user.user, "rené@x.com");
        assert_eq!(plan.ambiguous.len(), 2);
        assert_eq!(plan.no_user.len(), 1);
        assert_eq!(plan.no_photo.len(), 1);
        assert_eq!(plan.no_photo[0].user, "nobody@x.com");
    }
}

//! The rows of a report, written to an unnamed temporary file as they are made, so that a
//! 100,000-user run keeps a few bytes a row in memory instead of the rows; read back in
//! report order by the exporters.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use super::{Row, Severity, Status, Thumbs};

/// Where a row goes in the report. Rows are read back by place, then by rank; rows of
/// the same place and rank in the order they were pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// Before every per-user row (an upload's users left for a later run).
    Head,
    /// The per-user rows, by rank (an upload ranks its users in file order, whatever
    /// order their uploads finish in).
    Body(u64),
    /// After the rest, in the order pushed: what [`super::Report::push`] does.
    Tail,
}

/// What the store keeps in memory for one row.
#[derive(Debug, Clone, Copy)]
struct Entry {
    place: Place,
    seq: u32,
    /// Problems and remarks first on the contact sheet.
    look: Look,
    at: Loc,
}

#[derive(Debug, Clone, Copy)]
enum Loc {
    Spooled {
        offset: u64,
        len: u32,
    },
    /// The spool could not be written (a full temporary folder): kept in memory, which
    /// costs memory but never a row.
    Memory(u32),
}

/// A row's class on the contact sheet: failures, then notices, then fine rows with a
/// remark, then the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Look {
    severity: std::cmp::Reverse<Severity>,
    fine: bool,
}

impl Look {
    pub(crate) fn of(row: &Row) -> Look {
        Look {
            severity: std::cmp::Reverse(row.status().severity()),
            fine: !super::needs_look(row),
        }
    }

    /// Worth a look before the photo goes live.
    pub(crate) fn needs_look(self) -> bool {
        !self.fine
    }
}

/// The rows of one report.
#[derive(Debug, Default)]
pub struct Rows {
    /// Made on the first push; `None` until then or when it cannot be made.
    spool: Option<File>,
    spool_failed: bool,
    end: u64,
    memory: Vec<Row>,
    entries: Vec<Entry>,
    counts: BTreeMap<Status, usize>,
}

/// A row's position in the store, as [`Rows::ordered`] hands them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef(u32);

/// What the spool holds of a row: its fields, and those the JSON report leaves out.
type Spooled<'a> = (&'a Row, &'a Option<Thumbs>, &'a Option<String>);
type Unspooled = (Row, Option<Thumbs>, Option<String>);

impl Rows {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn counts(&self) -> &BTreeMap<Status, usize> {
        &self.counts
    }

    pub fn push(&mut self, place: Place, row: Row) {
        *self.counts.entry(row.status()).or_insert(0) += 1;
        let look = Look::of(&row);
        let seq = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let at = match self.spool_row(&row) {
            Some(at) => at,
            None => {
                self.memory.push(row);
                Loc::Memory(u32::try_from(self.memory.len() - 1).unwrap_or(u32::MAX))
            }
        };
        self.entries.push(Entry {
            place,
            seq,
            look,
            at,
        });
    }

    /// Appends `row` to the spool; `None` when it cannot (the row then stays in memory).
    fn spool_row(&mut self, row: &Row) -> Option<Loc> {
        if self.spool.is_none() && !self.spool_failed {
            self.spool = tempfile::tempfile().ok();
            self.spool_failed = self.spool.is_none();
        }
        let file = self.spool.as_mut()?;
        let record: Spooled<'_> = (row, &row.thumbs, &row.graph_id);
        let bytes = serde_json::to_vec(&record).ok()?;
        let len = u32::try_from(bytes.len()).ok()?;
        let offset = self.end;
        // Seek every time: a failed write may have moved the file's position.
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.write_all(&bytes).ok()?;
        self.end += u64::from(len);
        Some(Loc::Spooled { offset, len })
    }

    /// Every row in report order.
    pub fn ordered(&self) -> Vec<RowRef> {
        let mut refs: Vec<u32> = (0..self.entries.len() as u32).collect();
        refs.sort_by_key(|&i| {
            let e = &self.entries[i as usize];
            (e.place, e.seq)
        });
        refs.into_iter().map(RowRef).collect()
    }

    /// Every row, those that need a look first (in report order within each class);
    /// with how many need a look.
    pub(crate) fn look_first(&self) -> (Vec<RowRef>, usize) {
        let mut refs = self.ordered();
        refs.sort_by_key(|r| self.entries[r.0 as usize].look);
        let look = refs
            .iter()
            .take_while(|r| self.entries[r.0 as usize].look.needs_look())
            .count();
        (refs, look)
    }

    /// The row at `r`. A row the spool cannot give back (the temporary file failed) comes
    /// back as a failed row saying so, never as nothing.
    pub fn get(&self, r: RowRef) -> Row {
        let Some(entry) = self.entries.get(r.0 as usize) else {
            return unreadable(format!("no row {}", r.0));
        };
        match entry.at {
            Loc::Memory(i) => self
                .memory
                .get(i as usize)
                .cloned()
                .unwrap_or_else(|| unreadable(format!("no row {i} in memory"))),
            Loc::Spooled { offset, len } => match self.read(offset, len) {
                Ok(row) => row,
                Err(e) => unreadable(e.to_string()),
            },
        }
    }

    fn read(&self, offset: u64, len: u32) -> std::io::Result<Row> {
        let mut file = self
            .spool
            .as_ref()
            .ok_or_else(|| std::io::Error::other("the spool is gone"))?;
        let mut buf = vec![0; len as usize];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut buf)?;
        let (mut row, thumbs, graph_id): Unspooled = serde_json::from_slice(&buf)?;
        row.thumbs = thumbs;
        row.graph_id = graph_id;
        Ok(row)
    }

    /// Every row in report order, read back one at a time.
    pub fn iter(&self) -> impl Iterator<Item = Row> + '_ {
        self.ordered().into_iter().map(|r| self.get(r))
    }

    /// The ranks of the [`Place::Body`] rows, sorted.
    pub fn body_ranks(&self) -> Vec<u64> {
        let mut ranks: Vec<u64> = self
            .entries
            .iter()
            .filter_map(|e| match e.place {
                Place::Body(rank) => Some(rank),
                _ => None,
            })
            .collect();
        ranks.sort_unstable();
        ranks
    }
}

fn unreadable(why: String) -> Row {
    Row {
        status: Some(Status::Failed),
        detail: format!(
            "this report row could not be read back from its temporary file ({why}); the state database (--state) still has it"
        ),
        ..Row::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_the_spool() {
        let mut rows = Rows::default();
        // Made once: each `Thumb::new` spools its bytes at a new offset.
        let row = crate::report::full_row(1);
        let want = format!("{:?}", vec![&row]);
        rows.push(Place::Tail, row);
        let back: Vec<Row> = rows.iter().collect();
        assert_eq!(format!("{:?}", back.iter().collect::<Vec<_>>()), want);
        let thumbs = back[0].thumbs.as_ref().unwrap();
        assert_eq!(thumbs.source.as_ref().unwrap().bytes(), Some(vec![1, 2, 3]));
        assert!(rows.memory.is_empty(), "rows were spooled, not kept");
    }

    #[test]
    fn rows_come_back_by_place_then_rank_then_push_order() {
        let mut rows = Rows::default();
        let mut push = |place, name: &str| {
            rows.push(
                place,
                Row {
                    file: Some(name.into()),
                    ..Row::default()
                },
            )
        };
        push(Place::Tail, "t1");
        push(Place::Body(5), "b5");
        push(Place::Head, "h1");
        push(Place::Body(1), "b1");
        push(Place::Tail, "t2");
        push(Place::Body(5), "b5-second");
        let files: Vec<String> = rows.iter().filter_map(|r| r.file).collect();
        assert_eq!(files, ["h1", "b1", "b5", "b5-second", "t1", "t2"]);
        assert_eq!(rows.body_ranks(), [1, 5, 5]);
    }

    #[test]
    fn look_first_puts_failures_then_notices_then_remarks_first() {
        let mut rows = Rows::default();
        let row = |file: &str, status, note: Option<&str>| Row {
            file: Some(file.into()),
            status: Some(status),
            notes: note.map(|n| vec![n.to_string()]).unwrap_or_default(),
            ..Row::default()
        };
        rows.push(Place::Tail, row("ok", Status::Uploaded, None));
        rows.push(
            Place::Tail,
            row("remark", Status::Uploaded, Some("no-face")),
        );
        rows.push(Place::Tail, row("notice", Status::NoUser, None));
        rows.push(Place::Tail, row("failed", Status::Failed, None));
        let (refs, look) = rows.look_first();
        let files: Vec<String> = refs.into_iter().filter_map(|r| rows.get(r).file).collect();
        assert_eq!(files, ["failed", "notice", "remark", "ok"]);
        assert_eq!(look, 3);
        assert_eq!(rows.counts()[&Status::Uploaded], 2);
    }
}

//! Contact-sheet thumbnails, spooled to an unnamed temporary file as the workers make
//! them, so that a 100,000-photo run holds none of them in memory; the page writer reads
//! each one back as it writes its card.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::{Mutex, OnceLock};

/// One small JPEG.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Thumb(Repr);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Repr {
    /// Kept in memory: the spool could not be made or written (a full or read-only
    /// temporary folder), which costs memory but never the page.
    Inline(Vec<u8>),
    Spooled {
        offset: u64,
        len: usize,
    },
}

/// The process's spool: created on first use, deleted by the OS when the process ends.
fn spool() -> Option<&'static Mutex<File>> {
    static SPOOL: OnceLock<Option<Mutex<File>>> = OnceLock::new();
    SPOOL
        .get_or_init(|| tempfile::tempfile().ok().map(Mutex::new))
        .as_ref()
}

impl Thumb {
    /// Spools `bytes`.
    pub fn new(bytes: Vec<u8>) -> Thumb {
        let Some(spool) = spool() else {
            return Thumb(Repr::Inline(bytes));
        };
        let mut file = spool.lock().unwrap_or_else(|e| e.into_inner());
        let written = file
            .seek(SeekFrom::End(0))
            .and_then(|offset| file.write_all(&bytes).map(|()| offset));
        match written {
            Ok(offset) => Thumb(Repr::Spooled {
                offset,
                len: bytes.len(),
            }),
            Err(_) => Thumb(Repr::Inline(bytes)),
        }
    }

    /// The JPEG's bytes; `None` when the spool can no longer be read.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match &self.0 {
            Repr::Inline(b) => Some(b.clone()),
            Repr::Spooled { offset, len } => {
                let mut file = spool()?.lock().unwrap_or_else(|e| e.into_inner());
                let mut buf = vec![0; *len];
                file.seek(SeekFrom::Start(*offset)).ok()?;
                file.read_exact(&mut buf).ok()?;
                Some(buf)
            }
        }
    }
}

impl From<Vec<u8>> for Thumb {
    fn from(bytes: Vec<u8>) -> Thumb {
        Thumb::new(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::Thumb;

    #[test]
    fn spooled_thumbs_read_back_from_many_threads() {
        let made: Vec<(Vec<u8>, Thumb)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8u8)
                .map(|t| {
                    s.spawn(move || {
                        (0..50u8)
                            .map(|i| {
                                let bytes = vec![t ^ i; 100 + usize::from(i)];
                                (bytes.clone(), Thumb::new(bytes))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        for (bytes, thumb) in &made {
            assert!(matches!(thumb.0, super::Repr::Spooled { .. }));
            assert_eq!(thumb.bytes().as_ref(), Some(bytes));
        }
    }
}

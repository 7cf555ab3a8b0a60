//! Finds matched photos whose source content is identical (one photo given to two
//! users), so that both rows say so.

use std::collections::HashMap;

use rayon::prelude::*;

use super::matching::MatchedPhoto;
use crate::state;

/// For each matched photo, the other users whose source has the same content (SHA-256),
/// empty for most. Only files of a size another file shares are read, so a batch
/// without repeats costs no hashing. An unreadable file is left to processing to
/// report.
pub fn shared_sources(matched: &[MatchedPhoto]) -> Vec<Vec<String>> {
    let mut by_size: HashMap<u64, usize> = HashMap::new();
    for m in matched {
        *by_size.entry(m.file.bytes).or_default() += 1;
    }
    let hashes: Vec<Option<String>> = matched
        .par_iter()
        .map(|m| {
            if by_size.get(&m.file.bytes).copied().unwrap_or(0) < 2 {
                return None;
            }
            std::fs::read(&m.file.path)
                .ok()
                .map(|b| state::hash_bytes(&b))
        })
        .collect();
    let mut by_hash: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, h) in hashes.iter().enumerate() {
        if let Some(h) = h {
            by_hash.entry(h.as_str()).or_default().push(i);
        }
    }
    let mut out = vec![Vec::new(); matched.len()];
    for group in by_hash.values().filter(|g| g.len() > 1) {
        for &i in group {
            out[i] = group
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| matched[j].user.user.clone())
                .collect();
        }
    }
    out
}

/// Notes on `row` that its source is also `others`' photo.
pub fn note(row: &mut crate::report::Row, others: &[String]) {
    if others.is_empty() {
        return;
    }
    row.notes.push("same-photo".into());
    let also = format!(
        "the same photo (identical content) is also used for {}",
        others.join(", ")
    );
    if row.detail.is_empty() {
        row.detail = also;
    } else {
        row.detail = format!("{}; {also}", row.detail);
    }
}

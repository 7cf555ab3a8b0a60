//! Finds matched photos whose source content is identical (one photo given to two
//! users), so that both rows say so.

use std::collections::HashMap;

use rayon::prelude::*;

use super::matching::MatchedPhoto;
use crate::state;

/// How many matched photos have each file size: only files of a size another file
/// shares can be repeats, so a batch without repeats costs no hashing.
pub fn size_counts(matched: &[MatchedPhoto]) -> HashMap<u64, usize> {
    let mut by_size: HashMap<u64, usize> = HashMap::new();
    for m in matched {
        *by_size.entry(m.file.bytes).or_default() += 1;
    }
    by_size
}

/// Whether `m` may be a repeat of another photo of the batch (see [`size_counts`]).
pub fn may_repeat(sizes: &HashMap<u64, usize>, m: &MatchedPhoto) -> bool {
    sizes.get(&m.file.bytes).copied().unwrap_or(0) >= 2
}

/// From the (index, user, content hash) of the photos that may repeat, the other users
/// of each index whose source has the same content; only indexes that have some.
pub fn groups<'a>(
    hashed: impl IntoIterator<Item = (usize, &'a str, &'a str)>,
) -> HashMap<usize, Vec<String>> {
    let mut by_hash: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for (i, user, hash) in hashed {
        by_hash.entry(hash).or_default().push((i, user));
    }
    let mut out = HashMap::new();
    for group in by_hash.values().filter(|g| g.len() > 1) {
        for &(i, _) in group {
            let others = group
                .iter()
                .filter(|&&(j, _)| j != i)
                .map(|&(_, user)| user.to_string())
                .collect();
            out.insert(i, others);
        }
    }
    out
}

/// For each matched photo, the other users whose source has the same content (SHA-256),
/// empty for most. Only photos that [`may_repeat`] are read. An unreadable file is left
/// to processing to report.
pub fn shared_sources(matched: &[MatchedPhoto]) -> Vec<Vec<String>> {
    let sizes = size_counts(matched);
    let hashes: Vec<Option<String>> = matched
        .par_iter()
        .map(|m| {
            may_repeat(&sizes, m)
                .then(|| state::SourceId::of(&m.file.path, None).ok())
                .flatten()
                .map(|s| s.hash)
        })
        .collect();
    let mut groups = groups(
        matched
            .iter()
            .zip(&hashes)
            .enumerate()
            .filter_map(|(i, (m, h))| Some((i, m.user.user.as_str(), h.as_deref()?))),
    );
    (0..matched.len())
        .map(|i| groups.remove(&i).unwrap_or_default())
        .collect()
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

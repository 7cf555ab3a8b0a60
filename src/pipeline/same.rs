//! Finds matched photos whose source content is identical (one photo given to two
//! users), so that both rows say so.

use std::collections::HashMap;
use std::sync::Arc;

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

/// How many of the other users a `same-photo` note names; the rest are counted.
const NAMED: usize = 5;

/// The users of one photo content: the first few by name and how many in all. One per
/// group, shared by the rows of its members: a placeholder photo copied for 5,000 users
/// costs one of these, not 5,000 lists of 4,999 names.
#[derive(Debug, PartialEq, Eq)]
pub struct Group {
    /// In file order, one more than [`NAMED`] so that a member still sees [`NAMED`].
    named: Vec<String>,
    total: usize,
}

impl Group {
    /// The words after "also used for", for the row of `user` (one of the group).
    fn others(&self, user: &str) -> String {
        let named: Vec<&str> = self
            .named
            .iter()
            .map(String::as_str)
            .filter(|u| !u.eq_ignore_ascii_case(user))
            .take(NAMED)
            .collect();
        let rest = self.total.saturating_sub(1).saturating_sub(named.len());
        match rest {
            0 => named.join(", "),
            1 => format!("{} and 1 other user", named.join(", ")),
            n => format!("{} and {n} other users", named.join(", ")),
        }
    }
}

/// From the (index, user, content hash) of the photos that may repeat, the group of
/// each index whose source has the same content as another's; only indexes that have one.
pub fn groups<'a>(
    hashed: impl IntoIterator<Item = (usize, &'a str, &'a str)>,
) -> HashMap<usize, Arc<Group>> {
    let mut by_hash: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for (i, user, hash) in hashed {
        by_hash.entry(hash).or_default().push((i, user));
    }
    let mut out = HashMap::new();
    for mut members in by_hash.into_values().filter(|g| g.len() > 1) {
        members.sort_unstable_by_key(|&(i, _)| i);
        let group = Arc::new(Group {
            named: members
                .iter()
                .take(NAMED + 1)
                .map(|&(_, u)| u.to_string())
                .collect(),
            total: members.len(),
        });
        for (i, _) in members {
            out.insert(i, Arc::clone(&group));
        }
    }
    out
}

/// For each matched photo, the group of users whose source has the same content
/// (SHA-256), `None` for most. Only photos that [`may_repeat`] are read. An unreadable
/// file is left to processing to report.
pub fn shared_sources(matched: &[MatchedPhoto]) -> Vec<Option<Arc<Group>>> {
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
    (0..matched.len()).map(|i| groups.remove(&i)).collect()
}

/// Notes on `row` (of `user`) that its source is also the photo of the rest of `group`.
pub fn note(row: &mut crate::report::Row, group: Option<&Group>, user: &str) {
    let Some(group) = group else {
        return;
    };
    row.notes.push("same-photo".into());
    let also = format!(
        "the same photo (identical content) is also used for {}",
        group.others(user)
    );
    if row.detail.is_empty() {
        row.detail = also;
    } else {
        row.detail = format!("{}; {also}", row.detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("u{i}@contoso.test")).collect()
    }

    #[test]
    fn a_pair_names_each_other() {
        let names = users(3);
        let g = groups([
            (0, names[0].as_str(), "h1"),
            (1, names[1].as_str(), "h2"),
            (2, names[2].as_str(), "h1"),
        ]);
        assert_eq!(g.len(), 2);
        assert!(!g.contains_key(&1));
        assert_eq!(g[&0].others("u0@contoso.test"), "u2@contoso.test");
        assert_eq!(g[&2].others("U2@contoso.test"), "u0@contoso.test");
        assert!(Arc::ptr_eq(&g[&0], &g[&2]));
    }

    #[test]
    fn a_large_group_is_named_in_part_and_counted_once() {
        let names = users(5000);
        let g = groups(
            names
                .iter()
                .enumerate()
                .map(|(i, u)| (i, u.as_str(), "same")),
        );
        assert_eq!(g.len(), 5000);
        // One group for all, holding a handful of names.
        assert!(g.values().all(|x| Arc::ptr_eq(x, &g[&0])));
        assert_eq!(g[&0].named.len(), NAMED + 1);
        let first = g[&0].others("u0@contoso.test");
        assert_eq!(
            first,
            "u1@contoso.test, u2@contoso.test, u3@contoso.test, u4@contoso.test, u5@contoso.test and 4994 other users"
        );
        let late = g[&4999].others("u4999@contoso.test");
        assert!(late.starts_with("u0@contoso.test, "), "{late}");
        assert!(late.ends_with(" and 4994 other users"), "{late}");
    }

    #[test]
    fn one_more_than_named_says_one_other_user() {
        let names = users(NAMED + 2);
        let g = groups(names.iter().enumerate().map(|(i, u)| (i, u.as_str(), "h")));
        assert!(
            g[&0]
                .others("u0@contoso.test")
                .ends_with(" and 1 other user")
        );
    }
}

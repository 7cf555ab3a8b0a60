//! Target resolution: every user to upload is looked up once, before any photo is made,
//! so unknown, ambiguous or unreachable users cost no decode and no photo write.

use crate::graph::{GraphClient, Lookup, PhotoApi, Resolved, UserKey};
use crate::output::Output;
use crate::pipeline::matching::MatchedPhoto;
use crate::pipeline::rows;
use crate::report::Row;
use crate::state::SourceId;

/// One user to upload: the matched photo, the Graph id and the state key.
pub(super) struct Work {
    pub photo: MatchedPhoto,
    pub user_id: String,
    pub key: String,
    /// A remark on the target account (disabled, guest): uploaded, but worth a look.
    pub note: Option<&'static str>,
    /// Already identified while deciding skips.
    pub source: Option<SourceId>,
}

/// Looks the users up and returns those found as exactly one account; the rest get
/// their final rows in `rows`.
pub(super) async fn targets(
    client: &GraphClient,
    column: &str,
    todo: Vec<(MatchedPhoto, Option<SourceId>)>,
    rows: &mut Vec<Row>,
    out: &Output,
) -> Vec<Work> {
    let key = UserKey::from_column(column);
    let values: Vec<String> = todo.iter().map(|(m, _)| m.user.user.clone()).collect();
    let known = if values.is_empty() {
        Resolved::default()
    } else {
        let resolving = out.spinner(&format!("looking up {} users", values.len()));
        let known = client.resolve_users(key, &values).await;
        resolving.finish_and_clear();
        known
    };
    let mut work = Vec::new();
    for (m, source) in todo {
        let user_key = m.user.user.to_lowercase();
        match known.get(&user_key) {
            Lookup::One(u) => work.push(Work {
                user_id: u.id.clone(),
                note: u.note(),
                photo: m,
                key: user_key,
                source,
            }),
            other => rows.push(rows::unresolved(&m, key, &other)),
        }
    }
    work
}

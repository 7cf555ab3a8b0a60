//! Which users a tenant command works on: the users of a CSV column (each looked up
//! once) or the whole tenant, with a row for every CSV line or user that cannot be used.

use std::collections::HashSet;
use std::path::Path;

use super::run::Target;
use crate::config::{ConfigError, MatchOptions};
use crate::graph::{GraphError, GraphUser, Lookup, PhotoApi, UserKey};
use crate::pipeline::matching::UserIndex;
use crate::report::{Row, Status};

/// The users of a CSV column, in file order without repeats, plus (line, reason) for
/// rows that cannot be used.
pub type UserList = (Vec<(String, u64)>, Vec<(u64, String)>);

pub fn read_user_column(csv: &Path, column: &str) -> Result<UserList, ConfigError> {
    let index = UserIndex::load(
        csv,
        &MatchOptions {
            match_column: column.to_string(),
            user_column: column.to_string(),
        },
    )?;
    let mut seen = HashSet::new();
    let users = index
        .users
        .iter()
        .filter(|u| seen.insert(u.user.to_lowercase()))
        .map(|u| (u.user.clone(), u.line))
        .collect();
    // A repeated user is harmless here: they are worked on once.
    let issues = index
        .issues
        .iter()
        .filter(|i| !i.duplicate)
        .map(|i| (i.line, i.reason.clone()))
        .collect();
    Ok((users, issues))
}

/// Why a tenant command cannot get its list of users.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("listing the tenant's users failed: {}", .0.detail())]
    Listing(GraphError),
}

/// Every user of the tenant.
pub async fn whole_tenant<G: PhotoApi>(graph: &G) -> Result<Vec<Target>, TargetsError> {
    let all = graph.list_users().await.map_err(TargetsError::Listing)?;
    Ok(all
        .into_iter()
        .map(|u| Target {
            user: u
                .upn
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| u.id.clone()),
            csv_line: None,
            resolved: Some(u),
        })
        .collect())
}

/// The users of `csv`'s `column`, looked up once; rows for unusable lines, ambiguous
/// values and failed look-ups.
pub async fn from_csv<G: PhotoApi>(
    graph: &G,
    csv: &Path,
    column: &str,
) -> Result<(Vec<Target>, Vec<Row>), TargetsError> {
    let (users, issues) = read_user_column(csv, column)?;
    let mut rows: Vec<Row> = issues
        .into_iter()
        .map(|(line, reason)| Row {
            status: Some(Status::BadRow),
            detail: format!("{}: {reason}", csv.display()),
            csv_line: Some(line),
            ..Row::default()
        })
        .collect();
    let refs: Vec<String> = users.iter().map(|(u, _)| u.clone()).collect();
    let key = UserKey::from_column(column);
    let found = graph.resolve_users(key, &refs).await;
    let mut targets = Vec::new();
    for (user, line) in users {
        let resolved = match found.get(&user) {
            Lookup::One(u) => Some(u.clone()),
            Lookup::NotFound => None,
            Lookup::Several(many) => {
                let names: Vec<String> = many.iter().map(GraphUser::describe).collect();
                rows.push(Row {
                    status: Some(Status::Ambiguous),
                    detail: format!(
                        "{} users in the tenant have {} {user:?}: {}; none was touched",
                        many.len(),
                        key.property(),
                        names.join(", ")
                    ),
                    user: Some(user),
                    csv_line: Some(line),
                    ..Row::default()
                });
                continue;
            }
            Lookup::Failed(e) => {
                rows.push(Row {
                    status: Some(Status::Failed),
                    detail: format!("looking the user up failed: {}", e.detail()),
                    http_status: e.status,
                    graph_code: e.code.clone(),
                    request_id: e.request_id.clone(),
                    user: Some(user),
                    csv_line: Some(line),
                    ..Row::default()
                });
                continue;
            }
        };
        targets.push(Target {
            resolved,
            user,
            csv_line: Some(line),
        });
    }
    Ok((targets, rows))
}

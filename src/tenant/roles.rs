//! Admin roles that may change photos: friendly names <-> Entra role template ids.

use std::fmt;

/// A directory role template id, stored trimmed and lower-case (Microsoft's own example
/// carries a stray leading space, and Graph compares ids case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct RoleId(String);

/// The roles `--roles` knows by name.
pub const KNOWN_ROLES: &[(&str, &str, &str)] = &[
    (
        "global-admin",
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    (
        "user-admin",
        "User Administrator",
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
    ),
    (
        "people-admin",
        "People Administrator",
        "024906de-61e5-49c8-8572-40335f1e0e10",
    ),
    (
        "exchange-admin",
        "Exchange Administrator",
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
    ),
];

/// Roles locked in when `--roles` is not given.
pub const DEFAULT_ROLES: &[&str] = &["global-admin", "user-admin"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoleError {
    #[error(
        "--roles: {0:?} is neither a known role name (global-admin, user-admin, people-admin, exchange-admin) nor a role template id (a GUID such as 62e90394-69f5-4237-9190-012177145e10)"
    )]
    Unknown(String),
    #[error(
        "--roles: the list is empty; give at least one role (use `unlock` to let everyone change their photo)"
    )]
    Empty,
}

impl RoleId {
    /// Accepts a template id with stray spaces or braces; anything but a GUID is refused.
    pub fn parse(raw: &str) -> Option<RoleId> {
        let s = raw.trim().trim_matches(|c| c == '{' || c == '}').trim();
        if is_guid(s) {
            Some(RoleId(s.to_ascii_lowercase()))
        } else {
            None
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The friendly name, if the id is one of the known roles.
    pub fn known(&self) -> Option<(&'static str, &'static str)> {
        KNOWN_ROLES
            .iter()
            .find(|(_, _, id)| *id == self.0)
            .map(|(name, display, _)| (*name, *display))
    }

    /// `User Administrator (fe93...)` or just the id.
    pub fn describe(&self) -> String {
        match self.known() {
            Some((_, display)) => format!("{display} ({})", self.0),
            None => format!("role {}", self.0),
        }
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// One `--roles` entry: a friendly name (also `Global Administrator`, `global_admin`) or an id.
pub fn parse_role(raw: &str) -> Result<RoleId, RoleError> {
    let norm: String = raw
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .collect();
    let norm = norm.replace("administrator", "admin");
    if let Some((_, _, id)) = KNOWN_ROLES.iter().find(|(name, _, _)| *name == norm) {
        return Ok(RoleId((*id).to_string()));
    }
    RoleId::parse(raw).ok_or_else(|| RoleError::Unknown(raw.trim().to_string()))
}

/// A comma-separated `--roles` list, duplicates dropped, order kept.
pub fn parse_roles(list: &str) -> Result<Vec<RoleId>, RoleError> {
    let mut out: Vec<RoleId> = Vec::new();
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let id = parse_role(part)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(RoleError::Empty);
    }
    Ok(out)
}

/// The roles used when `--roles` is absent.
pub fn default_roles() -> Vec<RoleId> {
    DEFAULT_ROLES
        .iter()
        .filter_map(|n| parse_role(n).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        let ids = parse_roles("global-admin, User Administrator,people_admin").unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0].as_str(), "62e90394-69f5-4237-9190-012177145e10");
        assert_eq!(ids[1].known().unwrap().0, "user-admin");
        assert_eq!(ids[2].known().unwrap().0, "people-admin");
        // Microsoft's sample: a leading space in the id.
        let id = parse_role(" 62E90394-69F5-4237-9190-012177145E10").unwrap();
        assert_eq!(id.known().unwrap().1, "Global Administrator");
        let other = parse_role("{11111111-2222-3333-4444-555555555555}").unwrap();
        assert_eq!(other.known(), None);
        assert!(other.describe().contains("11111111"));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse_role("helpdesk"),
            Err(RoleError::Unknown("helpdesk".into()))
        );
        assert_eq!(parse_roles(" , "), Err(RoleError::Empty));
        assert!(parse_role("62e90394-69f5-4237-9190-012177145e1").is_err());
        assert_eq!(parse_roles("user-admin,user-admin").unwrap().len(), 1);
        assert_eq!(default_roles().len(), 2);
    }
}

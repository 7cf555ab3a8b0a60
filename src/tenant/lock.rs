//! Locking photo changes: the tenant's `photoUpdateSettings` (beta), what to change, and
//! the words admins need around it (before/after, 24 hours, beta, permission).

use serde_json::{Value, json};

use super::roles::RoleId;
use crate::graph::{GraphError, PhotoApi};

/// Graph path of the setting (beta only).
pub const SETTINGS_PATH: &str = crate::graph::SETTINGS_PATH;
/// Permission the lock commands need (reading alone: `PeopleSettings.Read.All`).
pub const PERMISSION: &str = "PeopleSettings.ReadWrite.All";
pub const READ_PERMISSION: &str = "PeopleSettings.Read.All";

/// Said on every lock/unlock/lock-status run.
pub const CAVEATS: &[&str] = &[
    "Changes to photo update settings can take up to 24 hours to apply everywhere.",
    "photoUpdateSettings is a Microsoft Graph beta endpoint: Microsoft may change it.",
];

/// Said when locking: whether the lock also stops an app-only writer is not documented.
pub const LOCK_ORDER_NOTE: &str = "Lock after uploading: Microsoft does not document whether the lock also stops an app (like this one) from writing photos.";

/// The settings inside a GET body: some documentation shows it wrapped in `value` (an
/// object or a one-item list).
fn unwrapped(v: &Value) -> &Value {
    match v.get("value") {
        Some(Value::Array(items)) if items.len() == 1 => &items[0],
        Some(inner @ Value::Object(_)) => inner,
        _ => v,
    }
}

/// Where photo changes are allowed from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// Never set (the default): photos may come from the cloud and from on-premises sync.
    NotSet,
    Cloud,
    OnPremises,
    /// A value this program does not know (kept, shown as is).
    Other(String),
}

impl Source {
    fn parse(s: Option<&str>) -> Source {
        match s {
            None | Some("") => Source::NotSet,
            Some(v) if v.eq_ignore_ascii_case("cloud") => Source::Cloud,
            Some(v) if v.eq_ignore_ascii_case("onPremises") => Source::OnPremises,
            Some(v) => Source::Other(v.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Source::NotSet => "not set",
            Source::Cloud => "cloud",
            Source::OnPremises => "onPremises",
            Source::Other(s) => s,
        }
    }
}

/// The tenant's photo update settings as read from Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoSettings {
    pub source: Source,
    pub allowed_roles: Vec<RoleId>,
    /// Entries of `allowedRoles` that are not role ids (shown, never sent back).
    pub odd_roles: Vec<String>,
}

impl PhotoSettings {
    /// Reads Graph's JSON; `allowedRoles` null or missing means "everyone".
    pub fn from_json(v: &Value) -> PhotoSettings {
        let v = unwrapped(v);
        let source = Source::parse(v.get("source").and_then(Value::as_str));
        let mut allowed_roles = Vec::new();
        let mut odd_roles = Vec::new();
        if let Some(list) = v.get("allowedRoles").and_then(Value::as_array) {
            for item in list {
                match item.as_str().and_then(RoleId::parse) {
                    Some(id) if !allowed_roles.contains(&id) => allowed_roles.push(id),
                    Some(_) => {}
                    None => odd_roles.push(item.to_string()),
                }
            }
        }
        PhotoSettings {
            source,
            allowed_roles,
            odd_roles,
        }
    }

    /// True when only some admin roles may change photos.
    pub fn is_locked(&self) -> bool {
        self.source == Source::OnPremises || !self.allowed_roles.is_empty()
    }

    /// Human lines: source and roles by name, and what that means.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("source: {}", self.source.as_str())];
        if self.allowed_roles.is_empty() {
            lines.push("allowed roles: none listed".into());
        } else {
            lines.push("allowed roles:".into());
            for r in &self.allowed_roles {
                lines.push(format!("  - {}", r.describe()));
            }
        }
        for odd in &self.odd_roles {
            lines.push(format!("  - unrecognised entry {odd}"));
        }
        lines.push(format!("meaning: {}", self.meaning()));
        lines
    }

    pub fn meaning(&self) -> String {
        match &self.source {
            Source::OnPremises => "photos are managed on-premises: cloud changes are disabled for everyone, admins included".into(),
            Source::Other(s) => format!("unknown source {s:?}"),
            Source::NotSet if self.allowed_roles.is_empty() => "unlocked: every user may change their own photo (source not set: photos may also come from on-premises sync)".into(),
            Source::NotSet => format!(
                "locked: only {} may change photos (source not set: on-premises sync may still bring photos)",
                self.role_names().join(", ")
            ),
            Source::Cloud if self.allowed_roles.is_empty() => {
                "unlocked: every user may change their own photo".into()
            }
            Source::Cloud => {
                format!("locked: only {} may change photos", self.role_names().join(", "))
            }
        }
    }

    fn role_names(&self) -> Vec<String> {
        self.allowed_roles
            .iter()
            .map(|r| r.known().map_or_else(|| r.to_string(), |k| k.1.to_string()))
            .collect()
    }

    /// Whether a GET body is photo update settings at all (a body with neither field is
    /// an error, never "unlocked").
    fn recognisable(v: &Value) -> bool {
        let v = unwrapped(v);
        v.get("source").is_some() || v.get("allowedRoles").is_some()
    }

    /// JSON for `lock-status --json`.
    pub fn to_json(&self) -> Value {
        let roles: Vec<Value> = self
            .allowed_roles
            .iter()
            .map(|r| {
                json!({
                    "id": r.as_str(),
                    "name": r.known().map(|k| k.0),
                    "displayName": r.known().map(|k| k.1),
                })
            })
            .collect();
        json!({
            "source": match self.source {
                Source::NotSet => Value::Null,
                ref s => s.as_str().into(),
            },
            "locked": self.is_locked(),
            "allowedRoles": roles,
            "unrecognisedRoles": self.odd_roles,
            "meaning": self.meaning(),
            "endpoint": format!("/{SETTINGS_PATH}"),
            "notes": CAVEATS,
        })
    }
}

/// What the admin asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    /// Only these roles may change photos.
    Lock(Vec<RoleId>),
    /// Everyone may change their own photo.
    Unlock,
}

impl Desired {
    fn roles(&self) -> &[RoleId] {
        match self {
            Desired::Lock(r) => r,
            Desired::Unlock => &[],
        }
    }

    /// The PATCH body.
    pub fn body(&self) -> Value {
        let roles: Vec<&str> = self.roles().iter().map(RoleId::as_str).collect();
        json!({ "source": "cloud", "allowedRoles": roles })
    }

    /// Whether `s` already is what was asked for (role order does not matter).
    pub fn satisfied_by(&self, s: &PhotoSettings) -> bool {
        self.satisfied_keeping_source(s, true)
    }

    /// `set_source`: the source must be `cloud`; otherwise an unset source may stay so.
    fn satisfied_keeping_source(&self, s: &PhotoSettings, set_source: bool) -> bool {
        let mut want: Vec<&RoleId> = self.roles().iter().collect();
        let mut have: Vec<&RoleId> = s.allowed_roles.iter().collect();
        want.sort();
        have.sort();
        let source_ok = s.source == Source::Cloud || (s.source == Source::NotSet && !set_source);
        source_ok && want == have && s.odd_roles.is_empty()
    }

    /// The PATCH body. On a tenant whose source was never set, `source: cloud` would stop
    /// photos synced from on-premises AD: it is sent only when asked for (`--source cloud`).
    fn body_keeping_source(&self, set_source: bool) -> Value {
        if set_source {
            return self.body();
        }
        let roles: Vec<&str> = self.roles().iter().map(RoleId::as_str).collect();
        json!({ "allowedRoles": roles })
    }
}

/// What `apply` decided and saw.
#[derive(Debug, Clone)]
pub struct LockOutcome {
    pub before: PhotoSettings,
    /// Read back after the change (equal to `before` when nothing was sent).
    pub after: PhotoSettings,
    pub kind: LockKind,
    /// Graph requests made (all attempts).
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Settings changed and the read-back matches.
    Changed,
    /// Already as asked: nothing sent.
    AlreadySet,
    /// Source is onPremises and `--force` was not given: nothing sent.
    RefusedOnPremises,
    /// The PATCH was accepted but the read-back differs.
    NotVerified,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}", permission_text(.0, .1))]
    Graph(&'static str, GraphError),
    #[error(
        "Graph's answer for the photo update settings has neither `source` nor `allowedRoles`: {0}"
    )]
    Unreadable(String),
}

/// The detail already carries the endpoint's hint; a 401 (some services answer it for a
/// missing permission) also names the permissions.
fn permission_text(step: &str, f: &GraphError) -> String {
    let mut s = format!(
        "{step} photo update settings (Graph beta endpoint /{SETTINGS_PATH}) failed: {}",
        f.detail()
    );
    if f.status == Some(401) {
        s.push_str(&format!(
            " -- the app needs the Microsoft Graph application permission {PERMISSION} (reading alone: {READ_PERMISSION}) with admin consent"
        ));
    }
    s
}

/// Reads the settings.
pub async fn read<G: PhotoApi>(graph: &G) -> Result<(PhotoSettings, u32), LockError> {
    let (value, attempts) = graph
        .get_settings()
        .await
        .map_err(|f| LockError::Graph("reading", f))?;
    if !PhotoSettings::recognisable(&value) {
        let mut text = value.to_string();
        text.truncate(text.floor_char_boundary(300));
        return Err(LockError::Unreadable(text));
    }
    Ok((PhotoSettings::from_json(&value), attempts))
}

/// Reads the settings, changes them when needed (and allowed), and reads them back.
pub async fn apply<G: PhotoApi>(
    graph: &G,
    desired: &Desired,
    force: bool,
    want_cloud: bool,
) -> Result<LockOutcome, LockError> {
    let (before, mut attempts) = read(graph).await?;
    // An unset source stays unset unless `--source cloud` asks; a cloud one stays cloud.
    let set_source = want_cloud || before.source != Source::NotSet;
    if before.source == Source::OnPremises && !force {
        return Ok(LockOutcome {
            after: before.clone(),
            before,
            kind: LockKind::RefusedOnPremises,
            attempts,
        });
    }
    if desired.satisfied_keeping_source(&before, set_source) {
        return Ok(LockOutcome {
            after: before.clone(),
            before,
            kind: LockKind::AlreadySet,
            attempts,
        });
    }
    let (_, n) = graph
        .patch_settings(desired.body_keeping_source(set_source))
        .await
        .map_err(|f| LockError::Graph("changing", f))?;
    attempts += n;
    // The service may take a moment to show its own change: read back a few times.
    let mut after;
    let mut reads = 0;
    loop {
        let (settings, n) = read(graph).await?;
        attempts += n;
        reads += 1;
        after = settings;
        if desired.satisfied_keeping_source(&after, set_source) || reads >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let kind = if desired.satisfied_keeping_source(&after, set_source) {
        LockKind::Changed
    } else {
        LockKind::NotVerified
    };
    Ok(LockOutcome {
        before,
        after,
        kind,
        attempts,
    })
}

/// The explanation printed for an onPremises tenant.
pub const ON_PREMISES_TEXT: &str = "The tenant's photo source is onPremises: photo changes in the cloud are already disabled for everyone, admins and this program included. Nothing was changed. Run again with --force to switch the source to cloud with the roles asked for (photos are then managed in Microsoft 365 again).";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::roles::{default_roles, parse_roles};

    #[test]
    fn parse_and_compare() {
        let s = PhotoSettings::from_json(&json!({
            "source": "cloud",
            "allowedRoles": [" fe930be7-5e62-47db-91af-98c3a49a38b1", "62e90394-69f5-4237-9190-012177145e10"]
        }));
        assert!(s.is_locked());
        assert!(Desired::Lock(default_roles()).satisfied_by(&s));
        assert!(!Desired::Unlock.satisfied_by(&s));
        assert!(s.meaning().contains("Global Administrator"));
        let open = PhotoSettings::from_json(&json!({"source": "cloud", "allowedRoles": null}));
        assert!(!open.is_locked());
        assert!(Desired::Unlock.satisfied_by(&open));
        let onprem = PhotoSettings::from_json(&json!({"source": "onPremises"}));
        assert!(onprem.is_locked());
        assert!(!Desired::Unlock.satisfied_by(&onprem));
        let body = Desired::Lock(parse_roles("people-admin").unwrap()).body();
        assert_eq!(
            body,
            json!({"source":"cloud","allowedRoles":["024906de-61e5-49c8-8572-40335f1e0e10"]})
        );
        assert_eq!(Desired::Unlock.body()["allowedRoles"], json!([]));
    }

    #[test]
    fn permission_hint_on_403() {
        use crate::graph::codes::{Endpoint, classify};
        let rule = classify(Endpoint::SettingsWrite, 403, "Authorization_RequestDenied");
        let e = LockError::Graph(
            "changing",
            GraphError {
                status: Some(403),
                code: Some("Authorization_RequestDenied".into()),
                hint: rule.hint,
                ..GraphError::new(rule.kind, "Insufficient privileges")
            },
        );
        let text = e.to_string();
        assert!(text.contains("PeopleSettings.ReadWrite.All"), "{text}");
        assert!(!text.contains("ProfilePhoto"), "{text}");
    }
}

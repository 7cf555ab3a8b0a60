//! Reads an access token's claims (`roles`, `tid`, `aud`, `appid`) from its JWT payload,
//! without checking the signature: only to tell the admin, before any work, which
//! permissions the app was really granted.

use base64::Engine;

/// What a token says about the app and its permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// Application permissions granted with admin consent; empty = no consent.
    pub roles: Vec<String>,
    /// `false` when the token carries no `roles` claim at all (consent never granted).
    pub has_roles_claim: bool,
    /// Tenant id (a GUID).
    pub tid: Option<String>,
    /// Audience: the resource the token is for (`https://graph.microsoft.com`).
    pub aud: Option<String>,
    /// Application id.
    pub appid: Option<String>,
}

impl Claims {
    /// Whether any of `permissions` is granted (case-insensitive, as Entra compares them).
    pub fn grants_any(&self, permissions: &[&str]) -> bool {
        self.roles
            .iter()
            .any(|r| permissions.iter().any(|p| r.eq_ignore_ascii_case(p)))
    }
}

/// One permission a command needs: any of these application roles grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// What it is for, in words ("look users up").
    pub purpose: &'static str,
    /// Least privilege first; the first is the one named when none is granted.
    pub any_of: &'static [&'static str],
}

pub const LOOK_UP: Need = Need {
    purpose: "look users up",
    any_of: &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"],
};
pub const WRITE_PHOTOS: Need = Need {
    purpose: "change photos",
    any_of: &["ProfilePhoto.ReadWrite.All", "User.ReadWrite.All"],
};
pub const READ_PHOTOS: Need = Need {
    purpose: "read photos (backups)",
    any_of: &[
        "ProfilePhoto.Read.All",
        "ProfilePhoto.ReadWrite.All",
        "User.Read.All",
        "User.ReadWrite.All",
    ],
};
pub const WRITE_SETTINGS: Need = Need {
    purpose: "lock photo changes",
    any_of: &["PeopleSettings.ReadWrite.All"],
};
pub const READ_SETTINGS: Need = Need {
    purpose: "read the photo lock",
    any_of: &["PeopleSettings.Read.All", "PeopleSettings.ReadWrite.All"],
};

/// Checks `claims` against what a command needs, before any other request. `Err` names
/// each missing permission and the admin-consent URL (for a preflight; exit 2).
pub fn check(claims: &Claims, needs: &[Need], login_url: &str, tenant: &str) -> Result<(), String> {
    let consent = format!(
        "{}/{}/adminconsent?client_id={}",
        login_url.trim_end_matches('/'),
        claims.tid.as_deref().unwrap_or(tenant),
        claims.appid.as_deref().unwrap_or("<app id>")
    );
    if !claims.has_roles_claim || claims.roles.is_empty() {
        return Err(format!(
            "admin consent not granted: the app's token carries no application permissions (no `roles` claim). Grant admin consent: {consent}"
        ));
    }
    let missing: Vec<String> = needs
        .iter()
        .filter(|n| !claims.grants_any(n.any_of))
        .map(|n| format!("{} (to {})", n.any_of[0], n.purpose))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the app lacks the application permission(s) {}; add them with admin consent: {consent}",
            missing.join(", ")
        ))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsError {
    #[error("the access token is not a JWT (expected three dot-separated parts)")]
    NotJwt,
    #[error("the access token's payload is not base64url JSON: {0}")]
    Payload(String),
}

fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

/// Decodes the payload of `token` (header.payload.signature).
pub fn claims(token: &str) -> Result<Claims, ClaimsError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ClaimsError::NotJwt);
    };
    // Tokens are unpadded base64url; accept padding too.
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| ClaimsError::Payload(e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ClaimsError::Payload(e.to_string()))?;
    if !v.is_object() {
        return Err(ClaimsError::Payload("not a JSON object".into()));
    }
    let roles_value = v.get("roles");
    let roles = roles_value
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Claims {
        roles,
        has_roles_claim: roles_value.is_some_and(|r| !r.is_null()),
        tid: text(&v, "tid"),
        aud: text(&v, "aud"),
        // v2 tokens name it `azp`.
        appid: text(&v, "appid").or_else(|| text(&v, "azp")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &serde_json::Value) -> String {
        let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!(
            "{}.{}.{}",
            enc(br#"{"alg":"RS256","typ":"JWT"}"#),
            enc(payload.to_string().as_bytes()),
            enc(b"signature")
        )
    }

    #[test]
    fn reads_roles_tenant_audience_and_app() {
        let t = jwt(&serde_json::json!({
            "aud": "https://graph.microsoft.com",
            "tid": "11111111-2222-3333-4444-555555555555",
            "appid": "app-1",
            "roles": ["User.Read.All", "ProfilePhoto.ReadWrite.All"]
        }));
        let c = claims(&t).unwrap();
        assert_eq!(c.roles, ["User.Read.All", "ProfilePhoto.ReadWrite.All"]);
        assert!(c.has_roles_claim);
        assert_eq!(
            c.tid.as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(c.aud.as_deref(), Some("https://graph.microsoft.com"));
        assert_eq!(c.appid.as_deref(), Some("app-1"));
        assert!(c.grants_any(&["profilephoto.readwrite.all", "User.ReadWrite.All"]));
        assert!(!c.grants_any(&["PeopleSettings.ReadWrite.All"]));
    }

    #[test]
    fn no_roles_claim_means_no_consent() {
        let c = claims(&jwt(&serde_json::json!({"tid": "t", "azp": "app-2"}))).unwrap();
        assert!(!c.has_roles_claim);
        assert!(c.roles.is_empty());
        assert_eq!(c.appid.as_deref(), Some("app-2"));
    }

    #[test]
    fn preflight_names_missing_permissions_and_the_consent_url() {
        let c = claims(&jwt(&serde_json::json!({
            "tid": "tid-1", "appid": "app-1", "roles": ["User.Read.All"]
        })))
        .unwrap();
        assert!(
            check(
                &c,
                &[LOOK_UP],
                "https://login.microsoftonline.com",
                "contoso"
            )
            .is_ok()
        );
        let e = check(
            &c,
            &[LOOK_UP, WRITE_PHOTOS],
            "https://login.microsoftonline.com/",
            "x",
        )
        .unwrap_err();
        assert!(e.contains("ProfilePhoto.ReadWrite.All"), "{e}");
        assert!(!e.contains("User.Read.All (to"), "{e}");
        assert!(
            e.contains("https://login.microsoftonline.com/tid-1/adminconsent?client_id=app-1"),
            "{e}"
        );
        let none = claims(&jwt(&serde_json::json!({"tid": "t"}))).unwrap();
        let e = check(
            &none,
            &[LOOK_UP],
            "https://login.microsoftonline.com",
            "contoso",
        )
        .unwrap_err();
        assert!(e.starts_with("admin consent not granted"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(claims("emu.abc"), Err(ClaimsError::NotJwt));
        assert_eq!(claims(""), Err(ClaimsError::NotJwt));
        assert_eq!(claims("a.b.c.d"), Err(ClaimsError::NotJwt));
        assert!(matches!(claims("a.!!!.c"), Err(ClaimsError::Payload(_))));
        let not_json = format!(
            "a.{}.c",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"[1,2]")
        );
        assert!(matches!(claims(&not_json), Err(ClaimsError::Payload(_))));
    }
}

//! The unattended sign-ins of Azure hosts: the managed identity endpoints (App Service /
//! Functions / Automation, and a VM's IMDS), each refusing a request without its header
//! as Azure does, and federated assertions (workload identity) on the token endpoint.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::replies::aad_error;
use super::server::Emu;

/// The header value the App Service style endpoint wants unless told otherwise.
pub const DEFAULT_IDENTITY_HEADER: &str = "emulator-identity-header";

/// The system-assigned identity's client id (the host's own identity).
pub const SYSTEM_IDENTITY: &str = "5e1f0000-0000-4000-8000-00000000a001";

/// The audience Entra expects in federated tokens unless the credential says otherwise.
const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Which managed identity endpoint was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `IDENTITY_ENDPOINT` (App Service, Functions, Automation): `X-IDENTITY-HEADER`.
    AppService,
    /// IMDS: `Metadata: true`.
    Imds,
}

fn identity_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Emu {
    /// `GET /msi/token` (App Service style) or `GET /metadata/identity/oauth2/token`.
    pub fn managed_identity(
        &self,
        style: Style,
        query: &[(String, String)],
        headers: &HeaderMap,
    ) -> Response {
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
        let bad = StatusCode::BAD_REQUEST;
        let (version, refused) = match style {
            Style::Imds => (
                "2018-02-01",
                (header("Metadata") != Some("true")).then(|| {
                    identity_error(
                        bad,
                        "invalid_request",
                        "Required metadata header not specified",
                    )
                }),
            ),
            Style::AppService => (
                "2019-08-01",
                (header("X-IDENTITY-HEADER") != Some(self.config.identity_header.as_str()))
                    .then(|| {
                        identity_error(
                            StatusCode::UNAUTHORIZED,
                            "unauthorized",
                            "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER",
                        )
                    }),
            ),
        };
        let refused = refused.or_else(|| match (get("api-version"), get("resource")) {
            (Some(v), _) if v != version => Some(identity_error(
                bad,
                "invalid_request",
                &format!("api-version {v} is not supported here (use {version})"),
            )),
            (None, _) => Some(identity_error(
                bad,
                "invalid_request",
                "Required query variable 'api-version' is missing",
            )),
            (_, None | Some("")) => Some(identity_error(
                bad,
                "invalid_request",
                "Required query variable 'resource' is missing",
            )),
            _ => None,
        });
        let client_id = get("client_id").filter(|c| !c.is_empty());
        let refused = refused.or_else(|| {
            client_id
                .filter(|c| !self.config.user_assigned.iter().any(|u| u == c))
                .map(|_| identity_error(bad, "invalid_request", "Identity not found"))
        });
        if let Some(r) = refused {
            self.lock().stats.identity_refused += 1;
            return r;
        }
        let resource = get("resource").unwrap_or("");
        let app = client_id.unwrap_or(SYSTEM_IDENTITY);
        let token = self.access_token(app, resource);
        let lifetime = self.config.token_lifetime.as_secs();
        let mut g = self.lock();
        g.tokens
            .insert(token.clone(), Instant::now() + self.config.token_lifetime);
        g.stats.tokens_issued += 1;
        g.stats.identity_tokens += 1;
        let asked = client_id.unwrap_or("").to_string();
        if !g.stats.identity_client_ids.contains(&asked) {
            g.stats.identity_client_ids.push(asked);
        }
        drop(g);
        let now = now_secs();
        // Both endpoints send their numbers as strings.
        let mut body = serde_json::json!({
            "access_token": token,
            "expires_on": (now + lifetime).to_string(),
            "resource": resource,
            "token_type": "Bearer",
        });
        match style {
            Style::Imds => {
                body["expires_in"] = lifetime.to_string().into();
                body["not_before"] = now.to_string().into();
                body["refresh_token"] = "".into();
            }
            Style::AppService => body["client_id"] = app.into(),
        }
        Json(body).into_response()
    }

    /// Checks a federated assertion (one whose issuer is not the app itself) as Entra
    /// checks it against the app's federated credential; `Ok` counts it.
    pub(super) fn check_federated(&self, claims: &serde_json::Value) -> Result<(), Response> {
        let bad = StatusCode::BAD_REQUEST;
        let iss = claims["iss"].as_str().unwrap_or("");
        let sub = claims["sub"].as_str().unwrap_or("");
        let auds: Vec<&str> = match &claims["aud"] {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        };
        let refuse = |code: u32, text: String| Err(aad_error(bad, "invalid_request", code, &text));
        if let Some(want) = &self.config.federated_issuer
            && want != iss
        {
            return refuse(
                70021,
                format!(
                    "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
                    auds.join(",")
                ),
            );
        }
        if let Some(want) = &self.config.federated_subject
            && want != sub
        {
            return refuse(
                700213,
                format!(
                    "No matching federated identity record found for presented assertion subject '{sub}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
                ),
            );
        }
        if !auds.contains(&EXCHANGE_AUDIENCE) {
            return refuse(
                700212,
                format!(
                    "No matching federated identity record found for presented assertion audience '{}'.",
                    auds.join(",")
                ),
            );
        }
        if claims["exp"].as_u64().unwrap_or(0) < now_secs() {
            return refuse(
                700024,
                "Client assertion is not within its valid time range.".into(),
            );
        }
        Ok(())
    }

    /// Counts an accepted federated assertion, and whether it is one not seen before.
    pub(super) fn count_federated(&self, jwt: &str) {
        let digest: [u8; 32] = Sha256::digest(jwt.as_bytes()).into();
        let mut g = self.lock();
        g.stats.federated_tokens += 1;
        if g.seen_assertions.insert(digest) {
            g.stats.federated_assertions += 1;
        }
    }
}

/// The claims of a JWT whose issuer is not `client_id`: a federated token, not the app's
/// own certificate assertion (whose `iss` is the client id).
pub fn federated_claims(jwt: &str, client_id: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    (claims["iss"].as_str() != Some(client_id)).then_some(claims)
}

//! Azure's unattended sign-ins without a stored secret: managed identity (the App Service
//! / Functions / Automation endpoint, or a VM's IMDS) and workload identity federation (a
//! token file, read afresh for every token, sent as the client assertion).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::auth::{Secret, lifetime_of};
use super::http;

/// Where a managed identity's tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityEndpoint {
    /// App Service, Functions, Azure Automation: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`
    /// (api-version 2019-08-01, header `X-IDENTITY-HEADER`).
    AppService { endpoint: String, header: Secret },
    /// A VM's Instance Metadata Service (api-version 2018-02-01, header `Metadata: true`);
    /// `host` is `http://169.254.169.254` unless `AZURE_POD_IDENTITY_AUTHORITY_HOST` says
    /// otherwise.
    Imds { host: String },
}

/// A managed identity: system-assigned, or user-assigned when `client_id` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedIdentity {
    pub endpoint: IdentityEndpoint,
    pub client_id: Option<String>,
}

/// The IMDS address every Azure VM has.
pub const IMDS_HOST: &str = "http://169.254.169.254";

impl ManagedIdentity {
    /// The token URL for `resource` (the Graph host, without `/.default`).
    pub fn url(&self, resource: &str) -> Result<reqwest::Url, String> {
        let (base, version) = match &self.endpoint {
            IdentityEndpoint::AppService { endpoint, .. } => (endpoint.clone(), "2019-08-01"),
            IdentityEndpoint::Imds { host } => (
                format!(
                    "{}/metadata/identity/oauth2/token",
                    host.trim_end_matches('/')
                ),
                "2018-02-01",
            ),
        };
        let mut url = reqwest::Url::parse(&base)
            .map_err(|e| format!("managed identity endpoint {base}: not a URL: {e}"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", version);
            q.append_pair("resource", resource);
            if let Some(id) = &self.client_id {
                q.append_pair("client_id", id);
            }
        }
        Ok(url)
    }

    /// The header that proves the request comes from inside the Azure host.
    pub fn header(&self) -> (&'static str, String) {
        match &self.endpoint {
            IdentityEndpoint::AppService { header, .. } => {
                ("X-IDENTITY-HEADER", header.expose().to_string())
            }
            IdentityEndpoint::Imds { .. } => ("Metadata", "true".into()),
        }
    }

    pub fn describe(&self) -> String {
        let kind = match &self.endpoint {
            IdentityEndpoint::AppService { .. } => {
                "managed identity (App Service / Functions / Automation endpoint)"
            }
            IdentityEndpoint::Imds { .. } => "managed identity (Azure VM IMDS)",
        };
        match &self.client_id {
            Some(id) => format!("{kind}, user-assigned client id {id}"),
            None => format!("{kind}, system-assigned"),
        }
    }
}

/// A managed identity's token answer. Both endpoints send numbers as strings.
#[derive(Deserialize)]
struct IdentityToken {
    access_token: String,
    #[serde(default)]
    expires_in: serde_json::Value,
    #[serde(default)]
    expires_on: serde_json::Value,
}

/// How long a managed identity's token lasts: `expires_in` when sent (IMDS), else
/// `expires_on` (Unix seconds, as the App Service endpoint sends it) minus now.
fn identity_lifetime(t: &IdentityToken) -> Duration {
    if !t.expires_in.is_null() {
        return lifetime_of(&t.expires_in);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let on = match &t.expires_on {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match on {
        Some(on) => lifetime_of(&serde_json::json!(on - now)),
        None => lifetime_of(&serde_json::Value::Null),
    }
}

/// How one managed-identity try ended, short of a token.
pub enum Failure {
    /// Worth another try (unreachable, 404/410 while the endpoint starts, 429, 5xx).
    Transient(String, Option<Duration>),
    Final(String),
}

/// One token request to the managed identity endpoint.
pub async fn managed_token(
    client: &reqwest::Client,
    mi: &ManagedIdentity,
    resource: &str,
) -> Result<(Secret, Duration), Failure> {
    let url = mi.url(resource).map_err(Failure::Final)?;
    let shown = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    let (name, value) = mi.header();
    let mut resp = client
        .get(url.clone())
        .header(name, value)
        // The endpoint is on the host itself: it answers at once or is not there.
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| {
            let text = format!(
                "cannot reach the managed identity endpoint {shown}: {} (is this running on Azure with a managed identity? else choose another --auth)",
                super::without_url(&e)
            );
            // IMDS is a link-local address every Azure VM answers on: unreachable means
            // not an Azure VM, and retrying would only delay saying so. The App Service
            // endpoint may still be starting.
            match mi.endpoint {
                IdentityEndpoint::Imds { .. } => Failure::Final(text),
                IdentityEndpoint::AppService { .. } => Failure::Transient(text, None),
            }
        })?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if status.is_success() {
        let body = http::read_limited(&mut resp, 1024 * 1024)
            .await
            .map_err(|_| Failure::Transient("managed identity answer cut short".into(), None))?;
        let t: IdentityToken = serde_json::from_slice(&body).map_err(|e| {
            Failure::Final(format!(
                "unexpected managed identity answer from {shown} (not a token): {e}"
            ))
        })?;
        let lifetime = identity_lifetime(&t);
        return Ok((Secret::new(t.access_token), lifetime));
    }
    let body = http::read_prefix(&mut resp, 64 * 1024).await;
    let said = error_text(&body);
    let code = status.as_u16();
    let text = format!("managed identity sign-in refused (HTTP {code}) by {shown}: {said}");
    // IMDS answers 404 and 410 while it starts or updates, and 429 when asked too often.
    if matches!(code, 404 | 410 | 429) || status.is_server_error() {
        let wait = match http::parse_retry_after(retry_after.as_deref(), SystemTime::now()) {
            http::RetryAfter::Wait(d) => Some(d),
            _ => None,
        };
        return Err(Failure::Transient(text, wait));
    }
    let hint = if said.to_ascii_lowercase().contains("identity not found") {
        match &mi.client_id {
            Some(id) => format!(
                "; no user-assigned identity with client id {id} is attached to this resource (check --client-id / AZURE_CLIENT_ID)"
            ),
            None => "; this resource has no system-assigned identity: turn it on, or name a user-assigned one with --client-id".into(),
        }
    } else {
        String::new()
    };
    Err(Failure::Final(format!("{text}{hint}")))
}

/// `error_description` (or `error`, or `message`) of an endpoint's error body, clipped.
fn error_text(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let said = ["error_description", "message", "error"]
        .iter()
        .find_map(|k| v[*k].as_str().map(str::to_string))
        .or_else(|| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).to_string());
    said.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}

/// Workload identity federation: the assertion is whatever the token file holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedToken {
    pub file: PathBuf,
}

impl FederatedToken {
    /// Read at every sign-in: Kubernetes and CI runners rotate the file under a long
    /// run, and an assertion kept from the start would expire.
    pub fn assertion(&self) -> Result<Secret, String> {
        read_assertion(&self.file)
    }
}

fn read_assertion(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "AZURE_FEDERATED_TOKEN_FILE {}: cannot read the federated token: {e}",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "AZURE_FEDERATED_TOKEN_FILE {} is empty: the federated token was not written",
            path.display()
        ));
    }
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(v: serde_json::Value) -> IdentityToken {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn lifetimes_from_strings_numbers_and_dates() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let imds = token(serde_json::json!({"access_token": "t", "expires_in": "3599"}));
        assert_eq!(identity_lifetime(&imds), Duration::from_secs(3599));
        let app =
            token(serde_json::json!({"access_token": "t", "expires_on": (now + 600).to_string()}));
        let l = identity_lifetime(&app).as_secs();
        assert!((598..=600).contains(&l), "{l}");
        let number = token(serde_json::json!({"access_token": "t", "expires_on": now + 60}));
        assert!(identity_lifetime(&number).as_secs() <= 60);
        let past = token(serde_json::json!({"access_token": "t", "expires_on": "5"}));
        assert_eq!(identity_lifetime(&past), Duration::from_secs(1));
        let none = token(serde_json::json!({"access_token": "t"}));
        assert_eq!(identity_lifetime(&none), Duration::from_secs(3599));
    }

    #[test]
    fn urls_carry_version_resource_and_client_id() {
        let imds = ManagedIdentity {
            endpoint: IdentityEndpoint::Imds {
                host: IMDS_HOST.into(),
            },
            client_id: Some("uami".into()),
        };
        let url = imds.url("https://graph.microsoft.com").unwrap().to_string();
        assert_eq!(
            url,
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com&client_id=uami"
        );
        assert_eq!(imds.header(), ("Metadata", "true".to_string()));
        let app = ManagedIdentity {
            endpoint: IdentityEndpoint::AppService {
                endpoint: "http://127.0.0.1:41234/msi/token".into(),
                header: Secret::new("h"),
            },
            client_id: None,
        };
        let url = app.url("https://graph.microsoft.us").unwrap().to_string();
        assert!(url.contains("api-version=2019-08-01"), "{url}");
        assert!(!url.contains("client_id"), "{url}");
        assert_eq!(app.header().0, "X-IDENTITY-HEADER");
        assert!(!format!("{app:?}").contains("\"h\""));
    }

    #[test]
    fn federated_token_file_is_read_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        let fed = FederatedToken { file: file.clone() };
        assert!(fed.assertion().unwrap_err().contains("cannot read"));
        std::fs::write(&file, "one\n").unwrap();
        assert_eq!(fed.assertion().unwrap().expose(), "one");
        std::fs::write(&file, "two").unwrap();
        assert_eq!(fed.assertion().unwrap().expose(), "two");
        std::fs::write(&file, " \n").unwrap();
        assert!(fed.assertion().unwrap_err().contains("empty"));
    }
}

//! The one Microsoft Graph client every command uses: sign-in, rate limiting, retries
//! with backoff, and Graph's throttling (429 + Retry-After) handled in [`GraphClient::send`].

pub mod adaptive;
pub mod auth;
pub mod throttle;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;

pub use auth::{Credential, Secret};
use throttle::Throttle;

/// Which Microsoft cloud the tenant lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Global,
    UsGov,
    UsGovDod,
    China,
}

impl Cloud {
    /// (Graph root, sign-in authority).
    pub fn hosts(self) -> (&'static str, &'static str) {
        match self {
            Cloud::Global => (
                "https://graph.microsoft.com",
                "https://login.microsoftonline.com",
            ),
            Cloud::UsGov => (
                "https://graph.microsoft.us",
                "https://login.microsoftonline.us",
            ),
            Cloud::UsGovDod => (
                "https://dod-graph.microsoft.us",
                "https://login.microsoftonline.us",
            ),
            Cloud::China => (
                "https://microsoftgraph.chinacloudapi.cn",
                "https://login.chinacloudapi.cn",
            ),
        }
    }
}

/// Everything needed to talk to Graph, validated.
#[derive(Debug, Clone)]
pub struct GraphOptions {
    pub tenant: String,
    pub client_id: String,
    pub credential: Credential,
    /// Graph root without version, e.g. `https://graph.microsoft.com`.
    pub graph_url: String,
    /// Sign-in authority host, e.g. `https://login.microsoftonline.com`.
    pub login_url: String,
    /// Requests in flight at most (the adaptive window never exceeds it).
    pub concurrency: usize,
    /// Requests per second; `None` finds the tenant's limit by probing.
    pub rate: Option<f64>,
    /// Tries per request for transient failures (503/504, timeouts, resets).
    pub max_attempts: u32,
    pub timeout: Duration,
}

impl GraphOptions {
    /// Tenant and Graph root, as the state database keys uploads.
    pub fn scope(&self) -> String {
        format!(
            "{} @ {}",
            self.tenant.to_lowercase(),
            self.graph_url.trim_end_matches('/')
        )
    }
}

impl Default for GraphOptions {
    fn default() -> Self {
        let (graph, login) = Cloud::Global.hosts();
        GraphOptions {
            tenant: String::new(),
            client_id: String::new(),
            credential: Credential::Secret(Secret::new("")),
            graph_url: graph.into(),
            login_url: login.into(),
            concurrency: 256,
            rate: None,
            max_attempts: 6,
            timeout: Duration::from_secs(120),
        }
    }
}

/// Why a Graph call failed, with what Graph said and what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct GraphError {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    pub attempts: u32,
    /// A plain-language next step.
    pub hint: Option<&'static str>,
}

impl GraphError {
    fn auth(message: impl Into<String>) -> GraphError {
        GraphError {
            status: None,
            code: Some("SignInFailed".into()),
            message: message.into(),
            attempts: 1,
            hint: None,
        }
    }

    /// The user or mailbox does not exist (a per-user outcome, not a failure of the app).
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }

    /// The report's detail text: Graph's message and the hint.
    pub fn detail(&self) -> String {
        match self.hint {
            Some(h) => format!("{} ({h})", self.message),
            None => self.message.clone(),
        }
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct GraphResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub attempts: u32,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorInner>,
}

#[derive(Deserialize)]
struct ErrorInner {
    code: Option<String>,
    message: Option<String>,
}

/// What a user column names, for look-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey {
    Upn,
    Id,
    Mail,
    EmployeeId,
}

impl UserKey {
    /// Decides from the CSV column's name (`mail`, `employeeId`, `id`, ... ; else UPN).
    pub fn from_column(column: &str) -> UserKey {
        match column
            .to_ascii_lowercase()
            .replace([' ', '_', '-'], "")
            .as_str()
        {
            "mail" | "email" | "emailaddress" | "primarysmtpaddress" => UserKey::Mail,
            "employeeid" | "employeenumber" => UserKey::EmployeeId,
            "id" | "objectid" | "userid" => UserKey::Id,
            _ => UserKey::Upn,
        }
    }

    pub fn property(self) -> &'static str {
        match self {
            UserKey::Upn => "userPrincipalName",
            UserKey::Id => "id",
            UserKey::Mail => "mail",
            UserKey::EmployeeId => "employeeId",
        }
    }
}

/// A tenant user as Graph returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphUser {
    pub id: String,
    #[serde(rename = "userPrincipalName")]
    pub upn: Option<String>,
    pub mail: Option<String>,
    #[serde(rename = "employeeId")]
    pub employee_id: Option<String>,
}

/// Graph allows at most 15 values in one `in (...)` filter.
const FILTER_IN_MAX: usize = 15;

/// Shared by all workers of a run.
pub struct GraphClient {
    http: reqwest::Client,
    auth: auth::TokenProvider,
    throttle: Throttle,
    opts: GraphOptions,
}

impl GraphClient {
    /// Which tenant and Graph this client talks to: the state database keeps each
    /// scope's uploads apart, so a rehearsal on the emulator never skips a real upload.
    pub fn scope(&self) -> String {
        self.opts.scope()
    }
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.opts.graph_url)
            .finish()
    }
}

/// reqwest's error text without the URL repeated, and with the kind spelled out.
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "the answer was cut short".into()
    } else {
        "connection reset or closed".into()
    }
}

fn hint_for(status: u16, code: &str) -> Option<&'static str> {
    Some(match (status, code) {
        (403, _) => {
            "the app lacks ProfilePhoto.ReadWrite.All (application permission, with admin consent)"
        }
        (404, "ErrorNonExistentMailbox") => {
            "the user has no Exchange Online mailbox, so Microsoft 365 has nowhere to keep a photo"
        }
        (404, "ImageNotFound") | (404, "ErrorEntityNotFound") => "the user has no photo",
        (404, _) => "no such user in the tenant: check the user column",
        (400, "MailboxNotHostedInExchangeOnline") => {
            "the mailbox is on-premises: set the photo in Exchange Server"
        }
        (400, _) => "Graph refused the request as invalid",
        (413, _) => "the photo is over Graph's 4 MB limit: lower --max-bytes",
        (401, _) => "sign-in was not accepted: check the app's credentials",
        _ => return None,
    })
}

/// Full-jitter exponential backoff: random in [0, min(cap, base * 2^attempt)].
fn backoff(attempt: u32) -> Duration {
    let cap = 30_000u64;
    let ceiling = (500u64 << attempt.min(10)).min(cap);
    Duration::from_millis(rand::random_range(0..=ceiling))
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// Percent-encodes one URL path segment (a UPN or object id).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl GraphClient {
    pub fn new(opts: GraphOptions) -> Result<GraphClient, String> {
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(opts.concurrency.max(1) * 2)
            .user_agent(concat!("m365-photos/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        let login = opts.login_url.trim_end_matches('/');
        let graph = opts.graph_url.trim_end_matches('/');
        let token_url = format!("{login}/{}/oauth2/v2.0/token", segment(&opts.tenant));
        let auth = auth::TokenProvider::new(
            http.clone(),
            token_url,
            opts.client_id.clone(),
            format!("{graph}/.default"),
            &opts.credential,
        )?;
        let throttle = Throttle::new(opts.concurrency, opts.rate);
        Ok(GraphClient {
            http,
            auth,
            throttle,
            opts,
        })
    }

    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// `{graph}/{version}/{path}`.
    pub fn url(&self, version: &str, path: &str) -> String {
        format!(
            "{}/{version}/{path}",
            self.opts.graph_url.trim_end_matches('/')
        )
    }

    /// Signs in once, so that bad credentials stop a run before any work.
    pub async fn check_sign_in(&self) -> Result<(), GraphError> {
        self.auth.token().await.map(|_| ())
    }

    /// Sends one request, riding throttling and transient faults:
    /// - 429: every worker waits Retry-After (the shared gate), the window shrinks;
    /// - 503/504/500/502, timeouts, resets, cut-short answers: backoff with full jitter
    ///   (or Retry-After when given), up to `max_attempts`;
    /// - 401 InvalidAuthenticationToken: sign in again once;
    /// - anything else is final and comes back with Graph's code and a hint.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<GraphResponse, GraphError> {
        let mut attempts = 0u32;
        let mut throttled = 0u32;
        let mut refreshed = false;
        let max_throttled = self.opts.max_attempts.max(1) * 10;
        loop {
            attempts += 1;
            let slot = self.throttle.admit().await;
            // The token is taken after the wait for a slot, so it cannot expire in the queue.
            let token = match self.auth.token().await {
                Ok(t) => t,
                Err(mut e) => {
                    e.attempts = attempts;
                    return Err(e);
                }
            };
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose());
            if let Some((bytes, ctype)) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, *ctype)
                    .body(bytes.clone());
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let ra = retry_after(resp.headers());
                    match resp.bytes().await {
                        Ok(b) => Ok((status, ra, b.to_vec())),
                        Err(e) => Err(without_url(&e)),
                    }
                }
                Err(e) => Err(without_url(&e)),
            };
            // What the answer says about Graph's limits (the latency counts too).
            slot.finish(
                if method == Method::GET {
                    adaptive::Kind::Read
                } else {
                    adaptive::Kind::Write
                },
                match &outcome {
                    Ok((s, _, _)) if *s == StatusCode::TOO_MANY_REQUESTS => {
                        adaptive::Outcome::Throttled
                    }
                    Ok((s, _, _)) if s.is_server_error() => adaptive::Outcome::Failed,
                    Ok(_) => adaptive::Outcome::Answered,
                    Err(_) => adaptive::Outcome::Failed,
                },
            );
            let (status, ra, bytes) = match outcome {
                Ok(x) => x,
                Err(why) => {
                    tracing::debug!(url, attempts, why, "transient network failure");
                    if attempts >= self.opts.max_attempts {
                        return Err(GraphError {
                            status: None,
                            code: None,
                            message: format!("gave up after {attempts} tries: {why}"),
                            attempts,
                            hint: Some("Graph or the network kept failing; run again to retry"),
                        });
                    }
                    tokio::time::sleep(backoff(attempts)).await;
                    continue;
                }
            };
            if status.is_success() {
                self.throttle.on_success();
                return Ok(GraphResponse {
                    status: status.as_u16(),
                    body: bytes,
                    attempts,
                });
            }
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(ErrorBody { error: Some(inner) }) => (
                    inner.code.unwrap_or_default(),
                    inner.message.unwrap_or_default(),
                ),
                _ => (
                    String::new(),
                    String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                ),
            };
            if status == StatusCode::TOO_MANY_REQUESTS {
                throttled += 1;
                // Without Retry-After, back off exponentially (with jitter, never zero).
                let wait = ra.unwrap_or_else(|| backoff(throttled) + Duration::from_millis(500));
                tracing::info!(url, wait_s = wait.as_secs_f64(), "throttled by Graph");
                self.throttle.on_throttled(wait);
                attempts -= 1;
                if throttled <= max_throttled {
                    continue;
                }
            }
            if status == StatusCode::UNAUTHORIZED
                && code == "InvalidAuthenticationToken"
                && !refreshed
            {
                refreshed = true;
                self.auth.invalidate().await;
                attempts -= 1;
                continue;
            }
            let transient = matches!(status.as_u16(), 500 | 502 | 503 | 504);
            if transient && attempts < self.opts.max_attempts {
                let wait = ra.unwrap_or_else(|| backoff(attempts));
                tracing::debug!(
                    url,
                    status = status.as_u16(),
                    "transient Graph error, retrying"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            let hint = hint_for(status.as_u16(), &code);
            return Err(GraphError {
                status: Some(status.as_u16()),
                code: (!code.is_empty()).then_some(code),
                message: if message.is_empty() {
                    format!("HTTP {}", status.as_u16())
                } else {
                    message
                },
                attempts: attempts + throttled,
                hint,
            });
        }
    }

    /// Replaces a user's photo (raw JPEG bytes).
    pub async fn put_photo(&self, user: &str, jpeg: Vec<u8>) -> Result<GraphResponse, GraphError> {
        let url = self.url("v1.0", &format!("users/{}/photo/$value", segment(user)));
        self.send(Method::PUT, &url, Some((jpeg, "image/jpeg")))
            .await
    }

    /// A user's current photo; `Ok(None)` when they have none.
    pub async fn get_photo(&self, user: &str) -> Result<Option<Vec<u8>>, GraphError> {
        let url = self.url("v1.0", &format!("users/{}/photo/$value", segment(user)));
        match self.send(Method::GET, &url, None).await {
            Ok(r) => Ok(Some(r.body)),
            Err(e)
                if e.status == Some(404)
                    && matches!(
                        e.code.as_deref(),
                        Some("ImageNotFound" | "ErrorEntityNotFound")
                    ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub async fn delete_photo(&self, user: &str) -> Result<GraphResponse, GraphError> {
        let url = self.url("v1.0", &format!("users/{}/photo/$value", segment(user)));
        self.send(Method::DELETE, &url, None).await
    }

    pub async fn get_json(
        &self,
        version: &str,
        path: &str,
    ) -> Result<serde_json::Value, GraphError> {
        let r = self
            .send(Method::GET, &self.url(version, path), None)
            .await?;
        serde_json::from_slice(&r.body).map_err(|e| GraphError {
            status: Some(r.status),
            code: None,
            message: format!("unexpected answer from Graph: {e}"),
            attempts: r.attempts,
            hint: None,
        })
    }

    pub async fn patch_json(
        &self,
        version: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, GraphError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let r = self
            .send(
                Method::PATCH,
                &self.url(version, path),
                Some((bytes, "application/json")),
            )
            .await?;
        Ok(serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
    }

    /// Looks up users by `key`, 15 per request, all at once within the throttle.
    /// Returns normalised value -> user; values Graph does not know are absent.
    pub async fn resolve_users(
        self: &Arc<Self>,
        key: UserKey,
        values: &[String],
    ) -> Result<HashMap<String, GraphUser>, GraphError> {
        let mut set = tokio::task::JoinSet::new();
        for chunk in values.chunks(FILTER_IN_MAX) {
            let quoted: Vec<String> = chunk
                .iter()
                .map(|v| format!("'{}'", v.replace('\'', "''")))
                .collect();
            let filter = format!("{} in ({})", key.property(), quoted.join(","));
            let query = serde_urlencoded::to_string([
                ("$filter", filter.as_str()),
                ("$select", "id,userPrincipalName,mail,employeeId"),
                ("$top", "999"),
            ])
            .unwrap_or_default();
            let url = format!("{}?{query}", self.url("v1.0", "users"));
            let me = Arc::clone(self);
            set.spawn(async move { me.get_list(&url).await });
        }
        let mut found = HashMap::new();
        while let Some(joined) = set.join_next().await {
            let users =
                joined.map_err(|e| GraphError::auth(format!("look-up task failed: {e}")))??;
            for u in users {
                let value = match key {
                    UserKey::Upn => u.upn.clone(),
                    UserKey::Id => Some(u.id.clone()),
                    UserKey::Mail => u.mail.clone(),
                    UserKey::EmployeeId => u.employee_id.clone(),
                };
                if let Some(v) = value {
                    found.insert(v.to_lowercase(), u);
                }
            }
        }
        Ok(found)
    }

    /// GETs a user list, following `@odata.nextLink`.
    pub async fn get_list(&self, first_url: &str) -> Result<Vec<GraphUser>, GraphError> {
        #[derive(Deserialize)]
        struct Page {
            value: Vec<GraphUser>,
            #[serde(rename = "@odata.nextLink")]
            next: Option<String>,
        }
        let mut url = first_url.to_string();
        let mut all = Vec::new();
        loop {
            let r = self.send(Method::GET, &url, None).await?;
            let page: Page = serde_json::from_slice(&r.body).map_err(|e| GraphError {
                status: Some(r.status),
                code: None,
                message: format!("unexpected user list from Graph: {e}"),
                attempts: r.attempts,
                hint: None,
            })?;
            all.extend(page.value);
            match page.next {
                Some(next) => url = next,
                None => return Ok(all),
            }
        }
    }
}

//! The one Microsoft Graph client every command uses: sign-in, rate limiting, retries
//! with backoff, Graph's throttling (429 + Retry-After) and the one error type, behind
//! the [`PhotoApi`] trait that the upload and tenant commands work against.

pub mod adaptive;
pub mod auth;
pub mod claims;
pub mod codes;
pub mod http;
pub mod identity;
pub mod throttle;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::Deserialize;

pub use auth::{Credential, Secret};

/// Why a command stops before its first Graph request after sign-in (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("signing in failed: {0}")]
    SignIn(String),
    #[error("{0}")]
    Permissions(String),
}

impl PreflightError {
    /// A missing permission is the admin's to grant (2); a failed sign-in may be the
    /// network's or the service's (1).
    pub fn exit_code(&self) -> i32 {
        match self {
            PreflightError::SignIn(_) => crate::config::exit::SOME_FAILED,
            PreflightError::Permissions(_) => crate::config::exit::USAGE,
        }
    }
}
pub use claims::{Claims, claims};
pub use codes::{Endpoint, Kind};
use throttle::Throttle;

use crate::util::signals::Stop;

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
    /// (Graph root, sign-in authority). GCC (not GCC High) tenants use the global pair.
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
            // Current Entra docs; `login.chinacloudapi.cn` is the older name.
            Cloud::China => (
                "https://microsoftgraph.chinacloudapi.cn",
                "https://login.partner.microsoftonline.cn",
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
    /// Graph root without version, e.g. `https://graph.microsoft.com`: where requests go
    /// (a proxy or the emulator may stand in).
    pub graph_url: String,
    /// The resource the token is for (`{resource}/.default`): the cloud's Graph host,
    /// whatever `graph_url` says, so that a proxy does not break sign-in.
    pub resource: String,
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
            resource: graph.into(),
            login_url: login.into(),
            concurrency: 256,
            rate: None,
            max_attempts: 6,
            timeout: Duration::from_secs(120),
        }
    }
}

/// Why a Graph call (or the sign-in before it) failed: what Graph said, what it means,
/// and what to do about it. The one error type of the Graph layer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.detail())]
pub struct GraphError {
    pub status: Option<u16>,
    /// The deciding Graph code: the inner `errorCode` when Graph wrapped one in its message.
    pub code: Option<String>,
    /// The outer code (`UnknownError`) when `code` came from inside the message.
    pub outer_code: Option<String>,
    /// What the server said, as it said it (clipped), or what went wrong on the way.
    pub message: String,
    pub attempts: u32,
    pub kind: Kind,
    /// A plain-language next step.
    pub hint: Option<&'static str>,
    /// Graph's `request-id` (Microsoft support asks for it).
    pub request_id: Option<String>,
    /// The `client-request-id` this program sent with the failing request.
    pub client_request_id: Option<String>,
}

impl GraphError {
    /// A failure that is not an HTTP answer (network, protocol, sign-in, stop).
    pub fn new(kind: Kind, message: impl Into<String>) -> GraphError {
        GraphError {
            status: None,
            code: None,
            outer_code: None,
            message: message.into(),
            attempts: 1,
            kind,
            hint: None,
            request_id: None,
            client_request_id: None,
        }
    }

    fn auth(message: impl Into<String>) -> GraphError {
        GraphError::new(Kind::SignIn, message)
    }

    fn interrupted(attempts: u32) -> GraphError {
        GraphError {
            attempts,
            ..GraphError::new(
                Kind::Interrupted,
                "stopped (Ctrl-C) while waiting for Graph; run the same command again",
            )
        }
    }

    /// The report's detail text: status, code, Graph's raw message, the hint and the
    /// request id, in one line.
    pub fn detail(&self) -> String {
        let mut s = String::new();
        if let Some(status) = self.status {
            s.push_str(&format!("HTTP {status}"));
        }
        if let Some(code) = &self.code {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(code);
            if let Some(outer) = &self.outer_code {
                s.push_str(&format!(" (inside {outer})"));
            }
        }
        if !self.message.is_empty() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&self.message);
        }
        if s.is_empty() {
            s.push_str("request failed");
        }
        if let Some(h) = self.hint {
            s.push_str(&format!(" ({h})"));
        }
        if let Some(id) = &self.request_id {
            s.push_str(&format!(" [request-id {id}]"));
        }
        s
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct GraphResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub attempts: u32,
    pub content_type: Option<String>,
}

/// A user's current photo as Graph served it.
#[derive(Debug, Clone)]
pub struct Photo {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub attempts: u32,
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
    /// The property a CSV-less upload matches photo names against.
    pub fn of_directory(key: crate::config::DirectoryKey) -> UserKey {
        match key {
            crate::config::DirectoryKey::UserPrincipalName => UserKey::Upn,
            crate::config::DirectoryKey::Mail => UserKey::Mail,
            crate::config::DirectoryKey::EmployeeId => UserKey::EmployeeId,
        }
    }

    /// `user`'s value of this property.
    pub fn value_of(self, user: &GraphUser) -> Option<&str> {
        match self {
            UserKey::Upn => user.upn.as_deref(),
            UserKey::Id => Some(user.id.as_str()),
            UserKey::Mail => user.mail.as_deref(),
            UserKey::EmployeeId => user.employee_id.as_deref(),
        }
    }

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
    #[serde(rename = "accountEnabled", default)]
    pub account_enabled: Option<bool>,
    #[serde(rename = "userType", default)]
    pub user_type: Option<String>,
}

impl GraphUser {
    /// How a person tells this account apart from another with the same value.
    pub fn describe(&self) -> String {
        let mut s = format!("{} (id {}", self.upn.as_deref().unwrap_or("?"), self.id);
        if self.account_enabled == Some(false) {
            s.push_str(", disabled");
        }
        if let Some(t) = self
            .user_type
            .as_deref()
            .filter(|t| !t.eq_ignore_ascii_case("member"))
        {
            s.push_str(&format!(", {t}"));
        }
        s.push(')');
        s
    }

    /// Only what an upload reads (id, UPN, the remarks): a run keeps one per target.
    #[must_use]
    pub fn slim(self) -> GraphUser {
        GraphUser {
            mail: None,
            employee_id: None,
            user_type: self.user_type.filter(|t| !t.eq_ignore_ascii_case("member")),
            ..self
        }
    }

    /// A remark for a target that is probably not who HR meant (disabled, guest).
    pub fn note(&self) -> Option<&'static str> {
        if self.account_enabled == Some(false) {
            Some("disabled-account")
        } else if self
            .user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("guest"))
        {
            Some("guest")
        } else {
            None
        }
    }
}

/// What a look-up of many values found: every directory user per value (more than one
/// means the value is not unique: never pick one), and the values whose look-up failed.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Trimmed, lower-cased value -> the users holding it.
    pub found: HashMap<String, Vec<GraphUser>>,
    /// Trimmed, lower-cased value -> why it could not be looked up.
    pub failed: HashMap<String, GraphError>,
}

impl Resolved {
    /// What the look-up says of `value`.
    pub fn get(&self, value: &str) -> Lookup<'_> {
        let k = value.trim().to_lowercase();
        if let Some(e) = self.failed.get(&k) {
            return Lookup::Failed(e);
        }
        match self.found.get(&k).map(Vec::as_slice) {
            None | Some([]) => Lookup::NotFound,
            Some([one]) => Lookup::One(one),
            Some(many) => Lookup::Several(many),
        }
    }
}

/// One value's answer.
#[derive(Debug)]
pub enum Lookup<'a> {
    One(&'a GraphUser),
    Several(&'a [GraphUser]),
    NotFound,
    Failed(&'a GraphError),
}

/// Why Graph would refuse `value` for `key` (it then rejects the whole `in (...)`
/// request, so such values are never sent).
fn invalid_value(key: UserKey, value: &str) -> Option<String> {
    match key {
        UserKey::Id if uuid::Uuid::parse_str(value).is_err() => Some(format!(
            "{value:?} is not an object id (a GUID): Graph would refuse it; check the user column"
        )),
        UserKey::EmployeeId if value.chars().count() > 16 => Some(format!(
            "employeeId {value:?} is longer than 16 characters, more than Entra ID holds"
        )),
        _ => None,
    }
}

/// Graph allows at most 15 values in one `in (...)` filter.
pub(crate) const FILTER_IN_MAX: usize = 15;
/// Photo answers: Graph's 4 MB limit plus room for a server that stored a bit more.
pub const PHOTO_BODY_MAX: usize = 4 * 1024 * 1024 + 256 * 1024;
/// JSON answers: a 999-user page is about 1 MB.
pub const JSON_BODY_MAX: usize = 8 * 1024 * 1024;
/// Error answers: enough to explain them; the rest is not read.
const ERROR_BODY_MAX: usize = 64 * 1024;
/// Pages followed through `@odata.nextLink` at most (5 million users at 999 a page).
pub const MAX_PAGES: usize = 5_000;
/// Graph path of the photo lock setting (beta only).
pub const SETTINGS_PATH: &str = "beta/admin/people/photoUpdateSettings";

/// Users one page of `GET /users` holds (`$top`; Graph's maximum for users is 999).
pub const LIST_PAGE: u64 = 999;

/// What the upload and tenant commands need from Graph, implemented by [`GraphClient`]
/// itself (sign-in, rate limiting, retries and throttling included).
pub trait PhotoApi: Send + Sync + 'static {
    /// `GET /users/{user}/photo/$value`, the body capped at [`PHOTO_BODY_MAX`].
    fn get_photo(&self, user: &str) -> impl Future<Output = Result<Photo, GraphError>> + Send;
    /// `PUT /users/{user}/photo/$value` (Content-Type by the bytes' format).
    fn put_photo(
        &self,
        user: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<GraphResponse, GraphError>> + Send;
    /// `DELETE /users/{user}/photo/$value`.
    fn delete_photo(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<GraphResponse, GraphError>> + Send;
    /// Looks up users by `key`, 15 per request, deduplicated (trimmed, case-insensitive).
    /// Returns trimmed lower-case value -> user; values Graph does not know are absent.
    fn resolve_users(
        &self,
        key: UserKey,
        values: &[String],
    ) -> impl Future<Output = Resolved> + Send;
    /// Every user in the tenant (`GET /users` through `@odata.nextLink`).
    fn list_users(&self) -> impl Future<Output = Result<Vec<GraphUser>, GraphError>> + Send {
        self.list_users_where(Some)
    }
    /// The tenant's users that `keep` keeps (and maybe slims), page by page: a listing of
    /// 100,000 users for a few thousand targets never holds the other users at once.
    fn list_users_where<F>(
        &self,
        keep: F,
    ) -> impl Future<Output = Result<Vec<GraphUser>, GraphError>> + Send
    where
        F: FnMut(GraphUser) -> Option<GraphUser> + Send;
    /// How many users the tenant has (`GET /users/$count`).
    fn count_users(&self) -> impl Future<Output = Result<u64, GraphError>> + Send;
    /// The tenant's `photoUpdateSettings` and the requests it took.
    fn get_settings(
        &self,
    ) -> impl Future<Output = Result<(serde_json::Value, u32), GraphError>> + Send;
    /// PATCHes `photoUpdateSettings`; the answer's body (`Null` for 204) and requests taken.
    fn patch_settings(
        &self,
        body: serde_json::Value,
    ) -> impl Future<Output = Result<(serde_json::Value, u32), GraphError>> + Send;
    /// How many requests may usefully be in flight at once.
    fn concurrency(&self) -> usize;
}

/// Shared by all workers of a run; cloning shares the connection pool, token and throttle.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    auth: auth::TokenProvider,
    throttle: Throttle,
    opts: GraphOptions,
    /// Scheme, host and port of `graph_url`: the only place the token goes.
    origin: reqwest::Url,
    stop: Stop,
    /// The tenant id from the token (`tid`), once the preflight has read it.
    tid: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.inner.opts.graph_url)
            .finish()
    }
}

/// reqwest's error text without the URL repeated, and with the kind spelled out.
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_redirect() {
        "redirect refused".into()
    } else if e.is_body() || e.is_decode() {
        "the answer was cut short".into()
    } else {
        "connection reset or closed".into()
    }
}

/// Full-jitter exponential backoff: random in [0, min(cap, base * 2^attempt)].
fn backoff(attempt: u32) -> Duration {
    let cap = 30_000u64;
    let ceiling = (500u64 << attempt.min(10)).min(cap);
    Duration::from_millis(rand::random_range(0..=ceiling))
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

/// The Content-Type for photo bytes, by their format (JPEG unless they say otherwise).
pub fn photo_content_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else if bytes.starts_with(b"BM") {
        "image/bmp"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "image/jpeg"
    }
}

fn header_text(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect())
}

/// How many tries a request has taken, by kind.
struct Tries {
    attempts: u32,
    throttled: u32,
    refreshed: bool,
    max_throttled: u32,
}

impl Tries {
    fn total(&self) -> u32 {
        self.attempts + self.throttled
    }
}

/// What [`GraphClient::send`] does after an error answer.
enum Next {
    /// Try again now (the shared gate holds it back when throttled).
    Again,
    /// Try again after this long.
    After(Duration),
    /// Sign in again, then try again.
    Refresh,
    Fail(GraphError),
}

/// One answer, read as far as needed.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    request_id: Option<String>,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
}

impl GraphClient {
    /// A client that stops waiting when the process-wide stop (Ctrl-C) is requested.
    pub fn new(opts: GraphOptions) -> Result<GraphClient, String> {
        GraphClient::with_stop(opts, Stop::global())
    }

    /// As [`GraphClient::new`], with the stop request to obey in every wait.
    pub fn with_stop(opts: GraphOptions, stop: Stop) -> Result<GraphClient, String> {
        let graph = opts.graph_url.trim_end_matches('/').to_string();
        let origin = reqwest::Url::parse(&graph)
            .map_err(|e| format!("--graph-url {graph}: not a URL: {e}"))?;
        let policy_origin = origin.clone();
        // Redirects only within the Graph host itself: the token never goes elsewhere.
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > 5 || !http::same_origin(attempt.url(), &policy_origin) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let agent = concat!("m365-photos/", env!("CARGO_PKG_VERSION"));
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(opts.concurrency.max(1) * 2)
            .user_agent(agent)
            .redirect(policy)
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        // Sign-in follows no redirect at all: a 307/308 would resend the secret elsewhere.
        let login_http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(20))
            .user_agent(agent)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        let login = opts.login_url.trim_end_matches('/');
        let token_url = format!("{login}/{}/oauth2/v2.0/token", segment(&opts.tenant));
        let auth = auth::TokenProvider::new(
            login_http,
            token_url,
            opts.client_id.clone(),
            format!("{}/.default", opts.resource.trim_end_matches('/')),
            &opts.credential,
            stop.clone(),
        )?;
        let throttle = Throttle::new(opts.concurrency, opts.rate);
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                auth,
                throttle,
                opts,
                origin,
                stop,
                tid: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Which tenant and Graph this client talks to: the state database keeps each
    /// scope's uploads apart, so a rehearsal on the emulator never skips a real upload.
    /// After the preflight the tenant is the token's `tid`, so `--tenant contoso.com`
    /// and `--tenant <its GUID>` share one history; before it (or with a token that
    /// is not a JWT), the `--tenant` text.
    pub fn scope(&self) -> String {
        match self.inner.tid.get() {
            Some(tid) => format!(
                "{} @ {}",
                tid.to_lowercase(),
                self.inner.opts.graph_url.trim_end_matches('/')
            ),
            None => self.inner.opts.scope(),
        }
    }

    /// The scope as releases before the `tid` key wrote it (the `--tenant` text), whose
    /// history [`GraphClient::scope`] adopts.
    pub fn legacy_scope(&self) -> String {
        self.inner.opts.scope()
    }

    /// The local clock minus the token endpoint's, in seconds (after a sign-in).
    pub fn clock_skew(&self) -> Option<i64> {
        self.inner.auth.clock_skew()
    }

    /// The certificate assertion form that signed in (`None` for a client secret).
    pub fn assertion_form(&self) -> Option<auth::AssertionForm> {
        self.inner.auth.assertion_form()
    }

    /// `GET /users/{id}/photo`: the photo's metadata (`height`, `width`, content type).
    pub async fn photo_metadata(&self, user: &str) -> Result<serde_json::Value, GraphError> {
        let url = self.url("v1.0", &format!("users/{}/photo", segment(user)));
        let r = self
            .send(Endpoint::PhotoGet, Method::GET, &url, None)
            .await?;
        serde_json::from_slice(&r.body).map_err(|e| GraphError {
            status: Some(r.status),
            attempts: r.attempts,
            ..GraphError::new(Kind::Protocol, format!("unexpected photo metadata: {e}"))
        })
    }

    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// `{graph}/{version}/{path}`.
    pub fn url(&self, version: &str, path: &str) -> String {
        format!(
            "{}/{version}/{path}",
            self.inner.opts.graph_url.trim_end_matches('/')
        )
    }

    fn photo_url(&self, user: &str) -> String {
        self.url("v1.0", &format!("users/{}/photo/$value", segment(user)))
    }

    /// Signs in once, so that bad credentials stop a run before any work. Later calls
    /// reuse the token (no second sign-in for `--lock` or the backup hook).
    pub async fn check_sign_in(&self) -> Result<(), GraphError> {
        self.inner.auth.token().await?;
        tracing::info!(method = %self.sign_in_method(), "signed in");
        Ok(())
    }

    /// Which sign-in this client uses (`client secret`, `managed identity (...)`, ...).
    pub fn sign_in_method(&self) -> String {
        self.inner.opts.credential.describe()
    }

    /// The current access token's claims, for a preflight of permissions.
    pub async fn token_claims(&self) -> Result<Claims, GraphError> {
        let token = self.inner.auth.token().await?;
        claims(token.expose()).map_err(|e| GraphError::auth(e.to_string()))
    }

    /// The preflight: right after sign-in, before any other request, the token's `roles`
    /// must grant what the command needs, so that a missing consent or permission costs
    /// one clear message (exit 2) instead of one failed row per user. A token that is not
    /// a JWT (some proxies hand out opaque ones) cannot be read: noted, not refused.
    pub async fn preflight(&self, needs: &[claims::Need]) -> Result<(), PreflightError> {
        let token = self
            .inner
            .auth
            .token()
            .await
            .map_err(|e| PreflightError::SignIn(e.detail()))?;
        let granted = match claims(token.expose()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot read the token's permissions ({e}); not checked");
                return Ok(());
            }
        };
        if let Some(tid) = granted.tid.as_deref().filter(|t| !t.trim().is_empty()) {
            let _ = self.inner.tid.set(tid.trim().to_string());
        }
        tracing::info!(
            tid = granted.tid.as_deref().unwrap_or("?"),
            appid = granted.appid.as_deref().unwrap_or("?"),
            roles = granted.roles.join(","),
            "signed in"
        );
        let opts = &self.inner.opts;
        claims::check(&granted, needs, &opts.login_url, &opts.tenant).map_err(|e| {
            // A managed identity has no consent page: its permissions are granted by
            // app role assignment, which the consent URL would not tell an admin.
            PreflightError::Permissions(match &opts.credential {
                Credential::ManagedIdentity(_) => format!(
                    "{e}. A managed identity gets Graph application permissions from an admin with Microsoft Graph PowerShell (New-MgServicePrincipalAppRoleAssignment; see the README, \"Unattended sign-in\")"
                ),
                _ => e,
            })
        })
    }

    /// `GET /users?$filter=<property> in (...)` for one chunk of values.
    fn lookup_url(&self, key: UserKey, chunk: &[String]) -> String {
        let quoted: Vec<String> = chunk
            .iter()
            .map(|v| format!("'{}'", v.replace('\'', "''")))
            .collect();
        let filter = format!("{} in ({})", key.property(), quoted.join(","));
        let query = serde_urlencoded::to_string([
            ("$filter", filter.as_str()),
            (
                "$select",
                "id,userPrincipalName,mail,employeeId,accountEnabled,userType",
            ),
            ("$top", "999"),
        ])
        .unwrap_or_default();
        format!("{}?{query}", self.url("v1.0", "users"))
    }

    /// Sleeps, unless a stop is requested first.
    async fn pause(&self, d: Duration, attempts: u32) -> Result<(), GraphError> {
        tokio::select! {
            biased;
            () = self.inner.stop.wait() => Err(GraphError::interrupted(attempts)),
            () = tokio::time::sleep(d) => Ok(()),
        }
    }

    /// One HTTP exchange: the success body read up to `limit`, error bodies in part.
    async fn exchange(
        &self,
        req: reqwest::RequestBuilder,
        limit: usize,
    ) -> Result<Result<Answer, String>, GraphError> {
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Err(without_url(&e))),
        };
        let status = resp.status().as_u16();
        let h = resp.headers();
        let mut answer = Answer {
            status,
            retry_after: header_text(h, "retry-after"),
            request_id: header_text(h, "request-id"),
            content_type: header_text(h, "content-type"),
            location: header_text(h, "location"),
            body: Vec::new(),
        };
        if (200..300).contains(&status) {
            match http::read_limited(&mut resp, limit).await {
                Ok(b) => answer.body = b,
                Err(http::BodyError::TooLarge(n)) => {
                    let mut e = GraphError::new(
                        Kind::TooLarge,
                        format!(
                            "Graph's answer is larger than {} MB, the most this program reads for it; not read",
                            n / (1024 * 1024)
                        ),
                    );
                    e.status = Some(status);
                    e.request_id = answer.request_id;
                    return Err(e);
                }
                Err(http::BodyError::Cut(why)) => return Ok(Err(why)),
            }
        } else {
            answer.body = http::read_prefix(&mut resp, ERROR_BODY_MAX).await;
        }
        Ok(Ok(answer))
    }

    /// Sends one request, riding throttling and transient faults as [`codes::classify`]
    /// decides: 429 shuts the shared gate for Retry-After (capped, see
    /// [`http::MAX_RETRY_AFTER`]); 5xx, timeouts and resets back off with full jitter up
    /// to `max_attempts`; an expired token is renewed once; the rest is final. Every wait
    /// ends at once when a stop (Ctrl-C) is requested.
    pub(crate) async fn send(
        &self,
        ep: Endpoint,
        method: Method,
        url: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<GraphResponse, GraphError> {
        let inner = &*self.inner;
        let limit = if ep == Endpoint::PhotoGet {
            PHOTO_BODY_MAX
        } else {
            JSON_BODY_MAX
        };
        let mut tries = Tries {
            attempts: 0,
            throttled: 0,
            refreshed: false,
            max_throttled: inner.opts.max_attempts.max(1) * 10,
        };
        loop {
            tries.attempts += 1;
            let slot = tokio::select! {
                biased;
                () = inner.stop.wait() => return Err(GraphError::interrupted(tries.total())),
                slot = inner.throttle.admit() => slot,
            };
            // The token is taken after the wait for a slot, so it cannot expire in the queue.
            let token = inner.auth.token().await.map_err(|mut e| {
                e.attempts = tries.total();
                e
            })?;
            let client_request_id = uuid::Uuid::new_v4().to_string();
            let mut req = inner
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose())
                .header("client-request-id", &client_request_id)
                .header("return-client-request-id", "true");
            if let Some((bytes, ctype)) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, *ctype)
                    .body(bytes.clone());
            }
            if ep == Endpoint::CountUsers {
                req = req.header("ConsistencyLevel", "eventual");
            }
            let outcome = self.exchange(req, limit).await;
            // What the answer says about Graph's limits (the latency counts too).
            slot.finish(
                if method == Method::GET {
                    adaptive::Kind::Read
                } else {
                    adaptive::Kind::Write
                },
                match &outcome {
                    Ok(Ok(a)) if a.status == 429 => adaptive::Outcome::Throttled,
                    Ok(Ok(a)) if a.status >= 500 => adaptive::Outcome::Failed,
                    Ok(Ok(_)) => adaptive::Outcome::Answered,
                    _ => adaptive::Outcome::Failed,
                },
            );
            let answer = match outcome {
                Err(mut e) => {
                    e.attempts = tries.total();
                    e.client_request_id = Some(client_request_id);
                    return Err(e);
                }
                Ok(Ok(a)) => a,
                Ok(Err(why)) => {
                    let n = tries.attempts;
                    tracing::debug!(url, attempts = n, why, "transient network failure");
                    if n >= inner.opts.max_attempts {
                        let mut e = GraphError::new(
                            Kind::Transient,
                            format!("gave up after {n} tries: {why}"),
                        );
                        e.attempts = tries.total();
                        e.hint = Some("Graph or the network kept failing; run again to retry");
                        e.client_request_id = Some(client_request_id);
                        return Err(e);
                    }
                    self.pause(backoff(n), tries.total()).await?;
                    continue;
                }
            };
            if (200..300).contains(&answer.status) {
                inner.throttle.on_success();
                return Ok(GraphResponse {
                    status: answer.status,
                    body: answer.body,
                    attempts: tries.total(),
                    content_type: answer.content_type,
                });
            }
            match self.after_error(ep, url, answer, client_request_id, &mut tries) {
                Next::Again => continue,
                Next::After(wait) => {
                    self.pause(wait, tries.total()).await?;
                    continue;
                }
                Next::Refresh => {
                    inner.auth.invalidate().await;
                    continue;
                }
                Next::Fail(e) => return Err(e),
            }
        }
    }

    /// What to do after a non-2xx answer, as [`codes::classify`] decides.
    fn after_error(
        &self,
        ep: Endpoint,
        url: &str,
        answer: Answer,
        client_request_id: String,
        tries: &mut Tries,
    ) -> Next {
        let inner = &*self.inner;
        let parsed = codes::parse_error_body(&answer.body);
        let code = parsed.code.clone().unwrap_or_default();
        let rule = codes::classify(ep, answer.status, &code);
        let ra = http::parse_retry_after(answer.retry_after.as_deref(), SystemTime::now());
        let mut err = GraphError {
            status: Some(answer.status),
            code: parsed.code,
            outer_code: parsed.outer_code,
            message: if (300..400).contains(&answer.status) {
                format!(
                    "redirect to {} not followed",
                    answer.location.as_deref().unwrap_or("another address")
                )
            } else {
                parsed.message
            },
            attempts: tries.total(),
            kind: rule.kind,
            hint: rule.hint,
            request_id: answer.request_id.or(parsed.request_id),
            client_request_id: Some(client_request_id),
        };
        match rule.action {
            codes::Action::Retry if answer.status == 429 => {
                tries.throttled += 1;
                tries.attempts -= 1;
                // Without Retry-After, back off exponentially (with jitter, never zero).
                let fallback = backoff(tries.throttled) + Duration::from_millis(500);
                match http::wait_for(&ra, fallback) {
                    Ok(wait) if tries.throttled <= tries.max_throttled => {
                        tracing::info!(url, wait_s = wait.as_secs_f64(), "throttled by Graph");
                        // Every worker waits at the shared gate (see `admit`).
                        inner.throttle.on_throttled(wait);
                        return Next::Again;
                    }
                    Ok(_) => {}
                    Err(why) => {
                        err.message = why;
                        err.hint = None;
                    }
                }
                err.attempts = tries.total();
                Next::Fail(err)
            }
            codes::Action::Retry if tries.attempts < inner.opts.max_attempts => {
                match http::wait_for(&ra, backoff(tries.attempts)) {
                    Ok(wait) => {
                        tracing::debug!(
                            url,
                            status = answer.status,
                            "transient Graph error, retrying"
                        );
                        Next::After(wait)
                    }
                    Err(why) => {
                        err.message = format!("{why} ({})", err.message);
                        Next::Fail(err)
                    }
                }
            }
            codes::Action::RefreshToken if !tries.refreshed => {
                tries.refreshed = true;
                tries.attempts -= 1;
                Next::Refresh
            }
            _ => Next::Fail(err),
        }
    }

    /// GETs a user list, following `@odata.nextLink` only to Graph's own origin, never
    /// the same link twice, and at most [`MAX_PAGES`] pages.
    async fn get_list(
        &self,
        ep: Endpoint,
        first_url: &str,
        keep: &mut (dyn FnMut(GraphUser) -> Option<GraphUser> + Send),
    ) -> Result<Vec<GraphUser>, GraphError> {
        #[derive(Deserialize)]
        struct Page {
            value: Vec<GraphUser>,
            #[serde(rename = "@odata.nextLink")]
            next: Option<String>,
        }
        let protocol = |attempts: u32, message: String| GraphError {
            attempts,
            hint: Some("Graph's paging answer cannot be trusted; nothing further was requested"),
            ..GraphError::new(Kind::Protocol, message)
        };
        let mut url = first_url.to_string();
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        let mut attempts = 0;
        for pages in 1..=MAX_PAGES {
            let r = self.send(ep, Method::GET, &url, None).await?;
            attempts += r.attempts;
            let page: Page = serde_json::from_slice(&r.body).map_err(|e| {
                let mut err = protocol(attempts, format!("unexpected user list from Graph: {e}"));
                err.status = Some(r.status);
                err
            })?;
            all.extend(page.value.into_iter().filter_map(&mut *keep));
            let Some(next) = page.next else {
                return Ok(all);
            };
            let parsed = reqwest::Url::parse(&next)
                .map_err(|e| protocol(attempts, format!("@odata.nextLink is not a URL ({e})")))?;
            if !http::same_origin(&parsed, &self.inner.origin) {
                return Err(protocol(
                    attempts,
                    format!(
                        "refused to follow @odata.nextLink to {}: the token only goes to {}",
                        http::origin_text(&parsed),
                        http::origin_text(&self.inner.origin)
                    ),
                ));
            }
            if !seen.insert(next.clone()) {
                return Err(protocol(
                    attempts,
                    format!(
                        "Graph sent the same @odata.nextLink twice (a paging loop); stopped after {pages} pages"
                    ),
                ));
            }
            url = next;
        }
        Err(protocol(
            attempts,
            format!("stopped after {MAX_PAGES} pages of @odata.nextLink"),
        ))
    }

    fn settings_json(&self, r: GraphResponse) -> Result<(serde_json::Value, u32), GraphError> {
        if r.body.iter().all(u8::is_ascii_whitespace) {
            return Ok((serde_json::Value::Null, r.attempts));
        }
        serde_json::from_slice(&r.body)
            .map(|v| (v, r.attempts))
            .map_err(|e| GraphError {
                status: Some(r.status),
                attempts: r.attempts,
                ..GraphError::new(Kind::Protocol, format!("unexpected answer from Graph: {e}"))
            })
    }
}

impl PhotoApi for GraphClient {
    async fn get_photo(&self, user: &str) -> Result<Photo, GraphError> {
        let r = self
            .send(Endpoint::PhotoGet, Method::GET, &self.photo_url(user), None)
            .await?;
        Ok(Photo {
            bytes: r.body,
            content_type: r.content_type,
            attempts: r.attempts,
        })
    }

    async fn put_photo(&self, user: &str, bytes: Vec<u8>) -> Result<GraphResponse, GraphError> {
        let ctype = photo_content_type(&bytes);
        self.send(
            Endpoint::PhotoPut,
            Method::PUT,
            &self.photo_url(user),
            Some((bytes, ctype)),
        )
        .await
    }

    async fn delete_photo(&self, user: &str) -> Result<GraphResponse, GraphError> {
        self.send(
            Endpoint::PhotoDelete,
            Method::DELETE,
            &self.photo_url(user),
            None,
        )
        .await
    }

    async fn resolve_users(&self, key: UserKey, values: &[String]) -> Resolved {
        let mut resolved = Resolved::default();
        let mut values: Vec<String> = values
            .iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        values.sort_by_key(|v| v.to_lowercase());
        values.dedup_by_key(|v| v.to_lowercase());
        values.retain(|v| match invalid_value(key, v) {
            Some(why) => {
                let mut e = GraphError::new(Kind::Invalid, why);
                e.attempts = 0;
                resolved.failed.insert(v.to_lowercase(), e);
                false
            }
            None => true,
        });
        // A chunk Graph answers 400 is split until the value it refuses stands alone, so
        // one bad value costs one row; any other failure fails only its own chunk.
        let mut queue: Vec<Vec<String>> = values
            .chunks(FILTER_IN_MAX)
            .map(<[String]>::to_vec)
            .collect();
        while !queue.is_empty() {
            let mut set = tokio::task::JoinSet::new();
            for chunk in std::mem::take(&mut queue) {
                let url = self.lookup_url(key, &chunk);
                let me = self.clone();
                set.spawn(
                    async move { (chunk, me.get_list(Endpoint::Lookup, &url, &mut Some).await) },
                );
            }
            while let Some(joined) = set.join_next().await {
                let Ok((chunk, answer)) = joined else {
                    continue;
                };
                match answer {
                    Ok(users) => {
                        for u in users {
                            let value = match key {
                                UserKey::Upn => u.upn.clone(),
                                UserKey::Id => Some(u.id.clone()),
                                UserKey::Mail => u.mail.clone(),
                                UserKey::EmployeeId => u.employee_id.clone(),
                            };
                            if let Some(v) = value {
                                let list =
                                    resolved.found.entry(v.trim().to_lowercase()).or_default();
                                if !list.iter().any(|o| o.id == u.id) {
                                    list.push(u);
                                }
                            }
                        }
                    }
                    Err(e) if e.status == Some(400) && chunk.len() > 1 => {
                        let (a, b) = chunk.split_at(chunk.len() / 2);
                        queue.push(a.to_vec());
                        queue.push(b.to_vec());
                    }
                    Err(e) => {
                        for v in chunk {
                            resolved.failed.insert(v.to_lowercase(), e.clone());
                        }
                    }
                }
            }
        }
        resolved
    }

    async fn list_users_where<F>(&self, mut keep: F) -> Result<Vec<GraphUser>, GraphError>
    where
        F: FnMut(GraphUser) -> Option<GraphUser> + Send,
    {
        // Every property a look-up selects: `upload` without a CSV matches against these.
        let url = format!(
            "{}?$select=id,userPrincipalName,mail,employeeId,accountEnabled,userType&$top={LIST_PAGE}",
            self.url("v1.0", "users")
        );
        self.get_list(Endpoint::ListUsers, &url, &mut keep).await
    }

    async fn count_users(&self) -> Result<u64, GraphError> {
        let url = format!("{}/$count", self.url("v1.0", "users"));
        let r = self
            .send(Endpoint::CountUsers, Method::GET, &url, None)
            .await?;
        // Graph answers in plain text, after a UTF-8 byte-order mark.
        let text = String::from_utf8_lossy(&r.body);
        text.trim_start_matches('\u{feff}')
            .trim()
            .parse()
            .map_err(|_| GraphError {
                attempts: r.attempts,
                status: Some(r.status),
                ..GraphError::new(
                    Kind::Protocol,
                    format!(
                        "unexpected answer to GET /users/$count: {:.40}",
                        text.trim()
                    ),
                )
            })
    }

    async fn get_settings(&self) -> Result<(serde_json::Value, u32), GraphError> {
        let (version, rest) = SETTINGS_PATH
            .split_once('/')
            .unwrap_or(("beta", SETTINGS_PATH));
        let r = self
            .send(
                Endpoint::SettingsRead,
                Method::GET,
                &self.url(version, rest),
                None,
            )
            .await?;
        self.settings_json(r)
    }

    async fn patch_settings(
        &self,
        body: serde_json::Value,
    ) -> Result<(serde_json::Value, u32), GraphError> {
        let (version, rest) = SETTINGS_PATH
            .split_once('/')
            .unwrap_or(("beta", SETTINGS_PATH));
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let r = self
            .send(
                Endpoint::SettingsWrite,
                Method::PATCH,
                &self.url(version, rest),
                Some((bytes, "application/json")),
            )
            .await?;
        self.settings_json(r)
    }

    fn concurrency(&self) -> usize {
        self.inner.opts.concurrency.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A real HTTP server on 127.0.0.1 answering every request with `answer(head)`
    /// (the sign-in included), one connection per request.
    async fn server(answer: fn(&str) -> Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&got).to_string();
                    let _ = s.write_all(&answer(&head)).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        url
    }

    fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn token_or(head: &str, other: Vec<u8>) -> Vec<u8> {
        if head.starts_with("POST") {
            http(
                "200 OK",
                "Content-Type: application/json\r\n",
                br#"{"access_token":"t","expires_in":1e300}"#,
            )
        } else {
            other
        }
    }

    fn client(url: &str, stop: Stop) -> GraphClient {
        GraphClient::with_stop(
            GraphOptions {
                tenant: "t".into(),
                client_id: "c".into(),
                credential: Credential::Secret(Secret::new("s")),
                graph_url: url.into(),
                login_url: url.into(),
                max_attempts: 3,
                ..GraphOptions::default()
            },
            stop,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn ctrl_c_ends_a_retry_after_wait_at_once() {
        let url = server(|h| {
            token_or(
                h,
                http(
                    "429 Too Many Requests",
                    "Retry-After: 250\r\nContent-Type: application/json\r\n",
                    br#"{"error":{"code":"TooManyRequests","message":"slow"}}"#,
                ),
            )
        })
        .await;
        let stop = Stop::default();
        let c = client(&url, stop.clone());
        let s2 = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            s2.request();
        });
        let started = std::time::Instant::now();
        let e = c.get_photo("u").await.unwrap_err();
        assert_eq!(e.kind, Kind::Interrupted, "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited out Retry-After"
        );
    }

    #[tokio::test]
    async fn oversized_answers_are_refused_not_read() {
        let url = server(|h| {
            token_or(
                h,
                http(
                    "200 OK",
                    "Content-Type: image/jpeg\r\n",
                    &vec![0u8; PHOTO_BODY_MAX + 1],
                ),
            )
        })
        .await;
        let e = client(&url, Stop::default())
            .get_photo("u")
            .await
            .unwrap_err();
        assert_eq!(e.kind, Kind::TooLarge, "{e:?}");
        assert!(e.detail().contains("larger than"), "{}", e.detail());
    }

    #[tokio::test]
    async fn errors_carry_graph_request_id_and_ours() {
        let url = server(|h| {
            token_or(
                h,
                http(
                    "403 Forbidden",
                    "request-id: rid-42\r\nContent-Type: application/json\r\n",
                    br#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied."}}"#,
                ),
            )
        })
        .await;
        let e = client(&url, Stop::default())
            .get_photo("u")
            .await
            .unwrap_err();
        assert_eq!(e.request_id.as_deref(), Some("rid-42"));
        assert_eq!(e.client_request_id.as_ref().map(String::len), Some(36));
        let d = e.detail();
        assert!(
            d.contains("HTTP 403 ErrorAccessDenied: Access is denied."),
            "{d}"
        );
        assert!(
            d.contains("ProfilePhoto.Read.All") && d.contains("[request-id rid-42]"),
            "{d}"
        );
        assert_eq!(e.attempts, 1, "a 403 is final");
    }

    #[test]
    fn content_types_by_magic() {
        assert_eq!(photo_content_type(b"\xFF\xD8\xFF\xE0"), "image/jpeg");
        assert_eq!(photo_content_type(b"\x89PNG\r\n\x1a\n"), "image/png");
        assert_eq!(photo_content_type(b"GIF89a"), "image/gif");
        assert_eq!(photo_content_type(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
    }
}

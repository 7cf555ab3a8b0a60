//! The emulator's tenant (users, photos, settings), its throttle, and its request handlers.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::EmulatorConfig;

/// Whether (and where) a user has an Exchange mailbox: photos live there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mailbox {
    Exchange,
    None,
    OnPrem,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmulatorUser {
    pub id: String,
    #[serde(rename = "userPrincipalName")]
    pub upn: String,
    pub mail: String,
    #[serde(rename = "employeeId")]
    pub employee_id: String,
    pub mailbox: Mailbox,
}

impl EmulatorUser {
    /// Reads users from a CSV with columns `id,userPrincipalName,mail,employeeId,mailbox`
    /// (only `userPrincipalName` is required).
    pub fn from_csv(path: &std::path::Path) -> anyhow::Result<Vec<EmulatorUser>> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_path(path)?;
        let headers = reader.headers()?.clone();
        let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let upn_col = col("userPrincipalName").ok_or_else(|| {
            anyhow::anyhow!("{}: needs a userPrincipalName column", path.display())
        })?;
        let (id_col, mail_col, emp_col, mbx_col) =
            (col("id"), col("mail"), col("employeeId"), col("mailbox"));
        let mut users = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let rec = rec?;
            let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
            let upn = get(Some(upn_col));
            if upn.is_empty() {
                continue;
            }
            let id = get(id_col);
            users.push(EmulatorUser {
                id: if id.is_empty() { synthetic_id(i) } else { id },
                mail: {
                    let m = get(mail_col);
                    if m.is_empty() { upn.clone() } else { m }
                },
                employee_id: get(emp_col),
                mailbox: match get(mbx_col).to_ascii_lowercase().as_str() {
                    "none" | "no" => Mailbox::None,
                    "onprem" | "on-premises" | "onpremises" => Mailbox::OnPrem,
                    _ => Mailbox::Exchange,
                },
                upn,
            });
        }
        Ok(users)
    }

    /// `user00001@contoso.test` ... with employee ids 100001 ...
    pub fn generate(n: usize) -> Vec<EmulatorUser> {
        (1..=n)
            .map(|i| EmulatorUser {
                id: synthetic_id(i),
                upn: format!("user{i:05}@contoso.test"),
                mail: format!("user{i:05}@contoso.test"),
                employee_id: format!("{}", 100_000 + i),
                mailbox: Mailbox::Exchange,
            })
            .collect()
    }
}

fn synthetic_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// What the emulator counted; `/_emulator/stats`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Stats {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// 429 answers.
    pub throttled: u64,
    /// Requests that arrived inside an announced Retry-After window.
    pub violations: u64,
    /// 503/504 faults injected.
    pub faults: u64,
    pub photo_writes: u64,
    /// Seconds from the first to the last successful photo write.
    pub write_span_secs: f64,
    /// Successful photo writes per second over that span.
    pub writes_per_sec: f64,
    pub tokens_issued: u64,
    pub expired_token_rejections: u64,
    pub max_in_flight: usize,
}

struct Inner {
    users: Vec<EmulatorUser>,
    index: HashMap<String, usize>,
    photos: HashMap<usize, (Vec<u8>, String)>,
    writes: HashMap<usize, u64>,
    tokens: HashMap<String, Instant>,
    bucket: f64,
    bucket_at: Instant,
    /// (announced at, open until) of the latest 429.
    window: Option<(Instant, Instant)>,
    stats: Stats,
    first_write: Option<Instant>,
    last_write: Option<Instant>,
    rng: rand::rngs::StdRng,
    settings: serde_json::Value,
}

pub struct Emu {
    config: EmulatorConfig,
    addr: SocketAddr,
    inner: Mutex<Inner>,
    in_flight: AtomicUsize,
}

/// Graph's error body.
pub fn graph_error(
    status: StatusCode,
    code: &str,
    message: &str,
) -> (StatusCode, Json<serde_json::Value>) {
    (
        status,
        Json(serde_json::json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
                    "request-id": uuid::Uuid::new_v4().to_string(),
                    "client-request-id": uuid::Uuid::new_v4().to_string(),
                }
            }
        })),
    )
}

/// Sign-in errors look like Entra ID's, not Graph's.
fn aad_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Tolerance for requests already on their way when a 429 was sent.
const IN_TRANSIT: Duration = Duration::from_millis(50);
const MAX_PHOTO: usize = 4 * 1024 * 1024;

struct InFlight<'a>(&'a AtomicUsize);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Emu {
    pub fn new(config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<Emu> {
        if let Some(dir) = &config.store {
            std::fs::create_dir_all(dir)?;
        }
        let mut index = HashMap::new();
        for (i, u) in config.users.iter().enumerate() {
            index.insert(u.id.to_lowercase(), i);
            index.insert(u.upn.to_lowercase(), i);
        }
        let burst = config.burst.or(config.rate).unwrap_or(0.0);
        let inner = Inner {
            users: config.users.clone(),
            index,
            photos: HashMap::new(),
            writes: HashMap::new(),
            tokens: HashMap::new(),
            bucket: burst,
            bucket_at: Instant::now(),
            window: None,
            stats: Stats::default(),
            first_write: None,
            last_write: None,
            rng: rand::rngs::StdRng::seed_from_u64(config.seed),
            settings: serde_json::json!({
                "id": "photoUpdateSettings",
                "source": config.photo_source,
                "allowedRoles": [],
            }),
        };
        Ok(Emu {
            config,
            addr,
            inner: Mutex::new(inner),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> Stats {
        let g = self.lock();
        let mut s = g.stats.clone();
        if let (Some(a), Some(b)) = (g.first_write, g.last_write) {
            s.write_span_secs = (b - a).as_secs_f64();
            if s.write_span_secs > 0.0 {
                s.writes_per_sec = (s.photo_writes.saturating_sub(1)) as f64 / s.write_span_secs;
            }
        }
        s
    }

    fn count(&self, status: StatusCode) {
        let mut g = self.lock();
        *g.stats.by_status.entry(status.as_u16()).or_insert(0) += 1;
    }

    pub fn admin(&self, rest: &str) -> Response {
        if rest == "stats" {
            return Json(self.stats()).into_response();
        }
        let g = self.lock();
        if rest == "users" {
            let list: Vec<_> = g
                .users
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let photo = g.photos.get(&i);
                    serde_json::json!({
                        "id": u.id,
                        "userPrincipalName": u.upn,
                        "has_photo": photo.is_some(),
                        "sha256": photo.map(|p| hex::encode(Sha256::digest(&p.0))),
                        "bytes": photo.map(|p| p.0.len()),
                        "writes": g.writes.get(&i).copied().unwrap_or(0),
                    })
                })
                .collect();
            return Json(list).into_response();
        }
        if let Some(who) = rest.strip_prefix("photos/") {
            let who = percent_decode(who);
            if let Some(i) = g.index.get(&who.to_lowercase())
                && let Some((bytes, ctype)) = g.photos.get(i)
            {
                return ([(header::CONTENT_TYPE, ctype.clone())], bytes.clone()).into_response();
            }
            return (StatusCode::NOT_FOUND, "no photo").into_response();
        }
        (StatusCode::NOT_FOUND, "unknown emulator page").into_response()
    }

    pub fn token(&self, path: &str, body: &[u8]) -> Response {
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        if get("grant_type") != "client_credentials" {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            );
        }
        if get("client_id").is_empty() {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
            );
        }
        if !get("scope").ends_with("/.default") {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
            );
        }
        if !get("client_assertion").is_empty() {
            let aud = format!("http://{}{}", self.addr, path);
            if let Err(why) = check_assertion(get("client_assertion"), get("client_id"), &aud) {
                return aad_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    &format!("AADSTS700027: Client assertion failed signature validation. {why}"),
                );
            }
        } else if get("client_secret") != self.config.client_secret {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            );
        }
        let token = format!("emu.{}", uuid::Uuid::new_v4().simple());
        let mut g = self.lock();
        g.tokens
            .insert(token.clone(), Instant::now() + self.config.token_lifetime);
        g.stats.tokens_issued += 1;
        Json(serde_json::json!({
            "token_type": "Bearer",
            "expires_in": self.config.token_lifetime.as_secs(),
            "ext_expires_in": self.config.token_lifetime.as_secs(),
            "access_token": token,
        }))
        .into_response()
    }

    /// Throttle and fault decisions for one Graph request, made before it is served.
    fn admit(&self) -> Option<Response> {
        let now = Instant::now();
        let in_flight = self.in_flight.load(Ordering::SeqCst);
        let mut g = self.lock();
        g.stats.requests += 1;
        g.stats.max_in_flight = g.stats.max_in_flight.max(in_flight);
        if let Some((announced, until)) = g.window
            && now < until
        {
            if now > announced + IN_TRANSIT {
                g.stats.violations += 1;
            }
            let left = (until - now).as_secs_f64().ceil().max(1.0) as u64;
            g.stats.throttled += 1;
            return Some(too_many(left));
        }
        let mut throttle = false;
        if let Some(rate) = self.config.rate {
            let burst = self.config.burst.unwrap_or(rate).max(1.0);
            let elapsed = (now - g.bucket_at).as_secs_f64();
            g.bucket = (g.bucket + elapsed * rate).min(burst);
            g.bucket_at = now;
            if g.bucket >= 1.0 {
                g.bucket -= 1.0;
            } else {
                throttle = true;
            }
        }
        if let Some(max) = self.config.max_concurrent
            && in_flight > max
        {
            throttle = true;
        }
        if throttle {
            let ra = self.config.retry_after;
            g.window = Some((now, now + Duration::from_secs(ra)));
            g.stats.throttled += 1;
            return Some(too_many(ra));
        }
        if self.config.fail_rate > 0.0 && g.rng.random_bool(self.config.fail_rate.clamp(0.0, 1.0)) {
            g.stats.faults += 1;
            let roll: u8 = g.rng.random_range(0..3);
            return Some(match roll {
                0 => {
                    let mut r = graph_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "serviceNotAvailable",
                        "The service is temporarily unavailable. Please retry.",
                    )
                    .into_response();
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    r
                }
                1 => graph_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable.",
                )
                .into_response(),
                _ => graph_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "gatewayTimeout",
                    "The gateway did not receive a response in time.",
                )
                .into_response(),
            });
        }
        None
    }

    /// `None` when the bearer token is valid, else the 401 to send.
    fn unauthorised(&self, headers: &HeaderMap) -> Option<Response> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let mut g = self.lock();
        match g.tokens.get(token) {
            Some(exp) if *exp > Instant::now() => None,
            Some(_) => {
                g.stats.expired_token_rejections += 1;
                Some(
                    graph_error(
                        StatusCode::UNAUTHORIZED,
                        "InvalidAuthenticationToken",
                        "Lifetime validation failed, the token is expired.",
                    )
                    .into_response(),
                )
            }
            None => Some(
                graph_error(
                    StatusCode::UNAUTHORIZED,
                    "InvalidAuthenticationToken",
                    "Access token is empty or invalid.",
                )
                .into_response(),
            ),
        }
    }

    pub async fn graph(
        &self,
        version: &str,
        method: &Method,
        rest: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let _guard = InFlight(&self.in_flight);
        let response = match self.admit() {
            Some(r) => r,
            None => match self.unauthorised(headers) {
                Some(r) => r,
                None => {
                    self.route(version, method, rest, query, headers, body)
                        .await
                }
            },
        };
        self.count(response.status());
        response
    }

    async fn route(
        &self,
        version: &str,
        method: &Method,
        rest: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let parts: Vec<String> = rest.split('/').map(percent_decode).collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["users"]) => self.list_users(query),
            ("GET", ["users", who]) => {
                self.with_user(who, |_, u| Json(user_json(u)).into_response())
            }
            ("GET", ["users", who, "photo"]) => self.photo_meta(who),
            ("GET", ["users", who, "photo", "$value"])
            | ("GET", ["users", who, "photos", _, "$value"]) => self.photo_get(who),
            ("PUT" | "PATCH", ["users", who, "photo", "$value"]) => {
                let ctype = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                self.photo_put(who, &ctype, body).await
            }
            ("DELETE", ["users", who, "photo", "$value"]) => self.photo_delete(who),
            ("GET", ["admin", "people", "photoUpdateSettings"]) if version == "beta" => {
                Json(self.lock().settings.clone()).into_response()
            }
            ("PATCH", ["admin", "people", "photoUpdateSettings"]) if version == "beta" => {
                self.patch_settings(&body)
            }
            _ => graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "Resource not found for the segment '{}'.",
                    parts.last().unwrap_or(&"")
                ),
            )
            .into_response(),
        }
    }

    fn with_user(&self, who: &str, f: impl FnOnce(usize, &EmulatorUser) -> Response) -> Response {
        let g = self.lock();
        match g.index.get(&who.to_lowercase()) {
            Some(&i) => {
                let user = g.users[i].clone();
                drop(g);
                f(i, &user)
            }
            None => graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", &format!("Resource '{who}' does not exist or one of its queried reference-property objects are not present.")).into_response(),
        }
    }

    fn mailbox_error(u: &EmulatorUser) -> Option<Response> {
        match u.mailbox {
            Mailbox::Exchange => None,
            Mailbox::None => Some(
                graph_error(
                    StatusCode::NOT_FOUND,
                    "ErrorNonExistentMailbox",
                    &format!(
                        "The SMTP address has no mailbox associated with it. ({})",
                        u.upn
                    ),
                )
                .into_response(),
            ),
            Mailbox::OnPrem => Some(
                graph_error(
                    StatusCode::BAD_REQUEST,
                    "MailboxNotHostedInExchangeOnline",
                    "The mailbox is hosted on-premises, not in Exchange Online.",
                )
                .into_response(),
            ),
        }
    }

    fn photo_meta(&self, who: &str) -> Response {
        self.with_user(who, |i, u| {
            if let Some(r) = Self::mailbox_error(u) {
                return r;
            }
            match self.lock().photos.get(&i) {
                Some((_, ctype)) => Json(serde_json::json!({
                    "@odata.mediaContentType": ctype, "id": "default", "height": 648, "width": 648
                }))
                .into_response(),
                None => graph_error(
                    StatusCode::NOT_FOUND,
                    "ImageNotFound",
                    "The photo wasn't found.",
                )
                .into_response(),
            }
        })
    }

    fn photo_get(&self, who: &str) -> Response {
        self.with_user(who, |i, u| {
            if let Some(r) = Self::mailbox_error(u) {
                return r;
            }
            match self.lock().photos.get(&i) {
                Some((bytes, ctype)) => {
                    ([(header::CONTENT_TYPE, ctype.clone())], bytes.clone()).into_response()
                }
                None => graph_error(
                    StatusCode::NOT_FOUND,
                    "ImageNotFound",
                    "The photo wasn't found.",
                )
                .into_response(),
            }
        })
    }

    async fn photo_put(&self, who: &str, ctype: &str, body: Bytes) -> Response {
        let user = {
            let g = self.lock();
            g.index
                .get(&who.to_lowercase())
                .map(|&i| (i, g.users[i].clone()))
        };
        let Some((i, user)) = user else {
            return graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", &format!("Resource '{who}' does not exist or one of its queried reference-property objects are not present.")).into_response();
        };
        if let Some(r) = Self::mailbox_error(&user) {
            return r;
        }
        if body.len() > MAX_PHOTO {
            return graph_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                "The photo is larger than the 4 MB limit.",
            )
            .into_response();
        }
        let is_jpeg = body.starts_with(&[0xFF, 0xD8, 0xFF]);
        let is_png = body.starts_with(b"\x89PNG");
        if body.is_empty()
            || !(is_jpeg || is_png)
            || !(ctype.starts_with("image/jpeg") || ctype.starts_with("image/png"))
        {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "ImageInvalid",
                "The image is not valid: send JPEG bytes with Content-Type image/jpeg.",
            )
            .into_response();
        }
        if !self.config.write_latency.is_zero() {
            tokio::time::sleep(self.config.write_latency).await;
        }
        let now = Instant::now();
        let mut g = self.lock();
        g.photos.insert(i, (body.to_vec(), ctype.to_string()));
        *g.writes.entry(i).or_insert(0) += 1;
        g.stats.photo_writes += 1;
        g.first_write.get_or_insert(now);
        g.last_write = Some(now);
        drop(g);
        if let Some(dir) = &self.config.store {
            let name = crate::commands::prepare::safe_file_name(&user.upn);
            let _ = std::fs::write(dir.join(format!("{name}.jpg")), &body);
        }
        StatusCode::OK.into_response()
    }

    fn photo_delete(&self, who: &str) -> Response {
        self.with_user(who, |i, u| {
            if let Some(r) = Self::mailbox_error(u) {
                return r;
            }
            match self.lock().photos.remove(&i) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => graph_error(
                    StatusCode::NOT_FOUND,
                    "ImageNotFound",
                    "The photo wasn't found.",
                )
                .into_response(),
            }
        })
    }

    fn patch_settings(&self, body: &[u8]) -> Response {
        let Ok(patch) = serde_json::from_slice::<serde_json::Value>(body) else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Unable to read JSON request payload.",
            )
            .into_response();
        };
        let mut g = self.lock();
        if let Some(source) = patch.get("source") {
            match source.as_str() {
                Some("cloud" | "onPremises") => g.settings["source"] = source.clone(),
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "Invalid value for 'source': use cloud or onPremises.",
                    )
                    .into_response();
                }
            }
        }
        if let Some(roles) = patch.get("allowedRoles") {
            let list = match roles {
                serde_json::Value::Null => Vec::new(),
                serde_json::Value::Array(items) => {
                    let mut ids = Vec::new();
                    for item in items {
                        match item.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()) {
                            Some(id) => ids.push(serde_json::Value::String(id.to_string())),
                            None => {
                                return graph_error(
                                    StatusCode::BAD_REQUEST,
                                    "BadRequest",
                                    &format!("Invalid role template id {item}."),
                                )
                                .into_response();
                            }
                        }
                    }
                    ids
                }
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "allowedRoles must be an array.",
                    )
                    .into_response();
                }
            };
            g.settings["allowedRoles"] = serde_json::Value::Array(list);
        }
        Json(g.settings.clone()).into_response()
    }

    fn list_users(&self, query: &[(String, String)]) -> Response {
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        let g = self.lock();
        let top: usize = get("$top")
            .and_then(|t| t.parse().ok())
            .unwrap_or(100)
            .clamp(1, 999);
        if let Some(filter) = get("$filter") {
            let (prop, values) = match parse_filter(filter) {
                Ok(p) => p,
                Err(msg) => {
                    return graph_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", &msg)
                        .into_response();
                }
            };
            if values.len() > 15 {
                return graph_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", "Too many child clauses specified in search filter expression containing 'OR' operators: 16. Max allowed: 15.").into_response();
            }
            let found: Vec<_> = g
                .users
                .iter()
                .filter(|u| {
                    let field = match prop.as_str() {
                        "userPrincipalName" => &u.upn,
                        "mail" => &u.mail,
                        "employeeId" => &u.employee_id,
                        _ => &u.id,
                    };
                    values.iter().any(|v| v.eq_ignore_ascii_case(field))
                })
                .map(user_json)
                .collect();
            return Json(serde_json::json!({"value": found})).into_response();
        }
        let skip: usize = get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
        let page: Vec<_> = g.users.iter().skip(skip).take(top).map(user_json).collect();
        let mut body = serde_json::json!({"value": page});
        if skip + top < g.users.len() {
            body["@odata.nextLink"] = serde_json::Value::String(format!(
                "http://{}/v1.0/users?$top={top}&$skiptoken={}",
                self.addr,
                skip + top
            ));
        }
        Json(body).into_response()
    }
}

fn too_many(retry_after: u64) -> Response {
    let mut r = graph_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests. Please retry after the time given in Retry-After.",
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn user_json(u: &EmulatorUser) -> serde_json::Value {
    serde_json::json!({
        "id": u.id,
        "userPrincipalName": u.upn,
        "mail": u.mail,
        "employeeId": u.employee_id,
        "displayName": u.upn.split('@').next().unwrap_or(""),
    })
}

/// `prop eq 'v'` or `prop in ('a','b')`, with `''` for a quote inside a value.
fn parse_filter(filter: &str) -> Result<(String, Vec<String>), String> {
    let filter = filter.trim();
    let (prop, rest) = filter
        .split_once(' ')
        .ok_or_else(|| format!("Invalid filter clause: {filter}"))?;
    let rest = rest.trim();
    let list = if let Some(v) = rest.strip_prefix("eq ") {
        v.trim().to_string()
    } else if let Some(v) = rest.strip_prefix("in ") {
        v.trim()
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| format!("Invalid filter clause: {filter}"))?
            .to_string()
    } else {
        return Err(format!("Unsupported filter operator in: {filter}"));
    };
    let mut values = Vec::new();
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut v = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    v.push('\'');
                }
                Some('\'') | None => break,
                Some(ch) => v.push(ch),
            }
        }
        values.push(v);
    }
    if !["userPrincipalName", "mail", "employeeId", "id"].contains(&prop) {
        return Err(format!(
            "Property '{prop}' does not support filtering here."
        ));
    }
    Ok((prop.to_string(), values))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// Checks a certificate client assertion's shape and claims (not its signature: the
/// emulator has no certificate registered).
fn check_assertion(jwt: &str, client_id: &str, aud: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not a JWT".into());
    }
    let decode = |p: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .ok_or_else(|| "malformed JWT part".to_string())
    };
    let header = decode(parts[0])?;
    let claims = decode(parts[1])?;
    let alg = header["alg"].as_str().unwrap_or("");
    if alg != "PS256" && alg != "RS256" {
        return Err(format!("alg {alg} is not PS256 or RS256"));
    }
    if header.get("x5t#S256").is_none() && header.get("x5t").is_none() {
        return Err("no x5t#S256 thumbprint in the header".into());
    }
    if claims["aud"].as_str() != Some(aud) {
        return Err(format!("aud must be {aud}"));
    }
    if claims["iss"].as_str() != Some(client_id) || claims["sub"].as_str() != Some(client_id) {
        return Err("iss and sub must be the client id".into());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let nbf = claims["nbf"].as_i64().unwrap_or(0);
    if exp < now || exp - nbf > 600 || claims["jti"].as_str().is_none() {
        return Err("expired, longer than 10 minutes, or without jti".into());
    }
    if parts[2].is_empty() {
        return Err("unsigned".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(
            parse_filter("userPrincipalName in ('a@x','o''brien@x')").unwrap(),
            (
                "userPrincipalName".into(),
                vec!["a@x".into(), "o'brien@x".into()]
            )
        );
        assert_eq!(
            parse_filter("employeeId eq '10432'").unwrap().1,
            vec!["10432"]
        );
        assert!(parse_filter("jobTitle eq 'x'").is_err());
        assert_eq!(percent_decode("a%40b.com"), "a@b.com");
    }
}

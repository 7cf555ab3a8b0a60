//! The emulator's shared state (tenant, photos, tokens, limits), what it counted, its
//! `/_emulator/` admin pages, and the order in which a Graph request is checked.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::config::{EmulatorConfig, EmulatorError, PhotoSource};
use super::consent;
use super::foreign::ForeignCounts;
use super::limits::Limits;
use super::odata::percent_decode;
use super::tenant::EmulatorUser;

/// What the emulator counted; `/_emulator/stats`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Stats {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// 429 answers (rate, write concurrency, and inside a window).
    pub throttled: u64,
    /// Requests that arrived inside an announced Retry-After window.
    pub violations: u64,
    /// 503/504 faults injected.
    pub faults: u64,
    /// Requests that were made to wait `--stall-ms`.
    pub stalls: u64,
    /// Successful photo writes.
    pub photo_writes: u64,
    /// Photo PUTs that reached a known user (successful or not).
    pub put_attempts: u64,
    /// The most successful writes any one user received.
    pub max_writes_per_user: u64,
    /// Seconds from the first to the last successful photo write.
    pub write_span_secs: f64,
    /// Successful photo writes per second over that span.
    pub writes_per_sec: f64,
    pub tokens_issued: u64,
    pub token_redirects: u64,
    pub expired_token_rejections: u64,
    /// 403s for a permission the token's `roles` lack.
    pub forbidden: u64,
    /// Per-user photo errors answered (`--photo-error`, `--junk-photo`, `photoError`).
    pub photo_faults: u64,
    /// Graph requests in flight at once, at most.
    pub max_in_flight: usize,
    /// Photo writes holding a slot at once, at most (with `--max-concurrent`).
    pub max_writes_in_flight: usize,
    /// 429s for more than `--max-concurrent` photo writes in flight.
    pub write_throttled: u64,
    /// User listings answered with an `@odata.nextLink`.
    pub next_links: u64,
    /// Filtered user look-ups (`$filter=... in (...)`) answered.
    pub lookups: u64,
    /// Pages of the whole directory (`GET /users` without a filter) answered.
    pub list_pages: u64,
    /// `GET /users/$count` answered.
    pub counts: u64,
    /// Of those, the ones answered before the first successful photo write: far fewer
    /// than all of them when look-ups run alongside the uploads.
    pub lookups_before_first_write: u64,
    /// Requests the second ("foreign") listener received, with a bearer token, and with
    /// a client secret in their body.
    pub foreign_requests: u64,
    pub foreign_bearer: u64,
    pub foreign_secret: u64,
    /// Tokens from the managed identity endpoints, and requests they refused.
    pub identity_tokens: u64,
    pub identity_refused: u64,
    /// The `client_id`s managed identity tokens were asked for ("" = system-assigned).
    pub identity_client_ids: Vec<String>,
    /// Tokens issued for federated assertions, and how many different assertions.
    pub federated_tokens: u64,
    pub federated_assertions: u64,
}

pub(super) struct Inner {
    pub users: Vec<EmulatorUser>,
    /// Lower-cased id / UPN -> user.
    pub index: HashMap<String, usize>,
    /// (property, lower-cased value) -> users, in tenant order.
    pub by_value: HashMap<(&'static str, String), Vec<usize>>,
    pub photos: HashMap<usize, (Vec<u8>, String)>,
    pub writes: HashMap<usize, u64>,
    pub put_attempts: HashMap<usize, u64>,
    pub tokens: HashMap<String, Instant>,
    pub limits: Limits,
    pub stats: Stats,
    pub first_write: Option<Instant>,
    pub last_write: Option<Instant>,
    pub settings: serde_json::Value,
    /// SHA-256 of every federated assertion accepted.
    pub seen_assertions: std::collections::HashSet<[u8; 32]>,
}

pub struct Emu {
    pub(super) config: EmulatorConfig,
    pub(super) addr: SocketAddr,
    /// The second listener, standing for another host (`--next-link foreign`,
    /// `--token-redirect foreign`).
    pub(super) foreign: Option<SocketAddr>,
    pub(super) foreign_counts: Arc<ForeignCounts>,
    pub(super) token_key: [u8; 32],
    inner: Mutex<Inner>,
    in_flight: AtomicUsize,
    /// `--deny-photo-writes`, until `/_emulator/allow-photo-writes`.
    deny_writes: AtomicBool,
}

struct InFlight<'a>(&'a AtomicUsize);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A held photo-write slot, given back however the request ends.
struct WriteSlot<'a>(&'a Emu);
impl Drop for WriteSlot<'_> {
    fn drop(&mut self) {
        self.0.lock().limits.release_write();
    }
}

impl Emu {
    pub(super) fn new(
        config: EmulatorConfig,
        addr: SocketAddr,
        foreign: Option<SocketAddr>,
        foreign_counts: Arc<ForeignCounts>,
    ) -> Result<Emu, EmulatorError> {
        if let Some(dir) = &config.store {
            std::fs::create_dir_all(dir).map_err(|cause| EmulatorError::Store {
                path: dir.clone(),
                cause,
            })?;
        }
        let mut users = config.users.clone();
        let mut index = HashMap::new();
        let mut by_value: HashMap<(&'static str, String), Vec<usize>> = HashMap::new();
        for (i, u) in users.iter().enumerate() {
            index.insert(u.id.to_lowercase(), i);
            index.insert(u.upn.to_lowercase(), i);
            for (prop, v) in [
                ("id", &u.id),
                ("userPrincipalName", &u.upn),
                ("mail", &u.mail),
                ("employeeId", &u.employee_id),
            ] {
                by_value
                    .entry((prop, v.to_lowercase()))
                    .or_default()
                    .push(i);
            }
        }
        for (who, fault) in &config.photo_faults {
            let i = *index
                .get(&who.to_lowercase())
                .ok_or_else(|| EmulatorError::UnknownUser(who.clone()))?;
            users[i].photo_fault = Some(*fault);
        }
        let mut settings = serde_json::json!({"id": "photoUpdateSettings", "allowedRoles": []});
        match config.photo_source {
            PhotoSource::Unset => {}
            PhotoSource::Cloud => settings["source"] = "cloud".into(),
            PhotoSource::OnPremises => settings["source"] = "onPremises".into(),
        }
        let inner = Inner {
            users,
            index,
            by_value,
            photos: HashMap::new(),
            writes: HashMap::new(),
            put_attempts: HashMap::new(),
            tokens: HashMap::new(),
            limits: Limits::new(&config),
            stats: Stats::default(),
            first_write: None,
            last_write: None,
            settings,
            seen_assertions: Default::default(),
        };
        let deny = config.deny_photo_writes;
        Ok(Emu {
            token_key: rand::rng().random(),
            config,
            addr,
            foreign,
            foreign_counts,
            inner: Mutex::new(inner),
            in_flight: AtomicUsize::new(0),
            deny_writes: AtomicBool::new(deny),
        })
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
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
        s.max_writes_per_user = g.writes.values().copied().max().unwrap_or(0);
        self.foreign_counts.add_to(&mut s);
        s
    }

    pub fn admin(&self, rest: &str) -> Response {
        if rest == "stats" {
            return Json(self.stats()).into_response();
        }
        if rest == "allow-photo-writes" {
            self.deny_writes.store(false, Ordering::SeqCst);
            return Json(serde_json::json!({"deny_photo_writes": false})).into_response();
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
                        "employeeId": u.employee_id,
                        "accountEnabled": u.account_enabled,
                        "userType": u.user_type,
                        "photoError": u.photo_fault,
                        "has_photo": photo.is_some(),
                        "sha256": photo.map(|p| hex::encode(Sha256::digest(&p.0))),
                        "bytes": photo.map(|p| p.0.len()),
                        "writes": g.writes.get(&i).copied().unwrap_or(0),
                        "put_attempts": g.put_attempts.get(&i).copied().unwrap_or(0),
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

    /// One Graph request: limits and faults, then the token, then its permissions, then
    /// the endpoint.
    pub async fn graph(
        &self,
        version: &str,
        method: &Method,
        rest: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = InFlight(&self.in_flight);
        let parts: Vec<String> = rest.split('/').map(percent_decode).collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let is_write = matches!(method.as_str(), "PUT" | "PATCH")
            && matches!(parts.as_slice(), ["users", _, "photo", "$value"]);
        let admitted = {
            let mut g = self.lock();
            g.stats.requests += 1;
            g.stats.max_in_flight = g.stats.max_in_flight.max(in_flight);
            let Inner { limits, stats, .. } = &mut *g;
            limits.admit(&self.config, stats, is_write)
        };
        let response = match admitted {
            Err(refused) => refused,
            Ok(admitted) => {
                let _slot = admitted.write_slot.then(|| WriteSlot(self));
                if let Some(stall) = admitted.stall {
                    tokio::time::sleep(stall).await;
                }
                if let Some(r) = self.unauthorised(headers) {
                    r
                } else if let Some(r) = consent::check(self.config.roles.as_deref(), method, &parts)
                {
                    self.lock().stats.forbidden += 1;
                    r
                } else if self.denies_write(method, &parts) {
                    self.lock().stats.forbidden += 1;
                    super::replies::graph_error(
                        StatusCode::FORBIDDEN,
                        "Authorization_RequestDenied",
                        "Insufficient privileges to complete the operation.",
                    )
                } else if self.config.reject_write_tokens
                    && method.as_str() == "PUT"
                    && matches!(parts.as_slice(), ["users", _, "photo", "$value"])
                {
                    super::replies::graph_error(
                        StatusCode::UNAUTHORIZED,
                        "InvalidAuthenticationToken",
                        "Access token validation failure. Invalid audience.",
                    )
                } else {
                    self.route(version, method, &parts, query, headers, body)
                        .await
                }
            }
        };
        let mut g = self.lock();
        *g.stats
            .by_status
            .entry(response.status().as_u16())
            .or_insert(0) += 1;
        drop(g);
        response
    }

    /// A photo write refused by `--deny-photo-writes`.
    fn denies_write(&self, method: &Method, parts: &[&str]) -> bool {
        self.deny_writes.load(Ordering::SeqCst)
            && matches!(method.as_str(), "PUT" | "PATCH" | "DELETE")
            && matches!(parts, ["users", _, "photo", "$value"])
    }
}

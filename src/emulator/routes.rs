//! The Graph endpoints the emulator serves: user look-ups and listings, photos (GET, PUT,
//! DELETE) with each user's faults, and the beta photoUpdateSettings.

use std::collections::BTreeSet;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::config::{NextLinkMode, SettingsWrap};
use super::odata::{self, Filter, QueryError};
use super::replies::{graph_error, nested_unknown_error};
use super::server::Emu;
use super::tenant::{EmulatorUser, Mailbox, PhotoFault};

const MAX_PHOTO: usize = 4 * 1024 * 1024;

/// Which photo request a user's fault is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhotoOp {
    Meta,
    Value,
    Put,
    Delete,
}

/// The stand-in a login proxy answers with.
const JUNK_PAGE: &str = "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><form>Sign in</form></body></html>";

/// The photo service's message when there is no photo.
const IMAGE_NOT_FOUND: &str =
    "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.";

fn query_error(e: QueryError) -> Response {
    graph_error(StatusCode::BAD_REQUEST, e.code, &e.message)
}

impl Emu {
    pub(super) async fn route(
        &self,
        version: &str,
        method: &Method,
        parts: &[&str],
        query: &[(String, String)],
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        match (method.as_str(), parts) {
            ("GET", ["users"]) => self.list_users(query),
            ("GET", ["users", "$count"]) => self.count_users(headers),
            ("GET", ["users", who]) => self.get_user(who, get("$select")),
            ("GET", ["users", who, "photo"]) => self.photo_read(who, PhotoOp::Meta),
            ("GET", ["users", who, "photo", "$value"])
            | ("GET", ["users", who, "photos", _, "$value"]) => {
                self.photo_read(who, PhotoOp::Value)
            }
            ("PUT" | "PATCH", ["users", who, "photo", "$value"]) => {
                let ctype = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                self.photo_put(who, ctype, body).await
            }
            ("DELETE", ["users", who, "photo", "$value"]) => self.photo_delete(who),
            ("GET", ["admin", "people", "photoUpdateSettings"]) if version == "beta" => {
                self.get_settings()
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
            ),
        }
    }

    /// The user a path names (id or UPN), or Graph's 404.
    fn find_user(&self, who: &str) -> Result<(usize, EmulatorUser), Response> {
        let g = self.lock();
        match g.index.get(&who.to_lowercase()) {
            Some(&i) => Ok((i, g.users[i].clone())),
            None => Err(graph_error(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                &format!(
                    "Resource '{who}' does not exist or one of its queried reference-property objects are not present."
                ),
            )),
        }
    }

    fn get_user(&self, who: &str, select: Option<&str>) -> Response {
        let select = match odata::parse_select(select) {
            Ok(s) => s,
            Err(e) => return query_error(e),
        };
        match self.find_user(who) {
            Ok((_, u)) => Json(user_json(&u, &select)).into_response(),
            Err(r) => r,
        }
    }

    /// `GET /users/$count`: plain text, with the UTF-8 byte-order mark real Graph puts
    /// before the number; an advanced query, so refused without `ConsistencyLevel`.
    fn count_users(&self, headers: &HeaderMap) -> Response {
        let eventual = headers
            .get("consistencylevel")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
        if !eventual {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "Count is not currently supported.",
            );
        }
        let mut g = self.lock();
        g.stats.counts += 1;
        let n = g.users.len();
        (
            [(header::CONTENT_TYPE, "text/plain;charset=utf-8")],
            format!("\u{feff}{n}"),
        )
            .into_response()
    }

    fn list_users(&self, query: &[(String, String)]) -> Response {
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        let parsed: Result<_, QueryError> = (|| {
            let select = odata::parse_select(get("$select"))?;
            let top = odata::parse_top(get("$top"))?;
            let filter = get("$filter").map(odata::parse_filter).transpose()?;
            let offset = match get("$skiptoken") {
                None => 0,
                Some("loop") if self.config.next_link == NextLinkMode::Loop => 0,
                Some(t) => odata::parse_skiptoken(t)?,
            };
            Ok((select, top, filter, offset))
        })();
        let (select, top, filter, offset) = match parsed {
            Ok(p) => p,
            Err(e) => return query_error(e),
        };
        let mut g = self.lock();
        if filter.is_some() {
            g.stats.lookups += 1;
            if g.first_write.is_none() {
                g.stats.lookups_before_first_write += 1;
            }
        } else {
            g.stats.list_pages += 1;
        }
        let matching: Vec<usize> = match &filter {
            Some(f) => filtered(&g.by_value, f),
            None => (0..g.users.len()).collect(),
        };
        let page: Vec<_> = matching
            .iter()
            .skip(offset)
            .take(top)
            .map(|&i| user_json(&g.users[i], &select))
            .collect();
        let more = offset + top < matching.len();
        let next = match self.config.next_link {
            NextLinkMode::Normal if more => Some(format!(
                "http://{}/v1.0/users?{}",
                self.addr,
                odata::query_with_skiptoken(query, &odata::skiptoken(offset + top))
            )),
            NextLinkMode::Normal => None,
            NextLinkMode::Loop => Some(format!(
                "http://{}/v1.0/users?{}",
                self.addr,
                odata::query_with_skiptoken(query, "loop")
            )),
            NextLinkMode::Foreign => Some(format!(
                "http://{}/v1.0/users?{}",
                self.foreign.unwrap_or(self.addr),
                odata::query_with_skiptoken(query, &odata::skiptoken(offset + top))
            )),
        };
        let mut body = serde_json::json!({
            "@odata.context": format!("http://{}/v1.0/$metadata#users({})", self.addr, select.join(",")),
            "value": page,
        });
        if let Some(link) = next {
            g.stats.next_links += 1;
            body["@odata.nextLink"] = link.into();
        }
        Json(body).into_response()
    }

    /// The error a user's mailbox or photo fault gives for `op`, if any.
    fn photo_fault(&self, u: &EmulatorUser, op: PhotoOp) -> Option<Response> {
        let reply = match (u.mailbox, u.photo_fault) {
            (Mailbox::None, _) | (_, Some(PhotoFault::NoMailbox)) => graph_error(
                StatusCode::NOT_FOUND,
                "ErrorNonExistentMailbox",
                &format!(
                    "The SMTP address has no mailbox associated with it. ({})",
                    u.upn
                ),
            ),
            (Mailbox::OnPrem, _) => on_premises(StatusCode::BAD_REQUEST),
            (_, Some(PhotoFault::OnPremises(status))) => {
                on_premises(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
            }
            (_, Some(PhotoFault::UnknownError(status))) => nested_unknown_error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ),
            (_, Some(PhotoFault::AuthenticationError)) => graph_error(
                StatusCode::BAD_REQUEST,
                "AuthenticationError",
                "Error authenticating with resource.",
            ),
            (_, Some(PhotoFault::ResourceNotFound)) if is_read(op) => graph_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                "Resource could not be discovered.",
            ),
            (_, Some(PhotoFault::ImageNotFound)) if is_read(op) => {
                graph_error(StatusCode::NOT_FOUND, "ImageNotFound", IMAGE_NOT_FOUND)
            }
            (_, Some(PhotoFault::EntityNotFound)) if is_read(op) => graph_error(
                StatusCode::NOT_FOUND,
                "ErrorEntityNotFound",
                IMAGE_NOT_FOUND,
            ),
            (_, Some(PhotoFault::Junk)) if op == PhotoOp::Value => (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                JUNK_PAGE,
            )
                .into_response(),
            _ => return None,
        };
        self.lock().stats.photo_faults += 1;
        Some(reply)
    }

    /// `GET .../photo` (metadata) or `.../photo/$value` (bytes).
    fn photo_read(&self, who: &str, op: PhotoOp) -> Response {
        let (i, user) = match self.find_user(who) {
            Ok(found) => found,
            Err(r) => return r,
        };
        if let Some(r) = self.photo_fault(&user, op) {
            return r;
        }
        let g = self.lock();
        match (g.photos.get(&i), op) {
            (Some((bytes, ctype)), PhotoOp::Meta) => {
                // The size of what was stored, so that a read-back can be checked.
                let (width, height) = image::ImageReader::new(std::io::Cursor::new(bytes))
                    .with_guessed_format()
                    .ok()
                    .and_then(|r| r.into_dimensions().ok())
                    .unwrap_or((648, 648));
                Json(serde_json::json!({
                    "@odata.mediaContentType": ctype, "id": "default",
                    "height": height, "width": width
                }))
                .into_response()
            }
            (Some((bytes, ctype)), _) => {
                ([(header::CONTENT_TYPE, ctype.clone())], bytes.clone()).into_response()
            }
            (None, _) => graph_error(StatusCode::NOT_FOUND, "ImageNotFound", IMAGE_NOT_FOUND),
        }
    }

    async fn photo_put(&self, who: &str, ctype: &str, body: Bytes) -> Response {
        let (i, user) = match self.find_user(who) {
            Ok(found) => found,
            Err(r) => return r,
        };
        let attempt = {
            let mut g = self.lock();
            g.stats.put_attempts += 1;
            let n = g.put_attempts.entry(i).or_insert(0);
            *n += 1;
            *n
        };
        if let Some(r) = self.photo_fault(&user, PhotoOp::Put) {
            return r;
        }
        if user.photo_fault == Some(PhotoFault::ItemNotFound) && attempt % 2 == 1 {
            self.lock().stats.photo_faults += 1;
            return graph_error(
                StatusCode::NOT_FOUND,
                "ErrorItemNotFound",
                "Too many photo items with class 'IPM.UserPhoto.Preview'",
            );
        }
        if let Some(r) = check_photo(ctype, &body) {
            return r;
        }
        if !self.config.write_latency.is_zero() {
            tokio::time::sleep(self.config.write_latency).await;
        }
        let now = Instant::now();
        let mut g = self.lock();
        if self.config.keep_photos {
            g.photos.insert(i, (body.to_vec(), ctype.to_string()));
        }
        *g.writes.entry(i).or_insert(0) += 1;
        g.stats.photo_writes += 1;
        g.first_write.get_or_insert(now);
        g.last_write = Some(now);
        drop(g);
        if let Some(dir) = &self.config.store {
            let _ = std::fs::write(dir.join(format!("{}.jpg", store_name(&user.upn))), &body);
        }
        StatusCode::OK.into_response()
    }

    fn photo_delete(&self, who: &str) -> Response {
        let (i, user) = match self.find_user(who) {
            Ok(found) => found,
            Err(r) => return r,
        };
        if let Some(r) = self.photo_fault(&user, PhotoOp::Delete) {
            return r;
        }
        match self.lock().photos.remove(&i) {
            Some(_) if self.config.delete_no_content => StatusCode::NO_CONTENT.into_response(),
            Some(_) => StatusCode::OK.into_response(),
            None => graph_error(StatusCode::NOT_FOUND, "ImageNotFound", IMAGE_NOT_FOUND),
        }
    }

    fn get_settings(&self) -> Response {
        let settings = self.lock().settings.clone();
        Json(match self.config.settings_wrapped {
            SettingsWrap::Plain => settings,
            SettingsWrap::Object => serde_json::json!({"value": settings}),
            SettingsWrap::Array => serde_json::json!({"value": [settings]}),
        })
        .into_response()
    }

    fn patch_settings(&self, body: &[u8]) -> Response {
        let bad = |msg: &str| graph_error(StatusCode::BAD_REQUEST, "BadRequest", msg);
        let Ok(patch) = serde_json::from_slice::<serde_json::Value>(body) else {
            return bad("Unable to read JSON request payload.");
        };
        let source = match patch.get("source") {
            None => None,
            Some(s) if s.is_null() || matches!(s.as_str(), Some("cloud" | "onPremises")) => {
                Some(s.clone())
            }
            Some(_) => return bad("Invalid value for 'source': use cloud or onPremises."),
        };
        let roles = match patch.get("allowedRoles") {
            None => None,
            Some(serde_json::Value::Null) => Some(Vec::new()),
            Some(serde_json::Value::Array(items)) => {
                // Ids are stored as sent (a stray space is echoed back), as the service does.
                if let Some(item) = items.iter().find(|item| {
                    item.as_str()
                        .is_none_or(|s| uuid::Uuid::parse_str(s.trim()).is_err())
                }) {
                    return bad(&format!("Invalid role template id {item}."));
                }
                Some(items.clone())
            }
            Some(_) => return bad("allowedRoles must be an array."),
        };
        let mut g = self.lock();
        match source {
            Some(serde_json::Value::Null) => {
                if let Some(map) = g.settings.as_object_mut() {
                    map.remove("source");
                }
            }
            Some(s) => g.settings["source"] = s,
            None => {}
        }
        if let Some(list) = roles {
            g.settings["allowedRoles"] = serde_json::Value::Array(list);
        }
        Json(g.settings.clone()).into_response()
    }
}

fn is_read(op: PhotoOp) -> bool {
    matches!(op, PhotoOp::Meta | PhotoOp::Value)
}

fn on_premises(status: StatusCode) -> Response {
    graph_error(
        status,
        "MailboxNotHostedInExchangeOnline",
        "The mailbox is hosted on-premises, not in Exchange Online.",
    )
}

/// Graph's checks on a photo body: size, then JPEG/PNG bytes and type.
fn check_photo(ctype: &str, body: &[u8]) -> Option<Response> {
    if body.len() > MAX_PHOTO {
        return Some(graph_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The photo is larger than the 4 MB limit.",
        ));
    }
    let is_jpeg = body.starts_with(&[0xFF, 0xD8, 0xFF]);
    let is_png = body.starts_with(b"\x89PNG");
    let typed = ctype.starts_with("image/jpeg") || ctype.starts_with("image/png");
    (!(is_jpeg || is_png) || !typed).then(|| {
        graph_error(
            StatusCode::BAD_REQUEST,
            "ImageInvalid",
            "The image is not valid: send JPEG bytes with Content-Type image/jpeg.",
        )
    })
}

/// The users a filter matches, each once, in tenant order (several may share a value).
fn filtered(
    by_value: &std::collections::HashMap<(&'static str, String), Vec<usize>>,
    f: &Filter,
) -> Vec<usize> {
    let prop: &'static str = match f.property.as_str() {
        "userPrincipalName" => "userPrincipalName",
        "mail" => "mail",
        "employeeId" => "employeeId",
        _ => "id",
    };
    let mut found = BTreeSet::new();
    for v in &f.values {
        if let Some(list) = by_value.get(&(prop, v.to_lowercase())) {
            found.extend(list.iter().copied());
        }
    }
    found.into_iter().collect()
}

/// A user as Graph returns it: only the selected properties.
fn user_json(u: &EmulatorUser, select: &[String]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for p in select {
        let v = match p.as_str() {
            "id" => u.id.clone().into(),
            "userPrincipalName" => u.upn.clone().into(),
            "mail" => u.mail.clone().into(),
            "employeeId" if u.employee_id.is_empty() => serde_json::Value::Null,
            "employeeId" => u.employee_id.clone().into(),
            "displayName" => u.upn.split('@').next().unwrap_or("").into(),
            "accountEnabled" => u.account_enabled.into(),
            "userType" => u.user_type.clone().into(),
            _ => continue,
        };
        map.insert(p.clone(), v);
    }
    serde_json::Value::Object(map)
}

/// A file name for `--store` (only the emulator's own copies; never a user's output).
fn store_name(upn: &str) -> String {
    upn.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

//! Sign-in: the token endpoint (client secret, certificate or federated assertion), the access
//! tokens it issues (JWTs with `roles`, `tid`, `aud`, `appid`), and the bearer check.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::replies::{aad_error, graph_error};
use super::server::Emu;

impl Emu {
    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub fn token(&self, path: &str, body: &[u8]) -> Response {
        if let Some(to) = &self.config.token_redirect {
            self.lock().stats.token_redirects += 1;
            let location = match (to.as_str(), self.foreign) {
                ("foreign", Some(addr)) => format!("http://{addr}{path}"),
                _ => to.clone(),
            };
            let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        if let Some(refused) = self.refuse_sign_in(path, &form) {
            return refused;
        }
        if super::identity::federated_claims(get("client_assertion"), get("client_id")).is_some() {
            self.count_federated(get("client_assertion"));
        }
        let audience = get("scope").trim_end_matches("/.default").to_string();
        let token = self.access_token(get("client_id"), &audience);
        let mut g = self.lock();
        g.tokens
            .insert(token.clone(), Instant::now() + self.config.token_lifetime);
        g.stats.tokens_issued += 1;
        drop(g);
        let lifetime = self.config.token_lifetime.as_secs().to_string();
        let expires = match &self.config.expires_in {
            None => lifetime,
            Some(raw) if is_json_number(raw) => raw.clone(),
            Some(raw) => serde_json::Value::String(raw.clone()).to_string(),
        };
        let body = format!(
            "{{\"token_type\":\"Bearer\",\"expires_in\":{expires},\"ext_expires_in\":{expires},\"access_token\":{}}}",
            serde_json::Value::String(token)
        );
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    /// The Entra ID error for a form it would refuse, if any.
    fn refuse_sign_in(&self, path: &str, form: &HashMap<String, String>) -> Option<Response> {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        let bad = StatusCode::BAD_REQUEST;
        if get("grant_type") != "client_credentials" {
            return Some(aad_error(
                bad,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            ));
        }
        if get("client_id").is_empty() {
            return Some(aad_error(
                bad,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            ));
        }
        if !get("scope").ends_with("/.default") {
            return Some(aad_error(
                bad,
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
            ));
        }
        if !get("client_assertion").is_empty() {
            if let Some(claims) =
                super::identity::federated_claims(get("client_assertion"), get("client_id"))
            {
                return self.check_federated(&claims).err();
            }
            let aud = format!("http://{}{}", self.addr, path);
            return check_assertion(get("client_assertion"), get("client_id"), &aud)
                .err()
                .map(|why| {
                    aad_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        700027,
                        &format!("Client assertion failed signature validation. {why}"),
                    )
                });
        }
        (get("client_secret") != self.config.client_secret).then(|| {
            aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            )
        })
    }

    /// A JWT shaped like Entra ID's app-only tokens. Its signature is a keyed hash, not
    /// RSA: clients read the claims, only the emulator checks the token (by lookup).
    pub(super) fn access_token(&self, client_id: &str, audience: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let tid = &self.config.tenant_id;
        // The app's service principal: the same id for the same client id.
        let digest = Sha256::digest(client_id.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        let oid = uuid::Uuid::from_bytes(id).to_string();
        let mut claims = serde_json::json!({
            "aud": audience,
            "iss": format!("https://sts.windows.net/{tid}/"),
            "iat": now,
            "nbf": now,
            "exp": now + self.config.token_lifetime.as_secs(),
            "appid": client_id,
            "appidacr": "1",
            "idtyp": "app",
            "oid": oid,
            "sub": oid,
            "tid": tid,
            "uti": uuid::Uuid::new_v4().simple().to_string(),
            "ver": "1.0",
        });
        if let Some(roles) = &self.config.roles {
            claims["roles"] = serde_json::json!(roles);
        }
        let header =
            serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "m365-photos-emulator"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut mac = Sha256::new();
        mac.update(self.token_key);
        mac.update(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize()))
    }

    /// `None` when the bearer token is valid, else the 401 to send.
    pub fn unauthorised(&self, headers: &HeaderMap) -> Option<Response> {
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
                Some(graph_error(
                    StatusCode::UNAUTHORIZED,
                    "InvalidAuthenticationToken",
                    "Lifetime validation failed, the token is expired.",
                ))
            }
            None => Some(graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty or invalid.",
            )),
        }
    }
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    fn digits(s: &str) -> (&str, usize) {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (&s[n..], n)
    }
    let s = s.strip_prefix('-').unwrap_or(s);
    let (rest, n) = digits(s);
    if n == 0 || (n > 1 && s.starts_with('0')) {
        return false;
    }
    let rest = match rest.strip_prefix('.') {
        Some(frac) => match digits(frac) {
            (_, 0) => return false,
            (r, _) => r,
        },
        None => rest,
    };
    let rest = match rest.strip_prefix(['e', 'E']) {
        Some(exp) => match digits(exp.strip_prefix(['+', '-']).unwrap_or(exp)) {
            (_, 0) => return false,
            (r, _) => r,
        },
        None => rest,
    };
    rest.is_empty()
}

/// Checks a certificate client assertion's shape and claims (not its signature: the
/// emulator has no certificate registered).
fn check_assertion(jwt: &str, client_id: &str, aud: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not a JWT".into());
    }
    let decode = |p: &str| {
        URL_SAFE_NO_PAD
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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
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
    fn json_numbers() {
        for ok in [
            "0",
            "3599",
            "-1",
            "1e30",
            "1E+30",
            "1.5",
            "18446744073709551616",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "inf", "NaN", "01", "1.", ".5", "1e", "3599 ", "+1", "1e30x",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn assertion_claims() {
        let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let header = enc(serde_json::json!({"alg": "PS256", "x5t#S256": "abc"}));
        let claims = enc(serde_json::json!({
            "aud": "http://h/t/oauth2/v2.0/token", "iss": "app", "sub": "app",
            "jti": "1", "nbf": now, "exp": now + 600,
        }));
        let jwt = format!("{header}.{claims}.sig");
        assert!(check_assertion(&jwt, "app", "http://h/t/oauth2/v2.0/token").is_ok());
        assert!(check_assertion(&jwt, "other", "http://h/t/oauth2/v2.0/token").is_err());
        assert!(check_assertion(&jwt, "app", "http://elsewhere").is_err());
        assert!(
            check_assertion(
                &format!("{header}.{claims}."),
                "app",
                "http://h/t/oauth2/v2.0/token"
            )
            .is_err()
        );
    }
}

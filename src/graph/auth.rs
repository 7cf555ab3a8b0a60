//! App-only sign-in (client credentials) with a client secret, a certificate's signed
//! assertion, a federated token or a managed identity (`identity`); caches the access
//! token and renews it before it runs out.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::identity::{self, FederatedToken, ManagedIdentity};
use super::{GraphError, http};
use crate::util::signals::Stop;

/// A secret that never shows itself in logs, errors or `Debug` output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

// So that configs holding one can be compared in tests; never printed.
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.expose() == other.expose()
    }
}
impl Eq for Secret {}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the app proves who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    Secret(Secret),
    /// PEM (certificate + private key) or PFX/P12 (with its password).
    Certificate {
        path: PathBuf,
        password: Option<Secret>,
    },
    /// Workload identity federation (`AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity(FederatedToken),
    ManagedIdentity(ManagedIdentity),
}

impl Credential {
    /// Which sign-in this is, for the run's note and logs (never the secret itself).
    pub fn describe(&self) -> String {
        match self {
            Credential::Secret(_) => "client secret".into(),
            Credential::Certificate { path, .. } => format!("certificate {}", path.display()),
            Credential::WorkloadIdentity(f) => format!(
                "workload identity federation (token file {})",
                f.file.display()
            ),
            Credential::ManagedIdentity(mi) => mi.describe(),
        }
    }
}

/// A certificate ready to sign assertions.
pub struct Signer {
    key: jsonwebtoken::EncodingKey,
    /// base64url SHA-256 of the certificate DER (`x5t#S256`).
    thumbprint: String,
    /// base64url SHA-1 of the certificate DER (`x5t`), for the older RS256 form.
    thumbprint_sha1: String,
}

/// The two assertion forms Entra has documented (and refused) in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionForm {
    /// PS256 with `x5t#S256`: the current documented form, tried first.
    Ps256,
    /// RS256 with `x5t` (SHA-1): tried once when PS256 gets AADSTS700027.
    Rs256,
}

impl AssertionForm {
    pub fn describe(self) -> &'static str {
        match self {
            AssertionForm::Ps256 => "PS256 + x5t#S256",
            AssertionForm::Rs256 => "RS256 + x5t (SHA-1)",
        }
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("x5t#S256", &self.thumbprint)
            .finish()
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    /// Loads a PEM (certificate and RSA key, in one file) or a PFX/P12 file.
    pub fn load(path: &Path, password: Option<&Secret>) -> Result<Signer, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (cert_der, key_pem) = if bytes.starts_with(b"-----")
            || bytes.windows(11).any(|w| w == b"-----BEGIN ")
        {
            let blocks = pem::parse_many(&bytes)
                .map_err(|e| format!("{}: not a valid PEM file: {e}", path.display()))?;
            let cert = blocks
                .iter()
                .find(|b| b.tag() == "CERTIFICATE")
                .ok_or_else(|| format!("{}: no CERTIFICATE block (the PEM must hold the certificate and its private key)", path.display()))?;
            let key = blocks
                .iter()
                .find(|b| b.tag().ends_with("PRIVATE KEY"))
                .ok_or_else(|| format!("{}: no PRIVATE KEY block (the PEM must hold the certificate and its private key)", path.display()))?;
            (cert.contents().to_vec(), pem::encode(key))
        } else {
            let password = password.map(Secret::expose).unwrap_or("");
            let store = p12_keystore::KeyStore::from_pkcs12(
                &bytes,
                password,
                p12_keystore::Pkcs12ImportPolicy::default(),
            )
            .map_err(|e| {
                format!(
                    "{}: cannot open the PFX (wrong AZURE_CLIENT_CERTIFICATE_PASSWORD?): {e}",
                    path.display()
                )
            })?;
            let (_, chain) = store
                .private_key_chain()
                .ok_or_else(|| format!("{}: the PFX holds no private key", path.display()))?;
            let cert = chain
                .certs()
                .first()
                .ok_or_else(|| format!("{}: the PFX holds no certificate", path.display()))?;
            let key = pem::Pem::new("PRIVATE KEY", chain.key().as_der().to_vec());
            (cert.as_der().to_vec(), pem::encode(&key))
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).map_err(|e| {
            format!(
                "{}: the private key is not a usable RSA key: {e}",
                path.display()
            )
        })?;
        Ok(Signer {
            key,
            thumbprint: b64url(&Sha256::digest(&cert_der)),
            thumbprint_sha1: b64url(<sha1::Sha1 as sha1::Digest>::digest(&cert_der).as_slice()),
        })
    }

    /// A fresh client assertion in `form`, valid for 10 minutes.
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        form: AssertionForm,
    ) -> Result<String, String> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            iss: &'a str,
            sub: &'a str,
            jti: String,
            nbf: u64,
            iat: u64,
            exp: u64,
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = match form {
            AssertionForm::Ps256 => {
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
                h.x5t_s256 = Some(self.thumbprint.clone());
                h
            }
            AssertionForm::Rs256 => {
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                h.x5t = Some(self.thumbprint_sha1.clone());
                h
            }
        };
        header.typ = Some("JWT".into());
        let claims = Claims {
            aud: token_url,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + 600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the client assertion: {e}"))
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds; some servers send a string, a float or nonsense.
    #[serde(default)]
    expires_in: serde_json::Value,
}

#[derive(Deserialize, Default)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// Token lifetimes are 60-90 minutes; nothing longer is believed (a huge `expires_in`
/// would otherwise overflow the clock).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Assumed when `expires_in` is missing or unreadable.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3599);

/// `expires_in` as a sane lifetime: clamped to [1 s, 24 h], never a panic.
pub fn lifetime_of(v: &serde_json::Value) -> Duration {
    let secs = match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match secs {
        Some(s) if s.is_finite() && s >= 1.0 => {
            if s >= MAX_LIFETIME.as_secs_f64() {
                MAX_LIFETIME
            } else {
                Duration::from_secs_f64(s)
            }
        }
        Some(s) if s.is_finite() => Duration::from_secs(1),
        Some(_) => MAX_LIFETIME,
        None => DEFAULT_LIFETIME,
    }
}

/// What Entra's `error_codes` mean and what to do, for the codes admins meet.
pub fn explain_error_code(code: u64) -> Option<&'static str> {
    Some(match code {
        7000215 => {
            "wrong client secret: use the secret's Value (not its Secret ID), or create a new secret"
        }
        7000222 => {
            "the client secret has expired: create a new one in the app registration and use it"
        }
        700016 => {
            "no application with this --client-id in this tenant: check --client-id and --tenant (the app must be registered or consented in this tenant)"
        }
        90002 => "unknown tenant: check --tenant (a tenant id or verified domain) and --cloud",
        700027 => {
            "the certificate is not registered on the app, or the assertion's signature is wrong: upload the certificate's public part to the app registration"
        }
        700024 => {
            "the client assertion is outside its time window: this machine's clock is off; sync it (NTP)"
        }
        53003 => {
            "blocked by Conditional Access: ask an admin to allow this app (workload identity) from this location"
        }
        1002012 => {
            "invalid scope: the token's resource must be a Graph host ending in /.default (check --cloud)"
        }
        70021 | 700211 => {
            "no federated credential on the app matches the token's issuer: add one for this issuer (and subject) under Certificates & secrets > Federated credentials"
        }
        700212 => {
            "the federated token's audience is not the app's federated credential audience (api://AzureADTokenExchange unless changed)"
        }
        700213 => {
            "no federated credential on the app matches the token's subject: the credential must name exactly this subject (e.g. repo:ORG/REPO:ref:refs/heads/main, or the Kubernetes service account)"
        }
        _ => return None,
    })
}

/// The answer's `error_codes`, or the `AADSTS<n>` numbers in its description when a
/// server leaves the list out.
fn codes_of(err: &TokenError) -> Vec<u64> {
    if !err.error_codes.is_empty() {
        return err.error_codes.clone();
    }
    let text = err.error_description.as_deref().unwrap_or("");
    text.match_indices("AADSTS")
        .filter_map(|(i, _)| {
            let digits: String = text[i + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .take(5)
        .collect()
}

/// The message for a refused sign-in.
fn refused_text(status: u16, err: &TokenError) -> String {
    let numbers = codes_of(err);
    let codes: Vec<String> = numbers.iter().map(|c| format!("AADSTS{c}")).collect();
    let explained: Vec<&str> = numbers
        .iter()
        .filter_map(|c| explain_error_code(*c))
        .collect();
    let said: String = err
        .error_description
        .as_deref()
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    let mut s = format!("sign-in refused (HTTP {status}");
    if let Some(e) = &err.error {
        s.push_str(&format!(", {}", e.chars().take(60).collect::<String>()));
    }
    if !codes.is_empty() {
        s.push_str(&format!(", {}", codes.join(" ")));
    }
    s.push(')');
    if explained.is_empty() {
        s.push_str(
            ": check --tenant, --client-id and the secret, certificate or federated credential registered on the app",
        );
    } else {
        s.push_str(&format!(": {}", explained.join("; ")));
    }
    if !said.is_empty() {
        s.push_str(&format!(". Entra said: {said}"));
    }
    s
}

/// How one sign-in try ended, short of success.
enum Refusal {
    /// Final, with the message to show.
    Final(String),
    /// Entra refused the certificate's assertion (AADSTS700027).
    Certificate(String),
}

/// What a sign-in sends, ready to use.
enum Method {
    Secret(Secret),
    Certificate(Signer),
    Federated(FederatedToken),
    Managed(ManagedIdentity),
}

/// Gets and caches app-only access tokens.
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    scope: String,
    method: Method,
    cached: Mutex<Option<(Secret, Instant)>>,
    /// The assertion form that last worked (certificate sign-in only).
    form: std::sync::Mutex<Option<AssertionForm>>,
    /// Local clock minus the token endpoint's `Date`, in seconds, from its last answer.
    skew: std::sync::Mutex<Option<i64>>,
    stop: Stop,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// Renew this long before expiry, or at 80% of a short lifetime.
const RENEW_MARGIN: Duration = Duration::from_secs(300);

impl TokenProvider {
    pub fn new(
        http: reqwest::Client,
        token_url: String,
        client_id: String,
        scope: String,
        credential: &Credential,
        stop: Stop,
    ) -> Result<TokenProvider, String> {
        let method = match credential {
            Credential::Secret(s) => Method::Secret(s.clone()),
            Credential::Certificate { path, password } => {
                Method::Certificate(Signer::load(path, password.as_ref())?)
            }
            Credential::WorkloadIdentity(f) => Method::Federated(f.clone()),
            Credential::ManagedIdentity(mi) => Method::Managed(mi.clone()),
        };
        Ok(TokenProvider {
            http,
            token_url,
            client_id,
            scope,
            method,
            cached: Mutex::new(None),
            form: std::sync::Mutex::new(None),
            skew: std::sync::Mutex::new(None),
            stop,
        })
    }

    /// A valid access token, from the cache or freshly signed in.
    pub async fn token(&self) -> Result<Secret, GraphError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.sign_in().await?;
        let margin = RENEW_MARGIN.min(lifetime / 5);
        let now = Instant::now();
        let renew_at = now.checked_add(lifetime - margin).unwrap_or(now);
        *cached = Some((token.clone(), renew_at));
        tracing::info!(lifetime_s = lifetime.as_secs(), "signed in");
        Ok(token)
    }

    /// Forgets the cached token (after Graph said it is no longer valid).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// How far the local clock is ahead of the token endpoint's (negative: behind), in
    /// whole seconds, from the `Date` of its last answer. Certificate assertions outside
    /// Entra's time window fail with AADSTS700024.
    pub fn clock_skew(&self) -> Option<i64> {
        self.skew.lock().ok().and_then(|s| *s)
    }

    fn note_date(&self, headers: &reqwest::header::HeaderMap) {
        let Some(server) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        else {
            return;
        };
        let now = std::time::SystemTime::now();
        let secs = match now.duration_since(server) {
            Ok(ahead) => ahead.as_secs() as i64,
            Err(behind) => -(behind.duration().as_secs() as i64),
        };
        if let Ok(mut s) = self.skew.lock() {
            *s = Some(secs);
        }
    }

    /// Which assertion form worked last (`None` for a client secret).
    pub fn assertion_form(&self) -> Option<AssertionForm> {
        self.form.lock().ok().and_then(|f| *f)
    }

    /// Signs in; a certificate assertion refused with AADSTS700027 is retried once in
    /// the older RS256 + `x5t` form, with a fresh assertion.
    async fn sign_in(&self) -> Result<(Secret, Duration), GraphError> {
        if let Method::Managed(mi) = &self.method {
            return self.managed_sign_in(mi).await.map_err(GraphError::auth);
        }
        match self.try_sign_in(AssertionForm::Ps256).await {
            Ok(t) => {
                self.remember(AssertionForm::Ps256);
                Ok(t)
            }
            Err(Refusal::Certificate(first)) => {
                tracing::warn!(
                    "certificate sign-in with PS256 + x5t#S256 refused (AADSTS700027); trying RS256 + x5t once"
                );
                match self.try_sign_in(AssertionForm::Rs256).await {
                    Ok(t) => {
                        tracing::warn!("signed in with the RS256 + x5t (SHA-1) assertion form");
                        self.remember(AssertionForm::Rs256);
                        Ok(t)
                    }
                    Err(Refusal::Final(m) | Refusal::Certificate(m)) => Err(GraphError::auth(
                        format!("{first}; the RS256 + x5t form was refused too: {m}"),
                    )),
                }
            }
            Err(Refusal::Final(m)) => Err(GraphError::auth(m)),
        }
    }

    fn remember(&self, form: AssertionForm) {
        if matches!(self.method, Method::Certificate(_))
            && let Ok(mut f) = self.form.lock()
        {
            *f = Some(form);
        }
    }

    async fn pause(&self, d: Duration) -> Result<(), Refusal> {
        tokio::select! {
            biased;
            () = self.stop.wait() => Err(Refusal::Final("stopped (Ctrl-C) while signing in".into())),
            () = tokio::time::sleep(d) => Ok(()),
        }
    }

    async fn try_sign_in(&self, form_kind: AssertionForm) -> Result<(Secret, Duration), Refusal> {
        let mut form: Vec<(&str, String)> = vec![
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
            ("grant_type", "client_credentials".into()),
        ];
        let assertion = match &self.method {
            Method::Certificate(signer) => Some(
                signer
                    .assertion(&self.client_id, &self.token_url, form_kind)
                    .map_err(Refusal::Final)?,
            ),
            Method::Federated(f) => Some(f.assertion().map_err(Refusal::Final)?.expose().into()),
            Method::Secret(secret) => {
                form.push(("client_secret", secret.expose().to_string()));
                None
            }
            Method::Managed(_) => {
                return Err(Refusal::Final(
                    "internal: a managed identity has no token form".into(),
                ));
            }
        };
        if let Some(assertion) = assertion {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", assertion));
        }
        let mut last = String::new();
        let mut wait = Duration::ZERO;
        for attempt in 0..4u32 {
            if attempt > 0 {
                self.pause(wait).await?;
            }
            wait = Duration::from_millis(500 * 2u64.pow(attempt + 1));
            let resp = match self.http.post(&self.token_url).form(&form).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!(
                        "cannot reach {}: {}",
                        self.token_url,
                        super::without_url(&e)
                    );
                    continue;
                }
            };
            let status = resp.status();
            self.note_date(resp.headers());
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(200).collect::<String>());
            let mut resp = resp;
            let body = if status.is_success() {
                match http::read_limited(&mut resp, 1024 * 1024).await {
                    Ok(b) => b,
                    Err(http::BodyError::TooLarge(_)) => {
                        return Err(Refusal::Final(
                            "the sign-in answer is over 1 MB: not a token endpoint".into(),
                        ));
                    }
                    Err(http::BodyError::Cut(why)) => {
                        last = format!("sign-in answer cut short: {why}");
                        continue;
                    }
                }
            } else {
                http::read_prefix(&mut resp, 64 * 1024).await
            };
            if status.is_success() {
                let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
                    Refusal::Final(format!("unexpected sign-in answer (not a token): {e}"))
                })?;
                return Ok((Secret::new(t.access_token), lifetime_of(&t.expires_in)));
            }
            if status.is_redirection() {
                return Err(Refusal::Final(format!(
                    "the sign-in endpoint answered HTTP {} with a redirect to {}: not followed, so the credentials only ever go to {} (check --login-url / --cloud)",
                    status.as_u16(),
                    location.as_deref().unwrap_or("another address"),
                    self.token_url
                )));
            }
            if status.as_u16() == 429 {
                let ra = http::parse_retry_after(retry_after.as_deref(), SystemTime::now());
                wait = http::wait_for(&ra, wait).map_err(|why| {
                    Refusal::Final(format!("sign-in throttled (HTTP 429): {why}"))
                })?;
                last = "sign-in throttled (HTTP 429)".into();
                continue;
            }
            if status.is_server_error() {
                last = format!("sign-in failed with HTTP {status}");
                continue;
            }
            let err: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            let text = refused_text(status.as_u16(), &err);
            if matches!(self.method, Method::Certificate(_))
                && form_kind == AssertionForm::Ps256
                && codes_of(&err).contains(&700027)
            {
                return Err(Refusal::Certificate(text));
            }
            return Err(Refusal::Final(text));
        }
        Err(Refusal::Final(last))
    }
}

impl TokenProvider {
    /// Managed identity: a GET to the host's endpoint, retried as Azure's SDKs do while
    /// the endpoint starts (404/410), throttles (429) or fails (5xx).
    async fn managed_sign_in(&self, mi: &ManagedIdentity) -> Result<(Secret, Duration), String> {
        let resource = self.scope.trim_end_matches("/.default");
        let mut last = String::new();
        for attempt in 0..4u32 {
            match identity::managed_token(&self.http, mi, resource).await {
                Ok(t) => return Ok(t),
                Err(identity::Failure::Final(m)) => return Err(m),
                Err(identity::Failure::Transient(m, wait)) => {
                    last = m;
                    if attempt < 3 {
                        let backoff = Duration::from_millis(500 * 2u64.pow(attempt + 1));
                        self.pause(wait.unwrap_or(backoff))
                            .await
                            .map_err(|r| match r {
                                Refusal::Final(m) | Refusal::Certificate(m) => m,
                            })?;
                    }
                }
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_in_never_overflows_the_clock() {
        assert_eq!(lifetime_of(&json!(3599)), Duration::from_secs(3599));
        assert_eq!(lifetime_of(&json!("3599")), Duration::from_secs(3599));
        assert_eq!(lifetime_of(&json!(u64::MAX)), MAX_LIFETIME);
        assert_eq!(lifetime_of(&json!(1e300)), MAX_LIFETIME);
        assert_eq!(lifetime_of(&json!("inf")), MAX_LIFETIME);
        assert_eq!(lifetime_of(&json!(-5)), Duration::from_secs(1));
        assert_eq!(lifetime_of(&json!(0)), Duration::from_secs(1));
        assert_eq!(lifetime_of(&json!("soon")), DEFAULT_LIFETIME);
        assert_eq!(lifetime_of(&serde_json::Value::Null), DEFAULT_LIFETIME);
        // The cache's renewal instant is computed without overflow for the largest one.
        let l = lifetime_of(&json!(u64::MAX));
        let now = Instant::now();
        assert!(now.checked_add(l - RENEW_MARGIN.min(l / 5)).is_some());
    }

    #[test]
    fn sign_in_errors_are_explained_from_error_codes() {
        let err: TokenError = serde_json::from_value(json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x",
            "error_codes": [7000215]
        }))
        .unwrap();
        let text = refused_text(401, &err);
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(text.contains("Secret ID"), "{text}");
        assert!(!text.contains("Trace ID"), "{text}");
        for code in [
            7000215, 7000222, 700016, 90002, 700027, 700024, 53003, 1002012,
        ] {
            assert!(explain_error_code(code).is_some(), "{code}");
        }
        assert!(explain_error_code(700024).unwrap().contains("clock"));
        assert!(
            explain_error_code(53003)
                .unwrap()
                .contains("Conditional Access")
        );
        // A server that names the code only in its description is understood too.
        let described = TokenError {
            error_description: Some(
                "AADSTS700024: Client assertion is not within its valid time range.".into(),
            ),
            ..TokenError::default()
        };
        assert_eq!(codes_of(&described), [700024]);
        assert!(refused_text(400, &described).contains("clock"));
        let unknown = refused_text(400, &TokenError::default());
        assert!(unknown.contains("check --tenant"), "{unknown}");
    }

    #[test]
    fn china_signs_in_at_the_partner_host() {
        assert_eq!(
            crate::graph::Cloud::China.hosts().1,
            "https://login.partner.microsoftonline.cn"
        );
    }
}

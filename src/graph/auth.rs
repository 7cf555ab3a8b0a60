//! App-only sign-in (client credentials) with a client secret or a certificate's signed
//! assertion; caches the access token and renews it before it runs out.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::GraphError;

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
}

/// A certificate ready to sign assertions.
pub struct Signer {
    key: jsonwebtoken::EncodingKey,
    /// base64url SHA-256 of the certificate DER (`x5t#S256`).
    thumbprint: String,
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
        })
    }

    /// The client assertion: PS256, `x5t#S256`, valid for 10 minutes.
    pub fn assertion(&self, client_id: &str, token_url: &str) -> Result<String, String> {
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
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
        header.x5t_s256 = Some(self.thumbprint.clone());
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
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

/// Gets and caches app-only access tokens.
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    scope: String,
    secret: Option<Secret>,
    signer: Option<Signer>,
    cached: Mutex<Option<(Secret, Instant)>>,
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
    ) -> Result<TokenProvider, String> {
        let (secret, signer) = match credential {
            Credential::Secret(s) => (Some(s.clone()), None),
            Credential::Certificate { path, password } => {
                (None, Some(Signer::load(path, password.as_ref())?))
            }
        };
        Ok(TokenProvider {
            http,
            token_url,
            client_id,
            scope,
            secret,
            signer,
            cached: Mutex::new(None),
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
        *cached = Some((token.clone(), Instant::now() + lifetime - margin));
        tracing::info!(lifetime_s = lifetime.as_secs(), "signed in");
        Ok(token)
    }

    /// Forgets the cached token (after Graph said it is no longer valid).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn sign_in(&self) -> Result<(Secret, Duration), GraphError> {
        let mut form: Vec<(&str, String)> = vec![
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
            ("grant_type", "client_credentials".into()),
        ];
        if let Some(signer) = &self.signer {
            let assertion = signer
                .assertion(&self.client_id, &self.token_url)
                .map_err(GraphError::auth)?;
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", assertion));
        } else if let Some(secret) = &self.secret {
            form.push(("client_secret", secret.expose().to_string()));
        }
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
            }
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
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    last = format!("sign-in answer cut short: {}", super::without_url(&e));
                    continue;
                }
            };
            if status.is_success() {
                let t: TokenResponse = serde_json::from_slice(&body)
                    .map_err(|e| GraphError::auth(format!("unexpected sign-in answer: {e}")))?;
                return Ok((
                    Secret::new(t.access_token),
                    Duration::from_secs(t.expires_in.max(1)),
                ));
            }
            if status.is_server_error() || status.as_u16() == 429 {
                last = format!("sign-in failed with HTTP {status}");
                continue;
            }
            let err: TokenError = serde_json::from_slice(&body).unwrap_or(TokenError {
                error: None,
                error_description: None,
            });
            return Err(GraphError::auth(format!(
                "sign-in refused (HTTP {}): {} {} — check --tenant, --client-id and the secret or certificate registered on the app",
                status.as_u16(),
                err.error.unwrap_or_default(),
                err.error_description.unwrap_or_default()
            )));
        }
        Err(GraphError::auth(last))
    }
}

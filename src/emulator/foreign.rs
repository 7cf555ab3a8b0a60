//! A second listener that stands for another host (another port on 127.0.0.1): hostile
//! `@odata.nextLink`s and token redirects point here, and it counts whether a client
//! sent it a bearer token or a client secret.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::replies::aad_error;
use super::server::Stats;

#[derive(Debug, Default)]
pub struct ForeignCounts {
    requests: AtomicU64,
    bearer: AtomicU64,
    secret: AtomicU64,
}

impl ForeignCounts {
    pub fn add_to(&self, stats: &mut Stats) {
        stats.foreign_requests = self.requests.load(Ordering::SeqCst);
        stats.foreign_bearer = self.bearer.load(Ordering::SeqCst);
        stats.foreign_secret = self.secret.load(Ordering::SeqCst);
    }
}

/// Binds another free port on 127.0.0.1 and serves it until the runtime ends.
pub async fn bind(counts: Arc<ForeignCounts>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(handle).with_state(counts);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

async fn handle(
    State(counts): State<Arc<ForeignCounts>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    counts.requests.fetch_add(1, Ordering::SeqCst);
    if headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| !v.is_empty())
    {
        counts.bearer.fetch_add(1, Ordering::SeqCst);
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if form
        .iter()
        .any(|(k, v)| k == "client_secret" && !v.is_empty())
    {
        counts.secret.fetch_add(1, Ordering::SeqCst);
    }
    if uri.path().ends_with("/oauth2/v2.0/token") {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided (this is not your sign-in host).",
        );
    }
    axum::Json(serde_json::json!({"value": []})).into_response()
}

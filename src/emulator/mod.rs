//! A local stand-in for Microsoft Graph and its sign-in endpoint, with Graph's documented
//! behaviour (throttling with Retry-After, transient faults, expiring tokens, size limits,
//! error bodies), for rehearsals, the demo and the tests.

mod config;
mod consent;
mod foreign;
mod identity;
mod limits;
mod odata;
mod replies;
mod routes;
mod server;
mod signin;
mod tenant;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

pub use config::{
    ALL_ROLES, DEFAULT_SECRET, DEFAULT_TENANT_ID, EmulatorConfig, EmulatorError, NextLinkMode,
    PhotoSource, RetryAfterHeader, Roles, SettingsWrap, UserFault,
};
pub use identity::{DEFAULT_IDENTITY_HEADER, SYSTEM_IDENTITY};
use replies::graph_error;
pub use server::{Emu, Stats};
pub use tenant::{EmulatorUser, Mailbox, PhotoFault, TenantCsvError};

/// Binds 127.0.0.1 (never another interface) and serves until the future is dropped.
pub async fn bind(config: EmulatorConfig) -> Result<(SocketAddr, Arc<Emu>, Router), EmulatorError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let counts = Arc::new(foreign::ForeignCounts::default());
    let wants_foreign = config.next_link == NextLinkMode::Foreign
        || config.token_redirect.as_deref() == Some("foreign");
    let foreign = if wants_foreign {
        Some(foreign::bind(counts.clone()).await?)
    } else {
        None
    };
    let emu = Arc::new(Emu::new(config, addr, foreign, counts)?);
    let app = Router::new().fallback(handle).with_state(emu.clone());
    let app2 = app.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app2).await;
    });
    Ok((addr, emu, app))
}

/// An emulator running on its own thread and runtime (for `demo` and benchmarks).
pub struct RunningEmulator {
    addr: SocketAddr,
    emu: Arc<Emu>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .finish()
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`: the Graph root and the sign-in authority at once.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.emu.stats()
    }

    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Starts the emulator on a thread of its own.
pub fn spawn(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    let runtime = crate::util::runtime::build()?;
    let (addr, emu, _) = runtime.block_on(bind(config))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime.block_on(async {
            let _ = stop_rx.await;
        });
    });
    Ok(RunningEmulator {
        addr,
        emu,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// Runs the `emulator` command: serve until Ctrl-C or SIGTERM, then print the stats.
pub fn run_foreground(config: EmulatorConfig) -> anyhow::Result<()> {
    use std::io::Write;
    let runtime = crate::util::runtime::build()?;
    runtime.block_on(async {
        let (addr, emu, _) = bind(config).await?;
        println!("emulator listening on http://{addr}");
        println!(
            "  sign in with --graph-url http://{addr} --login-url http://{addr} and client secret from AZURE_CLIENT_SECRET"
        );
        println!("  stats: http://{addr}/_emulator/stats  users: http://{addr}/_emulator/users");
        if let Some(other) = emu.foreign {
            println!("  foreign host (counts what it is sent): http://{other}");
        }
        let _ = std::io::stdout().flush();
        shutdown_signal().await;
        println!("{}", serde_json::to_string_pretty(&emu.stats())?);
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Every request comes here: the admin pages, the token endpoint, or Graph.
async fn handle(
    State(emu): State<Arc<Emu>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    if let Some(rest) = path.strip_prefix("/_emulator/") {
        return emu.admin(rest);
    }
    if method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        return emu.token(&path, &body);
    }
    if method == Method::GET && path == "/msi/token" {
        return emu.managed_identity(identity::Style::AppService, &query, &headers);
    }
    if method == Method::GET && path == "/metadata/identity/oauth2/token" {
        return emu.managed_identity(identity::Style::Imds, &query, &headers);
    }
    let (version, rest) = if let Some(r) = path.strip_prefix("/v1.0/") {
        ("v1.0", r)
    } else if let Some(r) = path.strip_prefix("/beta/") {
        ("beta", r)
    } else {
        return graph_error(StatusCode::NOT_FOUND, "BadRequest", "Invalid version.");
    };
    emu.graph(version, &method, rest, &query, &headers, body)
        .await
}

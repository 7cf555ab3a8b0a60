//! Ctrl-C and SIGTERM: during an upload the first one asks the run to stop taking new work
//! and finish what is in flight; a second one (or one outside an upload) ends the process
//! at once. The state database is consistent at every moment, so both are safe.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

/// The process-wide stop request.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requested: AtomicBool,
    /// Stages that know how to stop cleanly and are running now.
    armed: AtomicUsize,
    notify: Notify,
}

/// While held, the first signal asks for a clean stop instead of ending the process.
#[derive(Debug)]
pub struct Armed(Stop);

impl Drop for Armed {
    fn drop(&mut self) {
        self.0.inner.armed.fetch_sub(1, Ordering::SeqCst);
    }
}

static GLOBAL: OnceLock<Stop> = OnceLock::new();

impl Stop {
    /// The process's stop request, with the signal listener started on first use.
    pub fn global() -> Stop {
        GLOBAL
            .get_or_init(|| {
                let stop = Stop::default();
                listen(stop.clone());
                stop
            })
            .clone()
    }

    /// Marks a stage as able to stop cleanly.
    pub fn arm(&self) -> Armed {
        self.inner.armed.fetch_add(1, Ordering::SeqCst);
        Armed(self.clone())
    }

    pub fn requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }

    /// Asks every stage to stop taking new work.
    pub fn request(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Resolves once a stop has been requested.
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.requested() {
                return;
            }
            notified.await;
        }
    }
}

const FIRST: &str = "\nm365-photos: stopping — no new uploads; waiting for those in flight to finish and be recorded (press Ctrl-C again to stop at once)";
const AT_ONCE: &str = "\nm365-photos: stopped at once. Everything confirmed so far is recorded in the state database; run the same command again to resume.";

/// Listens for SIGINT/SIGTERM (Ctrl-C / Ctrl-Break on Windows) on a thread of its own, so
/// that it outlives any one stage's runtime.
fn listen(stop: Stop) {
    let started = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let mut signals = match Signals::new() {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                        return;
                    }
                };
                loop {
                    signals.next().await;
                    if stop.inner.armed.load(Ordering::SeqCst) == 0 || stop.requested() {
                        eprintln!("{AT_ONCE}");
                        std::process::exit(crate::config::exit::INTERRUPTED);
                    }
                    eprintln!("{FIRST}");
                    stop.request();
                }
            });
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the signal listener");
    }
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

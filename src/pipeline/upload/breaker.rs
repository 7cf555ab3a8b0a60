//! The upload's circuit breaker: a failure that every photo write will meet (a missing
//! permission the token's roles did not reveal, refused credentials) stops the run after
//! a handful of writes instead of costing one identical failed row per user.
//!
//! It trips on the same permanent (HTTP status, Graph code) on each of the first `limit`
//! photo writes (a success among them disarms that rule for the run), or on `limit`
//! 401s in a row at any time (the client has already renewed the token once for each:
//! a fresh token is refused too). Transient answers (429, 5xx, timeouts) are neither
//! counted nor disarm it, and per-user answers (no mailbox, profile missing, ...) disarm
//! it: they say the writes reach Graph and are judged one by one.

use std::sync::Mutex;

use tokio::sync::watch;

use crate::graph::{GraphError, Kind};

/// How many identical first failures stop a run, unless told otherwise.
pub const DEFAULT_LIMIT: usize = 10;

/// Why the breaker stopped the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    pub status: u16,
    pub code: Option<String>,
    pub hint: Option<&'static str>,
    /// How many writes in a row failed like this.
    pub count: usize,
    /// The 401 rule tripped (else the first-writes rule).
    pub unauthorised: bool,
}

impl Trip {
    /// What the admin reads: what failed, what to fix, and that a re-run resumes.
    pub fn message(&self) -> String {
        let what = match &self.code {
            Some(code) => format!("HTTP {} {code}", self.status),
            None => format!("HTTP {}", self.status),
        };
        let when = if self.unauthorised {
            format!(
                "{} photo writes in a row were refused with {what} even with a fresh token",
                self.count
            )
        } else {
            format!(
                "the first {} photo writes all failed with {what}",
                self.count
            )
        };
        let fix = self.hint.unwrap_or("see the report's detail column");
        format!(
            "stopped: {when}, so every other write would fail the same way. Nothing more was sent; the remaining users are pending. Fix this: {fix}; then run the same command again to resume"
        )
    }
}

#[derive(Debug, Default)]
struct State {
    /// The first-writes rule still applies (no success, no different failure yet).
    disarmed: bool,
    streak: Option<(u16, Option<String>)>,
    streak_len: usize,
    unauthorised: usize,
}

/// Shared by every upload task of a run.
#[derive(Debug)]
pub struct Breaker {
    limit: usize,
    state: Mutex<State>,
    tripped: watch::Sender<Option<Trip>>,
}

/// Per-user answers: the writes reach Graph and are judged one user at a time.
fn per_user(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::NoPhoto
            | Kind::NoMailbox
            | Kind::OnPremMailbox
            | Kind::UnknownUser
            | Kind::ProfileMissing
            | Kind::Intermittent
    )
}

/// Answers that say nothing about the next write.
fn transient(e: &GraphError) -> bool {
    e.status.is_none()
        || matches!(
            e.kind,
            Kind::Throttled | Kind::Transient | Kind::Interrupted
        )
}

impl Breaker {
    pub fn new(limit: usize) -> Breaker {
        Breaker {
            limit: limit.max(1),
            state: Mutex::new(State::default()),
            tripped: watch::Sender::new(None),
        }
    }

    /// Takes one photo write's outcome into account; trips when it completes a rule.
    pub fn observe(&self, outcome: Result<(), &GraphError>) {
        if self.tripped().is_some() {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let e = match outcome {
            Ok(()) => {
                s.disarmed = true;
                s.unauthorised = 0;
                return;
            }
            Err(e) if transient(e) => return,
            Err(e) => e,
        };
        let status = e.status.unwrap_or_default();
        if status == 401 {
            s.unauthorised += 1;
        } else {
            s.unauthorised = 0;
        }
        if s.unauthorised >= self.limit {
            drop(s);
            self.trip(e, self.limit, true);
            return;
        }
        if s.disarmed {
            return;
        }
        if per_user(e.kind) {
            s.disarmed = true;
            return;
        }
        let this = (status, e.code.clone());
        match &s.streak {
            Some(first) if *first == this => s.streak_len += 1,
            Some(_) => {
                s.disarmed = true;
                return;
            }
            None => {
                s.streak = Some(this);
                s.streak_len = 1;
            }
        }
        if s.streak_len >= self.limit {
            drop(s);
            self.trip(e, self.limit, false);
        }
    }

    fn trip(&self, e: &GraphError, count: usize, unauthorised: bool) {
        let trip = Trip {
            status: e.status.unwrap_or_default(),
            code: e.code.clone(),
            hint: e.hint,
            count,
            unauthorised,
        };
        self.tripped.send_if_modified(|t| {
            if t.is_none() {
                *t = Some(trip);
                true
            } else {
                false
            }
        });
    }

    /// Why the run was stopped, once it was.
    pub fn tripped(&self) -> Option<Trip> {
        self.tripped.borrow().clone()
    }

    /// Returns once the breaker trips (never, if it does not).
    pub async fn wait(&self) {
        let mut rx = self.tripped.subscribe();
        // The sender lives as long as `self`, so this only ends by tripping.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str, kind: Kind) -> GraphError {
        let mut e = GraphError::new(kind, "refused");
        e.status = Some(status);
        e.code = Some(code.into());
        e.hint = Some("the app lacks ProfilePhoto.ReadWrite.All");
        e
    }

    fn denied() -> GraphError {
        err(403, "Authorization_RequestDenied", Kind::Permission)
    }

    #[test]
    fn the_same_permanent_failure_on_the_first_writes_trips_it() {
        let b = Breaker::new(10);
        for _ in 0..9 {
            b.observe(Err(&denied()));
        }
        assert_eq!(b.tripped(), None, "nine are not ten");
        b.observe(Err(&denied()));
        let t = b.tripped().unwrap();
        assert_eq!((t.status, t.count, t.unauthorised), (403, 10, false));
        let m = t.message();
        assert!(m.contains("HTTP 403 Authorization_RequestDenied"), "{m}");
        assert!(m.contains("ProfilePhoto.ReadWrite.All"), "{m}");
        assert!(
            m.contains("pending") && m.contains("run the same command again"),
            "{m}"
        );
    }

    #[test]
    fn a_success_among_the_first_writes_disarms_it() {
        let b = Breaker::new(3);
        b.observe(Err(&denied()));
        b.observe(Ok(()));
        for _ in 0..20 {
            b.observe(Err(&denied()));
        }
        assert_eq!(b.tripped(), None);
    }

    #[test]
    fn different_or_per_user_failures_disarm_it_and_transient_ones_do_not_count() {
        let b = Breaker::new(3);
        b.observe(Err(&denied()));
        b.observe(Err(&err(400, "ImageInvalid", Kind::Invalid)));
        for _ in 0..5 {
            b.observe(Err(&denied()));
        }
        assert_eq!(b.tripped(), None, "two different failures: not systemic");

        let b = Breaker::new(3);
        b.observe(Err(&err(404, "ErrorNonExistentMailbox", Kind::NoMailbox)));
        for _ in 0..5 {
            b.observe(Err(&denied()));
        }
        assert_eq!(b.tripped(), None, "a per-user answer came first");

        let b = Breaker::new(3);
        let throttled = err(429, "TooManyRequests", Kind::Throttled);
        let mut cut = GraphError::new(Kind::Transient, "connection reset");
        cut.status = None;
        for _ in 0..2 {
            b.observe(Err(&denied()));
            b.observe(Err(&throttled));
            b.observe(Err(&cut));
        }
        assert_eq!(b.tripped(), None);
        b.observe(Err(&denied()));
        assert!(
            b.tripped().is_some(),
            "transient answers sit between, uncounted"
        );
    }

    #[test]
    fn a_run_of_401s_trips_it_even_after_successes() {
        let b = Breaker::new(4);
        b.observe(Ok(()));
        let refused = err(401, "InvalidAuthenticationToken", Kind::SignIn);
        for _ in 0..3 {
            b.observe(Err(&refused));
        }
        b.observe(Ok(()));
        for _ in 0..3 {
            b.observe(Err(&refused));
        }
        assert_eq!(b.tripped(), None, "a success in between resets the run");
        b.observe(Err(&refused));
        let t = b.tripped().unwrap();
        assert!(t.unauthorised && t.status == 401, "{t:?}");
        assert!(t.message().contains("fresh token"));
    }

    #[tokio::test]
    async fn waiting_ends_when_it_trips() {
        let b = std::sync::Arc::new(Breaker::new(1));
        let waiter = {
            let b = std::sync::Arc::clone(&b);
            tokio::spawn(async move { b.wait().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        b.observe(Err(&denied()));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}

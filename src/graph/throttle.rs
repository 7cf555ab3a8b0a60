//! Keeps every request inside Graph's limits: a shared Retry-After gate (one 429 pauses
//! every worker), a concurrency window that shrinks on 429s and grows when calm (AIMD),
//! and a request rate that is either given (`--rate`) or found by probing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;

/// Starting rate when none is given: well under any tenant's photo limits.
const START_RATE: f64 = 10.0;
/// Lowest rate the probe drops to.
const MIN_RATE: f64 = 1.0;

pub struct Throttle {
    gate: Mutex<Instant>,
    window: Mutex<Window>,
    window_changed: Notify,
    rate: Mutex<Rate>,
}

struct Window {
    limit: usize,
    max: usize,
    in_flight: usize,
    calm: usize,
}

struct Rate {
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    per_sec: f64,
    /// `None`: fixed rate (told by the user); else the probe's state.
    probe: Option<Probe>,
}

struct Probe {
    seen_throttle: bool,
    last_change: Instant,
}

fn limiter(per_sec: f64) -> Option<Arc<DefaultDirectRateLimiter>> {
    // governor counts whole cells per period; express fractional rates per minute.
    let per_min = (per_sec * 60.0).round().max(1.0) as u32;
    // A burst of a tenth of a second, not a whole second: at a rate equal to the
    // server's, a full-second burst drains the server's bucket exactly, so any clock
    // jitter trips a 429 whose Retry-After stalls every worker (measured: 74% of R).
    let burst = (per_sec / 10.0).ceil().max(1.0) as u32;
    let quota = Quota::per_minute(std::num::NonZeroU32::new(per_min)?)
        .allow_burst(std::num::NonZeroU32::new(burst)?);
    Some(Arc::new(RateLimiter::direct(quota)))
}

/// Released when a request has its answer.
pub struct Slot<'a> {
    throttle: &'a Throttle,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut w = self.throttle.lock_window();
        w.in_flight = w.in_flight.saturating_sub(1);
        drop(w);
        self.throttle.window_changed.notify_waiters();
    }
}

impl Throttle {
    pub fn new(concurrency: usize, rate: Option<f64>) -> Throttle {
        let concurrency = concurrency.max(1);
        let (per_sec, probe) = match rate {
            Some(r) => (r, None),
            None => (
                START_RATE,
                Some(Probe {
                    seen_throttle: false,
                    last_change: Instant::now(),
                }),
            ),
        };
        Throttle {
            gate: Mutex::new(Instant::now()),
            window: Mutex::new(Window {
                limit: concurrency,
                max: concurrency,
                in_flight: 0,
                calm: 0,
            }),
            window_changed: Notify::new(),
            rate: Mutex::new(Rate {
                limiter: limiter(per_sec),
                per_sec,
                probe,
            }),
        }
    }

    fn lock_window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_rate(&self) -> std::sync::MutexGuard<'_, Rate> {
        self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place in the concurrency window, the rate, and the Retry-After gate,
    /// in that order, so that the gate is the last thing checked before sending.
    pub async fn admit(&self) -> Slot<'_> {
        loop {
            let notified = self.window_changed.notified();
            {
                let mut w = self.lock_window();
                if w.in_flight < w.limit {
                    w.in_flight += 1;
                    break;
                }
            }
            notified.await;
        }
        let slot = Slot { throttle: self };
        let limiter = self.lock_rate().limiter.clone();
        if let Some(l) = limiter {
            l.until_ready().await;
        }
        self.wait_gate().await;
        slot
    }

    /// Sleeps until no Retry-After window is open.
    pub async fn wait_gate(&self) {
        loop {
            let until = *self.gate.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if until <= now {
                return;
            }
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// When the gate opens, if it is closed now.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = *self.gate.lock().unwrap_or_else(|e| e.into_inner());
        until.checked_duration_since(Instant::now())
    }

    /// A 429: nobody sends before `retry_after` has passed; fewer in flight, slower rate.
    pub fn on_throttled(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        {
            let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            if *gate < until {
                *gate = until;
            }
        }
        {
            let mut w = self.lock_window();
            w.limit = (w.limit * 3 / 4).max(1);
            w.calm = 0;
        }
        let mut r = self.lock_rate();
        let per_sec = r.per_sec;
        if let Some(probe) = r.probe.as_mut() {
            // Only the first 429 of a burst counts: the others were already on their way.
            if probe.last_change < until - retry_after {
                probe.seen_throttle = true;
                probe.last_change = until;
                r.per_sec = (per_sec * 0.85).max(MIN_RATE);
                r.limiter = limiter(r.per_sec);
                tracing::info!(rate = r.per_sec, "throttled by Graph: slowing down");
            }
        }
    }

    /// A request went through: widen the window, and probe a little faster when calm.
    pub fn on_success(&self) {
        {
            let mut w = self.lock_window();
            w.calm += 1;
            if w.calm >= w.limit * 4 && w.limit < w.max {
                w.limit += 1;
                w.calm = 0;
                drop(w);
                self.window_changed.notify_waiters();
            }
        }
        let mut r = self.lock_rate();
        let per_sec = r.per_sec;
        if let Some(probe) = r.probe.as_mut() {
            let now = Instant::now();
            if now >= probe.last_change + Duration::from_secs(1) {
                probe.last_change = now;
                // Slow start until the first 429, then additive increase.
                let next = if probe.seen_throttle {
                    per_sec + (per_sec * 0.01).max(0.25)
                } else {
                    per_sec * 1.3
                };
                r.per_sec = next;
                r.limiter = limiter(next);
            }
        }
    }

    pub fn current_rate(&self) -> f64 {
        self.lock_rate().per_sec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_429_closes_the_gate_for_everyone() {
        let t = Throttle::new(4, Some(1000.0));
        t.on_throttled(Duration::from_millis(300));
        let start = Instant::now();
        let _slot = t.admit().await;
        assert!(start.elapsed() >= Duration::from_millis(290));
    }

    #[tokio::test]
    async fn window_limits_in_flight() {
        let t = Throttle::new(2, None);
        let a = t.admit().await;
        let _b = t.admit().await;
        let waited = tokio::time::timeout(Duration::from_millis(100), t.admit()).await;
        assert!(waited.is_err(), "a third request must wait");
        drop(a);
        let got = tokio::time::timeout(Duration::from_millis(500), t.admit()).await;
        assert!(got.is_ok());
    }
}

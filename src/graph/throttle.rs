//! Keeps every request inside Graph's limits: a shared Retry-After gate (one 429 pauses
//! every worker), and the window and pacing rate that [`super::adaptive`] learns (or the
//! rate `--rate` gives, as a ceiling).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::adaptive::{Controller, Kind, Outcome, Sent};

/// Pacing lets a tenth of a second's worth of requests go at once, no more: at a rate
/// equal to the server's, a full-second burst drains its bucket exactly and any jitter
/// trips a 429 whose Retry-After stalls every worker.
const BURST_SECONDS: f64 = 0.1;

pub struct Throttle {
    epoch: Instant,
    gate: Mutex<Instant>,
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    ctl: Controller,
    /// Places taken, including requests still waiting for the gate or their pacing turn.
    in_flight: usize,
    /// Requests that have left and are unanswered: what the server sees in flight, and
    /// what the controller compares with a concurrency cap (places waiting their pacing
    /// turn would make a cap look far higher than it is).
    departed: usize,
    /// Pacing (GCRA): when the next request is due if sends were perfectly even.
    due: Instant,
}

/// A place in the window; released when dropped. [`Slot::finish`] also tells the
/// controller how the request went.
pub struct Slot<'a> {
    throttle: &'a Throttle,
    sent: Sent,
    departed: bool,
}

impl Slot<'_> {
    /// The answer came (or the request failed): latency and outcome teach the controller.
    pub fn finish(self, kind: Kind, outcome: Outcome) {
        let now = self.throttle.since_epoch(Instant::now());
        self.throttle
            .lock()
            .ctl
            .on_answer(now, kind, self.sent, outcome);
        // Drop releases the place and wakes the waiters (the window may have grown).
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut st = self.throttle.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        if self.departed {
            st.departed = st.departed.saturating_sub(1);
        }
        drop(st);
        self.throttle.changed.notify_waiters();
    }
}

impl Throttle {
    /// `concurrency`: most requests in flight ever (the learned window stays below it);
    /// `rate`: at most this many per second (`None`: found by the controller).
    pub fn new(concurrency: usize, rate: Option<f64>) -> Throttle {
        let now = Instant::now();
        Throttle {
            epoch: now,
            gate: Mutex::new(now),
            state: Mutex::new(State {
                ctl: Controller::new(concurrency.max(1), rate),
                in_flight: 0,
                departed: 0,
                due: now,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn since_epoch(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.epoch)
    }

    fn gate_until(&self) -> Instant {
        *self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place in the window, then for the Retry-After gate and the pacing rate;
    /// the gate is checked again after pacing, so that nothing leaves inside a window.
    pub async fn admit(&self) -> Slot<'_> {
        loop {
            let notified = self.changed.notified();
            {
                let mut st = self.lock();
                if st.in_flight < st.ctl.window() {
                    st.in_flight += 1;
                    break;
                }
            }
            notified.await;
        }
        // Held from here: released by drop even if this future is cancelled while waiting.
        let mut slot = Slot {
            throttle: self,
            sent: Sent {
                at: Duration::ZERO,
                in_flight: 0,
            },
            departed: false,
        };
        loop {
            self.wait_gate().await;
            let send_at = {
                let mut st = self.lock();
                let now = Instant::now();
                let rate = st.ctl.rate().max(0.01);
                let interval = Duration::from_secs_f64(1.0 / rate);
                let tolerance = Duration::from_secs_f64((BURST_SECONDS - 1.0 / rate).max(0.0));
                let due = st.due.max(now);
                st.due = due + interval;
                due.checked_sub(tolerance).map_or(now, |t| t.max(now))
            };
            tokio::time::sleep_until(send_at).await;
            if self.gate_until() <= Instant::now() {
                break;
            }
        }
        let now = Instant::now();
        let mut st = self.lock();
        st.ctl.on_send(self.since_epoch(now));
        st.departed += 1;
        slot.departed = true;
        slot.sent = Sent {
            at: self.since_epoch(now),
            in_flight: st.departed,
        };
        drop(st);
        slot
    }

    /// Sleeps until no Retry-After window is open.
    pub async fn wait_gate(&self) {
        loop {
            let until = self.gate_until();
            if until <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }

    /// When the gate opens, if it is closed now.
    pub fn paused_for(&self) -> Option<Duration> {
        self.gate_until().checked_duration_since(Instant::now())
    }

    /// A 429: nobody sends before `retry_after` has passed. (What the 429 says about the
    /// limits is learned from [`Slot::finish`] with [`Outcome::Throttled`].)
    pub fn on_throttled(&self, retry_after: Duration) {
        let now = Instant::now();
        let until = now + retry_after;
        {
            let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            if *gate < until {
                *gate = until;
            }
        }
        self.lock()
            .ctl
            .on_gate(self.since_epoch(now), self.since_epoch(until));
    }

    /// Kept for callers that only know "it worked": the controller learns from
    /// [`Slot::finish`], which also knows the latency, so there is nothing to add here.
    pub fn on_success(&self) {}

    /// The pacing rate now (requests per second).
    pub fn current_rate(&self) -> f64 {
        self.lock().ctl.rate()
    }

    /// Requests holding a place in the window now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Most requests allowed in flight now.
    pub fn window(&self) -> usize {
        self.lock().ctl.window()
    }

    /// `--concurrency`: the window never goes above it.
    pub fn ceiling(&self) -> usize {
        self.lock().ctl.ceiling()
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

    #[tokio::test]
    async fn a_told_rate_paces_sends() {
        let t = Throttle::new(256, Some(100.0));
        let start = Instant::now();
        for _ in 0..41 {
            t.admit().await.finish(Kind::Write, Outcome::Answered);
        }
        // 41 sends at 100/s: 0.4 s, less the tenth of a second of burst allowed at first.
        let took = start.elapsed().as_secs_f64();
        assert!((0.29..=0.6).contains(&took), "took {took} s");
    }

    #[tokio::test]
    async fn slow_answers_widen_the_window() {
        // Told 50/s with answers taking 1 s: Little's law needs 50 in flight.
        let t = Throttle::new(256, Some(50.0));
        let mut ctl = t.lock();
        for i in 0..200u64 {
            let at = Duration::from_millis(20 * i);
            ctl.ctl.on_send(at);
            let sent = Sent { at, in_flight: 50 };
            ctl.ctl.on_answer(
                at + Duration::from_secs(1),
                Kind::Write,
                sent,
                Outcome::Answered,
            );
        }
        assert!(ctl.ctl.window() >= 50, "window {}", ctl.ctl.window());
        drop(ctl);
        assert!(
            Throttle::new(8, Some(50.0)).window() <= 8,
            "--concurrency stays a ceiling"
        );
    }
}

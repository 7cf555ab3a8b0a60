//! Learns how fast (a pacing rate) and how wide (requests in flight) Graph lets this app
//! send, from 429s, latency and Little's law, without being told either.
//!
//! The model, and where its parts come from:
//! - The window follows the rate: in flight = rate x latency (Little's law), with headroom
//!   for slow answers, so a slow server (1 s per photo write) gets 50 in flight at 50/s
//!   instead of being starved by a fixed window.
//! - The rate starts low and grows 1.5x per round trip while every request is answered
//!   and the rate is what holds the sends back (slow start, as in TCP and BBR's startup).
//! - A 429 from a rate limit: the server's token bucket has just run dry. The new rate is
//!   the rate of the bucket that fits the sends since the last Retry-After window (largest
//!   R whose bucket of R x 1 s would be empty now), kept between 50% and 95% of the send
//!   rate that drew it. After that it holds for a while (30 s, doubling while 429s keep
//!   coming at the same rate) and then probes upward, slowly at first and faster the longer
//!   nothing is refused (the probing shape of CUBIC and of the AWS SDKs' adaptive retry).
//! - A 429 at more in flight than ever went through may be a concurrency cap: the window
//!   then also stays one below it (a cap never refuses below that; a rate limit does, and
//!   the guess is dropped), and probes one higher after a hold that doubles each time the
//!   probe is refused. The window needs headroom (`WINDOW_SLACK`) for stalled requests.
//! - Rising latency (TCP Vegas, Netflix's Gradient2, Envoy's adaptive concurrency): per
//!   kind of request, the median of the last answers against a slowly rising minimum; when
//!   the median passes twice the baseline (+50 ms) the rate drops to 90% of what the server
//!   delivered (so the queue drains), regrows 5% a round, and Little's law uses at most
//!   that latency limit for the window.
//!
//! Time comes in as a [`Duration`] since any fixed start, so the same code runs against the
//! clock in [`super::throttle`] and against the simulated server in the tests.

use std::collections::VecDeque;
use std::time::Duration;

/// First rate when none is told: well under any tenant's limits, reached in one round trip.
const START_RATE: f64 = 20.0;
const MIN_RATE: f64 = 0.5;
/// Growth per round in slow start.
const STARTUP_GAIN: f64 = 1.5;
/// How long the rate stays where a 429 put it before probing above it.
const HOLD: f64 = 30.0;
const MAX_HOLD: f64 = 300.0;
/// Probing growth per second just after a hold; doubles every `HOLD` seconds, up to `MAX_PROBE`.
const PROBE_GAIN: f64 = 0.01;
const MAX_PROBE: f64 = 0.25;
/// Burst the rate fit assumes a server's bucket holds, in seconds of its rate.
const BUCKET_SECONDS: f64 = 1.0;
/// Latency assumed before any answer came back.
const FIRST_LATENCY: f64 = 0.5;
/// Window headroom over rate x latency: answers vary, and a stalled request keeps its place.
const WINDOW_GAIN: f64 = 1.5;
const WINDOW_SLACK: usize = 8;
/// Sends remembered for the rate fit.
const LOG_MAX: usize = 8192;
/// Answers per kind whose median is the current latency.
const RECENT: usize = 15;
/// Latency above `CONGESTED_RATIO` x baseline + `CONGESTED_SLACK` means a queue is building.
const CONGESTED_RATIO: f64 = 2.0;
const CONGESTED_SLACK: f64 = 0.05;
/// How fast a latency baseline may rise towards the median, per answer.
const BASE_RISE: f64 = 0.001;
/// Regrowth per round after a latency cut (latency is a gentle signal, unlike a 429).
const RECOVER_GAIN: f64 = 1.05;

/// Requests whose latencies are compared with each other: a photo write takes far longer
/// than a user look-up, and a switch from one to the other is not congestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// How a request ended, as far as the limits are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Graph answered (success, or a final answer such as 404): its latency counts.
    Answered,
    /// 429.
    Throttled,
    /// 5xx, timeout, reset: retried elsewhere; says nothing about the limits.
    Failed,
}

/// One request as it left: when, and how many were in flight with it (itself included).
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub at: Duration,
    pub in_flight: usize,
}

#[derive(Debug, Default)]
struct Latency {
    recent: VecDeque<f64>,
    base: Option<f64>,
}

#[derive(Debug)]
pub struct Controller {
    ceiling: usize,
    told: Option<f64>,
    rate: f64,
    startup: bool,
    /// After a cut, the rate holds until `hold_until`, then probes upward.
    hold: f64,
    hold_until: f64,
    /// Send rate when the last rate-429 came, to tell a repeat from a new level.
    last_fail: Option<f64>,
    /// Learned concurrency cap (`ceiling` until one is seen).
    cap: usize,
    cap_hold: f64,
    cap_probe_at: Option<f64>,
    /// The window is one above the learned cap, to see whether the server allows more.
    probing: bool,
    /// Most in flight the server ever accepted.
    most_accepted: usize,
    /// Sends since the last Retry-After window ended, for the rate fit.
    log: VecDeque<f64>,
    log_start: f64,
    /// Tokens (in seconds of rate) the fit assumes the bucket held at `log_start`.
    log_tokens: f64,
    /// Answers to requests sent before this are part of a 429 burst already acted on.
    last_cut: f64,
    congested_at: Option<f64>,
    mean_latency: Option<f64>,
    /// Answer times in the last second: the rate the server delivers.
    answers: VecDeque<f64>,
    /// After a latency cut the rate regrows by `RECOVER_GAIN` a round, no hold.
    recovering: bool,
    read: Latency,
    write: Latency,
    round_start: Option<f64>,
    round_sends: usize,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Controller {
    /// `ceiling`: most in flight ever (`--concurrency`); `told`: at most this rate (`--rate`).
    pub fn new(ceiling: usize, told: Option<f64>) -> Controller {
        let rate = told.unwrap_or(START_RATE).max(MIN_RATE);
        Controller {
            ceiling: ceiling.max(1),
            told,
            rate,
            startup: told.is_none(),
            hold: HOLD,
            hold_until: 0.0,
            last_fail: None,
            probing: false,
            cap: ceiling.max(1),
            cap_hold: HOLD / 2.0,
            cap_probe_at: None,
            most_accepted: 0,
            log: VecDeque::new(),
            log_start: 0.0,
            log_tokens: BUCKET_SECONDS,
            last_cut: -1.0,
            congested_at: None,
            mean_latency: None,
            answers: VecDeque::new(),
            recovering: false,
            read: Latency::default(),
            write: Latency::default(),
            round_start: None,
            round_sends: 0,
        }
    }

    /// Requests per second to pace sends at.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Most requests in flight now: what the rate needs by Little's law, within the caps.
    pub fn window(&self) -> usize {
        let mut latency = self.mean_latency.unwrap_or(FIRST_LATENCY);
        // Answers slower than the congestion limit are a queue: more in flight only
        // lengthens it, so Little's law uses at most that limit.
        if let Some(base) = self
            .read
            .base
            .into_iter()
            .chain(self.write.base)
            .reduce(f64::max)
        {
            latency = latency.min(CONGESTED_RATIO * base + CONGESTED_SLACK);
        }
        let need = (self.rate * latency * WINDOW_GAIN).ceil() as usize + WINDOW_SLACK;
        need.min(self.cap).min(self.ceiling).max(1)
    }

    pub fn ceiling(&self) -> usize {
        self.ceiling
    }

    fn round_len(&self) -> f64 {
        self.mean_latency.unwrap_or(FIRST_LATENCY).clamp(0.25, 2.0)
    }

    fn cap_rate(&self, r: f64) -> f64 {
        match self.told {
            Some(t) => r.min(t),
            None => r,
        }
        .max(MIN_RATE)
    }

    /// A request is leaving now.
    pub fn on_send(&mut self, now: Duration) {
        let now = secs(now);
        self.round_start.get_or_insert(now);
        self.round_sends += 1;
        self.log.push_back(now);
        if self.log.len() > LOG_MAX {
            // The fit then assumes a full bucket at the oldest send kept: it errs low.
            self.log.pop_front();
            self.log_start = self.log.front().copied().unwrap_or(now);
            self.log_tokens = BUCKET_SECONDS;
        }
        self.tick(now);
    }

    /// Once per round: grow the rate if it is what holds sends back and nothing objects.
    fn tick(&mut self, now: f64) {
        let Some(start) = self.round_start else {
            return;
        };
        let dt = now - start;
        if dt < self.round_len() {
            return;
        }
        // The rate is the bottleneck when sends came close to it; else the window, the
        // work itself or a Retry-After window held them back, and a higher rate is unused.
        let binding = self.round_sends as f64 >= 0.8 * self.rate * dt;
        self.round_start = Some(now);
        self.round_sends = 0;
        if self.cap < self.ceiling
            && self.cap_probe_at.is_some_and(|t| now >= t)
            && self.window() >= self.cap
        {
            self.cap += 1;
            self.probing = true;
            self.cap_probe_at = None;
        }
        let calm = self
            .congested_at
            .is_none_or(|t| now - t >= self.round_len());
        if !binding || !calm {
            return;
        }
        if self.startup {
            self.rate = self.cap_rate(self.rate * STARTUP_GAIN);
        } else if self.recovering {
            self.rate = self.cap_rate(self.rate * RECOVER_GAIN);
        } else if now >= self.hold_until {
            let since = now - self.hold_until;
            let gain = (PROBE_GAIN * 2f64.powf(since / HOLD)).min(MAX_PROBE);
            self.rate = self.cap_rate(self.rate * (1.0 + gain).powf(dt));
        }
    }

    /// The answer to a request sent as `sent` came back now.
    pub fn on_answer(&mut self, now: Duration, kind: Kind, sent: Sent, outcome: Outcome) {
        let now_s = secs(now);
        let sent_s = secs(sent.at);
        match outcome {
            Outcome::Answered => self.answered(now_s, kind, sent_s, sent.in_flight),
            Outcome::Throttled => self.throttled(now_s, sent_s, sent.in_flight),
            Outcome::Failed => {}
        }
        self.tick(now_s);
    }

    /// A Retry-After window runs until `until`: nothing is sent before, and a server's
    /// bucket refills meanwhile (the fit counts from there).
    pub fn on_gate(&mut self, now: Duration, until: Duration) {
        let (now, until) = (secs(now), secs(until));
        if until > self.log_start {
            self.log.clear();
            self.log_start = until;
            self.log_tokens = (until - now).clamp(0.0, BUCKET_SECONDS);
        }
    }

    fn answered(&mut self, now: f64, kind: Kind, sent: f64, in_flight: usize) {
        let latency = (now - sent).max(0.0);
        self.answers.push_back(now);
        while self.answers.front().is_some_and(|&t| t < now - 1.0) {
            self.answers.pop_front();
        }
        self.most_accepted = self.most_accepted.max(in_flight);
        if self.probing && in_flight >= self.cap {
            // The probe one above the cap went through: keep it, try the next one soon.
            self.probing = false;
            self.cap_probe_at = Some(now + 2.0 * self.round_len());
        }
        self.mean_latency = Some(match self.mean_latency {
            None => latency,
            Some(m) => m + 0.05 * (latency - m),
        });
        let l = match kind {
            Kind::Read => &mut self.read,
            Kind::Write => &mut self.write,
        };
        l.recent.push_back(latency);
        if l.recent.len() > RECENT {
            l.recent.pop_front();
        }
        if l.recent.len() < 5 {
            return;
        }
        let mut sorted: Vec<f64> = l.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        // The baseline follows the median down at once and up slowly, so a server that
        // simply got slower for everyone is accepted after a while (Gradient2's long window).
        let base = match l.base {
            Some(b) if median >= b => b + BASE_RISE * (median - b),
            _ => median,
        };
        l.base = Some(base);
        let limit = CONGESTED_RATIO * base + CONGESTED_SLACK;
        let fresh = self
            .congested_at
            .is_none_or(|t| sent > t && now - t > self.round_len());
        if median > limit && fresh {
            self.congested_at = Some(now);
            self.startup = false;
            // Below what the server delivered, so that the queue drains (BBR's drain).
            let delivered = self.answers.len() as f64;
            self.rate = self.cap_rate(0.9 * self.rate.min(delivered));
            self.recovering = true;
            tracing::debug!(
                rate = self.rate,
                median,
                base,
                "answers slowing down: lower rate"
            );
        }
    }

    fn throttled(&mut self, now: f64, sent: f64, in_flight: usize) {
        // Only the first 429 of a burst counts: the others were already on their way.
        if sent <= self.last_cut {
            return;
        }
        self.last_cut = now;
        self.startup = false;
        if self.cap < self.ceiling && self.probing && in_flight >= self.cap {
            // A probe one above the cap was refused: back, and wait longer for the next.
            self.cap = (self.cap - 1).max(1);
            self.probing = false;
            self.cap_hold = (self.cap_hold * 2.0).min(MAX_HOLD);
            self.cap_probe_at = Some(now + self.cap_hold);
            return;
        }
        if self.cap >= self.ceiling && in_flight > self.most_accepted {
            // Refused at more in flight than ever went through: a concurrency cap, or a
            // rate limit met while growing. The cap is the cheaper guess to test: the
            // window stays one below and the rate is not cut (under a cap it was never the
            // problem; only a slow start's overshoot goes). Under a cap nothing is refused
            // any more (the client never counts fewer in flight than the server); a rate
            // limit refuses again below it, and is then cut as one.
            self.rate = self.cap_rate(self.rate.min(self.sent_last_second(now)));
            self.cap = in_flight.saturating_sub(1).max(1);
            self.probing = false;
            self.cap_probe_at = Some(now + self.cap_hold);
            tracing::info!(
                cap = self.cap,
                "Graph refused more in flight than ever: window capped"
            );
            return;
        }
        // Refused within what a cap would allow: a rate limit (any cap guess was wrong).
        self.cap = self.ceiling;
        self.probing = false;
        self.cut_rate(now);
    }

    fn cut_rate(&mut self, now: f64) {
        let fail_rate = self.sent_last_second(now);
        let fit = self.fit(fail_rate);
        self.rate = self.cap_rate((0.97 * fit).clamp(0.5 * fail_rate, 0.95 * fail_rate));
        if self.last_fail.is_some_and(|f| fail_rate < f * 1.15) {
            self.hold = (self.hold * 2.0).min(MAX_HOLD);
        }
        self.last_fail = Some(fail_rate);
        self.hold_until = now + self.hold;
        self.recovering = false;
        tracing::info!(rate = self.rate, "throttled by Graph: slowing down");
    }

    fn sent_last_second(&self, now: f64) -> f64 {
        let n = self
            .log
            .iter()
            .rev()
            .take_while(|&&t| t > now - 1.0)
            .count();
        (n as f64).max(MIN_RATE)
    }

    /// Largest rate R whose bucket (R x `BUCKET_SECONDS` deep, holding `log_tokens` seconds
    /// of R at `log_start`) would have run dry by the last send: the rate that explains a
    /// 429 now. Monotone in R, so bisection finds it.
    fn fit(&self, fail_rate: f64) -> f64 {
        let dry = |r: f64| {
            let cap = r * BUCKET_SECONDS;
            let mut tokens = r * self.log_tokens;
            let mut t = self.log_start;
            for &x in &self.log {
                tokens = (tokens + (x - t).max(0.0) * r).min(cap);
                t = x;
                if tokens < 1.0 {
                    return true;
                }
                tokens -= 1.0;
            }
            false
        };
        let (mut lo, mut hi) = (MIN_RATE, (fail_rate * 2.0).max(1.0));
        if !dry(lo) {
            return lo;
        }
        for _ in 0..30 {
            let mid = (lo + hi) / 2.0;
            if dry(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

#[cfg(test)]
#[path = "adaptive_sim.rs"]
mod sim;

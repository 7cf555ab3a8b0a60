//! Limits and faults, decided before a Graph request is served: the request-rate token
//! bucket, the Retry-After window, photo-write slots (MailboxConcurrency), 503/504 faults
//! and stalls.

use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use rand::{Rng, SeedableRng};

use super::config::{EmulatorConfig, RetryAfterHeader};
use super::replies::{Throttled, graph_error, http_date, too_many};
use super::server::Stats;

/// Tolerance for requests already on their way when a 429 was sent.
const IN_TRANSIT: Duration = Duration::from_millis(50);

/// Longest refusal window (a `Retry-After` of 1e9 s must not overflow the clock).
const MAX_WINDOW: Duration = Duration::from_secs(10 * 365 * 86_400);

/// What the emulator lets through.
#[derive(Debug)]
pub struct Admitted {
    /// Wait this long before serving.
    pub stall: Option<Duration>,
    /// The request holds a photo-write slot (release it when done).
    pub write_slot: bool,
}

pub struct Limits {
    bucket: f64,
    bucket_at: Instant,
    /// (announced at, open until) of the latest 429.
    window: Option<(Instant, Instant)>,
    writes_in_flight: usize,
    rng: rand::rngs::StdRng,
}

impl Limits {
    pub fn new(config: &EmulatorConfig) -> Limits {
        Limits {
            bucket: config.burst.or(config.rate).unwrap_or(0.0),
            bucket_at: Instant::now(),
            window: None,
            writes_in_flight: 0,
            rng: rand::rngs::StdRng::seed_from_u64(config.seed),
        }
    }

    /// Throttle, fault and stall decisions for one Graph request (`is_write`: a photo PUT).
    pub fn admit(
        &mut self,
        config: &EmulatorConfig,
        stats: &mut Stats,
        is_write: bool,
    ) -> Result<Admitted, Response> {
        let now = Instant::now();
        if let Some((announced, until)) = self.window
            && now < until
        {
            if now > announced + IN_TRANSIT {
                stats.violations += 1;
            }
            stats.throttled += 1;
            return Err(too_many(
                Throttled::Rate,
                &in_window_header(config, now, until),
            ));
        }
        if self.rate_exceeded(config, now) {
            return Err(self.throttle(config, stats, now, Throttled::Rate));
        }
        let write_slot = is_write && config.max_concurrent.is_some();
        if let Some(max) = config.max_concurrent
            && is_write
        {
            if self.writes_in_flight >= max {
                stats.write_throttled += 1;
                return Err(self.throttle(config, stats, now, Throttled::MailboxConcurrency));
            }
            self.writes_in_flight += 1;
            stats.max_writes_in_flight = stats.max_writes_in_flight.max(self.writes_in_flight);
        }
        if config.fail_rate > 0.0 && self.rng.random_bool(config.fail_rate.clamp(0.0, 1.0)) {
            if write_slot {
                self.release_write();
            }
            stats.faults += 1;
            return Err(self.fault());
        }
        let stall = (config.stall_rate > 0.0
            && self.rng.random_bool(config.stall_rate.clamp(0.0, 1.0)))
        .then_some(config.stall);
        if stall.is_some() {
            stats.stalls += 1;
        }
        Ok(Admitted { stall, write_slot })
    }

    pub fn release_write(&mut self) {
        self.writes_in_flight = self.writes_in_flight.saturating_sub(1);
    }

    fn rate_exceeded(&mut self, config: &EmulatorConfig, now: Instant) -> bool {
        let Some(rate) = config.rate else {
            return false;
        };
        let burst = config.burst.unwrap_or(rate).max(1.0);
        let elapsed = (now - self.bucket_at).as_secs_f64();
        self.bucket = (self.bucket + elapsed * rate).min(burst);
        self.bucket_at = now;
        if self.bucket >= 1.0 {
            self.bucket -= 1.0;
            false
        } else {
            true
        }
    }

    /// Opens a refusal window and answers the 429 that announces it.
    fn throttle(
        &mut self,
        config: &EmulatorConfig,
        stats: &mut Stats,
        now: Instant,
        why: Throttled,
    ) -> Response {
        let length = window_length(config).min(MAX_WINDOW);
        let until = now.checked_add(length).unwrap_or(now);
        self.window = Some((now, until));
        stats.throttled += 1;
        let header = match &config.retry_after_header {
            None => config.retry_after.to_string(),
            Some(RetryAfterHeader::Literal(s)) => s.clone(),
            Some(RetryAfterHeader::DateIn(n)) => {
                http_date(SystemTime::now() + Duration::from_secs(*n))
            }
        };
        too_many(why, &header)
    }

    fn fault(&mut self) -> Response {
        match self.rng.random_range(0..3u8) {
            0 => {
                let mut r = graph_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry.",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            1 => graph_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
            ),
            _ => graph_error(
                StatusCode::GATEWAY_TIMEOUT,
                "gatewayTimeout",
                "The gateway did not receive a response in time.",
            ),
        }
    }
}

/// How long the emulator refuses after a 429: what it announced when that is whole
/// seconds or a date it made, else `retry_after`.
fn window_length(config: &EmulatorConfig) -> Duration {
    let secs = match &config.retry_after_header {
        None => config.retry_after,
        Some(RetryAfterHeader::DateIn(n)) => *n,
        Some(RetryAfterHeader::Literal(s)) => s.trim().parse().unwrap_or(config.retry_after),
    };
    Duration::from_secs(secs)
}

/// `Retry-After` for a request that arrives inside an open window.
fn in_window_header(config: &EmulatorConfig, now: Instant, until: Instant) -> String {
    let left = until - now;
    match &config.retry_after_header {
        None => (left.as_secs_f64().ceil().max(1.0) as u64).to_string(),
        Some(RetryAfterHeader::Literal(s)) => s.clone(),
        Some(RetryAfterHeader::DateIn(_)) => http_date(SystemTime::now() + left),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EmulatorConfig {
        EmulatorConfig {
            max_concurrent: Some(2),
            retry_after: 0,
            ..EmulatorConfig::default()
        }
    }

    #[test]
    fn write_slots_refuse_beyond_max() {
        let cfg = config();
        let mut limits = Limits::new(&cfg);
        let mut stats = Stats::default();
        assert!(limits.admit(&cfg, &mut stats, true).unwrap().write_slot);
        assert!(limits.admit(&cfg, &mut stats, true).is_ok());
        // Reads never take a slot.
        assert!(!limits.admit(&cfg, &mut stats, false).unwrap().write_slot);
        let refused = limits.admit(&cfg, &mut stats, true).unwrap_err();
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "0");
        assert_eq!((stats.write_throttled, stats.max_writes_in_flight), (1, 2));
        limits.release_write();
        assert!(limits.admit(&cfg, &mut stats, true).is_ok());
    }

    #[test]
    fn literal_retry_after_is_sent_as_given() {
        let cfg = EmulatorConfig {
            rate: Some(1.0),
            burst: Some(1.0),
            retry_after_header: Some(RetryAfterHeader::parse("inf")),
            ..EmulatorConfig::default()
        };
        let mut limits = Limits::new(&cfg);
        let mut stats = Stats::default();
        assert!(limits.admit(&cfg, &mut stats, false).is_ok());
        let r = limits.admit(&cfg, &mut stats, false).unwrap_err();
        assert_eq!(r.headers()[header::RETRY_AFTER], "inf");
        // Inside the window (retry_after = 2 s) it keeps saying the same.
        let r = limits.admit(&cfg, &mut stats, false).unwrap_err();
        assert_eq!(r.headers()[header::RETRY_AFTER], "inf");
        assert_eq!(stats.throttled, 2);
    }

    #[test]
    fn huge_windows_do_not_overflow() {
        let cfg = EmulatorConfig {
            rate: Some(1.0),
            burst: Some(1.0),
            retry_after_header: Some(RetryAfterHeader::parse("18446744073709551615")),
            ..EmulatorConfig::default()
        };
        let mut limits = Limits::new(&cfg);
        let mut stats = Stats::default();
        let _ = limits.admit(&cfg, &mut stats, false);
        let r = limits.admit(&cfg, &mut stats, false).unwrap_err();
        assert_eq!(r.headers()[header::RETRY_AFTER], "18446744073709551615");
    }
}

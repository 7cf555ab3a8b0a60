//! Reading servers' answers defensively: `Retry-After` in both of its forms with a cap,
//! bodies read with a size limit, and the same-origin rule for links and redirects.

use std::time::{Duration, SystemTime};

/// The longest wait a server may ask for before a retry. Beyond it the request fails
/// with a clear reason instead of a silent hour-long (or endless) wait.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What a `Retry-After` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAfter {
    /// No header.
    Absent,
    /// Present but unusable (negative, `inf`, `1e20`, garbage): back off as without one.
    Unusable,
    /// A usable wait (possibly zero: "retry now").
    Wait(Duration),
    /// A wait beyond [`MAX_RETRY_AFTER`]; the text says what the server asked.
    TooLong(String),
}

/// Parses `Retry-After` as whole seconds (RFC 9110) or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: Option<&str>, now: SystemTime) -> RetryAfter {
    let Some(raw) = value else {
        return RetryAfter::Absent;
    };
    let v = raw.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than any sane wait: too long, whatever the exact number.
        let secs = if v.len() > 12 {
            u64::MAX
        } else {
            v.parse::<u64>().unwrap_or(u64::MAX)
        };
        return if secs > MAX_RETRY_AFTER.as_secs() {
            RetryAfter::TooLong(format!("{} s", clip(v)))
        } else {
            RetryAfter::Wait(Duration::from_secs(secs))
        };
    }
    match httpdate::parse_http_date(v) {
        Ok(at) => match at.duration_since(now) {
            Ok(d) if d > MAX_RETRY_AFTER => RetryAfter::TooLong(format!("until {}", clip(v))),
            Ok(d) => RetryAfter::Wait(d),
            // A date in the past: retry now.
            Err(_) => RetryAfter::Wait(Duration::ZERO),
        },
        Err(_) => RetryAfter::Unusable,
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The wait before the next try: the server's, or `fallback` when it gave none usable.
/// `Err` explains why the request is given up instead.
pub fn wait_for(ra: &RetryAfter, fallback: Duration) -> Result<Duration, String> {
    match ra {
        RetryAfter::Wait(d) => Ok(*d),
        RetryAfter::Absent | RetryAfter::Unusable => Ok(fallback),
        RetryAfter::TooLong(asked) => Err(format!(
            "the server asked to wait {asked} before retrying (Retry-After), more than the {} s this program waits; run again later",
            MAX_RETRY_AFTER.as_secs()
        )),
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (bytes).
    TooLarge(usize),
    /// The connection broke while reading.
    Cut(String),
}

/// Reads a body, refusing it as soon as it passes `limit` bytes (by its announced length,
/// or while streaming), so a hostile answer never costs more memory than the limit.
pub async fn read_limited(
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(BodyError::Cut(super::without_url(&e))),
        }
    }
}

/// Reads at most `limit` bytes of an error answer (the rest is not needed to explain it).
pub async fn read_prefix(resp: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - out.len();
                out.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    out
}

/// True when both URLs have the same scheme, host and port: the only places the bearer
/// token may go.
pub fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `scheme://host:port` of a URL, for messages.
pub fn origin_text(u: &reqwest::Url) -> String {
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.port_or_known_default().unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = |v: &str| parse_retry_after(Some(v), now);
        assert_eq!(p("3"), RetryAfter::Wait(Duration::from_secs(3)));
        assert_eq!(p(" 0 "), RetryAfter::Wait(Duration::ZERO));
        assert_eq!(p("300"), RetryAfter::Wait(MAX_RETRY_AFTER));
        assert!(matches!(p("301"), RetryAfter::TooLong(_)));
        assert!(matches!(p("1000000000"), RetryAfter::TooLong(_)));
        assert!(matches!(
            p("99999999999999999999999999999"),
            RetryAfter::TooLong(_)
        ));
        for junk in [
            "inf", "-inf", "NaN", "1e20", "-5", "1.5", "soon", "", "0x10",
        ] {
            assert_eq!(p(junk), RetryAfter::Unusable, "{junk:?}");
        }
        assert_eq!(parse_retry_after(None, now), RetryAfter::Absent);
        let in_ten = httpdate::fmt_http_date(now + Duration::from_secs(10));
        assert_eq!(p(&in_ten), RetryAfter::Wait(Duration::from_secs(10)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        assert_eq!(p(&past), RetryAfter::Wait(Duration::ZERO));
        let far = httpdate::fmt_http_date(now + Duration::from_secs(86_400));
        assert!(matches!(p(&far), RetryAfter::TooLong(_)));
    }

    #[test]
    fn waits_fall_back_or_fail_clearly() {
        let fb = Duration::from_millis(700);
        assert_eq!(wait_for(&RetryAfter::Unusable, fb), Ok(fb));
        assert_eq!(wait_for(&RetryAfter::Absent, fb), Ok(fb));
        assert_eq!(
            wait_for(&RetryAfter::Wait(Duration::from_secs(2)), fb),
            Ok(Duration::from_secs(2))
        );
        let e = wait_for(&RetryAfter::TooLong("1000000000 s".into()), fb).unwrap_err();
        assert!(e.contains("1000000000 s") && e.contains("300 s"), "{e}");
    }

    #[test]
    fn origins() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        let graph = u("https://graph.microsoft.com");
        assert!(same_origin(
            &graph,
            &u("https://graph.microsoft.com:443/v1.0/users?$skiptoken=x")
        ));
        assert!(same_origin(
            &graph,
            &u("https://GRAPH.microsoft.com/v1.0/users")
        ));
        assert!(!same_origin(
            &graph,
            &u("http://graph.microsoft.com/v1.0/users")
        ));
        assert!(!same_origin(
            &graph,
            &u("https://graph.microsoft.com:8443/v1.0/users")
        ));
        assert!(!same_origin(&graph, &u("https://evil.example/v1.0/users")));
        assert!(!same_origin(
            &graph,
            &u("https://graph.microsoft.com.evil.example/v1.0/users")
        ));
    }
}

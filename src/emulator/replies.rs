//! The answers the emulator builds: Graph's and Entra ID's error bodies, 429s with their
//! `Retry-After`, and HTTP dates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Graph's error body.
pub fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                    "request-id": uuid::Uuid::new_v4().to_string(),
                    "client-request-id": uuid::Uuid::new_v4().to_string(),
                }
            }
        })),
    )
        .into_response()
}

/// Sign-in errors look like Entra ID's, not Graph's.
pub fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    (
        status,
        Json(serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "timestamp": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}

/// Why a 429 was sent: the body names it as Graph does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    Rate,
    MailboxConcurrency,
}

/// A 429 with `retry_after` as its `Retry-After` header (sent as given).
pub fn too_many(why: Throttled, retry_after: &str) -> Response {
    let mut r = match why {
        Throttled::Rate => graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests. Please retry after the time given in Retry-After.",
        ),
        Throttled::MailboxConcurrency => graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
        ),
    };
    if let Ok(v) = HeaderValue::from_str(retry_after) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The Entra-backed photo service's `UnknownError`, whose message is itself JSON.
pub fn nested_unknown_error(status: StatusCode) -> Response {
    graph_error(status, "UnknownError", &unknown_error_message())
}

fn unknown_error_message() -> String {
    serde_json::json!({
        "errorCode": "ErrorUserResolutionFailedUserDoesNotExist",
        "message": "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ProfileNotFoundException' was thrown.",
    })
    .to_string()
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's IMF-fixdate).
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm), for days >= 0.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_825_600);
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 12:00:00 GMT");
    }

    #[test]
    fn nested_message_is_json() {
        let inner: serde_json::Value = serde_json::from_str(&unknown_error_message()).unwrap();
        assert_eq!(
            inner["errorCode"],
            "ErrorUserResolutionFailedUserDoesNotExist"
        );
    }
}

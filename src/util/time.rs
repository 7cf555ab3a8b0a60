//! The clock as the reports, manifests and state database print it.

use std::time::SystemTime;

/// Now, RFC 3339 UTC to the second: `2026-11-23T03:15:00Z`.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `at`, RFC 3339 UTC to the second.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Now, compact enough for a file name: `20261123T031500Z`.
pub fn now_compact() -> String {
    now_rfc3339().replace([':', '-'], "")
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        assert_eq!(super::rfc3339(t), "2026-11-18T11:06:40Z");
        let c = super::now_compact();
        assert!(c.len() == 16 && c.ends_with('Z') && !c.contains(':'), "{c}");
    }
}

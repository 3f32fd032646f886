//! Instants as Kubernetes writes them (`metav1.Time`): RFC 3339, UTC, whole seconds.
//!
//! The one place that writes and reads them: the policy's and the reconciler's `now` (written into
//! the hash annotations' `updateTimestamp`, the in-place-update record and the
//! `SidecarSetUpgradable` condition), and the planner's ordering of creation and Ready-transition
//! times (Kubernetes' `ActivePods` order).

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::jiff::Timestamp;

/// The current time, as `metav1.Time` marshals it (sub-second precision dropped).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_rfc3339(secs)
}

/// `unix_secs` as `metav1.Time` marshals it. Past jiff's range (year 9999) gives the epoch: no
/// clock reads that.
pub fn format_rfc3339(unix_secs: u64) -> String {
    let ts = i64::try_from(unix_secs)
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    // jiff's RFC 3339 display (no format string to interpret): whole seconds have no fraction, and
    // from 1970 to 9999 the year has four digits, which is `metav1.Time`'s layout.
    ts.to_string()
}

/// Nanoseconds since the Unix epoch, for ordering; `None` for absent, empty or malformed values,
/// which is Go's zero time (what an absent timestamp is; a Pod the API server returned never has a
/// malformed one).
pub fn parse_rfc3339(s: &str) -> Option<i128> {
    s.parse::<Timestamp>().ok().map(|t| t.as_nanosecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_metav1_time() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_782_900_000), "2026-07-01T10:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(parse_rfc3339(&now).is_some(), "{now}");
    }

    #[test]
    fn parses_kubernetes_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(
            parse_rfc3339("2026-07-01T12:00:00+02:00"),
            parse_rfc3339("2026-07-01T10:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2000-03-01T00:00:00Z"),
            Some(951_868_800_000_000_000)
        );
        assert!(parse_rfc3339("2026-07-01T10:00:00Z") < parse_rfc3339("2026-07-01T10:00:01Z"));
        assert_eq!(
            parse_rfc3339(&format_rfc3339(1_782_900_000)),
            Some(1_782_900_000_000_000_000)
        );
    }

    #[test]
    fn garbage_is_the_zero_time() {
        for s in [
            "",
            "null",
            "2026-07-01",
            "2026-13-01T00:00:00Z",
            "2026-07-01T10:00:00",
            "2026-07-01T10:00:00Zjunk",
            "２０２６-07-01T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }
}

//! Timestamp conversions to epoch milliseconds, one function per wire format, because every
//! platform picks its own unit (FORMATS.md §7): Unix seconds (Meta feed), epoch ms as number or
//! string (Messenger, X), X's `Wed Oct 10 20:19:24 +0000 2018`, and RFC 3339 (X Activity API,
//! Mastodon, generic). Arithmetic is checked, so absurd numbers become `None`, never overflow.

use chrono::DateTime;

/// Unix seconds to ms.
pub(crate) fn secs_to_ms(secs: i64) -> Option<i64> {
    secs.checked_mul(1000)
}

/// RFC 3339 / ISO 8601 with offset (`2022-08-30T23:09:54.070Z`, `2018-05-24T09:48:12+00:00`).
pub(crate) fn rfc3339_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// X v1.1 `created_at`: `Wed Oct 10 20:19:24 +0000 2018`.
pub(crate) fn twitter_date_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_str(text, "%a %b %d %H:%M:%S %z %Y")
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_lands_on_the_same_instant() {
        // 2018-10-10T20:19:24Z
        let ms = 1_539_202_764_000;
        assert_eq!(twitter_date_ms("Wed Oct 10 20:19:24 +0000 2018"), Some(ms));
        assert_eq!(rfc3339_ms("2018-10-10T20:19:24.000Z"), Some(ms));
        assert_eq!(rfc3339_ms("2018-10-10T22:19:24+02:00"), Some(ms));
        assert_eq!(secs_to_ms(1_539_202_764), Some(ms));
    }

    #[test]
    fn garbage_and_overflow_are_none() {
        assert_eq!(twitter_date_ms("yesterday"), None);
        assert_eq!(rfc3339_ms("2018-10-10"), None);
        assert_eq!(secs_to_ms(i64::MAX / 10), None);
    }
}

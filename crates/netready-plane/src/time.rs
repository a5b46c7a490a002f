//! Time as the plane keeps it: milliseconds since the Unix epoch in storage, RFC 3339 with
//! milliseconds in what it says. Below every other module: anything may use it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The canonical spelling of an instant, as reports are identified: `2026-11-26T13:27:11.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))).to_string()
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

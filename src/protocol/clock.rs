//! Times as sbx writes them in every JSON output: RFC 3339 in UTC.

/// A time as RFC 3339 in UTC, to the second (`2026-11-22T03:56:44Z`).
pub fn rfc3339(secs: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A time in milliseconds (the bridge's clock) as RFC 3339 in UTC, to the millisecond.
pub fn rfc3339_ms(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

//! Wall-clock readings in the two forms the gateway stores: milliseconds since the Unix epoch (outbox
//! due times, leases) and RFC 3339 timestamps at millisecond precision (SCIM `meta`, change events).

/// Milliseconds since the Unix epoch (0 if the clock reads before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The current UTC time as RFC 3339, truncated to milliseconds.
pub fn now_rfc3339() -> String {
    use time::format_description::well_known::Rfc3339;
    let now = time::OffsetDateTime::now_utc();
    // Millisecond precision keeps meta.lastModified stable through JSON round-trips.
    let now = now.replace_nanosecond((now.nanosecond() / 1_000_000) * 1_000_000).unwrap_or(now);
    now.format(&Rfc3339).unwrap_or_default()
}

//! Wall-clock readings in the two forms the gateway stores: milliseconds since the Unix epoch (outbox
//! due times, leases) and RFC 3339 timestamps at millisecond precision (SCIM `meta`, change events); and
//! the [`Clock`] scheduled jobs run by, which tests and demos replace with a virtual one.

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

/// The clock scheduled jobs run by: the wall clock, or a virtual clock (tests and demos) that stands
/// still until the admin API advances it. Deliveries, leases and the change log keep the wall clock.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    virtual_ms: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl Clock {
    /// The wall clock.
    pub fn wall() -> Clock {
        Clock { virtual_ms: None }
    }

    /// A virtual clock reading `start_ms` until [`Clock::set`] moves it.
    pub fn starting_at(start_ms: i64) -> Clock {
        Clock { virtual_ms: Some(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(start_ms))) }
    }

    /// A virtual clock starting at an RFC 3339 time.
    pub fn parse_virtual(start: &str) -> Result<Clock, String> {
        Ok(Clock::starting_at(parse_rfc3339_ms(start)?))
    }

    pub fn is_virtual(&self) -> bool {
        self.virtual_ms.is_some()
    }

    pub fn now_ms(&self) -> i64 {
        match &self.virtual_ms {
            Some(v) => v.load(std::sync::atomic::Ordering::SeqCst),
            None => now_ms(),
        }
    }

    /// Moves a virtual clock to `ms` (never backwards); the wall clock ignores it.
    pub fn set(&self, ms: i64) {
        if let Some(v) = &self.virtual_ms {
            v.fetch_max(ms, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 time.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (e.g. 2026-01-05T00:00:00Z): {e}"))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// An RFC 3339 UTC time of Unix milliseconds.
pub fn rfc3339_of_ms(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

//! The retry policy of deliveries: exponential backoff with full jitter, capped, and a plugin's
//! `Retry-After` honoured (never over an hour); after `max_attempts` an operation is dead-lettered
//! (throttled retries, those with `Retry-After`, only after a day: see `throttle.rs`).

/// Retry policy.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base_ms: i64,
    pub cap_ms: i64,
    /// Attempts before an operation is dead-lettered.
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base_ms: 500, cap_ms: 300_000, max_attempts: 15 }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempts + 1`: full jitter over `min(cap, base·2^attempts)`, or the
    /// plugin's `Retry-After` (never less, never over an hour).
    pub fn delay_ms(&self, attempts: i64, retry_after_secs: Option<u32>) -> i64 {
        if let Some(s) = retry_after_secs {
            return (s as i64 * 1000).min(3_600_000);
        }
        let ceiling = self.base_ms.saturating_mul(1i64 << attempts.clamp(0, 30)).min(self.cap_ms).max(1);
        let r = getrandom::u64().unwrap_or(0);
        (r % ceiling as u64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_capped_and_honours_retry_after() {
        let p = RetryPolicy { base_ms: 500, cap_ms: 10_000, max_attempts: 5 };
        for attempts in 0..40 {
            let d = p.delay_ms(attempts, None);
            let ceiling = (500i64 << attempts.min(30)).min(10_000);
            assert!((0..ceiling).contains(&d), "attempt {attempts}: {d}");
        }
        assert_eq!(p.delay_ms(3, Some(7)), 7000);
        assert_eq!(p.delay_ms(0, Some(100_000)), 3_600_000);
    }
}

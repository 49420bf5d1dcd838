//! A target that asked to slow down (a retry with `Retry-After`, e.g. 429) is held back as a whole:
//! until the time it named, its other due operations are not sent at all but rescheduled, spread over
//! the next window, without calling the plugin and without counting an attempt. Without this, every
//! delivery in flight for the target meets the limit again and spends one of its attempts on it.
//!
//! Held in memory per process: after a restart the first refused call sets it again. Other targets are
//! never affected.

use std::collections::HashMap;
use std::sync::Mutex;

/// How long an operation may keep being throttled before its retries count towards the dead-letter
/// limit again (an LMS that never stops answering 429 still ends in the dead letters).
pub const THROTTLE_GRACE_MS: i64 = 24 * 3_600_000;

#[derive(Default)]
pub struct Throttles {
    /// target pk → (not before, window ms)
    held: Mutex<HashMap<i64, (i64, i64)>>,
}

impl Throttles {
    /// The target asked for `after_ms` of quiet at `now`.
    pub fn slow_down(&self, target_pk: i64, now: i64, after_ms: i64) {
        if let Ok(mut held) = self.held.lock() {
            let until = now + after_ms.max(1);
            let e = held.entry(target_pk).or_insert((until, after_ms));
            if until >= e.0 {
                *e = (until, after_ms.max(1));
            }
        }
    }

    /// When the target is held back at `now`: the time to reschedule an operation to (the end of the
    /// hold plus a share of the window, so the held operations do not all come back at once).
    pub fn held_until(&self, target_pk: i64, now: i64, spread: f64) -> Option<i64> {
        let mut held = self.held.lock().ok()?;
        match held.get(&target_pk).copied() {
            Some((until, window)) if until > now => Some(until + (window as f64 * spread.clamp(0.0, 1.0)) as i64),
            Some(_) => {
                held.remove(&target_pk);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Throttles;

    #[test]
    fn a_target_is_held_until_the_time_it_named_and_others_are_not() {
        let t = Throttles::default();
        t.slow_down(1, 1_000, 2_000);
        assert_eq!(t.held_until(1, 1_500, 0.0), Some(3_000));
        assert_eq!(t.held_until(1, 1_500, 0.5), Some(4_000), "spread over the next window");
        assert_eq!(t.held_until(2, 1_500, 0.0), None, "another target goes on");
        t.slow_down(1, 1_200, 500); // an earlier end does not shorten the hold
        assert_eq!(t.held_until(1, 1_500, 0.0), Some(3_000));
        assert_eq!(t.held_until(1, 3_000, 0.0), None, "over");
    }
}

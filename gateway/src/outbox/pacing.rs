//! Background work yields to SCIM traffic. Entra's provisioning cycle waits on every request (and
//! quarantines an app that times out), while delivery to an LMS is asynchronous anyway: so while SCIM
//! requests are arriving, the dispatcher and the delivery loop keep to a share of the time
//! (`background_share`, default 0.1), and catch up at full speed when the traffic stops.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// SCIM requests served by this process (counted by the HTTP layer).
pub static SCIM_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Requests per second above which SCIM counts as busy.
const BUSY_RATE: f64 = 100.0;
/// How often the request rate is re-sampled.
const WINDOW: Duration = Duration::from_millis(200);

pub struct Pacer {
    share: f64,
    sample: Mutex<(Instant, u64, bool)>,
}

impl Pacer {
    /// `share` in (0, 1]; 1 turns pacing off.
    pub fn new(share: f64) -> Pacer {
        Pacer { share: share.clamp(0.01, 1.0), sample: Mutex::new((Instant::now(), 0, false)) }
    }

    /// Whether SCIM requests arrived faster than [`BUSY_RATE`] over the last window.
    pub fn scim_busy(&self) -> bool {
        let Ok(mut s) = self.sample.lock() else { return false };
        let now = Instant::now();
        let elapsed = now.duration_since(s.0);
        if elapsed >= WINDOW {
            let count = SCIM_REQUESTS.load(Ordering::Relaxed);
            let rate = (count.saturating_sub(s.1)) as f64 / elapsed.as_secs_f64();
            *s = (now, count, rate > BUSY_RATE);
        }
        s.2
    }

    /// After `worked` of background work: while SCIM is busy, rest long enough that the work keeps to
    /// its share of the time (at most half a second per call).
    pub async fn rest(&self, worked: Duration) {
        if self.share >= 1.0 || !self.scim_busy() {
            return;
        }
        let rest = worked.mul_f64((1.0 - self.share) / self.share).min(Duration::from_millis(500));
        if !rest.is_zero() {
            metrics::counter!("background_paced_seconds_total").increment(rest.as_micros() as u64 / 1_000_000);
            tokio::time::sleep(rest).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rests_only_while_scim_is_busy() {
        let p = Pacer::new(0.2);
        // Idle: no rest.
        let t = Instant::now();
        p.rest(Duration::from_millis(20)).await;
        assert!(t.elapsed() < Duration::from_millis(15));
        // Busy: 1,000 requests within the window → rests 4× the work.
        tokio::time::sleep(WINDOW).await;
        SCIM_REQUESTS.fetch_add(1_000, Ordering::Relaxed);
        assert!(p.scim_busy());
        let t = Instant::now();
        p.rest(Duration::from_millis(10)).await;
        assert!(t.elapsed() >= Duration::from_millis(39), "{:?}", t.elapsed());
        assert!(!Pacer::new(1.0).scim_busy() || Pacer::new(1.0).share >= 1.0);
    }
}

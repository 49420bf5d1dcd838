//! Background work yields to SCIM traffic. Entra's provisioning cycle waits on every request (and
//! quarantines an app that times out), while delivery to an LMS is asynchronous anyway: so while SCIM
//! requests are arriving, the dispatcher and the delivery loop keep to a share of the time
//! (`background_share`, default 0.1), and catch up at full speed when the traffic stops.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The SCIM requests of this process (the HTTP layer records each through [`scim_request`]).
static SCIM: Traffic = Traffic::new();
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
const RING: usize = 8;

/// SCIM counts as busy while the last [`BUSY_COUNT`] requests all started within [`BUSY_SPAN`]: a rate
/// of 100 requests/s, noticed after four requests (a burst is paced from its first milliseconds, not
/// after a sampling window) and forgotten 40 ms after the traffic slows down.
const BUSY_COUNT: u64 = 4;
const BUSY_SPAN: Duration = Duration::from_millis(40);

/// Request count and the start times (µs since [`EPOCH`]) of the most recent requests, a ring indexed
/// by request number: lock-free, two relaxed atomics per request.
pub struct Traffic {
    count: AtomicU64,
    recent: [AtomicU64; RING],
}

impl Traffic {
    const fn new() -> Traffic {
        Traffic { count: AtomicU64::new(0), recent: [const { AtomicU64::new(0) }; RING] }
    }

    fn record(&self) {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        self.recent[n as usize % RING].store(micros().max(1), Ordering::Relaxed);
    }

    fn busy(&self) -> bool {
        let n = self.count.load(Ordering::Relaxed);
        if n < BUSY_COUNT {
            return false;
        }
        let oldest = self.recent[(n - BUSY_COUNT) as usize % RING].load(Ordering::Relaxed);
        oldest != 0 && micros().saturating_sub(oldest) < BUSY_SPAN.as_micros() as u64
    }
}

fn micros() -> u64 {
    EPOCH.elapsed().as_micros() as u64
}

/// Records one authenticated SCIM request (called by the HTTP layer once the tenant's token is checked:
/// requests anyone can send must not slow delivery down). Counted in `scim_paced_requests_total`.
pub fn scim_request() {
    SCIM.record();
    metrics::counter!("scim_paced_requests_total").increment(1);
}

pub struct Pacer {
    share: f64,
    traffic: &'static Traffic,
}

impl Pacer {
    /// `share` in (0, 1]; 1 turns pacing off.
    pub fn new(share: f64) -> Pacer {
        Pacer { share: share.clamp(0.01, 1.0), traffic: &SCIM }
    }

    /// Whether SCIM requests are arriving at 100/s or more right now.
    pub fn scim_busy(&self) -> bool {
        self.traffic.busy()
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
        let traffic: &'static Traffic = Box::leak(Box::new(Traffic::new()));
        let p = Pacer { share: 0.2, traffic };
        // Idle: no rest.
        tokio::time::sleep(BUSY_SPAN).await;
        assert!(!p.scim_busy());
        let t = Instant::now();
        p.rest(Duration::from_millis(20)).await;
        assert!(t.elapsed() < Duration::from_millis(15));
        // Three requests are not yet traffic; the fourth within 40 ms is.
        for _ in 0..3 {
            traffic.record();
        }
        assert!(!p.scim_busy());
        traffic.record();
        assert!(p.scim_busy());
        // Busy: rests 4× the work.
        let t = Instant::now();
        p.rest(Duration::from_millis(10)).await;
        assert!(t.elapsed() >= Duration::from_millis(39), "{:?}", t.elapsed());
        // Forgotten once the traffic stops.
        tokio::time::sleep(BUSY_SPAN).await;
        assert!(!p.scim_busy());
        assert_eq!(Pacer::new(5.0).share, 1.0);
    }
}

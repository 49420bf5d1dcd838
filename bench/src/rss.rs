//! Samples the server's resident set size from `/proc/PID/status`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

pub struct RssSampler {
    pid: u32,
    phase_peak_kb: AtomicU64,
    overall_peak_kb: AtomicU64,
}

impl RssSampler {
    /// Starts a background task sampling VmRSS every `interval`.
    pub fn start(pid: u32, interval: Duration) -> (Arc<Self>, JoinHandle<()>) {
        let s = Arc::new(Self { pid, phase_peak_kb: AtomicU64::new(0), overall_peak_kb: AtomicU64::new(0) });
        s.sample();
        let bg = Arc::clone(&s);
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                bg.sample();
            }
        });
        (s, handle)
    }

    pub fn sample(&self) {
        if let Some(kb) = read_status_kb(self.pid, "VmRSS:") {
            self.phase_peak_kb.fetch_max(kb, Ordering::Relaxed);
            self.overall_peak_kb.fetch_max(kb, Ordering::Relaxed);
        }
    }

    pub fn begin_phase(&self) {
        self.phase_peak_kb.store(0, Ordering::Relaxed);
        self.sample();
    }

    /// Peak VmRSS seen since `begin_phase`, in kB (None if never readable).
    pub fn end_phase(&self) -> Option<u64> {
        self.sample();
        Some(self.phase_peak_kb.load(Ordering::Relaxed)).filter(|&kb| kb > 0)
    }

    pub fn overall_peak_kb(&self) -> Option<u64> {
        Some(self.overall_peak_kb.load(Ordering::Relaxed)).filter(|&kb| kb > 0)
    }

    /// The kernel's own high-water mark for the process.
    pub fn vm_hwm_kb(&self) -> Option<u64> {
        read_status_kb(self.pid, "VmHWM:")
    }

    pub fn is_alive(&self) -> bool {
        std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn read_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

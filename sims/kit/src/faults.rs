//! Fault injection: random 503/429 answers and fixed latency, deterministic for a seed.

use serde::Deserialize;

/// Settings replaced wholesale by `POST /_sim/faults`; absent fields take their defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultConfig {
    #[serde(default)]
    pub rate503: f64,
    #[serde(default)]
    pub rate429: f64,
    #[serde(default = "default_retry_after")]
    pub retry_after_secs: u64,
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub seed: u64,
}

fn default_retry_after() -> u64 {
    1
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self { rate503: 0.0, rate429: 0.0, retry_after_secs: default_retry_after(), latency_ms: 0, seed: 0 }
    }
}

impl FaultConfig {
    pub fn validate(&self) -> Result<(), String> {
        let ok = |r: f64| (0.0..=1.0).contains(&r);
        if !ok(self.rate503) || !ok(self.rate429) || self.rate503 + self.rate429 > 1.0 {
            return Err("rate503 and rate429 must be within 0..=1 and sum to at most 1".into());
        }
        Ok(())
    }
}

/// The fault to answer with instead of serving the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Unavailable,
    TooManyRequests { retry_after_secs: u64 },
}

/// SplitMix64: tiny, fast and good enough to draw fault decisions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The configured faults plus the generator that decides them.
#[derive(Debug, Clone)]
pub struct Faults {
    config: FaultConfig,
    rng: SplitMix64,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(FaultConfig::default())
    }
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        let rng = SplitMix64::new(config.seed);
        Self { config, rng }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    pub fn latency(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.config.latency_ms)
    }

    /// Decides the fate of one API request. Draws from the generator only when a
    /// fault rate is set, so enabling faults does not shift anything else.
    pub fn decide(&mut self) -> Option<Fault> {
        if self.config.rate503 <= 0.0 && self.config.rate429 <= 0.0 {
            return None;
        }
        let r = self.rng.next_f64();
        if r < self.config.rate503 {
            Some(Fault::Unavailable)
        } else if r < self.config.rate503 + self.config.rate429 {
            Some(Fault::TooManyRequests { retry_after_secs: self.config.retry_after_secs })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(rate503: f64, rate429: f64, seed: u64) -> FaultConfig {
        FaultConfig { rate503, rate429, seed, ..FaultConfig::default() }
    }

    #[test]
    fn same_seed_same_decisions() {
        let run = |seed| {
            let mut f = Faults::new(cfg(0.2, 0.1, seed));
            (0..200).map(|_| f.decide()).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn rates_are_roughly_respected() {
        let mut f = Faults::new(cfg(0.05, 0.02, 7));
        let decisions: Vec<_> = (0..100_000).map(|_| f.decide()).collect();
        let n503 = decisions.iter().filter(|d| **d == Some(Fault::Unavailable)).count();
        let n429 = decisions.iter().filter(|d| matches!(d, Some(Fault::TooManyRequests { .. }))).count();
        assert!((4_500..5_500).contains(&n503), "{n503}");
        assert!((1_700..2_300).contains(&n429), "{n429}");
    }

    #[test]
    fn no_rates_no_faults_and_validation() {
        let mut f = Faults::default();
        assert!((0..1000).all(|_| f.decide().is_none()));
        assert!(cfg(1.0, 0.0, 0).validate().is_ok());
        assert!(cfg(0.7, 0.7, 0).validate().is_err());
        assert!(cfg(-0.1, 0.0, 0).validate().is_err());
        let mut always = Faults::new(cfg(0.0, 1.0, 0));
        assert_eq!(always.decide(), Some(Fault::TooManyRequests { retry_after_secs: 1 }));
    }
}

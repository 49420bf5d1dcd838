//! OAuth2 client-credentials tokens (`POST /api/v3/token`) and their expiry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Why a bearer token was refused; the text is the `message` of the 401 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Unknown,
}

impl TokenError {
    pub fn message(self) -> &'static str {
        match self {
            TokenError::Expired => "access token expired",
            TokenError::Unknown => "missing or unknown access token",
        }
    }
}

#[derive(Debug)]
pub struct Tokens {
    client_id: String,
    client_secret: String,
    ttl: Duration,
    /// token -> expiry instant
    issued: HashMap<String, Instant>,
    issued_count: u64,
}

impl Tokens {
    pub fn new(client_id: String, client_secret: String, ttl: Duration) -> Self {
        Self { client_id, client_secret, ttl, issued: HashMap::new(), issued_count: 0 }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issued_count(&self) -> u64 {
        self.issued_count
    }

    pub fn reset_count(&mut self) {
        self.issued_count = 0;
    }

    pub fn credentials_match(&self, client_id: &str, client_secret: &str) -> bool {
        client_id == self.client_id && client_secret == self.client_secret
    }

    /// Issues a new random token valid for the configured TTL from `now`.
    pub fn issue(&mut self, now: Instant) -> String {
        // Forget tokens that expired long ago so the map stays small in long runs;
        // recently expired ones are kept to answer "access token expired".
        let horizon = Duration::from_secs(24 * 3600);
        self.issued.retain(|_, expiry| now.saturating_duration_since(*expiry) < horizon);
        let mut bytes = [0u8; 24];
        if getrandom::fill(&mut bytes).is_err() {
            // Extremely unlikely; fall back to a UUID, which is still unguessable enough for a simulator.
            bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.issued.insert(token.clone(), now + self.ttl);
        self.issued_count += 1;
        token
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>, now: Instant) -> Result<(), TokenError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(TokenError::Unknown)?;
        match self.issued.get(token) {
            None => Err(TokenError::Unknown),
            Some(expiry) if now >= *expiry => Err(TokenError::Expired),
            Some(_) => Ok(()),
        }
    }

    /// Makes every issued token expire at `now`.
    pub fn expire_all(&mut self, now: Instant) {
        for expiry in self.issued.values_mut() {
            *expiry = (*expiry).min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_after_ttl_or_on_demand() {
        let mut t = Tokens::new("id".into(), "secret".into(), Duration::from_secs(1800));
        let now = Instant::now();
        let tok = t.issue(now);
        let header = format!("Bearer {tok}");
        assert_eq!(t.check(Some(&header), now), Ok(()));
        assert_eq!(t.check(Some(&header), now + Duration::from_secs(1799)), Ok(()));
        assert_eq!(t.check(Some(&header), now + Duration::from_secs(1800)), Err(TokenError::Expired));
        assert_eq!(t.check(Some("Bearer nope"), now), Err(TokenError::Unknown));
        assert_eq!(t.check(None, now), Err(TokenError::Unknown));
        assert_eq!(t.check(Some(&tok), now), Err(TokenError::Unknown), "scheme is required");
        let tok2 = t.issue(now);
        t.expire_all(now);
        assert_eq!(t.check(Some(&format!("Bearer {tok2}")), now), Err(TokenError::Expired));
        assert_eq!(t.issued_count(), 2);
        assert!(t.credentials_match("id", "secret"));
        assert!(!t.credentials_match("id", "wrong"));
    }
}

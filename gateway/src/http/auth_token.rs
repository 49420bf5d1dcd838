//! Tenant bearer tokens: 256 random bits, shown once, stored only as SHA-256.

use sha2::{Digest, Sha256};

const PREFIX: &str = "scimgw_";

/// A new token: `scimgw_` followed by 64 hex digits (256 bits from the OS CSPRNG).
pub fn generate() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// The stored form of a token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_hashable() {
        let a = super::generate().expect("token");
        let b = super::generate().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 7 + 64);
        assert_eq!(super::digest(&a), super::digest(&a));
        assert_ne!(super::digest(&a), super::digest(&b));
    }
}

//! HTTP Basic authentication against the configured API keys.
//!
//! Learn365 API keys are either *Read only* or *Full control*. The client sends
//! `Authorization: Basic base64("api:<key>")`; like the real service (as far as third-party clients
//! show), only the password part is checked, the user name is ignored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// What a valid key allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// *Full control*: every operation.
    Full,
    /// *Read only*: `GET` only; anything else gets 403.
    ReadOnly,
}

/// The accepted keys.
#[derive(Debug, Clone)]
pub struct Keys {
    full: Vec<String>,
    read: Vec<String>,
}

impl Keys {
    pub fn new(full: Vec<String>, read: Vec<String>) -> Self {
        Self { full, read }
    }

    /// Checks an `Authorization` header value; `None` means 401.
    pub fn check(&self, authorization: Option<&str>) -> Option<Access> {
        let password = basic_password(authorization?)?;
        if password.is_empty() {
            return None;
        }
        if self.full.contains(&password) {
            Some(Access::Full)
        } else if self.read.contains(&password) {
            Some(Access::ReadOnly)
        } else {
            None
        }
    }
}

/// The password of a `Basic` credential (the whole decoded text when it holds no `:`).
fn basic_password(header: &str) -> Option<String> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(match text.split_once(':') {
        Some((_, password)) => password.to_string(),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    #[test]
    fn only_the_password_counts() {
        let keys = Keys::new(vec!["full".into()], vec!["read".into()]);
        assert_eq!(keys.check(Some(&basic("api:full"))), Some(Access::Full));
        assert_eq!(keys.check(Some(&basic("anything:full"))), Some(Access::Full));
        assert_eq!(keys.check(Some(&basic(":read"))), Some(Access::ReadOnly));
        assert_eq!(keys.check(Some(&basic("api:nope"))), None);
        assert_eq!(keys.check(Some(&basic("api:"))), None);
        assert_eq!(keys.check(Some("Bearer full")), None);
        assert_eq!(keys.check(Some("Basic !!!")), None);
        assert_eq!(keys.check(None), None);
        assert_eq!(keys.check(Some(&basic("api:full").replace("Basic", "basic"))), Some(Access::Full));
    }
}

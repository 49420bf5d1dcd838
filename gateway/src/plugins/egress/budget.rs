//! Limits shared by every request of one [`Egress`](super::Egress), and the per-call [`Budget`]: how many
//! requests a plugin call has left and the deadline that caps each request's timeout.

use super::EgressError;
use std::time::{Duration, Instant};

/// Per-request limits, shared by all plugins using one [`Egress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub connect_timeout: Duration,
    /// Whole request: connect, send, headers and streaming the body.
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub max_request_bytes: usize,
    pub max_requests_per_call: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 4 * 1024 * 1024,
            max_request_bytes: 4 * 1024 * 1024,
            max_requests_per_call: 16,
        }
    }
}

/// What is left for one plugin call: a request count and, optionally, a deadline.
/// Create one per `deliver` call and pass it to every [`Egress::send`] of that call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    remaining: u32,
    deadline: Option<Instant>,
}

impl Budget {
    /// `limits.max_requests_per_call` requests, no deadline.
    pub fn new(limits: &Limits) -> Budget {
        Budget { remaining: limits.max_requests_per_call, deadline: None }
    }

    /// Also caps every request's timeout by the time left until `deadline` (the call's total
    /// deadline); once it has passed, `send` returns `Timeout` without sending.
    pub fn with_deadline(mut self, deadline: Instant) -> Budget {
        self.deadline = Some(deadline);
        self
    }

    /// Requests left.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    pub(super) fn take(&mut self) -> Result<(), EgressError> {
        match self.remaining.checked_sub(1) {
            Some(left) => {
                self.remaining = left;
                Ok(())
            }
            None => Err(EgressError::BudgetExhausted),
        }
    }

    pub(super) fn timeout(&self, request_timeout: Duration) -> Result<Duration, EgressError> {
        match self.deadline {
            None => Ok(request_timeout),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() { Err(EgressError::Timeout) } else { Ok(left.min(request_timeout)) }
            }
        }
    }
}

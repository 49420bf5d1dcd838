//! What the LMS simulators (`sims/ispring`, `sims/learn365`) share, so that both inject faults the same
//! way (`POST /_sim/faults` takes the same body) and keep rows in creation order.
//!
//! * [`faults`]: random 503/429 answers and fixed latency, deterministic for a seed.
//! * [`table`]: an id-keyed table in creation order, and page cutting for list endpoints.

pub mod faults;
pub mod table;

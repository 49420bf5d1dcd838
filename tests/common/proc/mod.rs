//! The real `gateway` binary as a child process, for the delivery, iSpring, plugin-state and report
//! tests: the prebuilt binaries and plugins (`bins.rs`), one test's database, key and CLI (`env.rs`),
//! `gateway serve` processes (`gateway.rs`) and a recording sink standing in for an LMS (`sink.rs`).
//! SCIM goes through the shared [`ScimClient`](crate::common::ScimClient).

mod bins;
mod env;
mod gateway;
mod sink;
mod smtp;

pub use bins::{gateway_bin, ispring_sim_bin, learn365_sim_bin, plugin_file};
pub use env::{CliOut, TestEnv};
pub use gateway::GatewayProc;
pub use sink::{Hit, Reply, Sink};
pub use smtp::SmtpSink;

use std::time::{Duration, Instant};

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Polls `probe` every `every` until it returns `Some`, or fails after `timeout` with `what`.
pub async fn poll<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(every).await;
    }
}

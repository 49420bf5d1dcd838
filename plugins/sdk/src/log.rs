//! Logging through the host.
//!
//! Lines go to the gateway's log with the tenant, target and correlation id attached. The host keeps
//! at most 50 lines of at most 1 KiB per call and drops the rest, so log decisions, not data (and
//! never personal data you do not need).

pub use crate::bindings::scimgw::plugin::log::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: impl AsRef<str>) {
    crate::bindings::scimgw::plugin::log::log(level, message.as_ref());
}

/// Logs at debug level.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}

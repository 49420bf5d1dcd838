//! The store's errors, in the store's own terms: what was not found, what clashes, which version was
//! expected, what the caller's own update refused, and the internal failures (database, migration,
//! corrupt data, a write not applied). Nothing here knows HTTP: `http::error` maps these to RFC 7644
//! responses and `delivery::control` to its own errors (`docs/ERRORS.md`).

use crate::scim::error::ScimError;

/// Errors from the store. The first five are the caller's to fix (the HTTP layer answers them with a
/// 4xx); the rest are internal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource, group or tenant named does not exist (the text says which).
    #[error("{0}")]
    NotFound(String),
    /// A unique name is taken: a userName, a tenant or a target.
    #[error("{0}")]
    Conflict(String),
    /// The caller expected another version of the resource (`If-Match`).
    #[error("{0}")]
    VersionMismatch(String),
    /// The write names something the store cannot honour, e.g. a member id that is no user or group of
    /// the tenant.
    #[error("{0}")]
    Invalid(String),
    /// The caller's own update, run inside the write transaction, refused the change (a PATCH that
    /// does not apply to the stored resource): its SCIM error, passed back as it was.
    #[error(transparent)]
    Rejected(ScimError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A transient condition (a rolled-back group commit, a stopped writer): the client should retry.
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the caller caused it: such an error fails only its own write, never a batch it shares.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound(_)
                | StoreError::Conflict(_)
                | StoreError::VersionMismatch(_)
                | StoreError::Invalid(_)
                | StoreError::Rejected(_)
        )
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

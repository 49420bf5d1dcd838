//! SQLite's write path: one writer task commits queued jobs in groups (`writer`), applying runs of alike
//! jobs with shared statements (`batch`). Used by the SQL store; uses only the shared statements (`db`).

mod batch;
mod writer;

pub(crate) use batch::{NewResource, UserUpdate};
pub(crate) use writer::{JobOut, Writer};

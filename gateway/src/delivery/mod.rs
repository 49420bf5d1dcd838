//! The delivery pipeline, in the order a change moves through it: the [`dispatch`]er translates each
//! target's changes with its plugin into outbox operations (one transaction per batch with the target's
//! cursor); the [`outbox`] worker leases deliverable operations and delivers them through the plugin,
//! with the [`retry`] policy and dead letters; [`pacing`] keeps this background work to a share of the
//! time while SCIM requests arrive. [`control`] is the one service behind the CLI and the admin API that
//! manages plugins, targets and the outbox. Beside the change flow, [`jobs`] runs the plugins' scheduled
//! jobs (on [`cron`] schedules) and their admin resources, and [`notify`] records and e-mails what
//! plugins ask to tell people.

pub mod control;
pub mod cron;
pub mod dispatch;
pub mod jobs;
pub mod notify;
pub mod outbox;
pub mod pacing;
pub mod replay;
pub mod retry;
pub mod throttle;

pub use control::{Control, ControlError, ControlResult};
pub use dispatch::Dispatcher;
pub use outbox::{Deliverer, DeliverySettings, queue_gauges};
pub use retry::RetryPolicy;

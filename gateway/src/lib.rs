//! SCIM 2.0 provisioning gateway for Microsoft Entra ID. Data flows in the order of the modules below:
//! `http` → `scim` (pure) → `store` (with the change log) → `delivery` (dispatcher, outbox worker) →
//! `plugins` (the WebAssembly host that translates and delivers); `reporting` joins Learn datasets with
//! the stored identities. `docs/ARCHITECTURE.md` draws the whole picture.
pub mod cli;
pub mod clock;
pub mod config;
pub mod telemetry;

pub mod http;
pub mod scim;
pub mod store;
pub mod delivery;
pub mod plugins;
pub mod reporting;

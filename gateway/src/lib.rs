//! SCIM 2.0 provisioning gateway for Microsoft Entra ID. Data flows
//! `http` → `scim` (pure) → `store` (with the change log) → `delivery` (dispatcher, outbox worker) →
//! `plugins` (the WebAssembly host that translates and delivers); `reporting` joins Learn datasets with
//! the stored identities. `docs/ARCHITECTURE.md` draws the whole picture.
// Entry points and process-wide pieces.
pub mod cli;
pub mod clock;
pub mod config;
pub mod telemetry;

// The layers (see the flow above; `scripts/check-layout.py` keeps imports pointing down it).
pub mod delivery;
pub mod http;
pub mod plugins;
pub mod reporting;
pub mod scim;
pub mod store;

//! The credential sealing key, as the configuration names it: given inline (`credential_key`), or a key
//! file (`credential_key_file`) read or created on first use. Commands that seal or open credentials
//! (`serve`, `target`) take it from here.

use crate::config::Config;

/// The credential sealing key of the configuration (`credential_key` or the key file).
pub(super) fn secret_box(cfg: &Config) -> anyhow::Result<crate::plugins::secrets::SecretBox> {
    match &cfg.credential_key {
        Some(k) => crate::plugins::secrets::SecretBox::from_key_b64(k).map_err(anyhow::Error::msg),
        None => crate::plugins::secrets::SecretBox::load_or_create(std::path::Path::new(&cfg.credential_key_file))
            .map_err(anyhow::Error::msg),
    }
}

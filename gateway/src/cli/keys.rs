//! The credential sealing key, as the configuration names it: given inline (`credential_key`), or a key
//! file (`credential_key_file`) read or created on first use. Commands that seal or open credentials
//! (`serve`, `target`) take it from here.
//!
//! The database records the key's fingerprint (never the key): a process started with another key is
//! refused with a message naming both fingerprints, and a missing key file is replaced by a new key only
//! while the database holds no sealed credential and no fingerprint (a new key could not open them).

use crate::config::Config;
use crate::plugins::secrets::SecretBox;
use crate::store::DynStore;
use std::path::Path;

/// The credential sealing key of the configuration, checked against the database's record of it.
pub(super) async fn secret_box(cfg: &Config, store: &DynStore) -> anyhow::Result<SecretBox> {
    let (key, source) = match &cfg.credential_key {
        Some(k) => (SecretBox::from_key_b64(k).map_err(anyhow::Error::msg)?, "credential_key".to_owned()),
        None => {
            let path = Path::new(&cfg.credential_key_file);
            if !path.exists() {
                let (recorded, sealed) = store.key_state().await.map_err(anyhow::Error::msg)?;
                if let Some(fp) = recorded.or_else(|| (sealed > 0).then(|| "unknown".to_owned())) {
                    anyhow::bail!(
                        "the credential key file {} does not exist, but this database's credentials were sealed \
                         with the key of fingerprint {fp} ({sealed} sealed credentials): restore that key file (or \
                         set credential_key / GATEWAY_CREDENTIAL_KEY); a new key could not open them",
                        path.display()
                    );
                }
            }
            let key = SecretBox::load_or_create(path).map_err(anyhow::Error::msg)?;
            (key, format!("key file {}", path.display()))
        }
    };
    let fp = key.fingerprint();
    let recorded = store.claim_key_fingerprint(&fp).await.map_err(anyhow::Error::msg)?;
    if recorded != fp {
        anyhow::bail!(
            "the credential key ({source}, fingerprint {fp}) is not the key this database's credentials were sealed \
             with (fingerprint {recorded}): start with that key"
        );
    }
    Ok(key)
}

//! What a plugin call can reach: the host imports (`log`, `kv`, `directory`, `http`) implemented over one
//! call's [`CallState`], within its limits (log lines, kv sizes and writes, the egress policy and budget).

use super::bindings::scimgw::lms_target::{directory, http, kv, log, types};
use super::call::CallState;
use super::convert;
use super::egress;
use crate::store::Kind;

impl types::Host for CallState {}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if matches!(level, log::Level::Error)
            && let Some(p) = message.strip_prefix("panic: ")
        {
            self.panic_message = Some(truncate(p, self.limits.max_log_bytes).to_owned());
        }
        self.logs += 1;
        if self.logs > self.limits.max_log_lines {
            if self.logs == self.limits.max_log_lines + 1 {
                tracing::warn!(tenant = %self.env.tenant, target = %self.env.target, "plugin log limit reached; dropping further lines of this call");
            }
            return Ok(());
        }
        let msg = truncate(&message, self.limits.max_log_bytes);
        let (tenant, target) = (&self.env.tenant, &self.env.target);
        match level {
            log::Level::Debug => tracing::debug!(target: "plugin", tenant = %tenant, target_name = %target, "{msg}"),
            log::Level::Info => tracing::info!(target: "plugin", tenant = %tenant, target_name = %target, "{msg}"),
            log::Level::Warn => tracing::warn!(target: "plugin", tenant = %tenant, target_name = %target, "{msg}"),
            log::Level::Error => tracing::error!(target: "plugin", tenant = %tenant, target_name = %target, "{msg}"),
        }
        Ok(())
    }
}

impl kv::Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        if let Some(v) = self.kv_writes.get(&key).or_else(|| self.kv_base.get(&key)) {
            return Ok(v.clone());
        }
        let Some(store) = self.env.store.clone() else { return Ok(None) };
        store.kv_get(self.env.target_pk, &key).await.map_err(|e| self.fail(e))
    }

    async fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), String>> {
        if key.is_empty() || key.len() > self.limits.max_kv_key {
            return Ok(Err(format!("kv keys must be 1 to {} bytes", self.limits.max_kv_key)));
        }
        if value.len() > self.limits.max_kv_value {
            return Ok(Err(format!("kv values are at most {} bytes", self.limits.max_kv_value)));
        }
        if !self.kv_writes.contains_key(&key) && self.kv_writes.len() >= self.limits.max_kv_writes {
            return Ok(Err(format!("at most {} kv writes per call", self.limits.max_kv_writes)));
        }
        let bytes = self.kv_bytes + key.len() + value.len();
        if bytes > self.limits.max_kv_bytes {
            return Ok(Err(format!("at most {} bytes of kv writes per call", self.limits.max_kv_bytes)));
        }
        self.kv_bytes = bytes;
        self.kv_writes.insert(key, Some(value));
        Ok(Ok(()))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        if self.kv_writes.contains_key(&key) || self.kv_writes.len() < self.limits.max_kv_writes {
            self.kv_writes.insert(key, None);
        }
        Ok(())
    }

    async fn keys(&mut self, prefix: String, limit: u32) -> wasmtime::Result<Vec<String>> {
        let limit = limit.min(MAX_KV_KEYS) as usize;
        let mut keys: std::collections::BTreeSet<String> = match self.env.store.clone() {
            Some(store) => store
                .kv_keys(self.env.target_pk, &prefix, (limit + self.kv_base.len() + self.kv_writes.len()) as i64)
                .await
                .map_err(|e| self.fail(e))?
                .into_iter()
                .collect(),
            None => Default::default(),
        };
        for layer in [&*self.kv_base, &self.kv_writes] {
            for (k, v) in layer.range(prefix.clone()..) {
                if !k.starts_with(&prefix) {
                    break;
                }
                if v.is_some() {
                    keys.insert(k.clone());
                } else {
                    keys.remove(k);
                }
            }
        }
        Ok(keys.into_iter().take(limit).collect())
    }
}

/// The most keys one `kv.keys` call returns.
const MAX_KV_KEYS: u32 = 100_000;

impl directory::Host for CallState {
    async fn get_user(&mut self, id: String) -> wasmtime::Result<Option<types::User>> {
        let Some(store) = self.env.store.clone() else { return Ok(None) };
        match store.get(self.env.tenant_pk, Kind::User, &id).await {
            Ok(Some(row)) => match row.parse() {
                Ok(s) => Ok(Some(convert::user(&s.id, &s.doc))),
                Err(e) => Err(self.fail(e)),
            },
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn get_group(&mut self, id: String) -> wasmtime::Result<Option<types::Group>> {
        let Some(store) = self.env.store.clone() else { return Ok(None) };
        match store.get(self.env.tenant_pk, Kind::Group, &id).await {
            Ok(Some(row)) => match row.parse() {
                Ok(s) => Ok(Some(convert::group(&s.id, &s.doc))),
                Err(e) => Err(self.fail(e)),
            },
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn members(&mut self, group_id: String, offset: u32, limit: u32) -> wasmtime::Result<Vec<types::Member>> {
        let Some(store) = self.env.store.clone() else { return Ok(Vec::new()) };
        let row = match store.get(self.env.tenant_pk, Kind::Group, &group_id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let members = store.members_of(&[row.pk]).await.map_err(|e| self.fail(e))?;
        Ok(members
            .into_iter()
            .skip(offset as usize)
            .take(limit.min(1_000) as usize)
            .map(|(_, m)| types::Member {
                id: m.value,
                kind: if m.kind == Kind::User { types::ResourceKind::User } else { types::ResourceKind::Group },
            })
            .collect())
    }

    async fn groups_of(&mut self, user_id: String) -> wasmtime::Result<Vec<directory::GroupRef>> {
        let Some(store) = self.env.store.clone() else { return Ok(Vec::new()) };
        let row = match store.get(self.env.tenant_pk, Kind::User, &user_id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let groups = row.group_views().map_err(|e| self.fail(e))?;
        Ok(groups.into_iter().map(|g| directory::GroupRef { id: g.value, display_name: g.display }).collect())
    }

    async fn remote_id(&mut self, kind: String, local_id: String) -> wasmtime::Result<Option<String>> {
        let Some(store) = self.env.store.clone() else { return Ok(None) };
        store.remote_id(self.env.target_pk, &kind, &local_id).await.map_err(|e| self.fail(e))
    }
}

impl http::Host for CallState {
    async fn send(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        if self.translate {
            return Ok(Err(http::HttpError::Denied(
                "http.send is not available in translate (it must be pure); send from deliver".into(),
            )));
        }
        let method = match req.method {
            http::Method::Get => egress::Method::Get,
            http::Method::Head => egress::Method::Head,
            http::Method::Post => egress::Method::Post,
            http::Method::Put => egress::Method::Put,
            http::Method::Patch => egress::Method::Patch,
            http::Method::Delete => egress::Method::Delete,
        };
        let auth = req.auth.map(|a| match a {
            http::Auth::Bearer(c) => egress::Auth::Bearer(c),
            http::Auth::Basic(c) => egress::Auth::Basic(c),
            http::Auth::Header(h) => egress::Auth::Header { header: h.header, credential: h.credential },
            http::Auth::HmacSha256(h) => egress::Auth::HmacSha256 { header: h.header, credential: h.credential },
        });
        let request = egress::Request { method, url: req.url, headers: req.headers, body: req.body, auth };
        let egress = self.egress.clone();
        let result = egress.send(&self.env.policy, &self.env.credentials, &mut self.budget, request).await;
        Ok(match result {
            Ok(r) => Ok(http::Response { status: r.status, headers: r.headers, body: r.body }),
            Err(e) => Err(match e {
                egress::EgressError::Denied(m) => http::HttpError::Denied(m),
                egress::EgressError::Timeout => http::HttpError::Timeout,
                egress::EgressError::TooLarge => http::HttpError::TooLarge,
                egress::EgressError::BudgetExhausted => http::HttpError::BudgetExhausted,
                egress::EgressError::Transport(m) => http::HttpError::Transport(m),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::call::{CallEnv, CallLimits, CallState, KvOverlay};
    use super::super::egress::{Egress, Limits, Policy};
    use super::kv::Host as _;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// kv writes are the host's memory, outside the guest's 64 MiB: one call may write at most
    /// `max_kv_bytes` (on 7914331, 10,000 × 64 KiB = 640 MiB per call, times a batch of 200 calls).
    #[tokio::test]
    async fn a_call_writes_at_most_max_kv_bytes() {
        crate::plugins::egress::install_crypto_provider();
        let limits = CallLimits::default();
        let egress = Arc::new(Egress::new(Limits::default()).expect("egress"));
        let env = CallEnv {
            tenant: "t".into(),
            tenant_pk: 1,
            target: "x".into(),
            target_pk: 1,
            config_json: "{}".into(),
            store: None,
            policy: Arc::new(Policy::new(&[], false, false).expect("policy")),
            credentials: Arc::new(HashMap::new()),
        };
        let mut state = CallState::new(&limits, &egress, env, Arc::new(KvOverlay::new()), true);
        let value = "v".repeat(limits.max_kv_value);
        let mut accepted = 0;
        for i in 0..limits.max_kv_writes {
            match state.set(format!("k{i}"), value.clone()).await.expect("host call") {
                Ok(()) => accepted += 1,
                Err(e) => {
                    assert!(e.contains(&format!("at most {} bytes of kv writes per call", limits.max_kv_bytes)), "{e}");
                    break;
                }
            }
        }
        assert_eq!(accepted, limits.max_kv_bytes / (limits.max_kv_value + 2), "the budget, not the count, stopped it");
        assert!(
            state.take_kv_writes().iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, String::len)).sum::<usize>()
                <= limits.max_kv_bytes
        );
    }
}

//! What a plugin call can reach: the host imports (`log`, `kv`, `directory`, `http`, `notify`)
//! implemented over one call's [`CallState`], within its limits (log lines, kv sizes and writes, page
//! sizes, the egress policy and budget, notifications per call).

use super::bindings::scimgw::plugin::{directory, http, kv, log, notify, types};
use super::call::{CallMode, CallState, Notice};
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
        if self.env.capture_logs {
            let name = match level {
                log::Level::Debug => "debug",
                log::Level::Info => "info",
                log::Level::Warn => "warn",
                log::Level::Error => "error",
            };
            self.captured.push((name.to_owned(), message.clone()));
        }
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
        let Some(store) = self.env.store.clone() else {
            return Ok(self.env.seed.as_ref().and_then(|s| s.kv.get(&key).cloned()));
        };
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

    async fn keys(&mut self, prefix: String, after: Option<String>, limit: u32) -> wasmtime::Result<Vec<String>> {
        let limit = limit.min(MAX_KV_KEYS) as usize;
        // Stored keys from `start` on (`after` itself excluded below), then the call's own layers.
        let start = match &after {
            Some(a) if a.as_str() > prefix.as_str() => a.clone(),
            _ => prefix.clone(),
        };
        let mut keys: std::collections::BTreeSet<String> = match self.env.store.clone() {
            Some(store) => store
                .kv_keys(
                    self.env.target_pk,
                    &prefix,
                    &start,
                    (limit + 1 + self.kv_base.len() + self.kv_writes.len()) as i64,
                )
                .await
                .map_err(|e| self.fail(e))?
                .into_iter()
                .collect(),
            None => match &self.env.seed {
                Some(seed) => seed
                    .kv
                    .range(start.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, _)| k.clone())
                    .collect(),
                None => Default::default(),
            },
        };
        for layer in [&*self.kv_base, &self.kv_writes] {
            for (k, v) in layer.range(start.clone()..) {
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
        if let Some(a) = &after {
            keys.remove(a);
        }
        Ok(keys.into_iter().take(limit).collect())
    }
}

/// The most keys one `kv.keys` call returns.
const MAX_KV_KEYS: u32 = 100_000;
/// The most users or groups one `directory.list-*` call returns, and members one `members` call.
const MAX_LIST_PAGE: u32 = 500;
const MAX_MEMBERS_PAGE: u32 = 1_000;
/// Longest notification subject and text.
const MAX_NOTICE_SUBJECT: usize = 200;
const MAX_NOTICE_TEXT: usize = 8 << 10;

impl CallState {
    /// One page of the tenant's users or groups in storage order: (id, document) and the next cursor.
    async fn page(
        &mut self,
        kind: Kind,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<(Vec<(String, serde_json::Value)>, Option<String>)> {
        let limit = limit.clamp(1, MAX_LIST_PAGE) as i64;
        let Some(store) = self.env.store.clone() else {
            let Some(seed) = &self.env.seed else { return Ok((Vec::new(), None)) };
            // The seed's order; the cursor is how many came before.
            let docs: Vec<(String, serde_json::Value)> = if kind == Kind::User {
                seed.users.clone()
            } else {
                seed.groups.iter().map(|(i, d, _)| (i.clone(), d.clone())).collect()
            };
            let offset: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
            let page: Vec<_> = docs.iter().skip(offset).take(limit as usize).cloned().collect();
            let next =
                (docs.len() > offset + page.len() && !page.is_empty()).then(|| (offset + page.len()).to_string());
            return Ok((page, next));
        };
        let after: i64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let rows = store.page_after(self.env.tenant_pk, kind, after, limit).await.map_err(|e| self.fail(e))?;
        let next = (rows.len() as i64 == limit).then(|| rows.last().map(|r| r.pk.to_string())).flatten();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let s = row.parse().map_err(|e| self.fail(e))?;
            out.push((s.id, s.doc));
        }
        Ok((out, next))
    }
}

impl notify::Host for CallState {
    async fn send(&mut self, n: notify::Notification) -> wasmtime::Result<Result<(), String>> {
        if self.mode == CallMode::Translate {
            return Ok(Err("notify.send is not available in translate (it must be pure)".into()));
        }
        if self.notices.len() >= self.limits.max_notices {
            return Ok(Err(format!("at most {} notifications per call", self.limits.max_notices)));
        }
        if n.subject.len() > MAX_NOTICE_SUBJECT || n.text.len() > MAX_NOTICE_TEXT || n.kind.len() > 64 {
            return Ok(Err(format!(
                "a notification's kind is at most 64 bytes, its subject {MAX_NOTICE_SUBJECT}, its text {MAX_NOTICE_TEXT}"
            )));
        }
        if let Some(r) = &n.recipient
            && (r.len() > 254 || !r.contains('@') || r.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Ok(Err("the recipient is not an e-mail address".into()));
        }
        self.notices.push(Notice { kind: n.kind, subject: n.subject, text: n.text, recipient: n.recipient });
        Ok(Ok(()))
    }
}

impl directory::Host for CallState {
    async fn get_user(&mut self, id: String) -> wasmtime::Result<Option<types::User>> {
        let Some(store) = self.env.store.clone() else {
            let seed = self.env.seed.as_ref();
            return Ok(seed.and_then(|s| s.users.iter().find(|(i, _)| *i == id)).map(|(i, d)| convert::user(i, d)));
        };
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
        let Some(store) = self.env.store.clone() else {
            let seed = self.env.seed.as_ref();
            return Ok(seed
                .and_then(|s| s.groups.iter().find(|(i, _, _)| *i == id))
                .map(|(i, d, _)| convert::group(i, d)));
        };
        match store.get(self.env.tenant_pk, Kind::Group, &id).await {
            Ok(Some(row)) => match row.parse() {
                Ok(s) => Ok(Some(convert::group(&s.id, &s.doc))),
                Err(e) => Err(self.fail(e)),
            },
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    async fn list_users(&mut self, cursor: Option<String>, limit: u32) -> wasmtime::Result<directory::UserPage> {
        let (rows, next) = self.page(Kind::User, cursor, limit).await?;
        let users = rows.iter().map(|(id, doc)| convert::user(id, doc)).collect();
        Ok(directory::UserPage { users, next })
    }

    async fn list_groups(&mut self, cursor: Option<String>, limit: u32) -> wasmtime::Result<directory::GroupPage> {
        let (rows, next) = self.page(Kind::Group, cursor, limit).await?;
        let groups = rows.iter().map(|(id, doc)| convert::group(id, doc)).collect();
        Ok(directory::GroupPage { groups, next })
    }

    async fn members(
        &mut self,
        group_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<directory::MemberPage> {
        let empty = directory::MemberPage { members: Vec::new(), next: None };
        let all: Vec<(String, bool)> = match self.env.store.clone() {
            Some(store) => {
                let row = match store.get(self.env.tenant_pk, Kind::Group, &group_id).await {
                    Ok(Some(r)) => r,
                    Ok(None) => return Ok(empty),
                    Err(e) => return Err(self.fail(e)),
                };
                let members = store.members_of(&[row.pk]).await.map_err(|e| self.fail(e))?;
                members.into_iter().map(|(_, m)| (m.value, m.kind == Kind::Group)).collect()
            }
            None => match self.env.seed.as_ref().and_then(|s| s.groups.iter().find(|(i, _, _)| *i == group_id)) {
                Some((_, _, members)) => members.clone(),
                None => return Ok(empty),
            },
        };
        let offset: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit = limit.clamp(1, MAX_MEMBERS_PAGE) as usize;
        let next = (all.len() > offset + limit).then(|| (offset + limit).to_string());
        let members = all
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(id, group)| types::Member {
                id,
                kind: if group { types::ResourceKind::Group } else { types::ResourceKind::User },
            })
            .collect();
        Ok(directory::MemberPage { members, next })
    }

    async fn groups_of(&mut self, user_id: String) -> wasmtime::Result<Vec<directory::GroupRef>> {
        let Some(store) = self.env.store.clone() else {
            let Some(seed) = &self.env.seed else { return Ok(Vec::new()) };
            return Ok(seed
                .groups
                .iter()
                .filter(|(_, _, members)| members.iter().any(|(m, group)| !group && *m == user_id))
                .map(|(id, doc, _)| directory::GroupRef {
                    id: id.clone(),
                    display_name: doc
                        .get("displayName")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                })
                .collect());
        };
        let row = match store.get(self.env.tenant_pk, Kind::User, &user_id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let groups = row.group_views().map_err(|e| self.fail(e))?;
        Ok(groups.into_iter().map(|g| directory::GroupRef { id: g.value, display_name: g.display }).collect())
    }

    async fn remote_id(&mut self, kind: String, local_id: String) -> wasmtime::Result<Option<String>> {
        let Some(store) = self.env.store.clone() else {
            return Ok(self.env.seed.as_ref().and_then(|s| s.remote_ids.get(&(kind, local_id)).cloned()));
        };
        store.remote_id(self.env.target_pk, &kind, &local_id).await.map_err(|e| self.fail(e))
    }
}

impl http::Host for CallState {
    async fn send(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        match self.mode {
            CallMode::Translate => {
                return Ok(Err(http::HttpError::Denied(
                    "http.send is not available in translate (it must be pure); send from deliver".into(),
                )));
            }
            CallMode::Admin => {
                return Ok(Err(http::HttpError::Denied(
                    "http.send is not available in admin calls; send from deliver or on-schedule".into(),
                )));
            }
            CallMode::Deliver | CallMode::Schedule => {}
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
    use super::super::call::{CallEnv, CallLimits, CallMode, CallState, KvOverlay};
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
            capture_logs: false,
            seed: None,
            egress: None,
        };
        let mut state = CallState::new(&limits, &egress, env, Arc::new(KvOverlay::new()), CallMode::Translate);
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

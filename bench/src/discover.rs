//! Unmeasured look-ups before a phase: the server ids of bench users and groups created by an earlier
//! run (when the creating phase is skipped), and the size of the user list for the `list` phase.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::http::Conn;
use crate::phases::{ERROR_BODY_CHARS, truncate};

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Users,
    Groups,
}

/// Unmeasured: pages through /Users or /Groups and maps the bench resources back to
/// their indices (userName `user{i:06}@bench.example.com`, displayName `Bench Group {g}`).
pub(crate) async fn discover(conn: &mut Conn, kind: Kind, n: usize, page_size: usize) -> Result<Vec<Option<String>>> {
    let (what, resource, extra) = match kind {
        Kind::Users => ("users", "/Users", "&attributes=userName"),
        Kind::Groups => ("groups", "/Groups", "&excludedAttributes=members"),
    };
    eprintln!("scim-bench: discovering existing {what} (unmeasured)…");
    let mut ids = vec![None; n];
    let mut found = 0usize;
    let mut start = 1usize;
    loop {
        let path = format!("{resource}?startIndex={start}&count={page_size}{extra}");
        let status = conn.request("GET", &path, None).await?;
        if status != 200 {
            bail!("GET {path}: status {status}: {}", truncate(&String::from_utf8_lossy(conn.body()), ERROR_BODY_CHARS));
        }
        let v: Value = serde_json::from_slice(conn.body()).with_context(|| format!("GET {path}: body is not JSON"))?;
        let total = v.get("totalResults").and_then(Value::as_u64).unwrap_or(0) as usize;
        let resources = v.get("Resources").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for r in resources {
            let (Some(id), Some(name)) = (
                r.get("id").and_then(Value::as_str),
                r.get(match kind {
                    Kind::Users => "userName",
                    Kind::Groups => "displayName",
                })
                .and_then(Value::as_str),
            ) else {
                continue;
            };
            let index = match kind {
                Kind::Users => name.strip_prefix("user").and_then(|s| s.strip_suffix("@bench.example.com")),
                Kind::Groups => name.strip_prefix("Bench Group "),
            }
            .and_then(|s| s.parse::<usize>().ok());
            if let Some(slot) = index.and_then(|i| ids.get_mut(i))
                && slot.is_none()
            {
                *slot = Some(id.to_string());
                found += 1;
            }
        }
        start += resources.len();
        if resources.is_empty() || start > total {
            break;
        }
    }
    eprintln!("scim-bench: found {found} of {n} bench {what}");
    Ok(ids)
}

/// Unmeasured: totalResults of the user list.
pub(crate) async fn probe_total(conn: &mut Conn) -> Result<usize> {
    let path = "/Users?startIndex=1&count=1";
    let status = conn.request("GET", path, None).await?;
    if status != 200 {
        bail!("GET {path}: status {status}: {}", truncate(&String::from_utf8_lossy(conn.body()), ERROR_BODY_CHARS));
    }
    serde_json::from_slice::<Value>(conn.body())
        .ok()
        .and_then(|v| v.get("totalResults").and_then(Value::as_u64))
        .map(|n| n as usize)
        .with_context(|| format!("GET {path}: no numeric totalResults"))
}

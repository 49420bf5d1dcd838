//! [`ReportStore`] on the SQL store.

use super::super::report::{IdentityList, ReportStore, StoredSnapshot};
use super::{JobOut, Pools, SqlStore};
use crate::reporting::model::Identity;
use crate::store::{BoxFut, StoreError, StoreResult};
use serde::Deserialize;
use sqlx::{Row, query, query_scalar};

/// The parts of a stored SCIM user document the report shows, borrowed from the JSON text.
#[derive(Deserialize)]
struct DocView<'a> {
    #[serde(default, borrow)]
    emails: Vec<EmailView<'a>>,
    #[serde(default)]
    title: Option<String>,
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", default)]
    enterprise: Option<EnterpriseView>,
}

#[derive(Deserialize)]
struct EnterpriseView {
    #[serde(default)]
    department: Option<String>,
}

#[derive(Deserialize)]
struct EmailView<'a> {
    #[serde(default)]
    value: Option<String>,
    #[serde(rename = "type", default, borrow)]
    kind: Option<&'a str>,
    #[serde(default)]
    primary: Option<bool>,
}

fn identity(display_name: Option<String>, user_name: String, active: bool, doc: &str) -> Identity {
    let view: Option<DocView> = serde_json::from_str(doc).ok();
    let (mail, department, job_title) = match view {
        Some(v) => {
            let mail = v
                .emails
                .iter()
                .find(|e| e.kind.is_some_and(|k| k.eq_ignore_ascii_case("work")))
                .or_else(|| v.emails.iter().find(|e| e.primary == Some(true)))
                .or_else(|| v.emails.first())
                .and_then(|e| e.value.clone());
            let department = v.enterprise.and_then(|e| e.department);
            (mail, department, v.title)
        }
        None => (None, None, None),
    };
    Identity {
        display_name,
        user_principal_name: Some(user_name),
        mail,
        department,
        job_title,
        account_enabled: active,
    }
}

impl ReportStore for SqlStore {
    fn put_snapshot<'a>(&'a self, tenant: &'a str, s: StoredSnapshot) -> BoxFut<'a, StoreResult<bool>> {
        let tenant = tenant.to_owned();
        Box::pin(async move {
            write_tx!(self, bool, |c| {
                let pk: Option<i64> = query_scalar("SELECT pk FROM tenants WHERE name = $1")
                    .bind(&tenant)
                    .fetch_optional(&mut *c)
                    .await?;
                match pk {
                    None => false,
                    Some(pk) => {
                        query(
                            "INSERT INTO report_snapshots (tenant_pk, loaded_at, source, data) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant_pk) DO UPDATE SET loaded_at = excluded.loaded_at, \
                     source = excluded.source, data = excluded.data",
                        )
                        .bind(pk)
                        .bind(&s.loaded_at)
                        .bind(&s.source)
                        .bind(&s.data)
                        .execute(&mut *c)
                        .await?;
                        true
                    }
                }
            })
        })
    }

    fn get_snapshot<'a>(&'a self, tenant: &'a str) -> BoxFut<'a, StoreResult<Option<StoredSnapshot>>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
                let row = query(
                    "SELECT r.loaded_at, r.source, r.data FROM report_snapshots r JOIN tenants t ON t.pk = r.tenant_pk \
                     WHERE t.name = $1",
                )
                .bind(tenant)
                .fetch_optional(read)
                .await?;
                Ok(match row {
                    Some(r) => Some(StoredSnapshot { loaded_at: r.try_get(0usize)?, source: r.try_get(1usize)?, data: r.try_get(2usize)? }),
                    None => None,
                })
            })
        })
    }

    fn snapshot_loaded_at<'a>(&'a self, tenant: &'a str) -> BoxFut<'a, StoreResult<Option<String>>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
                Ok(query_scalar(
                    "SELECT r.loaded_at FROM report_snapshots r JOIN tenants t ON t.pk = r.tenant_pk WHERE t.name = $1",
                )
                .bind(tenant)
                .fetch_optional(read)
                .await?)
            })
        })
    }

    fn identities<'a>(&'a self, tenant: &'a str) -> BoxFut<'a, StoreResult<IdentityList>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
                let Some((pk, seq)): Option<(i64, i64)> = query("SELECT pk, last_seq FROM tenants WHERE name = $1")
                    .bind(tenant)
                    .fetch_optional(read)
                    .await?
                    .map(|r| Ok::<_, sqlx::Error>((r.try_get(0usize)?, r.try_get(1usize)?)))
                    .transpose()?
                else {
                    return Err(StoreError::Scim(crate::scim::error::ScimError::not_found(format!("tenant \"{tenant}\" not found"))));
                };
                let rows = query(
                    "SELECT external_id, display_name, user_name, active, doc FROM users \
                     WHERE tenant_pk = $1 AND external_id IS NOT NULL",
                )
                .bind(pk)
                .fetch_all(read)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let ext: String = r.try_get(0usize)?;
                    let active: bool = match r.try_get::<bool, _>(3usize) {
                        Ok(b) => b,
                        Err(_) => r.try_get::<i64, _>(3usize)? != 0,
                    };
                    let doc: String = r.try_get(4usize)?;
                    out.push((ext, identity(r.try_get(1usize)?, r.try_get(2usize)?, active, &doc)));
                }
                Ok((seq, out))
            })
        })
    }

    fn last_seq<'a>(&'a self, tenant: &'a str) -> BoxFut<'a, StoreResult<Option<i64>>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
                Ok(query_scalar("SELECT last_seq FROM tenants WHERE name = $1").bind(tenant).fetch_optional(read).await?)
            })
        })
    }
}

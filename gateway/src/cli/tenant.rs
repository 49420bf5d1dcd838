//! `gateway tenant …`, `gateway schema …`, `gateway changes`.

use crate::config::Config;
use crate::http::auth_token;
use crate::scim::discovery::validate_custom_schema;
use crate::store::{CustomSchemaRow, MemberPolicy, connect};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant; prints {"tenant", "scim_path", "token"} (the token is shown only once).
    Create {
        name: String,
        /// What adding an unknown member id does: reject (400, default) or ignore (skip it).
        #[arg(long, value_enum, default_value = "reject")]
        unknown_members: UnknownMembers,
    },
    /// List tenants with their counts.
    List,
    /// Issue a new token; the old ones stay valid until `revoke-token`.
    RotateToken { name: String },
    /// Revoke every token of the tenant except the newest.
    RevokeToken { name: String },
    /// Issue a tenant admin token: the admin API for this tenant's targets, outbox and report only
    /// (shown once). Older ones stay valid until `revoke-admin-token`.
    RotateAdminToken { name: String },
    /// Revoke every tenant admin token except the newest (`--all`: every one).
    RevokeAdminToken {
        name: String,
        #[arg(long)]
        all: bool,
    },
    /// Delete a tenant and everything it holds.
    Delete { name: String },
}

/// `--unknown-members`: the CLI's spelling of [`MemberPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownMembers {
    /// 400 invalidValue: nothing is recorded that the store cannot honour (the default; right for Entra,
    /// which provisions users before memberships).
    Reject,
    /// Skip unknown ids, apply the rest, count them in `scim_unknown_members_skipped_total`.
    Ignore,
}

impl From<UnknownMembers> for MemberPolicy {
    fn from(u: UnknownMembers) -> MemberPolicy {
        match u {
            UnknownMembers::Reject => MemberPolicy::Reject,
            UnknownMembers::Ignore => MemberPolicy::Ignore,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum SchemaCommand {
    /// Register (or replace) a custom extension schema, an RFC 7643 §7 document.
    Add {
        #[arg(long)]
        tenant: String,
        /// User or Group.
        #[arg(long, default_value = "User")]
        resource_type: String,
        /// Mark the extension required for the resource type.
        #[arg(long)]
        required: bool,
        file: PathBuf,
    },
    /// List a tenant's custom schemas.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Remove a custom schema (stored values stay in the documents but are no longer served or validated).
    Remove {
        #[arg(long)]
        tenant: String,
        schema_id: String,
    },
}

fn valid_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        anyhow::bail!(
            "tenant names are 1-63 characters: letters, digits, '-' and '_', starting with a letter or digit"
        );
    }
    Ok(())
}

fn print(v: serde_json::Value) {
    println!("{v}");
}

pub async fn run_tenant(cfg: Config, cmd: TenantCommand) -> anyhow::Result<()> {
    let store = connect(&cfg.database_url).await?;
    match cmd {
        TenantCommand::Create { name, unknown_members } => {
            valid_name(&name)?;
            let token = auth_token::generate()?;
            store.create_tenant(&name, &auth_token::digest(&token), unknown_members.into()).await?;
            print(json!({"tenant": name, "scim_path": format!("/scim/v2/{name}"), "token": token}));
        }
        TenantCommand::List => {
            for t in store.list_tenants().await? {
                print(serde_json::to_value(&t)?);
            }
        }
        TenantCommand::RotateToken { name } => {
            let token = auth_token::generate()?;
            if !store.add_token(&name, &auth_token::digest(&token)).await? {
                anyhow::bail!("no tenant named \"{name}\"");
            }
            print(json!({"tenant": name, "scim_path": format!("/scim/v2/{name}"), "token": token}));
        }
        TenantCommand::RevokeToken { name } => match store.revoke_old_tokens(&name).await? {
            Some(n) => print(json!({"tenant": name, "revoked": n})),
            None => anyhow::bail!("no tenant named \"{name}\""),
        },
        TenantCommand::RotateAdminToken { name } => {
            let token = auth_token::generate()?;
            if !store.add_admin_token(&name, &auth_token::digest(&token)).await? {
                anyhow::bail!("no tenant named \"{name}\"");
            }
            print(json!({"tenant": name, "admin_path": format!("/admin/v1/tenants/{name}"), "admin_token": token}));
        }
        TenantCommand::RevokeAdminToken { name, all } => match store.revoke_admin_tokens(&name, all).await? {
            Some(n) => print(json!({"tenant": name, "revoked": n})),
            None => anyhow::bail!("no tenant named \"{name}\""),
        },
        TenantCommand::Delete { name } => {
            if !store.delete_tenant(&name).await? {
                anyhow::bail!("no tenant named \"{name}\"");
            }
            print(json!({"tenant": name, "deleted": true}));
        }
    }
    store.close().await;
    Ok(())
}

pub async fn run_schema(cfg: Config, cmd: SchemaCommand) -> anyhow::Result<()> {
    let store = connect(&cfg.database_url).await?;
    match cmd {
        SchemaCommand::Add { tenant, resource_type, required, file } => {
            let doc =
                std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let schema = validate_custom_schema(&doc, &resource_type).map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            let resource_type = if resource_type.eq_ignore_ascii_case("group") { "Group" } else { "User" };
            let row = CustomSchemaRow {
                schema_id: schema.id.clone(),
                resource_type: resource_type.into(),
                required,
                doc: serde_json::to_string(&schema)?,
            };
            if !store.put_custom_schema(&tenant, row).await? {
                anyhow::bail!("no tenant named \"{tenant}\"");
            }
            print(
                json!({"tenant": tenant, "schema": schema.id, "resource_type": resource_type, "attributes": schema.attributes.len()}),
            );
        }
        SchemaCommand::List { tenant } => {
            let Some(auth) = store.tenant_auth(&tenant).await? else { anyhow::bail!("no tenant named \"{tenant}\"") };
            for s in store.custom_schemas(auth.pk).await? {
                print(json!({"schema": s.schema_id, "resource_type": s.resource_type, "required": s.required}));
            }
        }
        SchemaCommand::Remove { tenant, schema_id } => {
            if !store.delete_custom_schema(&tenant, &schema_id).await? {
                anyhow::bail!("tenant \"{tenant}\" has no schema \"{schema_id}\"");
            }
            print(json!({"tenant": tenant, "schema": schema_id, "removed": true}));
        }
    }
    store.close().await;
    Ok(())
}

pub async fn run_changes(cfg: Config, tenant: String, after: i64, limit: i64) -> anyhow::Result<()> {
    let store = connect(&cfg.database_url).await?;
    let Some(auth) = store.tenant_auth(&tenant).await? else { anyhow::bail!("no tenant named \"{tenant}\"") };
    for ev in crate::store::ResourceStore::changes(store.as_ref(), auth.pk, after, limit).await? {
        print(serde_json::to_value(&ev)?);
    }
    store.close().await;
    Ok(())
}

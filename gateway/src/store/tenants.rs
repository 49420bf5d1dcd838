//! The tenant registry: tenants, their bearer-token digests and member policy, and their custom
//! extension schemas ([`TenantStore`]).

use super::error::StoreResult;
use async_trait::async_trait;

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub pk: i64,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantSummary {
    pub tenant: String,
    pub created_at: String,
    pub active_tokens: i64,
    pub unknown_members: String,
    pub users: i64,
    pub groups: i64,
    pub last_seq: i64,
}

/// What authenticating a request needs: the tenant's key and the digests of its valid tokens.
#[derive(Debug, Clone)]
pub struct TenantAuth {
    pub pk: i64,
    pub token_hashes: Vec<Vec<u8>>,
    pub policy: MemberPolicy,
}

/// What adding a member id that is neither a user nor a group of the tenant does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberPolicy {
    /// 400 invalidValue: nothing is recorded that the store cannot honour (the default; right for Entra,
    /// which provisions users before memberships).
    #[default]
    Reject,
    /// Skip unknown ids, apply the rest, count them in `scim_unknown_members_skipped_total`.
    Ignore,
}

impl MemberPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberPolicy::Reject => "reject",
            MemberPolicy::Ignore => "ignore",
        }
    }
    pub fn parse(s: &str) -> MemberPolicy {
        if s.eq_ignore_ascii_case("ignore") { MemberPolicy::Ignore } else { MemberPolicy::Reject }
    }
}

#[derive(Debug, Clone)]
pub struct CustomSchemaRow {
    pub schema_id: String,
    pub resource_type: String,
    pub required: bool,
    pub doc: String,
}

/// The tenant registry and credentials.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(&self, name: &str, token_hash: &[u8], policy: MemberPolicy) -> StoreResult<TenantRow>;
    async fn list_tenants(&self) -> StoreResult<Vec<TenantSummary>>;
    async fn tenant_auth(&self, name: &str) -> StoreResult<Option<TenantAuth>>;
    /// Whether a valid (unrevoked) token with this digest exists for any tenant.
    async fn token_exists(&self, token_hash: &[u8]) -> StoreResult<bool>;
    /// Adds a token; returns false when the tenant does not exist.
    async fn add_token(&self, name: &str, token_hash: &[u8]) -> StoreResult<bool>;
    /// Revokes every token but the newest; returns how many were revoked, None if no such tenant.
    async fn revoke_old_tokens(&self, name: &str) -> StoreResult<Option<u64>>;
    /// Adds a tenant admin token (the tenant's part of the admin API); false when no such tenant.
    async fn add_admin_token(&self, name: &str, token_hash: &[u8]) -> StoreResult<bool>;
    /// Revokes every tenant admin token but the newest (all of them with `all`); None if no such tenant.
    async fn revoke_admin_tokens(&self, name: &str, all: bool) -> StoreResult<Option<u64>>;
    /// The tenant an unrevoked tenant admin token with this digest belongs to.
    async fn admin_token_tenant(&self, token_hash: &[u8]) -> StoreResult<Option<String>>;
    async fn delete_tenant(&self, name: &str) -> StoreResult<bool>;
    async fn put_custom_schema(&self, tenant: &str, row: CustomSchemaRow) -> StoreResult<bool>;
    async fn delete_custom_schema(&self, tenant: &str, schema_id: &str) -> StoreResult<bool>;
    async fn custom_schemas(&self, tenant_pk: i64) -> StoreResult<Vec<CustomSchemaRow>>;
}

-- Per-tenant admin tokens (the tenant's targets, outbox and report over the admin API), stored only as
-- SHA-256, rotated like SCIM tokens. The operator's token is configuration, not a row.
CREATE TABLE tenant_admin_tokens (
    pk          BIGSERIAL PRIMARY KEY,
    tenant_pk   BIGINT NOT NULL REFERENCES tenants(pk) ON DELETE CASCADE,
    hash        BYTEA NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX tenant_admin_tokens_tenant ON tenant_admin_tokens(tenant_pk);
CREATE INDEX tenant_admin_tokens_hash ON tenant_admin_tokens(hash);

-- Tenants: one per Entra provisioning app. `last_seq` orders the tenant's change log.
CREATE TABLE tenants (
    pk          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    -- 'reject' (default): adding an unknown member id is a 400; 'ignore': unknown ids are skipped.
    unknown_members TEXT NOT NULL DEFAULT 'reject',
    last_seq    BIGINT NOT NULL DEFAULT 0,
    -- Resource counts, kept in the write transactions (a list's totalResults without counting rows).
    user_count  BIGINT NOT NULL DEFAULT 0,
    group_count BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);

-- Bearer tokens, stored only as SHA-256. Several may be valid at once during rotation.
CREATE TABLE tenant_tokens (
    pk          BIGSERIAL PRIMARY KEY,
    tenant_pk   BIGINT NOT NULL REFERENCES tenants(pk) ON DELETE CASCADE,
    hash        BYTEA NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX tenant_tokens_tenant ON tenant_tokens(tenant_pk);
-- Tells a token of another tenant (403) from an unknown one (401).
CREATE INDEX tenant_tokens_hash ON tenant_tokens(hash);

-- Per-tenant custom extension schemas (RFC 7643 §7 documents).
CREATE TABLE custom_schemas (
    tenant_pk     BIGINT NOT NULL REFERENCES tenants(pk) ON DELETE CASCADE,
    schema_id     TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    required      BOOLEAN NOT NULL DEFAULT FALSE,
    doc           TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_pk, schema_id)
);

CREATE TABLE users (
    pk            BIGSERIAL PRIMARY KEY,
    tenant_pk     BIGINT NOT NULL REFERENCES tenants(pk) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    user_name_lc  TEXT NOT NULL,
    external_id   TEXT,
    display_name  TEXT,
    active        BOOLEAN NOT NULL,
    version       BIGINT NOT NULL,
    created       TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE UNIQUE INDEX users_id ON users(tenant_pk, id);
-- Creation-order paging per tenant (the index carries pk; SQLite appends the rowid implicitly).
CREATE INDEX users_tenant ON users(tenant_pk, pk);
CREATE UNIQUE INDEX users_user_name ON users(tenant_pk, user_name_lc);
CREATE INDEX users_external_id ON users(tenant_pk, external_id);

CREATE TABLE groups (
    pk              BIGSERIAL PRIMARY KEY,
    tenant_pk       BIGINT NOT NULL REFERENCES tenants(pk) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    display_name_lc TEXT NOT NULL,
    external_id     TEXT,
    version         BIGINT NOT NULL,
    created         TEXT NOT NULL,
    last_modified   TEXT NOT NULL,
    doc             TEXT NOT NULL
);
CREATE UNIQUE INDEX groups_id ON groups(tenant_pk, id);
CREATE INDEX groups_tenant ON groups(tenant_pk, pk);
CREATE INDEX groups_display_name ON groups(tenant_pk, display_name_lc);
CREATE INDEX groups_external_id ON groups(tenant_pk, external_id);

-- Group memberships, with the order and time each was added (the change-log sequence of the event that
-- added it, then the position in that request). member_kind: 'User' or 'Group'; member_id repeats the
-- member's SCIM id (immutable) so a group's members are read from one covering index.
CREATE TABLE memberships (
    group_pk     BIGINT NOT NULL REFERENCES groups(pk) ON DELETE CASCADE,
    member_kind  TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    member_pk    BIGINT NOT NULL,
    added_seq    BIGINT NOT NULL,
    added_pos    BIGINT NOT NULL,
    added_at     TEXT NOT NULL,
    PRIMARY KEY (group_pk, member_kind, member_pk)
);
-- A member's groups in order of addition, without a sort (users' `groups`).
CREATE INDEX memberships_member ON memberships(member_kind, member_pk, added_seq, added_pos, group_pk);
CREATE INDEX memberships_order ON memberships(group_pk, added_seq, added_pos, member_kind, member_id);

-- The change log: every write appends, in the same transaction, ordered per tenant by `seq`.
CREATE TABLE change_log (
    tenant_pk     BIGINT NOT NULL REFERENCES tenants(pk) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_pk, seq)
);

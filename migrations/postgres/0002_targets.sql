-- Target plugins, targets (plugin + config + credentials per tenant), dispatch cursors, the outbox.

-- Every uploaded version of a plugin; the newest row per name is the active one.
CREATE TABLE plugins (
    pk          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    world       TEXT NOT NULL,
    wasm        BYTEA NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (name, sha256)
);

CREATE TABLE targets (
    pk            BIGSERIAL PRIMARY KEY,
    tenant_pk     BIGINT NOT NULL REFERENCES tenants(pk) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    plugin        TEXT NOT NULL,
    config        TEXT NOT NULL,
    -- JSON array of scheme://host[:port] patterns the plugin may call.
    allowed_hosts TEXT NOT NULL,
    allow_http    BIGINT NOT NULL DEFAULT 0,
    allow_private BIGINT NOT NULL DEFAULT 0,
    paused        BIGINT NOT NULL DEFAULT 0,
    -- Last change-log seq translated (its operations are in the outbox).
    cursor_seq    BIGINT NOT NULL DEFAULT 0,
    -- A translate failure parks the target at that change until `target retry`.
    parked_seq    BIGINT,
    parked_reason TEXT,
    parked_at     TEXT,
    -- Progress of a running resync (JSON), NULL when none.
    resync        TEXT,
    -- Which gateway instance translates this target, until when (unix ms).
    lease_owner   TEXT,
    lease_until   BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    UNIQUE (tenant_pk, name)
);

-- Named secrets, sealed with the gateway's credential key; never returned by any API.
CREATE TABLE target_credentials (
    target_pk   BIGINT NOT NULL REFERENCES targets(pk) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    PRIMARY KEY (target_pk, name)
);

-- Plugin-private state per target.
CREATE TABLE target_kv (
    target_pk   BIGINT NOT NULL REFERENCES targets(pk) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (target_pk, key)
);

-- Remote ids learned from `done` outcomes.
CREATE TABLE remote_ids (
    target_pk   BIGINT NOT NULL REFERENCES targets(pk) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    local_id    TEXT NOT NULL,
    remote_id   TEXT NOT NULL,
    PRIMARY KEY (target_pk, kind, local_id)
);

-- Operations waiting for delivery (delivered ones are deleted). `okey` orders them: within one
-- (target, okey) they are delivered strictly in pk order; different keys deliver in parallel.
CREATE TABLE outbox (
    pk          BIGSERIAL PRIMARY KEY,
    target_pk   BIGINT NOT NULL REFERENCES targets(pk) ON DELETE CASCADE,
    op_id       TEXT NOT NULL UNIQUE,
    okey        TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    op          TEXT NOT NULL,
    -- 'pending' or 'dead'
    state       TEXT NOT NULL DEFAULT 'pending',
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_ms  BIGINT NOT NULL
);
CREATE INDEX outbox_key ON outbox (target_pk, okey, pk);
CREATE INDEX outbox_ready ON outbox (state, next_at);

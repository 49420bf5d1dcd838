-- Learn Organizational Reporting: the last loaded snapshot of a tenant's datasets (JSON, replaced whole by
-- the next load, so readers never see half a load).
CREATE TABLE report_snapshots (
    tenant_pk   INTEGER PRIMARY KEY REFERENCES tenants(pk) ON DELETE CASCADE,
    loaded_at   TEXT NOT NULL,
    source      TEXT NOT NULL,
    data        BLOB NOT NULL
);

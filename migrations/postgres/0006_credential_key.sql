-- The fingerprint of the key that seals this database's credentials (never the key itself): a process
-- started with another key, or a lost key file replaced by a new one, is refused with a clear message
-- instead of parking every target with "wrong key".
CREATE TABLE credential_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

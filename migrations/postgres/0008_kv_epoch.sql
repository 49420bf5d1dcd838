-- Bumped by every commit of plugin kv writes that another process may make (admin resources: the CLI's
-- `gateway target resource` writes the same database as a running gateway), so a gateway's kv cache
-- notices within seconds that its copy of the target's kv is out of date.
ALTER TABLE targets ADD COLUMN kv_epoch BIGINT NOT NULL DEFAULT 0;

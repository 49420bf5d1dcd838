-- Scheduled jobs of targets whose plugins declare them (schedule.jobs), with the run in progress (its
-- scheduled time, continuation cursor and try) and the last finished run. Times are Unix milliseconds
-- on the host clock (a virtual clock in tests and demos).
CREATE TABLE target_jobs (
    target_pk        BIGINT NOT NULL REFERENCES targets(pk) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    cron             TEXT NOT NULL,
    exclusive        BIGINT NOT NULL DEFAULT 0,
    lock_message     TEXT,
    next_ms          BIGINT NOT NULL,
    run_ms           BIGINT,
    run_cursor       TEXT,
    run_attempt      BIGINT NOT NULL DEFAULT 0,
    run_started_ms   BIGINT,
    last_ms          BIGINT,
    last_finished_ms BIGINT,
    last_result      TEXT,
    last_summary     TEXT,
    runs             BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (target_pk, name)
);

-- What plugins asked to tell people (notify.send), and whether it was e-mailed.
CREATE TABLE target_notices (
    pk          BIGSERIAL PRIMARY KEY,
    target_pk   BIGINT NOT NULL REFERENCES targets(pk) ON DELETE CASCADE,
    created_ms  BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    recipient   TEXT,
    delivery    TEXT NOT NULL
);
CREATE INDEX target_notices_by_target ON target_notices (target_pk, pk);

-- The durable job queue: syncs to run, claimed by one worker at a time under an expiring lease.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,              -- sync | noop
    id_connection INTEGER REFERENCES connections(id) ON DELETE CASCADE,
    id_connector  INTEGER,                    -- for the per-connector concurrency limit
    payload       BLOB,                       -- sealed: may carry what the user typed (an OTP)
    run_at        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    locked_by     TEXT,
    locked_until  TEXT,
    finished      TEXT,
    result        TEXT,                       -- 'ok', the state the sync left, or 'failed'
    created       TEXT NOT NULL
);
-- At most one unfinished sync per connection: concurrent enqueues (schedulers on several
-- processes, a user's PUT) collapse into one job.
CREATE UNIQUE INDEX jobs_one_per_connection ON jobs(id_connection) WHERE finished IS NULL;
CREATE INDEX jobs_due ON jobs(run_at, id) WHERE finished IS NULL;

//! The durable job queue, in the database both backends share.
//!
//! A job is claimed by one worker with a single atomic `UPDATE … RETURNING`: on PostgreSQL the
//! candidate row is taken `FOR UPDATE SKIP LOCKED`, so concurrent workers in many processes never
//! take the same one; on SQLite the statement holds the only write lock. A claim is a lease: the
//! worker extends it while it works, and a crashed worker's job is claimed again once the lease
//! has run out. Every write after the claim is fenced by `locked_by`, so a worker that lost its
//! lease cannot overwrite its successor's result.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::{BeginWrite, Db, Store, StoreResult, now, on_db};

/// What a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Synchronize a connection.
    Sync,
    /// Nothing: measures and tests the queue itself.
    Noop,
}

impl JobKind {
    fn as_str(self) -> &'static str {
        match self {
            JobKind::Sync => "sync",
            JobKind::Noop => "noop",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub id_connection: Option<i64>,
    /// Sealed by whoever enqueued it.
    pub payload: Option<Vec<u8>>,
    /// Claims so far, this one included.
    pub attempts: i64,
}

/// A worker's hold on a claimed job. A sync's writes are fenced by it: each checks, inside its
/// own database transaction, that the job is still this worker's, so a worker that lost its lease
/// (it stalled past it, or a restart took its job back) never writes beside its successor.
#[derive(Debug, Clone)]
pub struct Lease {
    pub job: i64,
    pub worker: String,
}

/// Inside the write transaction `$tx`: returns `Err(StoreError::LeaseLost)` from the enclosing
/// function unless `$lease` (an `Option<&Lease>`; `None` is an unfenced write) still holds its
/// job. The update takes the job's row lock on PostgreSQL, so the job cannot be claimed away
/// before the transaction ends; SQLite's write lock does the same.
macro_rules! hold_lease {
    ($tx:ident, $lease:expr) => {
        if let Some(lease) = $lease {
            let held = sqlx::query(
                "UPDATE jobs SET locked_by = locked_by WHERE id = $1 AND locked_by = $2 AND finished IS NULL",
            )
            .bind(lease.job)
            .bind(&lease.worker)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if held != 1 {
                return Err($crate::store::StoreError::LeaseLost);
            }
        }
    };
}
pub(crate) use hold_lease;

/// Inside the write transaction `$tx`: marks `$lease`'s job finished with `$result` (and forgets
/// its payload, which may hold an OTP), or returns `Err(StoreError::LeaseLost)` from the enclosing
/// function when the job is no longer the worker's. Written with the sync's end, so a sync is
/// never recorded as run while its job still waits to be run again.
macro_rules! finish_leased_job {
    ($tx:ident, $lease:expr, $result:expr) => {
        let lease: &$crate::store::jobs::Lease = $lease;
        let finished = sqlx::query(
            "UPDATE jobs SET finished = $1, result = $2, payload = NULL, locked_until = NULL
             WHERE id = $3 AND locked_by = $4 AND finished IS NULL",
        )
        .bind($crate::store::now())
        .bind($result)
        .bind(lease.job)
        .bind(&lease.worker)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if finished != 1 {
            return Err($crate::store::StoreError::LeaseLost);
        }
    };
}
pub(crate) use finish_leased_job;

/// The answer to an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued now, or merged into the connection's job that was already waiting.
    Queued(i64),
    /// The connection's sync is running: nothing was queued.
    Running(i64),
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Waiting,
    Running,
    /// With its result: `ok`, the state the sync left, or `failed`.
    Finished(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub failed: i64,
    /// When the longest-waiting job that could run now became due: the queue's lag.
    pub oldest_due: Option<DateTime<Utc>>,
}

const CLAIM_SQLITE: &str = "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1
     WHERE id = (SELECT j.id FROM jobs j
                 WHERE j.finished IS NULL AND j.run_at <= $3 AND (j.locked_until IS NULL OR j.locked_until < $3)
                   AND (j.id_connector IS NULL OR (SELECT COUNT(*) FROM jobs r WHERE r.finished IS NULL
                        AND r.id_connector = j.id_connector AND r.locked_until >= $3) < $4)
                   AND (j.id_connection IS NULL OR (SELECT COUNT(*) FROM connections c
                        JOIN jobs r ON r.id_connection = c.id AND r.finished IS NULL AND r.locked_until >= $3
                        WHERE c.id_user = (SELECT o.id_user FROM connections o WHERE o.id = j.id_connection)) < $5)
                 ORDER BY j.run_at, j.id LIMIT 1)
     RETURNING id, kind, id_connection, payload, attempts";

/// The same claim, skipping rows another transaction is claiming right now.
const CLAIM_POSTGRES: &str = "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1
     WHERE id = (SELECT j.id FROM jobs j
                 WHERE j.finished IS NULL AND j.run_at <= $3 AND (j.locked_until IS NULL OR j.locked_until < $3)
                   AND (j.id_connector IS NULL OR (SELECT COUNT(*) FROM jobs r WHERE r.finished IS NULL
                        AND r.id_connector = j.id_connector AND r.locked_until >= $3) < $4)
                   AND (j.id_connection IS NULL OR (SELECT COUNT(*) FROM connections c
                        JOIN jobs r ON r.id_connection = c.id AND r.finished IS NULL AND r.locked_until >= $3
                        WHERE c.id_user = (SELECT o.id_user FROM connections o WHERE o.id = j.id_connection)) < $5)
                 ORDER BY j.run_at, j.id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING id, kind, id_connection, payload, attempts";

impl Store {
    /// Queues a sync of the connection, unless one is already waiting (then the new payload, if
    /// any and `replace_queued`, replaces the old one, and the earlier `run_at` wins) or running.
    /// Times are kept to the second, like every timestamp of the store.
    pub async fn enqueue_sync(
        &self,
        id_connection: i64,
        id_connector: i64,
        payload: Option<Vec<u8>>,
        replace_queued: bool,
        run_at: DateTime<Utc>,
    ) -> StoreResult<Enqueued> {
        let replacement = payload.as_ref().filter(|_| replace_queued);
        let at = now();
        let run_at = run_at.trunc_subsecs(0);
        let result = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let inserted: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO jobs (kind, id_connection, id_connector, payload, run_at, created)
                 VALUES ('sync', $1, $2, $3, $4, $5)
                 ON CONFLICT (id_connection) WHERE finished IS NULL DO NOTHING
                 RETURNING id",
            )
            .bind(id_connection)
            .bind(id_connector)
            .bind(&payload)
            .bind(run_at)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            let result = match inserted {
                Some((id,)) => Enqueued::Queued(id),
                None => {
                    let (id, locked_until): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                        "SELECT id, locked_until FROM jobs WHERE id_connection = $1 AND finished IS NULL",
                    )
                    .bind(id_connection)
                    .fetch_one(&mut *tx)
                    .await?;
                    if locked_until.is_some_and(|until| until >= at) {
                        Enqueued::Running(id)
                    } else {
                        sqlx::query(
                            "UPDATE jobs SET payload = COALESCE($1, payload),
                                    run_at = CASE WHEN run_at < $2 THEN run_at ELSE $2 END
                             WHERE id = $3",
                        )
                        .bind(replacement)
                        .bind(run_at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        Enqueued::Queued(id)
                    }
                }
            };
            tx.commit().await?;
            result
        });
        Ok(result)
    }

    /// Queues background syncs of many connections in one statement: (connection, connector,
    /// sealed payload) each. A connection that has an unfinished job keeps it. Returns how many
    /// were queued.
    pub async fn enqueue_syncs(&self, jobs: &[(i64, i64, Vec<u8>)], run_at: DateTime<Utc>) -> StoreResult<u64> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let rows: Vec<(i64, i64, String)> = jobs.iter().map(|(c, k, payload)| (*c, *k, hex(payload))).collect();
        // Integers and hex strings: serializing cannot fail.
        let rows = serde_json::to_string(&rows).expect("jobs serialize");
        let sql = match self.db {
            // `WHERE TRUE` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
            Db::Sqlite(_) => {
                "INSERT INTO jobs (kind, id_connection, id_connector, payload, run_at, created)
                 SELECT 'sync', value ->> 0, value ->> 1, unhex(value ->> 2), $1, $2 FROM json_each($3) WHERE TRUE
                 ON CONFLICT (id_connection) WHERE finished IS NULL DO NOTHING"
            }
            Db::Pg(_) => {
                "INSERT INTO jobs (kind, id_connection, id_connector, payload, run_at, created)
                 SELECT 'sync', (value ->> 0)::bigint, (value ->> 1)::bigint, decode(value ->> 2, 'hex'), $1, $2
                 FROM json_array_elements($3::json)
                 ON CONFLICT (id_connection) WHERE finished IS NULL DO NOTHING"
            }
        };
        let queued = on_db!(&self.db, pool =>
            sqlx::query(sql).bind(run_at.trunc_subsecs(0)).bind(now()).bind(rows).execute(pool).await?.rows_affected()
        );
        Ok(queued)
    }

    /// Queues `count` no-op jobs (benchmarks and queue tests).
    pub async fn enqueue_noops(&self, count: usize) -> StoreResult<()> {
        let at = now();
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for _ in 0..count {
                sqlx::query("INSERT INTO jobs (kind, run_at, created) VALUES ($1, $2, $2)")
                    .bind(JobKind::Noop.as_str())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Claims the next due job for `worker` until `now + lease`, keeping fewer than
    /// `per_connector` jobs of one connector, and fewer than `per_user` of one user, running at
    /// once: a job over either cap stays queued, and a later one that is not may run first.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease: Duration,
        per_connector: i64,
        per_user: i64,
    ) -> StoreResult<Option<ClaimedJob>> {
        let at = now();
        let claim = match self.db {
            Db::Sqlite(_) => CLAIM_SQLITE,
            Db::Pg(_) => CLAIM_POSTGRES,
        };
        let job = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            if let Db::Pg(_) = self.db {
                // The claim must walk the due index in order and stop at the first free row. With
                // the stale statistics of a queue that just filled up, the planner prefers a
                // bitmap scan and a sort of every queued row instead: O(queue) per claim.
                sqlx::query("SET LOCAL enable_bitmapscan = off").execute(&mut *tx).await?;
                sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
            }
            let job = sqlx::query_as(claim)
                .bind(worker)
                .bind(at + lease)
                .bind(at)
                .bind(per_connector)
                .bind(per_user)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            job
        });
        Ok(job)
    }

    /// Extends the worker's lease; false if the lease was lost (another worker took the job).
    pub async fn extend_lease(&self, id: i64, worker: &str, until: DateTime<Utc>) -> StoreResult<bool> {
        let done = on_db!(&self.db, pool =>
            sqlx::query("UPDATE jobs SET locked_until = $1 WHERE id = $2 AND locked_by = $3 AND finished IS NULL")
                .bind(until.trunc_subsecs(0))
                .bind(id)
                .bind(worker)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(done == 1)
    }

    /// Marks the job done with its result and forgets its payload (it may hold an OTP).
    pub async fn finish_job(&self, id: i64, worker: &str, result: &str) -> StoreResult<bool> {
        let done = on_db!(&self.db, pool =>
            sqlx::query(
                "UPDATE jobs SET finished = $1, result = $2, payload = NULL, locked_until = NULL
                 WHERE id = $3 AND locked_by = $4 AND finished IS NULL",
            )
            .bind(now())
            .bind(result)
            .bind(id)
            .bind(worker)
            .execute(pool)
            .await?
            .rows_affected()
        );
        Ok(done == 1)
    }

    /// Gives the job back, to be claimed again from `run_at`.
    pub async fn release_job(&self, id: i64, worker: &str, run_at: DateTime<Utc>) -> StoreResult<bool> {
        let done = on_db!(&self.db, pool =>
            sqlx::query(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, run_at = $1
                 WHERE id = $2 AND locked_by = $3 AND finished IS NULL",
            )
            .bind(run_at.trunc_subsecs(0))
            .bind(id)
            .bind(worker)
            .execute(pool)
            .await?
            .rows_affected()
        );
        Ok(done == 1)
    }

    pub async fn job_state(&self, id: i64) -> StoreResult<Option<JobState>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            locked_until: Option<DateTime<Utc>>,
            result: Option<String>,
            finished: Option<DateTime<Utc>>,
        }
        let row: Option<Row> = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT locked_until, result, finished FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        );
        let at = now();
        Ok(row.map(|row| match row.finished {
            Some(_) => JobState::Finished(row.result.unwrap_or_default()),
            None if row.locked_until.is_some_and(|until| until >= at) => JobState::Running,
            None => JobState::Waiting,
        }))
    }

    /// Whether a worker is syncing the connection now.
    pub async fn connection_busy(&self, id_connection: i64) -> StoreResult<bool> {
        let row: Option<(i64,)> = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT id FROM jobs WHERE id_connection = $1 AND finished IS NULL AND locked_until >= $2",
            )
            .bind(id_connection)
            .bind(now())
            .fetch_optional(pool)
            .await?
        );
        Ok(row.is_some())
    }

    /// Forgets finished jobs older than `age` (their result was only for waiting requests).
    pub async fn purge_finished_jobs(&self, age: Duration) -> StoreResult<u64> {
        let purged = on_db!(&self.db, pool =>
            sqlx::query("DELETE FROM jobs WHERE finished IS NOT NULL AND finished < $1")
                .bind(now() - age)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(purged)
    }

    pub async fn job_counts(&self) -> StoreResult<JobCounts> {
        let (queued, running, failed, oldest_due): (i64, i64, i64, Option<DateTime<Utc>>) = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT COALESCE(SUM(CASE WHEN finished IS NULL AND (locked_until IS NULL OR locked_until < $1) THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN finished IS NULL AND locked_until >= $1 THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN result = 'failed' THEN 1 ELSE 0 END), 0),
                        (SELECT MIN(run_at) FROM jobs WHERE finished IS NULL AND run_at <= $1
                                AND (locked_until IS NULL OR locked_until < $1))
                 FROM jobs",
            )
            .bind(now())
            .fetch_one(pool)
            .await?
        );
        Ok(JobCounts { queued, running, failed, oldest_due })
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

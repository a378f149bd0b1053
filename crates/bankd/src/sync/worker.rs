//! A worker: claims due jobs one at a time and runs them, extending its lease while it works.
//!
//! A worker that finds nothing to do sleeps until a local enqueue wakes it or about a second has
//! passed (jobs queued by other processes are found by polling). A sync that fails for want of a
//! database is given back with a back-off and marked `failed` after a few attempts.

use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::SyncRequest;
use super::engine::{Engine, RESULT_FAILED, RESULT_OK, result_of};
use crate::store::StoreError;
use crate::store::jobs::{ClaimedJob, Lease};

/// Claims of one job before it is given up as `failed`.
const MAX_ATTEMPTS: i64 = 5;

pub async fn run(engine: Engine, name: String, shutdown: CancellationToken) {
    tracing::debug!(worker = name, "worker started");
    while !shutdown.is_cancelled() {
        let caps = (engine.settings.connector_concurrency, engine.settings.user_concurrency);
        let claimed = engine.syncer.store.claim_job(&name, engine.lease(), caps.0, caps.1).await;
        match claimed {
            Ok(Some(job)) => {
                // Every line of the job's run carries it; the request that asked for it is known
                // once the payload is open (`run_sync`).
                let span = tracing::info_span!(
                    "job",
                    job = job.id,
                    connection = job.id_connection,
                    worker = %name,
                    request_id = tracing::field::Empty
                );
                run_job(&engine, &name, job).instrument(span).await
            }
            Ok(None) => idle(&engine, &shutdown).await,
            Err(e) => {
                tracing::error!(worker = name, error = %e, "could not claim a job");
                idle(&engine, &shutdown).await;
            }
        }
    }
    tracing::debug!(worker = name, "worker stopped");
}

async fn idle(engine: &Engine, shutdown: &CancellationToken) {
    let poll = Duration::from_millis(rand::thread_rng().gen_range(500..1500));
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = engine.work.notified() => {}
        () = tokio::time::sleep(poll) => {}
    }
}

/// How a job's run ended, for what is left to write on the job.
enum JobEnd {
    /// Done with this result, to be recorded.
    Done(&'static str),
    /// Done, and recorded with the sync's end.
    Recorded(&'static str),
    /// The database failed: to be tried again.
    Retry,
    /// Another worker holds the job now: nothing to write.
    LeaseLost,
}

async fn run_job(engine: &Engine, worker: &str, job: ClaimedJob) {
    let started = Instant::now();
    let end = match job.kind.as_str() {
        "sync" => run_sync(engine, worker, &job).await,
        "noop" => JobEnd::Done(RESULT_OK),
        other => {
            tracing::error!(job = job.id, kind = other, "unknown job kind");
            JobEnd::Done(RESULT_FAILED)
        }
    };
    let store = &engine.syncer.store;
    let (result, written) = match end {
        JobEnd::Done(result) => (result, store.finish_job(job.id, worker, result).await),
        JobEnd::Recorded(result) => (result, Ok(true)),
        JobEnd::LeaseLost => ("lease_lost", Ok(true)),
        JobEnd::Retry if job.attempts >= MAX_ATTEMPTS => {
            if let Some(id) = job.id_connection {
                // Not left `validating` for ever: `bug` is retried by the scheduler.
                let _ = store.mark_sync_failed(id, Utc::now() + chrono::Duration::minutes(30)).await;
            }
            (RESULT_FAILED, store.finish_job(job.id, worker, RESULT_FAILED).await)
        }
        JobEnd::Retry => {
            let backoff = chrono::Duration::seconds(1 << job.attempts.clamp(0, 10));
            ("retry", store.release_job(job.id, worker, Utc::now() + backoff).await)
        }
    };
    match written {
        Ok(true) => {}
        Ok(false) => tracing::warn!(job = job.id, worker, "lost the job's lease before finishing it"),
        Err(e) => tracing::error!(job = job.id, error = %e, "could not record the job's end"),
    }
    crate::telemetry::record_job(&job.kind, result, started.elapsed());
    engine.done.notify_waiters();
}

/// Runs a sync job, fenced by the worker's lease on it.
async fn run_sync(engine: &Engine, worker: &str, job: &ClaimedJob) -> JobEnd {
    let Some(id_connection) = job.id_connection else { return JobEnd::Done(RESULT_FAILED) };
    let request = match &job.payload {
        Some(sealed) => match engine.open(id_connection, sealed) {
            Some(request) => request,
            None => {
                tracing::error!(job = job.id, "the job's payload does not open with this master key");
                return JobEnd::Done(RESULT_FAILED);
            }
        },
        None => SyncRequest::default(),
    };
    if let Some(id) = request.request_id {
        tracing::Span::current().record("request_id", id);
    }
    let store = &engine.syncer.store;
    let connection = match store.connection_by_id(id_connection).await {
        Ok(Some(connection)) => connection,
        Ok(None) => return JobEnd::Done(RESULT_FAILED),
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "could not load the connection");
            return JobEnd::Retry;
        }
    };
    let heartbeat = tokio::spawn(keep_lease(engine.clone(), job.id, worker.to_owned()));
    let lease = Lease { job: job.id, worker: worker.to_owned() };
    let outcome = engine.syncer.sync_leased(&connection, &request, &lease).await;
    heartbeat.abort();
    match outcome {
        Ok(outcome) => JobEnd::Recorded(result_of(outcome.state())),
        Err(StoreError::LeaseLost) => {
            tracing::warn!(
                job = job.id,
                connection = id_connection,
                worker,
                "lost the job's lease: its new worker syncs"
            );
            JobEnd::LeaseLost
        }
        Err(e) => {
            tracing::error!(job = job.id, connection = id_connection, error = %e, "sync could not be recorded");
            JobEnd::Retry
        }
    }
}

/// Extends the job's lease every third of it while the sync runs.
async fn keep_lease(engine: Engine, id: i64, worker: String) {
    let lease = engine.lease();
    let every = Duration::from_millis((lease.num_milliseconds() / 3).max(100) as u64);
    loop {
        tokio::time::sleep(every).await;
        match engine.syncer.store.extend_lease(id, &worker, Utc::now() + lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = id, worker, "job lease lost to another worker");
                return;
            }
            Err(e) => tracing::warn!(job = id, error = %e, "could not extend the job lease"),
        }
    }
}

//! The scheduler: every few seconds, queue a background sync for each connection that is due.
//!
//! Any number of processes may run it at once: a connection with an unfinished job is not due,
//! and the queue's one-unfinished-job-per-connection index turns a race between two schedulers
//! into a single job.

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::SyncRequest;
use super::engine::Engine;
use crate::domain::schedule::{is_due, unattended_allowed};
use crate::domain::states::ConnectionState;
use crate::store::StoreResult;

/// Connections queued per tick at most: the rest wait for the next tick.
const BATCH: i64 = 10_000;
/// How long before a connection's strong authentication ends its app is warned (`CONSENT_EXPIRING`).
const CONSENT_NOTICE: chrono::Duration = chrono::Duration::days(7);
/// Ended webhook deliveries stay in the log this long.
const KEEP_DELIVERIES: chrono::Duration = chrono::Duration::days(30);
/// Finished jobs are kept this long for requests waiting on them.
const KEEP_FINISHED: chrono::Duration = chrono::Duration::hours(1);

pub async fn run(engine: Engine, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match tick(&engine).await {
            Ok(0) => {}
            Ok(queued) => tracing::info!(queued, "scheduler queued background syncs"),
            Err(e) => tracing::error!(error = %e, "scheduler tick failed"),
        }
        let period = engine.settings.scheduler_seconds as f64;
        let pause = Duration::from_secs_f64(period * rand::thread_rng().gen_range(0.8..1.2));
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// The background syncs a day a connection may have: its bank's `frequency_per_day` (the
/// lowest of its sources', as its consent asks), else the process's budget.
fn unattended_budget(engine: &Engine, id_connector: i64) -> usize {
    let sources = engine.syncer.catalog.connector(id_connector).into_iter().flat_map(|c| &c.sources);
    let asked = sources.filter_map(|s| s.api.as_ref()?.frequency_per_day).min();
    asked.map_or(engine.settings.unattended_budget, |per_day| per_day as usize)
}

/// One look at the connections: queues the due ones within their PSD2 budget, postpones the
/// others to when their budget frees up. Returns how many were queued.
pub async fn tick(engine: &Engine) -> StoreResult<usize> {
    let store = &engine.syncer.store;
    let now = crate::store::now();
    let mut recent = store.unattended_sync_starts(now, now - chrono::Duration::hours(24)).await?;
    let request = SyncRequest { unattended: true, ..SyncRequest::default() };
    let mut jobs = Vec::new();
    for connection in store.due_connections(now, BATCH).await? {
        let state = connection.state.as_deref().and_then(ConnectionState::parse);
        if !is_due(connection.active, state, connection.next_try, now) {
            continue;
        }
        let starts = recent.remove(&connection.id).unwrap_or_default();
        match unattended_allowed(&starts, now, unattended_budget(engine, connection.id_connector)) {
            Ok(()) => jobs.push((connection.id, connection.id_connector, engine.seal(connection.id, &request))),
            Err(free_at) => store.set_next_try(connection.id, Some(free_at)).await?,
        }
    }
    let queued = store.enqueue_syncs(&jobs, Utc::now()).await? as usize;
    if queued > 0 {
        engine.work.notify_waiters();
    }
    store.purge_finished_jobs(KEEP_FINISHED).await?;
    store.warn_expiring_consents(CONSENT_NOTICE).await?;
    store.purge_deliveries(KEEP_DELIVERIES).await?;
    Ok(queued)
}

//! The sync engine's front door: how the API and the scheduler ask for a sync, and how a request
//! waits for it.
//!
//! Every sync is a job in the durable queue, so it survives a crash of the process that asked for
//! it, and the job's lease keeps two syncs of one connection from ever running together. A request
//! waits for its job up to `sync_wait_seconds` (woken by local workers, polling for remote ones),
//! then answers with whatever the connection shows.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;

use super::{SyncRequest, Syncer};
use crate::config::EngineSettings;
use crate::domain::states::ConnectionState;
use crate::store::StoreError;
use crate::store::jobs::{Enqueued, JobState};
use crate::store::rows::Connection;
use crate::store::sealed::job_payload_aad;

/// Result of a job: `ok`, the state the sync left, or `failed` (it could not run at all).
pub const RESULT_OK: &str = "ok";
pub const RESULT_FAILED: &str = "failed";

/// What became of a requested sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// It ran: the connection's state after it (`None`: healthy).
    Done(Option<ConnectionState>),
    /// Queued or running still (the request did not wait, or stopped waiting).
    Pending,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("a sync of this connection is running")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Engine {
    pub syncer: Syncer,
    pub settings: EngineSettings,
    /// Wakes this process's idle workers when a job is queued.
    pub(super) work: Arc<Notify>,
    /// Wakes this process's waiting requests when a job finishes.
    pub(super) done: Arc<Notify>,
}

impl Engine {
    pub fn new(syncer: Syncer, settings: EngineSettings) -> Engine {
        Engine { syncer, settings, work: Arc::new(Notify::new()), done: Arc::new(Notify::new()) }
    }

    pub fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.settings.job_lease_seconds as i64)
    }

    /// Queues a sync of the connection and, with `wait`, waits for it. A sync already running
    /// is `Busy`; one already queued absorbs this request (taking its payload unless it is plain:
    /// the user's address alone does not replace an OTP waiting in the queue).
    pub async fn request(
        &self,
        connection: &Connection,
        request: &SyncRequest,
        wait: bool,
    ) -> Result<Requested, RequestError> {
        let plain = request.is_plain();
        let payload = (!plain || request.input.psu_ip.is_some()).then(|| self.seal(connection.id, request));
        let store = &self.syncer.store;
        let queued = store.enqueue_sync(connection.id, connection.id_connector, payload, !plain, Utc::now()).await?;
        let id = match queued {
            Enqueued::Running(_) => return Err(RequestError::Busy),
            Enqueued::Queued(id) => id,
        };
        self.work.notify_waiters();
        if !wait {
            return Ok(Requested::Pending);
        }
        Ok(self.wait(id).await?)
    }

    async fn wait(&self, id: i64) -> Result<Requested, StoreError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.settings.sync_wait_seconds);
        loop {
            // Subscribe before looking, so a finish between the look and the sleep still wakes us.
            let finished = self.done.notified();
            match self.syncer.store.job_state(id).await? {
                Some(JobState::Finished(result)) => return Ok(Requested::Done(parse_result(&result))),
                None => return Ok(Requested::Done(None)),
                Some(_) => {}
            }
            // Jobs run by other processes do not wake us: poll them.
            let poll = tokio::time::sleep(Duration::from_millis(200));
            tokio::select! {
                () = finished => {}
                () = poll => {}
                () = tokio::time::sleep_until(deadline) => return Ok(Requested::Pending),
            }
        }
    }

    /// The payload of a sync job: the request, sealed (it may carry an OTP or new credentials).
    pub(super) fn seal(&self, id_connection: i64, request: &SyncRequest) -> Vec<u8> {
        // A struct of strings, booleans and integers always serializes.
        let json = serde_json::to_vec(request).expect("sync request serializes");
        self.syncer.key.seal(&json, &job_payload_aad(id_connection))
    }

    pub(super) fn open(&self, id_connection: i64, sealed: &[u8]) -> Option<SyncRequest> {
        let json = self.syncer.key.open(sealed, &job_payload_aad(id_connection)).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// A job's stored result as the connection state it left.
fn parse_result(result: &str) -> Option<ConnectionState> {
    match result {
        RESULT_OK => None,
        RESULT_FAILED => Some(ConnectionState::Bug),
        state => Some(ConnectionState::parse(state).unwrap_or(ConnectionState::Bug)),
    }
}

/// A job's result for the connection state a sync left.
pub(super) fn result_of(state: Option<ConnectionState>) -> &'static str {
    state.map_or(RESULT_OK, ConnectionState::as_str)
}

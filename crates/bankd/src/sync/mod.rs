//! One synchronization of a connection: ask its sources what the bank says, apply it through the
//! domain rules, and record how it ended.
//!
//! A run tries the enabled sources in priority order — falling back to the next one only on a
//! failure bankd may retry, never when the user must act — and always ends by writing the
//! connection's state, its sources' states and a log row, whatever happened in between.
//!
//! Runs happen only in [`worker`]s, as jobs of the durable queue: the job's lease is what keeps two
//! syncs of one connection from running at once, in one process or across many. The API and the
//! [`scheduler`] ask for runs through [`engine::Engine`].

pub mod engine;
pub mod scheduler;
pub mod worker;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Connector};
use crate::crypto::{MasterKey, random_secret};
use crate::domain::archiving::{KnownAccount, plan_accounts};
use crate::domain::reconcile::reconcile;
use crate::domain::schedule::{RunEnd, next_sync};
use crate::domain::states::{ConnectionState, NextMove};
use crate::sources::{Credentials, Drivers, Source, SourceError, SourceRequest, SourceSession, UserInput};
use crate::store::accounts::AccountData;
use crate::store::connections::{ConnectionLog, ConnectionSource, SourceEnd, SyncEnd};
use crate::store::jobs::Lease;
use crate::store::rows::Connection;
use crate::store::transactions::AccountRef;
use crate::store::{Store, StoreError, now};

/// PSD2: a strong customer authentication is valid this long.
pub const SCA_VALIDITY_DAYS: i64 = 180;
/// Re-syncs ask the bank from this many days before the newest known transaction: banks book late.
const RESYNC_MARGIN_DAYS: i64 = 7;

/// What the caller asks of a run. Travels sealed in the job's payload: it may carry what the
/// user typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncRequest {
    pub input: UserInput,
    /// New credential values to use, kept only if the bank does not refuse them.
    pub new_credentials: Option<Credentials>,
    /// Fetch transactions of this account only (the user just enabled it).
    pub only_account: Option<i64>,
    /// Use only the source with this name (Powens' `source` parameter).
    pub only_source: Option<String>,
    /// No user is present (a background refresh): counts against the PSD2 budget.
    pub unattended: bool,
    /// The id of the API request that asked for the sync, for its log lines (payloads queued
    /// before it existed have none).
    #[serde(default)]
    pub request_id: Option<i64>,
}

impl SyncRequest {
    /// Asks for nothing but an attended sync of everything (the user's address aside): such a
    /// request merged into a queued job must not replace what that job carries (an OTP, say).
    pub fn is_plain(&self) -> bool {
        let input = &self.input;
        input.fields.0.is_empty()
            && !input.resume
            && input.webauth_code.is_none()
            && !input.authenticating
            && self.new_credentials.is_none()
            && self.only_account.is_none()
            && self.only_source.is_none()
            && !self.unattended
    }
}

/// What the caller asked of a run, and the lease its writes are fenced by (`None`: no job).
#[derive(Clone, Copy)]
struct Asked<'a> {
    sync: &'a SyncRequest,
    lease: Option<&'a Lease>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// `None` when the bank answered and everything was applied.
    pub error: Option<SourceError>,
}

impl SyncOutcome {
    pub fn state(&self) -> Option<ConnectionState> {
        self.error.as_ref().map(SourceError::state)
    }
}

/// Runs syncs; cheap to clone.
#[derive(Clone)]
pub struct Syncer {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub drivers: Drivers,
    pub key: Arc<MasterKey>,
    /// Where banks' consent pages send users back.
    pub webauth_callback: String,
}

/// What happened while trying the sources.
struct Attempt {
    result: Result<Counts, SourceError>,
    id_source: Option<i64>,
    sources: Vec<SourceEnd>,
    strongly_authenticated: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    accounts: i64,
    transactions: i64,
}

impl Syncer {
    /// Synchronizes the connection now, with no job (benchmarks). Fails only if the database
    /// does; every bank-side outcome is in the returned [`SyncOutcome`] and on the connection.
    pub async fn sync(&self, connection: &Connection, request: &SyncRequest) -> Result<SyncOutcome, StoreError> {
        self.run(connection, request, None).await
    }

    /// Synchronizes the connection as `lease`'s job: every write is fenced by the lease (a worker
    /// that lost it stops with `StoreError::LeaseLost`, writing nothing more), and the job is
    /// finished in the same transaction as the sync's end.
    pub async fn sync_leased(
        &self,
        connection: &Connection,
        request: &SyncRequest,
        lease: &Lease,
    ) -> Result<SyncOutcome, StoreError> {
        self.run(connection, request, Some(lease)).await
    }

    async fn run(
        &self,
        connection: &Connection,
        request: &SyncRequest,
        lease: Option<&Lease>,
    ) -> Result<SyncOutcome, StoreError> {
        // Statement files are brought by the user: there is nothing to fetch, and nothing to mark.
        if self.catalog.connector(connection.id_connector).is_some_and(Connector::is_passive) {
            if let Some(lease) = lease
                && !self.store.finish_job(lease.job, &lease.worker, engine::RESULT_OK).await?
            {
                return Err(StoreError::LeaseLost);
            }
            return Ok(SyncOutcome { error: None });
        }
        let started = now();
        self.store.mark_validating(connection.id).await?;
        let connector = self.catalog.connector(connection.id_connector);
        let attempt = match connector {
            Some(connector) => self.attempt(connection, connector, request, started, lease).await,
            None => Attempt::failed(SourceError::NotSupported("the connector is no longer in the catalog".into())),
        };
        self.finish(connection, connector, request, attempt, started, lease).await
    }

    async fn attempt(
        &self,
        connection: &Connection,
        connector: &Connector,
        request: &SyncRequest,
        started: DateTime<Utc>,
        lease: Option<&Lease>,
    ) -> Attempt {
        if consent_expired(connection.expire, started, &request.input) {
            let message = "The strong authentication given to the bank is over 180 days old: reconnect".to_owned();
            return Attempt::failed(SourceError::ScaRequired { message: Some(message) });
        }
        let mut credentials = match self.store.connection_credentials(connection.id, &self.key).await {
            Ok(credentials) => credentials,
            Err(e) => return Attempt::failed(store_failure(e)),
        };
        if let Some(new) = &request.new_credentials {
            credentials.0.extend(new.0.clone());
        }
        let sources = match self.usable_sources(connection, connector, request).await {
            Ok(sources) if sources.is_empty() => {
                return Attempt::failed(SourceError::NotSupported("no enabled source for this connection".into()));
            }
            Ok(sources) => sources,
            Err(e) => return Attempt::failed(store_failure(e)),
        };

        let mut attempt = Attempt::failed(SourceError::Bug("no source ran".into()));
        for (row, driver) in sources {
            let source_request = SourceRequest {
                credentials: credentials.clone(),
                input: request.input.clone(),
                webauth_callback: self.webauth_callback.clone(),
                webauth_state: random_secret(),
                now: started,
                unattended: request.unattended,
            };
            let (result, session) = self
                .run_source(driver.as_ref(), &source_request, connection, &row, Asked { sync: request, lease })
                .await;
            if let Err(SourceError::WebauthRequired { url }) = &result
                && let Err(e) =
                    self.store.insert_webauth_request(&source_request.webauth_state, connection.id, row.id, url).await
            {
                tracing::error!(connection = connection.id, error = %e, "could not record the web authentication");
            }
            if let Some(module) = connector.source(row.id_connector_source).and_then(|s| s.module.as_deref()) {
                self.watch_module(connector, module, &result, started).await;
            }
            attempt.record(&row, result, session, started);
            let retry_elsewhere = matches!(&attempt.result, Err(e) if e.state().next_move() == NextMove::Retry);
            if !retry_elsewhere {
                break;
            }
        }
        attempt
    }

    /// Counts a woob module's syncs by outcome; one that ends in `bug` for most of its users (its
    /// bank changed its site, most likely) is reported, since every user of it breaks at once.
    async fn watch_module(
        &self,
        connector: &Connector,
        module: &str,
        result: &Result<Counts, SourceError>,
        started: DateTime<Utc>,
    ) {
        let state = result.as_ref().err().map_or("ok", |e| e.state().as_str());
        crate::telemetry::record_woob_sync(module, state);
        if state != ConnectionState::Bug.as_str() {
            return;
        }
        match self.store.connector_health(started - Duration::hours(24)).await {
            Ok(health) => {
                if let Some(h) = health.iter().find(|h| h.id_connector == connector.id && h.is_broken()) {
                    tracing::warn!(
                        module,
                        users = h.users,
                        failing = h.broken,
                        "woob module failing for most of its users"
                    );
                }
            }
            Err(e) => tracing::warn!(module, error = %e, "could not read the module's health"),
        }
    }

    /// The connection's sources that may run, in priority order, with their implementation.
    async fn usable_sources(
        &self,
        connection: &Connection,
        connector: &Connector,
        request: &SyncRequest,
    ) -> Result<Vec<(ConnectionSource, Arc<dyn Source>)>, StoreError> {
        let rows = self.store.connection_sources(connection.id).await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.disabled.is_none())
            .filter(|row| request.only_source.as_ref().is_none_or(|name| *name == row.name))
            .filter_map(|row| {
                let source = connector.source(row.id_connector_source)?;
                let driver = source.disabled.is_none().then(|| self.drivers.get(source.id)).flatten()?;
                Some((row, driver))
            })
            .collect())
    }

    /// One source's run: login, accounts, then transactions of each consented account.
    async fn run_source(
        &self,
        driver: &dyn Source,
        request: &SourceRequest,
        connection: &Connection,
        row: &ConnectionSource,
        asked: Asked<'_>,
    ) -> (Result<Counts, SourceError>, SourceSession) {
        let state = match self.store.source_session(row.id, &self.key).await {
            Ok(state) => state,
            Err(e) => return (Err(store_failure(e)), SourceSession::default()),
        };
        let mut session = SourceSession::new(state);
        let result = self.fetch(driver, request, &mut session, connection, row, asked).await;
        driver.end(&mut session).await;
        (result, session)
    }

    async fn fetch(
        &self,
        driver: &dyn Source,
        request: &SourceRequest,
        session: &mut SourceSession,
        connection: &Connection,
        row: &ConnectionSource,
        asked: Asked<'_>,
    ) -> Result<Counts, SourceError> {
        driver.login(request, session).await?;
        let bank_accounts = driver.accounts(request, session).await?;
        let known: Vec<KnownAccount> = self
            .store
            .accounts_of_connection(connection.id)
            .await
            .map_err(store_failure)?
            .into_iter()
            .map(|a| KnownAccount { id: a.id, webid: a.webid, deleted: a.deleted.is_some() })
            .collect();
        let changes = plan_accounts(&known, &bank_accounts);
        self.store
            .apply_account_changes(connection.id, connection.id_user, row.id, &changes, asked.lease)
            .await
            .map_err(store_failure)?;

        let stored = self.store.accounts_of_connection(connection.id).await.map_err(store_failure)?;
        let mut counts = Counts { accounts: bank_accounts.len() as i64, transactions: 0 };
        for bank_account in &bank_accounts {
            // Only accounts the user consented to: GDPR.
            let Some(account) = stored.iter().find(|a| a.webid == bank_account.webid && a.disabled.is_none()) else {
                continue;
            };
            if asked.sync.only_account.is_some_and(|only| only != account.id) {
                continue;
            }
            let since = self.store.resync_since(account.id, RESYNC_MARGIN_DAYS).await.map_err(store_failure)?;
            let fetched = driver.transactions(request, session, &bank_account.webid, since).await?;
            counts.transactions += fetched.len() as i64;
            let existing = self.store.transactions_to_reconcile(account.id, since).await.map_err(store_failure)?;
            let changes = reconcile(&existing, fetched);
            let data = AccountData::from_bank(bank_account).map_err(|e| SourceError::Bug(e.to_string()))?;
            let target = AccountRef { id: account.id, id_user: connection.id_user, id_connection: connection.id };
            self.store.apply_account_sync(target, &data, &changes, asked.lease).await.map_err(store_failure)?;
        }
        Ok(counts)
    }

    /// Writes the run's end on the connection, its sources and its log, and releases the lease.
    async fn finish(
        &self,
        connection: &Connection,
        connector: Option<&Connector>,
        request: &SyncRequest,
        attempt: Attempt,
        started: DateTime<Utc>,
        lease: Option<&Lease>,
    ) -> Result<SyncOutcome, StoreError> {
        let ended = now();
        let error = attempt.result.as_ref().err().cloned();
        let counts = attempt.result.as_ref().ok().copied().unwrap_or_default();
        let retryable = error.as_ref().is_some_and(|e| e.state().next_move() == NextMove::Retry);
        let failures = if retryable { connection.failures + 1 } else { 0 };
        let end = SyncEnd {
            state: error.as_ref().map(|e| e.state().as_str().to_owned()),
            error_message: error.as_ref().and_then(SourceError::message),
            fields: error.as_ref().and_then(|e| fields_to_ask(e, connector)),
            last_update: error.is_none().then_some(started),
            expire: attempt.strongly_authenticated.then(|| started + Duration::days(SCA_VALIDITY_DAYS)),
            next_try: next_try(error.as_ref(), failures, connector, started),
            failures,
            credentials: request
                .new_credentials
                .clone()
                .filter(|_| !matches!(error, Some(SourceError::WrongPass { .. }))),
        };
        let log = ConnectionLog {
            id: 0,
            id_connection: connection.id,
            id_user: connection.id_user,
            id_connector: connection.id_connector,
            id_source: attempt.id_source,
            started,
            ended,
            state: end.state.clone(),
            error_message: end.error_message.clone(),
            nb_accounts: counts.accounts,
            nb_transactions: counts.transactions,
            unattended: request.unattended,
            warnings: None,
        };
        let slug = connector.and_then(|c| c.slug.clone()).unwrap_or_else(|| connection.id_connector.to_string());
        let state = error.as_ref().map_or("ok", |e| e.state().as_str());
        crate::telemetry::record_sync(&slug, state, (ended - started).to_std().unwrap_or_default());
        if let Some(e) = &error {
            tracing::info!(connection = connection.id, state = %e.state(), error = %e, "sync stopped");
        } else {
            tracing::info!(
                connection = connection.id,
                accounts = counts.accounts,
                transactions = counts.transactions,
                "sync done"
            );
        }
        let job = lease.map(|lease| (lease, engine::result_of(error.as_ref().map(SourceError::state))));
        self.store.finish_sync(connection, &end, &attempt.sources, &log, &self.key, job).await?;
        Ok(SyncOutcome { error })
    }
}

impl Attempt {
    fn failed(error: SourceError) -> Attempt {
        Attempt { result: Err(error), id_source: None, sources: Vec::new(), strongly_authenticated: false }
    }

    /// Keeps a source's result as the attempt's latest, and what to write on its row.
    fn record(
        &mut self,
        row: &ConnectionSource,
        result: Result<Counts, SourceError>,
        session: SourceSession,
        started: DateTime<Utc>,
    ) {
        let strong = session.strongly_authenticated;
        self.sources.push(SourceEnd {
            id: row.id,
            state: result.as_ref().err().map(|e| e.state().as_str().to_owned()),
            error_message: result.as_ref().err().and_then(SourceError::message),
            session: session.state,
            last_update: result.is_ok().then_some(started),
            access_expire: session
                .access_expire
                .or_else(|| strong.then(|| started + Duration::days(SCA_VALIDITY_DAYS))),
        });
        self.strongly_authenticated |= strong;
        self.id_source = Some(row.id);
        self.result = result;
    }
}

/// PSD2: past the 180 days of the last strong authentication, only a user who is authenticating
/// now may reach the bank.
pub fn consent_expired(expire: Option<DateTime<Utc>>, now: DateTime<Utc>, input: &UserInput) -> bool {
    expire.is_some_and(|expire| expire <= now) && !input.authenticating
}

/// The next background attempt (see `domain::schedule`), jittered.
fn next_try(
    error: Option<&SourceError>,
    failures: i64,
    connector: Option<&Connector>,
    started: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let days = connector.map_or(1.0, |c| c.sync_periodicity);
    let period = Duration::seconds((days * 86_400.0) as i64);
    let retry_after = match error {
        Some(SourceError::RateLimited { retry_after: Some(after), .. }) => Duration::from_std(*after).ok(),
        _ => None,
    };
    let end =
        RunEnd { state: error.map(SourceError::state), failures: failures.try_into().unwrap_or(u32::MAX), retry_after };
    next_sync(end, started, period, rand::thread_rng().gen_range(-1.0..=1.0))
}

/// What the user must fill in now, as JSON for the connection's `fields`: the bank's question, or
/// the credential form again after a refusal.
fn fields_to_ask(error: &SourceError, connector: Option<&Connector>) -> Option<String> {
    let fields = match error {
        SourceError::AdditionalInformationNeeded { fields, .. } => fields.as_slice(),
        SourceError::WrongPass { .. } | SourceError::PasswordExpired { .. } => connector?.fields.as_slice(),
        _ => return None,
    };
    // A list of plain structs always serializes.
    Some(serde_json::to_string(fields).expect("fields serialize"))
}

/// A database failure during a run: logged in full, shown as `bug` on the connection. A lost lease
/// ends the run too, but the end is not written (the job's new worker writes its own).
fn store_failure(e: StoreError) -> SourceError {
    match e {
        StoreError::LeaseLost => tracing::warn!("the sync's job passed to another worker: stopping"),
        e => tracing::error!(error = %e, "storage failed during a sync"),
    }
    SourceError::Bug("storage failure during the sync".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + days * 86_400, 0).unwrap()
    }

    #[test]
    fn consent_expires_after_180_days_unless_the_user_authenticates() {
        let unattended = UserInput::default();
        let present = UserInput { authenticating: true, ..UserInput::default() };
        assert!(!consent_expired(None, at(1000), &unattended), "never authenticated strongly: nothing to expire");
        assert!(!consent_expired(Some(at(180)), at(179), &unattended));
        assert!(consent_expired(Some(at(180)), at(180), &unattended));
        assert!(consent_expired(Some(at(180)), at(400), &unattended));
        assert!(!consent_expired(Some(at(180)), at(400), &present));
    }
}

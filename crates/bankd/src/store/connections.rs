//! Connections, their per-source rows, sync leases, logs and pending web authentications.
//!
//! Secrets (credentials, source sessions) are sealed here with the master key, bound by their AAD
//! to the row they belong to; nothing above this module ever sees a sealed blob.

use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::jobs::{Lease, finish_leased_job};
use super::outbox::{Event, EventScope, emit};
use super::rows::{CONNECTION_COLUMNS, Connection};
use super::sealed::{credentials_aad, session_aad};
use super::{BeginWrite, Store, StoreError, StoreResult, now, on_db};
use crate::catalog::Connector;
use crate::crypto::MasterKey;
use crate::sources::Credentials;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionSource {
    pub id: i64,
    pub id_connection: i64,
    pub id_connector_source: i64,
    pub name: String,
    pub priority: i64,
    pub state: Option<String>,
    pub error_message: Option<String>,
    pub last_update: Option<DateTime<Utc>>,
    pub disabled: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub access_expire: Option<DateTime<Utc>>,
    pub expire: Option<DateTime<Utc>>,
    pub next_try: Option<DateTime<Utc>>,
}

const SOURCE_COLUMNS: &str = "id, id_connection, id_connector_source, name, priority, state, error_message, \
     last_update, disabled, created, access_expire, expire, next_try";

/// How a sync run ended, to be written on the connection.
#[derive(Debug, Clone)]
pub struct SyncEnd {
    pub state: Option<String>,
    pub error_message: Option<String>,
    pub fields: Option<String>,
    /// Set on success: the sync time.
    pub last_update: Option<DateTime<Utc>>,
    /// New end of the strong-authentication validity, when one happened.
    pub expire: Option<DateTime<Utc>>,
    pub next_try: Option<DateTime<Utc>>,
    pub failures: i64,
    /// Credentials the bank accepted during this run, to keep.
    pub credentials: Option<Credentials>,
}

/// What one source did during a run.
#[derive(Debug, Clone)]
pub struct SourceEnd {
    pub id: i64,
    pub state: Option<String>,
    pub error_message: Option<String>,
    pub session: serde_json::Value,
    pub last_update: Option<DateTime<Utc>>,
    pub access_expire: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionLog {
    pub id: i64,
    pub id_connection: i64,
    pub id_user: i64,
    pub id_connector: i64,
    pub id_source: Option<i64>,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub state: Option<String>,
    pub error_message: Option<String>,
    pub nb_accounts: i64,
    pub nb_transactions: i64,
    /// No user was present (a background sync).
    pub unattended: bool,
    /// A statement import's [`LogWarnings`] as JSON; `None` for syncs and files read as written.
    pub warnings: Option<String>,
}

/// What an import's log row keeps of the deviations its file was read with.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogWarnings {
    /// The first ones, in file order.
    pub warnings: Vec<LogWarning>,
    /// How many more there were.
    #[serde(default)]
    pub omitted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogWarning {
    /// A line (`line 12`) or an element path.
    #[serde(rename = "where")]
    pub location: String,
    pub what: String,
    pub assumed: String,
}

impl ConnectionLog {
    /// The import's warnings, if it had any (a value this code wrote: unreadable is none).
    pub fn warnings(&self) -> Option<LogWarnings> {
        self.warnings.as_deref().and_then(|json| serde_json::from_str(json).ok())
    }
}

impl LogWarnings {
    /// As the `warnings` column keeps them: `None` when there are none.
    pub fn to_column(&self) -> Option<String> {
        // A struct of strings and a number always serializes.
        (!self.warnings.is_empty()).then(|| serde_json::to_string(self).expect("JSON serialization"))
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebauthRequest {
    pub state: String,
    pub id_connection: i64,
    pub id_source: i64,
    pub bank_url: String,
    pub redirect_uri: Option<String>,
    pub client_state: Option<String>,
}

pub(super) fn seal_json<T: serde::Serialize>(key: &MasterKey, value: &T, aad: &str) -> Vec<u8> {
    // Serializing a map of strings or a JSON value cannot fail.
    key.seal(&serde_json::to_vec(value).expect("JSON serialization"), aad)
}

fn open_json<T: serde::de::DeserializeOwned>(key: &MasterKey, sealed: &[u8], aad: &str) -> StoreResult<T> {
    let plain = key.open(sealed, aad).map_err(|e| StoreError::Sealed(e.to_string()))?;
    serde_json::from_slice(&plain).map_err(|e| StoreError::Sealed(e.to_string()))
}

/// Appends a connection's log row inside the open database transaction `$tx` (a macro, as
/// `on_db!` gives each backend its own transaction type).
macro_rules! insert_log {
    ($tx:ident, $log:expr) => {{
        let log = $log;
        sqlx::query(
            "INSERT INTO connection_logs (id_connection, id_user, id_connector, id_source, started, ended, state,
                    error_message, nb_accounts, nb_transactions, unattended, warnings)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(log.id_connection)
        .bind(log.id_user)
        .bind(log.id_connector)
        .bind(log.id_source)
        .bind(log.started)
        .bind(log.ended)
        .bind(&log.state)
        .bind(&log.error_message)
        .bind(log.nb_accounts)
        .bind(log.nb_transactions)
        .bind(log.unattended)
        .bind(&log.warnings)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use insert_log;

impl Store {
    /// Creates a connection with one source row per connector source, all in one transaction.
    pub async fn create_connection(
        &self,
        id_user: i64,
        connector: &Connector,
        credentials: &Credentials,
        key: &MasterKey,
    ) -> StoreResult<i64> {
        let created = now();
        let id = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO connections (id_user, id_connector, created, active) VALUES ($1, $2, $3, TRUE) RETURNING id",
            )
            .bind(id_user)
            .bind(connector.id)
            .bind(created)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("UPDATE connections SET credentials = $1 WHERE id = $2")
                .bind(seal_json(key, credentials, &credentials_aad(id)))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for source in &connector.sources {
                sqlx::query(
                    "INSERT INTO connection_sources (id_connection, id_connector_source, name, priority, created)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(source.id)
                .bind(&source.name)
                .bind(source.priority)
                .bind(created)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    /// The user's connection with this id, if it is theirs.
    pub async fn connection(&self, id_user: i64, id: i64) -> StoreResult<Option<Connection>> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1 AND id_user = $2");
        let row = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id).bind(id_user).fetch_optional(pool).await?);
        Ok(row)
    }

    /// A connection whoever owns it (for flows that identify it by a secret, e.g. a bank's `state`).
    pub async fn connection_by_id(&self, id: i64) -> StoreResult<Option<Connection>> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1");
        let row = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
        Ok(row)
    }

    /// The user's connections; inactive ones only with `all`.
    pub async fn connections_of_user(&self, id_user: i64, all: bool) -> StoreResult<Vec<Connection>> {
        let sql =
            format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id_user = $1 AND (active OR $2) ORDER BY id");
        let rows = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id_user).bind(all).fetch_all(pool).await?);
        Ok(rows)
    }

    /// The first connection with sealed credentials, if any: a row to try the master key on.
    pub async fn first_sealed_connection(&self) -> StoreResult<Option<i64>> {
        Ok(on_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM connections WHERE credentials IS NOT NULL ORDER BY id LIMIT 1"
        ).fetch_optional(pool).await?))
    }

    pub async fn connection_credentials(&self, id: i64, key: &MasterKey) -> StoreResult<Credentials> {
        let (sealed,): (Option<Vec<u8>>,) = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT credentials FROM connections WHERE id = $1").bind(id).fetch_one(pool).await?
        );
        match sealed {
            Some(sealed) => open_json(key, &sealed, &credentials_aad(id)),
            None => Ok(Credentials::default()),
        }
    }

    /// Sets `active` and/or `expire` (user settings that need no sync).
    pub async fn update_connection_settings(
        &self,
        id: i64,
        active: Option<bool>,
        expire: Option<Option<DateTime<Utc>>>,
    ) -> StoreResult<()> {
        on_db!(&self.db, pool =>
            sqlx::query(
                "UPDATE connections SET active = COALESCE($1, active),
                        expire = CASE WHEN $2 THEN $3 ELSE expire END
                 WHERE id = $4",
            )
            .bind(active)
            .bind(expire.is_some())
            .bind(expire.flatten())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        );
        Ok(())
    }

    /// Deletes the connection with its sources, accounts and transactions, unless a sync holds it.
    /// `CONNECTION_DELETED` is written first, while the row can still be read into it.
    pub async fn delete_connection(&self, id_user: i64, id: i64) -> StoreResult<bool> {
        if self.connection_busy(id).await? {
            return Err(StoreError::Locked);
        }
        let deleted = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM connections WHERE id = $1 AND id_user = $2")
                .bind(id)
                .bind(id_user)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_some() {
                emit!(tx, &EventScope::connection(Event::ConnectionDeleted, id_user, id));
                sqlx::query("DELETE FROM connections WHERE id = $1").bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            found.is_some()
        });
        Ok(deleted)
    }

    /// Shows the connection as `validating` while its sync runs.
    pub async fn mark_validating(&self, id: i64) -> StoreResult<()> {
        on_db!(&self.db, pool =>
            sqlx::query("UPDATE connections SET state = 'validating', error_message = NULL WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// A sync that could not run at all (the database failed it again and again): shown as `bug`,
    /// retried from `next_try`.
    pub async fn mark_sync_failed(&self, id: i64, next_try: DateTime<Utc>) -> StoreResult<()> {
        on_db!(&self.db, pool =>
            sqlx::query(
                "UPDATE connections SET state = 'bug', error_message = NULL, next_try = $1
                 WHERE id = $2 AND state = 'validating'",
            )
            .bind(next_try.trunc_subsecs(0))
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        );
        Ok(())
    }

    /// Active connections whose background sync is due, oldest first.
    pub async fn due_connections(&self, at: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Connection>> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections c
             WHERE active AND next_try <= $1
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id_connection = c.id AND j.finished IS NULL)
             ORDER BY next_try, id LIMIT $2"
        );
        let rows = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(at).bind(limit).fetch_all(pool).await?);
        Ok(rows)
    }

    /// Starts of the unattended syncs since `since` (the PSD2 budget) of every connection due at
    /// `at`, by connection: one query for a whole scheduler tick.
    pub async fn unattended_sync_starts(
        &self,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> StoreResult<HashMap<i64, Vec<DateTime<Utc>>>> {
        let rows: Vec<(i64, DateTime<Utc>)> = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT l.id_connection, l.started FROM connection_logs l JOIN connections c ON c.id = l.id_connection
                 WHERE c.active AND c.next_try <= $1 AND l.unattended AND l.started > $2",
            )
            .bind(at)
            .bind(since)
            .fetch_all(pool)
            .await?
        );
        let mut starts: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
        for (id_connection, started) in rows {
            starts.entry(id_connection).or_default().push(started);
        }
        Ok(starts)
    }

    /// Postpones the connection's next background sync.
    pub async fn set_next_try(&self, id: i64, next_try: Option<DateTime<Utc>>) -> StoreResult<()> {
        on_db!(&self.db, pool =>
            sqlx::query("UPDATE connections SET next_try = $1 WHERE id = $2")
                .bind(next_try)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// Writes how a run ended on the connection and its sources, and appends the log row — in
    /// one transaction.
    pub async fn finish_sync(
        &self,
        connection: &Connection,
        end: &SyncEnd,
        sources: &[SourceEnd],
        log: &ConnectionLog,
        key: &MasterKey,
        job: Option<(&Lease, &str)>,
    ) -> StoreResult<()> {
        let sealed_credentials = end.credentials.as_ref().map(|c| seal_json(key, c, &credentials_aad(connection.id)));
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some((lease, result)) = job {
                finish_leased_job!(tx, lease, result);
            }
            sqlx::query(
                "UPDATE connections SET state = $1, error_message = $2, fields = $3,
                        last_update = COALESCE($4, last_update), expire = COALESCE($5, expire), next_try = $6,
                        credentials = COALESCE($7, credentials), failures = $8
                 WHERE id = $9",
            )
            .bind(&end.state)
            .bind(&end.error_message)
            .bind(&end.fields)
            .bind(end.last_update)
            .bind(end.expire)
            .bind(end.next_try)
            .bind(sealed_credentials)
            .bind(end.failures)
            .bind(connection.id)
            .execute(&mut *tx)
            .await?;
            for source in sources {
                sqlx::query(
                    "UPDATE connection_sources SET state = $1, error_message = $2, session = $3,
                            last_update = COALESCE($4, last_update), access_expire = COALESCE($5, access_expire)
                     WHERE id = $6",
                )
                .bind(&source.state)
                .bind(&source.error_message)
                .bind(seal_json(key, &source.session, &session_aad(source.id)))
                .bind(source.last_update)
                .bind(source.access_expire)
                .bind(source.id)
                .execute(&mut *tx)
                .await?;
            }
            insert_log!(tx, log);
            let synced = EventScope::connection(Event::ConnectionSynced, connection.id_user, connection.id);
            emit!(tx, &synced.since(log.started));
            if connection.state != end.state {
                let changed = EventScope {
                    previous_state: connection.state.clone(),
                    ..EventScope::connection(Event::ConnectionStateChanged, connection.id_user, connection.id)
                };
                emit!(tx, &changed);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// One of the user's connection sources, if it is theirs.
    pub async fn user_source(&self, id_user: i64, id: i64) -> StoreResult<Option<ConnectionSource>> {
        let columns = SOURCE_COLUMNS.split(", ").map(|c| format!("s.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns} FROM connection_sources s JOIN connections c ON c.id = s.id_connection
             WHERE s.id = $1 AND c.id_user = $2"
        );
        let row = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id).bind(id_user).fetch_optional(pool).await?);
        Ok(row)
    }

    pub async fn connection_sources(&self, id_connection: i64) -> StoreResult<Vec<ConnectionSource>> {
        let sql =
            format!("SELECT {SOURCE_COLUMNS} FROM connection_sources WHERE id_connection = $1 ORDER BY priority, id");
        let rows = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id_connection).fetch_all(pool).await?);
        Ok(rows)
    }

    /// The source's session state from its previous run (`Null` before the first).
    pub async fn source_session(&self, id: i64, key: &MasterKey) -> StoreResult<serde_json::Value> {
        let (sealed,): (Option<Vec<u8>>,) = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT session FROM connection_sources WHERE id = $1").bind(id).fetch_one(pool).await?
        );
        match sealed {
            Some(sealed) => open_json(key, &sealed, &session_aad(id)),
            None => Ok(serde_json::Value::Null),
        }
    }

    pub async fn set_source_disabled(&self, id: i64, disabled: Option<DateTime<Utc>>) -> StoreResult<()> {
        on_db!(&self.db, pool =>
            sqlx::query("UPDATE connection_sources SET disabled = $1 WHERE id = $2")
                .bind(disabled)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// The connection's logs, newest first, with the total before paging.
    pub async fn connection_logs(
        &self,
        id_connection: i64,
        filter: &LogFilter,
    ) -> StoreResult<(Vec<ConnectionLog>, i64)> {
        const WHERE: &str =
            "WHERE id_connection = $1 AND ($2 IS NULL OR started >= $2) AND ($3 IS NULL OR started <= $3)
             AND ($4 IS NULL OR id_source = $4)";
        let list = format!(
            "SELECT id, id_connection, id_user, id_connector, id_source, started, ended, state, error_message,
                    nb_accounts, nb_transactions, unattended, warnings
             FROM connection_logs {WHERE} ORDER BY id DESC LIMIT $5 OFFSET $6"
        );
        let count = format!("SELECT COUNT(*) FROM connection_logs {WHERE}");
        let result = on_db!(&self.db, pool => {
            let rows: Vec<ConnectionLog> = sqlx::query_as(&list)
                .bind(id_connection)
                .bind(filter.min_date)
                .bind(filter.max_date)
                .bind(filter.id_source)
                .bind(filter.limit)
                .bind(filter.offset)
                .fetch_all(pool)
                .await?;
            let (total,): (i64,) = sqlx::query_as(&count)
                .bind(id_connection)
                .bind(filter.min_date)
                .bind(filter.max_date)
                .bind(filter.id_source)
                .fetch_one(pool)
                .await?;
            (rows, total)
        });
        Ok(result)
    }

    pub async fn insert_webauth_request(
        &self,
        state: &str,
        id_connection: i64,
        id_source: i64,
        bank_url: &str,
    ) -> StoreResult<()> {
        on_db!(&self.db, pool =>
            sqlx::query(
                "INSERT INTO webauth_requests (state, id_connection, id_source, bank_url, created)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(state)
            .bind(id_connection)
            .bind(id_source)
            .bind(bank_url)
            .bind(now())
            .execute(pool)
            .await?
            .rows_affected()
        );
        Ok(())
    }

    /// The newest pending web authentication of a connection.
    pub async fn latest_webauth_request(&self, id_connection: i64) -> StoreResult<Option<WebauthRequest>> {
        let row = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT state, id_connection, id_source, bank_url, redirect_uri, client_state FROM webauth_requests
                 WHERE id_connection = $1 ORDER BY created DESC, state LIMIT 1",
            )
            .bind(id_connection)
            .fetch_optional(pool)
            .await?
        );
        Ok(row)
    }

    /// Remembers where to send the user once the bank's page is done.
    pub async fn set_webauth_return(
        &self,
        state: &str,
        redirect_uri: &str,
        client_state: Option<&str>,
    ) -> StoreResult<()> {
        on_db!(&self.db, pool =>
            sqlx::query("UPDATE webauth_requests SET redirect_uri = $1, client_state = $2 WHERE state = $3")
                .bind(redirect_uri)
                .bind(client_state)
                .bind(state)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// Consumes the web authentication the bank's `state` names (single use).
    pub async fn take_webauth_request(&self, state: &str) -> StoreResult<Option<WebauthRequest>> {
        let row = on_db!(&self.db, pool =>
            sqlx::query_as(
                "DELETE FROM webauth_requests WHERE state = $1
                 RETURNING state, id_connection, id_source, bank_url, redirect_uri, client_state",
            )
            .bind(state)
            .fetch_optional(pool)
            .await?
        );
        Ok(row)
    }
}

/// Filters of `GET …/connections/{id}/logs`.
#[derive(Debug, Clone)]
pub struct LogFilter {
    pub min_date: Option<DateTime<Utc>>,
    pub max_date: Option<DateTime<Utc>>,
    pub id_source: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

impl Store {
    /// How many connections are in each state (`ok` for healthy), for metrics.
    pub async fn connection_state_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT COALESCE(state, 'ok'), COUNT(*) FROM connections GROUP BY COALESCE(state, 'ok') ORDER BY 1")
                .fetch_all(pool)
                .await?
        );
        Ok(rows)
    }

    /// Active connections whose strong authentication ends within `within` from now (not ended yet).
    pub async fn connections_expiring(&self, within: Duration) -> StoreResult<i64> {
        let at = now();
        let (count,): (i64,) = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT COUNT(*) FROM connections WHERE expire > $1 AND expire <= $2 AND active")
                .bind(at)
                .bind(at + within)
                .fetch_one(pool)
                .await?
        );
        Ok(count)
    }
}

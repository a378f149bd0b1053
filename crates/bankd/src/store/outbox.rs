//! The webhook outbox: events written in the database transaction of the change that causes them.
//!
//! A change and its event commit together or not at all, so no event is lost when the process
//! dies after a commit, and none is sent for a change that rolled back. [`emit!`] runs inside the
//! writer's open transaction: it finds the subscriptions of the user's client app for that event,
//! and only if there are any does it read a [`Snapshot`] of what the payload shows (through the
//! same transaction: the rows as this change leaves them), write the event, and write one pending
//! delivery per subscription, which the delivery workers then claim (see `store::webhooks`).
//!
//! Only users of a client app have subscribers: like Powens, which sends only permanent users'
//! events, anonymous users' changes emit nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rows::{Account, Connection, Transaction, User};

/// The transactions one payload carries at most: a first sync of 100,000 transactions must not be
/// one 50 MB body. The payload says how many were left out and where to list them.
pub const PAYLOAD_TRANSACTIONS: i64 = 1_000;

/// The events a client app can subscribe to: Powens' names, then bankd's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    UserCreated,
    UserDeleted,
    /// The end of every sync, success or failure.
    ConnectionSynced,
    ConnectionDeleted,
    /// The account list was read, before transactions: new accounts wait for the user's consent.
    AccountsFetched,
    AccountSynced,
    AccountFound,
    AccountEnabled,
    AccountDisabled,
    /// bankd: an account the bank no longer lists was archived.
    AccountDeleted,
    /// bankd: a sync left the connection in another state (e.g. `SCARequired`: the user must act).
    ConnectionStateChanged,
    /// bankd: the connection's strong authentication ends within 7 days.
    ConsentExpiring,
}

impl Event {
    pub const ALL: [Event; 12] = [
        Event::UserCreated,
        Event::UserDeleted,
        Event::ConnectionSynced,
        Event::ConnectionDeleted,
        Event::AccountsFetched,
        Event::AccountSynced,
        Event::AccountFound,
        Event::AccountEnabled,
        Event::AccountDisabled,
        Event::AccountDeleted,
        Event::ConnectionStateChanged,
        Event::ConsentExpiring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::UserCreated => "USER_CREATED",
            Event::UserDeleted => "USER_DELETED",
            Event::ConnectionSynced => "CONNECTION_SYNCED",
            Event::ConnectionDeleted => "CONNECTION_DELETED",
            Event::AccountsFetched => "ACCOUNTS_FETCHED",
            Event::AccountSynced => "ACCOUNT_SYNCED",
            Event::AccountFound => "ACCOUNT_FOUND",
            Event::AccountEnabled => "ACCOUNT_ENABLED",
            Event::AccountDisabled => "ACCOUNT_DISABLED",
            Event::AccountDeleted => "ACCOUNT_DELETED",
            Event::ConnectionStateChanged => "CONNECTION_STATE_CHANGED",
            Event::ConsentExpiring => "CONSENT_EXPIRING",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether the payload lists the connection's accounts.
    pub(crate) fn lists_accounts(self) -> bool {
        matches!(self, Event::ConnectionSynced | Event::AccountsFetched)
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, to whom: the writer's description of an event.
#[derive(Debug, Clone)]
pub struct EventScope {
    pub event: Event,
    pub id_user: i64,
    pub id_connection: Option<i64>,
    pub id_account: Option<i64>,
    /// For events that carry transactions: those written since then (the sync's start).
    pub since: Option<DateTime<Utc>>,
    pub previous_state: Option<String>,
}

impl EventScope {
    pub fn user(event: Event, id_user: i64) -> EventScope {
        EventScope { event, id_user, id_connection: None, id_account: None, since: None, previous_state: None }
    }

    pub fn connection(event: Event, id_user: i64, id_connection: i64) -> EventScope {
        EventScope { id_connection: Some(id_connection), ..EventScope::user(event, id_user) }
    }

    pub fn account(event: Event, id_user: i64, id_connection: i64, id_account: i64) -> EventScope {
        EventScope { id_account: Some(id_account), ..EventScope::connection(event, id_user, id_connection) }
    }

    /// With the transactions written since `since`.
    pub fn since(self, since: DateTime<Utc>) -> EventScope {
        EventScope { since: Some(since), ..self }
    }
}

/// The rows an event's payload shows, as the change left them. Stored as JSON with the event, and
/// rendered in Powens' wire format at delivery (see `webhooks::payload`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub user: Option<User>,
    pub connection: Option<Connection>,
    pub accounts: Vec<Account>,
    /// At most [`PAYLOAD_TRANSACTIONS`], oldest first.
    pub transactions: Vec<Transaction>,
    /// How many more this change wrote (listed with `last_update` from `since`).
    pub omitted_transactions: i64,
    pub since: Option<DateTime<Utc>>,
    pub previous_state: Option<String>,
}

/// Writes the event described by `$scope` (an [`EventScope`]) inside `$tx`, if the user's client
/// app subscribed to it: the event with its [`Snapshot`], and one pending delivery per URL.
macro_rules! emit {
    ($tx:ident, $scope:expr) => {{
        let scope: &$crate::store::outbox::EventScope = $scope;
        let subscribed: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM webhooks w JOIN users u ON u.id_client = w.id_client
             WHERE u.id = $1 AND w.event = $2",
        )
        .bind(scope.id_user)
        .bind(scope.event.as_str())
        .fetch_one(&mut *$tx)
        .await?;
        if subscribed.0 > 0 {
            let snapshot = $crate::store::outbox::snapshot!($tx, scope);
            // Rows of the store always serialize.
            let snapshot = serde_json::to_string(&snapshot).expect("a snapshot serializes");
            let at = $crate::store::now();
            let (id_event,): (i64,) = sqlx::query_as(
                "INSERT INTO webhook_events (event, id_client, id_user, id_connection, snapshot, created)
                 SELECT $1, id_client, id, $2, $3, $4 FROM users WHERE id = $5 RETURNING id",
            )
            .bind(scope.event.as_str())
            .bind(scope.id_connection)
            .bind(snapshot)
            .bind(at)
            .bind(scope.id_user)
            .fetch_one(&mut *$tx)
            .await?;
            sqlx::query(
                "INSERT INTO webhook_deliveries (id_event, id_webhook, url, id_user, state, run_at, created)
                 SELECT $1, w.id, w.url, u.id, 'pending', $2, $2 FROM webhooks w JOIN users u ON u.id_client = w.id_client
                 WHERE u.id = $3 AND w.event = $4 ORDER BY w.id",
            )
            .bind(id_event)
            .bind(at)
            .bind(scope.id_user)
            .bind(scope.event.as_str())
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use emit;

/// Reads the [`Snapshot`] of `$scope` through `$tx`.
macro_rules! snapshot {
    ($tx:ident, $scope:expr) => {{
        use $crate::store::outbox::PAYLOAD_TRANSACTIONS;
        use $crate::store::rows::{ACCOUNT_COLUMNS, CONNECTION_COLUMNS, TRANSACTION_COLUMNS, USER_COLUMNS};
        let scope: &$crate::store::outbox::EventScope = $scope;
        let mut snapshot = $crate::store::outbox::Snapshot {
            since: scope.since,
            previous_state: scope.previous_state.clone(),
            ..Default::default()
        };
        snapshot.user = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(scope.id_user)
            .fetch_optional(&mut *$tx)
            .await?;
        if let Some(id) = scope.id_connection {
            snapshot.connection =
                sqlx::query_as(&format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *$tx)
                    .await?;
        }
        // Rows of one account, else of the whole connection.
        let (scope_column, scope_id) = match (scope.id_account, scope.id_connection) {
            (Some(id), _) => ("id", Some(id)),
            (None, id) => ("id_connection", id),
        };
        if let Some(id) = scope_id.filter(|_| scope.id_account.is_some() || scope.event.lists_accounts()) {
            // An account event shows its account even archived; a list shows the live ones.
            let live = if scope.id_account.is_some() { "" } else { "AND deleted IS NULL" };
            snapshot.accounts = sqlx::query_as(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {scope_column} = $1 {live} ORDER BY id"
            ))
            .bind(id)
            .fetch_all(&mut *$tx)
            .await?;
        }
        if let (Some(since), Some(id)) = (scope.since, scope_id) {
            let column = if scope.id_account.is_some() { "id_account" } else { "id_connection" };
            let filter = format!("FROM transactions WHERE {column} = $1 AND last_update >= $2");
            snapshot.transactions =
                sqlx::query_as(&format!("SELECT {TRANSACTION_COLUMNS} {filter} ORDER BY id LIMIT $3"))
                    .bind(id)
                    .bind(since)
                    .bind(PAYLOAD_TRANSACTIONS)
                    .fetch_all(&mut *$tx)
                    .await?;
            if snapshot.transactions.len() as i64 == PAYLOAD_TRANSACTIONS {
                let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) {filter}"))
                    .bind(id)
                    .bind(since)
                    .fetch_one(&mut *$tx)
                    .await?;
                snapshot.omitted_transactions = total - PAYLOAD_TRANSACTIONS;
            }
        }
        snapshot
    }};
}
pub(crate) use snapshot;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_distinct_and_read_back() {
        let names: std::collections::HashSet<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), Event::ALL.len());
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
            assert_eq!(Event::parse(&event.as_str().to_lowercase()), Some(event), "case-insensitive");
            // The stored form (serde) is the wire name.
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
        }
        assert_eq!(Event::parse("USER_SYNCED"), None, "Powens' deprecated event is not offered");
    }
}

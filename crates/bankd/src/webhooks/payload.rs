//! Event payloads in Powens' shapes (shared/api/webhooks.md), rendered from the event's stored
//! [`Snapshot`] with the same wire types as the API, so a webhook shows an object exactly as a
//! `GET` of it would have at that moment.
//!
//! - `USER_*`: the user.
//! - `CONNECTION_SYNCED`: `{"user", "connection": {…, "accounts": [{…, "transactions": […]}]}}`.
//! - `ACCOUNTS_FETCHED`: `{"user", "connection": {…, "accounts": […]}}`.
//! - `CONNECTION_DELETED`: the connection.
//! - `ACCOUNT_SYNCED`: the account with its `"transactions"`; other `ACCOUNT_*`: the account.
//! - bankd's `CONNECTION_STATE_CHANGED` (with `previous_state`) and `CONSENT_EXPIRING`:
//!   `{"user", "connection"}`.
//!
//! A payload carries at most `PAYLOAD_TRANSACTIONS` transactions; when a change wrote more,
//! `more_transactions` (a bankd extension) says how many were left out and gives the API URL that
//! lists every transaction the change wrote.

use serde_json::{Map, Value, json};

use crate::catalog::Catalog;
use crate::store::outbox::{Event, Snapshot};
use crate::store::rows::{Account, Transaction};
use crate::wire::{AccountView, ApiClock, ConnectionView, CurrencyView, TransactionView, UserView};

/// What rendering needs besides the snapshot.
#[derive(Clone)]
pub struct Renderer {
    pub clock: ApiClock,
    pub catalog: std::sync::Arc<Catalog>,
    /// Base of the `more_transactions` URL.
    pub public_url: String,
}

impl Renderer {
    pub fn render(&self, event: Event, snapshot: &Snapshot) -> Value {
        let connection = || self.connection(snapshot);
        let account = || snapshot.accounts.first().map_or(Value::Null, |a| self.account(a, None));
        let mut payload = match event {
            Event::UserCreated | Event::UserDeleted => self.user(snapshot),
            Event::ConnectionDeleted => connection(),
            Event::AccountFound | Event::AccountEnabled | Event::AccountDisabled | Event::AccountDeleted => account(),
            Event::AccountSynced => match snapshot.accounts.first() {
                Some(a) => self.account(a, Some(&snapshot.transactions)),
                None => Value::Null,
            },
            Event::ConnectionSynced | Event::AccountsFetched => {
                let with_transactions = event == Event::ConnectionSynced;
                let accounts: Vec<Value> = snapshot
                    .accounts
                    .iter()
                    .map(|a| self.account(a, with_transactions.then_some(&snapshot.transactions)))
                    .collect();
                let mut connection = connection();
                if let Value::Object(fields) = &mut connection {
                    fields.insert("accounts".into(), Value::Array(accounts));
                }
                json!({"user": self.user(snapshot), "connection": connection})
            }
            Event::ConnectionStateChanged => json!({
                "user": self.user(snapshot),
                "connection": connection(),
                "previous_state": snapshot.previous_state,
            }),
            Event::ConsentExpiring => json!({"user": self.user(snapshot), "connection": connection()}),
        };
        if snapshot.omitted_transactions > 0
            && let Value::Object(fields) = &mut payload
        {
            fields.insert("more_transactions".into(), self.more_transactions(event, snapshot));
        }
        payload
    }

    fn user(&self, snapshot: &Snapshot) -> Value {
        snapshot.user.as_ref().map_or(Value::Null, |u| to_value(UserView::new(u, &self.clock)))
    }

    fn connection(&self, snapshot: &Snapshot) -> Value {
        snapshot.connection.as_ref().map_or(Value::Null, |c| {
            to_value(ConnectionView::new(c, self.catalog.connector(c.id_connector), &self.clock))
        })
    }

    /// The account, with its own transactions out of `transactions` when given.
    fn account(&self, account: &Account, transactions: Option<&Vec<Transaction>>) -> Value {
        let mut value = to_value(AccountView::new(account, &self.clock));
        if let (Some(transactions), Value::Object(fields)) = (transactions, &mut value) {
            let currency = CurrencyView::of(account.currency.as_deref().unwrap_or("EUR"));
            let own: Vec<Value> = transactions
                .iter()
                .filter(|t| t.id_account == account.id)
                .map(|t| to_value(TransactionView::new(t, &currency, &self.clock)))
                .collect();
            fields.insert("transactions".into(), Value::Array(own));
        }
        value
    }

    /// How many transactions were left out, and the listing of all those the change wrote.
    fn more_transactions(&self, event: Event, snapshot: &Snapshot) -> Value {
        let user = snapshot.user.as_ref().map_or(0, |u| u.id);
        let path = match (event, snapshot.accounts.first(), &snapshot.connection) {
            (Event::AccountSynced, Some(account), _) => format!("users/{user}/accounts/{}/transactions", account.id),
            (_, _, Some(connection)) => format!("users/{user}/connections/{}/transactions", connection.id),
            _ => format!("users/{user}/transactions"),
        };
        // `last_update` is a strict bound, and the change's rows carry `since` itself.
        let after = snapshot.since.map(|since| self.clock.datetime(since - chrono::Duration::seconds(1)));
        let query = [("limit", Some("1000".to_owned())), ("last_update", after)];
        let query: Vec<(&str, String)> = query.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        let query = serde_urlencoded::to_string(query).unwrap_or_default();
        let url = format!("{}/2.0/{path}?{query}", self.public_url);
        json!({"count": snapshot.omitted_transactions, "url": url})
    }
}

fn to_value(view: impl serde::Serialize) -> Value {
    // Wire views are plain structs of strings, numbers and options: they always serialize.
    serde_json::to_value(view).unwrap_or_else(|_| Value::Object(Map::new()))
}

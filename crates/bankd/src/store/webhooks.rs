//! Webhook subscriptions, the secrets they are signed with, and their deliveries.
//!
//! Deliveries are a queue claimed like `jobs` (see `store::jobs`): one atomic `UPDATE … RETURNING`
//! under an expiring lease, `FOR UPDATE SKIP LOCKED` on PostgreSQL. One more rule: a delivery is
//! claimed only when no earlier pending delivery goes to the same URL for the same user, so a
//! receiver sees one user's events in the order they happened, even across retries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::RngCore;

use super::outbox::{Event, EventScope, emit};
use super::sealed::webhook_secret_aad;
use super::{BeginWrite, Db, Store, StoreError, StoreResult, now, on_db};
use crate::crypto::MasterKey;

/// An HMAC secret of a client app (Powens' "auth provider"); the secret itself stays sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthProvider {
    pub id: i64,
    pub id_client: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub name: String,
    pub created: DateTime<Utc>,
}

/// The only type of auth provider: the deliveries' `BI-Signature` and `webhook-signature`.
pub const HMAC_SIGNATURE: &str = "hmac_signature";

/// A client app's URL for one event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Webhook {
    pub id: i64,
    pub id_client: i64,
    pub event: String,
    pub url: String,
    pub id_auth: Option<i64>,
    pub created: DateTime<Utc>,
}

/// One event sent (or to be sent) to one subscription's URL.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub id_event: i64,
    pub id_webhook: i64,
    pub id_client: i64,
    pub event: String,
    pub url: String,
    pub id_user: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub run_at: DateTime<Utc>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_status: Option<i64>,
    pub last_latency_ms: Option<i64>,
    pub last_error: Option<String>,
    pub created: DateTime<Utc>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.id_event, d.id_webhook, e.id_client, e.event, d.url, d.id_user, d.state, \
     d.attempts, d.run_at, d.last_attempt, d.last_status, d.last_latency_ms, d.last_error, d.created";

/// A delivery a worker holds, with what it needs to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub id_event: i64,
    pub event: String,
    pub url: String,
    /// JSON of a `store::outbox::Snapshot`.
    pub snapshot: String,
    pub id_auth: Option<i64>,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub created: DateTime<Utc>,
}

/// How an attempt ended, to be written on the delivery.
#[derive(Debug, Clone)]
pub struct Attempted {
    /// `delivered`, `failed`, or `pending` with the next try at `run_at`.
    pub state: &'static str,
    pub run_at: DateTime<Utc>,
    pub status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
}

const CLAIM: &str = "UPDATE webhook_deliveries SET locked_by = $1, locked_until = $2, attempts = attempts + 1
     WHERE id = (SELECT d.id FROM webhook_deliveries d
                 WHERE d.state = 'pending' AND d.run_at <= $3 AND (d.locked_until IS NULL OR d.locked_until < $3)
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.state = 'pending'
                                   AND p.url = d.url AND p.id_user = d.id_user AND p.id < d.id)
                 ORDER BY d.run_at, d.id LIMIT 1 {lock})
     RETURNING id, id_event, url, id_webhook, attempts, created";

impl Store {
    /// Creates an HMAC auth provider; returns it with its secret, the only time it is in clear.
    /// The secret is base64 of 24 random bytes, so the one value serves both signatures (Standard
    /// Webhooks' secret is `whsec_` and a base64 key).
    pub async fn create_auth_provider(
        &self,
        id_client: i64,
        name: &str,
        key: &MasterKey,
    ) -> StoreResult<(AuthProvider, String)> {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        let secret = STANDARD.encode(bytes);
        let provider = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let provider: AuthProvider = sqlx::query_as(
                "INSERT INTO webhook_auths (id_client, type, name, secret, created) VALUES ($1, $2, $3, $4, $5)
                 RETURNING id, id_client, type, name, created",
            )
            .bind(id_client)
            .bind(HMAC_SIGNATURE)
            .bind(name)
            .bind(Vec::<u8>::new())
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
            // Sealed once the row id, which binds the secret to its row, is known.
            sqlx::query("UPDATE webhook_auths SET secret = $1 WHERE id = $2")
                .bind(key.seal(secret.as_bytes(), &webhook_secret_aad(provider.id)))
                .bind(provider.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            provider
        });
        Ok((provider, secret))
    }

    pub async fn auth_providers(&self, id_client: i64) -> StoreResult<Vec<AuthProvider>> {
        let rows = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT id, id_client, type, name, created FROM webhook_auths WHERE id_client = $1 ORDER BY id")
                .bind(id_client)
                .fetch_all(pool)
                .await?
        );
        Ok(rows)
    }

    pub async fn delete_auth_provider(&self, id_client: i64, id: i64) -> StoreResult<bool> {
        let deleted = on_db!(&self.db, pool =>
            sqlx::query("DELETE FROM webhook_auths WHERE id = $1 AND id_client = $2")
                .bind(id)
                .bind(id_client)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(deleted > 0)
    }

    /// The secret of an auth provider, opened; `None` if it was deleted.
    pub async fn auth_secret(&self, id: i64, key: &MasterKey) -> StoreResult<Option<String>> {
        let row: Option<(Vec<u8>,)> = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT secret FROM webhook_auths WHERE id = $1").bind(id).fetch_optional(pool).await?
        );
        let Some((sealed,)) = row else { return Ok(None) };
        let secret = key.open(&sealed, &webhook_secret_aad(id)).map_err(|e| StoreError::Sealed(e.to_string()))?;
        Ok(Some(String::from_utf8(secret).map_err(|e| StoreError::Sealed(e.to_string()))?))
    }

    /// Subscribes the client app's `url` to `event`, signed with its auth provider `id_auth`.
    /// `NotFound` if `id_auth` is not one of the app's.
    pub async fn create_webhook(
        &self,
        id_client: i64,
        event: Event,
        url: &str,
        id_auth: Option<i64>,
    ) -> StoreResult<Webhook> {
        let webhook = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(id) = id_auth {
                sqlx::query_as::<_, (i64,)>("SELECT id FROM webhook_auths WHERE id = $1 AND id_client = $2")
                    .bind(id)
                    .bind(id_client)
                    .fetch_one(&mut *tx)
                    .await?;
            }
            let webhook: Webhook = sqlx::query_as(
                "INSERT INTO webhooks (id_client, event, url, id_auth, created) VALUES ($1, $2, $3, $4, $5)
                 RETURNING id, id_client, event, url, id_auth, created",
            )
            .bind(id_client)
            .bind(event.as_str())
            .bind(url)
            .bind(id_auth)
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            webhook
        });
        Ok(webhook)
    }

    /// The client app's subscriptions, or everyone's (the command line).
    pub async fn webhooks(&self, id_client: Option<i64>) -> StoreResult<Vec<Webhook>> {
        let rows = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT id, id_client, event, url, id_auth, created FROM webhooks
                 WHERE $1 IS NULL OR id_client = $1 ORDER BY id",
            )
            .bind(id_client)
            .fetch_all(pool)
            .await?
        );
        Ok(rows)
    }

    pub async fn webhook(&self, id: i64) -> StoreResult<Option<Webhook>> {
        let row = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT id, id_client, event, url, id_auth, created FROM webhooks WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        );
        Ok(row)
    }

    /// Removes a subscription and its deliveries, pending ones included.
    pub async fn delete_webhook(&self, id: i64) -> StoreResult<bool> {
        let deleted = on_db!(&self.db, pool =>
            sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        );
        Ok(deleted > 0)
    }

    /// A subscription's deliveries, newest first.
    pub async fn deliveries(&self, id_webhook: i64, limit: i64) -> StoreResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.id_event
             WHERE d.id_webhook = $1 ORDER BY d.id DESC LIMIT $2"
        );
        let rows = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id_webhook).bind(limit).fetch_all(pool).await?);
        Ok(rows)
    }

    pub async fn delivery(&self, id: i64) -> StoreResult<Option<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.id_event
             WHERE d.id = $1"
        );
        let row = on_db!(&self.db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
        Ok(row)
    }

    /// Sends a delivery's event again, as a new delivery queued now (the log keeps the old one).
    pub async fn replay_delivery(&self, id: i64) -> StoreResult<Delivery> {
        let (new,): (i64,) = on_db!(&self.db, pool =>
            sqlx::query_as(
                "INSERT INTO webhook_deliveries (id_event, id_webhook, url, id_user, state, run_at, created)
                 SELECT id_event, id_webhook, url, id_user, 'pending', $1, $1 FROM webhook_deliveries WHERE id = $2
                 RETURNING id",
            )
            .bind(now())
            .bind(id)
            .fetch_one(pool)
            .await?
        );
        self.delivery(new).await?.ok_or(StoreError::NotFound)
    }

    /// Claims the next due delivery for `worker` until `now + lease`, keeping each (URL, user)'s
    /// deliveries in order.
    pub async fn claim_delivery(&self, worker: &str, lease: Duration) -> StoreResult<Option<ClaimedDelivery>> {
        let at = now();
        let lock = match self.db {
            Db::Sqlite(_) => "",
            Db::Pg(_) => "FOR UPDATE SKIP LOCKED",
        };
        let claim = CLAIM.replace("{lock}", lock);
        let claimed: Option<(i64, i64, String, i64, i64, DateTime<Utc>)> = on_db!(&self.db, pool =>
            sqlx::query_as(&claim).bind(worker).bind(at + lease).bind(at).fetch_optional(pool).await?
        );
        let Some((id, id_event, url, id_webhook, attempts, created)) = claimed else { return Ok(None) };
        let details: Option<(String, String, Option<i64>)> = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT e.event, e.snapshot, w.id_auth FROM webhook_events e, webhooks w WHERE e.id = $1 AND w.id = $2",
            )
            .bind(id_event)
            .bind(id_webhook)
            .fetch_optional(pool)
            .await?
        );
        // The subscription was removed since the claim: its deliveries went with it.
        let Some((event, snapshot, id_auth)) = details else { return Ok(None) };
        Ok(Some(ClaimedDelivery { id, id_event, event, url, snapshot, id_auth, attempts, created }))
    }

    /// Writes an attempt's end, if `worker` still holds the delivery.
    pub async fn record_attempt(&self, id: i64, worker: &str, attempted: &Attempted) -> StoreResult<bool> {
        let done = on_db!(&self.db, pool =>
            sqlx::query(
                "UPDATE webhook_deliveries SET state = $1, run_at = $2, last_status = $3, last_latency_ms = $4,
                        last_error = $5, last_attempt = $6, locked_by = NULL, locked_until = NULL
                 WHERE id = $7 AND locked_by = $8 AND state = 'pending'",
            )
            .bind(attempted.state)
            .bind(attempted.run_at.trunc_subsecs(0))
            .bind(attempted.status)
            .bind(attempted.latency_ms)
            .bind(&attempted.error)
            .bind(now())
            .bind(id)
            .bind(worker)
            .execute(pool)
            .await?
            .rows_affected()
        );
        Ok(done == 1)
    }

    /// Forgets deliveries that ended more than `age` ago, and events left without any delivery.
    pub async fn purge_deliveries(&self, age: Duration) -> StoreResult<u64> {
        let before = now() - age;
        let purged = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let purged = sqlx::query("DELETE FROM webhook_deliveries WHERE created < $1 AND state <> 'pending'")
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "DELETE FROM webhook_events WHERE created < $1
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id_event = webhook_events.id)",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            purged
        });
        Ok(purged)
    }

    /// Deliveries by state, for `/metrics`.
    pub async fn delivery_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state ORDER BY state")
                .fetch_all(pool)
                .await?
        );
        Ok(rows)
    }

    /// Writes `CONSENT_EXPIRING` for each active connection whose strong authentication ends
    /// within `notice`, once per `expire` date. Returns how many connections were warned.
    pub async fn warn_expiring_consents(&self, notice: Duration) -> StoreResult<usize> {
        let at = now();
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let expiring: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, id_user FROM connections
                 WHERE active AND expire > $1 AND expire <= $2
                   AND (expiring_notified IS NULL OR expiring_notified <> expire)
                 ORDER BY id LIMIT 1000",
            )
            .bind(at)
            .bind(at + notice)
            .fetch_all(&mut *tx)
            .await?;
            for (id, id_user) in &expiring {
                emit!(tx, &EventScope::connection(Event::ConsentExpiring, *id_user, *id));
                sqlx::query("UPDATE connections SET expiring_notified = expire WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(expiring.len())
        })
    }
}

//! Client applications: the apps that create users and hold `client_id`/`client_secret`.

use chrono::{DateTime, Utc};
use rand::Rng;
use subtle::ConstantTimeEq;

use super::{BeginWrite, Store, StoreError, StoreResult, now, on_db};
use crate::crypto::{random_secret, secret_hash};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Client {
    pub id: i64,
    pub name: String,
    pub client_id: String,
    pub created: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ClientWithSecret {
    #[sqlx(flatten)]
    client: Client,
    secret_hash: Vec<u8>,
}

/// A newly registered client; the only moment its secret exists in clear.
#[derive(Debug)]
pub struct NewClient {
    pub client: Client,
    pub client_secret: String,
}

impl Store {
    pub async fn create_client(&self, name: &str, redirect_uris: &[String]) -> StoreResult<NewClient> {
        let secret = random_secret();
        // Powens client ids are numeric strings; 12 random digits, retried on the rare collision.
        for _ in 0..5 {
            let client_id = rand::thread_rng().gen_range(100_000_000_000u64..1_000_000_000_000).to_string();
            let inserted: StoreResult<Client> = on_db!(&self.db, pool => {
                let mut tx = pool.begin_write().await?;
                let client: Client = sqlx::query_as(
                    "INSERT INTO clients (name, client_id, secret_hash, created) VALUES ($1, $2, $3, $4)
                     RETURNING id, name, client_id, created",
                )
                .bind(name)
                .bind(&client_id)
                .bind(secret_hash(&secret))
                .bind(now())
                .fetch_one(&mut *tx)
                .await?;
                for uri in redirect_uris {
                    sqlx::query("INSERT INTO client_redirect_uris (id_client, uri) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(client.id)
                        .bind(uri)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(client)
            });
            match inserted {
                Err(StoreError::Conflict(_)) => continue,
                other => {
                    return other.map(|client| NewClient { client, client_secret: secret });
                }
            }
        }
        Err(StoreError::Conflict("could not draw a unique client_id".into()))
    }

    /// The client whose id and secret both match, else `None` (no hint which one was wrong).
    pub async fn authenticate_client(&self, client_id: &str, secret: &str) -> StoreResult<Option<Client>> {
        let row: Option<ClientWithSecret> = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT id, name, client_id, created, secret_hash FROM clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(pool)
                .await?
        );
        Ok(row.and_then(|row| bool::from(row.secret_hash.ct_eq(&secret_hash(secret))).then_some(row.client)))
    }

    pub async fn client_redirect_uris(&self, id_client: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT uri FROM client_redirect_uris WHERE id_client = $1 ORDER BY uri")
                .bind(id_client)
                .fetch_all(pool)
                .await?
        );
        Ok(rows.into_iter().map(|(uri,)| uri).collect())
    }
}

impl Store {
    /// The client with this public `client_id` (no secret: for browser flows that name their app).
    pub async fn client_by_client_id(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let row = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT id, name, client_id, created FROM clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(pool)
                .await?
        );
        Ok(row)
    }

    /// The client named `name`, the oldest if several are.
    pub async fn client_by_name(&self, name: &str) -> StoreResult<Option<Client>> {
        let row = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT id, name, client_id, created FROM clients WHERE name = $1 ORDER BY id LIMIT 1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        );
        Ok(row)
    }

    /// The client with this row id.
    pub async fn client(&self, id: i64) -> StoreResult<Option<Client>> {
        let row = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT id, name, client_id, created FROM clients WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        );
        Ok(row)
    }
}

//! SimpleFIN's secrets: one-use setup tokens and the access credentials they are claimed for, both
//! stored as SHA-256 only.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreResult, now, on_db};
use crate::crypto::{random_hex_secret, secret_hash};

/// An access URL's credentials, as the claim hands them out once.
#[derive(Debug, Clone)]
pub struct AccessCredentials {
    pub id: i64,
    pub username: String,
    pub password: String,
}

/// An access URL as its owner lists it: never its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Access {
    pub id: i64,
    pub id_user: i64,
    pub username: String,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

impl Store {
    /// A new setup token of the user, claimable once before `expires`.
    pub async fn create_simplefin_claim(&self, id_user: i64, expires: DateTime<Utc>) -> StoreResult<String> {
        let token = random_hex_secret();
        on_db!(&self.db, pool =>
            sqlx::query("INSERT INTO simplefin_claims (token_hash, id_user, created, expires) VALUES ($1, $2, $3, $4)")
                .bind(secret_hash(&token))
                .bind(id_user)
                .bind(now())
                .bind(expires)
                .execute(pool)
                .await
                .map(drop)
        )?;
        Ok(token)
    }

    /// Claims a setup token: the credentials of a new access URL, or `None` for an unknown, expired
    /// or already claimed token. The token is spent and the access created in one transaction.
    pub async fn claim_simplefin(&self, token: &str) -> StoreResult<Option<AccessCredentials>> {
        let (username, password) = (random_hex_secret(), random_hex_secret());
        let at = now();
        let id = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let claimed: Option<(i64,)> = sqlx::query_as(
                "UPDATE simplefin_claims SET claimed = $1
                 WHERE token_hash = $2 AND claimed IS NULL AND expires > $1 RETURNING id_user",
            )
            .bind(at)
            .bind(secret_hash(token))
            .fetch_optional(&mut *tx)
            .await?;
            let mut id = None;
            if let Some((id_user,)) = claimed {
                let (created,): (i64,) = sqlx::query_as(
                    "INSERT INTO simplefin_access (id_user, username, secret_hash, created) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(id_user)
                .bind(&username)
                .bind(secret_hash(&password))
                .bind(at)
                .fetch_one(&mut *tx)
                .await?;
                id = Some(created);
            }
            tx.commit().await?;
            id
        });
        Ok(id.map(|id| AccessCredentials { id, username, password }))
    }

    /// The access a request's HTTP Basic credentials open, if they are right and not revoked; its
    /// use is recorded.
    pub async fn simplefin_access(&self, username: &str, password: &str) -> StoreResult<Option<Access>> {
        let row: Option<(i64, Vec<u8>)> = on_db!(&self.db, pool =>
            sqlx::query_as("SELECT id, secret_hash FROM simplefin_access WHERE username = $1 AND revoked IS NULL")
                .bind(username)
                .fetch_optional(pool)
                .await?
        );
        let Some((id, hash)) = row else { return Ok(None) };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(hash.as_slice(), secret_hash(password).as_slice())) {
            return Ok(None);
        }
        let access = on_db!(&self.db, pool =>
            sqlx::query_as(
                "UPDATE simplefin_access SET last_used = $1 WHERE id = $2
                 RETURNING id, id_user, username, created, last_used",
            )
            .bind(now())
            .bind(id)
            .fetch_optional(pool)
            .await?
        );
        Ok(access)
    }

    /// The user's access URLs still valid, oldest first.
    pub async fn simplefin_accesses(&self, id_user: i64) -> StoreResult<Vec<Access>> {
        Ok(on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT id, id_user, username, created, last_used FROM simplefin_access
                 WHERE id_user = $1 AND revoked IS NULL ORDER BY id",
            )
            .bind(id_user)
            .fetch_all(pool)
            .await?
        ))
    }

    /// Revokes one of the user's access URLs; false if it is not theirs or already revoked.
    pub async fn revoke_simplefin_access(&self, id_user: i64, id: i64) -> StoreResult<bool> {
        let done = on_db!(&self.db, pool =>
            sqlx::query("UPDATE simplefin_access SET revoked = $1 WHERE id = $2 AND id_user = $3 AND revoked IS NULL")
                .bind(now())
                .bind(id)
                .bind(id_user)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(done == 1)
    }
}

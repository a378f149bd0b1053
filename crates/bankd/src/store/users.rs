//! Users and their bearer tokens.
//!
//! A token row is found by the SHA-256 of the presented token; the clear token is returned once, at
//! creation, and never stored.

use chrono::{DateTime, Duration, Utc};

use super::outbox::{Event, EventScope, emit};
use super::rows::{USER_COLUMNS, User};
use super::{BeginWrite, Bind, Store, StoreResult, now, on_db};
use crate::crypto::{random_secret, secret_hash};

/// What a token lets its bearer be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Long-lived user token, from `/auth/init` with client credentials, `/auth/token/access`, `/auth/renew`.
    Permanent,
    /// 30-minute user token, from `/auth/init` without client credentials.
    Temporary,
    /// Temporary code from `/auth/token/code`: usable as a bearer token while it lives, and
    /// exchangeable for a permanent token.
    Code,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Permanent => "permanent",
            TokenKind::Temporary => "temporary",
            TokenKind::Code => "code",
        }
    }

    fn parse(s: &str) -> TokenKind {
        match s {
            "permanent" => TokenKind::Permanent,
            "temporary" => TokenKind::Temporary,
            _ => TokenKind::Code,
        }
    }
}

/// A token as presented by a caller, once found valid.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: i64,
    pub id_user: i64,
    pub kind: TokenKind,
    pub single_use: bool,
}

/// A token's row: id, user, kind, single use, expiry.
type TokenRow = (i64, i64, String, bool, Option<DateTime<Utc>>);

/// A token just issued: the clear secret to hand out once.
#[derive(Debug)]
pub struct IssuedToken {
    pub secret: String,
    pub expires_in: Option<i64>,
}

impl Store {
    /// Creates a user; one of a client app is announced (`USER_CREATED`).
    pub async fn create_user(&self, id_client: Option<i64>, platform: &str) -> StoreResult<User> {
        let user: User = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let user: User = sqlx::query_as(&format!(
                "INSERT INTO users (id_client, signin, platform) VALUES ($1, $2, $3) RETURNING {USER_COLUMNS}"
            ))
            .bind(id_client)
            .bind(now())
            .bind(platform)
            .fetch_one(&mut *tx)
            .await?;
            emit!(tx, &EventScope::user(Event::UserCreated, user.id));
            tx.commit().await?;
            user
        });
        Ok(user)
    }

    pub async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        let user = on_db!(&self.db, pool =>
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        );
        Ok(user)
    }

    pub async fn users_of_client(&self, id_client: i64) -> StoreResult<Vec<User>> {
        let users = on_db!(&self.db, pool =>
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id_client = $1 ORDER BY id"))
                .bind(id_client)
                .fetch_all(pool)
                .await?
        );
        Ok(users)
    }

    /// Makes an anonymous user (created without client credentials) the client's: for the app,
    /// the user is created now (`USER_CREATED`).
    pub async fn adopt_user(&self, id: i64, id_client: i64) -> StoreResult<()> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            let adopted = sqlx::query("UPDATE users SET id_client = $1 WHERE id = $2 AND id_client IS NULL")
                .bind(id_client)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if adopted > 0 {
                emit!(tx, &EventScope::user(Event::UserCreated, id));
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes the user; foreign keys cascade to everything the user owns. False if there was none.
    /// `USER_DELETED` is written first, while the user's row can still be read into it.
    pub async fn delete_user(&self, id: i64) -> StoreResult<bool> {
        let done = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            emit!(tx, &EventScope::user(Event::UserDeleted, id));
            let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            done
        });
        self.tokens.revoke();
        Ok(done > 0)
    }

    /// Issues a new token for the user. `ttl` None means it never expires.
    pub async fn issue_token(
        &self,
        id_user: i64,
        kind: TokenKind,
        single_use: bool,
        ttl: Option<Duration>,
    ) -> StoreResult<IssuedToken> {
        let secret = random_secret();
        let created = now();
        on_db!(&self.db, pool =>
            sqlx::query("INSERT INTO tokens (id_user, hash, kind, single_use, expires_at, created)
                         VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id_user)
                .bind(secret_hash(&secret))
                .bind(kind.as_str())
                .bind(single_use)
                .bind(ttl.map(|ttl| created + ttl))
                .bind(created)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(IssuedToken { secret, expires_in: ttl.map(|ttl| ttl.num_seconds()) })
    }

    /// The live token with this secret, if any. Expired rows are treated as absent.
    pub async fn find_token(&self, secret: &str) -> StoreResult<Option<Token>> {
        let hash = secret_hash(secret);
        if let Some(token) = self.tokens.get(&hash) {
            return Ok(Some(token));
        }
        let generation = self.tokens.generation();
        let rows: Vec<TokenRow> = self
            .fetch_all(
                "SELECT id, id_user, kind, single_use, expires_at FROM tokens
                 WHERE hash = $1 AND (expires_at IS NULL OR expires_at > $2)",
                &[Bind::Bytes(hash.clone()), Bind::Time(now())],
            )
            .await?;
        let Some((id, id_user, kind, single_use, expires_at)) = rows.into_iter().next() else { return Ok(None) };
        let token = Token { id, id_user, kind: TokenKind::parse(&kind), single_use };
        self.tokens.put(hash, &token, expires_at, generation);
        Ok(Some(token))
    }

    /// The live temporary code with this secret, if any. Nothing is spent: the caller checks whose
    /// it is first, then [`Store::take_code`] spends it.
    pub async fn find_code(&self, code: &str) -> StoreResult<Option<Token>> {
        Ok(self.find_token(code).await?.filter(|token| token.kind == TokenKind::Code))
    }

    /// Spends a code found by [`Store::find_code`]: a single-use one is burnt in one statement, so
    /// of two concurrent exchanges only one gets `true`.
    pub async fn take_code(&self, code: &Token) -> StoreResult<bool> {
        if !code.single_use {
            return Ok(true);
        }
        let burnt = on_db!(&self.db, pool =>
            sqlx::query("DELETE FROM tokens WHERE id = $1")
                .bind(code.id)
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(burnt == 1)
    }

    pub async fn revoke_token(&self, id: i64) -> StoreResult<()> {
        on_db!(&self.db, pool => sqlx::query("DELETE FROM tokens WHERE id = $1").bind(id).execute(pool).await?.rows_affected());
        self.tokens.revoke();
        Ok(())
    }

    /// Issues a permanent token, first revoking the user's other permanent tokens when asked
    /// (`/auth/renew` with `revoke_previous`).
    pub async fn renew_permanent_token(&self, id_user: i64, revoke_previous: bool) -> StoreResult<IssuedToken> {
        if revoke_previous {
            on_db!(&self.db, pool =>
                sqlx::query("DELETE FROM tokens WHERE id_user = $1 AND kind = 'permanent'")
                    .bind(id_user)
                    .execute(pool)
                    .await?
                    .rows_affected()
            );
            self.tokens.revoke();
        }
        self.issue_token(id_user, TokenKind::Permanent, false, None).await
    }
}

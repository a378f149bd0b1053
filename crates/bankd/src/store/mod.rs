//! Persistence: one `Store` over SQLite (embedded default) or PostgreSQL (scale-out).
//!
//! Both backends are compiled in and chosen at runtime from the URL. Queries are written once, in the
//! SQL both dialects accept (`$1` placeholders, `ON CONFLICT`, `RETURNING`), and the [`on_db!`] macro
//! compiles each query once per concrete pool, so binds and `FromRow` stay fully typed. `sqlx::Any` is
//! not used: it cannot decode TIMESTAMPTZ or BYTEA. Where the dialects really differ, the code
//! matches on [`Db`] and keeps the two statements side by side.
//!
//! Conventions every module follows: timestamps are `DateTime<Utc>` truncated to whole seconds
//! (SQLite stores them as text, and only fixed-width text sorts like time), and money is an `i64`
//! of 10⁻⁴ units (see `domain::money`).

pub mod accounts;
pub mod backup;
pub mod balances;
pub mod clients;
pub mod connections;
pub mod directory;
pub mod fints;
pub mod imports;
pub mod jobs;
pub mod outbox;
pub mod psd2;
pub mod rows;
pub mod sealed;
pub mod simplefin;
pub mod sqlite_reads;
pub mod token_cache;
pub mod transactions;
pub mod users;
pub mod webhooks;
pub mod woob;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlite_reads::{FromSqliteRow, SqliteReads};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use token_cache::TokenCache;

/// The connection pool of whichever backend the URL named.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool: the body is compiled once per backend.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Pg($pool) => $body,
        }
    };
}
pub use on_db;

/// Everything the store can fail with, by meaning rather than by driver message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// A sync holds the connection.
    #[error("the connection is locked by a sync under way")]
    Locked,
    /// The job's lease passed to another worker (this one was too slow to extend it, or was
    /// thought dead): whatever it was about to write is that worker's to write now.
    #[error("the job's lease was lost to another worker")]
    LeaseLost,
    /// A sealed column did not open: wrong master key, or tampering.
    #[error("a sealed value could not be read: {0}")]
    Sealed(String),
    #[error(transparent)]
    Db(sqlx::Error),
    /// An amount that cannot be stored exactly.
    #[error(transparent)]
    Money(#[from] crate::domain::money::MoneyError),
    /// A read through rusqlite failed (see `sqlite_reads`).
    #[error("read failed: {0}")]
    Read(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_owned()),
            e => StoreError::Db(e),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The handle every part of bankd uses to read and write its data.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
    /// On SQLite, the reads of the API's hot paths (see [`sqlite_reads`]).
    reads: Option<Arc<SqliteReads>>,
    /// Bearer tokens recently found valid (see [`token_cache`]); caches nothing until
    /// [`Store::with_token_cache`] says for how long.
    tokens: Arc<TokenCache>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`), creating the SQLite file if needed.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        Store::connect_to(url, true).await
    }

    /// Connects to `url` without creating anything: `None` when the SQLite file does not exist
    /// (for `bankd doctor`, which only looks).
    pub async fn connect_existing(url: &str) -> StoreResult<Option<Store>> {
        match Store::connect_to(url, false).await {
            Ok(store) => Ok(Some(store)),
            Err(StoreError::Db(sqlx::Error::Database(e)))
                if is_sqlite_url(url) && e.code().as_deref() == Some("14") =>
            {
                // SQLITE_CANTOPEN: the file is not there yet.
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn connect_to(url: &str, create_if_missing: bool) -> StoreResult<Store> {
        let mut reads = None;
        let db = if !is_sqlite_url(url) {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Db::Pg(pool)
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(create_if_missing)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let file = options.get_filename();
            if !file.as_os_str().is_empty() && file != std::path::Path::new(":memory:") {
                reads = Some(SqliteReads::new(file.to_path_buf()));
            }
            let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
            Db::Sqlite(pool)
        };
        Ok(Store { db, reads, tokens: Arc::new(TokenCache::new(Duration::ZERO)) })
    }

    /// This store, believing a bearer token found valid for `ttl` without asking the database again.
    pub fn with_token_cache(self, ttl: Duration) -> Store {
        Store { tokens: Arc::new(TokenCache::new(ttl)), ..self }
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Db::Pg(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// The migrations of this backend not applied yet, by description; `None` when the database was
    /// never migrated. Only reads: `_sqlx_migrations` is compared with the migrator's list.
    pub async fn pending_migrations(&self) -> StoreResult<Option<Vec<String>>> {
        let (migrator, exists_sql) = match &self.db {
            Db::Sqlite(_) => (
                sqlx::migrate!("migrations/sqlite"),
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            ),
            Db::Pg(_) => (
                sqlx::migrate!("migrations/postgres"),
                "SELECT COUNT(*) FROM pg_tables WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()",
            ),
        };
        let exists: i64 = on_db!(&self.db, pool => sqlx::query_scalar(exists_sql).fetch_one(pool).await?);
        if exists == 0 {
            return Ok(None);
        }
        let applied: Vec<i64> = on_db!(&self.db, pool =>
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await?);
        let pending =
            migrator.iter().filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version));
        Ok(Some(pending.map(|m| format!("{} {}", m.version, m.description)).collect()))
    }

    /// The database server's clock, to compare with this machine's.
    pub async fn database_now(&self) -> StoreResult<DateTime<Utc>> {
        Ok(match &self.db {
            // SQLite's CURRENT_TIMESTAMP is text, `YYYY-MM-DD HH:MM:SS` in UTC.
            Db::Sqlite(pool) => {
                let text: String = sqlx::query_scalar("SELECT CURRENT_TIMESTAMP").fetch_one(pool).await?;
                chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S")
                    .map_err(|e| StoreError::Read(format!("CURRENT_TIMESTAMP {text:?}: {e}")))?
                    .and_utc()
            }
            Db::Pg(pool) => sqlx::query_scalar("SELECT CURRENT_TIMESTAMP").fetch_one(pool).await?,
        })
    }

    /// A cheap round trip, for `/health`.
    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(&self.db, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Every row of a read on the API's hot paths: through [`sqlite_reads`] on SQLite, sqlx on PostgreSQL.
    pub(crate) async fn fetch_all<T>(&self, sql: &str, binds: &[Bind]) -> StoreResult<Vec<T>>
    where
        T: FromSqliteRow + Send + Unpin + 'static,
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
    {
        if let Some(reads) = &self.reads {
            return reads.fetch_all(sql, binds.to_vec()).await;
        }
        Ok(on_db!(&self.db, pool => bind_all!(sqlx::query_as(sql), binds).fetch_all(pool).await?))
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Pg(_) => "postgres",
        }
    }
}

fn is_sqlite_url(url: &str) -> bool {
    !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// Now, in the precision the store keeps (whole seconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Opens a write transaction. On SQLite it must be `BEGIN IMMEDIATE`: a deferred transaction that
/// reads, then writes, fails with SQLITE_BUSY at once instead of waiting for the busy timeout.
pub trait BeginWrite {
    type Database: sqlx::Database;
    fn begin_write(&self) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Database>>> + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;
    fn begin_write(&self) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;
    fn begin_write(&self) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>>> + Send {
        self.begin()
    }
}

/// A value bound to a dynamically built query (filter lists), whatever the backend.
#[derive(Debug, Clone)]
pub enum Bind {
    I64(i64),
    Text(String),
    Bool(bool),
    Date(chrono::NaiveDate),
    Time(DateTime<Utc>),
    Bytes(Vec<u8>),
}

/// Binds every value of a `&[Bind]` to a query, in order (`$1`, `$2`, …).
#[macro_export]
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                $crate::store::Bind::I64(v) => query.bind(*v),
                $crate::store::Bind::Text(v) => query.bind(v.clone()),
                $crate::store::Bind::Bool(v) => query.bind(*v),
                $crate::store::Bind::Date(v) => query.bind(*v),
                $crate::store::Bind::Time(v) => query.bind(*v),
                $crate::store::Bind::Bytes(v) => query.bind(v.clone()),
            };
        }
        query
    }};
}
pub use bind_all;

/// A `WHERE` clause built from optional conditions, each written with `?` marks that [`sql`](Self::sql)
/// numbers (`$1`, `$2`, …) in the order the values were given.
#[derive(Debug, Default, Clone)]
pub struct Conditions {
    clauses: Vec<String>,
    pub binds: Vec<Bind>,
}

impl Conditions {
    /// Adds `condition`, whose `?` marks stand for `values`, in order.
    pub fn and(&mut self, condition: &str, values: impl IntoIterator<Item = Bind>) -> &mut Self {
        let before = self.binds.len();
        self.binds.extend(values);
        // A count mismatch is a programming error that the tests of every caller catch.
        assert_eq!(condition.matches('?').count(), self.binds.len() - before, "one value per '?' in {condition}");
        self.clauses.push(format!("({condition})"));
        self
    }

    /// These conditions and then `other`'s.
    pub fn and_all(&mut self, other: &Conditions) -> &mut Self {
        self.clauses.extend(other.clauses.iter().cloned());
        self.binds.extend(other.binds.iter().cloned());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The clause with its marks numbered from `$1`.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            return "TRUE".to_owned();
        }
        let text = self.clauses.join(" AND ");
        let mut sql = String::with_capacity(text.len() + 16);
        for (i, part) in text.split('?').enumerate() {
            if i > 0 {
                sql.push_str(&format!("${i}"));
            }
            sql.push_str(part);
        }
        sql
    }

    /// The `$n` of the next value bound after these conditions.
    pub fn next_placeholder(&self) -> usize {
        self.binds.len() + 1
    }
}

//! Reads of the hot API paths on SQLite, through rusqlite on the calling thread.
//!
//! sqlx's SQLite driver runs each connection on a thread of its own and hands every row across a
//! channel to the async task: on a 2-core machine, a 100-row page spent most of its time in thread
//! wake-ups (perf: `flume` signals and `finish_task_switch` above 45 % of the profile). Here the
//! whole query runs on the calling thread, rows are decoded where they are read,
//! and statements stay prepared in each connection's cache. Writes, migrations and everything else keep going
//! through sqlx; the SQL text is the same (`$n` placeholders are SQLite named parameters).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::{FromSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags, Row, ToSql};
use tokio::sync::Semaphore;

use super::rows::{Account, Transaction};
use super::{Bind, StoreError, StoreResult};

/// At most this many reads at once: each holds a connection and its page cache.
const READERS: usize = 8;

/// Connections that only read the database file, opened on demand and reused.
#[derive(Debug)]
pub struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl SqliteReads {
    pub fn new(path: PathBuf) -> Arc<SqliteReads> {
        Arc::new(SqliteReads { path, idle: Mutex::new(Vec::new()), permits: Semaphore::new(READERS) })
    }

    /// Every row `sql` returns with `binds` as `$1`, `$2`, …
    pub async fn fetch_all<T: FromSqliteRow + Send + 'static>(
        self: &Arc<Self>,
        sql: impl Into<String>,
        binds: Vec<Bind>,
    ) -> StoreResult<Vec<T>> {
        let sql = sql.into();
        // The semaphore is never closed: acquiring only waits.
        let _permit = self.permits.acquire().await.map_err(|e| StoreError::Read(e.to_string()))?;
        // On the multi-threaded runtime the read runs right here, on the worker thread, as rendering
        // its rows will: these are short, indexed reads of a WAL snapshot, which never wait for a
        // writer, so they cost CPU like any other work of the request. Handing them to another
        // thread (`block_in_place`, as before) cost more than the reads: the thread switches were a
        // fifth of the accounts listing's profile. The single-threaded runtime of the tests must not
        // be held, and hands the read to a blocking thread.
        if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            return self.run(&sql, &binds);
        }
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.run(&sql, &binds))
            .await
            .map_err(|e| StoreError::Read(format!("a read was cancelled: {e}")))?
    }

    fn run<T: FromSqliteRow>(&self, sql: &str, binds: &[Bind]) -> StoreResult<Vec<T>> {
        let connection = match self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = query(&connection, sql, binds);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(connection);
        result.map_err(StoreError::from)
    }

    fn open(&self) -> StoreResult<Connection> {
        // Read-write but `query_only`: a read-only connection cannot rebuild the WAL index (-shm)
        // that SQLite removes once every other connection has closed.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.pragma_update(None, "query_only", true)?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(connection)
    }
}

fn query<T: FromSqliteRow>(connection: &Connection, sql: &str, binds: &[Bind]) -> rusqlite::Result<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    for (i, bind) in binds.iter().enumerate() {
        // `$n` is a named parameter to SQLite: bound by name, whatever order the text uses them in.
        if let Some(index) = statement.parameter_index(&format!("${}", i + 1))? {
            statement.raw_bind_parameter(index, bind)?;
        }
    }
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::from_row(row)?);
    }
    Ok(out)
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            e => StoreError::Read(e.to_string()),
        }
    }
}

/// Values are written as sqlx writes them, so that comparisons with stored text hold.
impl ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Bind::I64(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Bind::Bool(v) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            Bind::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Bind::Date(v) => ToSqlOutput::Owned(Value::Text(v.format("%Y-%m-%d").to_string())),
            Bind::Time(v) => ToSqlOutput::Owned(Value::Text(v.to_rfc3339())),
            Bind::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

/// A row decoded by column position.
pub trait FromSqliteRow: Sized {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
}

macro_rules! tuple_rows {
    ($($name:ident $index:tt),+) => {
        impl<$($name: FromSql),+> FromSqliteRow for ($($name,)+) {
            fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(row.get($index)?,)+))
            }
        }
    };
}
tuple_rows!(A 0);
tuple_rows!(A 0, B 1);
tuple_rows!(A 0, B 1, C 2);
tuple_rows!(A 0, B 1, C 2, D 3);
tuple_rows!(A 0, B 1, C 2, D 3, E 4);

/// SQLite keeps dates as `YYYY-MM-DD` text and instants as RFC 3339 text in UTC (see store/mod.rs).
/// Those fixed-width forms are read by hand, as chrono's parser showed in listings' profiles; any
/// other form goes through chrono.
fn date(row: &Row<'_>, index: usize) -> rusqlite::Result<NaiveDate> {
    match row.get_ref(index)? {
        ValueRef::Text(text) if text.len() == 10 => parse_date(text).map_or_else(|| row.get(index), Ok),
        _ => row.get(index),
    }
}

fn opt_date(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<NaiveDate>> {
    match row.get_ref(index)? {
        ValueRef::Null => Ok(None),
        _ => date(row, index).map(Some),
    }
}

fn time(row: &Row<'_>, index: usize) -> rusqlite::Result<DateTime<Utc>> {
    match row.get_ref(index)? {
        // `2026-11-26T06:53:52+00:00`
        ValueRef::Text(text) if text.len() == 25 && text.ends_with(b"+00:00") && text[10] == b'T' => {
            let time = (digits(&text[11..13]), digits(&text[14..16]), digits(&text[17..19]));
            let parsed = parse_date(&text[..10])
                .zip(match time {
                    (Some(h), Some(m), Some(s)) => chrono::NaiveTime::from_hms_opt(h, m, s),
                    _ => None,
                })
                .map(|(date, time)| date.and_time(time).and_utc());
            parsed.map_or_else(|| row.get(index), Ok)
        }
        _ => row.get(index),
    }
}

fn opt_time(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get_ref(index)? {
        ValueRef::Null => Ok(None),
        _ => time(row, index).map(Some),
    }
}

fn parse_date(text: &[u8]) -> Option<NaiveDate> {
    if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(&text[..4])? as i32, digits(&text[5..7])?, digits(&text[8..10])?)
}

fn digits(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
}

/// In the order of `transactions::TRANSACTION_COLUMNS`.
impl FromSqliteRow for Transaction {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Transaction {
            id: row.get(0)?,
            id_account: row.get(1)?,
            id_user: row.get(2)?,
            id_connection: row.get(3)?,
            webid: row.get(4)?,
            date: date(row, 5)?,
            rdate: date(row, 6)?,
            vdate: opt_date(row, 7)?,
            application_date: date(row, 8)?,
            value: row.get(9)?,
            kind: row.get(10)?,
            original_wording: row.get(11)?,
            simplified_wording: row.get(12)?,
            wording: row.get(13)?,
            coming: row.get(14)?,
            active: row.get(15)?,
            deleted: opt_time(row, 16)?,
            last_update: time(row, 17)?,
            date_scraped: time(row, 18)?,
            card: row.get(19)?,
            counterparty: row.get(20)?,
            comment: row.get(21)?,
        })
    }
}

/// In the order of `accounts::ACCOUNT_COLUMNS`.
impl FromSqliteRow for Account {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Account {
            id: row.get(0)?,
            id_connection: row.get(1)?,
            id_user: row.get(2)?,
            id_source: row.get(3)?,
            webid: row.get(4)?,
            number: row.get(5)?,
            original_name: row.get(6)?,
            name: row.get(7)?,
            balance: row.get(8)?,
            coming: row.get(9)?,
            currency: row.get(10)?,
            iban: row.get(11)?,
            bic: row.get(12)?,
            kind: row.get(13)?,
            usage: row.get(14)?,
            display: row.get(15)?,
            bookmarked: row.get(16)?,
            error: row.get(17)?,
            last_update: opt_time(row, 18)?,
            deleted: opt_time(row, 19)?,
            disabled: opt_time(row, 20)?,
            created: time(row, 21)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn binds_and_rows_round_trip_in_sqlx_s_text_forms() {
        let connection = Connection::open_in_memory().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 6, 53, 52).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let binds = [Bind::Time(at), Bind::Date(day), Bind::Bool(true), Bind::Text("x".into()), Bind::I64(-5)];
        let text: Vec<(String, String, i64, String)> = query(&connection, "SELECT $1, $2, $3, $4", &binds).unwrap();
        assert_eq!(text[0].0, "2026-11-26T06:53:52+00:00", "as sqlx stores DateTime<Utc>");
        assert_eq!(text[0].1, "2026-11-24");
        let typed: Vec<(DateTime<Utc>, NaiveDate, bool, i64)> =
            query(&connection, "SELECT $1, $2, $3, $5", &binds).unwrap();
        assert_eq!(typed, [(at, day, true, -5)]);
        assert_eq!(parse_date(b"2026-02-03"), NaiveDate::from_ymd_opt(2026, 2, 3));
        for bad in [&b"2026-02-30"[..], b"2026/02/03", b"2026-2-033", b"20a6-02-03"] {
            assert_eq!(parse_date(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        // Parameters bound by name, whatever order the text uses them in.
        let swapped: Vec<(i64, String)> = query(&connection, "SELECT $5, $4", &binds).unwrap();
        assert_eq!(swapped, [(-5, "x".to_owned())]);
    }

    #[test]
    fn readers_read_and_never_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);")
            .unwrap();
        let reads = SqliteReads::new(path);
        let got: Vec<(i64,)> = reads.run("SELECT x FROM t", &[]).unwrap();
        assert_eq!(got, [(7,)]);
        assert!(reads.run::<(i64,)>("INSERT INTO t VALUES (8) RETURNING x", &[]).is_err());
    }
}

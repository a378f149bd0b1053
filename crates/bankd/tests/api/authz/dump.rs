//! "Nothing changed": every row of every table, before and after the matrix. The tables are listed
//! from the database's own catalogue, so a table added later is covered without a word here.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Columns that move with no one asking, as `(table, column)`. Empty: nothing moves while the
/// matrix runs (the webhook's deliveries are settled first and no sync is due for hours); a column
/// added here needs its reason beside it.
const MOVING: [(&str, &str); 0] = [];

/// Each table's rows, one line of quoted values each, sorted.
pub(super) type Dump = BTreeMap<String, Vec<String>>;

fn kept(table: &str, column: &str) -> bool {
    !MOVING.contains(&(table, column))
}

pub(super) async fn dump(database_url: &str) -> Dump {
    let mut dump = if database_url.starts_with("sqlite:") {
        dump_sqlite(database_url).await
    } else {
        dump_postgres(database_url).await
    };
    dump.values_mut().for_each(|rows| rows.sort());
    dump
}

async fn dump_sqlite(database_url: &str) -> Dump {
    let options: sqlx::sqlite::SqliteConnectOptions = database_url.parse().unwrap();
    let pool = sqlx::SqlitePool::connect_with(options.read_only(true)).await.unwrap();
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(&pool).await.unwrap();
    let mut dump = Dump::new();
    for (table,) in tables {
        let columns: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM pragma_table_info($1)").bind(&table).fetch_all(&pool).await.unwrap();
        // quote() writes any value, blobs included, as an SQL literal: NULL and '' stay apart.
        let values: Vec<String> =
            columns.iter().filter(|(c,)| kept(&table, c)).map(|(c,)| format!("quote(\"{c}\")")).collect();
        let sql = format!("SELECT {} FROM \"{table}\"", values.join(" || '|' || "));
        let rows: Vec<(String,)> = sqlx::query_as(&sql).fetch_all(&pool).await.unwrap();
        dump.insert(table, rows.into_iter().map(|(row,)| row).collect());
    }
    pool.close().await;
    dump
}

async fn dump_postgres(database_url: &str) -> Dump {
    // The URL's search_path is the test's own schema: current_schema() names it.
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut dump = Dump::new();
    for (table,) in tables {
        let columns: Vec<(String,)> = sqlx::query_as(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&table)
        .fetch_all(&pool)
        .await
        .unwrap();
        let values: Vec<String> =
            columns.iter().filter(|(c,)| kept(&table, c)).map(|(c,)| format!("quote_nullable(\"{c}\")")).collect();
        let sql = format!("SELECT concat_ws('|', {}) FROM \"{table}\"", values.join(", "));
        let rows: Vec<(String,)> = sqlx::query_as(&sql).fetch_all(&pool).await.unwrap();
        dump.insert(table, rows.into_iter().map(|(row,)| row).collect());
    }
    pool.close().await;
    dump
}

/// The dump once two in a row, a second apart, agree: what the setup set off has finished.
pub(super) async fn settled_dump(database_url: &str) -> Dump {
    let mut last = dump(database_url).await;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = dump(database_url).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the database never settled after the setup");
}

/// The rows removed (-) and added (+), table by table.
pub(super) fn differences(before: &Dump, after: &Dump) -> Vec<String> {
    let empty = Vec::new();
    let tables: HashSet<&String> = before.keys().chain(after.keys()).collect();
    let mut lines = Vec::new();
    for table in tables {
        let (old, new) = (before.get(table).unwrap_or(&empty), after.get(table).unwrap_or(&empty));
        lines.extend(old.iter().filter(|row| !new.contains(row)).map(|row| format!("{table}: - {row}")));
        lines.extend(new.iter().filter(|row| !old.contains(row)).map(|row| format!("{table}: + {row}")));
    }
    lines.sort();
    lines
}

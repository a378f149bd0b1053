//! `bankd export` of one account's history as OFX, at 100,000 and at 1,000,000 transactions: the
//! time, and the peak memory of the process, which must stay flat (rows are read and written a
//! page at a time). The anchor is the same export of the smaller history, in the same run.
//!
//! cargo build --release -p bankd -p bankd-bench && ./target/release/export   (SQLite; needs GNU time)

use bankd::catalog::Catalog;
use bankd::crypto::MasterKey;
use bankd::sources::Credentials;
use bankd::store::{Db, Store, now, on_db};
use bankd_bench::{Backend, fresh_store, header, insert_history, release_binary, row};

/// A user with one account of `rows` transactions; returns the user's and the account's ids.
async fn account_with(store: &Store, rows: i64) -> (i64, i64) {
    let catalog = Catalog::load(None, true).expect("catalog");
    let key = MasterKey::from_bytes(&[7; 32]).expect("key");
    let user = store.create_user(None, "bench").await.expect("user");
    let credentials = Credentials([("login".to_owned(), "demo".to_owned())].into());
    let connector = catalog.connector(1).expect("sandbox connector");
    let id_connection = store.create_connection(user.id, connector, &credentials, &key).await.expect("connection");
    let sql = "INSERT INTO accounts (id_connection, id_user, id_source, webid, original_name, balance, currency,
                    type, usage, display, bookmarked, created, last_update)
               SELECT $1, $2, id, 'bench', 'Checking', 123450000, 'EUR', 'checking', 'PRIV', TRUE, FALSE, $3, $3
               FROM connection_sources WHERE id_connection = $1 ORDER BY priority LIMIT 1 RETURNING id";
    let (id,): (i64,) = on_db!(&store.db, pool => sqlx::query_as(sql)
        .bind(id_connection).bind(user.id).bind(now()).fetch_one(pool).await.expect("account"));
    insert_history(store, id, user.id, id_connection, rows, 0).await;
    if let Db::Pg(pool) = &store.db {
        sqlx::query("ANALYZE").execute(pool).await.expect("analyze");
    }
    (user.id, id)
}

/// Runs `bankd export` under GNU time: (seconds, peak RSS in MB, bytes written).
fn timed_export(url: &str, data: &std::path::Path, user: i64, account: i64) -> (f64, f64, u64) {
    let out = data.join("export.ofx");
    let bankd = release_binary("bankd");
    let command =
        format!("{} export --user {user} --account {account} --format ofx > {}", bankd.display(), out.display());
    let output = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "sh", "-c", &command])
        .env("BANKD_DATABASE_URL", url)
        .env("BANKD_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run /usr/bin/time (GNU time)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default().to_owned();
    let mut figures = last.split_whitespace().map(|f| f.parse::<f64>().unwrap_or(0.0));
    let (seconds, kb) = (figures.next().unwrap_or(0.0), figures.next().unwrap_or(0.0));
    (seconds, kb / 1024.0, std::fs::metadata(out).map(|m| m.len()).unwrap_or(0))
}

#[tokio::main]
async fn main() {
    if std::env::var_os("BANKD_BENCH_NO_HEADER").is_none() {
        header();
    }
    let mut figures = Vec::new();
    for rows in [100_000, 1_000_000] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, url) = fresh_store(Backend::Sqlite, &dir).await.expect("SQLite");
        let (user, account) = account_with(&store, rows).await;
        drop(store);
        figures.push((rows, timed_export(&url, dir.path(), user, account)));
    }
    let (small, (_, small_rss, _)) = figures[0];
    let (large, (seconds, rss, bytes)) = figures[1];
    row(
        &format!("Sqlite: `bankd export` of {large} transactions as OFX"),
        &format!("{seconds:.1} s, {} MB written, peak RSS {rss:.0} MB", bytes >> 20),
        &format!("peak RSS {small_rss:.0} MB for {small} transactions"),
        &format!("{:.2}x", rss / small_rss),
        "flat memory (1.0x)",
    );
}

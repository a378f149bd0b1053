//! First sync of the sandbox `big` login (100,000 transactions) and an unchanged re-sync, beside
//! the anchor of shared/targets.md: one prepared INSERT of the same rows in one transaction.
//!
//! cargo run --release -p bankd-bench --bin sync
//! (PostgreSQL too when BANKD_BENCH_DATABASE_URL or BANKD_TEST_DATABASE_URL is set.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use bankd::catalog::Catalog;
use bankd::crypto::MasterKey;
use bankd::sources::Credentials;
use bankd::store::accounts::AccountEdit;
use bankd::store::{BeginWrite, Db, Store};
use bankd::sync::{SyncRequest, Syncer};
use bankd_bench::{Backend, fresh_store, header, peak_rss_mb, row};

fn syncer(store: &Store) -> Syncer {
    let mut catalog = Catalog::load(None, true).expect("catalog");
    bankd::startup::offer_fints(&mut catalog, None);
    let catalog = Arc::new(catalog);
    Syncer {
        store: store.clone(),
        drivers: bankd::startup::drivers(
            &catalog,
            "http://127.0.0.1:3000",
            &bankd_bench::no_woob(),
            Default::default(),
            bankd_bench::unregistered_fints(store),
            bankd::sources::psd2::registration::NoRegistrations::shared(),
        )
        .expect("drivers"),
        catalog,
        key: Arc::new(MasterKey::from_bytes(&[7; 32]).expect("key")),
        webauth_callback: "http://127.0.0.1:3000/2.0/webauth/callback".into(),
    }
}

/// Times one sync of the connection.
async fn timed_sync(syncer: &Syncer, id_user: i64, id: i64) -> Duration {
    let connection = syncer.store.connection(id_user, id).await.expect("load").expect("connection");
    let started = Instant::now();
    let outcome = syncer.sync(&connection, &SyncRequest::default()).await.expect("sync");
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    started.elapsed()
}

/// The anchor: 100,000 rows of the same columns through one prepared INSERT in one transaction,
/// with rusqlite straight on the file (the fastest raw insert there is, as shared/targets.md asks)
/// on SQLite; one `COPY … FROM STDIN` in one transaction on PostgreSQL (its fastest).
async fn raw_insert(store: &Store, url: &str, id_account: i64, id_user: i64, id_connection: i64) -> Duration {
    const INSERT: &str = "INSERT INTO transactions (id_account, id_user, id_connection, webid, date, rdate, vdate,
            application_date, value, type, original_wording, simplified_wording, coming, active, date_scraped,
            last_update, card, counterparty) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)";
    let today = chrono::Utc::now().date_naive();
    let at = bankd::store::now();
    // Dated like the sandbox's history, a year back from today in order.
    let row =
        move |i: i64| (format!("anchor-{i}"), today - chrono::Duration::days(i * 365 / 100_000), -(i % 10_000) * 100);
    let started = Instant::now();
    match &store.db {
        Db::Sqlite(_) => {
            let path = url.trim_start_matches("sqlite://").to_owned();
            tokio::task::spawn_blocking(move || {
                let mut connection = rusqlite::Connection::open(path).expect("open");
                connection.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
                connection.pragma_update(None, "synchronous", "NORMAL").expect("synchronous");
                let tx = connection.transaction().expect("begin");
                {
                    let mut insert = tx.prepare(INSERT).expect("prepare");
                    let at = at.to_rfc3339();
                    for i in 0..100_000i64 {
                        let (webid, date, value) = row(i);
                        let date = date.format("%Y-%m-%d").to_string();
                        insert
                            .execute(rusqlite::params![
                                id_account,
                                id_user,
                                id_connection,
                                webid,
                                date,
                                date,
                                date,
                                date,
                                value,
                                "card",
                                "CB MONOPRIX PARIS",
                                "MONOPRIX PARIS",
                                false,
                                true,
                                at,
                                at,
                                None::<String>,
                                None::<String>
                            ])
                            .expect("insert");
                    }
                }
                tx.commit().expect("commit");
            })
            .await
            .expect("anchor");
        }
        Db::Pg(pool) => {
            // COPY of the same rows as CSV, in one transaction: PostgreSQL's fastest way in.
            let mut csv = String::with_capacity(100_000 * 160);
            let at = at.to_rfc3339();
            for i in 0..100_000i64 {
                let (webid, date, value) = row(i);
                let line = format!(
                    "{id_account},{id_user},{id_connection},{webid},{date},{date},{date},{date},{value},card,\
                     CB MONOPRIX PARIS,MONOPRIX PARIS,f,t,{at},{at},,\n"
                );
                csv.push_str(&line);
            }
            let mut tx = pool.begin_write().await.expect("begin");
            let copy = "COPY transactions (id_account, id_user, id_connection, webid, date, rdate, vdate,
                application_date, value, type, original_wording, simplified_wording, coming, active, date_scraped,
                last_update, card, counterparty) FROM STDIN (FORMAT csv)";
            let mut sink = tx.copy_in_raw(copy).await.expect("COPY");
            sink.send(csv.into_bytes()).await.expect("COPY data");
            sink.finish().await.expect("COPY end");
            tx.commit().await.expect("commit");
        }
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    if std::env::var_os("BANKD_BENCH_NO_HEADER").is_none() {
        header();
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().expect("temp dir");
        let Some((store, url)) = fresh_store(backend, &dir).await else {
            row(&format!("{backend:?}: sync of `big`"), "skipped (set BANKD_BENCH_DATABASE_URL)", "", "", "");
            continue;
        };
        let syncer = syncer(&store);
        let user = store.create_user(None, "web").await.expect("user");
        let connector = syncer.catalog.connector(1).expect("sandbox connector").clone();
        let credentials =
            Credentials([("login".to_owned(), "big".to_owned()), ("password".to_owned(), "1234".to_owned())].into());
        let id = store.create_connection(user.id, &connector, &credentials, &syncer.key).await.expect("connection");
        timed_sync(&syncer, user.id, id).await; // discovers the account, disabled
        let account = store.accounts_of_connection(id).await.expect("accounts").remove(0);
        store
            .edit_account(&account, &AccountEdit { disabled: Some(false), ..AccountEdit::default() })
            .await
            .expect("enable");

        let first = timed_sync(&syncer, user.id, id).await;
        let peak = peak_rss_mb();
        let again = timed_sync(&syncer, user.id, id).await;

        // The anchor writes into an account of its own, on the same tables and indexes.
        let anchor_id =
            store.create_connection(user.id, &connector, &credentials, &syncer.key).await.expect("connection");
        timed_sync(&syncer, user.id, anchor_id).await;
        let anchor_account = store.accounts_of_connection(anchor_id).await.expect("accounts").remove(0);
        let anchor = raw_insert(&store, &url, anchor_account.id, user.id, anchor_id).await;

        let anchor_name = match backend {
            Backend::Sqlite => "rusqlite, 1 prepared INSERT, 1 transaction",
            Backend::Postgres => "COPY of the same rows, 1 transaction",
        };
        row(
            &format!("{backend:?}: first sync of `big` (100,000 rows)"),
            &format!("{:.2} s, peak RSS {peak:.0} MB", first.as_secs_f64()),
            &format!("{:.2} s ({anchor_name})", anchor.as_secs_f64()),
            &format!("{:.2}x", first.as_secs_f64() / anchor.as_secs_f64()),
            match backend {
                Backend::Sqlite => "<= 1.5x; <= 150 MB",
                Backend::Postgres => "<= 2x; <= 150 MB",
            },
        );
        row(
            &format!("{backend:?}: unchanged re-sync of `big`"),
            &format!("{:.3} s", again.as_secs_f64()),
            "",
            "",
            "<= 0.2 s",
        );
    }
}

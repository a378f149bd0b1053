//! First sync of the sandbox `big` login (100,000 transactions) and an unchanged re-sync, beside
//! the anchor of shared/targets.md: one prepared INSERT of the same rows in one transaction.
//!
//! cargo run --release -p bankd-bench --bin sync
//! (PostgreSQL too when BANKD_BENCH_DATABASE_URL or BANKD_TEST_DATABASE_URL is set.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use bankd::catalog::Catalog;
use bankd::crypto::MasterKey;
use bankd::sources::{Credentials, Drivers};
use bankd::store::accounts::AccountEdit;
use bankd::store::{BeginWrite, Store, on_db};
use bankd::sync::{SyncRequest, Syncer};
use bankd_bench::{Backend, fresh_store};

fn syncer(store: &Store) -> Syncer {
    Syncer {
        store: store.clone(),
        catalog: Arc::new(Catalog::load(None, true).expect("catalog")),
        drivers: Drivers::new("http://127.0.0.1:3000"),
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

/// The anchor: 100,000 rows of the same columns through one prepared INSERT in one transaction.
async fn raw_insert(store: &Store, id_account: i64, id_user: i64, id_connection: i64) -> Duration {
    let today = chrono::Utc::now().date_naive();
    let at = bankd::store::now();
    let started = Instant::now();
    on_db!(&store.db, pool => {
        let mut tx = pool.begin_write().await.expect("begin");
        for i in 0..100_000i64 {
            let date = today - chrono::Duration::days(i % 365);
            sqlx::query(
                "INSERT INTO transactions (id_account, id_user, id_connection, webid, date, rdate, vdate, application_date,
                        value, type, original_wording, simplified_wording, coming, active, date_scraped, last_update, card,
                        counterparty) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
            )
            .bind(id_account).bind(id_user).bind(id_connection).bind(format!("anchor-{i}"))
            .bind(date).bind(date).bind(Some(date)).bind(date).bind(-(i % 10_000) * 100).bind("card")
            .bind("CB MONOPRIX PARIS").bind("MONOPRIX PARIS").bind(false).bind(true).bind(at).bind(at)
            .bind(None::<String>).bind(None::<String>)
            .execute(&mut *tx).await.expect("insert");
        }
        tx.commit().await.expect("commit");
    });
    started.elapsed()
}

#[tokio::main]
async fn main() {
    println!("sync of the sandbox `big` login (100,000 transactions) vs one prepared INSERT in one transaction");
    println!("targets (shared/targets.md): first sync <= 2x the anchor (SQLite); unchanged re-sync <= 1 s");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().expect("temp dir");
        let Some((store, _)) = fresh_store(backend, &dir).await else {
            println!("{backend:?}: skipped (set BANKD_BENCH_DATABASE_URL)");
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
            .edit_account(account.id, &AccountEdit { disabled: Some(false), ..AccountEdit::default() })
            .await
            .expect("enable");

        let first = timed_sync(&syncer, user.id, id).await;
        let again = timed_sync(&syncer, user.id, id).await;

        // The anchor writes into an account of its own, on the same tables and indexes.
        let anchor_id =
            store.create_connection(user.id, &connector, &credentials, &syncer.key).await.expect("connection");
        timed_sync(&syncer, user.id, anchor_id).await;
        let anchor_account = store.accounts_of_connection(anchor_id).await.expect("accounts").remove(0);
        let anchor = raw_insert(&store, anchor_account.id, user.id, anchor_id).await;

        println!(
            "{backend:?}: anchor {:.2} s | first sync {:.2} s ({:.2}x the anchor) | unchanged re-sync {:.3} s",
            anchor.as_secs_f64(),
            first.as_secs_f64(),
            first.as_secs_f64() / anchor.as_secs_f64(),
            again.as_secs_f64()
        );
    }
}

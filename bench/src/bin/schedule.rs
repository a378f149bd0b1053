//! Many connections due at once: one scheduler tick enqueues 10,000 background syncs, then two
//! `bankd worker` processes drain them (sandbox syncs) for up to a minute.
//!
//! cargo build --release -p bankd -p bankd-bench && cargo run --release -p bankd-bench --bin schedule
//! (PostgreSQL only, the scale-out backend: BANKD_BENCH_DATABASE_URL or BANKD_TEST_DATABASE_URL.)

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bankd::catalog::Catalog;
use bankd::config::EngineSettings;
use bankd::crypto::MasterKey;
use bankd::sources::Credentials;
use bankd::store::{Db, Store};
use bankd::sync::Syncer;
use bankd::sync::engine::Engine;
use bankd_bench::{Backend, fresh_store, header, release_binary, row};

const CONNECTIONS: usize = 10_000;
const KEY: [u8; 32] = [9; 32];
const DRAIN_FOR: Duration = Duration::from_secs(60);

async fn create_connections(store: &Store, catalog: &Catalog, key: &Arc<MasterKey>) {
    let user = store.create_user(None, "web").await.expect("user");
    let connector = catalog.connector(1).expect("sandbox connector").clone();
    let tasks = (0..8).map(|t| {
        let (store, connector, key) = (store.clone(), connector.clone(), Arc::clone(key));
        tokio::spawn(async move {
            for i in (t..CONNECTIONS).step_by(8) {
                let credentials = Credentials(
                    [("login".to_owned(), format!("user{i}")), ("password".to_owned(), "1234".to_owned())].into(),
                );
                store.create_connection(user.id, &connector, &credentials, &key).await.expect("connection");
            }
        })
    });
    futures::future::join_all(tasks).await;
    let due = bankd::store::now() - chrono::Duration::minutes(1);
    bankd::store::on_db!(&store.db, pool => {
        sqlx::query("UPDATE connections SET next_try = $1").bind(due).execute(pool).await.expect("make them due");
    });
}

/// The `application_name` of the workers' database connections.
const WORKER_APP: &str = "bankd-bench-worker";

fn worker(url: &str, data: &tempfile::TempDir) -> Child {
    use base64::Engine as _;
    Command::new(release_binary("bankd"))
        .arg("worker")
        .env("BANKD_DATABASE_URL", url)
        .env("BANKD_DATA_DIR", data.path())
        .env("BANKD_MASTER_KEY", base64::engine::general_purpose::STANDARD.encode(KEY))
        .env("PGAPPNAME", WORKER_APP) // sqlx names its connections after it
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bankd worker (cargo build --release -p bankd first)")
}

#[tokio::main]
async fn main() {
    if std::env::var_os("BANKD_BENCH_NO_HEADER").is_none() {
        header();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((store, url)) = fresh_store(Backend::Postgres, &dir).await else {
        row("Postgres: scheduler and workers", "skipped (set BANKD_BENCH_DATABASE_URL)", "", "", "");
        return;
    };
    let mut catalog = Catalog::load(None, true).expect("catalog");
    bankd::startup::offer_fints(&mut catalog, None);
    let catalog = Arc::new(catalog);
    let key = Arc::new(MasterKey::from_bytes(&KEY).expect("key"));
    create_connections(&store, &catalog, &key).await;
    let syncer = Syncer {
        store: store.clone(),
        drivers: bankd::startup::drivers(
            &catalog,
            "http://127.0.0.1:3000",
            &bankd_bench::no_woob(),
            Default::default(),
            bankd_bench::unregistered_fints(&store),
            bankd::sources::psd2::registration::NoRegistrations::shared(),
        )
        .expect("drivers"),
        catalog,
        key,
        webauth_callback: "http://127.0.0.1:3000/2.0/webauth/callback".into(),
    };
    let engine = Engine::new(syncer, EngineSettings::default());

    let started = Instant::now();
    let queued = bankd::sync::scheduler::tick(&engine).await.expect("tick");
    let tick = started.elapsed();
    assert_eq!(queued, CONNECTIONS, "every due connection queued");
    row(
        &format!("Postgres: scheduler tick, {CONNECTIONS} connections due"),
        &format!("{:.2} s to queue {queued}", tick.as_secs_f64()),
        "",
        "",
        "< 1 s",
    );

    let data = tempfile::tempdir().expect("temp dir");
    let mut workers = [worker(&url, &data), worker(&url, &data)];
    let started = Instant::now();
    let mut left = CONNECTIONS as i64;
    while started.elapsed() < DRAIN_FOR && left > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let counts = store.job_counts().await.expect("counts");
        left = counts.queued + counts.running;
    }
    let elapsed = started.elapsed();
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    // A killed worker's queries run on in PostgreSQL: its job claims, each over a user with thousands
    // of queued jobs, kept the 2 cores busy for minutes after, under the benches that followed.
    if let Db::Pg(pool) = &store.db {
        let end = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1";
        sqlx::query(end).bind(WORKER_APP).execute(pool).await.expect("end the workers' queries");
    }
    let done = CONNECTIONS as i64 - left;
    row(
        "Postgres: sandbox syncs drained by 2 `bankd worker` processes",
        &format!(
            "{:.0} syncs/min ({done} in {:.0} s)",
            done as f64 * 60.0 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        ),
        "",
        "",
        ">= 1,000 syncs/min",
    );
}

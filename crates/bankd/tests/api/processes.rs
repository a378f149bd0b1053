//! Whole `bankd` processes: scale-out on one PostgreSQL database, and a crash in the middle of a
//! sync. These spawn the real binary, as an operator would run it.

use std::time::Duration;

use bankd::store::{Store, on_db};
use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, test_database_url};
use crate::spawned::{bankd, count, eventually, free_port, json, serve, start, user_token};
use crate::webhooks::{Receiver, assert_signed};

#[tokio::test]
async fn two_processes_on_one_postgres_sync_50_connections_once_each() {
    let Some(database_url) = test_database_url().await else {
        eprintln!("skipped: scale-out needs PostgreSQL (set BANKD_TEST_DATABASE_URL)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _api = serve(dir.path(), &database_url, port, "serve.log").await;
    let _worker = start(dir.path(), &database_url, &["worker"], "worker.log");
    let base = format!("http://127.0.0.1:{port}");
    let token = user_token(dir.path(), &database_url, &base).await;
    let http = reqwest::Client::new();
    for _ in 0..50 {
        let body = json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": "1234"});
        let created =
            http.post(format!("{base}/2.0/users/me/connections")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(created.status(), 201);
    }
    eventually(120, "50 synced connections", async || {
        let list = json(http.get(format!("{base}/2.0/users/me/connections")).bearer_auth(&token)).await;
        let connections = list["connections"].as_array().unwrap();
        connections.len() == 50 && connections.iter().all(|c| c["last_update"].is_string() && c["state"].is_null())
    })
    .await;
    let store = Store::connect(&database_url).await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM connection_logs").await, 50, "one sync each, none twice");
    assert_eq!(count(&store, "SELECT COUNT(DISTINCT id_connection) FROM connection_logs").await, 50);
    let workers = count(&store, "SELECT COUNT(DISTINCT locked_by) FROM jobs WHERE kind = 'sync'").await;
    eprintln!("50 syncs ran on {workers} workers of the two processes");
}

#[tokio::test]
async fn a_sync_killed_midway_finishes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match test_database_url().await {
        Some(url) => url,
        None => format!("sqlite://{}", dir.path().join("bankd.db").display()),
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(dir.path(), &database_url, port, "first.log").await;
    let token = user_token(dir.path(), &database_url, &base).await;
    let http = reqwest::Client::new();
    let get = async |path: &str| json(http.get(format!("{base}{path}")).bearer_auth(&token)).await;

    let body = json!({"connector_uuid": SANDBOX_UUID, "login": "big", "password": "1234"});
    let connection = json(http.post(format!("{base}/2.0/users/me/connections")).bearer_auth(&token).json(&body)).await;
    let path = format!("/2.0/users/me/connections/{}", connection["id"]);
    eventually(60, "the first sync", async || get(&path).await["last_update"].is_string()).await;
    let accounts = get("/2.0/users/me/accounts?all").await;
    let account = accounts["accounts"][0]["id"].clone();
    // Consent to the account: its 100,000 transactions are fetched in the background.
    let enable = http
        .post(format!("{base}/2.0/users/me/accounts/{account}"))
        .bearer_auth(&token)
        .json(&json!({"disabled": false}));
    assert_eq!(enable.send().await.unwrap().status(), 200);
    eventually(30, "the sync to start", async || get(&path).await["state"] == "validating").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.child.kill().unwrap(); // SIGKILL: no chance to clean up
    server.child.wait().unwrap();

    let store = Store::connect(&database_url).await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM transactions").await, 0, "killed before the account was written");

    let _restarted = serve(dir.path(), &database_url, port, "second.log").await;
    eventually(120, "the sync to finish after the restart", async || {
        let connection = get(&path).await;
        connection["state"].is_null() && get("/2.0/users/me/transactions?limit=1").await["total"] == 100_000
    })
    .await;
    assert_eq!(count(&store, "SELECT COUNT(*) FROM transactions").await, 100_000);
    assert_eq!(count(&store, "SELECT COUNT(DISTINCT webid) FROM transactions").await, 100_000, "no duplicate");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM accounts").await, 1);
    let account = get(&format!("/2.0/users/me/accounts/{account}")).await;
    assert!(account["balance"].is_number() && account["last_update"].is_string(), "{account}");
}

#[tokio::test]
async fn a_webhook_pending_when_the_process_is_killed_is_delivered_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match test_database_url().await {
        Some(url) => url,
        None => format!("sqlite://{}", dir.path().join("bankd.db").display()),
    };
    let receiver = Receiver::start().await;
    receiver.up.store(false, std::sync::atomic::Ordering::SeqCst);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(dir.path(), &database_url, port, "first.log").await;
    let cli = |args: &[&str]| {
        let output = bankd(dir.path(), &database_url).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let client: Value = serde_json::from_str(&cli(&["client", "create", "--name", "ops"])).unwrap();
    let url = receiver.url("USER_CREATED");
    let client_id = client["client_id"].as_str().unwrap();
    let added = cli(&["webhook", "add", "--client", client_id, "--event", "USER_CREATED", "--url", &url]);
    let webhook: Value = serde_json::from_str(&added).unwrap();
    let secret = webhook["secret_key"].as_str().unwrap().to_owned();

    // The user is created while the receiver is down; the process dies before it comes back.
    let init = json(reqwest::Client::new().post(format!("{base}/2.0/auth/init")).json(&client)).await;
    eventually(10, "a refused attempt", async || receiver.refused.load(std::sync::atomic::Ordering::SeqCst) > 0).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    receiver.up.store(true, std::sync::atomic::Ordering::SeqCst);

    // Killed during an attempt, the process leaves the delivery under its lease (the webhook
    // timeout + 30 s): the restarted one takes it once that has run out.
    let store = Store::connect(&database_url).await.unwrap();
    let leased: Option<chrono::DateTime<chrono::Utc>> = on_db!(&store.db, pool =>
        sqlx::query_scalar("SELECT MAX(locked_until) FROM webhook_deliveries").fetch_one(pool).await.unwrap());
    let lease_left = leased.map_or(Duration::ZERO, |until| (until - chrono::Utc::now()).to_std().unwrap_or_default());
    let _restarted = serve(dir.path(), &database_url, port, "second.log").await;
    let hit = &receiver.wait_for_within("USER_CREATED", 1, lease_left + Duration::from_secs(20)).await[0];
    assert_eq!(hit.json["id"], init["id_user"]);
    assert_signed(hit, &secret);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.of("USER_CREATED").len(), 1, "delivered once");
    let log = cli(&["webhook", "deliveries", &webhook["id"].to_string()]);
    let fields: Vec<&str> = log.trim().split('\t').collect();
    assert_eq!((fields[1], fields[3], fields[4]), ("delivered", "200", "USER_CREATED"), "{log}");
    assert_eq!(log.trim().lines().count(), 1, "{log}");
    assert!(cli(&["webhook", "list"]).contains(&url));
}

#[tokio::test]
async fn a_token_revoked_through_one_process_is_refused_by_another_within_its_cache_time() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match test_database_url().await {
        Some(url) => url,
        None => format!("sqlite://{}", dir.path().join("bankd.db").display()),
    };
    let (one, other) = (free_port(), free_port());
    let _one = serve(dir.path(), &database_url, one, "one.log").await;
    let _other = serve(dir.path(), &database_url, other, "other.log").await;
    let token = user_token(dir.path(), &database_url, &format!("http://127.0.0.1:{one}")).await;
    let http = reqwest::Client::new();
    let me = |port: u16| http.get(format!("http://127.0.0.1:{port}/2.0/users/me")).bearer_auth(&token).send();
    assert_eq!(me(other).await.unwrap().status(), 200, "the other process now holds the token");

    let revoked = http.delete(format!("http://127.0.0.1:{one}/2.0/auth/token")).bearer_auth(&token).send().await;
    assert_eq!(revoked.unwrap().status(), 204);
    assert_eq!(me(one).await.unwrap().status(), 401, "refused at once where it was revoked");
    // The processes believe a token for BANKD_TOKEN_CACHE_SECONDS (1 s here, spawned.rs).
    eventually(3, "the other process to refuse it", async || me(other).await.unwrap().status() == 401).await;
}

//! Whole `bankd` processes: scale-out on one PostgreSQL database, and a crash in the middle of a
//! sync. These spawn the real binary, as an operator would run it.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use bankd::store::{Store, on_db};
use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, test_database_url};
use crate::webhooks::{Receiver, assert_signed};

/// A running `bankd` process, killed when dropped.
struct Bankd {
    child: Child,
}

impl Drop for Bankd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment every process of one test shares: data dir, database, key, short leases.
fn bankd(data_dir: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bankd"));
    command
        .env("BANKD_DATA_DIR", data_dir)
        .env("BANKD_DATABASE_URL", database_url)
        .env("BANKD_MASTER_KEY", "YmFua2QtdGVzdC1rZXktMzItYnl0ZXMtZXhhY3RseSE=")
        .env("BANKD_JOB_LEASE_SECONDS", "2")
        .env("BANKD_SYNC_WAIT_SECONDS", "0")
        .env("BANKD_WEBHOOK_RETRY_SECONDS", "1")
        .env("RUST_LOG", "info");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(data_dir: &Path, database_url: &str, args: &[&str], log: &str) -> Bankd {
    let log = std::fs::File::create(data_dir.join(log)).unwrap();
    let child = bankd(data_dir, database_url).args(args).stderr(log).spawn().unwrap();
    Bankd { child }
}

async fn serve(data_dir: &Path, database_url: &str, port: u16, log: &str) -> Bankd {
    let process = start(data_dir, database_url, &["serve", "--listen", &format!("127.0.0.1:{port}")], log);
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("http://127.0.0.1:{port}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("bankd did not start: {}", std::fs::read_to_string(data_dir.join(log)).unwrap_or_default());
}

/// A client (through the CLI) and one of its users' tokens.
async fn user_token(data_dir: &Path, database_url: &str, base: &str) -> String {
    let output = bankd(data_dir, database_url).args(["client", "create", "--name", "ops"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let client: Value = serde_json::from_slice(&output.stdout).unwrap();
    let init = json(reqwest::Client::new().post(format!("{base}/2.0/auth/init")).json(&client)).await;
    init["auth_token"].as_str().unwrap().to_owned()
}

/// Sends the request and reads its JSON answer.
async fn json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Polls `check` every 50 ms for up to `seconds`.
async fn eventually<F: AsyncFn() -> bool>(seconds: u64, what: &str, check: F) {
    for _ in 0..seconds * 20 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    let (n,): (i64,) = on_db!(&store.db, pool => sqlx::query_as(sql).fetch_one(pool).await.unwrap());
    n
}

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

    let _restarted = serve(dir.path(), &database_url, port, "second.log").await;
    let hit = &receiver.wait_for("USER_CREATED", 1).await[0];
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

//! `bankd backup` (issue 21, item 7): a copy taken through the real binary while a server runs a
//! 100,000-transaction sync is a consistent database that another bankd serves, and finishes.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, test_database_url};

const MASTER_KEY: &str = "YmFua2QtdGVzdC1rZXktMzItYnl0ZXMtZXhhY3RseSE=";

/// A `bankd` process, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bankd(data_dir: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bankd"));
    command
        .env("BANKD_DATA_DIR", data_dir)
        .env("BANKD_DATABASE_URL", database_url)
        .env("BANKD_MASTER_KEY", MASTER_KEY)
        .env("BANKD_JOB_LEASE_SECONDS", "2")
        .env("BANKD_SYNC_WAIT_SECONDS", "0");
    command
}

/// `bankd serve` on a free port, once it answers `/health`; its base URL.
async fn serve(data_dir: &Path, database_url: &str) -> (Running, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(data_dir.join(format!("serve-{port}.log"))).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let child = bankd(data_dir, database_url).args(["serve", "--listen", &listen]).stderr(log).spawn().unwrap();
    let (process, base) = (Running(child), format!("http://{listen}"));
    eventually(20, "bankd to serve", async || reqwest::get(format!("{base}/health")).await.is_ok()).await;
    (process, base)
}

async fn eventually<F: AsyncFn() -> bool>(seconds: u64, what: &str, check: F) {
    for _ in 0..seconds * 20 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `bankd backup FILE` through the binary: its exit status and stderr.
fn backup(data_dir: &Path, database_url: &str, file: &Path) -> (bool, String) {
    let output = bankd(data_dir, database_url).arg("backup").arg(file).output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A user of a new client (through the CLI and `/auth/init`): its token.
async fn user_token(data_dir: &Path, database_url: &str, base: &str) -> String {
    let output = bankd(data_dir, database_url).args(["client", "create", "--name", "ops"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let client: Value = serde_json::from_slice(&output.stdout).unwrap();
    let init = reqwest::Client::new().post(format!("{base}/2.0/auth/init")).json(&client).send().await.unwrap();
    init.json::<Value>().await.unwrap()["auth_token"].as_str().unwrap().to_owned()
}

/// The API as one user sees it.
struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap();
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let request = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body);
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "POST {path}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn transactions(&self) -> i64 {
        self.get("/2.0/users/me/transactions?limit=1").await["total"].as_i64().unwrap()
    }
}

#[tokio::test]
async fn a_backup_taken_mid_sync_is_served_consistent_and_the_sync_finishes_there() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(postgres) = test_database_url().await {
        let (done, said) = backup(dir.path(), &postgres, &dir.path().join("copy.db"));
        assert!(!done && said.contains("pg_dump"), "PostgreSQL is sent to pg_dump: {said}");
        return;
    }
    let live = format!("sqlite://{}", dir.path().join("bankd.db").display());
    let (_server, base) = serve(dir.path(), &live).await;
    let api = Api { token: user_token(dir.path(), &live, &base).await, base, http: reqwest::Client::new() };
    let body = json!({"connector_uuid": SANDBOX_UUID, "login": "big", "password": "1234"});
    let connection = api.post("/2.0/users/me/connections", body).await;
    let path = format!("/2.0/users/me/connections/{}", connection["id"]);
    eventually(60, "the first sync", async || api.get(&path).await["last_update"].is_string()).await;
    let account = api.get("/2.0/users/me/accounts?all").await["accounts"][0]["id"].clone();
    // Consenting to the account starts the sync of its 100,000 transactions.
    api.post(&format!("/2.0/users/me/accounts/{account}"), json!({"disabled": false})).await;
    eventually(30, "the sync to start", async || api.get(&path).await["state"] == "validating").await;

    let copy = dir.path().join("mid-sync.db");
    let (done, said) = backup(dir.path(), &live, &copy);
    assert!(done, "{said}");
    assert!(api.get(&path).await["state"] == "validating", "the copy was taken while the sync ran");
    let (again, said) = backup(dir.path(), &live, &copy);
    assert!(!again && said.contains("exists already"), "never over a file: {said}");
    assert_owner_only(&copy);

    let restored_dir = tempfile::tempdir().unwrap();
    let restored_url = format!("sqlite://{}", copy.display());
    let (_restored, restored_base) = serve(restored_dir.path(), &restored_url).await;
    let restored = Api { base: restored_base, token: api.token.clone(), http: reqwest::Client::new() };
    let total = restored.transactions().await;
    assert!(total == 0 || total == 100_000, "all of the sync's write or none of it: {total}");
    eprintln!("the copy taken mid-sync holds {total} of the 100,000 transactions");
    assert_eq!(restored.get("/2.0/users/me/accounts?all").await["accounts"].as_array().unwrap().len(), 1);
    // The interrupted sync's job is in the copy: the restored server runs it to the end.
    eventually(180, "the restored server to finish the sync", async || {
        restored.get(&path).await["state"].is_null() && restored.transactions().await == 100_000
    })
    .await;
    let account = restored.get(&format!("/2.0/users/me/accounts/{account}")).await;
    assert!(account["balance"].is_number() && account["last_update"].is_string(), "{account}");
}

#[cfg(unix)]
fn assert_owner_only(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy holds sealed secrets: {mode:o}");
}

#[cfg(not(unix))]
fn assert_owner_only(_: &Path) {}

#[test]
fn a_backup_needs_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("nowhere.db").display());
    let (done, said) = backup(dir.path(), &missing, &dir.path().join("copy.db"));
    assert!(!done && said.contains("no database at"), "{said}");
    assert!(!dir.path().join("nowhere.db").exists(), "no empty database was created");
}

//! The real `bankd` binary as an operator runs it: processes sharing one data dir and database,
//! with short job leases so a killed one's work is taken over within seconds.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use bankd::store::{Store, on_db};
use serde_json::Value;

/// A running `bankd` process, killed when dropped.
pub struct Bankd {
    pub child: Child,
}

impl Drop for Bankd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment every process of one test shares: data dir, database, key, short leases.
pub fn bankd(data_dir: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bankd"));
    command
        .env("BANKD_DATA_DIR", data_dir)
        .env("BANKD_DATABASE_URL", database_url)
        .env("BANKD_MASTER_KEY", "YmFua2QtdGVzdC1rZXktMzItYnl0ZXMtZXhhY3RseSE=")
        .env("BANKD_JOB_LEASE_SECONDS", "2")
        .env("BANKD_SYNC_WAIT_SECONDS", "0")
        .env("BANKD_WEBHOOK_RETRY_SECONDS", "1")
        .env("BANKD_TOKEN_CACHE_SECONDS", "1")
        .env("RUST_LOG", "info");
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn start(data_dir: &Path, database_url: &str, args: &[&str], log: &str) -> Bankd {
    let log = std::fs::File::create(data_dir.join(log)).unwrap();
    let child = bankd(data_dir, database_url).args(args).stderr(log).spawn().unwrap();
    Bankd { child }
}

pub async fn serve(data_dir: &Path, database_url: &str, port: u16, log: &str) -> Bankd {
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
pub async fn user_token(data_dir: &Path, database_url: &str, base: &str) -> String {
    let output = bankd(data_dir, database_url).args(["client", "create", "--name", "ops"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let client: Value = serde_json::from_slice(&output.stdout).unwrap();
    let init = json(reqwest::Client::new().post(format!("{base}/2.0/auth/init")).json(&client)).await;
    init["auth_token"].as_str().unwrap().to_owned()
}

/// Sends the request and reads its JSON answer.
pub async fn json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Polls `check` every 50 ms for up to `seconds`.
pub async fn eventually<F: AsyncFn() -> bool>(seconds: u64, what: &str, check: F) {
    for _ in 0..seconds * 20 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

pub async fn count(store: &Store, sql: &'static str) -> i64 {
    let (n,): (i64,) = on_db!(&store.db, pool => sqlx::query_as(sql).fetch_one(pool).await.unwrap());
    n
}

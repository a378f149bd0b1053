//! The API under load, beside a bare axum handler answering the same bytes (`bare`), with oha:
//! transaction listings at growing history (10,000 → 1,000,000 rows over 20 accounts), and the
//! handler cost of `/users/me/accounts` and a 100-row page.
//!
//! cargo build --release -p bankd -p bankd-bench && cargo run --release -p bankd-bench --bin api
//! Needs `oha` on PATH (bench/run-all installs it). PostgreSQL too when BANKD_BENCH_DATABASE_URL or
//! BANKD_TEST_DATABASE_URL is set. BANKD_BENCH_SIZES overrides the history sizes (comma-separated).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bankd::catalog::Catalog;
use bankd::crypto::MasterKey;
use bankd::sources::Credentials;
use bankd::store::users::TokenKind;
use bankd::store::{Db, Store, now, on_db};
use bankd_bench::{Backend, fresh_store, header, insert_history, release_binary, row};
use serde_json::Value;

const ACCOUNTS: i64 = 20;
const KEY: [u8; 32] = [7; 32];

/// A user with `rows` transactions over 20 accounts (4 connections of 5), one per account every
/// few minutes back from today, and a permanent token.
async fn seed(store: &Store, rows: i64) -> (String, Vec<i64>) {
    let catalog = Catalog::load(None, true).expect("catalog");
    let connector = catalog.connector(1).expect("sandbox connector");
    let key = MasterKey::from_bytes(&KEY).expect("key");
    let user = store.create_user(None, "web").await.expect("user");
    let credentials = Credentials([("login".to_owned(), "demo".to_owned())].into());
    let mut accounts = Vec::new();
    for c in 0..ACCOUNTS / 5 {
        let id_connection = store.create_connection(user.id, connector, &credentials, &key).await.expect("connection");
        for a in 0..5 {
            let sql =
                "INSERT INTO accounts (id_connection, id_user, id_source, webid, original_name, balance, currency,
                        type, usage, display, bookmarked, created, last_update)
                       SELECT $1, $2, id, $3, $4, 123450000, 'EUR', 'checking', 'PRIV', TRUE, FALSE, $5, $5
                       FROM connection_sources WHERE id_connection = $1 ORDER BY priority LIMIT 1 RETURNING id";
            let webid = format!("bench-{c}-{a}");
            let (id,): (i64,) = on_db!(&store.db, pool => sqlx::query_as(sql)
                .bind(id_connection).bind(user.id).bind(&webid).bind(format!("Account {webid}")).bind(now())
                .fetch_one(pool).await.expect("account"));
            accounts.push((id, id_connection));
        }
    }
    for (i, (id_account, id_connection)) in accounts.iter().enumerate() {
        insert_history(store, *id_account, user.id, *id_connection, rows / ACCOUNTS, i as i64).await;
        store.recount_days(*id_account).await.expect("recount");
    }
    if let Db::Pg(pool) = &store.db {
        sqlx::query("ANALYZE").execute(pool).await.expect("analyze"); // fresh statistics, as autovacuum would
    }
    let token = store.issue_token(user.id, TokenKind::Permanent, false, None).await.expect("token");
    (token.secret, accounts.into_iter().map(|(id, _)| id).collect())
}

/// `bankd serve --no-worker` on that database, until dropped.
struct Server {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(database_url: &str) -> Server {
        let data = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = Command::new(release_binary("bankd"))
            .args(["serve", "--no-worker"])
            .env("BANKD_DATABASE_URL", database_url)
            .env("BANKD_DATA_DIR", data.path())
            .env("BANKD_LISTEN", format!("127.0.0.1:{port}"))
            .env("BANKD_MASTER_KEY", base64_key())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bankd (cargo build --release -p bankd first)");
        wait_until_up(&format!("{base}/health"));
        Server { child, base, _data: data }
    }
}

impl Server {
    /// A line of the server's `/proc/PID/status` (`VmRSS`: now; `VmHWM`: its peak), in MB.
    fn memory(&self, line: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix(line)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok());
        kb.unwrap_or(0.0) / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `bare` anchor answering `body` to every request, until dropped.
struct Bare(Child, String);

impl Bare {
    fn start(body: &[u8]) -> Bare {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), body).expect("write body");
        let port = free_port();
        let child = Command::new(release_binary("bare"))
            .args([&format!("127.0.0.1:{port}"), file.path().to_str().expect("utf-8 path")])
            .spawn()
            .expect("start bare");
        let url = format!("http://127.0.0.1:{port}/");
        wait_until_up(&url);
        let _ = file.keep();
        Bare(child, url)
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(KEY)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn wait_until_up(url: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if std::net::TcpStream::connect(url.trim_start_matches("http://").split('/').next().unwrap_or("")).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{url} did not come up");
}

/// One oha run: (requests per second, p99 in ms).
fn oha(url: &str, token: Option<&str>, connections: u32, requests: u32) -> (f64, f64) {
    let mut command = Command::new("oha");
    command.args(["--no-tui", "--output-format", "json", "-c", &connections.to_string(), "-n", &requests.to_string()]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command.arg(url).output().expect("run oha (cargo install oha)");
    let report: Value = serde_json::from_slice(&output.stdout).expect("oha's JSON report");
    let ok = report["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
    assert_eq!(ok, u64::from(requests), "{url}: not every answer was 200: {}", report["statusCodeDistribution"]);
    let rps = report["summary"]["requestsPerSec"].as_f64().expect("requestsPerSec");
    let p99 = report["latencyPercentiles"]["p99"].as_f64().expect("p99") * 1000.0;
    (rps, p99)
}

async fn get_json(url: &str, token: &str) -> (Value, Vec<u8>) {
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.expect("GET");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    let bytes = response.bytes().await.expect("body").to_vec();
    (serde_json::from_slice(&bytes).expect("JSON"), bytes)
}

/// The listings of the issue, at this history size: (what, URL).
async fn listings(server: &Server, token: &str, accounts: &[i64], rows: i64) -> Vec<(String, String)> {
    let list = format!("{}/2.0/users/me/transactions?limit=100", server.base);
    let middle = rows / 2;
    let (page, _) = get_json(&format!("{list}&offset={middle}"), token).await;
    let cursor = page["_links"]["next"]["href"].as_str().expect("a next page").to_owned();
    let month = &page["transactions"][0]["date"].as_str().expect("a date")[..7];
    vec![
        ("first page".into(), list.clone()),
        ("deep page by cursor".into(), cursor),
        ("a month (min_date/max_date)".into(), format!("{list}&min_date={month}&max_date={month}")),
        (
            "one account's page".into(),
            format!("{}/2.0/users/me/accounts/{}/transactions?limit=100", server.base, accounts[7]),
        ),
        (format!("offset={middle}"), format!("{list}&offset={middle}")),
    ]
}

#[tokio::main]
async fn main() {
    let sizes: Vec<i64> = std::env::var("BANKD_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("a size"))
        .collect();
    if std::env::var_os("BANKD_BENCH_NO_HEADER").is_none() {
        header();
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for &rows in &sizes {
            let dir = tempfile::tempdir().expect("temp dir");
            let Some((store, url)) = fresh_store(backend, &dir).await else {
                row(&format!("{backend:?}: API"), "skipped (set BANKD_BENCH_DATABASE_URL)", "", "", "");
                break;
            };
            let seeding = Instant::now();
            let (token, accounts) = seed(&store, rows).await;
            let seeded = seeding.elapsed().as_secs_f64();
            eprintln!("{backend:?}: {rows} transactions over {ACCOUNTS} accounts seeded in {seeded:.1} s");
            storage(&store, &url, backend, rows).await;
            let server = Server::start(&url);
            let idle = server.memory("VmRSS");
            for (what, url) in listings(&server, &token, &accounts, rows).await {
                let (_, p99_1) = oha(&url, Some(&token), 1, 300);
                let (rps, p99_64) = oha(&url, Some(&token), 64, 2000);
                row(
                    &format!("{backend:?}, {rows} rows: {what}"),
                    &format!("p99 {p99_1:.1} ms (c=1); p99 {p99_64:.1} ms, {rps:.0} req/s (c=64)"),
                    "",
                    "",
                    "p99 < 10 ms (c=1), < 25 ms (c=64); flat 10k → 1M",
                );
            }
            if rows == sizes[0] {
                handlers_beside_bare(backend, &server, &token).await;
            }
            row(
                &format!("{backend:?}, {rows} rows: RSS of `bankd serve`"),
                &format!("{idle:.0} MB idle, {:.0} MB peak under the c=64 runs above", server.memory("VmHWM")),
                "",
                "",
                "<= 30 MB idle, <= 100 MB under load",
            );
        }
    }
}

/// `perf record` of the server while it serves one handler's load, into
/// `$BANKD_BENCH_PERF_DIR/NAME.perf` when that is set (read with `perf report -i FILE --no-children`).
struct Profile(Option<Child>);

impl Profile {
    fn start(server: &Server, name: &str) -> Profile {
        let Some(dir) = std::env::var_os("BANKD_BENCH_PERF_DIR") else { return Profile(None) };
        let output = std::path::Path::new(&dir).join(format!("{}.perf", name.split('?').next().unwrap_or(name)));
        let perf = Command::new("perf")
            .args(["record", "-F", "2000", "-p", &server.child.id().to_string(), "-o"])
            .arg(output)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("perf");
        std::thread::sleep(Duration::from_millis(300)); // perf attaches
        Profile(Some(perf))
    }
}

impl Drop for Profile {
    /// perf writes its file on SIGINT.
    fn drop(&mut self) {
        if let Some(perf) = &mut self.0 {
            let _ = Command::new("kill").args(["-INT", &perf.id().to_string()]).status();
            let _ = perf.wait();
        }
    }
}

/// Bytes on disk per stored transaction (the SQLite file, or the schema's tables with their
/// indexes and TOAST on PostgreSQL), beside the same rows written as CSV.
async fn storage(store: &Store, url: &str, backend: Backend, rows: i64) {
    let (disk, csv) = match &store.db {
        Db::Sqlite(pool) => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await.expect("checkpoint");
            let path = url.trim_start_matches("sqlite://").to_owned();
            let disk = std::fs::metadata(&path).expect("database file").len();
            (disk, tokio::task::spawn_blocking(move || sqlite_csv_bytes(&path)).await.expect("CSV"))
        }
        Db::Pg(pool) => {
            let disk: i64 = sqlx::query_scalar(
                "SELECT SUM(pg_total_relation_size(c.oid))::BIGINT FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            )
            .fetch_one(pool)
            .await
            .expect("relation sizes");
            let mut connection = pool.acquire().await.expect("connection");
            let mut out = connection.copy_out_raw("COPY transactions TO STDOUT (FORMAT csv)").await.expect("COPY");
            let mut csv = 0u64;
            while let Some(chunk) = futures::StreamExt::next(&mut out).await {
                csv += chunk.expect("COPY data").len() as u64;
            }
            (u64::try_from(disk).unwrap_or_default(), csv)
        }
    };
    let (per_row, csv_per_row) = (disk as f64 / rows as f64, csv as f64 / rows as f64);
    row(
        &format!("{backend:?}, {rows} rows: bytes on disk per transaction (indexes included)"),
        &format!("{per_row:.0} B ({:.0} MB in all)", disk as f64 / 1e6),
        &format!("the same rows as CSV: {csv_per_row:.0} B"),
        &format!("{:.2}x", per_row / csv_per_row),
        "<= 3x the CSV",
    );
}

/// The size of the `transactions` table written as CSV: every column, in order, `,`-separated,
/// NULL as nothing, as PostgreSQL's `COPY … (FORMAT csv)` writes it (no value here needs quoting).
fn sqlite_csv_bytes(path: &str) -> u64 {
    let connection = rusqlite::Connection::open(path).expect("open");
    let mut statement = connection.prepare("SELECT * FROM transactions").expect("prepare");
    let columns = statement.column_count();
    let mut rows = statement.query([]).expect("query");
    let mut bytes = 0u64;
    while let Some(row) = rows.next().expect("row") {
        for i in 0..columns {
            bytes += match row.get_ref(i).expect("value") {
                rusqlite::types::ValueRef::Null => 0,
                rusqlite::types::ValueRef::Integer(n) => n.to_string().len(),
                rusqlite::types::ValueRef::Real(x) => x.to_string().len(),
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t.len(),
            } as u64;
        }
        bytes += columns as u64; // the separators and the line's end
    }
    bytes
}

/// `/users/me/accounts` and a 100-row page, each beside bare axum answering its exact bytes.
async fn handlers_beside_bare(backend: Backend, server: &Server, token: &str) {
    let handlers = [
        ("GET /users/me/accounts (20 accounts)", "/2.0/users/me/accounts", ">= 0.50"),
        ("GET /users/me/transactions?limit=100", "/2.0/users/me/transactions?limit=100", ">= 0.30"),
    ];
    for (what, path, target) in handlers {
        let url = format!("{}{path}", server.base);
        let (_, body) = get_json(&url, token).await;
        let bare = Bare::start(&body);
        let (anchor, _) = oha(&bare.1, None, 64, 10_000);
        let profile = Profile::start(server, &format!("{backend:?}-{}", path.rsplit('/').next().unwrap_or(path)));
        let (rps, p99) = oha(&url, Some(token), 64, 10_000);
        drop(profile);
        row(
            &format!("{backend:?}: {what}, c=64"),
            &format!("{rps:.0} req/s, p99 {p99:.1} ms"),
            &format!("bare axum, same {} bytes: {anchor:.0} req/s", body.len()),
            &format!("{:.2}", rps / anchor),
            target,
        );
    }
}

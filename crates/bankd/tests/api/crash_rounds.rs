//! Crash rounds: the real `bankd` binary is SIGKILLed at random moments, 20 times, while first syncs
//! of `big`, re-syncs of `pending` and `closing`, large statement imports and webhook deliveries
//! are in flight; it is restarted each time, the queue drains, and then every account's
//! transactions and balances, and the webhooks received, are compared with the same scenario run
//! by a process that was never killed.
//!
//! The scenario is a list of steps per lane (one lane per sandbox login, one for the imports), run
//! side by side. A step is an idempotent request plus the fact that says it took effect, read in
//! the database: the client repeats the request while the fact is missing and nothing is in
//! flight, as a client that got no answer does. Steps are serialised per connection in both runs,
//! so both runs ask the bank for the same number of syncs (`closing` and `pending` answer by how
//! many there were).
//!
//! Sizes: `big` keeps its 100,000 rows (the sandbox has no smaller setting), in one connection
//! whose first sync most kills interrupt rather than one per round; the imports are 4 files of
//! 15,000 rows overlapping by half (37,500 distinct rows). The whole test takes 70 to 100 s on two
//! busy cores, on SQLite and PostgreSQL alike.
//!
//! `BANKD_CRASH_SEED` replays a run's kill moments (the seed is printed).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bankd::store::{Store, on_db};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{SANDBOX_UUID, TestApp, test_database_url};
use crate::spawned::{Bankd, bankd, free_port, serve};
use crate::statements::ofx;
use crate::webhooks::{Hit, Receiver, assert_signed};

const ROUNDS: usize = 20;
/// How long after a (re)start the process is killed: long enough for the restarted process to take
/// the killed one's jobs back (their 2-second lease must run out first) and get into them, short
/// enough that `big`'s first sync (about 4 s in a debug build) is killed again and again.
const KILL_AFTER_MS: std::ops::Range<u64> = 300..3_000;
/// The statement imports: overlapping files of one account, each one database transaction.
const IMPORT_FILES: usize = 4;
const IMPORT_ROWS: usize = 15_000;
const IMPORT_OVERLAP: usize = IMPORT_ROWS / 2;
/// What the receiver subscribes to: every event the scenario causes.
const EVENTS: [&str; 6] =
    ["USER_CREATED", "ACCOUNTS_FETCHED", "ACCOUNT_FOUND", "ACCOUNT_ENABLED", "ACCOUNT_SYNCED", "CONNECTION_SYNCED"];
/// The receiver answers this slowly (milliseconds), as a real one on a network does: a delivery is
/// then often mid-request when the process dies.
const RECEIVER_DELAY_MS: u64 = 100;
/// How long one step (or the drain) may take before the run is declared stuck.
const STEP_DEADLINE: Duration = Duration::from_secs(180);

/// A sandbox login's lane: enable each account one by one, then re-sync `resyncs` times.
struct Lane {
    login: &'static str,
    resyncs: usize,
}

const LANES: [Lane; 3] = [
    Lane { login: "big", resyncs: 1 },
    // The second read books 3 of the 4 pending operations and drops the fourth.
    Lane { login: "pending", resyncs: 2 },
    // The savings account vanishes on every even-numbered sync and comes back on the next.
    Lane { login: "closing", resyncs: 4 },
];

/// One bankd deployment: its data dir and database, the API's address, a user, the webhook
/// receiver, and which lane each connection belongs to.
struct Site {
    dir: TempDir,
    database_url: String,
    port: u16,
    base: String,
    http: reqwest::Client,
    store: Store,
    token: String,
    receiver: Receiver,
    secret: String,
    lanes: std::sync::Mutex<HashMap<i64, String>>,
    /// The import lane has a request out (for the kill report).
    importing: AtomicBool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_lose_nothing_duplicate_nothing_and_leave_no_job_stuck() {
    let started = Instant::now();
    let day = chrono::Utc::now().date_naive();
    let seed = std::env::var("BANKD_CRASH_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("BANKD_CRASH_SEED is a number"))
        .unwrap_or_else(rand::random);
    eprintln!("crash rounds: seed {seed} (BANKD_CRASH_SEED={seed} replays the kill moments)");

    let (reference, server) = Site::start("reference").await;
    run_scenario(&reference).await;
    drain(&reference).await;
    drop(server);
    let reference_holdings = holdings(&reference).await;
    let reference_events = received_events(&reference).await;
    eprintln!("crash rounds: reference run done in {:.1} s", started.elapsed().as_secs_f64());

    let (crashed, server) = Site::start("crashed").await;
    let killer = kill_rounds(&crashed, server, ChaCha8Rng::seed_from_u64(seed));
    let ((), (server, interrupted)) = tokio::join!(run_scenario(&crashed), killer);
    let rounds_ended = Instant::now();
    drain(&crashed).await;
    eprintln!("crash rounds: drained {:.1} s after the last restart", rounds_ended.elapsed().as_secs_f64());
    let crashed_holdings = holdings(&crashed).await;
    let crashed_events = received_events(&crashed).await;
    drop(server);

    if chrono::Utc::now().date_naive() != day {
        // The sandbox's data follows the date: runs on two days hold different rows by design.
        eprintln!("crash rounds: the runs straddled midnight UTC, nothing to compare; run again");
        return;
    }
    assert_eq!(interrupted.kills, ROUNDS);
    assert!(interrupted.big_syncs > 0 && interrupted.imports > 0, "the kills missed the work: {interrupted:?}");
    let rows = compare_holdings(&reference_holdings, &crashed_holdings);
    let (events, deliveries) = compare_events(&reference_events, &crashed_events);
    eprintln!(
        "crash rounds: {ROUNDS} kills, {} accounts and {rows} transactions identical to the reference, \
         the same {events} distinct events sent ({deliveries} deliveries received after the kills, \
         each event's identical, all signed, none lost), no job left; {:.1} s in all",
        reference_holdings.len(),
        started.elapsed().as_secs_f64()
    );
}

// ---- The scenario ----

/// Every lane side by side: returns when each step took effect.
async fn run_scenario(site: &Site) {
    let [big, pending, closing] = &LANES;
    tokio::join!(run_lane(site, big), run_lane(site, pending), run_lane(site, closing), import_lane(site));
}

/// Connects the login (before any kill: a lost answer to a POST would leave a second connection),
/// then enables its accounts one by one and re-syncs it, each step waiting for the one before.
async fn run_lane(site: &Site, lane: &Lane) {
    let id = site.lane_connection(lane.login).await;
    let mut syncs = 1;
    for (account, name) in site.accounts_of(id).await {
        syncs += 1;
        let path = format!("/2.0/users/me/accounts/{account}?all");
        let what = format!("{}: enabling {name}", lane.login);
        site.step(id, syncs, &what, async || {
            site.request(reqwest::Method::POST, &path, json!({"disabled": false})).await
        })
        .await;
    }
    for resync in 1..=lane.resyncs {
        syncs += 1;
        let path = format!("/2.0/users/me/connections/{id}");
        let what = format!("{}: re-sync {resync}", lane.login);
        site.step(id, syncs, &what, async || site.request(reqwest::Method::PUT, &path, Value::Null).await).await;
    }
}

/// Uploads the overlapping statement files in turn; a file whose answer was lost is sent again,
/// which must add nothing if it had been written.
async fn import_lane(site: &Site) {
    for file in 0..IMPORT_FILES {
        let body = statement(file);
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            assert!(Instant::now() < deadline, "import of file {file} never answered 201");
            site.importing.store(true, Ordering::SeqCst);
            let form = Form::new().part("file", Part::text(body.clone()).file_name(format!("statement-{file}.ofx")));
            let sent = site.http.post(site.url("/2.0/users/me/statements")).bearer_auth(&site.token).multipart(form);
            let answer = sent.send().await;
            site.importing.store(false, Ordering::SeqCst);
            let Ok(answer) = answer else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let status = answer.status();
            let Ok(answer) = answer.json::<Value>().await else { continue };
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            let connection = answer["connection"]["id"].as_i64().unwrap();
            site.lanes.lock().unwrap().insert(connection, "statements".into());
            break;
        }
    }
}

/// Statement file `file`: rows `file * overlap ..` of one OFX account, its closing balance dated
/// later than the file before's, so the newest file's balance is the account's in both runs.
fn statement(file: usize) -> String {
    let first = file * IMPORT_OVERLAP;
    let rows: Vec<(u32, String, String, String)> = (first..first + IMPORT_ROWS)
        .map(|i| {
            let day = 1 + (i % 28) as u32;
            (day, format!("-{}.{:02}", 1 + i % 97, i % 100), format!("CRASH{i}"), format!("CB SHOP {}", i % 13))
        })
        .collect();
    let rows: Vec<(u32, &str, &str, &str)> =
        rows.iter().map(|(day, amount, fitid, name)| (*day, amount.as_str(), fitid.as_str(), name.as_str())).collect();
    ofx(&rows, &format!("{}.{:02}", 1000 + file * 10, file), 20 + file as u32)
}

// ---- Kills ----

/// What the kills interrupted, counted by kind.
#[derive(Debug, Default)]
struct Interrupted {
    kills: usize,
    /// Kills while at least one of these was in flight.
    big_syncs: usize,
    other_syncs: usize,
    imports: usize,
    deliveries_waiting: usize,
    deliveries_answered: usize,
    nothing: usize,
}

/// Kills the process `ROUNDS` times at seeded random moments and restarts it each time; returns
/// the process left running and what the kills interrupted.
async fn kill_rounds(site: &Site, mut server: Bankd, mut rng: ChaCha8Rng) -> (Bankd, Interrupted) {
    let mut interrupted = Interrupted::default();
    for round in 1..=ROUNDS {
        let after = rng.gen_range(KILL_AFTER_MS);
        tokio::time::sleep(Duration::from_millis(after)).await;
        let in_flight = site.in_flight(server.child.id()).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        interrupted.count(&in_flight);
        eprintln!("crash rounds: kill {round} after {after} ms: {}", in_flight.join(", "));
        server = site.serve(&format!("serve-{round}.log")).await;
    }
    eprintln!("crash rounds: {interrupted:?}");
    (server, interrupted)
}

impl Interrupted {
    fn count(&mut self, in_flight: &[String]) {
        let any = |prefix: &str| usize::from(in_flight.iter().any(|what| what.starts_with(prefix)));
        self.kills += 1;
        self.big_syncs += any("sync of big");
        self.other_syncs += usize::from(in_flight.iter().any(|w| w.starts_with("sync of") && w != "sync of big"));
        self.imports += any("a statement import");
        self.deliveries_waiting += any("webhook deliveries waiting");
        self.deliveries_answered += any("webhook deliveries being answered");
        self.nothing += usize::from(in_flight.is_empty());
    }
}

// ---- A site ----

impl Site {
    /// A new deployment with a subscribed receiver, a user and the lanes' connections.
    async fn start(label: &str) -> (Site, Bankd) {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match test_database_url().await {
            Some(url) => url,
            None => format!("sqlite://{}", dir.path().join("bankd.db").display()),
        };
        let port = free_port();
        let mut site = Site {
            base: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
            store: Store::connect(&database_url).await.unwrap(),
            token: String::new(),
            receiver: Receiver::start().await,
            secret: String::new(),
            lanes: std::sync::Mutex::default(),
            importing: AtomicBool::new(false),
            database_url,
            dir,
        };
        site.receiver.delay_ms.store(RECEIVER_DELAY_MS, Ordering::SeqCst);
        let server = site.serve(&format!("{label}.log")).await;
        let client: Value = serde_json::from_str(&site.cli(&["client", "create", "--name", "crash"])).unwrap();
        site.subscribe(client["client_id"].as_str().unwrap());
        let init = site.http.post(site.url("/2.0/auth/init")).json(&client).send().await.unwrap();
        site.token = init.json::<Value>().await.unwrap()["auth_token"].as_str().unwrap().to_owned();
        for lane in &LANES {
            site.connect(lane.login).await;
        }
        (site, server)
    }

    async fn serve(&self, log: &str) -> Bankd {
        serve(self.dir.path(), &self.database_url, self.port, log).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs a `bankd` command on the site's database; its standard output.
    fn cli(&self, args: &[&str]) -> String {
        let output = bankd(self.dir.path(), &self.database_url).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// Subscribes the receiver to every event of [`EVENTS`], all signed with one secret.
    fn subscribe(&mut self, client_id: &str) {
        let mut auth: Option<String> = None;
        for event in EVENTS {
            let url = self.receiver.url(event);
            let mut args = vec!["webhook", "add", "--client", client_id, "--event", event, "--url", &url];
            if let Some(auth) = &auth {
                args.extend(["--auth", auth.as_str()]);
            }
            let added: Value = serde_json::from_str(&self.cli(&args)).unwrap();
            if auth.is_none() {
                auth = Some(added["id_auth"].to_string());
                self.secret = added["secret_key"].as_str().unwrap().to_owned();
            }
        }
    }

    /// Creates the login's connection and waits for its first sync (the accounts, disabled).
    async fn connect(&self, login: &str) {
        let body = json!({"connector_uuid": SANDBOX_UUID, "login": login, "password": "1234"});
        let created = self.http.post(self.url("/2.0/users/me/connections")).bearer_auth(&self.token).json(&body);
        let created = created.send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let id = created.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        self.lanes.lock().unwrap().insert(id, login.to_owned());
        self.step(id, 1, &format!("{login}: first sync"), async || {}).await;
    }

    fn lane_of(&self, id_connection: i64) -> String {
        self.lanes.lock().unwrap().get(&id_connection).cloned().unwrap_or_else(|| format!("connection {id_connection}"))
    }

    async fn lane_connection(&self, login: &str) -> i64 {
        let lanes = self.lanes.lock().unwrap();
        *lanes.iter().find(|(_, lane)| *lane == login).expect("the lane's connection").0
    }

    /// The connection's accounts as its first sync found them, in a fixed order.
    async fn accounts_of(&self, id_connection: i64) -> Vec<(i64, String)> {
        let rows: Vec<(i64, String)> = on_db!(&self.store.db, pool =>
            sqlx::query_as("SELECT id, original_name FROM accounts WHERE id_connection = $1 ORDER BY original_name")
                .bind(id_connection)
                .fetch_all(pool)
                .await
                .unwrap()
        );
        assert!(!rows.is_empty(), "connection {id_connection} found no account");
        rows
    }

    /// Sends a request the step may repeat; `None` when no answer came back (the process died).
    async fn request(&self, method: reqwest::Method, path: &str, body: Value) -> Option<StatusCode> {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(&self.token);
        if !body.is_null() {
            request = request.json(&body);
        }
        let answer = request.send().await.ok()?;
        let status = answer.status();
        answer.bytes().await.ok()?;
        Some(status)
    }

    /// One step of a lane: repeats `ask` while the connection has fewer than `syncs` finished syncs
    /// and no job is queued or running for it, until it has them and nothing is left in flight.
    async fn step<F: AsyncFn() -> R, R: std::fmt::Debug>(&self, id_connection: i64, syncs: i64, what: &str, ask: F) {
        let deadline = Instant::now() + STEP_DEADLINE;
        let mut last = None;
        loop {
            // The job first: its sync writes the log before the job is marked finished.
            let busy = self.job_pending(id_connection).await;
            let done = self.syncs_logged(id_connection).await;
            match (busy, done >= syncs) {
                (false, true) => return,
                (false, false) => last = Some(format!("{:?}", ask().await)),
                (true, _) => {}
            }
            assert!(Instant::now() < deadline, "{what}: {done} of {syncs} syncs after {STEP_DEADLINE:?} ({last:?})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn job_pending(&self, id_connection: i64) -> bool {
        let sql = "SELECT COUNT(*) FROM jobs WHERE id_connection = $1 AND finished IS NULL";
        self.count_of(sql, id_connection).await > 0
    }

    async fn syncs_logged(&self, id_connection: i64) -> i64 {
        self.count_of("SELECT COUNT(*) FROM connection_logs WHERE id_connection = $1", id_connection).await
    }

    async fn count_of(&self, sql: &'static str, id: i64) -> i64 {
        let (n,): (i64,) = on_db!(&self.store.db, pool => sqlx::query_as(sql).bind(id).fetch_one(pool).await.unwrap());
        n
    }

    async fn count(&self, sql: &'static str) -> i64 {
        let (n,): (i64,) = on_db!(&self.store.db, pool => sqlx::query_as(sql).fetch_one(pool).await.unwrap());
        n
    }

    /// What is in flight now in the process `pid`: its syncs running, the deliveries the receiver
    /// is answering, an import being sent.
    async fn in_flight(&self, pid: u32) -> Vec<String> {
        let running: Vec<(i64,)> = on_db!(&self.store.db, pool =>
            // Worker names carry their process's id; a killed process's leases linger a while.
            sqlx::query_as("SELECT id_connection FROM jobs WHERE finished IS NULL AND locked_by LIKE $1")
                .bind(format!("%-{pid}-%"))
                .fetch_all(pool)
                .await
                .unwrap()
        );
        let mut what: Vec<String> = running.iter().map(|(id,)| format!("sync of {}", self.lane_of(*id))).collect();
        let waiting = self.count("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'").await;
        if waiting > 0 {
            what.push(format!("webhook deliveries waiting: {waiting}"));
        }
        let answering = self.receiver.answering.load(Ordering::SeqCst);
        if answering > 0 {
            what.push(format!("webhook deliveries being answered: {answering}"));
        }
        if self.importing.load(Ordering::SeqCst) {
            what.push("a statement import".into());
        }
        what
    }
}

/// Waits until no job is queued or running and no delivery is waiting, then checks that no job
/// failed and no connection was left mid-sync.
async fn drain(site: &Site) {
    let deadline = Instant::now() + STEP_DEADLINE;
    loop {
        let jobs = site.count("SELECT COUNT(*) FROM jobs WHERE finished IS NULL").await;
        let deliveries = site.count("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'").await;
        if jobs == 0 && deliveries == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "stuck: {jobs} jobs and {deliveries} deliveries left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(site.count("SELECT COUNT(*) FROM jobs WHERE result <> 'ok'").await, 0, "a job did not end ok");
    let validating = site.count("SELECT COUNT(*) FROM connections WHERE state IS NOT NULL").await;
    assert_eq!(validating, 0, "a connection was left in a state");
    let failed = site.count("SELECT COUNT(*) FROM webhook_deliveries WHERE state <> 'delivered'").await;
    assert_eq!(failed, 0, "a delivery was given up");
}

// ---- What the runs hold ----

/// An account by what a run does not choose: its lane, name and number.
type AccountKey = (String, String, Option<String>);
/// A transaction by what the bank or the file said of it: date, amount, wording, pending, and
/// whether bankd has seen it vanish.
type Row = (String, String, String, bool, bool);

#[derive(Debug, PartialEq)]
struct Holding {
    balance: Option<String>,
    coming: Option<String>,
    deleted: bool,
    disabled: bool,
    /// Each row with how many times it is held.
    rows: BTreeMap<Row, usize>,
}

async fn holdings(site: &Site) -> BTreeMap<AccountKey, Holding> {
    type AccountRow = (i64, i64, String, Option<String>, Option<String>, Option<String>, bool, bool);
    let accounts: Vec<AccountRow> = on_db!(&site.store.db, pool =>
        sqlx::query_as(
            "SELECT id, id_connection, original_name, number, CAST(balance AS TEXT), CAST(coming AS TEXT),
                    deleted IS NOT NULL, disabled IS NOT NULL
             FROM accounts",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    );
    let rows: Vec<(i64, String, String, String, bool, bool)> = on_db!(&site.store.db, pool =>
        sqlx::query_as(
            "SELECT id_account, CAST(date AS TEXT), CAST(value AS TEXT), original_wording, coming, deleted IS NOT NULL
             FROM transactions",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    );
    let mut by_account: HashMap<i64, BTreeMap<Row, usize>> = HashMap::new();
    for (account, date, value, wording, coming, deleted) in rows {
        *by_account.entry(account).or_default().entry((date, value, wording, coming, deleted)).or_default() += 1;
    }
    let mut holdings = BTreeMap::new();
    for (id, id_connection, name, number, balance, coming, deleted, disabled) in accounts {
        let rows = by_account.remove(&id).unwrap_or_default();
        let key = (site.lane_of(id_connection), name, number);
        let holding = Holding { balance, coming, deleted, disabled, rows };
        assert!(holdings.insert(key.clone(), holding).is_none(), "two accounts {key:?}");
    }
    holdings
}

/// Asserts both runs hold the same accounts with the same rows and balances; the rows compared.
fn compare_holdings(reference: &BTreeMap<AccountKey, Holding>, crashed: &BTreeMap<AccountKey, Holding>) -> usize {
    let keys = |h: &BTreeMap<AccountKey, Holding>| h.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(crashed), keys(reference), "the same accounts");
    let mut compared = 0;
    for (key, expected) in reference {
        let got = &crashed[key];
        let (lost, extra) = difference(&expected.rows, &got.rows);
        assert!(lost.is_empty() && extra.is_empty(), "{key:?}: lost {lost:?}, duplicated or extra {extra:?}");
        let facts = |h: &Holding| (h.balance.clone(), h.coming.clone(), h.deleted, h.disabled);
        assert_eq!(facts(got), facts(expected), "{key:?}: balance, coming, deleted, disabled");
        compared += expected.rows.values().sum::<usize>();
    }
    assert!(compared >= 100_000 + IMPORT_ROWS, "the scenario wrote its rows: {compared}");
    compared
}

/// The rows `expected` has more of than `got` (lost), and those `got` has more of (extra), at
/// most ten each.
fn difference(expected: &BTreeMap<Row, usize>, got: &BTreeMap<Row, usize>) -> (Vec<Row>, Vec<Row>) {
    let more = |a: &BTreeMap<Row, usize>, b: &BTreeMap<Row, usize>| -> Vec<Row> {
        a.iter()
            .filter(|(row, n)| b.get(*row).copied().unwrap_or(0) < **n)
            .map(|(row, _)| row.clone())
            .take(10)
            .collect()
    };
    (more(expected, got), more(got, expected))
}

// ---- Webhooks ----

/// What a run's receiver got: each event (by `webhook-id`) with every delivery of it.
struct Received {
    by_id: BTreeMap<String, Vec<Hit>>,
    /// `webhook-id` → the event's name and what it is about, in terms both runs share.
    keys: BTreeMap<String, String>,
    /// Events the database says were delivered.
    sent: Vec<String>,
}

async fn received_events(site: &Site) -> Received {
    let mut by_id: BTreeMap<String, Vec<Hit>> = BTreeMap::new();
    let mut keys = BTreeMap::new();
    for event in EVENTS {
        for hit in site.receiver.of(event) {
            assert_signed(&hit, &site.secret);
            let id = hit.headers["webhook-id"].to_str().unwrap().to_owned();
            keys.insert(id.clone(), event_key(site, event, &hit.json));
            by_id.entry(id).or_default().push(hit);
        }
    }
    let sent: Vec<(i64,)> = on_db!(&site.store.db, pool =>
        sqlx::query_as("SELECT id_event FROM webhook_deliveries ORDER BY id_event")
            .fetch_all(pool)
            .await
            .unwrap()
    );
    Received { by_id, keys, sent: sent.iter().map(|(id,)| format!("evt_{id}")).collect() }
}

/// An event's name and subject, with the run's own ids replaced by lanes and account names.
fn event_key(site: &Site, event: &str, body: &Value) -> String {
    let connection = |id: &Value| site.lane_of(id.as_i64().unwrap_or_default());
    match event {
        "USER_CREATED" => event.to_owned(),
        "ACCOUNTS_FETCHED" | "CONNECTION_SYNCED" => format!("{event} {}", connection(&body["connection"]["id"])),
        _ => format!("{event} {} {}", connection(&body["id_connection"]), body["original_name"]),
    }
}

/// How many events of each key a run received.
fn tally(received: &Received) -> BTreeMap<&str, usize> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    received.keys.values().for_each(|key| *counts.entry(key.as_str()).or_default() += 1);
    counts
}

/// Asserts no event of the crashed run was lost or changed between deliveries, and that both runs
/// sent the same events; returns how many distinct events, and the crashed run's deliveries.
fn compare_events(reference: &Received, crashed: &Received) -> (usize, usize) {
    for id in &crashed.sent {
        assert!(crashed.by_id.contains_key(id), "{id} was recorded as sent but never received");
    }
    let mut deliveries = 0;
    for (id, hits) in &crashed.by_id {
        deliveries += hits.len();
        assert!(hits.iter().all(|h| h.body == hits[0].body), "{id} was delivered with different bodies");
    }
    // How many times an event fires may differ: a sync cut short (by a kill, or by a lease that ran
    // out while the database was busy: this happens in the reference run too) runs again and emits
    // its events again. What must not differ is which events there are.
    let (expected, got) = (tally(reference), tally(crashed));
    let missing: Vec<&&str> = expected.keys().filter(|key| !got.contains_key(*key)).collect();
    assert!(missing.is_empty(), "events of the reference run never sent after the kills: {missing:?}");
    let unexpected: Vec<&&str> = got.keys().filter(|key| !expected.contains_key(*key)).collect();
    assert!(unexpected.is_empty(), "events the reference run never sent: {unexpected:?}");
    eprintln!(
        "crash rounds: {} distinct events; {} sent by the reference run, {} after the kills",
        expected.len(),
        reference.keys.len(),
        crashed.keys.len()
    );
    (expected.len(), deliveries)
}

// ---- The crash window the rounds are too coarse to hit ----

/// Enabling an account writes the consent, then queues its fetch: a process killed in between
/// leaves the account enabled with nothing queued. The client, which got no answer, enables it
/// again: that must fetch it, not answer "already enabled" and leave it empty until the next day.
#[tokio::test]
async fn an_enable_repeated_after_a_crash_between_consent_and_fetch_fetches_the_account() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let (_, accounts) =
        app.get(&format!("/2.0/users/me/connections/{}/accounts?all", connection["id"]), &user.token).await;
    let account = accounts["accounts"][0]["id"].as_i64().unwrap();
    // What the killed process left: the consent written, no job.
    on_db!(&app.store.db, pool =>
        sqlx::query("UPDATE accounts SET disabled = NULL WHERE id = $1").bind(account).execute(pool).await.unwrap().rows_affected()
    );
    let listing = format!("/2.0/users/me/accounts/{account}/transactions");
    assert!(app.all_transactions(&user, &listing).await.is_empty());

    let (status, enabled) =
        app.post(&format!("/2.0/users/me/accounts/{account}"), Some(&user.token), json!({"disabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert!(enabled["last_update"].is_string(), "fetched by the repeated enable: {enabled}");
    assert!(!app.all_transactions(&user, &listing).await.is_empty());

    // Once fetched, enabling it again asks the bank nothing more.
    let (_, logs) = app.get(&format!("/2.0/users/me/connections/{}/logs", connection["id"]), &user.token).await;
    let (status, _) =
        app.post(&format!("/2.0/users/me/accounts/{account}"), Some(&user.token), json!({"disabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = app.get(&format!("/2.0/users/me/connections/{}/logs", connection["id"]), &user.token).await;
    assert_eq!(again["total"], logs["total"], "{again}");
}

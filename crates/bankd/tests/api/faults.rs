//! Faults at the bank, end to end: a healthy connection is synced, a fault is armed on its bank
//! (`PUT /sandbox/faults/{bank}`, a real misbehaviour on the wire: a late answer, a 5xx, a 429, a
//! body cut short or garbled, a connection dropped mid-body, a redirect loop), and the next sync
//! must end in the right connection and source state, with a back-off (`next_try`), a log that
//! names the fault, and every stored account and transaction as they were. Cleared, the bank is
//! read again as before. One table per driver; its cases run side by side (three at a time), each
//! on its own bankd.
//! The woob driver's faults are its helper's: a Python process that dies, or hangs past
//! `BANKD_WOOB_TIMEOUT_SECONDS` (the test module's switch is a file in woob's work directory).

use std::sync::{Arc, OnceLock};

use chrono::NaiveDateTime;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::PrivateKeyDer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::helpers::{TestApp, TestUser};
use crate::psd2;

/// The client timeout of the `slow` cases, far below the bank's delay, yet long enough for the
/// healthy calls before the fault on a busy machine.
const CLIENT_TIMEOUT_SECONDS: u64 = 5;
/// The woob call timeout of the `hang` case: the module sleeps an hour.
const WOOB_TIMEOUT_SECONDS: u64 = 10;
const SLOW_SECONDS: u64 = 20;
/// What `429-seconds` and `429-date` ask to wait (the simulator's `RETRY_AFTER_SECONDS`).
const RETRY_AFTER: chrono::Duration = chrono::Duration::hours(2);

/// When bankd comes back after the fault.
#[derive(Debug, Clone, Copy)]
enum Backoff {
    /// The first retry of the schedule: 5 minutes, ±10 %.
    FirstRetry,
    /// No sooner than the bank's `Retry-After`.
    RetryAfter,
}

/// One fault and what the sync must make of it.
#[derive(Debug, Clone, Copy)]
struct Case {
    fault: &'static str,
    state: &'static str,
    /// Words the connection's log must carry: the fault, as bankd understood it.
    says: &'static [&'static str],
    backoff: Backoff,
}

const fn case(fault: &'static str, state: &'static str, says: &'static [&'static str], backoff: Backoff) -> Case {
    Case { fault, state, says, backoff }
}

use Backoff::{FirstRetry, RetryAfter};

/// What every PSD2 dialect makes of each fault (the `transactions` call of the sync fails).
const PSD2_CASES: &[Case] = &[
    case("slow", "websiteUnavailable", &["no answer within 5 s"], FirstRetry),
    case("500", "websiteUnavailable", &["answered 500"], FirstRetry),
    case("502", "websiteUnavailable", &["answered 502"], FirstRetry),
    case("503", "websiteUnavailable", &["answered 503"], FirstRetry),
    case("429-seconds", "rateLimiting", &["answered 429", "Retry-After: 7200 s"], RetryAfter),
    case("429-date", "rateLimiting", &["answered 429", "Retry-After: 7"], RetryAfter),
    case("truncated", "websiteUnavailable", &["broke off before its end"], FirstRetry),
    case("reset", "websiteUnavailable", &["broke off before its end"], FirstRetry),
    // The bank's answer is a defect, on its side or ours: `bug`, with what came back.
    case("garbled", "bug", &["answered 200", "began with: <<<"], FirstRetry),
    // A PSD2 client follows no redirect (its headers would go along): a redirect is a defect too.
    case("redirect-loop", "bug", &["answered 302", "a redirect to", "the answer was empty"], FirstRetry),
];

/// What the web driver makes of each fault (the history pages fail).
const WEB_CASES: &[Case] = &[
    case("slow", "websiteUnavailable", &["no answer within 5 s"], FirstRetry),
    case("500", "websiteUnavailable", &["unavailable (500"], FirstRetry),
    case("502", "websiteUnavailable", &["unavailable (502"], FirstRetry),
    case("503", "websiteUnavailable", &["unavailable (503"], FirstRetry),
    case("429-seconds", "rateLimiting", &["answered 429", "Retry-After: 7200 s"], RetryAfter),
    case("429-date", "rateLimiting", &["answered 429", "Retry-After: 7"], RetryAfter),
    case("truncated", "websiteUnavailable", &["broke off before its end"], FirstRetry),
    case("reset", "websiteUnavailable", &["broke off before its end"], FirstRetry),
    // A page that is not the history: the module names it and what it missed.
    case("garbled", "bug", &["/history", "table#operations"], FirstRetry),
    // A website may redirect, but not forever: the site is broken for now.
    case("redirect-loop", "websiteUnavailable", &["redirect loop"], FirstRetry),
];

/// What the FinTS driver makes of each fault (every message fails: a FinTS server has one address).
const FINTS_CASES: &[Case] = &[
    case("slow", "websiteUnavailable", &["no answer within 5 s"], FirstRetry),
    case("500", "websiteUnavailable", &["answered HTTP 500"], FirstRetry),
    case("502", "websiteUnavailable", &["answered HTTP 502"], FirstRetry),
    case("503", "websiteUnavailable", &["answered HTTP 503"], FirstRetry),
    case("429-seconds", "rateLimiting", &["answered 429", "Retry-After: 7200 s"], RetryAfter),
    case("429-date", "rateLimiting", &["answered 429", "Retry-After: 7"], RetryAfter),
    case("truncated", "websiteUnavailable", &["broke off before its end"], FirstRetry),
    case("reset", "websiteUnavailable", &["broke off before its end"], FirstRetry),
    case("garbled", "bug", &["FinTS answer cannot be read", "not base64"], FirstRetry),
    // A FinTS server answers every message itself: a redirect means a wrong address.
    case("redirect-loop", "bug", &["answered HTTP 302", "check its address"], FirstRetry),
];

/// What the woob driver makes of its helper's faults (while it lists the accounts).
const WOOB_CASES: &[Case] = &[
    // A helper that dies is a defect on bankd's side of the pipe, not the bank's: `bug`, retried.
    case("die", "bug", &["the helper died", "exit status: 3"], FirstRetry),
    // A helper stuck past the timeout is killed: the bank did not answer in time.
    case("hang", "websiteUnavailable", &["took over 10s"], FirstRetry),
];

/// A driver under test: how to get a healthy connection, and how its bank's fault is switched.
#[derive(Debug, Clone, Copy)]
enum Driver {
    Xs2a,
    Stet,
    Web,
    Woob,
    Fints,
}

impl Driver {
    /// The simulated bank's name under `/sandbox`.
    fn bank(self) -> &'static str {
        match self {
            Driver::Xs2a => "xs2a",
            Driver::Stet => "stet",
            Driver::Web => "web",
            Driver::Woob => "woob",
            Driver::Fints => "fints",
        }
    }

    /// Only the transaction reads fail: the sync gets the accounts, then breaks half-way. (The
    /// woob module's switch is not by path, and a FinTS server has one address for every
    /// message: both fail from the first call.)
    fn faulty_path(self) -> &'static str {
        match self {
            Driver::Xs2a | Driver::Stet => "/transactions",
            Driver::Web => "/history",
            Driver::Woob | Driver::Fints => "",
        }
    }

    /// The switch of the woob test module: a file in this bankd's woob work directory.
    fn woob_switch(app: &TestApp) -> std::path::PathBuf {
        app.data_dir().join("woob/config/bankdtest-fault-demo")
    }

    async fn arm(self, app: &TestApp, fault: &str) {
        match self {
            Driver::Woob => std::fs::write(Driver::woob_switch(app), fault).unwrap(),
            _ => {
                let body = json!({"fault": fault, "path": self.faulty_path(), "seconds": SLOW_SECONDS});
                let url = app.url(&format!("/sandbox/faults/{}", self.bank()));
                let response = app.http.put(url).json(&body).send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
            }
        }
    }

    async fn clear(self, app: &TestApp) {
        match self {
            Driver::Woob => std::fs::remove_file(Driver::woob_switch(app)).unwrap(),
            _ => {
                let url = app.url(&format!("/sandbox/faults/{}", self.bank()));
                let response = app.http.delete(url).send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
            }
        }
    }

    /// A healthy connection, with every account enabled (and so read once).
    async fn connect(self, app: &TestApp, user: &TestUser) -> Value {
        let connection = match self {
            Driver::Xs2a => {
                let waiting = psd2::connect(app, user, "demo").await;
                psd2::authorize_at_the_bank(app, user, &waiting).await
            }
            Driver::Stet => psd2::connect_stet(app, user, "demo").await,
            Driver::Web => crate::web::connected(app, user, "demo").await,
            Driver::Fints => crate::fints::connected(app, user, "demo").await,
            Driver::Woob => {
                let (status, connection) = crate::woob::connect(app, user, "demo", "1234").await;
                assert_eq!(status, reqwest::StatusCode::CREATED, "{connection}");
                connection
            }
        };
        assert!(connection["state"].is_null(), "{connection}");
        app.enable_accounts(user, &connection["id"]).await;
        connection
    }
}

/// Everything stored for the user that a sync may touch: accounts (with `?all`: disabled and
/// deleted ones too) and transactions.
async fn stored(app: &TestApp, user: &TestUser) -> (Value, Vec<Value>) {
    let accounts = psd2::get(app, user, "/2.0/users/me/accounts?all").await;
    let transactions = app.all_transactions(user, "/2.0/users/me/transactions?limit=1000").await;
    (accounts, transactions)
}

/// A server with the fault switches on, whose bank calls give up after `CLIENT_TIMEOUT_SECONDS`
/// when the case is about a slow bank (a healthy sync on a busy machine keeps the default); for
/// woob, a catalog of the test module and a short call timeout. `None` without woob's Python.
async fn app_for(driver: Driver, case: &Case) -> Option<(TestApp, Option<tempfile::TempDir>)> {
    let slow = case.fault == "slow";
    let woob = match driver {
        Driver::Woob => {
            let Ok(python) = std::env::var("BANKD_TEST_WOOB_PYTHON") else {
                eprintln!("skipped: set BANKD_TEST_WOOB_PYTHON to a Python with woob (see woob/requirements.txt)");
                return None;
            };
            let dir = tempfile::tempdir().unwrap();
            Some((python, crate::woob::catalog(&dir), dir))
        }
        _ => None,
    };
    let woob_settings = woob.as_ref().map(|(python, catalog, _)| (python.clone(), catalog.clone()));
    let app = TestApp::spawn_with(move |settings| {
        settings.sandbox_faults = true;
        if slow {
            settings.bank_http.bank_timeout_seconds = CLIENT_TIMEOUT_SECONDS;
        }
        if let Some((python, catalog)) = woob_settings {
            settings.woob_python = python;
            settings.catalog = Some(catalog);
            settings.woob.woob_timeout_seconds = WOOB_TIMEOUT_SECONDS;
        }
    })
    .await;
    Some((app, woob.map(|(_, _, dir)| dir)))
}

/// The API's naive Paris time, as UTC.
fn api_time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let naive = NaiveDateTime::parse_from_str(value.as_str().unwrap_or_default(), "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|e| panic!("not an API time ({e}): {value}"));
    naive.and_local_timezone(chrono_tz::Europe::Paris).single().unwrap().to_utc()
}

/// Fault cases running at once across this test binary: each has its own bankd with its own
/// database pool, and a PostgreSQL server shared with the rest of the suite allows 100 connections
/// (with five tables at four at once, a case once got a 500 at /auth/init on PostgreSQL, most
/// likely no connection left: three leaves more room).
static RUNNING: Semaphore = Semaphore::const_new(3);

/// Runs one case on its own server; returns the state the connection ended in.
async fn run(driver: Driver, case: Case) -> String {
    let _slot = RUNNING.acquire().await.expect("the semaphore is never closed");
    let Some((app, _catalog_dir)) = app_for(driver, &case).await else { return "skipped".into() };
    let user = app.create_user().await;
    let connection = driver.connect(&app, &user).await;
    let id = &connection["id"];
    let before = stored(&app, &user).await;
    assert!(!before.1.is_empty(), "{driver:?}: a history before the fault");

    driver.arm(&app, case.fault).await;
    let label = format!("{driver:?} × {}", case.fault);
    let message = assert_fault_handled(&app, &user, id, &case, &label, &before).await;
    driver.clear(&app).await;
    assert_recovers(&app, &user, id, &label, &before).await;
    format!("{} — {message}", case.state)
}

/// Syncs the connection `id` while its bank is at fault, and checks the connection's and its
/// source's state, the next try, the log's words, and what is stored; returns the log's message.
async fn assert_fault_handled(
    app: &TestApp,
    user: &TestUser,
    id: &Value,
    case: &Case,
    label: &str,
    before: &(Value, Vec<Value>),
) -> String {
    let asked = chrono::Utc::now();
    let broken = app.resync(user, id).await;
    assert_eq!(broken["state"], case.state, "{label}: {broken}");
    assert_backoff(label, case.backoff, asked, &broken["next_try"]);

    let sources = psd2::get(app, user, &format!("/2.0/users/me/connections/{id}/sources")).await;
    assert_eq!(sources["sources"][0]["state"], case.state, "{label}: the source's state: {sources}");
    let logs = psd2::get(app, user, &format!("/2.0/users/me/connections/{id}/logs")).await;
    let log = &logs["connectionlogs"][0];
    let message = log["error_message"].as_str().unwrap_or_default();
    assert_eq!(log["error"], case.state, "{label}: {log}");
    for words in case.says {
        assert!(message.contains(words), "{label}: the log should say {words:?}: {message}");
    }
    assert!(stored(app, user).await == *before, "{label}: stored accounts and transactions changed");
    message.to_owned()
}

/// The bank is back: the next sync is healthy and stores nothing twice.
async fn assert_recovers(app: &TestApp, user: &TestUser, id: &Value, label: &str, before: &(Value, Vec<Value>)) {
    let healed = app.resync(user, id).await;
    assert!(healed["state"].is_null(), "{label}: read again once the bank is back: {healed}");
    assert_eq!(stored(app, user).await.1.len(), before.1.len(), "{label}: nothing twice after the fault");
}

#[track_caller]
fn assert_backoff(label: &str, backoff: Backoff, asked: chrono::DateTime<chrono::Utc>, next_try: &Value) {
    // The API shows seconds: a minute of slack around the bounds.
    let wait = api_time(next_try) - asked;
    let slack = chrono::Duration::minutes(1);
    let (least, most) = match backoff {
        Backoff::FirstRetry => (chrono::Duration::seconds(270) - slack, chrono::Duration::seconds(330) + slack),
        Backoff::RetryAfter => (RETRY_AFTER - slack, RETRY_AFTER + chrono::Duration::minutes(20)),
    };
    assert!(least <= wait && wait <= most, "{label}: next try in {wait}, expected {backoff:?} ({least}..{most})");
}

/// Every case of the table against `driver`, at once; a failed case fails the test with its
/// message.
async fn run_table(driver: Driver, cases: &'static [Case]) {
    let runs = cases.iter().map(|case| tokio::spawn(run(driver, *case)));
    let ended = futures::future::join_all(runs).await;
    let mut failures = Vec::new();
    for (case, ended) in cases.iter().zip(ended) {
        match ended {
            Ok(state) => eprintln!("fault {:?} × {}: {state}", driver, case.fault),
            Err(e) => failures.push(format!("{} failed: {e}", case.fault)),
        }
    }
    assert!(failures.is_empty(), "{driver:?}: {failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xs2a_faults_end_in_their_states_and_change_nothing() {
    run_table(Driver::Xs2a, PSD2_CASES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stet_faults_end_in_their_states_and_change_nothing() {
    run_table(Driver::Stet, PSD2_CASES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_faults_end_in_their_states_and_change_nothing() {
    run_table(Driver::Web, WEB_CASES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fints_faults_end_in_their_states_and_change_nothing() {
    run_table(Driver::Fints, FINTS_CASES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woob_helper_faults_end_in_their_states_and_change_nothing() {
    run_table(Driver::Woob, WOOB_CASES).await;
}

#[tokio::test]
async fn fault_switches_exist_only_when_asked_for() {
    let app = TestApp::spawn().await;
    let body = json!({"fault": "503"});
    let response = app.http.put(app.url("/sandbox/faults/xs2a")).json(&body).send().await.unwrap();
    assert!(response.status().is_client_error(), "no switch on a server without them: {}", response.status());
    let connection = psd2::connect(&app, &app.create_user().await, "demo").await;
    assert_eq!(connection["state"], "webauthRequired", "the bank still works: {connection}");
}

/// A TLS front for bankd's XS2A sandbox, on a port of its own. Healthy, it terminates TLS with a
/// certificate the catalog trusts and forwards the bytes to bankd; broken, it drops the connections
/// it holds (a client would reuse them) and answers each new client's TLS hello in plain text, as a
/// bank whose TLS terminator is misconfigured: the handshake fails.
struct TlsFront {
    port: u16,
    broken: watch::Sender<bool>,
    /// bankd's port, known once bankd is up (after the catalog naming the front is written).
    target: Arc<OnceLock<u16>>,
    files: tempfile::TempDir,
}

impl TlsFront {
    async fn start() -> TlsFront {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(vec![]).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".into()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
        let files = tempfile::tempdir().unwrap();
        std::fs::write(files.path().join("ca.pem"), ca.pem()).unwrap();
        let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let config = ServerConfig::builder().with_no_client_auth().with_single_cert(vec![cert.der().clone()], key);
        let acceptor = TlsAcceptor::from(Arc::new(config.unwrap()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = TlsFront {
            port: listener.local_addr().unwrap().port(),
            broken: watch::Sender::new(false),
            target: Arc::default(),
            files,
        };
        let (broken, target) = (front.broken.subscribe(), front.target.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, acceptor.clone(), broken.clone(), target.clone()));
            }
        });
        front
    }

    /// A catalog of one XS2A connector (the PSD2 sandbox's uuid) reached through the front.
    fn catalog(&self) -> std::path::PathBuf {
        let path = self.files.path().join("catalog.toml");
        let text = format!(
            "[[connector]]\nid = 2\nuuid = \"{}\"\nname = \"Bank behind TLS\"\nauth_mechanism = \"webauth\"\n\
             [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\nrequired = true\n\
             [[connector.source]]\nid = 3\nname = \"openapi\"\npriority = 1\ndriver = \"xs2a\"\n\
             [connector.source.api]\nbase_url = \"https://localhost:{}/sandbox/xs2a\"\nca_certificate = {:?}\n",
            psd2::PSD2_UUID,
            self.port,
            self.files.path().join("ca.pem").display().to_string(),
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// One connection to the front: TLS to bankd, or plain-text bytes when broken.
async fn serve(
    mut stream: TcpStream,
    acceptor: TlsAcceptor,
    mut broken: watch::Receiver<bool>,
    target: Arc<OnceLock<u16>>,
) {
    if *broken.borrow() {
        let mut hello = [0; 512];
        let _ = stream.read(&mut hello).await;
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\nnot TLS").await;
        return;
    }
    let (Ok(mut tls), Some(port)) = (acceptor.accept(stream).await, target.get()) else { return };
    let Ok(mut bankd) = TcpStream::connect(("127.0.0.1", *port)).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut tls, &mut bankd) => {}
        _ = broken.wait_for(|broken| *broken) => {}
    }
}

#[tokio::test]
async fn a_tls_handshake_failure_is_a_bank_down_that_changes_nothing() {
    let front = TlsFront::start().await;
    let catalog = front.catalog();
    let app = TestApp::spawn_with(move |settings| settings.catalog = Some(catalog)).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    front.target.set(port).unwrap();
    let user = app.create_user().await;
    let connection = Driver::Xs2a.connect(&app, &user).await;
    let id = &connection["id"];
    let before = stored(&app, &user).await;
    assert!(!before.1.is_empty(), "a history before the fault");

    front.broken.send_replace(true);
    let case = case("tls", "websiteUnavailable", &["the TLS handshake failed"], FirstRetry);
    let message = assert_fault_handled(&app, &user, id, &case, "Xs2a × tls", &before).await;
    eprintln!("fault Xs2a × tls: {} — {message}", case.state);
    front.broken.send_replace(false);
    assert_recovers(&app, &user, id, "Xs2a × tls", &before).await;
}

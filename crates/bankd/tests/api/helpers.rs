//! `TestApp`: a real bankd on 127.0.0.1:0 with its own database, plus HTTP helpers.
//!
//! Backend: a fresh SQLite file in a temp dir, or — when `BANKD_TEST_DATABASE_URL` is set — a fresh
//! schema in that PostgreSQL database, so runs and tests never see each other's rows.

use std::sync::Once;

use bankd::config::{BankHttpSettings, EngineSettings, LimitSettings, Settings, WebhookSettings, WoobSettings};
use bankd::startup::App;
use bankd::store::Store;
use bankd::sync::engine::Engine;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

/// The Powens test connector's uuid, which the sandbox bank carries.
pub const SANDBOX_UUID: &str = "338178e6-3d01-564f-9a7b-52ca442459bf";

pub struct TestApp {
    pub base: String,
    /// Direct access to the database, to check what is stored.
    pub store: Store,
    /// The app's sync engine, to drive the scheduler by hand.
    pub engine: Engine,
    pub database_url: String,
    pub http: reqwest::Client,
    pub client_id: String,
    pub client_secret: String,
    _data_dir: TempDir,
}

/// A user with its permanent token.
pub struct TestUser {
    pub id: i64,
    pub token: String,
}

static BACKEND_NOTICE: Once = Once::new();

/// A new PostgreSQL schema for one test when `BANKD_TEST_DATABASE_URL` is set (its URL), else `None`.
pub async fn test_database_url() -> Option<String> {
    let url = std::env::var("BANKD_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty());
    BACKEND_NOTICE.call_once(|| match &url {
        Some(url) => eprintln!("bankd tests: running on PostgreSQL ({url})"),
        None => eprintln!("bankd tests: running on SQLite; set BANKD_TEST_DATABASE_URL to run them on PostgreSQL"),
    });
    let url = url?;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&url).await.expect("BANKD_TEST_DATABASE_URL unreachable");
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.expect("create test schema");
    pool.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options[search_path]={schema}"))
}

pub fn sqlite_url(data_dir: &TempDir) -> String {
    format!("sqlite://{}", data_dir.path().join("bankd.db").display())
}

/// The settings of a test server keeping its data in `data_dir`.
pub async fn test_settings(data_dir: &TempDir) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_path_buf(),
        database_url: Some(test_database_url().await.unwrap_or_else(|| sqlite_url(data_dir))),
        public_url: None,
        tls_cert: None,
        tls_key: None,
        sandbox: true,
        sandbox_faults: false,
        catalog: None,
        api_timezone: chrono_tz::Europe::Paris,
        max_upload_bytes: 100 << 20,
        woob_python: "python3".into(),
        woob: WoobSettings::default(),
        fints_product_id: None,
        bank_http: BankHttpSettings::default(),
        token_cache_seconds: 5.0,
        engine: EngineSettings::default(),
        // Retries a second apart: a test's receiver comes back within seconds.
        webhooks: WebhookSettings { webhook_retry_seconds: 1.0, ..WebhookSettings::default() },
        limits: LimitSettings::default(),
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Spawns with settings adjusted by `configure`.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(&data_dir).await;
        configure(&mut settings);
        let app = App::build(settings).await.expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let store = app.state().store.clone();
        let engine = app.state().engine.clone();
        let database_url = app.state().settings.database_url();
        let created = app
            .state()
            .store
            .create_client("tests", &["https://app.example/callback".to_owned()])
            .await
            .expect("create client");
        tokio::spawn(app.run_until_stopped(std::future::pending(), true));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestApp {
            base,
            store,
            engine,
            database_url,
            http,
            client_id: created.client.client_id,
            client_secret: created.client_secret,
            _data_dir: data_dir,
        }
    }

    /// The server's data dir (its master key file among others).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and JSON body
    /// (`Value::Null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> StatusCode {
        self.call(Method::DELETE, path, Some(token), None).await.0
    }

    pub fn client_credentials(&self) -> Value {
        serde_json::json!({"client_id": self.client_id, "client_secret": self.client_secret})
    }

    /// A new permanent user of the test client.
    pub async fn create_user(&self) -> TestUser {
        let (status, body) = self.post("/2.0/auth/init", None, self.client_credentials()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        TestUser { id: body["id_user"].as_i64().unwrap(), token: body["auth_token"].as_str().unwrap().to_owned() }
    }
}

impl TestApp {
    /// Connects the user to the sandbox bank with this login (password `1234`).
    pub async fn connect(&self, user: &TestUser, login: &str) -> (StatusCode, Value) {
        let body = serde_json::json!({"connector_uuid": SANDBOX_UUID, "login": login, "password": "1234"});
        self.post("/2.0/users/me/connections", Some(&user.token), body).await
    }

    /// Connects and asserts the connection was created; returns it.
    pub async fn connected(&self, user: &TestUser, login: &str) -> Value {
        let (status, connection) = self.connect(user, login).await;
        assert_eq!(status, StatusCode::CREATED, "{connection}");
        connection
    }

    /// Enables every account of the connection (GDPR consent), syncing each; returns their ids.
    pub async fn enable_accounts(&self, user: &TestUser, id_connection: &Value) -> Vec<i64> {
        let path = format!("/2.0/users/me/connections/{id_connection}/accounts?all");
        let (status, list) = self.get(&path, &user.token).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let mut ids = Vec::new();
        for account in list["accounts"].as_array().unwrap() {
            let id = account["id"].as_i64().unwrap();
            let body = serde_json::json!({"disabled": false});
            let (status, enabled) =
                self.post(&format!("/2.0/users/me/accounts/{id}?all"), Some(&user.token), body).await;
            assert_eq!(status, StatusCode::OK, "{enabled}");
            assert!(enabled["disabled"].is_null());
            ids.push(id);
        }
        ids
    }

    /// Every transaction of a listing, following `_links.next` to the end.
    pub async fn all_transactions(&self, user: &TestUser, path: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut next = Some(self.url(path));
        while let Some(url) = next {
            let response = self.http.get(&url).bearer_auth(&user.token).send().await.unwrap();
            let (status, page) = read(response).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            rows.extend(page["transactions"].as_array().unwrap().iter().cloned());
            next = page["_links"]["next"]["href"].as_str().map(str::to_owned);
        }
        rows
    }

    /// Answers what the connection asks (an OTP, a resume, …) and returns it.
    pub async fn answer(&self, user: &TestUser, connection: &Value, body: Value) -> Value {
        let path = format!("/2.0/users/me/connections/{}", connection["id"]);
        let (status, connection) = self.post(&path, Some(&user.token), body).await;
        assert_eq!(status, StatusCode::OK, "{connection}");
        connection
    }

    /// Forces a sync (`PUT`) and returns the connection.
    pub async fn resync(&self, user: &TestUser, id_connection: &Value) -> Value {
        let path = format!("/2.0/users/me/connections/{id_connection}");
        let (status, connection) = self.call(Method::PUT, &path, Some(&user.token), None).await;
        assert_eq!(status, StatusCode::OK, "{connection}");
        connection
    }
}

/// Status and JSON body of a response; panics if a non-empty body is not JSON (bankd never sends
/// anything else from the API).
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    if text.is_empty() {
        return (status, Value::Null);
    }
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("non-JSON body ({e}): {text}"));
    (status, body)
}

/// Asserts an error envelope with this status and code, and returns it.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    let (got_status, body) = got;
    assert_eq!(*got_status, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert!(body["request_id"].as_i64().is_some(), "{body}");
    assert!(body.as_object().unwrap().contains_key("message"), "{body}");
}

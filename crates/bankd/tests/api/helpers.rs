//! `TestApp`: a real bankd on 127.0.0.1:0 with its own database, plus HTTP helpers.
//!
//! Backend: a fresh SQLite file in a temp dir, or — when `BANKD_TEST_DATABASE_URL` is set — a fresh
//! schema in that PostgreSQL database, so runs and tests never see each other's rows.

use std::sync::Once;

use bankd::config::Settings;
use bankd::startup::App;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub client_id: String,
    pub client_secret: String,
    pub id_client: i64,
    _data_dir: TempDir,
}

/// A user with its permanent token.
pub struct TestUser {
    pub id: i64,
    pub token: String,
}

static BACKEND_NOTICE: Once = Once::new();

/// The database URL for one test: a new SQLite file, or a new PostgreSQL schema.
async fn test_database_url(data_dir: &TempDir) -> String {
    match std::env::var("BANKD_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            BACKEND_NOTICE.call_once(|| eprintln!("bankd tests: running on PostgreSQL ({url})"));
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&url)
                .await
                .expect("BANKD_TEST_DATABASE_URL unreachable");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .expect("create test schema");
            pool.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options[search_path]={schema}")
        }
        _ => {
            BACKEND_NOTICE.call_once(|| {
                eprintln!("bankd tests: running on SQLite; set BANKD_TEST_DATABASE_URL to run them on PostgreSQL")
            });
            format!("sqlite://{}", data_dir.path().join("bankd.db").display())
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.path().to_path_buf(),
            database_url: Some(test_database_url(&data_dir).await),
            public_url: None,
            sandbox: true,
            catalog: None,
            api_timezone: chrono_tz::Europe::Paris,
        };
        let app = App::build(settings).await.expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let created = app
            .state()
            .store
            .create_client("tests", &["https://app.example/callback".to_owned()])
            .await
            .expect("create client");
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            base,
            http,
            client_id: created.client.client_id,
            client_secret: created.client_secret,
            id_client: created.client.id,
            _data_dir: data_dir,
        }
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
        TestUser {
            id: body["id_user"].as_i64().unwrap(),
            token: body["auth_token"].as_str().unwrap().to_owned(),
        }
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

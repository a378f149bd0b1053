//! The woob bridge end to end: a catalog source with `driver = "woob"` runs a woob module (a small
//! offline one, kept in tests/woob_modules) through bankd's Python helper, over the Powens API.
//!
//! Needs a Python with woob (`pip install -r woob/requirements.txt`), named by
//! `BANKD_TEST_WOOB_PYTHON`; `.ci/run` makes one. Skipped, with a visible message, without it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

const WOOB_UUID: &str = "9c76a8d8-b55d-5125-ad27-c814b9f77210";

/// A catalog of one connector read by the test woob module.
pub(crate) fn catalog(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/woob_modules");
    let path = dir.path().join("catalog.toml");
    let text = format!(
        "[[connector]]\nid = 20\nuuid = \"{WOOB_UUID}\"\nname = \"Woob test bank\"\n\
         [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\n\
         [[connector.field]]\nname = \"password\"\nlabel = \"Password\"\ntype = \"password\"\n\
         [[connector.source]]\nid = 20\nname = \"directaccess\"\npriority = 1\ndriver = \"woob\"\n\
         module = \"bankdtest\"\nmodules_path = \"{modules}\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn woob_app() -> Option<(TestApp, tempfile::TempDir)> {
    let Ok(python) = std::env::var("BANKD_TEST_WOOB_PYTHON") else {
        eprintln!("skipped: set BANKD_TEST_WOOB_PYTHON to a Python with woob (see woob/requirements.txt)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(&dir);
    let app = TestApp::spawn_with(move |settings| {
        settings.catalog = Some(catalog);
        settings.woob_python = python;
    })
    .await;
    Some((app, dir))
}

pub(crate) async fn connect(app: &TestApp, user: &TestUser, login: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"connector_uuid": WOOB_UUID, "login": login, "password": password});
    app.post("/2.0/users/me/connections", Some(&user.token), body).await
}

#[tokio::test]
async fn a_woob_module_reads_accounts_and_transactions_through_the_api() {
    let Some((app, _dir)) = woob_app().await else { return };
    let user = app.create_user().await;
    let (status, connection) = connect(&app, &user, "demo", "1234").await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    assert!(connection["state"].is_null(), "{connection}");
    assert_eq!(app.enable_accounts(&user, &connection["id"]).await.len(), 2);
    let (_, accounts) = app.get("/2.0/users/me/accounts", &user.token).await;
    let kinds: Vec<&str> =
        accounts["accounts"].as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["checking", "savings"], "{accounts}");
    let rows = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    let coming = rows.iter().filter(|t| t["coming"] == true).count();
    assert_eq!((rows.len(), coming), (35, 2), "30 + 2 coming on checking, 3 on savings");
    // Synced again: the same rows, none twice.
    assert!(app.resync(&user, &connection["id"]).await["state"].is_null());
    assert_eq!(app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await.len(), 35);
}

#[tokio::test]
async fn woob_exceptions_become_connection_states() {
    let Some((app, _dir)) = woob_app().await else { return };
    let user = app.create_user().await;
    assert_error(&connect(&app, &user, "demo", "nope").await, StatusCode::BAD_REQUEST, "wrongpass");
    for (login, state) in [("unavailable", "websiteUnavailable"), ("terms", "actionNeeded")] {
        let (status, connection) = connect(&app, &user, login, "1234").await;
        assert_eq!((status, &connection["state"]), (StatusCode::CREATED, &json!(state)), "{login}: {connection}");
    }
}

#[tokio::test]
async fn a_woob_question_is_answered_and_its_storage_spares_the_next_sync() {
    let Some((app, _dir)) = woob_app().await else { return };
    let user = app.create_user().await;
    let (_, connection) = connect(&app, &user, "otp", "1234").await;
    assert_eq!(connection["state"], "additionalInformationNeeded", "{connection}");
    assert_eq!(connection["fields"][0]["name"], "otp", "{connection}");
    let answered = app.answer(&user, &connection, json!({"otp": "123456"})).await;
    assert!(answered["state"].is_null(), "{answered}");
    // The module's storage (its trusted-device flag) came back sealed: no new question.
    let later = app.resync(&user, &connection["id"]).await;
    assert!(later["state"].is_null(), "{later}");
}

#[tokio::test]
async fn a_catalog_naming_woob_without_a_usable_python_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(&dir);
    let mut settings = crate::helpers::test_settings(&dir).await;
    settings.catalog = Some(catalog);
    settings.woob_python = "/nonexistent/python3".into();
    let error = bankd::startup::App::build(settings).await.err().expect("refused").to_string();
    assert!(error.contains("woob driver needs a Python that can import woob"), "{error}");
}

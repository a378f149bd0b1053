//! The `directaccess` source by web scraping, end to end: bankd's `web` driver reading the sandbox
//! web bank it serves under `/sandbox/web`, over real HTTP (cookies, CSRF, redirects), through the
//! Powens API.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

const WEB_UUID: &str = "6917cf95-ecfc-5801-83c7-0badcdeb7ed7";

async fn connect(app: &TestApp, user: &TestUser, login: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"connector_uuid": WEB_UUID, "login": login, "password": password});
    app.post("/2.0/users/me/connections", Some(&user.token), body).await
}

pub(crate) async fn connected(app: &TestApp, user: &TestUser, login: &str) -> Value {
    let (status, connection) = connect(app, user, login, "1234").await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    connection
}

/// (value, coming) of the user's transactions, newest first.
async fn transactions(app: &TestApp, user: &TestUser) -> Vec<(f64, bool)> {
    let rows = app.all_transactions(user, "/2.0/users/me/transactions?limit=1000").await;
    rows.iter().map(|t| (t["value"].as_f64().unwrap(), t["coming"].as_bool().unwrap())).collect()
}

#[tokio::test]
async fn the_web_bank_is_read_page_by_page() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "demo").await;
    assert!(connection["state"].is_null(), "{connection}");
    let ids = app.enable_accounts(&user, &connection["id"]).await;
    assert_eq!(ids.len(), 3);
    let (_, accounts) = app.get("/2.0/users/me/accounts", &user.token).await;
    let kinds: Vec<&str> =
        accounts["accounts"].as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["checking", "savings", "card"]);
    assert!(accounts["accounts"][0]["iban"].as_str().unwrap().starts_with("FR76"), "{accounts}");
    let first = transactions(&app, &user).await;
    assert!(first.len() > 100, "90 days over several history pages: {}", first.len());
    // A second sync reads the same pages: nothing is added twice.
    let again = app.resync(&user, &connection["id"]).await;
    assert!(again["state"].is_null(), "{again}");
    assert_eq!(transactions(&app, &user).await.len(), first.len());
}

#[tokio::test]
async fn a_wrong_password_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    assert_error(&connect(&app, &user, "demo", "nope").await, StatusCode::BAD_REQUEST, "wrongpass");
}

#[tokio::test]
async fn the_code_page_asks_an_otp_and_the_session_spares_the_next_sync_one() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "otp").await;
    assert_eq!(connection["state"], "additionalInformationNeeded", "{connection}");
    assert_eq!(connection["fields"][0]["name"], "otp");
    let wrong = app.answer(&user, &connection, json!({"otp": "000000"})).await;
    assert_eq!(
        (wrong["state"].as_str(), wrong["error_message"].as_str()),
        (Some("additionalInformationNeeded"), Some("Code incorrect"))
    );
    let right = app.answer(&user, &connection, json!({"otp": "123456"})).await;
    assert!(right["state"].is_null(), "{right}");
    // The bank's cookies were kept, sealed: the next sync is let in without a code.
    let later = app.resync(&user, &connection["id"]).await;
    assert!(later["state"].is_null(), "{later}");
}

#[tokio::test]
async fn pending_operations_turn_booked_without_duplicates() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "pending").await;
    app.enable_accounts(&user, &connection["id"]).await;
    let first = transactions(&app, &user).await;
    assert_eq!(first.iter().filter(|(_, coming)| *coming).count(), 4, "the upcoming operations");
    app.resync(&user, &connection["id"]).await;
    let second = transactions(&app, &user).await;
    assert_eq!(second.iter().filter(|(_, coming)| *coming).count(), 0, "{second:?}");
    assert_eq!(second.len(), first.len() - 1, "three booked in place of their pending rows, one dropped");
}

#[tokio::test]
async fn maintenance_terms_and_a_redesigned_page_each_end_in_their_state() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for (login, state) in [("unavailable", "websiteUnavailable"), ("actionneeded", "actionNeeded"), ("bug", "bug")] {
        let connection = connected(&app, &user, login).await;
        assert_eq!(connection["state"], state, "{login}: {connection}");
        let retried = login != "actionneeded";
        assert_eq!(connection["next_try"].is_string(), retried, "{login}: retried later unless the user must act");
        if login == "bug" {
            // The log names the page and what it lacks: a redesign is never "no accounts".
            let path = format!("/2.0/users/me/connections/{}/logs", connection["id"]);
            let (_, logs) = app.get(&path, &user.token).await;
            let message = logs["connectionlogs"][0]["error_message"].as_str().unwrap_or_default().to_owned();
            assert!(message.contains("accounts") && message.contains("table#accounts"), "{logs}");
        }
    }
}

#[tokio::test]
async fn a_redesigned_page_is_a_bug_that_archives_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "demo").await;
    let ids = app.enable_accounts(&user, &connection["id"]).await;
    let before = transactions(&app, &user).await;
    let redesign = app.http.post(app.url("/sandbox/web/redesign?login=demo")).send().await.unwrap();
    assert_eq!(redesign.status(), StatusCode::NO_CONTENT);
    let broken = app.resync(&user, &connection["id"]).await;
    assert_eq!(broken["state"], "bug", "{broken}");
    assert!(broken["next_try"].is_string(), "bankd tries again later: {broken}");
    let (_, accounts) = app.get("/2.0/users/me/accounts", &user.token).await;
    let live: Vec<i64> = accounts["accounts"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(live, ids, "no account archived: {accounts}");
    assert_eq!(transactions(&app, &user).await, before, "no transaction touched");
}

#[tokio::test]
async fn a_bank_whose_api_is_down_is_read_from_its_website_into_the_same_rows() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let body = json!({"connector_uuid": "d0b81dc3-a47a-567d-9a30-1b68a7020492", "login": "outage", "password": "1234"});
    let (status, connection) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    assert!(connection["state"].is_null(), "the website stood in for the API: {connection}");
    let sources_path = format!("/2.0/users/me/connections/{}/sources", connection["id"]);
    let (_, sources) = app.get(&sources_path, &user.token).await;
    let states = |sources: &Value| -> Vec<(Value, bool)> {
        let sources = sources["sources"].as_array().unwrap();
        sources.iter().map(|s| (s["state"].clone(), s["last_update"].is_string())).collect()
    };
    let expected = [(json!("websiteUnavailable"), false), (Value::Null, true), (Value::Null, false)];
    assert_eq!(states(&sources), expected, "openapi down, fallback used, directaccess not needed: {sources}");
    let ids = app.enable_accounts(&user, &connection["id"]).await;
    let read_from_web = transactions(&app, &user).await;
    assert!(!read_from_web.is_empty());

    // The API is back: the next sync uses it again, onto the same accounts, adding nothing.
    let back = app.resync(&user, &connection["id"]).await;
    assert!(back["state"].is_null(), "{back}");
    let (_, sources) = app.get(&sources_path, &user.token).await;
    assert_eq!(states(&sources)[0], (Value::Null, true), "{sources}");
    let (_, accounts) = app.get("/2.0/users/me/accounts?all", &user.token).await;
    let now: Vec<i64> = accounts["accounts"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(now, ids, "the same account rows: {accounts}");
    let id_source = sources["sources"][0]["id"].clone();
    assert!(accounts["accounts"].as_array().unwrap().iter().all(|a| a["id_source"] == id_source), "{accounts}");
    assert_eq!(transactions(&app, &user).await.len(), read_from_web.len(), "no transaction twice");
}

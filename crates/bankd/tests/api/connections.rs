//! Connections: each sandbox login and the state it leaves, the user's ways out of each state,
//! sources, logs, the PSD2 180-day rule and the sync lease.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{SANDBOX_UUID, TestApp, TestUser, assert_error, read};

fn connection_path(connection: &Value) -> String {
    format!("/2.0/users/me/connections/{}", connection["id"])
}

async fn update(app: &TestApp, user: &TestUser, connection: &Value, body: Value) -> (StatusCode, Value) {
    app.post(&connection_path(connection), Some(&user.token), body).await
}

#[tokio::test]
async fn demo_connects_healthy_with_the_powens_shape() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    assert!(connection["state"].is_null(), "{connection}");
    assert!(connection["error"].is_null());
    assert_eq!(connection["connector_uuid"], SANDBOX_UUID);
    assert_eq!(connection["id_user"], user.id);
    assert_eq!(connection["active"], true);
    for field in ["last_update", "created", "expire", "next_try"] {
        let text = connection[field].as_str().unwrap_or_else(|| panic!("{field}: {connection}"));
        assert!(chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").is_ok(), "{field}: {text}");
    }
    assert!(connection.get("password").is_none() && !connection.to_string().contains("1234"));
    let (_, list) = app.get("/2.0/users/me/connections", &user.token).await;
    assert_eq!(list["connections"][0]["id"], connection["id"]);
}

#[tokio::test]
async fn a_form_encoded_creation_works_like_json() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let form = [("connector_uuid", SANDBOX_UUID), ("login", "demo"), ("password", "1234")];
    let response =
        app.http.post(app.url("/2.0/users/me/connections")).bearer_auth(&user.token).form(&form).send().await.unwrap();
    let (status, connection) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    assert!(connection["state"].is_null());
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let body = json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": "nope"});
    let refused = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "wrongpass");
    let (_, list) = app.get("/2.0/users/me/connections?all", &user.token).await;
    assert_eq!(list["connections"], json!([]));
}

#[tokio::test]
async fn creation_checks_the_connector_and_its_form() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let no_connector = app.post("/2.0/users/me/connections", Some(&user.token), json!({"login": "demo"})).await;
    assert_error(&no_connector, StatusCode::BAD_REQUEST, "missingParameter");
    let no_password = json!({"connector_uuid": SANDBOX_UUID, "login": "demo"});
    let missing = app.post("/2.0/users/me/connections", Some(&user.token), no_password).await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "missingParameter");
    assert!(missing.1["description"].as_str().unwrap().contains("password"));
    let by_id = json!({"id_connector": 1, "login": "demo", "password": "1234"});
    assert_eq!(app.post("/2.0/users/me/connections", Some(&user.token), by_id).await.0, StatusCode::CREATED);
    let bad_source = json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": "1234", "source": "scraping"});
    let refused = app.post("/2.0/users/me/connections", Some(&user.token), bad_source).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "invalidValue");
}

#[tokio::test]
async fn failing_logins_leave_their_state() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for (login, state) in [
        ("actionneeded", "actionNeeded"),
        ("expired", "passwordExpired"),
        ("unavailable", "websiteUnavailable"),
        ("ratelimit", "rateLimiting"),
        ("bug", "bug"),
    ] {
        let connection = app.connected(&user, login).await;
        assert_eq!(connection["state"], state, "{login}: {connection}");
        assert_eq!(connection["error"], state);
        assert!(connection["last_update"].is_null(), "{login}: never synced");
        let retried_by_bankd = ["websiteUnavailable", "rateLimiting", "bug"].contains(&state);
        assert_eq!(connection["next_try"].is_string(), retried_by_bankd, "{login}: {connection}");
    }
    let expired = app.connected(&user, "expired").await;
    assert_eq!(expired["fields"][1]["name"], "password", "asks for the password again: {expired}");
}

#[tokio::test]
async fn otp_is_asked_then_accepted() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "otp").await;
    assert_eq!(connection["state"], "additionalInformationNeeded");
    assert_eq!(connection["fields"][0]["name"], "otp", "{connection}");

    let (status, wrong) = update(&app, &user, &connection, json!({"otp": "000000"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(wrong["state"], "additionalInformationNeeded");

    let (status, right) = update(&app, &user, &connection, json!({"otp": "123456"})).await;
    assert_eq!(status, StatusCode::OK, "{right}");
    assert!(right["state"].is_null(), "{right}");
    assert!(right["fields"].is_null());
    assert!(right["last_update"].is_string());
}

#[tokio::test]
async fn decoupled_is_validated_in_the_app_then_resumed() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "decoupled").await;
    assert_eq!(connection["state"], "decoupled");
    let (_, too_soon) = update(&app, &user, &connection, json!({"resume": true})).await;
    assert_eq!(too_soon["state"], "decoupled", "the sandbox validates a few seconds later");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, resumed) = update(&app, &user, &connection, json!({"resume": true})).await;
    assert!(resumed["state"].is_null(), "{resumed}");
}

#[tokio::test]
async fn webauth_goes_to_the_bank_page_and_back() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "webauth").await;
    assert_eq!(connection["state"], "webauthRequired");
    assert_eq!(
        connection["error_message"], "Authorise the access on your bank's website",
        "not the page: {connection}"
    );

    let url_path = format!(
        "/2.0/webauth-url?client_id={}&redirect_uri=https://app.example/callback&id_connection={}&state=xyz",
        app.client_id, connection["id"]
    );
    let (status, body) = app.get(&url_path, &user.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bank_page = body["url"].as_str().unwrap();

    // The user's browser: the bank's page, its "Authorize" link to bankd's callback, then the app.
    let page = app.http.get(bank_page).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let start = html.find("href=\"").unwrap() + 6;
    let authorize = html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
    assert!(authorize.starts_with(&format!("{}/2.0/webauth/callback?", app.base)), "{authorize}");
    let back = app.http.get(&authorize).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND);
    let landing = back.headers()["location"].to_str().unwrap();
    assert_eq!(landing, format!("https://app.example/callback?id_connection={}&state=xyz", connection["id"]));

    let (_, healthy) = app.get(&connection_path(&connection), &user.token).await;
    assert!(healthy["state"].is_null(), "{healthy}");
    // The bank's state is single use.
    assert_error(&read(app.http.get(&authorize).send().await.unwrap()).await, StatusCode::BAD_REQUEST, "invalidValue");
}

#[tokio::test]
async fn webauth_url_refuses_unregistered_redirects_and_healthy_connections() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let waiting = app.connected(&user, "webauth").await;
    let evil = format!(
        "/2.0/webauth-url?client_id={}&redirect_uri=https://evil.example/&id_connection={}",
        app.client_id, waiting["id"]
    );
    assert_error(&app.get(&evil, &user.token).await, StatusCode::BAD_REQUEST, "invalidValue");
    let healthy = app.connected(&user, "demo").await;
    let path = format!(
        "/2.0/webauth-url?client_id={}&redirect_uri=https://app.example/callback&id_connection={}",
        app.client_id, healthy["id"]
    );
    assert_error(&app.get(&path, &user.token).await, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn sca_is_demanded_on_the_next_sync_and_given_by_the_user() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "sca").await;
    assert!(connection["state"].is_null());
    let again = app.resync(&user, &connection["id"]).await;
    assert_eq!(again["state"], "SCARequired");
    let (_, renewed) = update(&app, &user, &connection, json!({"refresh_auth": true})).await;
    assert!(renewed["state"].is_null(), "{renewed}");
}

#[tokio::test]
async fn past_180_days_the_bank_is_not_called_until_the_user_authenticates() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let (_, logs) = app.get(&format!("{}/logs", connection_path(&connection)), &user.token).await;
    assert_eq!(logs["total"], 1);

    let (status, _) = update(&app, &user, &connection, json!({"expire": "2020-01-01 00:00:00"})).await;
    assert_eq!(status, StatusCode::OK);
    let expired = app.resync(&user, &connection["id"]).await;
    assert_eq!(expired["state"], "SCARequired", "{expired}");
    let (_, logs) = app.get(&format!("{}/logs", connection_path(&connection)), &user.token).await;
    assert!(logs["connectionlogs"][0]["id_source"].is_null(), "no source was called: {logs}");

    let (_, renewed) = update(&app, &user, &connection, json!({"refresh_auth": true})).await;
    assert!(renewed["state"].is_null(), "{renewed}");
    let expire =
        chrono::NaiveDateTime::parse_from_str(renewed["expire"].as_str().unwrap(), "%Y-%m-%d %H:%M:%S").unwrap();
    let days = (expire - chrono::Utc::now().naive_utc()).num_days();
    assert!((178..=180).contains(&days), "expire {days} days ahead");
}

#[tokio::test]
async fn new_credentials_are_checked_and_kept_only_if_accepted() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let refused = update(&app, &user, &connection, json!({"password": "bad"})).await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "wrongpass");
    let (_, now) = app.get(&connection_path(&connection), &user.token).await;
    assert_eq!(now["state"], "wrongpass");
    // The old, good password is still the one stored: a plain sync heals the connection.
    assert!(app.resync(&user, &connection["id"]).await["state"].is_null());
    let (_, accepted) = update(&app, &user, &connection, json!({"password": "1234"})).await;
    assert!(accepted["state"].is_null());
}

#[tokio::test]
async fn settings_change_without_a_sync() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let (_, paused) = update(&app, &user, &connection, json!({"active": false})).await;
    assert_eq!(paused["active"], false);
    let (_, logs) = app.get(&format!("{}/logs", connection_path(&connection)), &user.token).await;
    assert_eq!(logs["total"], 1, "no sync for a settings change");
    let (_, active) = app.get("/2.0/users/me/connections", &user.token).await;
    assert_eq!(active["connections"], json!([]), "inactive connections need ?all");
    let (_, all) = app.get("/2.0/users/me/connections?all=1", &user.token).await;
    assert_eq!(all["connections"][0]["id"], connection["id"]);
}

#[tokio::test]
async fn sources_are_tried_in_priority_order_and_can_be_disabled() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    let path = format!("{}/sources", connection_path(&connection));
    let (_, sources) = app.get(&path, &user.token).await;
    let sources = sources["sources"].as_array().unwrap().clone();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[0]["name"], "openapi");
    assert!(sources[0]["last_update"].is_string(), "the first source served: {sources:?}");
    assert!(sources[1]["last_update"].is_null(), "the second was not needed");

    let first = format!("{path}/{}", sources[0]["id"]);
    let (status, disabled) = app.post(&first, Some(&user.token), json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(disabled["disabled"].is_string());
    app.resync(&user, &connection["id"]).await;
    let (_, logs) = app.get(&format!("{}/logs", connection_path(&connection)), &user.token).await;
    assert_eq!(logs["connectionlogs"][0]["id_source"], sources[1]["id"], "{logs}");

    let second = format!("{path}/{}", sources[1]["id"]);
    app.post(&second, Some(&user.token), json!({"disabled": true})).await;
    let stuck = app.resync(&user, &connection["id"]).await;
    assert_eq!(stuck["state"], "bug");
    assert!(stuck["error_message"].as_str().unwrap().contains("no enabled source"));

    let (_, enabled) = app.post(&first, Some(&user.token), json!({"disabled": false})).await;
    assert!(enabled["disabled"].is_null());
    assert!(app.resync(&user, &connection["id"]).await["state"].is_null());
    assert_error(&app.post(&first, Some(&user.token), json!({})).await, StatusCode::BAD_REQUEST, "missingParameter");
}

#[tokio::test]
async fn every_sync_is_logged() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = app.connected(&user, "demo").await;
    app.enable_accounts(&user, &connection["id"]).await;
    app.resync(&user, &connection["id"]).await;
    let (status, logs) = app.get(&format!("{}/logs", connection_path(&connection)), &user.token).await;
    assert_eq!(status, StatusCode::OK);
    let total = logs["total"].as_i64().unwrap();
    assert_eq!(total, 5, "creation, 3 enablings, 1 resync: {logs}");
    let newest = &logs["connectionlogs"][0];
    assert!(newest["error"].is_null());
    assert_eq!(newest["nb_accounts"], 3);
    assert!(newest["nb_transactions"].as_i64().unwrap() > 0, "a resync reads the recent days again: {newest}");
    let first = logs["connectionlogs"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(first["nb_transactions"], 0, "at creation no account is enabled yet: {first}");
    let (_, page) = app.get(&format!("{}/logs?limit=2&offset=1", connection_path(&connection)), &user.token).await;
    assert_eq!(page["connectionlogs"].as_array().unwrap().len(), 2);
    assert_eq!(page["connectionlogs"][0]["id"], logs["connectionlogs"][1]["id"]);
}

#[tokio::test]
async fn a_connection_under_sync_is_locked() {
    // No worker in this process: the test plays the worker that holds the connection's job.
    let app = TestApp::spawn_with(|s| s.engine.workers = 0).await;
    let user = app.create_user().await;
    let body = json!({"connector_uuid": SANDBOX_UUID, "login": "demo", "password": "1234"});
    let (status, connection) = app.post("/2.0/users/me/connections?background=true", Some(&user.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    assert!(connection["last_update"].is_null(), "queued, not run");
    assert_eq!(connection["state"], "validating", "a sync not done yet shows as validating");
    let job = app.store.claim_job("another-worker", chrono::Duration::minutes(5), 8).await.unwrap().unwrap();
    assert_eq!(job.id_connection, connection["id"].as_i64());

    let path = connection_path(&connection);
    assert_error(
        &app.call(Method::PUT, &path, Some(&user.token), None).await,
        StatusCode::CONFLICT,
        "connectionLocked",
    );
    let delete = app.call(Method::DELETE, &path, Some(&user.token), None).await;
    assert_error(&delete, StatusCode::CONFLICT, "connectionLocked");
    assert!(app.store.finish_job(job.id, "another-worker", "ok").await.unwrap());
    assert_eq!(app.delete(&path, &user.token).await, StatusCode::NO_CONTENT, "free once the sync is over");
}

//! The `fints` source end to end: bankd's FinTS client talking to the FinTS sandbox bank it serves
//! under `/sandbox/fints`, over real HTTP, each scripted login through the Powens API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

/// Every sandbox login's PIN (the sandbox bank ignores what follows it: `secrets.rs` uses a PIN of
/// its own to find it nowhere in clear).
const PIN: &str = "1234";

async fn connector_uuid(app: &TestApp) -> String {
    let (_, connectors) = app.get("/2.0/connectors", "").await;
    let listed = connectors["connectors"].as_array().unwrap().iter().find(|c| c["name"] == "Sandbox Bank (FinTS)");
    listed.expect("the FinTS sandbox connector is offered")["uuid"].as_str().unwrap().to_owned()
}

async fn connect(app: &TestApp, user: &TestUser, login: &str, pin: &str) -> (StatusCode, Value) {
    let body = json!({"connector_uuid": connector_uuid(app).await, "login": login, "pin": pin});
    app.post("/2.0/users/me/connections", Some(&user.token), body).await
}

pub(crate) async fn connected(app: &TestApp, user: &TestUser, login: &str) -> Value {
    let (status, connection) = connect(app, user, login, PIN).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    connection
}

/// (value, coming, date) of the user's transactions, newest first.
async fn transactions(app: &TestApp, user: &TestUser) -> Vec<(f64, bool, String)> {
    let rows = app.all_transactions(user, "/2.0/users/me/transactions?limit=1000&min_date=2000-01-01").await;
    let row = |t: &Value| {
        (t["value"].as_f64().unwrap(), t["coming"].as_bool().unwrap(), t["date"].as_str().unwrap().to_owned())
    };
    rows.iter().map(row).collect()
}

/// The values the connection's first field offers (a `list`).
fn choices(connection: &Value) -> Vec<&str> {
    let values = connection["fields"][0]["values"].as_array().unwrap();
    values.iter().map(|v| v["value"].as_str().unwrap()).collect()
}

fn pending(rows: &[(f64, bool, String)]) -> usize {
    rows.iter().filter(|(_, coming, _)| *coming).count()
}

/// Syncs, reading history (camt.052 or MT940) with pending entries that the next sync finds booked.
async fn pending_entries_turn_booked(login: &str) {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, login).await;
    assert!(connection["state"].is_null(), "{login}: {connection}");
    assert_eq!(app.enable_accounts(&user, &connection["id"]).await.len(), 2, "{login}");
    let (_, accounts) = app.get("/2.0/users/me/accounts", &user.token).await;
    let accounts = accounts["accounts"].as_array().unwrap();
    let kinds: Vec<&str> = accounts.iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["checking", "savings"], "{login}");
    assert!(accounts.iter().all(|a| a["iban"].as_str().unwrap().starts_with("DE") && a["balance"].is_number()));
    let first = transactions(&app, &user).await;
    assert!(first.len() > 50, "{login}: a year of history over several pages: {}", first.len());
    assert_eq!(pending(&first), 6, "{login}: three pending entries per account");
    let again = app.resync(&user, &connection["id"]).await;
    assert!(again["state"].is_null(), "{login}: {again}");
    let second = transactions(&app, &user).await;
    assert_eq!(pending(&second), 0, "{login}: booked now");
    assert_eq!(second.len(), first.len(), "{login}: each pending entry became its booked one, nothing twice");
    let third = app.resync(&user, &connection["id"]).await;
    assert!(third["state"].is_null(), "{third}");
    assert_eq!(transactions(&app, &user).await.len(), first.len(), "{login}: a resync adds nothing");
}

#[tokio::test]
async fn camt_052_history_is_read_and_pending_entries_turn_booked() {
    pending_entries_turn_booked("camt").await;
}

#[tokio::test]
async fn mt940_pages_cut_mid_field_are_joined_and_mt942_entries_turn_booked() {
    pending_entries_turn_booked("mt940").await;
}

#[tokio::test]
async fn a_bank_offering_both_formats_is_read_in_camt_without_any_question() {
    pending_entries_turn_booked("demo").await;
}

#[tokio::test]
async fn the_user_picks_a_tan_procedure_once_then_types_the_tan() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "tan").await;
    assert_eq!(connection["state"], "additionalInformationNeeded", "{connection}");
    let field = &connection["fields"][0];
    assert_eq!((field["name"].as_str(), field["type"].as_str()), (Some("tan_method"), Some("list")), "{connection}");
    assert_eq!(choices(&connection), ["912", "946"]);
    let challenged = app.answer(&user, &connection, json!({"tan_method": "912"})).await;
    assert_eq!(challenged["state"], "additionalInformationNeeded", "{challenged}");
    assert_eq!(challenged["fields"][0]["name"], "tan", "{challenged}");
    assert!(challenged["error_message"].as_str().unwrap().contains("123456"), "the bank's challenge: {challenged}");
    let wrong = app.answer(&user, &connection, json!({"tan": "000000"})).await;
    assert_eq!(wrong["state"], "additionalInformationNeeded", "a wrong TAN may be typed again: {wrong}");
    assert_eq!(wrong["fields"][0]["name"], "tan");
    let right = app.answer(&user, &connection, json!({"tan": "123456"})).await;
    assert!(right["state"].is_null(), "{right}");
    // The method is kept and the bank exempts the next dialogs: a later sync asks nothing.
    let later = app.resync(&user, &connection["id"]).await;
    assert!(later["state"].is_null(), "{later}");
    let background = background_sync(&app, &user, &connection).await;
    assert!(background["state"].is_null(), "{background}");
}

#[tokio::test]
async fn a_procedure_that_names_a_tan_medium_asks_which_one_once() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "medium").await;
    assert_eq!(connection["fields"][0]["name"], "tan_medium", "{connection}");
    assert_eq!(choices(&connection), ["Handy Max", "Handy Erika"], "the bank's list (HKTAB)");
    let challenged = app.answer(&user, &connection, json!({"tan_medium": "Handy Erika"})).await;
    assert_eq!(challenged["fields"][0]["name"], "tan", "the bank accepted the medium: {challenged}");
    let done = app.answer(&user, &connection, json!({"tan": "123456"})).await;
    assert!(done["state"].is_null(), "{done}");
    let later = app.resync(&user, &connection["id"]).await;
    assert!(later["state"].is_null(), "the medium is kept: {later}");
}

#[tokio::test]
async fn a_procedure_whose_challenge_is_a_picture_leads_to_another_one() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "phototan").await;
    assert_eq!(connection["fields"][0]["name"], "tan_method", "{connection}");
    let picked = app.answer(&user, &connection, json!({"tan_method": "902"})).await;
    assert_eq!(picked["state"], "additionalInformationNeeded", "{picked}");
    assert!(picked["error_message"].as_str().unwrap().contains("photoTAN-Verfahren shows a picture"), "{picked}");
    assert_eq!(choices(&picked), ["912"], "the procedures bankd can show");
    let challenged = app.answer(&user, &connection, json!({"tan_method": "912"})).await;
    assert_eq!(challenged["fields"][0]["name"], "tan", "{challenged}");
    let done = app.answer(&user, &connection, json!({"tan": "123456"})).await;
    assert!(done["state"].is_null(), "{done}");
}

/// A sync with nobody present (`psu_requested=false`), as the scheduler's.
async fn background_sync(app: &TestApp, user: &TestUser, connection: &Value) -> Value {
    let path = format!("/2.0/users/me/connections/{}?psu_requested=false", connection["id"]);
    let (status, synced) = app.call(Method::PUT, &path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{synced}");
    synced
}

#[tokio::test]
async fn app_approval_is_polled_until_the_bank_confirms() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "decoupled").await;
    assert_eq!(connection["state"], "decoupled", "{connection}");
    assert!(connection["error_message"].as_str().unwrap().contains("App"), "the bank's words: {connection}");
    let first_poll = app.answer(&user, &connection, json!({"resume": true})).await;
    assert_eq!(first_poll["state"], "decoupled", "not approved yet: {first_poll}");
    let second_poll = app.answer(&user, &connection, json!({"resume": true})).await;
    assert!(second_poll["state"].is_null(), "{second_poll}");
    assert_eq!(app.enable_accounts(&user, &connection["id"]).await.len(), 2);
    assert!(!transactions(&app, &user).await.is_empty());
}

#[tokio::test]
async fn history_beyond_the_exemption_needs_a_tan_and_background_syncs_never_ask() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connected(&app, &user, "oldtan").await;
    assert!(connection["state"].is_null(), "the dialog itself needs no TAN: {connection}");
    let path = format!("/2.0/users/me/connections/{}/accounts?all", connection["id"]);
    let (_, listed) = app.get(&path, &user.token).await;
    let first = listed["accounts"][0]["id"].as_i64().unwrap();
    app.post(&format!("/2.0/users/me/accounts/{first}?all"), Some(&user.token), json!({"disabled": false})).await;
    let (_, asked) = app.get(&format!("/2.0/users/me/connections/{}", connection["id"]), &user.token).await;
    assert_eq!(asked["state"], "additionalInformationNeeded", "a year of history needs a TAN: {asked}");
    assert_eq!(asked["fields"][0]["name"], "tan");
    let released = app.answer(&user, &connection, json!({"tan": "123456"})).await;
    assert!(released["state"].is_null(), "{released}");
    let rows = transactions(&app, &user).await;
    let oldest = rows.iter().map(|(_, _, date)| date.clone()).min().unwrap();
    let exempt_from = (chrono::Utc::now().date_naive() - chrono::Duration::days(90)).to_string();
    assert!(oldest < exempt_from, "history older than 90 days was read: {oldest}");
    // A background sync reads only the exempt days: no question.
    let background = background_sync(&app, &user, &connection).await;
    assert!(background["state"].is_null(), "{background}");
    assert_eq!(transactions(&app, &user).await.len(), rows.len());
}

#[tokio::test]
async fn a_wrong_pin_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    assert_error(&connect(&app, &user, "demo", "9999").await, StatusCode::BAD_REQUEST, "wrongpass");
}

#[tokio::test]
async fn refusals_end_in_their_states() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let cases = [
        ("locked", "actionNeeded", "gesperrt"),
        ("unregistered", "bug", "BANKD_FINTS_PRODUCT_ID"),
        ("busy", "websiteUnavailable", "später"),
    ];
    for (login, state, said) in cases {
        let connection = connected(&app, &user, login).await;
        assert_eq!(connection["state"], state, "{login}: {connection}");
        let message = connection["error_message"].as_str().unwrap_or_default();
        assert!(message.contains(said), "{login}: {connection}");
        let retried = login != "locked";
        assert_eq!(
            connection["next_try"].is_string(),
            retried,
            "{login}: retried later unless the user must act: {connection}"
        );
    }
}

const GERMAN_BANK: &str = "German bank (FinTS)";

async fn offered(app: &TestApp, name: &str) -> Option<String> {
    let (_, connectors) = app.get("/2.0/connectors", "").await;
    let listed = connectors["connectors"].as_array().unwrap().iter().find(|c| c["name"] == name);
    listed.map(|c| c["uuid"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn german_banks_need_a_product_id_and_are_found_by_bank_code() {
    let unregistered = TestApp::spawn().await;
    assert_eq!(offered(&unregistered, GERMAN_BANK).await, None, "no product id: no real FinTS bank offered");

    let app = TestApp::spawn_with(|s| s.fints_product_id = Some("TESTPRODUCT0123456789".into())).await;
    let uuid = offered(&app, GERMAN_BANK).await.expect("offered with a product id");
    // The operator's directory names the sandbox bank's address for its bank code.
    let sandbox = bankd::sources::fints::directory::Institute {
        bank_code: "99999999".into(),
        bic: None,
        name: "Sandbox Bank (FinTS)".into(),
        city: Some("Berlin".into()),
        pintan_url: app.url("/sandbox/fints"),
        fints_version: Some("FinTS V3.0".into()),
    };
    app.store.replace_fints_institutes(&[sandbox]).await.unwrap();
    let user = app.create_user().await;
    let connect = |bank_code: &str, extra: Value| {
        let mut body = json!({"connector_uuid": uuid, "bank_code": bank_code, "login": "demo", "pin": PIN});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        app.post("/2.0/users/me/connections", Some(&user.token), body)
    };
    let (status, connection) = connect("99999999", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    assert!(connection["state"].is_null(), "found in the directory: {connection}");
    assert_eq!(app.enable_accounts(&user, &connection["id"]).await.len(), 2);
    assert_error(&connect("1234567", json!({})).await, StatusCode::BAD_REQUEST, "invalidValue");
    let unknown = connect("12345678", json!({})).await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "wrongpass");
    assert!(unknown.1["message"].as_str().unwrap_or_default().contains("No FinTS address"), "{}", unknown.1);
    let plain = connect("12345678", json!({"fints_url": app.url("/sandbox/fints")})).await;
    assert_error(&plain, StatusCode::BAD_REQUEST, "wrongpass");
    assert!(plain.1["message"].as_str().unwrap_or_default().contains("https://"), "{}", plain.1);
}

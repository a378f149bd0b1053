//! The PSD2 `openapi` source end to end: bankd's XS2A driver against the sandbox ASPSP it serves
//! under `/sandbox/xs2a`, over real HTTP, through the Powens API — one test per SCA approach and
//! per way a bank misbehaves.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, read};

pub(crate) const PSD2_UUID: &str = "366c7951-2a4e-54d6-9228-27abb45378a1";

pub async fn connect(app: &TestApp, user: &TestUser, login: &str) -> Value {
    let body = json!({"connector_uuid": PSD2_UUID, "login": login});
    let (status, connection) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    connection
}

pub(crate) async fn get(app: &TestApp, user: &TestUser, path: &str) -> Value {
    let (status, body) = app.get(path, &user.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The user's transactions, counted by the listing.
async fn total(app: &TestApp, user: &TestUser) -> i64 {
    get(app, user, "/2.0/users/me/transactions?limit=1").await["total"].as_i64().unwrap()
}

/// Enables every account, then checks what the bank's data became.
async fn assert_synced(app: &TestApp, user: &TestUser, connection: &Value) {
    assert!(connection["state"].is_null(), "{connection}");
    assert!(connection["expire"].is_string(), "a strong authentication was given: {connection}");
    let ids = app.enable_accounts(user, &connection["id"]).await;
    assert_eq!(ids.len(), 3);
    let accounts = get(app, user, "/2.0/users/me/accounts").await;
    let types: Vec<&str> =
        accounts["accounts"].as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["checking", "savings", "card"]);
    let checking = &accounts["accounts"][0];
    assert!(checking["iban"].as_str().unwrap().starts_with("FR76") && checking["balance"].is_number(), "{checking}");
    let rows = app.all_transactions(user, "/2.0/users/me/transactions?limit=1000").await;
    assert!(rows.len() > 100, "{} transactions", rows.len());
    assert!(rows.iter().all(|t| t["webid"].is_string() && !t["coming"].as_bool().unwrap()));
    assert!(rows.iter().any(|t| t["type"] == "card") && rows.iter().any(|t| t["type"] == "order"));
    let salary = rows.iter().find(|t| t["original_wording"] == "VIR SALAIRE ACME").unwrap();
    assert_eq!(
        (salary["type"].as_str(), salary["counterparty"]["label"].as_str()),
        (Some("transfer"), Some("ACME SAS"))
    );
    // The consent's validUntil shows on the source.
    let sources = get(app, user, &format!("/2.0/users/me/connections/{}/sources", connection["id"])).await;
    assert!(sources["sources"][0]["access_expire"].is_string(), "{sources}");
    let before = total(app, user).await;
    assert!(app.resync(user, &connection["id"]).await["state"].is_null());
    assert_eq!(total(app, user).await, before, "a resync adds nothing");
}

/// The user's browser: bankd's webauth URL, the bank's page, its form (hidden fields kept, `answer`
/// added), the bank's redirect to bankd's callback, and bankd's redirect to the app, where it lands.
pub(crate) async fn go_through_the_bank(
    app: &TestApp,
    user: &TestUser,
    connection: &Value,
    answer: (&str, &str),
) -> String {
    let path = format!(
        "/2.0/webauth-url?client_id={}&redirect_uri=https://app.example/callback&id_connection={}&state=xyz",
        app.client_id, connection["id"]
    );
    let bank_page = get(app, user, &path).await["url"].as_str().unwrap().to_owned();
    let html = app.http.get(&bank_page).send().await.unwrap().text().await.unwrap();
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[start..start + tag[start..].find('"').unwrap()].replace("&amp;", "&")
    };
    let action = attribute(&html[html.find("<form").unwrap()..], "action");
    let mut form: Vec<(String, String)> = html
        .split("<input type=\"hidden\"")
        .skip(1)
        .map(|tag| (attribute(tag, "name"), attribute(tag, "value")))
        .collect();
    form.push((answer.0.into(), answer.1.into()));
    let answered = app.http.post(&action).form(&form).send().await.unwrap();
    assert!(answered.status().is_redirection(), "{}", answered.status());
    let callback = answered.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&format!("{}/2.0/webauth/callback?", app.base)), "{callback}");
    let back = app.http.get(&callback).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND);
    back.headers()["location"].to_str().unwrap().to_owned()
}

/// Authorizes a consent waiting in `webauthRequired` at the XS2A bank; returns the healthy connection.
pub async fn authorize_at_the_bank(app: &TestApp, user: &TestUser, connection: &Value) -> Value {
    assert_eq!(connection["state"], "webauthRequired", "{connection}");
    let landing = go_through_the_bank(app, user, connection, ("decision", "allow")).await;
    assert_eq!(landing, format!("https://app.example/callback?id_connection={}&state=xyz", connection["id"]));
    get(app, user, &format!("/2.0/users/me/connections/{}", connection["id"])).await
}

#[tokio::test]
async fn redirect_approach_sends_the_user_to_the_bank_and_back() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "redirect").await;
    assert_eq!(connection["error_message"], "Authorise the access on your bank's website", "{connection}");
    let connection = authorize_at_the_bank(&app, &user, &connection).await;
    assert_synced(&app, &user, &connection).await;
}

#[tokio::test]
async fn denying_at_the_bank_sends_the_error_to_the_app() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "redirect").await;
    let landing = go_through_the_bank(&app, &user, &connection, ("decision", "deny")).await;
    assert!(landing.starts_with("https://app.example/callback?error=access_denied&"), "{landing}");
    let after = get(&app, &user, &format!("/2.0/users/me/connections/{}", connection["id"])).await;
    assert_eq!(after["state"], "webauthRequired", "nothing was read: {after}");
}

#[tokio::test]
async fn only_reads_without_the_user_count_against_the_consents_daily_four() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = authorize_at_the_bank(&app, &user, &connect(&app, &user, "demo").await).await;
    let unattended = format!("/2.0/users/me/connections/{}?psu_requested=false", connection["id"]);
    for _ in 0..4 {
        let (_, synced) = app.call(Method::PUT, &unattended, Some(&user.token), None).await;
        assert!(synced["state"].is_null(), "{synced}");
    }
    let (_, fifth) = app.call(Method::PUT, &unattended, Some(&user.token), None).await;
    assert_eq!(fifth["state"], "rateLimiting", "{fifth}");
    // With the user there, bankd sends their address and the bank does not count the read.
    let attended = app.resync(&user, &connection["id"]).await;
    assert!(attended["state"].is_null(), "{attended}");
}

#[tokio::test]
async fn oauth_approach_goes_through_the_banks_authorization_server() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "oauth").await;
    let path = format!(
        "/2.0/webauth-url?client_id={}&redirect_uri=https://app.example/callback&id_connection={}",
        app.client_id, connection["id"]
    );
    let page = get(&app, &user, &path).await["url"].as_str().unwrap().to_owned();
    assert!(
        page.contains("/sandbox/xs2a/oauth/authorize?response_type=code") && page.contains("scope=AIS%3A"),
        "{page}"
    );
    let connection = authorize_at_the_bank(&app, &user, &connection).await;
    assert_synced(&app, &user, &connection).await;
}

#[tokio::test]
async fn decoupled_approach_waits_for_the_banking_app() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "decoupled").await;
    assert_eq!(connection["state"], "decoupled", "{connection}");
    assert_eq!(connection["error_message"], "Validate the access in your Sandbox Bank app");
    let still = app.answer(&user, &connection, json!({"resume": true})).await;
    assert_eq!(still["state"], "decoupled", "validated only after two seconds: {still}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let done = app.answer(&user, &connection, json!({"resume": true})).await;
    assert_synced(&app, &user, &done).await;
}

/// The names of the fields the connection asks for, and its message.
fn asked(connection: &Value) -> (Vec<String>, String) {
    assert_eq!(connection["state"], "additionalInformationNeeded", "{connection}");
    let fields = connection["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned());
    (fields.collect(), connection["error_message"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn embedded_approach_asks_password_method_and_code_in_turn() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "embedded").await;
    assert_eq!(asked(&connection).0, ["password"]);
    let wrong = app.answer(&user, &connection, json!({"password": "0000"})).await;
    assert_eq!(asked(&wrong), (vec!["password".to_owned()], "Wrong password, try again".to_owned()));
    let methods = app.answer(&user, &connection, json!({"password": "1234"})).await;
    assert_eq!(asked(&methods).0, ["sca_method"]);
    let values: Vec<&str> =
        methods["fields"][0]["values"].as_array().unwrap().iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["sms", "app"]);
    let otp = app.answer(&user, &connection, json!({"sca_method": "sms"})).await;
    assert_eq!(asked(&otp).0, ["otp"]);
    assert!(otp["fields"][0]["label"].as_str().unwrap().contains("123456"), "{otp}");
    let wrong = app.answer(&user, &connection, json!({"otp": "000000"})).await;
    assert_eq!(asked(&wrong).1, "Wrong code, try again");
    let done = app.answer(&user, &connection, json!({"otp": "123456"})).await;
    assert_synced(&app, &user, &done).await;
}

#[tokio::test]
async fn an_expired_consent_needs_sca_and_a_reconnect_asks_a_new_one() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "expired").await;
    assert!(connection["state"].is_null(), "{connection}");
    let expired = app.resync(&user, &connection["id"]).await;
    assert_eq!(expired["state"], "SCARequired", "{expired}");
    assert_eq!(expired["error_message"], "The consent has expired");
    // A sync, with the user or without, does not renew the consent; a reconnect does.
    let path = format!("/2.0/users/me/connections/{}?psu_requested=false", connection["id"]);
    let (_, unattended) = app.call(Method::PUT, &path, Some(&user.token), None).await;
    assert_eq!(unattended["state"], "SCARequired");
    assert_eq!(app.resync(&user, &connection["id"]).await["state"], "SCARequired");
    let renewed = app.answer(&user, &connection, json!({"refresh_auth": true})).await;
    assert!(renewed["state"].is_null(), "{renewed}");
    let accounts = get(&app, &user, "/2.0/users/me/accounts?all").await;
    assert_eq!(accounts["accounts"].as_array().unwrap().len(), 3, "the same accounts, under the new consent");
}

#[tokio::test]
async fn throttling_and_outages_end_in_states_bankd_retries() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let throttled = connect(&app, &user, "ratelimit").await;
    assert_eq!(throttled["state"], "rateLimiting", "{throttled}");
    // The next try honours the bank's Retry-After (3600 s), in the API's naive Paris time.
    let next_try =
        chrono::NaiveDateTime::parse_from_str(throttled["next_try"].as_str().unwrap(), "%Y-%m-%d %H:%M:%S").unwrap();
    let paris = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris).naive_local();
    assert!(next_try - paris >= chrono::Duration::minutes(59), "{next_try} vs {paris}");
    let down = connect(&app, &user, "unavailable").await;
    assert_eq!(down["state"], "websiteUnavailable", "{down}");
    assert!(down["next_try"].is_string());
}

#[tokio::test]
async fn a_garbled_answer_is_a_bug_that_loses_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "garbage").await;
    app.enable_accounts(&user, &connection["id"]).await;
    let before = total(&app, &user).await;
    assert!(before > 100);
    let broken = app.resync(&user, &connection["id"]).await;
    assert_eq!(broken["state"], "bug", "{broken}");
    let logs = get(&app, &user, &format!("/2.0/users/me/connections/{}/logs", connection["id"])).await;
    let detail = logs["connectionlogs"][0]["error_message"].as_str().unwrap().to_owned();
    assert!(detail.contains("GET /sandbox/xs2a/v1/accounts/") && detail.contains("answered 200"), "{detail}");
    assert!(detail.contains("began with: {\"transactions\""), "{detail}");
    let accounts = get(&app, &user, "/2.0/users/me/accounts").await;
    assert_eq!(accounts["accounts"].as_array().unwrap().len(), 3, "no account archived");
    assert_eq!(total(&app, &user).await, before);
}

#[tokio::test]
async fn a_big_history_comes_page_by_page() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "big").await;
    let path = format!("/2.0/users/me/connections/{}/accounts?all", connection["id"]);
    let account = get(&app, &user, &path).await["accounts"][0]["id"].clone();
    let (status, enabled) =
        app.post(&format!("/2.0/users/me/accounts/{account}"), Some(&user.token), json!({"disabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(total(&app, &user).await, 100_000);
}

#[tokio::test]
async fn any_aspsp_can_be_pointed_at_by_its_base_url() {
    // The simulated banks served alone, as `bankd sandbox` does, and a bankd without its sandbox
    // whose catalog names the ASPSP by its absolute URL.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let banks_url = format!("http://{}", listener.local_addr().unwrap());
    let banks = axum::Router::new().nest("/sandbox", bankd::simulators::router(&banks_url, false));
    tokio::spawn(async move { axum::serve(listener, banks).await });
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        format!(
            "[[connector]]\nid = 10\nuuid = \"{PSD2_UUID}\"\nname = \"Elsewhere\"\n\
         [[connector.field]]\nname = \"login\"\nlabel = \"Login\"\ntype = \"text\"\n\
         [[connector.source]]\nid = 10\nname = \"openapi\"\npriority = 1\ndriver = \"xs2a\"\n\
         [connector.source.api]\nbase_url = \"{banks_url}/sandbox/xs2a\"\n"
        ),
    )
    .unwrap();
    let app = TestApp::spawn_with(|settings| {
        settings.sandbox = false;
        settings.catalog = Some(catalog);
    })
    .await;
    let user = app.create_user().await;
    let connection = connect(&app, &user, "embedded").await;
    assert_eq!(asked(&connection).0, ["password"]);
    app.answer(&user, &connection, json!({"password": "1234"})).await;
    app.answer(&user, &connection, json!({"sca_method": "app"})).await;
    let done = app.answer(&user, &connection, json!({"otp": "123456"})).await;
    assert!(done["state"].is_null(), "{done}");
    let (status, _) = app.get("/sandbox/xs2a/v1/accounts", &user.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "this bankd serves no sandbox");
}

#[tokio::test]
async fn the_sandbox_aspsp_refuses_calls_without_a_consent() {
    let app = TestApp::spawn().await;
    let bare = app.http.get(app.url("/sandbox/xs2a/v1/accounts")).header("X-Request-ID", "1").send().await.unwrap();
    let (status, body) = read(bare).await;
    assert_eq!((status, body["tppMessages"][0]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("FORMAT_ERROR")));
    let unknown =
        app.http.get(app.url("/sandbox/xs2a/v1/accounts")).header("X-Request-ID", "1").header("Consent-ID", "x");
    let (status, body) = read(unknown.send().await.unwrap()).await;
    assert_eq!((status, body["tppMessages"][0]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("CONSENT_UNKNOWN")));
}

// ---- STET ----

const STET_UUID: &str = "9c3e4a4e-3c1f-5b43-a0a8-0f1bd8b1d1a4";

pub async fn connect_stet(app: &TestApp, user: &TestUser, login: &str) -> Value {
    connect_stet_to(app, user, STET_UUID, login).await
}

/// Connects to the STET connector `uuid` (a sandbox STET bank), signing in as `login` at its page.
pub(crate) async fn connect_stet_to(app: &TestApp, user: &TestUser, uuid: &str, login: &str) -> Value {
    let body = json!({"connector_uuid": uuid});
    let (status, connection) = app.post("/2.0/users/me/connections", Some(&user.token), body).await;
    assert_eq!((status, connection["state"].as_str()), (StatusCode::CREATED, Some("webauthRequired")), "{connection}");
    let landing = go_through_the_bank(app, user, &connection, ("login", login)).await;
    assert_eq!(landing, format!("https://app.example/callback?id_connection={}&state=xyz", connection["id"]));
    get(app, user, &format!("/2.0/users/me/connections/{}", connection["id"])).await
}

#[tokio::test]
async fn stet_signs_in_through_oauth_and_reads_every_page() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let connection = connect_stet(&app, &user, "demo").await;
    assert!(connection["state"].is_null(), "{connection}");
    app.enable_accounts(&user, &connection["id"]).await;
    let accounts = get(&app, &user, "/2.0/users/me/accounts").await;
    let types: Vec<&str> =
        accounts["accounts"].as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["checking", "checking", "card"], "STET calls savings accounts current accounts");
    let rows = app.all_transactions(&user, "/2.0/users/me/transactions?limit=1000").await;
    assert!(rows.len() > 100 && rows.iter().all(|t| t["webid"].is_string()));
    let rent = rows.iter().find(|t| t["original_wording"] == "VIR SEPA LOYER SCI LES LILAS").unwrap();
    assert_eq!((rent["value"].as_f64(), rent["type"].as_str()), (Some(-850.0), Some("transfer")));
    let before = rows.len() as i64;
    assert!(app.resync(&user, &connection["id"]).await["state"].is_null());
    assert_eq!(total(&app, &user).await, before);
}

#[tokio::test]
async fn stet_tokens_are_refreshed_when_they_run_out() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    // `refresh` gets tokens that live one second: every run must refresh them.
    let connection = connect_stet(&app, &user, "refresh").await;
    assert!(connection["state"].is_null(), "{connection}");
    let path = format!("/2.0/users/me/connections/{}?psu_requested=false", connection["id"]);
    let (_, unattended) = app.call(Method::PUT, &path, Some(&user.token), None).await;
    assert!(unattended["state"].is_null(), "{unattended}");
}
